// Smoke tests of the difftriage executable: exit codes 0/2/3 and the files each command writes.
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
using testing::write_text;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

/// A dataset of `n` 16x16 8-bit PGM frames with both label files; frame i has value 100 + i.
void make_dataset(const fs::path& dir, int n) {
  std::string multi, cats;
  for (int i = 0; i < n; ++i) {
    const std::string name = "fake_" + std::to_string(i) + ".pgm";
    Image<uint8_t> img(16, 16, static_cast<uint8_t>(100 + i));
    img(8, 8) = 250;
    fs::create_directories(dir);
    io::write_pgm(dir / name, img.view());
    const bool blank = i % 3 == 0;
    multi += name + (blank ? " 1 0 0 0 0 0 0.0 0.0\n" : " 0 1 0 0 1 0 0.25 0.0\n");
    cats += name + (blank ? " noxtal 0.0 0.0\n" : " good 0.25 0.0\n");
  }
  write_text(dir / "multiclasses.txt", multi);
  write_text(dir / "categories1.txt", cats);
}

TEST(Cli, UsageErrorsExitTwo) {
  EXPECT_EQ(run_cli({}).exit_code, 2);
  EXPECT_EQ(run_cli({"no-such-command"}).exit_code, 2);
  EXPECT_EQ(run_cli({"info"}).exit_code, 2);  // missing argument
  const auto r = run_cli({"dataset", "stats", "x", "--out", "y", "--grid", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "--grid")) << r.err;
  EXPECT_EQ(run_cli({"dataset", "split", "x", "--out", "y", "--bogus"}).exit_code, 2);
}

TEST(Cli, HelpAndVersionExitZero) {
  const auto r = run_cli({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(contains(r.out, "dataset"));
  EXPECT_EQ(run_cli({"dataset", "stats", "--help"}).exit_code, 0);
  EXPECT_EQ(run_cli({"--version"}).exit_code, 0);
}

TEST(Cli, InfoReportsFramesAndFailsOnBadOnes) {
  TempDir tmp;
  Image<uint16_t> img(4, 6, 1000);
  img(1, 2) = 65535;
  io::write_pgm(tmp / "a.pgm", img.view());
  auto r = run_cli({"info", "--json", (tmp / "a.pgm").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["format"], "pgm");
  EXPECT_EQ(j["dtype"], "uint16");
  EXPECT_EQ(j["n_slow"], 4);
  EXPECT_EQ(j["n_fast"], 6);
  EXPECT_EQ(j["pixels"]["max"], 65535);

  write_text(tmp / "bad.pgm", "P5\n4 4\n255\nxx");  // truncated
  r = run_cli({"info", (tmp / "bad.pgm").string()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_TRUE(contains(r.err, "bad.pgm")) << r.err;
  EXPECT_EQ(run_cli({"info", (tmp / "missing.pgm").string()}).exit_code, 3);
}

TEST(Cli, DatasetCheckListsEveryProblemWithFileAndLine) {
  TempDir tmp;
  make_dataset(tmp / "ds", 3);
  auto r = run_cli({"dataset", "check", (tmp / "ds").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  write_text(tmp / "ds" / "multiclasses.txt",
             "fake_0.pgm 1 0 0 0 0 0 0.0 0.0\n"
             "fake_1.pgm 0 2 0 0 0 0 0.1 0.0\n"
             "../escape.pgm 0 1 0 0 0 0 0.1 0.0\n"
             "missing.pgm 0 1 0 0 0 0 0.1 0.0\n");
  r = run_cli({"dataset", "check", (tmp / "ds").string()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_TRUE(contains(r.err, "multiclasses.txt:2")) << r.err;
  EXPECT_TRUE(contains(r.err, "multiclasses.txt:3")) << r.err;
  EXPECT_TRUE(contains(r.err, "missing.pgm")) << r.err;
}

TEST(Cli, DatasetStatsWritesFiguresAndNumbers) {
  TempDir tmp;
  make_dataset(tmp / "ds", 6);
  const auto r = run_cli({"dataset", "stats", (tmp / "ds").string(), "--out", (tmp / "st").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* f : {"label_frequency.png", "label_correlation.png", "quality_frequency.png",
                        "sample_grid.png", "pixel_histogram_image.png",
                        "pixel_histogram_middle_row.png", "middle_row_stripe.png", "stats.json",
                        "run.json"}) {
    EXPECT_TRUE(fs::exists(tmp / "st" / f)) << f;
  }
  const auto j = nlohmann::json::parse(testing::read_bytes(tmp / "st" / "stats.json"));
  EXPECT_EQ(j["n_samples"], 6);
  // 2 of 6 frames are blank: chance accuracy for blank is 4/6.
  bool found = false;
  for (const auto& c : j["columns"]) {
    if (c["name"] == "blank") {
      found = true;
      EXPECT_EQ(c["n_positive"], 2);
      EXPECT_NEAR(c["majority_accuracy"].get<double>(), 4.0 / 6.0, 1e-12);
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(run_cli({"dataset", "stats", (tmp / "nope").string(), "--out", (tmp / "o").string()})
                .exit_code,
            3);
}

TEST(Cli, DatasetSplitIsDeterministic) {
  TempDir tmp;
  make_dataset(tmp / "ds", 30);
  auto split = [&](const std::string& out, const std::string& seed) {
    return run_cli({"dataset", "split", (tmp / "ds").string(), "--out", (tmp / out).string(),
                    "--fractions", "0.6,0.2,0.2", "--seed", seed});
  };
  ASSERT_EQ(split("a", "7").exit_code, 0);
  ASSERT_EQ(split("b", "7").exit_code, 0);
  EXPECT_EQ(testing::read_bytes(tmp / "a" / "train" / "multiclasses.txt"),
            testing::read_bytes(tmp / "b" / "train" / "multiclasses.txt"));
  EXPECT_EQ(run_cli({"dataset", "check", (tmp / "a" / "test").string()}).exit_code, 0);
  const auto bad = split("c", "x");
  EXPECT_EQ(bad.exit_code, 2);
  const auto r = run_cli({"dataset", "split", (tmp / "ds").string(), "--out", (tmp / "d").string(),
                          "--fractions", "0.5,0.2"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "fractions")) << r.err;
}

}  // namespace
}  // namespace difftriage
