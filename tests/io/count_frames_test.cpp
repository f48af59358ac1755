// count_frames: how many `PATH //N` each format holds, on the real fixtures (../shared/fixtures),
// on files written here (multi-page TIFF, an EIGER-like master over two data files) and on the
// error cases (missing file, unknown format, dangling master).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "difftriage/io/image_io.h"
#include "io_test_support.h"
#include "support/test_support.h"

namespace difftriage::io {
namespace {

using difftriage::testing::read_bytes;
using difftriage::testing::shared_fixtures_dir;
using difftriage::testing::TempDir;
using difftriage::testing::write_text;
using testing::expect_error;

std::filesystem::path fixture(const std::string& file) { return shared_fixtures_dir() / file; }

TEST(CountFrames, RealFixtures) {
  struct Case {
    const char* file;
    int64_t n_frames;
  };
  // EIGER2 data file: /entry/data/data (2, 512, 1028); CXI: one 2-D 50 x 100 frame; the Stream
  // V2 message: three channels (threshold_1, threshold_2, difference); CBF and SMV: one frame.
  const Case cases[] = {
      {"eiger2_simread7_2datafiles_4images_bslz4_data_000001.h5", 2},
      {"typical_raw.cxi", 1},
      {"r500k_bm_bslz4_16bit_000001.cbor", 3},
      {"DLS_I23_P12M_thau_00001.cbf.gz", 1},
      {"TIMEPIX_SU_512-stdgoni_0001.img", 1},
  };
  for (const Case& c : cases) {
    const auto path = fixture(c.file);
    DT_REQUIRE_SHARED(path);
    EXPECT_EQ(count_frames(path), c.n_frames) << c.file;
    // Every counted frame reads, the next one does not.
    EXPECT_NO_THROW(read_image(path, {c.n_frames - 1})) << c.file;
    EXPECT_THROW(read_image(path, {c.n_frames}), FormatError) << c.file;
  }
}

TEST(CountFrames, InMemoryMatchesPath) {
  for (const char* file : {"eiger2_simread7_2datafiles_4images_bslz4_data_000001.h5",
                           "r500k_bm_bslz4_16bit_000001.cbor", "typical_raw.cxi"}) {
    const auto path = fixture(file);
    DT_REQUIRE_SHARED(path);
    const std::string bytes = read_bytes(path);
    EXPECT_EQ(count_frames_in_memory(testing::as_bytes(bytes), bytes.size(), file),
              count_frames(path))
        << file;
  }
}

TEST(CountFrames, DanglingMasterNamesTheMissingDataFile) {
  const auto path = fixture("dectris_eiger_master.h5");
  DT_REQUIRE_SHARED(path);
  expect_error<FormatError>([&] { count_frames(path); }, path.string(),
                            {"/entry/data/data_000001", "missing"});
}

TEST(CountFrames, TiffPagesAndSingleFrameFormats) {
  TempDir dir;
  const std::string pages = testing::build_tiff_pages({
      {testing::strip_tiff_entries(2, 1, 8, 1, 2), std::string("\x01\x02", 2)},
      {testing::strip_tiff_entries(2, 1, 8, 1, 2), std::string("\x03\x04", 2)},
      {testing::strip_tiff_entries(2, 1, 8, 1, 2), std::string("\x05\x06", 2)},
      {testing::strip_tiff_entries(2, 1, 8, 1, 2), std::string("\x07\x08", 2)},
  });
  write_text(dir / "stack.tif", pages);
  EXPECT_EQ(count_frames(dir / "stack.tif"), 4);
  // gzip-wrapped: seen through, as read_image does.
  write_text(dir / "stack.tif.gz", testing::gzip_bytes(pages));
  EXPECT_EQ(count_frames(dir / "stack.tif.gz"), 4);

  write_tiff(dir / "one.tif", AnyImage(testing::make_frame_u16(5, 6, 1)));
  write_png(dir / "one.png", testing::make_frame_u8(5, 6, 2));
  write_pgm(dir / "one.pgm", testing::make_frame_u8(5, 6, 3));
  for (const char* file : {"one.tif", "one.png", "one.pgm"}) {
    EXPECT_EQ(count_frames(dir / file), 1) << file;
  }
}

TEST(CountFrames, EigerMasterCountsAcrossDataFiles) {
  TempDir dir;
  const auto master = testing::write_eiger_series(dir.path(), "series", 2, 3, 6, 8);
  EXPECT_EQ(count_frames(master), 6);
  EXPECT_EQ(count_frames(dir / "series_data_000002.h5"), 3);
  EXPECT_NO_THROW(read_image(master, {5}));
  // A master held in memory cannot follow its external links.
  const std::string bytes = read_bytes(master);
  expect_error<FormatError>(
      [&] { count_frames_in_memory(testing::as_bytes(bytes), bytes.size(), "mem_master.h5"); },
      "mem_master.h5", {"external link", "in-memory"});
  // The second data file gone: the error names the master, the link and the file.
  std::filesystem::remove(dir / "series_data_000002.h5");
  expect_error<FormatError>([&] { count_frames(master); }, master.string(),
                            {"/entry/data/data_000002", "series_data_000002.h5", "missing"});
}

TEST(CountFrames, Errors) {
  TempDir dir;
  expect_error<IoError>([&] { count_frames(dir / "absent.h5"); }, "absent.h5");
  expect_error<IoError>([&] { count_frames(dir.path()); }, dir.path().string());
  write_text(dir / "text.txt", "hello, not an image");
  expect_error<FormatError>([&] { count_frames(dir / "text.txt"); }, "text.txt",
                            {"not recognised"});
  write_text(dir / "empty.img", "");
  expect_error<FormatError>([&] { count_frames(dir / "empty.img"); }, "empty.img", {"empty"});
  // A CBOR message that is not an image message.
  write_text(dir / "start.cbor", std::string("\xd9\xd9\xf7\xa1\x64type\x65start", 15));
  expect_error<FormatError>([&] { count_frames(dir / "start.cbor"); }, "start.cbor",
                            {"type 'start'"});
  // An HDF5 file without an image dataset.
  if (std::filesystem::exists(fixture("typical_raw.cxi"))) {
    const std::string cut = read_bytes(fixture("typical_raw.cxi"));
    write_text(dir / "cut.cxi", cut.substr(0, 2048));
    expect_error<FormatError>([&] { count_frames(dir / "cut.cxi"); }, "cut.cxi");
  }
}

}  // namespace
}  // namespace difftriage::io
