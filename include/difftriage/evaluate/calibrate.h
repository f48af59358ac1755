/// Calibration of the keep/veto decision (DESIGN.md "Real-time triage": never throw away a frame
/// with usable diffraction). From a model's predictions on a labelled calibration set, never the
/// test set, it chooses the hit threshold and uncertainty band that `classify` applies:
///
///   auto preds = difftriage::evaluate::predict_dataset("run/model", calib);
///   auto c = difftriage::evaluate::calibrate_veto(preds);      // keep every crystal frame
///   difftriage::evaluate::apply_veto_calibration(meta, c, {{"data", "calib"}});
///
/// p_hit is models::score_hit's (hit_score.h), the score `classify` compares with the threshold
/// set here, computed by predict_dataset through the same models::Classifier.
/// Rule: with t = the veto point of p_hit (metrics.h find_veto_point at keep_fraction) and band
/// b, the model's thresholds["hit"] becomes t + b (lowered by a few ulps where needed) and its
/// uncertainty_band b. models::decide then vetoes a frame only when p_hit < t, keeps it flagged
/// uncertain for t ≤ p_hit < t + 2b, and keeps it plainly above. Without an explicit band,
/// b = t: the uncertain zone is [t, 3t).
/// Does not include Torch.
#pragma once

#include <cstdint>
#include <optional>

#include <nlohmann/json.hpp>

#include "difftriage/evaluate/metrics.h"
#include "difftriage/evaluate/model_eval.h"
#include "difftriage/models/model_info.h"

namespace difftriage::evaluate {

struct VetoCalibrationOptions {
  /// Share of the calibration set's crystal frames that must be kept, in (0, 1]. 1 keeps all.
  double keep_fraction = 1.0;
  /// Half-width of the uncertainty band around the hit threshold (≥ 0); unset: the veto point.
  std::optional<double> band;
  /// Fewest crystal frames the set must hold; unset: min_crystal_frames_for(keep_fraction), the
  /// rule below. 0 turns the check off (the arithmetic on a tiny set, in tests).
  std::optional<int64_t> min_crystal_frames;
  /// When set, in (0, 1]: the veto point is lowered from the keep point to the smallest p_hit
  /// that still vetoes this share of the set's blanks, when that is lower — the widest margin to
  /// the crystal frames that this blank rejection allows (a frame unlike the set's crystal frames
  /// then needs a much lower score to be lost).
  std::optional<double> reject_fraction;
};

/// The smallest calibration set that supports a keep fraction k (the rule calibrate_veto
/// applies): with n crystal frames whose p_hit are exchangeable with an unseen crystal frame's,
/// a veto point at the lowest kept score misses the unseen frame with probability about
/// 1/(n + 1), so the set supports a keep fraction of at most n/(n + 1). The rule asks
/// n/(n + 1) ≥ min(k, 0.99): n ≥ ceil(k' / (1 − k')) with k' = min(k, 0.99) — 99 crystal frames
/// for k = 1 (and any k ≥ 0.99), 19 for 0.95, 9 for 0.9, 1 for 0.5. The 0.99 cap: k = 1 can
/// never be shown on a finite set; the rule asks for a 1 % miss rate at most.
[[nodiscard]] int64_t min_crystal_frames_for(double keep_fraction) noexcept;

struct VetoCalibration {
  VetoPoint point;              ///< the keep point on the calibration set (find_veto_point)
  /// The point classify vetoes below: point.threshold, or lower with reject_fraction.
  double veto_threshold = 0;
  double hit_threshold = 0;     ///< → ModelMetadata::thresholds["hit"]
  double uncertainty_band = 0;  ///< → ModelMetadata::uncertainty_band
  /// What the decision does to the calibration set (models::decide with the two values above).
  int64_t n_crystal = 0, n_crystal_uncertain = 0, n_crystal_vetoed = 0;
  int64_t n_blank = 0, n_blank_uncertain = 0, n_blank_vetoed = 0;
  int64_t n_skipped = 0;  ///< frames without has-crystal truth, unreadable, or without p_hit
};

/// Calibrates on the predictions' frames that were read and know whether they hold a crystal.
/// Pure. @throws ConfigError naming keep_fraction, band or min_crystal_frames when out of
/// range; FormatError, saying why, when the set has no blank frame, fewer crystal frames than
/// the rule above, or when the hit threshold t + b would exceed 1 (a threshold above 1 is not a
/// probability: classify would veto every frame below p_hit = t, however sure it is a hit).
[[nodiscard]] VetoCalibration calibrate_veto(const ModelPredictions& predictions,
                                             const VetoCalibrationOptions& options = {});

/// Writes the calibration into `metadata` (thresholds["hit"], uncertainty_band) and records it,
/// with `source` (where the calibration set came from, the command), in
/// provenance["veto_calibration"].
void apply_veto_calibration(models::ModelMetadata& metadata, const VetoCalibration& calibration,
                            const nlohmann::json& source);

/// provenance["veto_calibration"] of apply_veto_calibration, without `source`.
[[nodiscard]] nlohmann::json to_json(const VetoCalibration& calibration);

}  // namespace difftriage::evaluate
