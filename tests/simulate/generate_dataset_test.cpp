// simulate::generate_dataset: a labelled dataset folder from the simulator — the files written,
// the same bytes for the same seed whatever the thread count, label files that agree with
// simulate_frame, counts, progress and option errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "difftriage/core/error.h"
#include "difftriage/dataset/dataset.h"
#include "difftriage/dataset/labels.h"
#include "difftriage/io/image_io.h"
#include "difftriage/simulate/generate_dataset.h"
#include "support/test_support.h"

namespace difftriage::simulate {
namespace {
namespace fs = std::filesystem;

// Small frames keep the test quick; everything else as the defaults.
GenerateDatasetOptions small_options(const fs::path& out, int64_t n_frames, uint64_t seed) {
  GenerateDatasetOptions o;
  o.out_dir = out;
  o.n_frames = n_frames;
  o.simulate.seed = seed;
  o.simulate.mix = study_mix();
  o.simulate.scene.output_size = 64;
  o.simulate.scene.full_size = 128;
  return o;
}

// Every file of a folder, by name → bytes.
std::map<std::string, std::string> folder_bytes(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    files[entry.path().filename().string()] = testing::read_bytes(entry.path());
  }
  return files;
}

TEST(GenerateDataset, WritesTheFramesSidecarsAndLabelFiles) {
  testing::TempDir tmp;
  GenerateDatasetOptions o = small_options(tmp / "a", 8, 5);
  o.n_threads = 3;
  std::vector<std::pair<int64_t, int64_t>> progress;
  o.on_progress = [&](int64_t n_done, int64_t n_frames) {
    progress.emplace_back(n_done, n_frames);
  };
  const GenerateDatasetResult result = generate_dataset(o);
  EXPECT_EQ(result.n_frames, 8);
  EXPECT_EQ(result.n_threads, 3);

  const auto files = folder_bytes(tmp / "a");
  EXPECT_EQ(files.size(), 8u + 8u + 2u);  // images, sidecars, multiclasses.txt, categories1.txt
  for (int64_t i = 0; i < 8; ++i) {
    EXPECT_TRUE(files.count(frame_file_name(i, FrameFileFormat::kPgm))) << i;
    EXPECT_TRUE(files.count(frame_file_stem(i) + ".json")) << i;
  }
  EXPECT_EQ(frame_file_name(0, FrameFileFormat::kPgm), "fake_00001.pgm");
  EXPECT_EQ(frame_file_name(11, FrameFileFormat::kPng), "fake_00012.png");

  // One progress call per frame, counting up to n_frames.
  ASSERT_EQ(progress.size(), 8u);
  for (size_t k = 0; k < progress.size(); ++k) {
    EXPECT_EQ(progress[k], std::make_pair(static_cast<int64_t>(k + 1), int64_t{8}));
  }

  // The folder is a dataset whose labels are simulate_frame's, and the counts add up.
  const dataset::Dataset ds = dataset::load_dataset(tmp / "a");
  ASSERT_EQ(ds.samples.size(), 8u);
  std::array<int64_t, kNumQualities> quality_counts{};
  std::array<int64_t, kNumLabels> label_counts{};
  for (size_t i = 0; i < ds.samples.size(); ++i) {
    const dataset::Sample& s = ds.samples[i];
    const FrameLabels want = simulate_frame(o.simulate, static_cast<int64_t>(i)).labels;
    EXPECT_EQ(s.file, frame_file_name(static_cast<int64_t>(i), FrameFileFormat::kPgm));
    ASSERT_TRUE(s.labels && s.quality) << s.file;
    const std::array<uint8_t, kNumLabels> labels = {want.blank,        want.photo1, want.photo2,
                                                    want.multilattice, want.ice,    want.badice};
    EXPECT_EQ(*s.labels, labels) << s.file;
    EXPECT_EQ(*s.quality, want.quality) << s.file;
    EXPECT_EQ(s.mosaic1, want.mosaic1) << s.file;
    EXPECT_EQ(s.mosaic2, want.mosaic2) << s.file;
    ++quality_counts[static_cast<size_t>(*s.quality)];
    for (size_t k = 0; k < kNumLabels; ++k) label_counts[k] += (*s.labels)[k];
  }
  EXPECT_EQ(result.quality_counts, quality_counts);
  EXPECT_EQ(result.label_counts, label_counts);
  EXPECT_TRUE(dataset::check_dataset(tmp / "a").ok());
}

TEST(GenerateDataset, SameSeedSameBytesWhateverTheThreadCount) {
  testing::TempDir tmp;
  GenerateDatasetOptions o = small_options(tmp / "a", 6, 3);
  o.n_threads = 2;
  (void)generate_dataset(o);
  o.out_dir = tmp / "b";
  o.n_threads = 1;
  (void)generate_dataset(o);
  const auto a = folder_bytes(tmp / "a");
  EXPECT_TRUE(a == folder_bytes(tmp / "b")) << "1 vs 2 threads: bytes differ";
  o.out_dir = tmp / "c";
  o.simulate.seed = 4;
  (void)generate_dataset(o);
  EXPECT_NE(a.at("fake_00001.pgm"), folder_bytes(tmp / "c").at("fake_00001.pgm"));
}

// Parts (what `mpirun difftriage simulate` gives each rank): frames [part_begin, part_end) only,
// no label files, the part's labels returned; the parts plus write_label_files are the whole
// run's bytes.
TEST(GenerateDataset, PartsPlusWriteLabelFilesGiveTheWholeRunsBytes) {
  testing::TempDir tmp;
  GenerateDatasetOptions o = small_options(tmp / "whole", 5, 8);
  o.n_threads = 1;
  const auto whole = generate_dataset(o);
  EXPECT_EQ(whole.labels.size(), 5u);
  o.out_dir = tmp / "parts";
  std::vector<FrameLabels> labels;
  for (const auto& [begin, end] : {std::pair<int64_t, int64_t>{0, 3}, {3, 3}, {3, 5}}) {
    o.part_begin = begin;
    o.part_end = end;
    const auto part = generate_dataset(o);
    EXPECT_EQ(part.n_frames, end - begin);
    ASSERT_EQ(part.labels.size(), static_cast<size_t>(end - begin));
    labels.insert(labels.end(), part.labels.begin(), part.labels.end());
  }
  EXPECT_FALSE(fs::exists(tmp / "parts" / "multiclasses.txt"));  // a part writes no label file
  EXPECT_FALSE(fs::exists(tmp / "parts" / "fake_00006.pgm"));
  const auto written = write_label_files(tmp / "parts", o.format, labels);
  EXPECT_EQ(written.quality_counts, whole.quality_counts);
  EXPECT_EQ(written.label_counts, whole.label_counts);
  EXPECT_TRUE(folder_bytes(tmp / "whole") == folder_bytes(tmp / "parts"));
  o.part_begin = 4;
  o.part_end = 2;
  EXPECT_THROW((void)generate_dataset(o), ConfigError);
  o.part_begin = 0;
  o.part_end = 6;
  EXPECT_THROW((void)generate_dataset(o), ConfigError);
}

TEST(GenerateDataset, PngFullFramesAndNoSidecars) {
  testing::TempDir tmp;
  GenerateDatasetOptions o = small_options(tmp / "p", 2, 8);
  o.format = FrameFileFormat::kPng;
  o.write_sidecars = false;
  o.simulate.keep_full_frame = true;
  o.full_frame_pixel = FullFramePixel::kInt32;
  const GenerateDatasetResult result = generate_dataset(o);
  EXPECT_EQ(result.n_frames, 2);
  const auto files = folder_bytes(tmp / "p");
  EXPECT_EQ(files.size(), 2u + 2u + 2u);  // PNGs, full-frame TIFFs, label files
  EXPECT_FALSE(files.count("fake_00001.json"));
  const AnyImage image = io::read_image(tmp / "p" / "fake_00002.png");
  ASSERT_TRUE(std::holds_alternative<Image<uint8_t>>(image));
  EXPECT_EQ(std::get<Image<uint8_t>>(image).n_fast(), 64);
  const AnyImage full = io::read_image(tmp / "p" / "fake_00002_full.tif");
  ASSERT_TRUE(std::holds_alternative<Image<int32_t>>(full));
  EXPECT_EQ(std::get<Image<int32_t>>(full).n_fast(), 128);
  EXPECT_EQ(dataset::load_dataset(tmp / "p").samples.at(1).file, "fake_00002.png");
}

TEST(GenerateDataset, ZeroFramesWritesEmptyLabelFiles) {
  testing::TempDir tmp;
  const GenerateDatasetResult result = generate_dataset(small_options(tmp / "z", 0, 1));
  EXPECT_EQ(result.n_frames, 0);
  EXPECT_EQ(result.n_threads, 1);
  EXPECT_EQ(testing::read_bytes(tmp / "z" / "multiclasses.txt"), "");
  EXPECT_EQ(testing::read_bytes(tmp / "z" / "categories1.txt"), "");
}

TEST(GenerateDataset, BadOptionsAreConfigErrorsNamingTheFieldAndWriteNothing) {
  testing::TempDir tmp;
  auto expect_error_naming = [&](const GenerateDatasetOptions& o, const std::string& word) {
    try {
      (void)generate_dataset(o);
      ADD_FAILURE() << "no error, expected one naming " << word;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(word), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find("--"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(o.out_dir)) << word;
  };
  GenerateDatasetOptions o = small_options(tmp / "x", 2, 1);
  o.n_frames = -1;
  expect_error_naming(o, "n_frames");
  o = small_options(tmp / "x", 2, 1);
  o.n_threads = -2;
  expect_error_naming(o, "n_threads");
  o = small_options(tmp / "x", 2, 1);
  o.simulate.scene.full_size = 100;
  expect_error_naming(o, "output_size");
  o = small_options(tmp / "x", 2, 1);
  o.simulate.mix.custom = 1.0;  // without a user cell
  expect_error_naming(o, "custom_cell");
  o = small_options("", 2, 1);
  try {
    (void)generate_dataset(o);
    ADD_FAILURE() << "an empty out_dir was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("out_dir"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace difftriage::simulate
