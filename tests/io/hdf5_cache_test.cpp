// The HDF5 per-file cache (ReadOptions::cache_file_layout): frames read through the cache equal
// those read without it; a master rewritten with a new modification time is described again; a
// data file that appears after the master was first read is found; concurrent readers agree.
#include <gtest/gtest.h>

#include <hdf5.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "difftriage/io/image_io.h"
#include "io_test_support.h"
#include "support/test_support.h"

namespace difftriage::io {
namespace {

namespace fs = std::filesystem;
using difftriage::testing::TempDir;
using testing::expect_error;

constexpr int64_t kSlow = 12, kFast = 20;

ReadOptions frame_options(int64_t frame, bool cache) {
  ReadOptions options;
  options.frame = frame;
  options.cache_file_layout = cache;
  return options;
}

void expect_same_frame(const AnyImage& a, const AnyImage& b, const std::string& what) {
  ASSERT_TRUE(std::holds_alternative<Image<uint16_t>>(a)) << what;
  ASSERT_TRUE(std::holds_alternative<Image<uint16_t>>(b)) << what;
  const auto& x = std::get<Image<uint16_t>>(a);
  const auto& y = std::get<Image<uint16_t>>(b);
  EXPECT_EQ(x.pixels(), y.pixels()) << what;
  EXPECT_EQ(x.mask(), y.mask()) << what;
  EXPECT_EQ(x.metadata().beam_center_fast_px, y.metadata().beam_center_fast_px) << what;
  EXPECT_EQ(x.metadata().distance_mm, y.metadata().distance_mm) << what;
  EXPECT_EQ(x.metadata().pixel_size_mm, y.metadata().pixel_size_mm) << what;
  EXPECT_EQ(x.metadata().wavelength_angstrom, y.metadata().wavelength_angstrom) << what;
  EXPECT_EQ(x.metadata().detector, y.metadata().detector) << what;
}

// Rewrites the master's pixel_mask (pixel `masked` only) and beam_center_x in place, then moves
// its modification time `seconds` forward so the change is seen whatever the clock resolution.
void rewrite_master(const fs::path& master, size_t masked, double beam_x, int seconds) {
  const auto before = fs::last_write_time(master);
  const hid_t file = H5Fopen(master.string().c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  std::vector<uint32_t> mask(kSlow * kFast, 0);
  mask[masked] = 2;
  const hid_t mset = H5Dopen2(file, "/entry/instrument/detector/pixel_mask", H5P_DEFAULT);
  H5Dwrite(mset, H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, mask.data());
  H5Dclose(mset);
  const hid_t bset = H5Dopen2(file, "/entry/instrument/detector/beam_center_x", H5P_DEFAULT);
  H5Dwrite(bset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &beam_x);
  H5Dclose(bset);
  H5Fclose(file);
  fs::last_write_time(master, before + std::chrono::seconds(seconds));
}

TEST(Hdf5Cache, CachedFramesEqualUncachedFrames) {
  TempDir dir;
  clear_file_cache();
  const fs::path master = testing::write_eiger_series(dir.path(), "cache", 3, 2, kSlow, kFast);
  ASSERT_EQ(count_frames(master), 6);
  for (int pass = 0; pass < 2; ++pass) {  // pass 1 hits the cache filled by pass 0
    for (int64_t frame = 0; frame < 6; ++frame) {
      const AnyImage cached = read_image(master, frame_options(frame, true));
      const AnyImage direct = read_image(master, frame_options(frame, false));
      expect_same_frame(cached, direct, "frame " + std::to_string(frame));
      testing::expect_same_pixels(testing::eiger_test_frame(static_cast<int>(frame), kSlow, kFast),
                                  cached);
      const auto& image = std::get<Image<uint16_t>>(cached);
      // pixel_mask 3 and 4, plus the 0xFFFF pixel at 1 + frame % 7 (4 itself for frame 3).
      EXPECT_EQ(image.n_masked(), frame % 7 == 2 || frame % 7 == 3 ? 2 : 3);
      EXPECT_NE(image.mask()[3], 0);
      EXPECT_NE(image.mask()[4], 0);
      EXPECT_NE(image.mask()[1 + frame % 7], 0);
      EXPECT_DOUBLE_EQ(image.metadata().beam_center_fast_px.value_or(0), 10.5);
      EXPECT_DOUBLE_EQ(image.metadata().distance_mm.value_or(0), 200.0);
    }
  }
  // Out of range, from the cache and without it: the same message.
  const std::string a = expect_error<FormatError>(
      [&] { read_image(master, frame_options(6, true)); }, master.string(),
      {"frame 6 out of range", "6 frame(s) in 3 data file(s)"});
  const std::string b = expect_error<FormatError>(
      [&] { read_image(master, frame_options(6, false)); }, master.string());
  EXPECT_EQ(a, b);
  // A data stack read directly is cached too.
  const fs::path data = dir / "cache_data_000002.h5";
  expect_same_frame(read_image(data, frame_options(1, true)),
                    read_image(data, frame_options(1, false)), "data file");
}

TEST(Hdf5Cache, RewrittenMasterIsReadAgain) {
  TempDir dir;
  const fs::path master = testing::write_eiger_series(dir.path(), "changing", 1, 2, kSlow, kFast);
  const auto first = std::get<Image<uint16_t>>(read_image(master, {1}));
  EXPECT_NE(first.mask()[3], 0);
  EXPECT_EQ(first.mask()[50], 0);
  rewrite_master(master, 50, 4.0, 5);
  const auto second = std::get<Image<uint16_t>>(read_image(master, {1}));
  EXPECT_EQ(second.mask()[3], 0);
  EXPECT_NE(second.mask()[50], 0);
  EXPECT_DOUBLE_EQ(second.metadata().beam_center_fast_px.value_or(0), 4.0);
  expect_same_frame(read_image(master, {1}), read_image(master, frame_options(1, false)),
                    "after rewrite");
  // clear_file_cache drops everything; the next read describes the file again.
  clear_file_cache();
  expect_same_frame(read_image(master, {0}), read_image(master, frame_options(0, false)),
                    "after clear");
}

TEST(Hdf5Cache, DataFileWrittenLaterIsFound) {
  TempDir dir, later;
  const fs::path master = testing::write_eiger_series(dir.path(), "live", 2, 2, kSlow, kFast);
  testing::write_eiger_series(later.path(), "live", 2, 2, kSlow, kFast);
  fs::remove(dir / "live_data_000002.h5");  // the detector has not written it yet
  testing::expect_same_pixels(testing::eiger_test_frame(1, kSlow, kFast), read_image(master, {1}));
  expect_error<FormatError>([&] { read_image(master, {2}); }, master.string(),
                            {"/entry/data/data_000002", "live_data_000002.h5", "missing"});
  expect_error<FormatError>([&] { count_frames(master); }, master.string(), {"missing"});
  fs::copy_file(later / "live_data_000002.h5", dir / "live_data_000002.h5");
  testing::expect_same_pixels(testing::eiger_test_frame(3, kSlow, kFast), read_image(master, {3}));
  EXPECT_EQ(count_frames(master), 4);
  // And gone again: named as missing, not served from the cache.
  fs::remove(dir / "live_data_000002.h5");
  expect_error<FormatError>([&] { read_image(master, {2}); }, master.string(), {"missing"});
  expect_error<FormatError>([&] { count_frames(master); }, master.string(), {"missing"});
}

// The isolation check (ReadOptions::isolate_hdf5) remembers files that passed by path, mtime
// and size. A file replaced by one whose metadata crashes libhdf5 is checked again: the read is
// the check's FormatError naming the crash, never an in-process parse (which would take this
// test process down with SIGSEGV).
TEST(Hdf5Cache, ChangedFileIsCheckedAgain) {
  TempDir dir;
  const fs::path master = testing::write_eiger_series(dir.path(), "swap", 1, 1, kSlow, kFast);
  testing::expect_same_pixels(testing::eiger_test_frame(0, kSlow, kFast), read_image(master, {0}));
  EXPECT_EQ(count_frames(master), 1);  // passed the check: remembered
  const auto before = fs::last_write_time(master);
  fs::copy_file(difftriage::testing::source_dir() / "fuzz" / "libhdf5-crashes" /
                    "h5lget_info-null-deref.h5",
                master, fs::copy_options::overwrite_existing);
  fs::last_write_time(master, before + std::chrono::seconds(5));
  expect_error<FormatError>([&] { read_image(master, {0}); }, master.string(),
                            {"libhdf5 crashed"});
  expect_error<FormatError>([&] { count_frames(master); }, master.string(), {"libhdf5 crashed"});
}

TEST(Hdf5Cache, ConcurrentReadersAgree) {
  TempDir dir;
  clear_file_cache();
  const fs::path master = testing::write_eiger_series(dir.path(), "threads", 2, 4, kSlow, kFast);
  std::vector<AnyImage> expected;
  for (int frame = 0; frame < 8; ++frame) {
    expected.push_back(read_image(master, frame_options(frame, false)));
  }
  std::vector<int> n_wrong(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        const int frame = (t * 3 + i) % 8;
        const auto image = std::get<Image<uint16_t>>(read_image(master, {frame}));
        const auto& want = std::get<Image<uint16_t>>(expected[frame]);
        if (image.pixels() != want.pixels() || image.mask() != want.mask()) ++n_wrong[t];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(n_wrong, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace difftriage::io
