// `difftriage dataset compare`: per-class statistics of two datasets, exit codes.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "difftriage/io/image_io.h"
#include "support/test_support.h"

namespace difftriage {
namespace {
namespace fs = std::filesystem;
using testing::run_cli;
using testing::TempDir;

/// Two 64x64 frames: one flat blank at `level`, one with `n_spots` bright pixels (photo1, good).
void make_pair(const fs::path& dir, uint8_t level, int n_spots) {
  fs::create_directories(dir);
  Image<uint8_t> blank(64, 64, level), hit(64, 64, level);
  // 7 px apart: no spot falls inside another spot's 13x13 background window.
  for (int k = 0; k < n_spots; ++k) hit(8 + 8 * (k / 8), 4 + 7 * (k % 8)) = 250;
  io::write_pgm(dir / "b.pgm", blank.view());
  io::write_pgm(dir / "h.pgm", hit.view());
  testing::write_text(dir / "multiclasses.txt",
                      "b.pgm 1 0 0 0 0 0 0.0 0.0\nh.pgm 0 1 0 0 0 0 0.2 0.0\n");
  testing::write_text(dir / "categories1.txt", "b.pgm noxtal 0.0 0.0\nh.pgm good 0.2 0.0\n");
}

TEST(CompareCli, PutsPerClassStatisticsSideBySide) {
  TempDir tmp;
  make_pair(tmp / "a", 100, 8);
  make_pair(tmp / "b", 120, 16);
  const auto r = run_cli({"dataset", "compare", (tmp / "a").string(), (tmp / "b").string(),
                          "--out", (tmp / "cmp").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(testing::read_bytes(tmp / "cmp" / "compare.json"));
  const auto& photo1 = j["classes"]["photo1"];
  EXPECT_EQ(photo1["a"]["n_frames"], 1);
  EXPECT_NEAR(photo1["a"]["fraction_above_185"].get<double>(), 8.0 / 4096.0, 1e-12);
  EXPECT_NEAR(photo1["b"]["fraction_above_185"].get<double>(), 16.0 / 4096.0, 1e-12);
  EXPECT_EQ(photo1["a"]["mean_spots"], 8.0);
  EXPECT_EQ(photo1["b"]["mean_spots"], 16.0);
  EXPECT_EQ(j["classes"]["blank"]["b"]["mean_percentiles"]["p50"], 120.0);
  EXPECT_TRUE(fs::exists(tmp / "cmp" / "radial_photo1.png"));
  EXPECT_TRUE(fs::exists(tmp / "cmp" / "radial_q_good.png"));
}

TEST(CompareCli, MissingDatasetExitsThree) {
  TempDir tmp;
  make_pair(tmp / "a", 100, 1);
  EXPECT_EQ(run_cli({"dataset", "compare", (tmp / "a").string(), (tmp / "nope").string(), "--out",
                     (tmp / "cmp").string()})
                .exit_code,
            3);
  EXPECT_EQ(run_cli({"dataset", "compare", (tmp / "a").string()}).exit_code, 2);
}

}  // namespace
}  // namespace difftriage
