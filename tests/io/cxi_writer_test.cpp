// CxiStackWriter and write_event_list: what is written reads back exactly through read_image
// (pixels, mask, metadata, count_frames), the per-frame sources are recorded, the file appears
// only on finish(), and wrong frames are ConfigErrors naming the frame.
#include <gtest/gtest.h>
#include <hdf5.h>


#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "difftriage/io/cxi_writer.h"
#include "difftriage/io/image_io.h"
#include "io_test_support.h"
#include "support/test_support.h"

namespace difftriage::io {
namespace {

namespace fs = std::filesystem;
using difftriage::testing::read_bytes;
using difftriage::testing::shared_fixtures_dir;
using difftriage::testing::TempDir;
using difftriage::testing::write_text;
using testing::expect_error;

DetectorMetadata sample_metadata() {
  DetectorMetadata md;
  md.pixel_size_mm = 0.075;
  md.distance_mm = 123.4;
  md.wavelength_angstrom = 1.0332;
  md.beam_center_fast_px = 511.25;
  md.beam_center_slow_px = 530.5;
  md.exposure_s = 0.002;
  md.saturation_value = 65000;
  md.detector = "EIGER2 X 4M test";
  return md;
}

// Everything in `folder` (to check that no temporary is left behind).
std::vector<std::string> listing(const fs::path& folder) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(folder)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

template <typename T>
void round_trip(const std::vector<Image<T>>& frames, int deflate) {
  TempDir dir;
  const fs::path path = dir / "stack.cxi";
  CxiWriteOptions options;
  options.deflate_level = deflate;
  {
    CxiStackWriter writer(path, options);
    for (size_t k = 0; k < frames.size(); ++k) {
      AnyImage frame = frames[k];
      if (k == 0) metadata(frame) = sample_metadata();
      writer.append(frame, {"run/source_" + std::to_string(k) + ".h5", static_cast<int64_t>(7 + k)});
      EXPECT_FALSE(fs::exists(path)) << "the target appears only on finish()";
    }
    EXPECT_EQ(writer.n_frames(), static_cast<int64_t>(frames.size()));
    writer.finish();
  }
  EXPECT_EQ(listing(dir.path()), std::vector<std::string>{"stack.cxi"});
  EXPECT_EQ(probe_format(testing::as_bytes(read_bytes(path)), 8), ImageFormat::kHdf5);
  ASSERT_EQ(count_frames(path), static_cast<int64_t>(frames.size()));
  for (size_t k = 0; k < frames.size(); ++k) {
    const AnyImage back = read_image(path, {static_cast<int64_t>(k)});
    testing::expect_same_pixels(frames[k], back);
    const DetectorMetadata& md = metadata(back);
    const DetectorMetadata want = sample_metadata();
    EXPECT_NEAR(md.pixel_size_mm.value_or(0), *want.pixel_size_mm, 1e-12);
    EXPECT_NEAR(md.distance_mm.value_or(0), *want.distance_mm, 1e-9);
    EXPECT_NEAR(md.wavelength_angstrom.value_or(0), *want.wavelength_angstrom, 1e-12);
    EXPECT_EQ(md.beam_center_fast_px, want.beam_center_fast_px);
    EXPECT_EQ(md.beam_center_slow_px, want.beam_center_slow_px);
    EXPECT_EQ(md.exposure_s, want.exposure_s);
    EXPECT_EQ(md.saturation_value, want.saturation_value);
    EXPECT_NE(md.detector.find(want.detector), std::string::npos) << md.detector;
    EXPECT_FALSE(std::visit([](const auto& img) { return img.has_mask(); }, back));
  }
  expect_error<FormatError>([&] { read_image(path, {static_cast<int64_t>(frames.size())}); },
                            path.string(), {"out of range"});
  std::vector<std::string> paths;
  std::vector<int64_t> source_frames;
  for (const auto& source : read_cxi_sources(path)) {
    paths.push_back(source.path.string());
    source_frames.push_back(source.frame);
  }
  ASSERT_EQ(paths.size(), frames.size());
  for (size_t k = 0; k < frames.size(); ++k) {
    EXPECT_EQ(paths[k], "run/source_" + std::to_string(k) + ".h5");
    EXPECT_EQ(source_frames[k], static_cast<int64_t>(7 + k));
  }
}

TEST(CxiWriter, RoundTripsEveryPixelType) {
  for (int deflate : {0, 4}) {
    SCOPED_TRACE("deflate " + std::to_string(deflate));
    round_trip<uint8_t>({testing::make_frame_u8(17, 23, 1), testing::make_frame_u8(17, 23, 2),
                         testing::make_frame_u8(17, 23, 3)},
                        deflate);
    round_trip<uint16_t>({testing::make_frame_u16(9, 31, 4), testing::make_frame_u16(9, 31, 5)},
                         deflate);
    round_trip<int32_t>({testing::make_frame_i32(12, 12, 6), testing::make_frame_i32(12, 12, 7),
                         testing::make_frame_i32(12, 12, 8)},
                        deflate);
    round_trip<float>({testing::make_frame_f32(5, 40, 9)}, deflate);
  }
}

TEST(CxiWriter, MasksAndOptionMetadata) {
  TempDir dir;
  const fs::path path = dir / "masked.cxi";
  Image<uint16_t> a = testing::make_frame_u16(6, 8, 11), b = testing::make_frame_u16(6, 8, 12),
                  c = testing::make_frame_u16(6, 8, 13), d = testing::make_frame_u16(6, 8, 14);
  std::vector<uint8_t> mask(48, 0);
  mask[0] = 1;
  mask[47] = 200;  // any non-zero byte means masked
  b.set_mask(mask);
  c.set_mask(std::vector<uint8_t>(48, 0));  // a mask with nothing masked
  a.metadata().distance_mm = 999;           // ignored: the options' metadata win
  CxiWriteOptions options;
  options.metadata = sample_metadata();
  options.metadata->beam_center_slow_px.reset();
  CxiStackWriter writer(path, options);
  writer.append(a, {"a.cbf", 0});
  writer.append(b, {"b.h5", 3});
  writer.append(c, {"c.h5", 4});
  writer.append(d, {"d.h5", 5});
  writer.finish();
  const auto back_a = std::get<Image<uint16_t>>(read_image(path, {0}));
  const auto back_b = std::get<Image<uint16_t>>(read_image(path, {1}));
  const auto back_c = std::get<Image<uint16_t>>(read_image(path, {2}));
  const auto back_d = std::get<Image<uint16_t>>(read_image(path, {3}));
  EXPECT_FALSE(back_a.has_mask());
  ASSERT_TRUE(back_b.has_mask());
  EXPECT_EQ(back_b.n_masked(), 2);
  EXPECT_NE(back_b.mask()[0], 0);
  EXPECT_NE(back_b.mask()[47], 0);
  EXPECT_EQ(back_b.pixels(), b.pixels());
  EXPECT_FALSE(back_c.has_mask());
  EXPECT_FALSE(back_d.has_mask());  // after the last masked frame: the mask grown with zeros
  EXPECT_NEAR(back_a.metadata().distance_mm.value_or(0), 123.4, 1e-9);
  EXPECT_FALSE(back_a.metadata().beam_center_slow_px.has_value());
  EXPECT_EQ(back_d.metadata().beam_center_fast_px, sample_metadata().beam_center_fast_px);
}

TEST(CxiWriter, RealFramesRoundTrip) {
  // The three channels of the DECTRIS Stream V2 fixture (the difference channel masked where
  // 0xFFFF), then the EIGER2 data file's two frames, each into its own stack.
  const fs::path cbor = shared_fixtures_dir() / "r500k_bm_bslz4_16bit_000001.cbor";
  DT_REQUIRE_SHARED(cbor);
  TempDir dir;
  const fs::path path = dir / "channels.cxi";
  CxiWriteOptions options;
  options.deflate_level = 1;
  CxiStackWriter writer(path, options);
  std::vector<AnyImage> originals;
  for (int64_t k = 0; k < count_frames(cbor); ++k) {
    originals.push_back(read_image(cbor, {k}));
    writer.append(originals.back(), {cbor, k});
  }
  writer.finish();
  ASSERT_EQ(count_frames(path), 3);
  for (int64_t k = 0; k < 3; ++k) {
    const auto& want = std::get<Image<uint16_t>>(originals[k]);
    const auto got = std::get<Image<uint16_t>>(read_image(path, {k}));
    EXPECT_EQ(got.pixels(), want.pixels()) << "channel " << k;
    EXPECT_EQ(got.n_masked(), want.n_masked()) << "channel " << k;
    EXPECT_EQ(got.has_mask(), want.has_mask()) << "channel " << k;
    EXPECT_NE(got.metadata().detector.find(want.metadata().detector.substr(0, 20)),
              std::string::npos);
  }
}

TEST(CxiWriter, WrongFramesAreConfigErrorsNamingTheFrame) {
  TempDir dir;
  const fs::path path = dir / "bad.cxi";
  {
    CxiStackWriter writer(path);
    writer.append(AnyImage(testing::make_frame_u16(4, 5, 1)), {"first.h5", 0});
    expect_error<ConfigError>(
        [&] { writer.append(AnyImage(testing::make_frame_u16(5, 4, 2)), {"second.h5", 9}); },
        path.string(), {"frame 1", "second.h5 //9", "5 x 4", "4 x 5"});
    expect_error<ConfigError>(
        [&] { writer.append(AnyImage(testing::make_frame_u8(4, 5, 3)), {"third.cbf", 0}); },
        path.string(), {"frame 1", "third.cbf", "uint8", "uint16"});
    expect_error<ConfigError>(
        [&] { writer.append(AnyImage(testing::make_frame_u16(4, 5, 4)), {"neg.h5", -1}); },
        path.string(), {"neg.h5", "negative"});
    expect_error<ConfigError>(
        [&] { writer.append(AnyImage(Image<uint16_t>()), {"empty.h5", 0}); }, path.string(),
        {"empty"});
    EXPECT_EQ(writer.n_frames(), 1);  // the rejected frames were not written
    EXPECT_EQ(listing(dir.path()).size(), 1u);  // only the temporary so far
    // Destroyed without finish(): the temporary goes, no target appears.
  }
  EXPECT_TRUE(listing(dir.path()).empty());

  expect_error<ConfigError>([&] { CxiStackWriter writer(path); writer.finish(); },
                            path.string(), {"no frame"});
  EXPECT_TRUE(listing(dir.path()).empty());
  CxiWriteOptions options;
  options.deflate_level = 10;
  expect_error<ConfigError>([&] { CxiStackWriter writer(path, options); }, path.string(),
                            {"deflate_level"});
  expect_error<IoError>([&] { CxiStackWriter writer(dir / "no" / "such" / "dir.cxi"); },
                        "dir.cxi");
  CxiStackWriter done(path);
  done.append(AnyImage(testing::make_frame_u8(2, 2, 5)), {"x.pgm", 0});
  done.finish();
  expect_error<ConfigError>(
      [&] { done.append(AnyImage(testing::make_frame_u8(2, 2, 6)), {"y.pgm", 0}); },
      path.string(), {"already finished"});
  expect_error<ConfigError>([&] { done.finish(); }, path.string(), {"already finished"});
}

TEST(CxiWriter, ReplacesAnExistingFileOnlyOnFinish) {
  TempDir dir;
  const fs::path path = dir / "stack.cxi";
  write_text(path, "old content");
  {
    CxiStackWriter writer(path);
    writer.append(AnyImage(testing::make_frame_f32(3, 3, 1)), {"a.tif", 2});
    EXPECT_EQ(read_bytes(path), "old content");
  }
  EXPECT_EQ(read_bytes(path), "old content");  // abandoned: untouched
  CxiStackWriter writer(path);
  writer.append(AnyImage(testing::make_frame_f32(3, 3, 1)), {"a.tif", 2});
  CxiStackWriter moved(std::move(writer));  // a writer can be moved, e.g. into a sink
  moved.finish();
  EXPECT_EQ(count_frames(path), 1);
  EXPECT_EQ(listing(dir.path()), std::vector<std::string>{"stack.cxi"});
}

TEST(CxiWriter, ReadingSourcesOfAForeignFileNamesIt) {
  TempDir dir;
  write_text(dir / "text.cxi", "not HDF5");
  try {
    (void)read_cxi_sources(dir / "text.cxi");
    ADD_FAILURE() << "no error";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("text.cxi"), std::string::npos) << e.what();
  }
  const fs::path cheetah = shared_fixtures_dir() / "typical_raw.cxi";
  DT_REQUIRE_SHARED(cheetah);
  try {
    (void)read_cxi_sources(cheetah);
    ADD_FAILURE() << "no error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("source_path"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("typical_raw.cxi"), std::string::npos) << e.what();
  }
}

TEST(CxiWriter, SameFramesGiveSameBytes) {
  TempDir dir;
  for (const char* name : {"one.cxi", "two.cxi"}) {
    CxiWriteOptions options;
    options.deflate_level = 2;
    options.metadata = sample_metadata();
    CxiStackWriter writer(dir / name, options);
    writer.append(AnyImage(testing::make_frame_u16(7, 9, 1)), {"a.h5", 1});
    writer.append(AnyImage(testing::make_frame_u16(7, 9, 2)), {"a.h5", 2});
    writer.finish();
  }
  // No object carries a modification time, the root group included (its times once made two
  // writes in different seconds differ).
  const hid_t file = H5Fopen((dir / "one.cxi").string().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  for (const char* object : {"/", "/entry_1", "/entry_1/data_1", "/entry_1/data_1/data"}) {
    H5O_info_t info{};
    ASSERT_GE(H5Oget_info_by_name2(file, object, &info, H5O_INFO_TIME, H5P_DEFAULT), 0) << object;
    EXPECT_EQ(info.btime, 0) << object;
    EXPECT_EQ(info.mtime, 0) << object;
  }
  H5Fclose(file);
  const std::string one = read_bytes(dir / "one.cxi"), two = read_bytes(dir / "two.cxi");
  ASSERT_EQ(one.size(), two.size());
  const auto first = std::mismatch(one.begin(), one.end(), two.begin());
  EXPECT_TRUE(first.first == one.end())
      << "the files differ first at byte " << (first.first - one.begin()) << " of " << one.size()
      << ": " << ::testing::PrintToString(one.substr(first.first - one.begin(), 16)) << " vs "
      << ::testing::PrintToString(two.substr(first.first - one.begin(), 16));
}

TEST(EventList, WritesPathSpaceSlashSlashFrame) {
  TempDir dir;
  const fs::path path = dir / "hits.lst";
  write_event_list(path, {{"/data/run_master.h5", 3}, {"img 1.cbf", 0}, {"b.cxi", 12}});
  EXPECT_EQ(read_bytes(path), "/data/run_master.h5 //3\nimg 1.cbf //0\nb.cxi //12\n");
  write_event_list(path, {});
  EXPECT_EQ(read_bytes(path), "");
  expect_error<ConfigError>([&] { write_event_list(path, {{"a.h5", 0}, {"b\nc.h5", 1}}); },
                            path.string(), {"entry 1", "line break"});
  expect_error<ConfigError>([&] { write_event_list(path, {{"a.h5", -2}}); }, path.string(),
                            {"entry 0", "a.h5", "-2"});
  expect_error<ConfigError>([&] { write_event_list(path, {{"", 1}}); }, path.string(),
                            {"empty path"});
  EXPECT_EQ(read_bytes(path), "");  // a failed write leaves the previous file
  EXPECT_EQ(listing(dir.path()), std::vector<std::string>{"hits.lst"});
  expect_error<IoError>([&] { write_event_list(dir / "missing" / "x.lst", {{"a", 0}}); },
                        "x.lst");
}

}  // namespace
}  // namespace difftriage::io
