#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "difftriage/io/image_io.h"
#include "io_test_support.h"
#include "support/test_support.h"

namespace difftriage::io {
namespace {

using difftriage::testing::TempDir;
using difftriage::testing::write_text;
using testing::as_bytes;
using testing::expect_error;
using testing::expect_same_pixels;

ImageFormat probe(const std::string& bytes) { return probe_format(as_bytes(bytes), bytes.size()); }

TEST(Probe, RecognisesMagicBytes) {
  EXPECT_EQ(probe("P5\n2 2\n255\n"), ImageFormat::kPgm);
  EXPECT_EQ(probe("P2 2 2 255"), ImageFormat::kPgm);
  EXPECT_EQ(probe("P5#c\n1 1 255\n"), ImageFormat::kPgm);
  EXPECT_EQ(probe(std::string("\x89PNG\r\n\x1a\n", 8)), ImageFormat::kPng);
  EXPECT_EQ(probe(std::string("II*\0", 4)), ImageFormat::kTiff);
  EXPECT_EQ(probe(std::string("MM\0*", 4)), ImageFormat::kTiff);
  EXPECT_EQ(probe(std::string("II+\0", 4)), ImageFormat::kTiff);  // BigTIFF
}

TEST(Probe, RejectsLookalikes) {
  EXPECT_EQ(probe(""), ImageFormat::kUnknown);
  EXPECT_EQ(probe("P5"), ImageFormat::kUnknown);
  EXPECT_EQ(probe("P6\n2 2\n255\n"), ImageFormat::kUnknown);  // PPM is not read
  EXPECT_EQ(probe("P55"), ImageFormat::kUnknown);
  EXPECT_EQ(probe(std::string("\x89PNG\r\n\x1a", 7)), ImageFormat::kUnknown);
  EXPECT_EQ(probe(std::string("II*\1", 4)), ImageFormat::kUnknown);
  EXPECT_EQ(probe("##CBF: VERSION"), ImageFormat::kUnknown);
  EXPECT_EQ(probe_format(nullptr, 100), ImageFormat::kUnknown);
}

TEST(Probe, FormatNames) {
  EXPECT_STREQ(format_name(ImageFormat::kPgm), "pgm");
  EXPECT_STREQ(format_name(ImageFormat::kPng), "png");
  EXPECT_STREQ(format_name(ImageFormat::kTiff), "tiff");
  EXPECT_STREQ(format_name(ImageFormat::kUnknown), "unknown");
}

TEST(Probe, ContentWinsOverExtension) {
  TempDir dir;
  const Image<uint8_t> frame = testing::make_frame_u8(12, 9, 21);
  const Image<uint16_t> frame16 = testing::make_frame_u16(5, 6, 22);
  write_png(dir / "really_png.pgm", frame);
  expect_same_pixels(frame, read_image(dir / "really_png.pgm"));
  write_tiff(dir / "really_tiff.png", AnyImage(frame16));
  expect_same_pixels(frame16, read_image(dir / "really_tiff.png"));
  write_pgm(dir / "really_pgm.tif", frame);
  expect_same_pixels(frame, read_image(dir / "really_pgm.tif"));
  write_pgm(dir / "no_extension", frame16);
  expect_same_pixels(frame16, read_image(dir / "no_extension"));
}

TEST(Probe, UnknownContentListsKnownFormats) {
  TempDir dir;
  const auto path = dir / "notes.png";
  write_text(path, "hello, this is text");
  expect_error<FormatError>([&] { (void)read_image(path); }, path.string(),
                            {"not recognised", "pgm", "png", "tiff", "68 65 6c 6c", "'hello, t'"});
  const auto empty = dir / "empty.pgm";
  write_text(empty, "");
  expect_error<FormatError>([&] { (void)read_image(empty); }, empty.string(), {"empty"});
  expect_error<FormatError>([&] { (void)decode_image(nullptr, 0, "mem"); }, "mem", {"empty"});
}

TEST(Probe, MissingOrUnreadableFilesAreIoErrors) {
  TempDir dir;
  const auto missing = dir / "does_not_exist.pgm";
  expect_error<IoError>([&] { (void)read_image(missing); }, missing.string());
  expect_error<IoError>([&] { (void)read_image(dir.path()); }, dir.path().string());
}

// Paths that are not regular files have no size: they are read as a stream, but /dev/zero (no
// known format in its first bytes) is refused at once instead of being read until memory runs
// out, and a pipe longer than max_decompressed_bytes is refused when it passes the bound. A
// pipe that holds a frame reads like the file.
TEST(Probe, DevicesAndPipesAreReadOnlyWhileTheyCanBeAFrame) {
  if (std::filesystem::exists("/dev/zero")) {
    expect_error<FormatError>([&] { (void)read_image("/dev/zero"); }, "/dev/zero",
                              {"not recognised", "not a regular file", "00 00 00 00"});
    expect_error<FormatError>([&] { (void)count_frames("/dev/zero"); }, "/dev/zero",
                              {"not recognised"});
  }
  TempDir dir;
  const Image<uint8_t> frame = testing::make_frame_u8(40, 30, 5);
  write_pgm(dir / "f.pgm", frame);
  const std::string pgm = difftriage::testing::read_bytes(dir / "f.pgm");
  const auto fifo = dir / "pipe.pgm";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Writes `bytes` into the FIFO from another thread (opening it blocks until the reader opens).
  auto feed = [&](const std::string& bytes) {
    return std::thread([&fifo, bytes] {
      std::ofstream out(fifo, std::ios::binary);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    });
  };
  std::thread writer = feed(pgm);
  const AnyImage via_pipe = read_image(fifo);
  writer.join();
  expect_same_pixels(frame, via_pipe);
  ReadOptions small;
  small.max_decompressed_bytes = 1000;  // the PGM is 40 x 30 + header: over 1000 bytes
  writer = feed(pgm);
  expect_error<FormatError>([&] { (void)read_image(fifo, small); }, fifo.string(),
                            {"not a regular file", "longer than 1000 bytes"});
  writer.join();
}

}  // namespace
}  // namespace difftriage::io
