// Smoke test of `difftriage baseline` on a tiny simulated dataset: exit codes and output files.
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace difftriage {
namespace {
namespace fs = std::filesystem;
using testing::run_cli;
using testing::TempDir;

TEST(BaselineCli, ScoresASimulatedDatasetAndWritesMetrics) {
  TempDir tmp;
  const std::string data = (tmp / "sim").string(), out = (tmp / "out").string();
  auto r = run_cli({"simulate", "--out", data, "--count", "12", "--seed", "5", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_cli({"baseline", "--data", data, "--out", out, "--threads", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Progress on stderr (not a terminal here: the final line at least), none with --quiet.
  EXPECT_NE(r.err.find("baseline: 12/12 frames"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("chance"), std::string::npos) << r.out;
  const auto quiet = run_cli({"baseline", "--data", data, "--out", (tmp / "q").string(),
                              "--no-plots", "--quiet"});
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.err, "");
  EXPECT_NE(r.out.find("veto"), std::string::npos) << r.out;

  const auto metrics = nlohmann::json::parse(testing::read_bytes(fs::path(out) / "metrics.json"));
  EXPECT_EQ(metrics["n_frames"], 12);
  EXPECT_EQ(metrics["n_errors"], 0);
  ASSERT_TRUE(metrics["hit_finder"].is_object());
  for (const char* key : {"accuracy", "majority_accuracy", "balanced_accuracy", "precision",
                          "recall", "f1", "roc_auc", "pr_auc", "confusion", "positive_fraction"}) {
    EXPECT_TRUE(metrics["hit_finder"]["metrics"].contains(key)) << key;
  }
  EXPECT_EQ(metrics["hit_finder"]["min_spots"], 10);
  EXPECT_TRUE(metrics["hit_finder"]["veto"].contains("rejected_fraction"));
  EXPECT_TRUE(metrics.contains("ice"));
  EXPECT_TRUE(metrics.contains("badice"));
  for (const char* file : {"run.json", "roc.png", "pr.png", "hist_spots.png", "hist_ice.png"})
    EXPECT_TRUE(fs::exists(fs::path(out) / file)) << file;

  std::ifstream jsonl(fs::path(out) / "predictions.jsonl");
  std::string line;
  int n_lines = 0;
  while (std::getline(jsonl, line)) {
    const auto j = nlohmann::json::parse(line);
    EXPECT_TRUE(j.contains("n_spots") && j.contains("max_snr") && j.contains("ice_score") &&
                j.contains("truth") && j.contains("path"));
    ++n_lines;
  }
  EXPECT_EQ(n_lines, 12);
}

TEST(BaselineCli, BadArgumentsExitTwoAndMissingDataExitThree) {
  TempDir tmp;
  EXPECT_EQ(run_cli({"baseline", "--out", (tmp / "o").string()}).exit_code, 2);  // no --data
  EXPECT_EQ(run_cli({"baseline", "--data", "x", "--out", "y", "--threads", "0"}).exit_code, 2);
  EXPECT_EQ(run_cli({"baseline", "--data", "x", "--out", "y", "--keep-fraction", "2"}).exit_code,
            2);
  const auto r = run_cli(
      {"baseline", "--data", (tmp / "missing").string(), "--out", (tmp / "o").string()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("missing"), std::string::npos) << r.err;
}

TEST(BaselineCli, TakesAGeometryFileForTheIceRings) {
  TempDir tmp;
  const std::string data = (tmp / "sim").string();
  auto r = run_cli({"simulate", "--out", data, "--count", "4", "--seed", "3", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  testing::write_text(tmp / "g.json", R"({"wavelength_angstrom": 1.3, "distance_mm": 100,
      "pixel_size_mm": 0.22, "beam_center_fast_px": 256, "beam_center_slow_px": 256})");
  const fs::path out = tmp / "out";
  r = run_cli({"baseline", "--data", data, "--out", out.string(), "--no-plots", "--geometry",
               (tmp / "g.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto run = nlohmann::json::parse(testing::read_bytes(out / "run.json"));
  EXPECT_DOUBLE_EQ(run["options"]["geometry"]["pixel_size_mm"].get<double>(), 0.22) << run.dump();
  // The ice rings are looked for at the ice spacings: every candidate radius is one of them.
  std::ifstream jsonl(out / "predictions.jsonl");
  std::string line;
  while (std::getline(jsonl, line)) {
    const double radius = nlohmann::json::parse(line)["ice_radius_px"].get<double>();
    EXPECT_GT(radius, 158.0) << line;  // 3.897 Å at 1.3 Å, 100 mm, 0.22 mm: r = 158.3 px
  }
  // A key that is not one of the five (or six, seven) is a usage error naming the key.
  testing::write_text(tmp / "typo.json", R"({"wavelength_angstrom": 1.3, "distance": 100,
      "pixel_size_mm": 0.22, "beam_center_fast_px": 256, "beam_center_slow_px": 256})");
  r = run_cli({"baseline", "--data", data, "--out", (tmp / "o2").string(), "--no-plots",
               "--geometry", (tmp / "typo.json").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("'distance'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("typo.json"), std::string::npos) << r.err;
}

TEST(BaselineCli, BrokenFrameIsRecordedAndExitsThreeAfterWriting) {
  TempDir tmp;
  const fs::path data = tmp / "ds";
  fs::create_directories(data);
  testing::write_text(data / "bad.pgm", "P5\n8 8\n255\nxx");
  testing::write_text(data / "multiclasses.txt", "bad.pgm 1 0 0 0 0 0 0.0 0.0\n");
  const auto r = run_cli(
      {"baseline", "--data", data.string(), "--out", (tmp / "o").string(), "--no-plots"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("bad.pgm"), std::string::npos) << r.err;
  const auto metrics = nlohmann::json::parse(testing::read_bytes(tmp / "o" / "metrics.json"));
  EXPECT_EQ(metrics["n_errors"], 1);
  EXPECT_TRUE(metrics["hit_finder"].is_null());
}

}  // namespace
}  // namespace difftriage
