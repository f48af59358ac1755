// SMV / ADSC: the two real fixtures (values checked against their header text and an
// independent numpy-free decode of the raster), crafted headers for both byte orders, every
// supported TYPE, the beam-centre conventions and the errors.
#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "difftriage/io/image_io.h"
#include "io_test_support.h"
#include "support/test_support.h"

namespace difftriage::io {
namespace {

using difftriage::testing::read_bytes;
using difftriage::testing::shared_fixtures_dir;
using difftriage::testing::TempDir;
using testing::as_bytes;
using testing::build_smv;
using testing::expect_error;

std::filesystem::path fixture(const std::string& file) { return shared_fixtures_dir() / file; }

AnyImage decode(const std::string& bytes, const std::string& name = "crafted.img") {
  return decode_image(as_bytes(bytes), bytes.size(), name);
}

int64_t pixel_sum(const Image<uint16_t>& image) {
  return std::accumulate(image.pixels().begin(), image.pixels().end(), int64_t{0});
}

TEST(Smv, TimepixFixture) {
  const auto path = fixture("TIMEPIX_SU_512-stdgoni_0001.img");
  DT_REQUIRE_SHARED(path);
  const AnyImage any = read_image(path);
  ASSERT_TRUE(std::holds_alternative<Image<uint16_t>>(any));
  const auto& image = std::get<Image<uint16_t>>(any);
  EXPECT_EQ(image.n_slow(), 512);
  EXPECT_EQ(image.n_fast(), 512);
  EXPECT_FALSE(image.has_mask());
  // Header: PIXEL_SIZE=0.05500; DISTANCE=531.85; WAVELENGTH=0.025100; TIME=0.092500;
  // BEAM_CENTER_X=246; BEAM_CENTER_Y=240 (pixels for this detector, fast = X).
  const DetectorMetadata& md = image.metadata();
  EXPECT_DOUBLE_EQ(*md.pixel_size_mm, 0.055);
  EXPECT_DOUBLE_EQ(*md.distance_mm, 531.85);
  EXPECT_DOUBLE_EQ(*md.wavelength_angstrom, 0.0251);
  EXPECT_DOUBLE_EQ(*md.exposure_s, 0.0925);
  EXPECT_DOUBLE_EQ(*md.beam_center_fast_px, 246.0);
  EXPECT_DOUBLE_EQ(*md.beam_center_slow_px, 240.0);
  EXPECT_FALSE(md.saturation_value.has_value());
  EXPECT_NE(md.detector.find("Timepix"), std::string::npos) << md.detector;
  EXPECT_NE(md.detector.find("S/N 901"), std::string::npos) << md.detector;
  // Raster checked against a separate decode (Python array('H') of bytes 512..):
  EXPECT_EQ(pixel_sum(image), 3357809);
  EXPECT_EQ(image(0, 0), 1);
  EXPECT_EQ(image(100, 200), 8);
  EXPECT_EQ(image(238, 245), 11810);  // the brightest pixel, next to the beam centre
  EXPECT_EQ(*std::max_element(image.pixels().begin(), image.pixels().end()), 11810);
  EXPECT_EQ(probe_format(as_bytes(read_bytes(path)), kProbeBytes), ImageFormat::kSmv);
}

TEST(Smv, JhSimFixture) {
  const auto path = fixture("simtbx_FormatSMVJHSim_001.img");
  DT_REQUIRE_SHARED(path);
  const AnyImage any = read_image(path);
  ASSERT_TRUE(std::holds_alternative<Image<uint16_t>>(any));
  const auto& image = std::get<Image<uint16_t>>(any);
  EXPECT_EQ(image.n_slow(), 1024);
  EXPECT_EQ(image.n_fast(), 1024);
  // PIXEL_SIZE=0.055; DISTANCE=1590; WAVELENGTH=0.02508; TIME=0.1; BEAM_CENTER_X/Y=28.16 mm in
  // the ADXV convention (BEAMLINE=fake): dxtbx's FormatSMVJHSim gives (28.16 + 0.055) / 0.055
  // and (1024 * 0.055 - 28.16 + 0.055) / 0.055, i.e. 513 on both axes.
  const DetectorMetadata& md = image.metadata();
  EXPECT_DOUBLE_EQ(*md.pixel_size_mm, 0.055);
  EXPECT_DOUBLE_EQ(*md.distance_mm, 1590.0);
  EXPECT_DOUBLE_EQ(*md.wavelength_angstrom, 0.02508);
  EXPECT_DOUBLE_EQ(*md.exposure_s, 0.1);
  EXPECT_NEAR(*md.beam_center_fast_px, 513.0, 1e-9);
  EXPECT_NEAR(*md.beam_center_slow_px, 513.0, 1e-9);
  EXPECT_NE(md.detector.find("JHSim"), std::string::npos) << md.detector;
  EXPECT_EQ(pixel_sum(image), 2691223);
  EXPECT_EQ(image(479, 507), 873);
  EXPECT_EQ(*std::max_element(image.pixels().begin(), image.pixels().end()), 873);
}

TEST(Smv, FixturesReadThroughGzipAndBzip2) {
  const auto path = fixture("TIMEPIX_SU_512-stdgoni_0001.img");
  DT_REQUIRE_SHARED(path);
  const std::string raw = read_bytes(path);
  const AnyImage plain = decode(raw, "plain");
  for (const auto& [wrapped, label] :
       {std::pair{testing::gzip_bytes(raw), "gz"}, {testing::bzip2_bytes(raw), "bz2"}}) {
    const AnyImage image = decode(wrapped, label);
    testing::expect_same_pixels(std::get<Image<uint16_t>>(plain), image);
    EXPECT_DOUBLE_EQ(*metadata(image).beam_center_fast_px, 246.0) << label;
  }
  const std::string gz = testing::gzip_bytes(raw);
  EXPECT_EQ(probe_format(as_bytes(gz), std::min(gz.size(), kProbeBytes)), ImageFormat::kSmv);
}

// A 3 x 4 (slow x fast) raster whose bytes differ, so a byte-order mistake shows.
std::string raster_u16(bool big_endian) {
  std::string raster;
  for (int i = 0; i < 12; ++i) {
    const uint16_t v = static_cast<uint16_t>(0x0102 * (i + 1) + (i == 11 ? 0xf000 : 0));
    const char hi = static_cast<char>(v >> 8), lo = static_cast<char>(v & 0xff);
    raster += big_endian ? std::string{hi, lo} : std::string{lo, hi};
  }
  return raster;
}

TEST(Smv, BothByteOrdersAndTheAdscBeamConvention) {
  for (const bool big : {false, true}) {
    const std::string file = build_smv(
        {"DIM=2", big ? "BYTE_ORDER=big_endian" : "BYTE_ORDER=little_endian",
         "TYPE=unsigned_short", "SIZE1=4", "SIZE2=3", "PIXEL_SIZE=0.1", "DISTANCE=150.5",
         "WAVELENGTH=0.9793", "TIME=1.5", "BEAM_CENTER_X=10.0", "BEAM_CENTER_Y=20.0",
         "SATURATED_VALUE=65535", "DETECTOR_SN=457", "DATE=Tue Jun 26 09:43:09 2007"},
        raster_u16(big));
    const AnyImage any = decode(file);
    ASSERT_TRUE(std::holds_alternative<Image<uint16_t>>(any));
    const auto& image = std::get<Image<uint16_t>>(any);
    ASSERT_EQ(image.n_slow(), 3);
    ASSERT_EQ(image.n_fast(), 4);
    for (int i = 0; i < 12; ++i) {
      EXPECT_EQ(image.pixels()[i], static_cast<uint16_t>(0x0102 * (i + 1) + (i == 11 ? 0xf000 : 0)))
          << "pixel " << i << (big ? " big-endian" : " little-endian");
    }
    const DetectorMetadata& md = image.metadata();
    EXPECT_DOUBLE_EQ(*md.distance_mm, 150.5);
    EXPECT_DOUBLE_EQ(*md.wavelength_angstrom, 0.9793);
    EXPECT_DOUBLE_EQ(*md.exposure_s, 1.5);
    EXPECT_DOUBLE_EQ(*md.saturation_value, 65535);
    // ADSC/MOSFLM: fast = BEAM_CENTER_Y / pixel, slow = BEAM_CENTER_X / pixel.
    EXPECT_DOUBLE_EQ(*md.beam_center_fast_px, 200.0);
    EXPECT_DOUBLE_EQ(*md.beam_center_slow_px, 100.0);
    EXPECT_NE(md.detector.find("ADSC"), std::string::npos) << md.detector;
  }
}

TEST(Smv, ThirtyTwoBitTypes) {
  std::string le, be;
  const std::vector<uint32_t> values = {0, 1, 0x01020304, 0x7fffffff, 0x80000000, 0xffffffff};
  for (uint32_t v : values) {
    for (int k = 0; k < 4; ++k) le += static_cast<char>((v >> (8 * k)) & 0xff);
    for (int k = 3; k >= 0; --k) be += static_cast<char>((v >> (8 * k)) & 0xff);
  }
  const auto image_of = [&](const char* type, const char* order, const std::string& raster) {
    const AnyImage any = decode(build_smv(
        {std::string("TYPE=") + type, std::string("BYTE_ORDER=") + order, "SIZE1=3", "SIZE2=2",
         "CCD_IMAGE_SATURATION=65000"},
        raster));
    EXPECT_TRUE(std::holds_alternative<Image<int32_t>>(any)) << type;
    EXPECT_DOUBLE_EQ(*metadata(any).saturation_value, 65000);
    return std::get<Image<int32_t>>(any).pixels();
  };
  const std::vector<int32_t> as_signed = {0, 1, 0x01020304, 0x7fffffff, INT32_MIN, -1};
  const std::vector<int32_t> as_unsigned = {0, 1, 0x01020304, 0x7fffffff, -1, -1};
  EXPECT_EQ(image_of("signed_long", "little_endian", le), as_signed);
  EXPECT_EQ(image_of("long_int", "big_endian", be), as_signed);
  EXPECT_EQ(image_of("unsigned_int", "little_endian", le), as_unsigned);
  EXPECT_EQ(image_of("unsigned_long", "big_endian", be), as_unsigned);
}

TEST(Smv, RecordsWithoutSemicolonsAndHeaderPadding) {
  // simtbx writes one record without ';'; the header may be NUL-padded.
  std::string file = "{\nHEADER_BYTES=  256;\nSIZE1=2;\nSIZE2=1;\nDIALS_ORIGIN=-1,1,-100\n"
                     "WAVELENGTH=1.0;\n}\n";
  file.resize(256, '\0');
  file += std::string("\x01\x00\x02\x00", 4);
  const AnyImage any = decode(file);
  EXPECT_EQ(std::get<Image<uint16_t>>(any).pixels(), (std::vector<uint16_t>{1, 2}));
  EXPECT_DOUBLE_EQ(*metadata(any).wavelength_angstrom, 1.0);
  EXPECT_FALSE(metadata(any).beam_center_fast_px.has_value());
}

TEST(Smv, Errors) {
  const std::string raster = raster_u16(false);
  expect_error<FormatError>(
      [&] { (void)decode(build_smv({"TYPE=float", "SIZE1=4", "SIZE2=3"}, raster), "f.img"); },
      "f.img", {"TYPE", "float"});
  expect_error<FormatError>(
      [&] { (void)decode(build_smv({"SIZE1=4", "SIZE2=3"}, raster.substr(0, 23)), "cut.img"); },
      "cut.img", {"truncated", "24"});
  expect_error<FormatError>([&] { (void)decode(build_smv({"SIZE2=3"}, raster), "nosize.img"); },
                            "nosize.img", {"SIZE1"});
  expect_error<FormatError>(
      [&] { (void)decode(build_smv({"SIZE1=4", "SIZE2=3x"}, raster), "bad.img"); }, "bad.img",
      {"SIZE2", "3x"});
  expect_error<FormatError>(
      [&] { (void)decode(build_smv({"SIZE1=100000", "SIZE2=3"}, raster), "huge.img"); },
      "huge.img", {"beyond the limit"});
  expect_error<FormatError>(
      [&] { (void)decode(build_smv({"BYTE_ORDER=middle", "SIZE1=4", "SIZE2=3"}, raster), "o.img"); },
      "o.img", {"BYTE_ORDER", "middle"});
  expect_error<FormatError>([&] { (void)decode("{\nHEADER_BYTES=99999;\n}\n", "hb.img"); },
                            "hb.img", {"HEADER_BYTES=99999"});
  const std::string ok = build_smv({"SIZE1=4", "SIZE2=3"}, raster);
  expect_error<FormatError>(
      [&] { (void)decode_image(as_bytes(ok), ok.size(), "frame.img", ReadOptions{1}); },
      "frame.img", {"frame 1 out of range"});
}

TEST(Smv, ReadImageNamesTheFile) {
  TempDir dir;
  const auto path = dir / "short.img";
  difftriage::testing::write_text(path, build_smv({"SIZE1=4", "SIZE2=3"}, "xx"));
  expect_error<FormatError>([&] { (void)read_image(path); }, path.string(), {"truncated"});
}

}  // namespace
}  // namespace difftriage::io
