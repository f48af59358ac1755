#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "difftriage/io/image_io.h"
#include "io_test_support.h"
#include "support/test_support.h"

namespace difftriage::io {
namespace {

using difftriage::testing::read_bytes;
using difftriage::testing::TempDir;
using testing::as_bytes;
using testing::build_strip_tiff;
using testing::build_tiff;
using testing::expect_error;
using testing::expect_same_pixels;
using testing::TiffEntry;

AnyImage decode(const std::string& bytes, const std::string& name = "frame.tif",
                const ReadOptions& options = {}) {
  return decode_image(as_bytes(bytes), bytes.size(), name, options);
}

template <typename T>
std::string raw(const std::vector<T>& values) {
  std::string out(values.size() * sizeof(T), '\0');
  std::memcpy(out.data(), values.data(), out.size());  // little-endian host, like the builder
  return out;
}

template <typename T>
void expect_round_trip(const Image<T>& frame, const std::string& file) {
  TempDir dir;
  write_tiff(dir / file, AnyImage(frame));
  expect_same_pixels(frame, read_image(dir / file));
  const std::string bytes = read_bytes(dir / file);
  EXPECT_EQ(probe_format(as_bytes(bytes), bytes.size()), ImageFormat::kTiff);
}

TEST(Tiff, RoundTripsEveryPixelType) {
  expect_round_trip(testing::make_frame_u8(31, 17, 11), "u8.tif");
  expect_round_trip(testing::make_frame_u16(23, 45, 12), "u16.tiff");
  expect_round_trip(testing::make_frame_i32(19, 27, 13), "i32.tif");
  expect_round_trip(testing::make_frame_f32(21, 33, 14), "f32.tif");
}

TEST(Tiff, RoundTripsManyStrips) {
  // 800-byte rows: about 81 rows per 64 KiB strip, so 300 rows take four strips.
  expect_round_trip(testing::make_frame_f32(300, 200, 15), "striped.tif");
}

TEST(Tiff, WrittenFileHasOneFrame) {
  TempDir dir;
  write_tiff(dir / "one.tif", AnyImage(testing::make_frame_u16(4, 4, 16)));
  const std::string bytes = read_bytes(dir / "one.tif");
  EXPECT_NO_THROW(decode(bytes, "one.tif", ReadOptions{0}));
  expect_error<FormatError>([&] { decode(bytes, "one.tif", ReadOptions{1}); }, "one.tif",
                            {"frame 1 out of range, file has 1 frame"});
  expect_error<FormatError>([&] { decode(bytes, "one.tif", ReadOptions{-3}); }, "one.tif",
                            {"frame -3 out of range"});
}

TEST(Tiff, EachPageIsAFrame) {
  const std::string pages = testing::build_tiff_pages({
      {testing::strip_tiff_entries(2, 1, 8, 1, 2), std::string("\x01\x02", 2)},
      {testing::strip_tiff_entries(1, 2, 16, 1, 4), raw<uint16_t>({300, 400})},
      {testing::strip_tiff_entries(1, 1, 32, 3, 4), raw<float>({2.5f})},
  });
  const AnyImage first = decode(pages, "stack.tif", ReadOptions{0});
  ASSERT_TRUE(std::holds_alternative<Image<uint8_t>>(first));
  EXPECT_EQ(std::get<Image<uint8_t>>(first).pixels(), (std::vector<uint8_t>{1, 2}));
  const AnyImage second = decode(pages, "stack.tif", ReadOptions{1});
  ASSERT_TRUE(std::holds_alternative<Image<uint16_t>>(second));
  EXPECT_EQ(std::get<Image<uint16_t>>(second).n_slow(), 2);
  EXPECT_EQ(std::get<Image<uint16_t>>(second).pixels(), (std::vector<uint16_t>{300, 400}));
  const AnyImage third = decode(pages, "stack.tif", ReadOptions{2});
  ASSERT_TRUE(std::holds_alternative<Image<float>>(third));
  EXPECT_EQ(std::get<Image<float>>(third).pixels(), (std::vector<float>{2.5f}));
  expect_error<FormatError>([&] { decode(pages, "stack.tif", ReadOptions{3}); }, "stack.tif",
                            {"frame 3 out of range, file has 3 frames"});
}

TEST(Tiff, ReadsHandBuiltStripsAndTiles) {
  // Three rows per strip over 7 rows: strips of 3, 3 and 1 rows.
  std::vector<uint16_t> pixels(5 * 7);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint16_t>(1000 + 37 * i);
  const std::string data = raw(pixels);
  const std::string striped = build_strip_tiff(
      5, 7, 16, 1, data, {{278, 4, {3}}, {273, 4, {0, 30, 60}, true}, {279, 4, {30, 30, 10}}});
  const AnyImage from_strips = decode(striped);
  ASSERT_TRUE(std::holds_alternative<Image<uint16_t>>(from_strips));
  EXPECT_EQ(std::get<Image<uint16_t>>(from_strips).pixels(), pixels);

  // A 40 x 20 image in 16 x 16 tiles: 3 x 2 tiles, the last column and row padded.
  Image<uint16_t> expected(20, 40);
  for (int64_t i = 0; i < expected.size(); ++i) expected.pixels()[i] = static_cast<uint16_t>(7 * i);
  const std::string tiled = testing::build_tiled_tiff(expected, 16);
  expect_same_pixels(expected, decode(tiled));
}

TEST(Tiff, WidensSignedAndUnsigned32BitToInt32) {
  const std::string u32 =
      build_strip_tiff(3, 1, 32, 1, raw<uint32_t>({7, 0x7fffffffu, 0xffffffffu}));
  const AnyImage a = decode(u32);
  ASSERT_TRUE(std::holds_alternative<Image<int32_t>>(a));
  EXPECT_EQ(std::get<Image<int32_t>>(a).pixels(), (std::vector<int32_t>{7, 2147483647, -1}));

  const AnyImage b = decode(build_strip_tiff(3, 1, 16, 2, raw<int16_t>({-32768, -2, 32767})));
  ASSERT_TRUE(std::holds_alternative<Image<int32_t>>(b));
  EXPECT_EQ(std::get<Image<int32_t>>(b).pixels(), (std::vector<int32_t>{-32768, -2, 32767}));

  const AnyImage c = decode(build_strip_tiff(2, 1, 8, 2, raw<int8_t>({-128, 5})));
  ASSERT_TRUE(std::holds_alternative<Image<int32_t>>(c));
  EXPECT_EQ(std::get<Image<int32_t>>(c).pixels(), (std::vector<int32_t>{-128, 5}));
}

TEST(Tiff, RejectsUnsupportedVariantsNamingTheFile) {
  const std::string name = "/scratch/stack_0003.tif";
  int n_case = 0;
  const auto bad = [&](const std::string& bytes, const std::vector<std::string>& fragments) {
    SCOPED_TRACE("case " + std::to_string(n_case++));
    expect_error<FormatError>([&] { decode(bytes, name); }, name, fragments);
  };
  bad(build_strip_tiff(8, 2, 1, 1, std::string(2, '\xaa')), {"1-bit"});
  bad(build_strip_tiff(2, 2, 8, 1, std::string(8, '\x01'), {{277, 3, {2}}}),
      {"2 samples per pixel"});
  bad(build_strip_tiff(2, 2, 8, 1, std::string(12, '\x01'), {{277, 3, {3}}, {262, 3, {2}}}),
      {"3 samples per pixel"});
  // Palette (with its ColorMap): not a grayscale image.
  bad(build_strip_tiff(2, 1, 8, 1, std::string(2, '\x01'),
                       {{262, 3, {3}}, {320, 3, std::vector<uint32_t>(768, 1000)}}),
      {"photometric"});
  bad(build_strip_tiff(1, 1, 64, 3, std::string(8, '\0')), {"64-bit floating-point"});
  bad(build_strip_tiff(1, 1, 16, 3, std::string(2, '\0')), {"16-bit floating-point"});
  bad(build_strip_tiff(1, 1, 12, 1, std::string(2, '\0')), {"12-bit"});
}

TEST(Tiff, RejectsBadDataNamingTheFile) {
  const std::string name = "C:/frames/broken.tiff";
  int n_case = 0;
  const auto bad = [&](const std::string& bytes, const std::vector<std::string>& fragments) {
    SCOPED_TRACE("case " + std::to_string(n_case++));
    expect_error<FormatError>([&] { decode(bytes, name); }, name, fragments);
  };
  const std::string data(16, '\x05');
  // Header/size mismatch with the data at the end of the file: 4 x 4 uint16 needs 32 bytes, the
  // file ends 16 bytes into the strip.
  bad(build_strip_tiff(4, 4, 16, 1, data, {}, true), {"strip 0"});
  // Two strips of two rows: the second strip points beyond the end of the file...
  bad(build_strip_tiff(4, 4, 8, 1, data,
                       {{278, 4, {2}}, {273, 4, {0, 4000}, true}, {279, 4, {8, 8}}}),
      {"strip 1"});
  // ... or holds fewer bytes than its rows need.
  bad(build_strip_tiff(4, 4, 8, 1, data, {{278, 4, {2}}, {273, 4, {0, 8}, true}, {279, 4, {8, 5}}}),
      {"strip 1"});
  const std::string whole = build_strip_tiff(4, 4, 8, 1, data);
  bad(whole.substr(0, 4), {"cannot read TIFF"});
  bad(whole.substr(0, 12), {"cannot read TIFF"});
  bad(build_strip_tiff(100000, 1, 8, 1, data), {"beyond the limit"});
  bad(build_strip_tiff(20000, 20000, 8, 1, data), {"beyond the limit"});
  bad(build_strip_tiff(16000, 16000, 8, 1, data), {"truncated TIFF", "need 256000000 bytes"});
  bad(build_strip_tiff(0, 4, 8, 1, data), {"TIFF"});
  // A corrupt tile size must not make us allocate a huge tile buffer.
  bad(build_tiff({{256, 4, {4}},
                  {257, 4, {4}},
                  {258, 3, {8}},
                  {262, 3, {1}},
                  {322, 4, {65536}},
                  {323, 4, {65536}},
                  {324, 4, {0}, true},
                  {325, 4, {16}}},
                 data),
      {"TIFF"});
}

TEST(Tiff, WriteErrors) {
  TempDir dir;
  const auto missing = dir / "nope" / "x.tif";
  expect_error<IoError>([&] { write_tiff(missing, AnyImage(testing::make_frame_u8(2, 2, 1))); },
                        missing.string());
  expect_error<ConfigError>([&] { write_tiff(dir / "e.tif", AnyImage(Image<float>())); },
                            (dir / "e.tif").string(), {"empty"});
}

}  // namespace
}  // namespace difftriage::io
