// Deterministic fuzzing: truncated and bit-flipped files must decode or throw difftriage::Error,
// never crash, hang, throw anything else or allocate absurd amounts of memory.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "difftriage/io/image_io.h"
#include "io_test_support.h"
#include "support/test_support.h"

namespace difftriage::io {
namespace {

using difftriage::testing::read_bytes;
using difftriage::testing::TempDir;

struct Outcomes {
  int n_decoded = 0;
  int n_rejected = 0;
};

void decode_or_reject(const std::string& bytes, const std::string& label, Outcomes* outcomes) {
  const std::string name = "corrupt/" + label;
  try {
    const AnyImage image =
        decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), name);
    const auto [n_slow, n_fast] = extents(image);
    EXPECT_GT(n_slow, 0) << label;
    EXPECT_GT(n_fast, 0) << label;
    ++outcomes->n_decoded;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    ++outcomes->n_rejected;
  } catch (const std::exception& e) {
    ADD_FAILURE() << label << ": non-difftriage exception: " << e.what();
  }
}

// Truncations at about 1000 lengths (all of them for small files) and 2500 random edits of 1-4
// bytes.
Outcomes corrupt_and_decode(const std::string& valid, const std::string& label, uint32_t seed) {
  Outcomes outcomes;
  const size_t step = std::max<size_t>(1, valid.size() / 1000);
  for (size_t n = 0; n < valid.size(); n += step) {
    decode_or_reject(valid.substr(0, n), label + " cut at " + std::to_string(n), &outcomes);
  }
  std::mt19937 rng(seed);
  std::uniform_int_distribution<size_t> position(0, valid.size() - 1);
  std::uniform_int_distribution<int> byte(1, 255);
  std::uniform_int_distribution<int> n_edits(1, 4);
  for (int trial = 0; trial < 2500; ++trial) {
    std::string bytes = valid;
    const int edits = n_edits(rng);
    // Headers are where the interesting damage happens: a third of the trials edit the first 64
    // bytes, a third the last 256 (where libtiff puts the IFD and PNG its trailer).
    for (int e = 0; e < edits; ++e) {
      size_t at = position(rng);
      if (trial % 3 == 0) at %= std::min<size_t>(64, valid.size());
      if (trial % 3 == 1) at = valid.size() - 1 - at % std::min<size_t>(256, valid.size());
      bytes[at] = static_cast<char>(static_cast<uint8_t>(bytes[at]) ^ byte(rng));
    }
    decode_or_reject(bytes, label + " edit trial " + std::to_string(trial), &outcomes);
  }
  return outcomes;
}

class Corruption : public ::testing::Test {
 protected:
  std::string encode(const std::function<void(const std::filesystem::path&)>& write) {
    const auto path = dir_ / "valid";
    write(path);
    return read_bytes(path);
  }
  TempDir dir_;
};

TEST_F(Corruption, PgmNeverCrashes) {
  const Image<uint8_t> frame8 = testing::make_frame_u8(24, 32, 31);
  const Image<uint16_t> frame16 = testing::make_frame_u16(12, 10, 32);
  const std::string p5 = encode([&](const auto& p) { write_pgm(p, frame8); });
  const std::string p5_16 = encode([&](const auto& p) { write_pgm(p, frame16); });
  const std::string p2 = encode([&](const auto& p) { write_pgm(p, frame16, {false}); });
  for (const auto& [bytes, label] : {std::pair{p5, "p5"}, {p5_16, "p5-16"}, {p2, "p2"}}) {
    const Outcomes o = corrupt_and_decode(bytes, label, 41);
    EXPECT_GT(o.n_rejected, 0) << label;
    EXPECT_GT(o.n_decoded, 0) << label;  // pixel-byte flips still decode
  }
}

TEST_F(Corruption, PngNeverCrashes) {
  const Image<uint8_t> frame8 = testing::make_frame_u8(40, 48, 33);
  const Image<uint16_t> frame16 = testing::make_frame_u16(16, 20, 34);
  const std::string png8 = encode([&](const auto& p) { write_png(p, frame8); });
  const std::string png16 = encode([&](const auto& p) { write_png(p, frame16); });
  for (const auto& [bytes, label] : {std::pair{png8, "png8"}, {png16, "png16"}}) {
    const Outcomes o = corrupt_and_decode(bytes, label, 42);
    EXPECT_GT(o.n_rejected, 0) << label;
  }
}

TEST_F(Corruption, TiffNeverCrashes) {
  const Image<uint16_t> frame16 = testing::make_frame_u16(20, 24, 35);
  const Image<float> frame32 = testing::make_frame_f32(30, 40, 36);
  const std::string tif16 = encode([&](const auto& p) { write_tiff(p, AnyImage(frame16)); });
  const std::string tif32 = encode([&](const auto& p) { write_tiff(p, AnyImage(frame32)); });
  const std::string tiled = testing::build_tiled_tiff(testing::make_frame_u16(40, 36, 37), 16);
  for (const auto& [bytes, label] :
       {std::pair{tif16, "tiff16"}, {tif32, "tiff-f32"}, {tiled, "tiff-tiled"}}) {
    const Outcomes o = corrupt_and_decode(bytes, label, 43);
    EXPECT_GT(o.n_rejected, 0) << label;
    EXPECT_GT(o.n_decoded, 0) << label;
  }
}

TEST_F(Corruption, SmvNeverCrashes) {
  const Image<uint16_t> frame16 = testing::make_frame_u16(24, 32, 38);
  const std::string raster16(reinterpret_cast<const char*>(frame16.data()), frame16.size() * 2);
  const std::string le = testing::build_smv(
      {"DIM=2", "BYTE_ORDER=little_endian", "TYPE=unsigned_short", "SIZE1=32", "SIZE2=24",
       "PIXEL_SIZE=0.1", "BEAM_CENTER_X=1.2", "BEAM_CENTER_Y=1.6", "WAVELENGTH=1.0"},
      raster16);
  const std::string be = testing::build_smv(
      {"BYTE_ORDER=big_endian", "TYPE=signed_long", "SIZE1=12", "SIZE2=10"}, std::string(480, 'x'));
  for (const auto& [bytes, label] : {std::pair{le, "smv-le"}, {be, "smv-be32"}}) {
    const Outcomes o = corrupt_and_decode(bytes, label, 44);
    EXPECT_GT(o.n_rejected, 0) << label;
    EXPECT_GT(o.n_decoded, 0) << label;
  }
}

TEST_F(Corruption, CbfNeverCrashes) {
  // make_frame_i32 puts -1 next to INT32_MAX: every escape width occurs in the data.
  const Image<int32_t> frame = testing::make_frame_i32(20, 24, 39);
  const std::string cbf = testing::build_minicbf(
      frame, {"# Pixel_size 172e-6 m x 172e-6 m", "# Wavelength 1.0 A",
              "# Detector_distance 0.2 m", "# Beam_xy (12.0, 10.0) pixels",
              "# Count_cutoff 1048500 counts"});
  const Outcomes o = corrupt_and_decode(cbf, "cbf", 45);
  EXPECT_GT(o.n_rejected, 0);
  EXPECT_GT(o.n_decoded, 0);
}

TEST_F(Corruption, CompressedWrappersNeverCrash) {
  const Image<int32_t> frame = testing::make_frame_i32(16, 20, 46);
  const std::string cbf = testing::build_minicbf(frame, {"# Wavelength 1.0 A"});
  const Image<uint16_t> frame16 = testing::make_frame_u16(16, 20, 47);
  const std::string smv = testing::build_smv(
      {"SIZE1=20", "SIZE2=16"},
      std::string(reinterpret_cast<const char*>(frame16.data()), frame16.size() * 2));
  for (const auto& [bytes, label] :
       {std::pair{testing::gzip_bytes(cbf), "cbf.gz"}, {testing::bzip2_bytes(smv), "smv.bz2"},
        {testing::gzip_bytes(smv), "smv.gz"}}) {
    const Outcomes o = corrupt_and_decode(bytes, label, 48);
    EXPECT_GT(o.n_rejected, 0) << label;
  }
}

}  // namespace
}  // namespace difftriage::io
