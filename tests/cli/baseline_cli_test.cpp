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
  EXPECT_NE(r.out.find("chance"), std::string::npos) << r.out;
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
