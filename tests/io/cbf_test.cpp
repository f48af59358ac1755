// CBF: the three real (gzip-wrapped) fixtures, with metadata compared to their header text and
// pixel counts from an independent Python decode of the byte-offset data; synthetic miniCBFs
// for masks, gzip/bzip2 wrapping, the decompression cap and the errors.
#include <gtest/gtest.h>

#include <algorithm>
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
using testing::as_bytes;
using testing::build_minicbf;
using testing::expect_error;

std::filesystem::path fixture(const std::string& file) { return shared_fixtures_dir() / file; }

AnyImage decode(const std::string& bytes, const std::string& name = "crafted.cbf",
                const ReadOptions& options = {}) {
  return decode_image(as_bytes(bytes), bytes.size(), name, options);
}

// What the independent decode (Python, one pixel at a time) found in each fixture.
struct Expected {
  int64_t n_slow, n_fast;
  int64_t n_minus_one, n_minus_two, sum;
  int32_t max_value;
  int64_t max_slow, max_fast;
};

const Image<int32_t>& check_pixels(const AnyImage& any, const Expected& e) {
  EXPECT_TRUE(std::holds_alternative<Image<int32_t>>(any));
  const auto& image = std::get<Image<int32_t>>(any);
  EXPECT_EQ(image.n_slow(), e.n_slow);
  EXPECT_EQ(image.n_fast(), e.n_fast);
  const auto& p = image.pixels();
  EXPECT_EQ(std::count(p.begin(), p.end(), -1), e.n_minus_one);
  EXPECT_EQ(std::count(p.begin(), p.end(), -2), e.n_minus_two);
  EXPECT_EQ(std::accumulate(p.begin(), p.end(), int64_t{0}), e.sum);
  EXPECT_EQ(*std::max_element(p.begin(), p.end()), e.max_value);
  EXPECT_EQ(image(e.max_slow, e.max_fast), e.max_value);
  EXPECT_TRUE(image.has_mask());
  EXPECT_EQ(image.n_masked(), e.n_minus_one + e.n_minus_two);
  for (size_t i = 0; i < p.size(); ++i) {
    if ((image.mask()[i] != 0) != (p[i] == -1 || p[i] == -2)) {
      ADD_FAILURE() << "mask disagrees with the pixel value at " << i;
      break;
    }
  }
  return image;
}

TEST(Cbf, DlsI23MiniCbfFixture) {
  const auto path = fixture("DLS_I23_P12M_thau_00001.cbf.gz");
  DT_REQUIRE_SHARED(path);
  const AnyImage any = read_image(path);
  check_pixels(any, {5071, 2463, 1094073, 98985, 814049, 12446, 3626, 1488});
  // # Pixel_size 172e-6 m x 172e-6 m / # Wavelength 2.75520 A / # Detector_distance 0.01000 m /
  // # Beam_xy (1080.00, 2595.00) pixels / # Exposure_time 0.0970000 s / # Count_cutoff 28575
  const DetectorMetadata& md = metadata(any);
  EXPECT_DOUBLE_EQ(*md.pixel_size_mm, 0.172);
  EXPECT_DOUBLE_EQ(*md.wavelength_angstrom, 2.7552);
  EXPECT_DOUBLE_EQ(*md.distance_mm, 10.0);
  EXPECT_DOUBLE_EQ(*md.beam_center_fast_px, 1080.0);
  EXPECT_DOUBLE_EQ(*md.beam_center_slow_px, 2595.0);
  EXPECT_DOUBLE_EQ(*md.exposure_s, 0.097);
  EXPECT_DOUBLE_EQ(*md.saturation_value, 28575);
  EXPECT_EQ(md.detector, "PILATUS 12M, S/N 120-0100 (miniCBF)");
  const std::string head = read_bytes(path).substr(0, kProbeBytes);
  EXPECT_EQ(probe_format(as_bytes(head), head.size()), ImageFormat::kCbf);
}

TEST(Cbf, DlsI03FullImgCifFixture) {
  const auto path = fixture("DLS_I03_smargon_0001.cbf.gz");
  DT_REQUIRE_SHARED(path);
  const AnyImage any = read_image(path);
  check_pixels(any, {2527, 2463, 526101, 1213, 36200, 336, 1069, 858});
  // imgCIF items: _diffrn_radiation_wavelength.wavelength 0.97625;
  // _diffrn_measurement.sample_detector_distance 291.47 (mm); _array_element_size.size 0.000172;
  // _array_intensities.overload 91795; _diffrn_scan_frame.integration_time 0.009000.
  // Beam centre from the axes: ELEMENT_Y offset (-211.44, 206.48, 0) mm, fast +x, slow -y,
  // 0.172 mm pixels -> (211.44 / 0.172, 206.48 / 0.172) = (1229.302, 1200.465); the PILATUS
  // line says Beam_xy (1229.30, 1200.48), which agrees to the rounding of the CIF offsets.
  const DetectorMetadata& md = metadata(any);
  EXPECT_DOUBLE_EQ(*md.wavelength_angstrom, 0.97625);
  EXPECT_DOUBLE_EQ(*md.distance_mm, 291.47);
  EXPECT_DOUBLE_EQ(*md.pixel_size_mm, 0.172);
  EXPECT_DOUBLE_EQ(*md.saturation_value, 91795);
  EXPECT_DOUBLE_EQ(*md.exposure_s, 0.009);
  EXPECT_NEAR(*md.beam_center_fast_px, 211.44 / 0.172, 1e-9);
  EXPECT_NEAR(*md.beam_center_slow_px, 206.48 / 0.172, 1e-9);
  EXPECT_NEAR(*md.beam_center_fast_px, 1229.30, 0.01);
  EXPECT_NEAR(*md.beam_center_slow_px, 1200.48, 0.02);
  EXPECT_EQ(md.detector, "PILATUS3 6M, S/N 60-0126 (imgCIF)");
}

TEST(Cbf, DlsEigerConvertedFixture) {
  const auto path = fixture("dlsnxs2cbf_therm_0001.cbf.gz");
  DT_REQUIRE_SHARED(path);
  const AnyImage any = read_image(path);
  check_pixels(any, {4362, 4148, 1250824, 2496, -1210773, 404, 329, 1987});
  // # Pixel_size 75e-6 m / # Wavelength 0.98027 A / # Detector_distance 0.21396 m /
  // # Beam_xy (2216.06, 2300.41) pixels / # Exposure_time 0.00800 s / # Count_cutoff 65535
  const DetectorMetadata& md = metadata(any);
  EXPECT_DOUBLE_EQ(*md.pixel_size_mm, 0.075);
  EXPECT_DOUBLE_EQ(*md.wavelength_angstrom, 0.98027);
  EXPECT_DOUBLE_EQ(*md.distance_mm, 213.96);
  EXPECT_DOUBLE_EQ(*md.beam_center_fast_px, 2216.06);
  EXPECT_DOUBLE_EQ(*md.beam_center_slow_px, 2300.41);
  EXPECT_DOUBLE_EQ(*md.exposure_s, 0.008);
  EXPECT_DOUBLE_EQ(*md.saturation_value, 65535);
  EXPECT_EQ(md.detector, "EIGER 16M XR4i S/N 160-0001 Diamond (miniCBF)");
}

const std::vector<std::string> kHeader = {
    "# Detector: PILATUS 2M, S/N 24-0000", "# Pixel_size 172e-6 m x 172e-6 m",
    "# Exposure_time 0.1000000 s",         "# Count_cutoff 1048500 counts",
    "# Wavelength 1.00000 A",              "# Detector_distance 0.25000 m",
    "# Beam_xy (10.50, 7.25) pixels"};

Image<int32_t> synthetic_frame() {
  Image<int32_t> frame = testing::make_frame_i32(9, 13, 77);
  frame(0, 0) = -1;
  frame(0, 1) = -2;
  frame(4, 6) = -1;
  frame(8, 12) = -2;
  frame(2, 2) = -3;  // negative but neither marker: not masked
  return frame;
}

TEST(Cbf, SyntheticMiniCbfRoundTrip) {
  const Image<int32_t> frame = synthetic_frame();
  const AnyImage any = decode(build_minicbf(frame, kHeader));
  testing::expect_same_pixels(frame, any);
  const auto& image = std::get<Image<int32_t>>(any);
  EXPECT_EQ(image.n_masked(), 4);
  EXPECT_EQ(image.mask()[0], 1);
  EXPECT_EQ(image.mask()[2 * 13 + 2], 0);
  const DetectorMetadata& md = image.metadata();
  EXPECT_DOUBLE_EQ(*md.beam_center_fast_px, 10.5);
  EXPECT_DOUBLE_EQ(*md.beam_center_slow_px, 7.25);
  EXPECT_DOUBLE_EQ(*md.distance_mm, 250.0);
  EXPECT_DOUBLE_EQ(*md.saturation_value, 1048500);
}

TEST(Cbf, GzipAndBzip2WrappersAreTransparent) {
  const Image<int32_t> frame = synthetic_frame();
  const std::string cbf = build_minicbf(frame, kHeader);
  testing::expect_same_pixels(frame, decode(testing::gzip_bytes(cbf), "x.cbf.gz"));
  testing::expect_same_pixels(frame, decode(testing::bzip2_bytes(cbf), "x.cbf.bz2"));
  // Concatenated gzip members decompress as one file (gzip(1) semantics).
  const std::string half = cbf.substr(0, cbf.size() / 2);
  const std::string two_members =
      testing::gzip_bytes(half) + testing::gzip_bytes(cbf.substr(half.size()));
  testing::expect_same_pixels(frame, decode(two_members, "two.cbf.gz"));
  // Only one level of wrapping.
  expect_error<FormatError>(
      [&] { (void)decode(testing::gzip_bytes(testing::gzip_bytes(cbf)), "nested.gz"); },
      "nested.gz", {"only one level"});
  // Unknown content inside a gzip.
  expect_error<FormatError>([&] { (void)decode(testing::gzip_bytes("hello"), "text.gz"); },
                            "text.gz", {"not recognised", "gzip"});
}

TEST(Cbf, DecompressionIsCapped) {
  // 8 MiB of zeros compress to a few KiB: a small bomb, refused under a 1 MiB cap.
  const std::string bomb = testing::gzip_bytes(std::string(8 << 20, '\0'));
  ASSERT_LT(bomb.size(), 64u << 10);
  ReadOptions capped;
  capped.max_decompressed_bytes = 1 << 20;
  expect_error<FormatError>([&] { (void)decode(bomb, "bomb.gz", capped); }, "bomb.gz",
                            {"more than 1048576 bytes"});
  const std::string bz_bomb = testing::bzip2_bytes(std::string(8 << 20, '\0'));
  expect_error<FormatError>([&] { (void)decode(bz_bomb, "bomb.bz2", capped); }, "bomb.bz2",
                            {"more than 1048576 bytes"});
  // Under the default cap it decompresses, then is not a known format.
  expect_error<FormatError>([&] { (void)decode(bomb, "zeros.gz"); }, "zeros.gz",
                            {"not recognised"});
}

TEST(Cbf, TruncatedWrappersAreErrors) {
  const std::string cbf = build_minicbf(synthetic_frame(), kHeader);
  const std::string gz = testing::gzip_bytes(cbf);
  expect_error<FormatError>([&] { (void)decode(gz.substr(0, gz.size() - 12), "cut.gz"); },
                            "cut.gz", {"truncated gzip"});
  const std::string bz = testing::bzip2_bytes(cbf);
  expect_error<FormatError>([&] { (void)decode(bz.substr(0, bz.size() - 8), "cut.bz2"); },
                            "cut.bz2", {"bzip2"});
}

std::string replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

TEST(Cbf, Errors) {
  const Image<int32_t> frame = synthetic_frame();
  const std::string cbf = build_minicbf(frame, kHeader, 0);
  expect_error<FormatError>(
      [&] { (void)decode(replace(cbf, "x-CBF_BYTE_OFFSET", "x-CBF_PACKED"), "packed.cbf"); },
      "packed.cbf", {"x-CBF_PACKED", "not supported"});
  expect_error<FormatError>(
      [&] {
        (void)decode(replace(cbf, "signed 32-bit integer", "signed 64-bit integer"), "i64.cbf");
      },
      "i64.cbf", {"signed 64-bit integer"});
  expect_error<FormatError>(
      [&] {
        (void)decode(replace(cbf, "X-Binary-Number-of-Elements: 117", "X-Binary-Number-of-Elements: 118"),
                     "n.cbf");
      },
      "n.cbf", {"118"});
  expect_error<FormatError>(
      [&] { (void)decode(replace(cbf, std::string("\x0c\x1a\x04\xd5", 4), "DATA"), "m.cbf"); },
      "m.cbf", {"0C 1A 04 D5"});
  expect_error<FormatError>(
      [&] { (void)decode(replace(cbf, "--CIF-BINARY-FORMAT-SECTION--\r\nContent", "Content"), "s.cbf"); },
      "s.cbf", {"binary section"});
  const size_t data_at = cbf.find(std::string("\x0c\x1a\x04\xd5", 4)) + 4;
  expect_error<FormatError>([&] { (void)decode(cbf.substr(0, data_at + 40), "cut.cbf"); },
                            "cut.cbf", {"truncated"});
  expect_error<FormatError>(
      [&] {
        (void)decode(replace(cbf, "X-Binary-Size-Fastest-Dimension: 13",
                             "X-Binary-Size-Fastest-Dimension: 70000"),
                     "big.cbf");
      },
      "big.cbf", {"beyond the limit"});
  expect_error<FormatError>([&] { (void)decode(cbf, "f.cbf", ReadOptions{2}); }, "f.cbf",
                            {"frame 2 out of range"});
}

TEST(Probe, DetectorFormats) {
  const auto probe = [](const std::string& s) { return probe_format(as_bytes(s), s.size()); };
  EXPECT_EQ(probe("###CBF: VERSION 1.5"), ImageFormat::kCbf);
  EXPECT_EQ(probe("{\nHEADER_BYTES=  512;\n"), ImageFormat::kSmv);
  EXPECT_EQ(probe("{\r\nHEADER_BYTES=512;"), ImageFormat::kSmv);
  EXPECT_EQ(probe("{\nHEADER_BYTE"), ImageFormat::kUnknown);
  EXPECT_EQ(probe("{\"json\": 1}"), ImageFormat::kUnknown);
  EXPECT_EQ(probe("##CBF"), ImageFormat::kUnknown);
  EXPECT_EQ(probe(testing::gzip_bytes("###CBF: VERSION 1.5\r\n")), ImageFormat::kCbf);
  EXPECT_EQ(probe(testing::gzip_bytes("P5\n1 1\n255\n\x07")), ImageFormat::kPgm);
  EXPECT_EQ(probe(std::string("\x1f\x8b\x08\x00garbage", 11)), ImageFormat::kUnknown);
  EXPECT_EQ(probe(testing::bzip2_bytes("###CBF")), ImageFormat::kUnknown);  // documented
  EXPECT_STREQ(format_name(ImageFormat::kSmv), "smv");
  EXPECT_STREQ(format_name(ImageFormat::kCbf), "cbf");
}

}  // namespace
}  // namespace difftriage::io
