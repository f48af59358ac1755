// HDF5 (EIGER/NeXus, CXI) and DECTRIS Stream V2 (CBOR) readers: the real fixtures, checked
// against numbers from an independent Python decode (h5py for the raw chunks and CXI values; a
// hand-written CBOR parser, LZ4 block decoder and bitwise un-bitshuffle for the compressed
// pixels); a small HDF5 file built here with raw bitshuffle/LZ4 chunks (H5Dwrite_chunk) for the
// filters, masks, metadata and corrupted chunks; and corrupted CBOR messages.
#include <gtest/gtest.h>

#include <hdf5.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <iostream>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "difftriage/io/image_io.h"
#include "difftriage/io/stack_writer.h"
#include "io_test_support.h"
#include "support/test_support.h"

namespace difftriage::io {
namespace {

using difftriage::testing::read_bytes;
using difftriage::testing::shared_fixtures_dir;
using difftriage::testing::TempDir;
using testing::expect_error;
using Bytes = std::vector<uint8_t>;

std::filesystem::path fixture(const std::string& file) { return shared_fixtures_dir() / file; }

const char* const kEigerData = "eiger2_simread7_2datafiles_4images_bslz4_data_000001.h5";
const char* const kEigerMaster = "dectris_eiger_master.h5";
const char* const kCxi = "typical_raw.cxi";
const char* const kCbor = "r500k_bm_bslz4_16bit_000001.cbor";

// Sum of value * flat index: sensitive to where each value sits, not only to the histogram.
template <typename T>
int64_t weighted_sum(const Image<T>& image) {
  int64_t sum = 0;
  for (int64_t i = 0; i < image.size(); ++i) sum += static_cast<int64_t>(image.data()[i]) * i;
  return sum;
}

template <typename T>
int64_t plain_sum(const Image<T>& image) {
  return std::accumulate(image.pixels().begin(), image.pixels().end(), int64_t{0});
}

// ---- EIGER data file (bitshuffle/LZ4, filter 32008) -----------------------------------------

TEST(Hdf5Eiger, DataFileFramesMatchIndependentDecode) {
  const auto path = fixture(kEigerData);
  DT_REQUIRE_SHARED(path);
  const std::string head = read_bytes(path).substr(0, 64);
  EXPECT_EQ(probe_format(testing::as_bytes(head), head.size()), ImageFormat::kHdf5);
  EXPECT_STREQ(format_name(ImageFormat::kHdf5), "hdf5");

  const AnyImage any0 = read_image(path, {0});
  ASSERT_TRUE(std::holds_alternative<Image<uint16_t>>(any0));
  const auto& f0 = std::get<Image<uint16_t>>(any0);
  EXPECT_EQ(f0.n_slow(), 512);
  EXPECT_EQ(f0.n_fast(), 1028);
  // Python (h5py read_direct_chunk + own LZ4 + bitwise un-bitshuffle): the test pattern has
  // values {1: 12, 2: 36, 3: 5080, 4: 5080, 7: 516128} pixels, sum 3648540.
  EXPECT_EQ(plain_sum(f0), 3648540);
  EXPECT_EQ(weighted_sum(f0), 960177128840);
  EXPECT_EQ(std::count(f0.pixels().begin(), f0.pixels().end(), 3), 5080);
  EXPECT_EQ(std::count(f0.pixels().begin(), f0.pixels().end(), 1), 12);
  EXPECT_EQ(f0(0, 0), 7);
  EXPECT_EQ(f0(255, 600), 4);
  EXPECT_EQ(f0.n_masked(), 0);  // no 0xFFFF pixels, no pixel_mask in a data file
  EXPECT_NE(f0.metadata().detector.find("EIGER data"), std::string::npos);

  const AnyImage any1 = read_image(path, {1});
  const auto& f1 = std::get<Image<uint16_t>>(any1);
  EXPECT_EQ(plain_sum(f1), 3648540);
  EXPECT_EQ(weighted_sum(f1), 960177147365);
  int64_t n_differ = 0;
  for (int64_t i = 0; i < f0.size(); ++i) n_differ += f0.data()[i] != f1.data()[i];
  EXPECT_EQ(n_differ, 5168);

  expect_error<FormatError>([&] { read_image(path, {2}); }, path.string(),
                            {"frame 2 out of range", "2 frame(s)", "/entry/data/data"});
  expect_error<FormatError>([&] { read_image(path, {-1}); }, path.string(), {"frame -1"});
}

TEST(Hdf5Eiger, InMemoryImageDecodesTheSame) {
  const auto path = fixture(kEigerData);
  DT_REQUIRE_SHARED(path);
  const std::string bytes = read_bytes(path);
  const AnyImage from_memory =
      decode_image(testing::as_bytes(bytes), bytes.size(), "mem.h5", {1});
  testing::expect_same_pixels(std::get<Image<uint16_t>>(read_image(path, {1})), from_memory);
  // Named after an existing file or folder (as a caller that read the file's bytes would):
  // libhdf5's in-memory driver refused such names ("file already exists"; found by fuzzing).
  for (const std::string& name : {path.string(), path.parent_path().string()}) {
    testing::expect_same_pixels(std::get<Image<uint16_t>>(from_memory),
                                decode_image(testing::as_bytes(bytes), bytes.size(), name, {1}));
    EXPECT_EQ(count_frames_in_memory(testing::as_bytes(bytes), bytes.size(), name), 2);
  }
}

TEST(Hdf5Eiger, DanglingMasterNamesTheMissingDataFile) {
  const auto path = fixture(kEigerMaster);
  DT_REQUIRE_SHARED(path);
  expect_error<FormatError>([&] { read_image(path); }, path.string(),
                            {"/entry/data/data_000001", "dectris_eiger_data_000001.h5", "missing"});
  const std::string bytes = read_bytes(path);
  expect_error<FormatError>(
      [&] { decode_image(testing::as_bytes(bytes), bytes.size(), "master-in-memory.h5"); },
      "master-in-memory.h5", {"/entry/data/data_000001", "in-memory"});
}

// ---- CXI -------------------------------------------------------------------------------------

TEST(Hdf5Cxi, TypicalRawFollowsTheSoftLink) {
  const auto path = fixture(kCxi);
  DT_REQUIRE_SHARED(path);
  const AnyImage any = read_image(path);
  ASSERT_TRUE(std::holds_alternative<Image<float>>(any));
  const auto& image = std::get<Image<float>>(any);
  EXPECT_EQ(image.n_slow(), 50);
  EXPECT_EQ(image.n_fast(), 100);
  // h5py: float64 values, here rounded to float32.
  EXPECT_EQ(image(0, 0), static_cast<float>(-0.005247497074078575));
  EXPECT_EQ(image(1, 2), static_cast<float>(0.018757959970799844));
  EXPECT_EQ(image(49, 99), static_cast<float>(0.0015690241473728344));
  EXPECT_EQ(image(25, 50), 1.0f);
  double sum = 0;
  for (float v : image.pixels()) sum += v;
  EXPECT_NEAR(sum, 245.81010415036224, 1e-4);
  EXPECT_FALSE(image.has_mask());
  ASSERT_TRUE(image.metadata().distance_mm.has_value());
  EXPECT_DOUBLE_EQ(*image.metadata().distance_mm, 150.0);  // detector_1/distance 0.15 m
  ASSERT_TRUE(image.metadata().wavelength_angstrom.has_value());
  EXPECT_NEAR(*image.metadata().wavelength_angstrom, 6.8752, 1e-3);  // source energy 2.8893e-16 J
  expect_error<FormatError>([&] { read_image(path, {1}); }, path.string(),
                            {"frame 1 out of range", "1 frame(s)"});
}

// ---- a small EIGER-like file written here ------------------------------------------------------

constexpr int64_t kSlow = 40, kFast = 36, kFrames = 3;

Bytes frame_bytes(int frame) {
  Bytes plain(kSlow * kFast * 2);
  std::mt19937 rng(100 + frame);
  std::uniform_int_distribution<int> count(0, 50);
  for (int64_t i = 0; i < kSlow * kFast; ++i) {
    uint16_t v = static_cast<uint16_t>(count(rng) + 1000 * frame);
    if (i == 5 + frame) v = 0xFFFF;  // EIGER invalid pixel
    plain[2 * i] = static_cast<uint8_t>(v & 0xFF);
    plain[2 * i + 1] = static_cast<uint8_t>(v >> 8);
  }
  return plain;
}

struct H5File {
  explicit H5File(hid_t file_id) : id(file_id) {}
  ~H5File() { if (id >= 0) H5Fclose(id); }
  hid_t id;
};

// Creates /entry/data/data (kFrames, kSlow, kFast) uint16 with `filter_id` (optional, never
// applied by HDF5: the chunks are written raw), plus NeXus metadata and a pixel mask.
void write_eiger_like(const std::filesystem::path& path, unsigned filter_id,
                      const std::vector<unsigned>& cd_values,
                      const std::function<Bytes(const Bytes&)>& encode) {
  H5File file(H5Fcreate(path.string().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  ASSERT_GE(file.id, 0);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  const hsize_t dims[3] = {kFrames, kSlow, kFast}, chunk[3] = {1, kSlow, kFast};
  hid_t space = H5Screate_simple(3, dims, nullptr);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 3, chunk);
  // The stored cd_values are what the reader sees; a loaded bitshuffle plugin wants fewer.
  const std::vector<unsigned> args =
      filter_id == 32008 ? io::bitshuffle_filter_arguments(cd_values) : cd_values;
  ASSERT_GE(H5Pset_filter(dcpl, filter_id, H5Z_FLAG_OPTIONAL, args.size(), args.data()), 0);
  hid_t dset = H5Dcreate2(file.id, "/entry/data/data", H5T_STD_U16LE, space, lcpl, dcpl,
                          H5P_DEFAULT);
  ASSERT_GE(dset, 0);
  for (int f = 0; f < kFrames; ++f) {
    const Bytes raw = encode(frame_bytes(f));
    const hsize_t offset[3] = {static_cast<hsize_t>(f), 0, 0};
    ASSERT_GE(H5Dwrite_chunk(dset, H5P_DEFAULT, 0, offset, raw.size(), raw.data()), 0);
  }
  auto scalar = [&](const char* name, double value, const char* units) {
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(file.id, name, H5T_IEEE_F32LE, s, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    const float v = static_cast<float>(value);
    H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, std::strlen(units));
    hid_t a = H5Acreate2(d, "units", t, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, units);
    H5Aclose(a);
    H5Tclose(t);
    H5Dclose(d);
    H5Sclose(s);
  };
  scalar("/entry/instrument/detector/beam_center_x", 17.5, "pixel");
  scalar("/entry/instrument/detector/beam_center_y", 20.25, "pixel");
  scalar("/entry/instrument/detector/detector_distance", 0.125, "m");
  scalar("/entry/instrument/detector/x_pixel_size", 0.000075, "m");
  scalar("/entry/instrument/beam/incident_wavelength", 0.9763, "angstrom");
  const hsize_t mask_dims[2] = {kSlow, kFast};
  std::vector<uint32_t> mask(kSlow * kFast, 0);
  mask[100] = 1;
  mask[101] = 8;
  hid_t mspace = H5Screate_simple(2, mask_dims, nullptr);
  hid_t mset = H5Dcreate2(file.id, "/entry/instrument/detector/pixel_mask", H5T_STD_U32LE, mspace,
                          lcpl, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(mset, H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, mask.data());
  H5Dclose(mset);
  H5Sclose(mspace);
  H5Dclose(dset);
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Pclose(lcpl);
}

// Replaces the raw chunk of frame `frame`.
void rewrite_chunk(const std::filesystem::path& path, int frame, const Bytes& raw) {
  H5File file(H5Fopen(path.string().c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
  hid_t dset = H5Dopen2(file.id, "/entry/data/data", H5P_DEFAULT);
  const hsize_t offset[3] = {static_cast<hsize_t>(frame), 0, 0};
  H5Dwrite_chunk(dset, H5P_DEFAULT, 0, offset, raw.size(), raw.data());
  H5Dclose(dset);
}

void expect_frames(const std::filesystem::path& path) {
  for (int f = 0; f < kFrames; ++f) {
    const AnyImage any = read_image(path, {f});
    ASSERT_TRUE(std::holds_alternative<Image<uint16_t>>(any));
    const auto& image = std::get<Image<uint16_t>>(any);
    const Bytes expected = frame_bytes(f);
    ASSERT_EQ(image.size(), kSlow * kFast);
    EXPECT_EQ(0, std::memcmp(image.data(), expected.data(), expected.size())) << "frame " << f;
    // 0xFFFF at 5 + f, pixel_mask at 100 and 101.
    EXPECT_EQ(image.n_masked(), 3);
    EXPECT_NE(image.mask()[5 + f], 0);
    EXPECT_NE(image.mask()[100], 0);
    EXPECT_NE(image.mask()[101], 0);
    const DetectorMetadata& md = image.metadata();
    EXPECT_NEAR(md.beam_center_fast_px.value_or(0), 17.5, 1e-6);
    EXPECT_NEAR(md.beam_center_slow_px.value_or(0), 20.25, 1e-6);
    EXPECT_NEAR(md.distance_mm.value_or(0), 125.0, 1e-4);
    EXPECT_NEAR(md.pixel_size_mm.value_or(0), 0.075, 1e-7);
    EXPECT_NEAR(md.wavelength_angstrom.value_or(0), 0.9763, 1e-6);
  }
}

class Hdf5Written : public ::testing::Test {
 protected:
  TempDir dir_;
  std::filesystem::path path_ = dir_.path() / "eiger_like.h5";
};

TEST_F(Hdf5Written, BitshuffleLz4Chunks) {
  write_eiger_like(path_, 32008, {0, 3, 2, 0, 2},
                   [](const Bytes& plain) { return testing::encode_bslz4(plain, 2, 256); });
  expect_frames(path_);
}

TEST_F(Hdf5Written, PlainBitshuffleChunks) {
  write_eiger_like(path_, 32008, {0, 3, 2, 64, 0},
                   [](const Bytes& plain) { return testing::encode_bslz4(plain, 2, 64, false); });
  expect_frames(path_);
}

TEST_F(Hdf5Written, Lz4Chunks) {
  write_eiger_like(path_, 32004, {1 << 10}, [](const Bytes& plain) {
    Bytes out;
    testing::put_be64(&out, plain.size());
    testing::put_be32(&out, 1024);
    for (size_t at = 0; at < plain.size(); at += 1024) {
      const size_t n = std::min<size_t>(1024, plain.size() - at);
      const Bytes packed = testing::lz4_compress(plain.data() + at, n);
      testing::put_be32(&out, static_cast<uint32_t>(packed.size()));
      out.insert(out.end(), packed.begin(), packed.end());
    }
    return out;
  });
  expect_frames(path_);
}

TEST_F(Hdf5Written, UnknownFilterIsNamed) {
  write_eiger_like(path_, 307, {9}, [](const Bytes& plain) { return plain; });
  expect_error<FormatError>([&] { read_image(path_, {1}); }, path_.string(),
                            {"/entry/data/data", "frame 1", "filter 307"});
}

TEST_F(Hdf5Written, TruncatedAndCorruptChunksNeverCrash) {
  write_eiger_like(path_, 32008, {0, 3, 2, 0, 2},
                   [](const Bytes& plain) { return testing::encode_bslz4(plain, 2, 256); });
  const Bytes valid = testing::encode_bslz4(frame_bytes(1), 2, 256);
  // A short chunk: the error names file, dataset and frame.
  rewrite_chunk(path_, 1, Bytes(valid.begin(), valid.begin() + 40));
  expect_error<FormatError>([&] { read_image(path_, {1}); }, path_.string(),
                            {"/entry/data/data", "frame 1", "truncated"});
  std::mt19937 rng(20240611);
  std::uniform_int_distribution<size_t> position(0, valid.size() - 1);
  std::uniform_int_distribution<int> byte(1, 255);
  int n_decoded = 0, n_rejected = 0;
  for (int trial = 0; trial < 300; ++trial) {
    Bytes raw = valid;
    if (trial % 3 == 0) {
      raw.resize(position(rng));  // truncation
    } else {
      for (int e = 0; e < 1 + trial % 4; ++e) {
        const size_t at = trial % 3 == 1 ? position(rng) % 24 : position(rng);  // header or body
        raw[at] = static_cast<uint8_t>(raw[at] ^ byte(rng));
      }
    }
    if (raw.empty()) raw.push_back(0);
    rewrite_chunk(path_, 1, raw);
    try {
      ReadOptions options;  // our chunk decoding, in this process (no child-process check of
      options.frame = 1;    // the unchanged metadata for each of the 300 rewrites)
      options.isolate_hdf5 = false;
      const AnyImage image = read_image(path_, options);
      EXPECT_EQ(extents(image).first, kSlow);
      ++n_decoded;
    } catch (const FormatError& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find(path_.string()), std::string::npos) << message;
      EXPECT_NE(message.find("frame 1"), std::string::npos) << message;
      ++n_rejected;
    }
  }
  EXPECT_GT(n_rejected, 100);
  std::cout << "corrupt chunks: " << n_decoded << " decoded, " << n_rejected << " rejected\n";
}

// ---- DECTRIS Stream V2 CBOR --------------------------------------------------------------------

TEST(Cbor, ImageMessageChannelsMatchIndependentDecode) {
  const auto path = fixture(kCbor);
  DT_REQUIRE_SHARED(path);
  const std::string head = read_bytes(path).substr(0, 16);
  EXPECT_EQ(probe_format(testing::as_bytes(head), head.size()), ImageFormat::kCbor);

  // Python (own CBOR parser + LZ4 + bitwise un-bitshuffle): per channel, sum and index-weighted
  // sum; threshold_1 has 4s at (0, 47), (0, 169), (0, 520).
  struct Channel {
    const char* name;
    int64_t sum, weighted;
  };
  const Channel channels[] = {{"threshold_1", 909218, 240666186627},
                              {"threshold_2", 908375, 240429572190},
                              {"difference", 12746207625, 3375729046023981}};
  for (int frame = 0; frame < 3; ++frame) {
    const AnyImage any = read_image(path, {frame});
    ASSERT_TRUE(std::holds_alternative<Image<uint16_t>>(any));
    const auto& image = std::get<Image<uint16_t>>(any);
    EXPECT_EQ(image.n_slow(), 514);
    EXPECT_EQ(image.n_fast(), 1030);
    EXPECT_EQ(plain_sum(image), channels[frame].sum) << channels[frame].name;
    EXPECT_EQ(weighted_sum(image), channels[frame].weighted) << channels[frame].name;
    EXPECT_NE(image.metadata().detector.find(channels[frame].name), std::string::npos);
    EXPECT_NE(image.metadata().detector.find("series 1, image 0"), std::string::npos);
    EXPECT_NEAR(image.metadata().exposure_s.value_or(0), 999995.0 / 50000000.0, 1e-12);
    if (frame == 0) {
      EXPECT_EQ(image(0, 0), 1);
      EXPECT_EQ(image(0, 47), 4);
      EXPECT_EQ(image(0, 169), 4);
      EXPECT_EQ(image(0, 520), 4);
      EXPECT_EQ(image.n_masked(), 0);
    }
    if (frame == 2) {
      EXPECT_EQ(image.n_masked(), 194490);  // 0xFFFF
    }
  }
  expect_error<FormatError>([&] { read_image(path, {3}); }, path.string(),
                            {"frame 3 out of range", "3 channel(s)", "threshold_1"});
}

TEST(Cbor, CorruptMessagesNeverCrash) {
  const auto path = fixture(kCbor);
  DT_REQUIRE_SHARED(path);
  const std::string valid = read_bytes(path);
  // The first channel's bslz4 payload starts at byte 248 (u64 BE 1058840 = 514 * 1030 * 2).
  ASSERT_EQ(valid.substr(248, 8), std::string("\0\0\0\0\0\x10\x28\x18", 8));
  std::mt19937 rng(5150);
  std::uniform_int_distribution<size_t> anywhere(0, valid.size() - 1);
  std::uniform_int_distribution<size_t> payload(248, 248 + 157494 - 1);
  std::uniform_int_distribution<int> byte(1, 255);
  int n_decoded = 0, n_rejected = 0;
  for (int trial = 0; trial < 400; ++trial) {
    std::string bytes = valid;
    if (trial % 4 == 0) {
      bytes.resize(anywhere(rng));
    } else {
      for (int e = 0; e < 1 + trial % 3; ++e) {
        const size_t at = trial % 4 == 1 ? anywhere(rng) % 260 : payload(rng);
        bytes[at] = static_cast<char>(static_cast<uint8_t>(bytes[at]) ^ byte(rng));
      }
    }
    try {
      const AnyImage image = decode_image(testing::as_bytes(bytes), bytes.size(), "corrupt.cbor");
      EXPECT_GT(extents(image).first, 0);
      ++n_decoded;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("corrupt.cbor"), std::string::npos) << e.what();
      ++n_rejected;
    }
  }
  EXPECT_GT(n_rejected, 100);
  std::cout << "corrupt messages: " << n_decoded << " decoded, " << n_rejected << " rejected\n";
}

}  // namespace
}  // namespace difftriage::io
