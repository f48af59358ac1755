#include <gtest/gtest.h>

#include <filesystem>
#include <string>

using namespace std::string_literals;

#include "difftriage/io/image_io.h"
#include "io_test_support.h"
#include "support/test_support.h"

namespace difftriage::io {
namespace {

using difftriage::testing::read_bytes;
using difftriage::testing::TempDir;
using difftriage::testing::write_text;
using testing::as_bytes;
using testing::expect_error;
using testing::expect_same_pixels;

AnyImage decode(const std::string& bytes, const std::string& name = "frame.pgm",
                const ReadOptions& options = {}) {
  return decode_image(as_bytes(bytes), bytes.size(), name, options);
}

TEST(Pgm, RoundTripsEightBitBinaryAndPlain) {
  TempDir dir;
  const Image<uint8_t> frame = testing::make_frame_u8(37, 53, 1);
  for (const bool binary : {true, false}) {
    const auto path = dir / (binary ? "p5.pgm" : "p2.pgm");
    write_pgm(path, frame, PgmWriteOptions{binary});
    EXPECT_EQ(read_bytes(path).substr(0, 2), binary ? "P5" : "P2");
    expect_same_pixels(frame, read_image(path));
    EXPECT_EQ(probe_format(as_bytes(read_bytes(path)), 16), ImageFormat::kPgm);
  }
}

TEST(Pgm, RoundTripsSixteenBitBinaryAndPlain) {
  TempDir dir;
  const Image<uint16_t> frame = testing::make_frame_u16(29, 41, 2);
  for (const bool binary : {true, false}) {
    const auto path = dir / (binary ? "p5.pgm" : "p2.pgm");
    write_pgm(path, frame, PgmWriteOptions{binary});
    expect_same_pixels(frame, read_image(path));
  }
}

TEST(Pgm, PlainOutputKeepsLinesShort) {
  TempDir dir;
  write_pgm(dir / "a.pgm", testing::make_frame_u16(3, 200, 3), PgmWriteOptions{false});
  const std::string text = read_bytes(dir / "a.pgm");
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    ASSERT_NE(end, std::string::npos);
    EXPECT_LE(end - start, 70u);
    start = end + 1;
  }
}

TEST(Pgm, SixteenBitBinaryIsBigEndian) {
  const std::string bytes = "P5\n3 1\n65535\n\x01\x02\xff\x00\x00\x07"s;
  const AnyImage image = decode(bytes);
  ASSERT_TRUE(std::holds_alternative<Image<uint16_t>>(image));
  const auto& pixels = std::get<Image<uint16_t>>(image).pixels();
  EXPECT_EQ(pixels, (std::vector<uint16_t>{0x0102, 0xff00, 0x0007}));

  TempDir dir;
  Image<uint16_t> frame(1, 2);
  frame(0, 0) = 0x0102;
  frame(0, 1) = 0xa0b0;
  write_pgm(dir / "be.pgm", frame);
  const std::string written = read_bytes(dir / "be.pgm");
  EXPECT_EQ(written, std::string("P5\n2 1\n65535\n") + "\x01\x02\xa0\xb0");
}

TEST(Pgm, AcceptsCommentsAndOddWhitespaceInHeader) {
  const std::string bytes =
      std::string("P5 # a comment\n# another one\r\n2\t#w\n  2 # h\n255\n") + "\x01\x02\x03\x04";
  const AnyImage image = decode(bytes);
  ASSERT_TRUE(std::holds_alternative<Image<uint8_t>>(image));
  EXPECT_EQ(std::get<Image<uint8_t>>(image).pixels(), (std::vector<uint8_t>{1, 2, 3, 4}));
  EXPECT_TRUE(metadata(image).detector.empty());
  EXPECT_FALSE(metadata(image).wavelength_angstrom.has_value());
  EXPECT_FALSE(std::get<Image<uint8_t>>(image).has_mask());
}

TEST(Pgm, KeepsRawCountsForOtherMaxvals) {
  // maxval 4095 (a 12-bit detector) -> uint16, values not rescaled.
  const AnyImage wide = decode("P2\n3 1\n4095\n0 17 4095\n");
  ASSERT_TRUE(std::holds_alternative<Image<uint16_t>>(wide));
  EXPECT_EQ(std::get<Image<uint16_t>>(wide).pixels(), (std::vector<uint16_t>{0, 17, 4095}));
  const AnyImage narrow = decode("P5\n2 1\n15\n\x00\x0f"s);
  ASSERT_TRUE(std::holds_alternative<Image<uint8_t>>(narrow));
  EXPECT_EQ(std::get<Image<uint8_t>>(narrow).pixels(), (std::vector<uint8_t>{0, 15}));
  // Trailing bytes after the raster are allowed (netpbm streams may hold more).
  EXPECT_NO_THROW(decode(std::string("P5\n1 1\n255\n") + "\x05" + "trailing"));
}

TEST(Pgm, RejectsBadHeadersNamingTheFile) {
  const std::string name = "/data/run7/frame_00042.pgm";
  const auto bad = [&](const std::string& bytes, const std::vector<std::string>& fragments) {
    SCOPED_TRACE(bytes.substr(0, 40));
    expect_error<FormatError>([&] { decode(bytes, name); }, name, fragments);
  };
  bad("P5\n4 4\n255\n0123456789", {"truncated", "needs 16 bytes", "only 10"});
  bad("P5\n4 4\n255\n", {"truncated"});
  bad("P5\n10", {"truncated", "height"});
  bad("P5\n", {"truncated", "width"});
  bad("P5\nabc 2\n255\n", {"width", "not a decimal number"});
  bad("P5\n2 x\n255\n", {"height", "not a decimal number"});
  bad("P5\n2 2\n-1\n", {"maxval", "not a decimal number"});
  bad("P5\n2 2\n0\n\x01\x02\x03\x04", {"maxval 0", "out of range"});
  bad("P5\n2 2\n65536\n", {"maxval 65536", "out of range"});
  bad("P5\n2 2\n99999999999999999999999\n", {"maxval", "out of range"});
  bad("P5\n0 2\n255\n", {"empty image"});
  bad("P5\n2 0\n255\n", {"empty image"});
  bad("P5\n100000 10\n255\n", {"beyond the limit"});
  bad("P5\n65536 65536\n255\n", {"beyond the limit"});
  bad("P2\n16000 16000\n255\n1 2 3\n", {"truncated"});  // rejected before allocating 256 MB
  bad("P5\n2 1\n255X\x01\x02", {"whitespace"});
  bad("P2\n2 2\n255\n1 2 3        \n", {"truncated", "sample 3"});
  bad("P2\n2 2\n255\n1 2 3\n", {"truncated", "4 samples"});
  bad("P2\n2 1\n255\n1 x\n", {"sample 1", "not a decimal number"});
  bad("P2\n2 1\n100\n1 101\n", {"above maxval"});
  bad("P5\n2 1\n1000\n\x00\x01\x03\xe9"s, {"above maxval 1000"});
}

TEST(Pgm, SingleFrameOnly) {
  const std::string bytes = std::string("P5\n1 1\n255\n") + "\x07";
  EXPECT_NO_THROW(decode(bytes, "a.pgm", ReadOptions{0}));
  expect_error<FormatError>([&] { decode(bytes, "a.pgm", ReadOptions{1}); }, "a.pgm",
                            {"frame 1 out of range, file has 1 frame"});
  expect_error<FormatError>([&] { decode(bytes, "a.pgm", ReadOptions{-1}); }, "a.pgm",
                            {"frame -1 out of range"});
}

TEST(Pgm, WriteErrors) {
  TempDir dir;
  const auto missing = dir / "no_such_folder" / "x.pgm";
  expect_error<IoError>([&] { write_pgm(missing, testing::make_frame_u8(2, 2, 1)); },
                        missing.string());
  expect_error<ConfigError>([&] { write_pgm(dir / "empty.pgm", Image<uint8_t>()); },
                            (dir / "empty.pgm").string(), {"empty"});
  EXPECT_FALSE(std::filesystem::exists(dir / "empty.pgm"));
}

TEST(Pgm, WritesAtomicallyLeavingNoTemporaries) {
  TempDir dir;
  write_text(dir / "frame.pgm", "old content");
  write_pgm(dir / "frame.pgm", testing::make_frame_u8(4, 4, 9));
  int n_files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    (void)entry;
    ++n_files;
  }
  EXPECT_EQ(n_files, 1);
  EXPECT_EQ(read_bytes(dir / "frame.pgm").substr(0, 2), "P5");
}

}  // namespace
}  // namespace difftriage::io
