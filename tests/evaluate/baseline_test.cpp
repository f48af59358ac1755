// The classical-baseline runner on a tiny synthetic dataset written to a temporary folder.
#include "difftriage/evaluate/baseline.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "difftriage/core/error.h"
#include "difftriage/dataset/dataset.h"
#include "difftriage/io/image_io.h"
#include "features/synthetic.h"
#include "support/test_support.h"

namespace difftriage::evaluate {
namespace {
namespace fs = std::filesystem;
using features::test::add_ring;
using features::test::add_spot;
using features::test::noise_frame;

enum class Kind { kBlank, kHit, kIce };

void write_frame(const fs::path& path, Kind kind, uint64_t seed) {
  Image<float> img = noise_frame(128, 110.0, 8.0, seed);
  if (kind == Kind::kHit) {
    for (int i = 0; i < 5; ++i)
      for (int j = 0; j < 4; ++j) add_spot(img, 14.5 + 22 * i, 14.5 + 25 * j, 120.0, 0.8);
  } else if (kind == Kind::kIce) {
    add_ring(img, 64, 64, 40, 30.0, 1.0);
  }
  Image<uint8_t> out(img.n_slow(), img.n_fast());
  for (int64_t i = 0; i < img.size(); ++i)
    out.data()[i] = static_cast<uint8_t>(std::clamp(std::lround(img.data()[i]), 0L, 255L));
  io::write_pgm(path, out.view());
}

/// 8 frames: blanks 0,3,6 (6 also has ice), hits 1,2,4,5,7; plus "broken.pgm", which is not an
/// image.
fs::path make_dataset(const testing::TempDir& tmp) {
  const fs::path dir = tmp / "ds";
  fs::create_directories(dir);
  std::string rows;
  for (int i = 0; i < 8; ++i) {
    const std::string name = "f" + std::to_string(i) + ".pgm";
    const Kind kind = i == 6 ? Kind::kIce : (i % 3 == 0 ? Kind::kBlank : Kind::kHit);
    write_frame(dir / name, kind, 100 + static_cast<uint64_t>(i));
    if (kind == Kind::kHit) rows += name + " 0 1 0 0 0 0 0.2 0.0\n";
    if (kind == Kind::kBlank) rows += name + " 1 0 0 0 0 0 0.0 0.0\n";
    if (kind == Kind::kIce) rows += name + " 1 0 0 0 1 0 0.0 0.0\n";
  }
  testing::write_text(dir / "broken.pgm", "P5\n128 128\n255\nshort");
  rows += "broken.pgm 0 1 0 0 0 0 0.2 0.0\n";
  testing::write_text(dir / "multiclasses.txt", rows);
  return dir;
}

TEST(Baseline, ScoresFramesInOrderAndRecordsBrokenOnes) {
  testing::TempDir tmp;
  const auto ds = dataset::load_dataset(make_dataset(tmp));
  BaselineOptions options;
  options.n_threads = 3;
  const auto frames = score_dataset(ds, options);
  ASSERT_EQ(frames.size(), 9u);
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(frames[i].file, "f" + std::to_string(i) + ".pgm");
    ASSERT_TRUE(frames[i].ok()) << frames[i].error;
    const bool hit = i % 3 != 0 && i != 6;
    EXPECT_EQ(*frames[i].truth.has_crystal, hit);
    if (hit) {
      EXPECT_EQ(frames[i].scores.n_spots, 20) << i;
      EXPECT_GT(frames[i].scores.max_snr, 5.0);
    } else {
      EXPECT_EQ(frames[i].scores.n_spots, 0) << i;
      EXPECT_EQ(frames[i].scores.max_snr, 0.0);
    }
  }
  EXPECT_TRUE(*frames[6].truth.ice);
  EXPECT_GT(frames[6].scores.ice_score, options.ice_threshold);
  EXPECT_FALSE(frames[8].ok());
  EXPECT_NE(frames[8].error.find("broken.pgm"), std::string::npos) << frames[8].error;

  // Same results with one thread.
  options.n_threads = 1;
  const auto again = score_dataset(ds, options);
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(again[i].scores.n_spots, frames[i].scores.n_spots);
    EXPECT_EQ(again[i].scores.ice_score, frames[i].scores.ice_score);
  }

  const auto report = evaluate_baseline(frames, options);
  EXPECT_EQ(report.n_frames, 9);
  EXPECT_EQ(report.n_scored, 8);
  EXPECT_EQ(report.n_errors, 1);
  ASSERT_TRUE(report.hit && report.hit_veto && report.ice && report.badice);
  EXPECT_EQ(report.hit->n, 8);
  EXPECT_EQ(report.hit->n_positive, 5);
  EXPECT_DOUBLE_EQ(report.hit->roc_auc, 1.0);
  EXPECT_DOUBLE_EQ(report.hit->accuracy, 1.0);
  EXPECT_DOUBLE_EQ(report.hit->majority_accuracy, 5.0 / 8.0);
  EXPECT_DOUBLE_EQ(report.hit_veto->threshold, 20.0);
  EXPECT_EQ(report.hit_veto->n_negative_rejected, 3);
  EXPECT_DOUBLE_EQ(report.ice->roc_auc, 1.0);
  EXPECT_EQ(report.ice->n_positive, 1);
  EXPECT_EQ(report.badice->n_positive, 0);
  EXPECT_TRUE(std::isnan(report.badice->roc_auc));

  const auto j = to_json(report);
  EXPECT_EQ(j["n_errors"], 1);
  EXPECT_EQ(j["hit_finder"]["min_spots"], 10);
  EXPECT_EQ(j["hit_finder"]["metrics"]["roc_auc"], 1.0);
  EXPECT_EQ(j["hit_finder"]["veto"]["threshold"], 20.0);
  EXPECT_TRUE(j["badice"]["metrics"]["roc_auc"].is_null());
  const auto line = to_json(frames[8]);
  EXPECT_TRUE(line["n_spots"].is_null());
  EXPECT_TRUE(line["error"].is_string());
  EXPECT_EQ(to_json(frames[1])["n_spots"], 20);
  EXPECT_EQ(to_json(frames[1])["truth"]["has_crystal"], true);
  EXPECT_TRUE(to_json(frames[1])["truth"]["quality"].is_null());

  const std::string table = format_baseline(report);
  EXPECT_NE(table.find("chance"), std::string::npos);
  EXPECT_NE(table.find("veto"), std::string::npos);
}

TEST(Baseline, SidecarsGiveTheVetoOnFramesWithVisibleDiffraction) {
  testing::TempDir tmp;
  const fs::path dir = make_dataset(tmp);
  // A crystal frame whose diffraction is too faint for any bright spot: looks blank.
  write_frame(dir / "faint.pgm", Kind::kBlank, 200);
  std::string rows = "faint.pgm 0 1 0 0 0 0 0.1 0.0\n";
  for (int i = 0; i < 8; ++i) {
    const std::string stem = "f" + std::to_string(i);
    const bool hit = i % 3 != 0 && i != 6;
    testing::write_text(dir / (stem + ".json"),
                        std::string(R"({"stats": {"n_bright": )") + (hit ? "20" : "0") + "}}");
  }
  testing::write_text(dir / "faint.json", R"({"stats": {"n_bright": 0}})");
  {
    std::ifstream in(dir / "multiclasses.txt");
    rows = std::string(std::istreambuf_iterator<char>(in), {}) + rows;
  }
  testing::write_text(dir / "multiclasses.txt", rows);
  const auto frames = score_dataset(dataset::load_dataset(dir));
  ASSERT_EQ(frames.size(), 10u);
  EXPECT_EQ(*frames[9].truth.bright_spots, 0);
  EXPECT_EQ(*frames[1].truth.bright_spots, 20);
  const auto report = evaluate_baseline(frames);
  ASSERT_TRUE(report.hit_veto && report.hit_veto_visible);
  EXPECT_DOUBLE_EQ(report.hit_veto->threshold, 0.0);  // keeping the faint frame keeps all
  EXPECT_EQ(report.hit_veto->n_negative_rejected, 0);
  EXPECT_EQ(report.hit_veto_visible->n_positive, 5);
  EXPECT_DOUBLE_EQ(report.hit_veto_visible->threshold, 20.0);
  EXPECT_EQ(report.hit_veto_visible->n_negative_rejected, 3);
  EXPECT_EQ(to_json(report)["hit_finder"]["veto_visible"]["n_negative_rejected"], 3);
  EXPECT_EQ(to_json(frames[9])["truth"]["bright_spots"], 0);
  EXPECT_NE(format_baseline(report).find(">= 1 bright spot"), std::string::npos);
}

TEST(Baseline, QualityOnlyTruthAndOptionChecks) {
  dataset::Sample s;
  s.quality = Quality::kWeak;
  EXPECT_TRUE(*baseline_truth(s).has_crystal);
  EXPECT_FALSE(baseline_truth(s).ice.has_value());
  s.quality = Quality::kNoxtal;
  EXPECT_FALSE(*baseline_truth(s).has_crystal);
  s.labels = std::array<uint8_t, kNumLabels>{0, 1, 0, 0, 1, 1};
  EXPECT_TRUE(*baseline_truth(s).has_crystal);  // multilabel row wins
  EXPECT_TRUE(*baseline_truth(s).badice);

  dataset::Dataset empty;
  BaselineOptions options;
  options.n_threads = 0;
  EXPECT_THROW((void)score_dataset(empty, options), ConfigError);
  const auto report = evaluate_baseline({}, {});
  EXPECT_FALSE(report.hit.has_value());
  EXPECT_TRUE(to_json(report)["hit_finder"].is_null());
}

}  // namespace
}  // namespace difftriage::evaluate
