// Familiarity (models/familiarity.h): the distance on a known Gaussian, the threshold quantile,
// JSON round trip and refusals, and a Classifier whose model carries one flagging a frame.
#include "difftriage/models/familiarity.h"

#include <gtest/gtest.h>
#include <torch/utils.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "difftriage/core/error.h"
#include "difftriage/models/checkpoint.h"
#include "difftriage/models/classifier.h"
#include "difftriage/models/network.h"

namespace difftriage::models {
namespace {

namespace fs = std::filesystem;

// n frames of d features: independent Gaussians of standard deviation 1 + j (feature j) around
// 10·j, so the principal directions are the axes in reverse order.
std::vector<std::vector<float>> gaussian_frames(int n, int d, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> z;
  std::vector<std::vector<float>> frames(static_cast<size_t>(n), std::vector<float>(d));
  for (auto& f : frames) {
    for (int j = 0; j < d; ++j) f[j] = static_cast<float>(10.0 * j + (1.0 + j) * z(rng));
  }
  return frames;
}

TEST(Familiarity, DistanceIsAboutOneOnTheSetAndLargeOffIt) {
  const auto frames = gaussian_frames(4000, 8, 7);
  const auto fam = fit_familiarity(frames, {3, 0.99});
  ASSERT_EQ(fam.components.size(), 3u);
  // Largest variance first: feature 7 (sd 8), then 6, then 5; the rest average (1+4+9+16+25)/5.
  EXPECT_NEAR(std::abs(fam.components[0][7]), 1.0, 0.01);
  EXPECT_NEAR(fam.variances[0], 64.0, 64.0 * 0.1);
  EXPECT_NEAR(fam.residual_variance, 11.0, 11.0 * 0.1);
  // d² averages Σ λ_i/λ_i + Σ_rest var/σ² over D = (3 + 5)/8 = 1 on the set.
  double sum = 0;
  for (const auto& f : frames) sum += fam.distance(f) * fam.distance(f);
  EXPECT_NEAR(sum / static_cast<double>(frames.size()), 1.0, 0.03);
  // The threshold is the 0.99 quantile: 1 % of the set lies above it.
  int above = 0;
  for (const auto& f : frames) above += fam.unfamiliar(f);
  EXPECT_NEAR(above, 40, 1);
  // Sixty standard deviations off along the smallest feature (its share of the residual is
  // small), and two along a principal one.
  auto off = std::vector<float>(8);
  for (int j = 0; j < 8; ++j) off[j] = static_cast<float>(10.0 * j);
  EXPECT_LT(fam.distance(off), 0.2);
  off[0] += 60.0f;
  EXPECT_GT(fam.distance(off), fam.threshold);
  off[0] -= 60.0f;
  off[7] += 8.0f * 2.0f;  // 2 sd along the first component: still familiar
  EXPECT_FALSE(fam.unfamiliar(off));
  EXPECT_THROW(fam.distance(std::vector<float>(7)), ConfigError);
}

TEST(Familiarity, JsonRoundTripAndRefusals) {
  const auto fam = fit_familiarity(gaussian_frames(200, 6, 3), {2, 0.999});
  const auto back = familiarity_from_json(to_json(fam), "m/model.json");
  const auto probe = gaussian_frames(1, 6, 99).front();
  EXPECT_DOUBLE_EQ(back.distance(probe), fam.distance(probe));
  EXPECT_DOUBLE_EQ(back.threshold, fam.threshold);
  EXPECT_EQ(back.n_frames, 200);
  auto bad = to_json(fam);
  bad["variances"][0] = -1.0;
  try {
    familiarity_from_json(bad, "m/model.json");
    ADD_FAILURE() << "negative variance accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("m/model.json"), std::string::npos) << e.what();
  }
  bad = to_json(fam);
  bad["components"][1] = std::vector<double>(5, 0.0);
  EXPECT_THROW(familiarity_from_json(bad, "x"), FormatError);
  bad = to_json(fam);
  bad.erase("mean");
  EXPECT_THROW(familiarity_from_json(bad, "x"), FormatError);
  EXPECT_THROW(fit_familiarity(gaussian_frames(4, 6, 1), {3, 0.99}), ConfigError);  // too few
  EXPECT_THROW(fit_familiarity(gaussian_frames(50, 6, 1), {6, 0.99}), ConfigError);
  EXPECT_THROW(fit_familiarity(gaussian_frames(50, 6, 1), {2, 0.0}), ConfigError);
}

TEST(Familiarity, AClassifierFlagsAFrameUnlikeItsCalibrationFrames) {
  torch::manual_seed(11);
  const fs::path dir =
      fs::temp_directory_path() / ("dt_familiarity_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  auto meta = default_metadata("compact", {"labels"});
  meta.preprocess.input_size = 32;
  auto net = make_network(meta);
  net->eval();
  save_checkpoint(dir / "plain", net, meta);
  const auto plain = Classifier::load(dir / "plain");
  // Calibration frames: faint noise; the odd one: a bright checkerboard.
  std::mt19937 rng(5);
  std::poisson_distribution<int> counts(30);
  std::vector<AnyImage> calib;
  for (int i = 0; i < 60; ++i) {
    Image<uint16_t> frame(40, 40, 0);
    for (int64_t k = 0; k < frame.size(); ++k) frame.data()[k] = static_cast<uint16_t>(counts(rng));
    calib.emplace_back(std::move(frame));
  }
  std::vector<std::vector<float>> features;
  for (const auto& p : plain.classify(calib)) {
    EXPECT_FALSE(p.familiarity_distance.has_value());
    EXPECT_FALSE(p.unfamiliar);
    features.push_back(p.trunk_features);
  }
  ASSERT_EQ(static_cast<int64_t>(features.front().size()), net->feature_size());
  meta.familiarity = to_json(fit_familiarity(features, {4, 1.0}));
  save_checkpoint(dir / "familiar", net, meta);
  const auto clf = Classifier::load(dir / "familiar");
  const auto same = clf.classify(calib[3]);
  ASSERT_TRUE(same.familiarity_distance.has_value());
  EXPECT_FALSE(same.unfamiliar);
  Image<uint16_t> odd(40, 40, 0);
  for (int64_t s = 0; s < 40; ++s) {
    for (int64_t f = 0; f < 40; ++f) odd(s, f) = ((s / 4 + f / 4) % 2) ? 60000 : 0;
  }
  const auto p = clf.classify(AnyImage(odd));
  EXPECT_TRUE(p.unfamiliar) << *p.familiarity_distance;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace difftriage::models
