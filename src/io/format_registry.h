/// Private to the io module: the table of frame readers and the checks every reader shares.
///
/// A reader is a name, a cheap `probe` over the first bytes that returns a specificity score, and
/// a `decode` over the whole file in memory. `decode_image` asks every reader and the highest
/// score wins (ties go to the earlier entry). Adding a format is one line in `kReaders`
/// (format_registry.cpp) plus its enumerator in `ImageFormat`.
///
/// A reader may also have a `read_path`: `read_image` then hands it the path after probing the
/// first bytes, instead of reading the whole file into memory. HDF5 needs this (a master file's
/// external links resolve relative to the file, and a data file of thousands of frames should not
/// be read whole for one frame).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "difftriage/core/error.h"
#include "difftriage/core/image.h"
#include "difftriage/io/dectris_stream.h"
#include "difftriage/io/image_io.h"

namespace difftriage::io::detail {

/// Probe scores: 0 means "not mine". Longer, rarer magic scores higher so that a format whose
/// magic is a prefix of another's never shadows it.
inline constexpr int kProbeNo = 0;
inline constexpr int kProbeWeak = 10;    ///< two-byte magic (netpbm "P5")
inline constexpr int kProbeMagic = 50;   ///< four-byte magic (TIFF "II*\0")
inline constexpr int kProbeStrong = 90;  ///< eight or more bytes of fixed signature (PNG)

/// Returns a score >= 0 for the first `n_bytes` (at most kProbeBytes) of a file. Never throws.
using ProbeFn = int (*)(const uint8_t* head, size_t n_bytes) noexcept;
/// Decodes a whole file held in memory; `name` goes into every error message.
/// Throws FormatError naming `name` on bad content.
using DecodeFn = AnyImage (*)(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                              const ReadOptions& options);

/// Reads one frame of the file at `path` (whose first bytes this reader's probe accepted).
/// Throws IoError / FormatError naming the file.
using ReadPathFn = AnyImage (*)(const std::filesystem::path& path, const ReadOptions& options);

/// Number of frames (`//N`) in a whole file held in memory. Throws FormatError naming `name`.
using CountFn = int64_t (*)(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                            const ReadOptions& options);
/// Number of frames of the file at `path` (for readers with a `read_path`).
using CountPathFn = int64_t (*)(const std::filesystem::path& path, const ReadOptions& options);

/// One entry of the reader table. `read_path` is null for readers that decode from memory only;
/// `count` is null for single-frame formats (one frame per file); `count_path` goes with
/// `read_path`.
struct FormatReader {
  ImageFormat format;
  const char* name;
  ProbeFn probe;
  DecodeFn decode;
  ReadPathFn read_path = nullptr;
  CountFn count = nullptr;
  CountPathFn count_path = nullptr;
};

/// The reader whose probe scores highest for `head`, or null when none scores above kProbeNo.
const FormatReader* find_reader(const uint8_t* head, size_t n_bytes) noexcept;
/// The table entry for `format`, or null (kUnknown).
const FormatReader* reader_for(ImageFormat format) noexcept;
/// "pgm, png, tiff": the registered names, for "not recognised" messages.
std::string known_format_names();

// ---- the readers -----------------------------------------------------------------------------
int probe_pgm(const uint8_t* head, size_t n_bytes) noexcept;
AnyImage decode_pgm(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                    const ReadOptions& options);
int probe_png(const uint8_t* head, size_t n_bytes) noexcept;
AnyImage decode_png(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                    const ReadOptions& options);
int probe_tiff(const uint8_t* head, size_t n_bytes) noexcept;
AnyImage decode_tiff(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                     const ReadOptions& options);
int64_t count_tiff(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                   const ReadOptions& options);
int probe_smv(const uint8_t* head, size_t n_bytes) noexcept;
AnyImage decode_smv(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                    const ReadOptions& options);
int probe_cbf(const uint8_t* head, size_t n_bytes) noexcept;
AnyImage decode_cbf(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                    const ReadOptions& options);
/// HDF5 (src/io/hdf5.cpp, the work in hdf5_*.cpp): `read_hdf5` opens the file by path (external
/// links followed); `decode_hdf5` opens an in-memory file image (external links are a
/// FormatError there).
int probe_hdf5(const uint8_t* head, size_t n_bytes) noexcept;
AnyImage decode_hdf5(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                     const ReadOptions& options);
AnyImage read_hdf5(const std::filesystem::path& path, const ReadOptions& options);
int64_t count_hdf5(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                   const ReadOptions& options);
int64_t count_hdf5_path(const std::filesystem::path& path, const ReadOptions& options);
/// Empties the per-file cache of read_hdf5 / count_hdf5_path. Never throws.
void clear_hdf5_cache() noexcept;
/// DECTRIS Stream V2 CBOR image messages (src/io/cbor_stream.cpp).
int probe_cbor(const uint8_t* head, size_t n_bytes) noexcept;
AnyImage decode_cbor(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                     const ReadOptions& options);
int64_t count_cbor(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                   const ReadOptions& options);

/// The envelope of any DECTRIS Stream V2 message (start, image, end; src/io/cbor_stream.cpp):
/// its type, series and image numbers and, for a start message, the series' detector metadata
/// (beam centre px, pixel size and distance from m, wavelength Å, saturation, count time) and
/// the first channel's pixel mask (one byte per pixel, non-zero = masked; empty when absent).
struct Stream2Envelope {
  std::string type;        ///< "start", "image" or "end"
  int64_t series_id = -1;
  int64_t image_id = -1;   ///< image messages only
  DetectorMetadata metadata;
  std::vector<uint8_t> mask;
  int64_t mask_n_slow = 0, mask_n_fast = 0;
  std::optional<int64_t> n_images;  ///< start messages: number_of_images, when present
};
/// Parses the envelope (no image pixels are decoded). Throws FormatError naming `name` when the
/// bytes are no DECTRIS Stream V2 message (no tag 55799, no map, an unknown type, no series_id).
Stream2Envelope parse_stream2_envelope(const uint8_t* bytes, size_t n_bytes,
                                       const std::string& name);

/// Little-endian pixels of an RFC 8746 typed-array kind (64 uint8, 69 uint16, 70 uint32,
/// 72 int8, 77 int16, 78 int32, 85 float32) as a frame, with the conversions and the all-ones
/// mask of the CBOR reader (image_io.h). Shared by the Stream V1 decoder (dectris_stream.cpp).
/// Throws FormatError starting with `where` for another tag or a size mismatch.
AnyImage typed_array_to_image(uint64_t rfc8746_tag, const std::vector<uint8_t>& bytes,
                              int64_t n_slow, int64_t n_fast, const std::string& where);

/// Writes a frame's little-endian pixel bytes (`n_bytes` of them) to `out`; throws FormatError
/// for data that do not decode.
using PixelWriter = std::function<void(uint8_t* out, size_t n_bytes)>;

/// As typed_array_to_image, but the pixels are written by `write` straight into the frame's
/// memory when its pixel type holds the element's bytes (8/16/32-bit unsigned, int32, float32):
/// a decoder's output is not copied again.
AnyImage typed_array_decode(uint64_t rfc8746_tag, int64_t n_slow, int64_t n_fast,
                            const PixelWriter& write, const std::string& where);

/// A Stream V2 image message's first channel as sent, when it is one bitshuffle-LZ4 block
/// (tag 56500 "bslz4") of 8/16/32-bit unsigned pixels; nullopt for other encodings. Throws
/// FormatError naming `name` when the message is not a readable image message.
std::optional<Bslz4Chunk> cbor_bslz4_chunk(const uint8_t* bytes, size_t n_bytes,
                                           const std::string& name);

// ---- checks shared by the readers ------------------------------------------------------------

/// Throws FormatError "<name>: <parts...>".
template <typename... Args>
[[noreturn]] void throw_format_error(const std::string& name, Args&&... parts) {
  throw FormatError(::difftriage::detail::concat(name, ": ", std::forward<Args>(parts)...));
}

/// Single-frame formats accept only frame 0.
/// @throws FormatError "<name>: frame N out of range, file has 1 frame".
void check_single_frame(const std::string& name, const ReadOptions& options);

/// Rejects zero extents and anything beyond kMaxImageExtent / kMaxImagePixels, so that a corrupt
/// header is caught before the pixel buffer is allocated. `what` names the format ("PGM").
void check_extents(const std::string& name, const char* what, int64_t n_slow, int64_t n_fast);

/// Throws ConfigError when a writer is handed an empty image (no format stores 0 × N frames).
void check_writable(const std::string& path, int64_t n_slow, int64_t n_fast);

}  // namespace difftriage::io::detail
