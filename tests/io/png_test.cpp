#include <gtest/gtest.h>

#include <string>

#include "difftriage/io/image_io.h"
#include "io_test_support.h"
#include "support/test_support.h"

namespace difftriage::io {
namespace {

using difftriage::testing::read_bytes;
using difftriage::testing::TempDir;
using testing::as_bytes;
using testing::build_png;
using testing::expect_error;
using testing::expect_same_pixels;

AnyImage decode(const std::string& bytes, const std::string& name = "frame.png",
                const ReadOptions& options = {}) {
  return decode_image(as_bytes(bytes), bytes.size(), name, options);
}

std::string as_string(const std::vector<uint8_t>& bytes) {
  return std::string(bytes.begin(), bytes.end());
}

// PNG chunk CRC (ISO 3309 / ITU-T V.42), to forge headers that libpng accepts.
uint32_t png_crc(const std::string& bytes, size_t begin, size_t end) {
  uint32_t crc = 0xffffffffu;
  for (size_t i = begin; i < end; ++i) {
    crc ^= static_cast<uint8_t>(bytes[i]);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return crc ^ 0xffffffffu;
}

// Rewrites the IHDR width and height of a PNG (fixing its CRC).
std::string with_ihdr_size(std::string png, uint32_t width, uint32_t height) {
  const auto put_be32 = [&](size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) png[at + i] = static_cast<char>((v >> (24 - 8 * i)) & 0xff);
  };
  put_be32(16, width);  // signature (8) + length (4) + "IHDR" (4)
  put_be32(20, height);
  put_be32(29, png_crc(png, 12, 29));
  return png;
}

TEST(Png, RoundTripsEightAndSixteenBit) {
  TempDir dir;
  const Image<uint8_t> frame8 = testing::make_frame_u8(61, 47, 4);
  write_png(dir / "a8.png", frame8);
  expect_same_pixels(frame8, read_image(dir / "a8.png"));
  const Image<uint16_t> frame16 = testing::make_frame_u16(33, 71, 5);
  write_png(dir / "a16.png", frame16);
  expect_same_pixels(frame16, read_image(dir / "a16.png"));
  EXPECT_EQ(probe_format(as_bytes(read_bytes(dir / "a16.png")), 64), ImageFormat::kPng);
}

TEST(Png, EncodeGrayMatchesWriteAndDecodesExactly) {
  const Image<uint8_t> frame = testing::make_frame_u8(20, 30, 6);
  const std::string bytes = as_string(encode_png(frame.data(), 20, 30, 1));
  expect_same_pixels(frame, decode(bytes));
}

TEST(Png, SixteenBitSamplesAreBigEndianInTheFile) {
  const std::string png = build_png(0, 16, 2, 1, {0x01, 0x02, 0xff, 0x00});
  const AnyImage image = decode(png);
  ASSERT_TRUE(std::holds_alternative<Image<uint16_t>>(image));
  EXPECT_EQ(std::get<Image<uint16_t>>(image).pixels(), (std::vector<uint16_t>{0x0102, 0xff00}));
}

TEST(Png, ColourIsConvertedToLuminance) {
  // RGB: gray pixels stay exact; pure red gets the Rec. 709 weight 0.2126 -> 54.
  const std::vector<uint8_t> rgb = {10, 10, 10, 200, 200, 200, 255, 0, 0, 0, 0, 0};
  const AnyImage image = decode(as_string(encode_png(rgb.data(), 1, 4, 3)));
  ASSERT_TRUE(std::holds_alternative<Image<uint8_t>>(image));
  const auto& p = std::get<Image<uint8_t>>(image).pixels();
  EXPECT_EQ(p[0], 10);
  EXPECT_EQ(p[1], 200);
  EXPECT_NEAR(p[2], 54, 1);
  EXPECT_EQ(p[3], 0);
}

TEST(Png, PaletteLowBitAndAlphaVariantsBecomeGray) {
  // Palette of gray levels with a tRNS chunk: indices map to the levels, alpha is dropped.
  const std::string palette =
      build_png(3, 8, 3, 1, {2, 0, 1}, {0, 0, 0, 77, 77, 77, 250, 250, 250}, {128, 255, 0});
  const AnyImage from_palette = decode(palette);
  ASSERT_TRUE(std::holds_alternative<Image<uint8_t>>(from_palette));
  EXPECT_EQ(std::get<Image<uint8_t>>(from_palette).pixels(), (std::vector<uint8_t>{250, 0, 77}));

  // 1-bit gray expands to 0 / 255.
  const AnyImage one_bit = decode(build_png(0, 1, 4, 1, {0b10100000}));
  ASSERT_TRUE(std::holds_alternative<Image<uint8_t>>(one_bit));
  EXPECT_EQ(std::get<Image<uint8_t>>(one_bit).pixels(), (std::vector<uint8_t>{255, 0, 255, 0}));

  // Gray + alpha keeps the gray channel exactly, at 8 and 16 bits.
  const AnyImage ga8 = decode(build_png(4, 8, 2, 1, {7, 255, 9, 0}));
  ASSERT_TRUE(std::holds_alternative<Image<uint8_t>>(ga8));
  EXPECT_EQ(std::get<Image<uint8_t>>(ga8).pixels(), (std::vector<uint8_t>{7, 9}));
  const AnyImage ga16 = decode(build_png(4, 16, 1, 1, {0x12, 0x34, 0xff, 0xff}));
  ASSERT_TRUE(std::holds_alternative<Image<uint16_t>>(ga16));
  EXPECT_EQ(std::get<Image<uint16_t>>(ga16).pixels(), (std::vector<uint16_t>{0x1234}));
}

TEST(Png, RejectsBadDataNamingTheFile) {
  const std::string name = "/beamline/frame_0009.png";
  const Image<uint8_t> frame = testing::make_frame_u8(16, 16, 7);
  const std::string good = as_string(encode_png(frame.data(), 16, 16, 1));
  const auto bad = [&](const std::string& bytes, const std::vector<std::string>& fragments) {
    expect_error<FormatError>([&] { decode(bytes, name); }, name, fragments);
  };
  bad(good.substr(0, good.size() / 2), {"PNG"});
  bad(good.substr(0, 20), {"PNG header"});
  bad(good.substr(0, good.size() - 6), {"PNG"});  // IEND cut short
  std::string bad_crc = good;
  bad_crc[17] ^= 0x01;  // inside IHDR width, CRC no longer matches
  bad(bad_crc, {"CRC"});
  bad(with_ihdr_size(good, 70000, 16), {"beyond the limit"});
  bad(with_ihdr_size(good, 20000, 20000), {"beyond the limit"});
  bad(with_ihdr_size(good, 0, 16), {"PNG header"});
  // Within the limits, but 256 MB of pixels cannot come out of a few hundred bytes: rejected
  // before the frame is allocated.
  bad(with_ihdr_size(good, 16384, 16384), {"cannot be compressed into a file of"});
  expect_error<FormatError>([&] { decode(good, name, ReadOptions{2}); }, name,
                            {"frame 2 out of range, file has 1 frame"});
}

TEST(Png, EncodeAndWriteErrors) {
  const std::vector<uint8_t> pixels(8, 1);
  EXPECT_THROW(encode_png(pixels.data(), 2, 2, 2), ConfigError);
  EXPECT_THROW(encode_png(pixels.data(), 0, 2, 1), ConfigError);
  EXPECT_THROW(encode_png(nullptr, 2, 2, 1), ConfigError);
  TempDir dir;
  const auto missing = dir / "nope" / "x.png";
  expect_error<IoError>([&] { write_png(missing, testing::make_frame_u8(2, 2, 1)); },
                        missing.string());
  expect_error<ConfigError>([&] { write_png(dir / "e.png", Image<uint16_t>()); },
                            (dir / "e.png").string(), {"empty"});
}

}  // namespace
}  // namespace difftriage::io
