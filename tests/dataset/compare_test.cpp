// dataset::compare: per-class frame statistics of two tiny datasets, worked out by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "difftriage/core/error.h"
#include "difftriage/dataset/compare.h"
#include "difftriage/io/image_io.h"
#include "support/test_support.h"

namespace difftriage::dataset {
namespace {
namespace fs = std::filesystem;

void write_frame(const fs::path& path, uint8_t level, int n_spots) {
  Image<uint8_t> image(64, 64, level);
  // 7 px apart: no spot falls inside another spot's 13x13 background window.
  for (int k = 0; k < n_spots; ++k) image(8 + 8 * (k / 8), 4 + 7 * (k % 8)) = 250;
  io::write_pgm(path, image.view());
}

// A: two flat no-crystal frames (100 and 120) and a good photo1 frame (100 with 8 spots).
// B: one flat frame at 90, blank with ice, without a quality file.
void make_datasets(const fs::path& a, const fs::path& b) {
  fs::create_directories(a);
  fs::create_directories(b);
  write_frame(a / "flat100.pgm", 100, 0);
  write_frame(a / "flat120.pgm", 120, 0);
  write_frame(a / "hit.pgm", 100, 8);
  testing::write_text(a / "multiclasses.txt",
                      "flat100.pgm 1 0 0 0 0 0 0.0 0.0\n"
                      "flat120.pgm 1 0 0 0 0 0 0.0 0.0\n"
                      "hit.pgm 0 1 0 0 0 0 0.2 0.0\n");
  testing::write_text(a / "categories1.txt",
                      "flat100.pgm noxtal 0.0 0.0\nflat120.pgm noxtal 0.0 0.0\n"
                      "hit.pgm good 0.2 0.0\n");
  write_frame(b / "ice.pgm", 90, 0);
  testing::write_text(b / "multiclasses.txt", "ice.pgm 1 0 0 0 1 0 0.0 0.0\n");
}

TEST(Compare, ClassesOfASample) {
  Sample s;
  EXPECT_TRUE(classes_of(s).empty());
  s.quality = Quality::kWeak;
  s.labels = std::array<uint8_t, kNumLabels>{0, 1, 1, 0, 1, 0};
  EXPECT_EQ(classes_of(s), (std::vector<std::string>{"q:weak", "photo1", "photo2", "ice"}));
}

TEST(Compare, AveragesFrameStatisticsPerClass) {
  testing::TempDir tmp;
  make_datasets(tmp / "a", tmp / "b");
  CompareOptions options;
  options.dir_a = tmp / "a";
  options.dir_b = tmp / "b";
  options.name_b = "theirs";
  const Comparison c = compare(options);
  EXPECT_EQ(c.class_names,
            (std::vector<std::string>{"blank", "photo1", "q:good", "q:noxtal", "ice"}));
  ASSERT_EQ(c.a.size(), 4u);
  ASSERT_EQ(c.b.size(), 2u);

  const ClassStats& blank = c.a.at("blank");
  EXPECT_EQ(blank.n_frames, 2);
  EXPECT_DOUBLE_EQ(blank.mean, 110.0);
  EXPECT_DOUBLE_EQ(blank.mean_percentile(50), 110.0);
  EXPECT_DOUBLE_EQ(blank.mean_percentile(5), 110.0);
  EXPECT_TRUE(std::isnan(blank.mean_percentile(42)));
  EXPECT_EQ(blank.fraction_above_185, 0.0);
  EXPECT_EQ(blank.mean_spots, 0.0);
  EXPECT_EQ(blank.median_spots, 0.0);
  ASSERT_FALSE(blank.radial_profile.empty());
  for (const double v : blank.radial_profile) EXPECT_DOUBLE_EQ(v, 110.0);
  EXPECT_EQ(c.a.at("q:noxtal").n_frames, 2);

  const ClassStats& photo1 = c.a.at("photo1");
  EXPECT_EQ(photo1.n_frames, 1);
  EXPECT_DOUBLE_EQ(photo1.fraction_above_185, 8.0 / 4096.0);
  EXPECT_DOUBLE_EQ(photo1.mean, (4088.0 * 100.0 + 8.0 * 250.0) / 4096.0);
  EXPECT_EQ(photo1.mean_spots, 8.0);
  EXPECT_EQ(photo1.median_spots, 8.0);
  EXPECT_DOUBLE_EQ(photo1.mean_percentile(50), 100.0);
  EXPECT_EQ(c.a.at("q:good").mean_spots, 8.0);

  EXPECT_DOUBLE_EQ(c.b.at("blank").mean, 90.0);
  EXPECT_EQ(c.b.at("ice").n_frames, 1);

  const nlohmann::json j = to_json(c);
  EXPECT_EQ(j["b"]["name"], "theirs");
  EXPECT_EQ(j["a"]["dir"], (tmp / "a").string());
  EXPECT_TRUE(j["classes"]["ice"]["a"].is_null());
  EXPECT_EQ(j["classes"]["ice"]["b"]["n_frames"], 1);
  EXPECT_EQ(j["classes"]["blank"]["a"]["mean_percentiles"]["p50"], 110.0);
  EXPECT_EQ(j["classes"]["photo1"]["a"]["mean_spots"], 8.0);
  EXPECT_TRUE(j["classes"]["photo1"]["b"].is_null());

  fs::create_directories(tmp / "out");
  write_comparison(tmp / "out", c);
  EXPECT_EQ(nlohmann::json::parse(testing::read_bytes(tmp / "out" / "compare.json")), j);
  for (const char* name : {"radial_blank.png", "radial_photo1.png", "radial_q_good.png",
                           "radial_q_noxtal.png", "radial_ice.png"}) {
    EXPECT_TRUE(fs::exists(tmp / "out" / name)) << name;
  }
}

TEST(Compare, ReadsAtMostMaxPerClassFrames) {
  testing::TempDir tmp;
  make_datasets(tmp / "a", tmp / "b");
  const ClassStatsMap stats = summarise_classes(load_dataset(tmp / "a"), 1);
  // The second flat frame is not read: both its classes already have a frame.
  EXPECT_EQ(stats.at("blank").n_frames, 1);
  EXPECT_DOUBLE_EQ(stats.at("blank").mean, 100.0);
  EXPECT_DOUBLE_EQ(stats.at("q:noxtal").mean, 100.0);
  EXPECT_EQ(stats.at("photo1").n_frames, 1);
  EXPECT_THROW(summarise_classes(load_dataset(tmp / "a"), 0), ConfigError);
  CompareOptions options;
  options.dir_a = tmp / "a";
  options.dir_b = tmp / "missing";
  EXPECT_THROW(compare(options), IoError);
}

}  // namespace
}  // namespace difftriage::dataset
