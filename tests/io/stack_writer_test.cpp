// FrameStackWriter's NXmx layout (stream --write-kept): frames appended as images or as
// bitshuffle-LZ4 chunks read back exactly through read_image (pixels, the static pixel mask,
// masked pixels as the invalid marker, metadata); chunks are stored byte for byte as given; a
// CXI writer refuses chunks; wrong chunks are ConfigErrors naming the frame.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "difftriage/core/error.h"
#include "difftriage/io/bitshuffle_lz4.h"
#include "difftriage/io/image_io.h"
#include "difftriage/io/stack_writer.h"
#include "io_test_support.h"
#include "support/test_support.h"

namespace difftriage::io {
namespace {

namespace fs = std::filesystem;
using difftriage::testing::TempDir;
using testing::expect_error;

// Counts 0..999 (no EIGER marker) from a fixed LCG.
Image<uint16_t> counts_u16(int64_t n_slow, int64_t n_fast, uint32_t seed) {
  Image<uint16_t> img(n_slow, n_fast);
  uint32_t x = seed;
  for (int64_t i = 0; i < img.size(); ++i) {
    x = x * 1664525u + 1013904223u;
    img.data()[i] = static_cast<uint16_t>((x >> 8) % 1000);
  }
  return img;
}

std::vector<uint8_t> bslz4_of(const Image<uint16_t>& img) {
  return encode_bitshuffle_lz4(reinterpret_cast<const uint8_t*>(img.data()),
                               static_cast<size_t>(img.size()) * 2, 2);
}

// The raw chunk of frame k of /entry/data/data, as stored.
std::vector<uint8_t> stored_chunk(const fs::path& path, int64_t k) {
  const hid_t file = H5Fopen(path.string().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t data = H5Dopen2(file, "/entry/data/data", H5P_DEFAULT);
  const hsize_t offset[3] = {static_cast<hsize_t>(k), 0, 0};
  hsize_t n = 0;
  H5Dget_chunk_storage_size(data, offset, &n);
  std::vector<uint8_t> bytes(n);
  uint32_t filter_mask = 0;
  H5Dread_chunk(data, H5P_DEFAULT, offset, &filter_mask, bytes.data());
  H5Dclose(data);
  H5Fclose(file);
  return bytes;
}

// The bitshuffle filter's cd_values of /entry/data/data, as stored.
std::vector<unsigned> stored_bitshuffle_values(const fs::path& path) {
  const hid_t file = H5Fopen(path.string().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t data = H5Dopen2(file, "/entry/data/data", H5P_DEFAULT);
  const hid_t dcpl = H5Dget_create_plist(data);
  unsigned flags = 0;
  size_t n = 16;
  std::vector<unsigned> values(n, 0);
  const bool found =
      H5Pget_filter_by_id2(dcpl, 32008, &flags, &n, values.data(), 0, nullptr, nullptr) >= 0;
  H5Pclose(dcpl);
  H5Dclose(data);
  H5Fclose(file);
  values.resize(found ? std::min<size_t>(n, 16) : 0);
  return values;
}

TEST(StackWriterNxmx, ChunksAsGivenAndImagesReadBackWithMaskAndMetadata) {
  TempDir dir;
  const fs::path path = dir / "kept.nxs";
  const int64_t slow = 40, fast = 52;
  StackWriteOptions options;
  options.layout = StackLayout::kNxmx;
  DetectorMetadata md;
  md.pixel_size_mm = 0.075;
  md.distance_mm = 337.0;
  md.wavelength_angstrom = 0.976;
  md.beam_center_fast_px = 25.5;
  md.beam_center_slow_px = 19.25;
  md.exposure_s = 0.004;
  md.saturation_value = 60000;
  options.metadata = md;
  options.pixel_mask.assign(static_cast<size_t>(slow * fast), 0);
  options.pixel_mask[5] = 1;  // a static bad pixel
  const Image<uint16_t> a = counts_u16(slow, fast, 1), b = counts_u16(slow, fast, 2);
  Image<uint16_t> c = counts_u16(slow, fast, 3);
  std::vector<uint8_t> c_mask(static_cast<size_t>(slow * fast), 0);
  c_mask[100] = 1;  // the frame's own masked pixel: written as the marker 65535
  c.set_mask(c_mask);
  const std::vector<uint8_t> a_chunk = bslz4_of(a), b_chunk = bslz4_of(b);
  {
    FrameStackWriter writer(path, options);
    writer.append_bslz4(a_chunk.data(), a_chunk.size(), PixelType::kUint16, slow, fast,
                        {"series 7", 43});
    writer.append(AnyImage(c), {"series 7", 44});
    writer.append_bslz4(b_chunk.data(), b_chunk.size(), PixelType::kUint16, slow, fast,
                        {"series 7", 45});
    EXPECT_FALSE(fs::exists(path));
    writer.finish();
  }
  ASSERT_EQ(count_frames(path), 3);
  EXPECT_EQ(stored_chunk(path, 0), a_chunk) << "copied as given, not re-compressed";
  EXPECT_EQ(stored_chunk(path, 2), b_chunk);
  // EIGER's declaration (version, element size, default block, LZ4), whether or not a
  // bitshuffle filter plugin is loaded (its set_local rewrites the values it is given).
  const std::vector<unsigned> cd = stored_bitshuffle_values(path);
  ASSERT_EQ(cd.size(), 5u);
  EXPECT_EQ(cd[2], 2u);
  EXPECT_EQ(cd[3], 0u);
  EXPECT_EQ(cd[4], 2u);
  EXPECT_EQ(io::bitshuffle_filter_arguments({0, 3, 2, 0, 2}).size(),
            H5Zfilter_avail(32008) > 0 ? 2u : 5u);
  const Image<uint16_t>* want[3] = {&a, &c, &b};
  for (int64_t k = 0; k < 3; ++k) {
    const AnyImage back = read_image(path, {k});
    const auto& img = std::get<Image<uint16_t>>(back);
    ASSERT_EQ(img.n_slow(), slow);
    ASSERT_EQ(img.n_fast(), fast);
    ASSERT_TRUE(img.has_mask());
    for (int64_t i = 0; i < img.size(); ++i) {
      const bool masked = i == 5 || (k == 1 && i == 100);
      EXPECT_EQ(img.mask()[static_cast<size_t>(i)] != 0, masked) << "frame " << k << " pixel " << i;
      if (!masked) {
        EXPECT_EQ(img.data()[i], want[k]->data()[i]) << "frame " << k << " pixel " << i;
      }
    }
    if (k == 1) {
      EXPECT_EQ(img.data()[100], 65535);
    }
    const DetectorMetadata& m = metadata(back);
    EXPECT_NEAR(m.pixel_size_mm.value_or(0), 0.075, 1e-12);
    EXPECT_NEAR(m.distance_mm.value_or(0), 337.0, 1e-9);
    EXPECT_NEAR(m.wavelength_angstrom.value_or(0), 0.976, 1e-12);
    EXPECT_EQ(m.beam_center_fast_px, 25.5);
    EXPECT_EQ(m.beam_center_slow_px, 19.25);
    EXPECT_EQ(m.exposure_s, 0.004);
    EXPECT_EQ(m.saturation_value, 60000);
  }
}

TEST(StackWriterNxmx, RefusesWrongChunksAndLayouts) {
  TempDir dir;
  const Image<uint16_t> a = counts_u16(8, 16, 4);
  const std::vector<uint8_t> chunk = bslz4_of(a);
  {
    FrameStackWriter cxi(dir / "hits.cxi");
    expect_error<ConfigError>(
        [&] { cxi.append_bslz4(chunk.data(), chunk.size(), PixelType::kUint16, 8, 16, {"s", 1}); },
        (dir / "hits.cxi").string(), {"only the NXmx layout"});
  }
  StackWriteOptions options;
  options.layout = StackLayout::kNxmx;
  FrameStackWriter nxmx(dir / "kept.nxs", options);
  expect_error<ConfigError>(
      [&] { nxmx.append_bslz4(chunk.data(), chunk.size(), PixelType::kUint16, 8, 8, {"s", 2}); },
      "kept.nxs", {"frame 0 (s //2)", "bitshuffle-LZ4 header"});
  nxmx.append_bslz4(chunk.data(), chunk.size(), PixelType::kUint16, 8, 16, {"s", 3});
  expect_error<ConfigError>([&] { nxmx.append(AnyImage(counts_u16(8, 17, 5)), {"s", 4}); },
                            "kept.nxs", {"frame 1 (s //4)", "17 x 8"});
  EXPECT_EQ(nxmx.n_frames(), 1);
}

}  // namespace
}  // namespace difftriage::io
