/// Helpers for the io tests: realistic test frames, hand-built TIFF and PNG variants, and a check
/// that an error names the file. Also brings in the synthetic EIGER helpers shared with the fuzz
/// seeds and hdf5_bench (tests/synthetic: the reference bitshuffle/LZ4 encoder and
/// write_eiger_series), in the same namespace.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "difftriage/core/error.h"
#include "difftriage/core/image.h"
#include "synthetic/bslz4_encoder.h"
#include "synthetic/eiger_series.h"

namespace difftriage::io::testing {

/// A diffraction-like 8-bit frame: noisy background 100..140 plus bright Gaussian spots.
Image<uint8_t> make_frame_u8(int64_t n_slow, int64_t n_fast, uint32_t seed);
/// A 16-bit frame using the full range (high bytes differ from low bytes).
Image<uint16_t> make_frame_u16(int64_t n_slow, int64_t n_fast, uint32_t seed);
/// An int32 frame with negative values (masked-pixel markers) and values above 2^16.
Image<int32_t> make_frame_i32(int64_t n_slow, int64_t n_fast, uint32_t seed);
/// A float frame with fractions, negatives and large values.
Image<float> make_frame_f32(int64_t n_slow, int64_t n_fast, uint32_t seed);

/// Bytes of a string as a pointer suitable for decode_image.
inline const uint8_t* as_bytes(const std::string& s) {
  return reinterpret_cast<const uint8_t*>(s.data());
}

/// One IFD entry of a hand-built little-endian TIFF. Types: 3 = SHORT, 4 = LONG, 11 = FLOAT
/// (values given as bit patterns). With `add_data_offset`, each value gets the offset at which
/// the pixel data is placed (for StripOffsets / TileOffsets given relative to the data).
struct TiffEntry {
  uint16_t tag;
  uint16_t type;
  std::vector<uint32_t> values;
  bool add_data_offset = false;
};

/// A classic little-endian TIFF with one IFD holding `entries` (sorted by tag) and `data`: the
/// data comes right after the 8-byte header, or at the very end of the file with `data_last`
/// (so that cutting the file short cuts the pixel data).
std::string build_tiff(std::vector<TiffEntry> entries, const std::string& data,
                       bool data_last = false);

/// A multi-page TIFF: one IFD (frame) per (entries, data) pair, data before each IFD.
std::string build_tiff_pages(
    const std::vector<std::pair<std::vector<TiffEntry>, std::string>>& pages);

/// The entries of a one-strip uncompressed grayscale TIFF (see build_strip_tiff).
std::vector<TiffEntry> strip_tiff_entries(uint32_t n_fast, uint32_t n_slow, uint16_t bits,
                                          uint16_t sample_format, size_t n_data_bytes,
                                          const std::vector<TiffEntry>& overrides = {});

/// A one-strip uncompressed grayscale TIFF of `n_fast` x `n_slow` with `bits` per sample; the
/// entries in `overrides` replace (same tag) or add to the defaults.
std::string build_strip_tiff(uint32_t n_fast, uint32_t n_slow, uint16_t bits,
                             uint16_t sample_format, const std::string& data,
                             const std::vector<TiffEntry>& overrides = {}, bool data_last = false);

/// A tiled uncompressed 16-bit TIFF of `image` with square tiles of `tile` pixels (a multiple of
/// 16); padding pixels hold 0xdead.
std::string build_tiled_tiff(const Image<uint16_t>& image, uint32_t tile);

/// A PNG of any colour type/bit depth written with libpng directly (for the variants
/// difftriage does not write). `rows` holds packed rows as PNG stores them (big-endian 16-bit).
/// `palette` is RGB triples for colour type 3; `transparent` adds a tRNS chunk when non-empty.
std::string build_png(int color_type, int bit_depth, uint32_t width, uint32_t height,
                      const std::vector<uint8_t>& rows, const std::vector<uint8_t>& palette = {},
                      const std::vector<uint8_t>& transparent = {});

/// CBF byte-offset encoding of `values` (the shortest escape for each difference), the inverse
/// of io::decode_byte_offset; written independently of the library for the tests.
std::string encode_byte_offset(const std::vector<int64_t>& values);

/// A miniCBF file (PILATUS_1.2 header, x-CBF_BYTE_OFFSET, CRLF line ends) of `image`, with
/// `header_lines` (each "# Key value", CRLF added) in the header contents. With
/// `n_padding_bytes`, that many zero bytes follow the data, as PILATUS pads the section.
std::string build_minicbf(const Image<int32_t>& image, const std::vector<std::string>& header_lines,
                          size_t n_padding_bytes = 16);

/// An SMV file: "{\nHEADER_BYTES=N;\n" + `records` (each "KEY=VALUE", ";\n" added) + "}\n"
/// padded with spaces to a multiple of 512 bytes, then `raster`.
std::string build_smv(const std::vector<std::string>& records, const std::string& raster);

/// gzip (zlib, level 6) and bzip2 (libbz2, 900k blocks) of `bytes`.
std::string gzip_bytes(const std::string& bytes);
std::string bzip2_bytes(const std::string& bytes);
/// The first (at most) `max_bytes` bytes of the gzip data `gz`, inflated.
std::string gunzip_head(const std::string& gz, size_t max_bytes);

/// A DECTRIS Stream V2 `image` message (CBOR, tag 55799 map with type, series_id 1, image_id
/// `image_id`, real_time [1, 1000], data {name: tag 40 [[slow, fast], tag 69 (uint16 LE) ...]})
/// holding `channels` in order; with `bslz4` each channel's bytes are wrapped in tag 56500
/// ["bslz4", 2, encode_bslz4(..., 2, 1024)], else stored raw. Encoded by hand, independently of
/// the library.
std::string build_cbor_image(const std::vector<std::pair<std::string, Image<uint16_t>>>& channels,
                             bool bslz4, uint64_t image_id = 0);

/// A small full imgCIF file: the header of the DLS_I03 fixture (`fixture_cbf`, the decompressed
/// DLS_I03_smargon_0001.cbf) with its dimensions changed to `image`'s, then `image` in
/// x-CBF_BYTE_OFFSET. Empty when the fixture text does not have the expected shape.
std::string build_imgcif_from_fixture(const std::string& fixture_cbf, const Image<int32_t>& image);

/// Runs `action`, expects it to throw `E`, and checks that the message contains `name` and
/// every string in `fragments`. Returns the message.
template <typename E>
std::string expect_error(const std::function<void()>& action, const std::string& name,
                         const std::vector<std::string>& fragments = {}) {
  try {
    action();
  } catch (const E& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(name), std::string::npos)
        << "message does not name '" << name << "': " << message;
    for (const std::string& fragment : fragments) {
      EXPECT_NE(message.find(fragment), std::string::npos)
          << "message lacks '" << fragment << "': " << message;
    }
    return message;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
    return {};
  }
  ADD_FAILURE() << "no exception thrown";
  return {};
}

/// Exact equality of two frames of the same type: extents and every pixel (bitwise for float).
template <typename T>
void expect_same_pixels(const Image<T>& expected, const AnyImage& actual) {
  ASSERT_TRUE(std::holds_alternative<Image<T>>(actual))
      << "pixel type is " << pixel_type_name(pixel_type(actual)) << ", expected "
      << pixel_type_name(pixel_type_of<T>());
  const auto& image = std::get<Image<T>>(actual);
  ASSERT_EQ(image.n_slow(), expected.n_slow());
  ASSERT_EQ(image.n_fast(), expected.n_fast());
  ASSERT_EQ(0, std::memcmp(image.data(), expected.data(), sizeof(T) * expected.size()))
      << "pixels differ";
}

}  // namespace difftriage::io::testing
