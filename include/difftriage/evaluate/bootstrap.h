/// Headline figures of a model's predictions with bootstrap 95 % intervals, optionally reweighted
/// to another dataset's label mix (`difftriage evaluate --bootstrap N --reweight-to DIR`).
///
/// Small sets (the 40 + 72 reference frames) make a single accuracy figure say little: the
/// interval is the 2.5th–97.5th percentile of the figure over N resamples of the frames drawn
/// with replacement. A test set simulated with one label mix says little about a set with
/// another: reweighting gives each frame the weight p_target(stratum) / p_ours(stratum), with the
/// stratum the frame's six labels (or its quality, when the target has only quality labels), so
/// every figure is the one the target's mix would see. No LibTorch.
///
///   auto weights = difftriage::evaluate::mix_weights(predictions.frames, reference);
///   auto figures = difftriage::evaluate::bootstrap_headline(predictions, {1000, 7, weights.weights});
///   for (const auto& [name, f] : figures) std::printf("%s %.3f [%.3f, %.3f]\n", ...);
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "difftriage/dataset/dataset.h"
#include "difftriage/evaluate/model_eval.h"

namespace difftriage::evaluate {

/// A figure and its bootstrap interval (NaN where undefined).
struct Interval {
  double value = 0.0;  ///< on all frames (weighted)
  double lo = 0.0;     ///< 2.5th percentile over the resamples
  double hi = 0.0;     ///< 97.5th percentile
  double chance = 0.0; ///< its chance level: 0.5 for balanced accuracy, the weighted majority
                       ///< share for quality accuracy, 0 for R²
  int64_t n = 0;       ///< frames that count for it
};

/// Per-frame weights that give a set of predictions a target dataset's label mix.
struct MixWeights {
  std::vector<double> weights;  ///< per frame (0 for frames of strata the target lacks)
  /// Share of the target's frames whose stratum our set has (the rest cannot be represented).
  double coverage = 0.0;
  int64_t n_strata = 0;  ///< strata of the target
  std::string stratum_kind;  ///< "labels" or "quality"
};

/// Weights that make `frames` (their truth) have the label mix of `target`. Strata: the six
/// labels when the target has a multiclasses.txt, else the quality class.
/// @throws ConfigError if the target has neither label file's truth for any frame.
MixWeights mix_weights(const std::vector<FramePrediction>& frames, const dataset::Dataset& target);

/// Options of bootstrap_headline.
struct BootstrapOptions {
  int n_resamples = 1000;  ///< ≥ 1
  uint64_t seed = 1;
  std::vector<double> weights;  ///< per frame; empty = all 1
};

/// The headline figures, in this order, each only when some frame carries its truth:
/// "<label> balanced accuracy" per label of the labels head (at the model's thresholds),
/// "photo1 | crystal", "photo2 | crystal", "multilattice | crystal" (balanced accuracy among
/// frames with a crystal), "quality accuracy", "mosaic1 R2" (crystal frames), "mosaic2 R2"
/// (multilattice frames), and "hit balanced accuracy" (p_hit against has-crystal at the model's
/// keep/veto point, thresholds.hit − uncertainty band, as classify vetoes). Frames with errors
/// are left out. @throws ConfigError for n_resamples < 1 or weights of the wrong size.
std::vector<std::pair<std::string, Interval>> bootstrap_headline(
    const ModelPredictions& predictions, const BootstrapOptions& options);

/// {"n_resamples", "seed", "reweighted_to": dir|null, "coverage", "figures": {name: {"value",
/// "lo", "hi", "chance", "n"}}} (NaN → null).
nlohmann::json to_json(const std::vector<std::pair<std::string, Interval>>& figures,
                       const BootstrapOptions& options, const std::string& reweighted_to,
                       double coverage);

/// A text table: figure, n, value, 95 % interval, chance.
std::string format_headline(const std::vector<std::pair<std::string, Interval>>& figures);

}  // namespace difftriage::evaluate
