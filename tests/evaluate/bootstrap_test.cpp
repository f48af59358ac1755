// evaluate::bootstrap_headline and mix_weights on predictions whose figures are known by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "difftriage/core/error.h"
#include "difftriage/evaluate/bootstrap.h"

namespace difftriage::evaluate {
namespace {

// A frame of truth `labels` whose labels head predicts `predicted` (probability 0.9 or 0.1).
FramePrediction frame(std::array<uint8_t, 6> labels, std::array<uint8_t, 6> predicted) {
  FramePrediction f;
  f.truth_labels = labels;
  f.truth_label_known.fill(1);
  f.truth_has_crystal = labels[0] == 0;
  for (size_t j = 0; j < 6; ++j) {
    f.label_probabilities.push_back(predicted[j] ? 0.9f : 0.1f);
    f.label_predictions.push_back(predicted[j]);
  }
  f.hit_probability = predicted[0] ? 0.1 : 0.9;
  return f;
}

const Interval& figure(const std::vector<std::pair<std::string, Interval>>& figures,
                       const std::string& name) {
  for (const auto& [n, iv] : figures) {
    if (n == name) return iv;
  }
  throw std::runtime_error("no figure " + name);
}

TEST(Bootstrap, PerfectPredictionsHaveAPointInterval) {
  ModelPredictions p;
  for (int k = 0; k < 20; ++k) {
    const std::array<uint8_t, 6> l = {static_cast<uint8_t>(k % 2), static_cast<uint8_t>(k % 2 == 0), 0, 0, 0, 0};
    p.frames.push_back(frame(l, l));
  }
  const auto figures = bootstrap_headline(p, {200, 3, {}});
  const Interval& blank = figure(figures, "blank balanced accuracy");
  EXPECT_DOUBLE_EQ(blank.value, 1.0);
  EXPECT_DOUBLE_EQ(blank.lo, 1.0);
  EXPECT_DOUBLE_EQ(blank.hi, 1.0);
  EXPECT_DOUBLE_EQ(blank.chance, 0.5);
  EXPECT_EQ(blank.n, 20);
  // photo1 among the 10 crystal frames: all photo1, all predicted so: one class present.
  EXPECT_DOUBLE_EQ(figure(figures, "photo1 | crystal").value, 1.0);
  EXPECT_EQ(figure(figures, "photo1 | crystal").n, 10);
  EXPECT_DOUBLE_EQ(figure(figures, "hit balanced accuracy").value, 1.0);
}

TEST(Bootstrap, MultilatticeOnVisibleSplitsLeavesHiddenSplitsOut) {
  // Crystal frames: 4 single-lattice (predicted single), 2 visible splits (predicted split),
  // 2 hidden splits (predicted single). Among crystals: positives 4, 2 found: 0.5·(2/4 + 1) =
  // 0.75; visible splits only: positives 2, both found: 1.0 on 6 frames.
  ModelPredictions p;
  const std::array<uint8_t, 6> single = {0, 1, 0, 0, 0, 0}, split = {0, 1, 0, 1, 0, 0};
  for (int k = 0; k < 4; ++k) p.frames.push_back(frame(single, single));
  for (const bool visible : {true, true, false, false}) {
    p.frames.push_back(frame(split, visible ? split : single));
    p.frames.back().truth_split_visible = visible;
  }
  auto figures = bootstrap_headline(p, {50, 1, {}});
  EXPECT_DOUBLE_EQ(figure(figures, "multilattice | crystal").value, 0.75);
  EXPECT_DOUBLE_EQ(figure(figures, "multilattice | visible splits").value, 1.0);
  EXPECT_EQ(figure(figures, "multilattice | visible splits").n, 6);
  // Without any sidecar visibility the figure is not reported.
  for (auto& f : p.frames) f.truth_split_visible.reset();
  figures = bootstrap_headline(p, {50, 1, {}});
  EXPECT_THROW(figure(figures, "multilattice | visible splits"), std::runtime_error);
}

TEST(Bootstrap, ReweightingGivesTheTargetsMixAndItsFigures) {
  // Ours: 3 frames of stratum A (photo1, predicted right) and 1 of B (photo2, predicted as
  // photo1). Target: one A, one B, one C (ice only; ours has none).
  ModelPredictions p;
  const std::array<uint8_t, 6> a = {0, 1, 0, 0, 0, 0}, b = {0, 0, 1, 0, 0, 0};
  for (int k = 0; k < 3; ++k) p.frames.push_back(frame(a, a));
  p.frames.push_back(frame(b, a));
  dataset::Dataset target;
  target.has_multilabel_file = true;
  for (const auto& l : {a, b, std::array<uint8_t, 6>{1, 0, 0, 0, 1, 0}}) {
    dataset::Sample s;
    s.labels = l;
    target.samples.push_back(s);
  }
  const MixWeights mix = mix_weights(p.frames, target);
  EXPECT_EQ(mix.stratum_kind, "labels");
  EXPECT_EQ(mix.n_strata, 3);
  EXPECT_NEAR(mix.coverage, 2.0 / 3.0, 1e-12);
  // A: (1/2) / (3/4) = 2/3 each; B: (1/2) / (1/4) = 2.
  ASSERT_EQ(mix.weights.size(), 4u);
  EXPECT_NEAR(mix.weights[0], 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(mix.weights[3], 2.0, 1e-12);
  // photo1: positives A (weight 2) all right, negative B (weight 2) wrong: balanced 0.5 either
  // way; unweighted too. photo2: positive B missed, negatives A right: 0.5.
  const auto figures = bootstrap_headline(p, {100, 1, mix.weights});
  EXPECT_DOUBLE_EQ(figure(figures, "photo1 balanced accuracy").value, 0.5);
  EXPECT_DOUBLE_EQ(figure(figures, "photo2 balanced accuracy").value, 0.5);
  EXPECT_THROW(bootstrap_headline(p, {0, 1, {}}), ConfigError);
  EXPECT_THROW(bootstrap_headline(p, {10, 1, {1.0}}), ConfigError);
}

TEST(Bootstrap, WeightsChangeQualityAccuracyAsTheMixDoes) {
  // 3 weak frames right, 1 good frame wrong: 75 % unweighted; weighted 1:3 it is 25 %.
  ModelPredictions p;
  for (int k = 0; k < 4; ++k) {
    FramePrediction f;
    f.truth_quality = static_cast<int>(k < 3 ? Quality::kWeak : Quality::kGood);
    f.quality = static_cast<int>(Quality::kWeak);
    f.hit_probability = std::nan("");
    p.frames.push_back(f);
  }
  EXPECT_DOUBLE_EQ(figure(bootstrap_headline(p, {10, 1, {}}), "quality accuracy").value, 0.75);
  const auto weighted = bootstrap_headline(p, {10, 1, {1.0 / 3, 1.0 / 3, 1.0 / 3, 3.0}});
  EXPECT_DOUBLE_EQ(figure(weighted, "quality accuracy").value, 0.25);
  EXPECT_DOUBLE_EQ(figure(weighted, "quality accuracy").chance, 0.75);
}

}  // namespace
}  // namespace difftriage::evaluate
