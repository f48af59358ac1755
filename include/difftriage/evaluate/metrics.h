/// Honest evaluation metrics (DESIGN.md, "Learning"; lesson 2 of the study: with unbalanced
/// labels plain accuracy lies). Every result carries its chance baseline beside the accuracy.
/// No LibTorch: scores, predictions and truth come in as plain vectors.
///
///   std::vector<double> scores = {0.9, 0.2, 0.7};
///   std::vector<uint8_t> truth = {1, 0, 0};
///   auto m = difftriage::evaluate::evaluate_binary(scores, truth, {/*threshold=*/0.5});
///   std::cout << difftriage::evaluate::format_binary_table({{"hit", m}});
///   nlohmann::json j = difftriage::evaluate::to_json(m);   // NaN -> null
///
/// Undefined values (precision with no predicted positive, an AUC with only one class present,
/// R² of a constant truth, …) are NaN — never a made-up 0 or 1 — and become `null` in JSON and
/// "n/a" in the text tables.
///
/// Thread-safety: every function here is pure and may be called concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace difftriage::evaluate {

/// Confusion counts of a binary decision.
struct ConfusionCounts {
  int64_t tp = 0;  ///< truth 1, predicted 1
  int64_t fp = 0;  ///< truth 0, predicted 1
  int64_t tn = 0;  ///< truth 0, predicted 0
  int64_t fn = 0;  ///< truth 1, predicted 0
};

/// ROC curve: one point per distinct score, thresholds descending. The first point is (0, 0)
/// with threshold +inf (nothing predicted positive); the last is (1, 1) when both classes exist.
/// A point at threshold t counts "score >= t" as positive. Rates are NaN when their class is
/// absent.
struct RocCurve {
  std::vector<double> thresholds;
  std::vector<double> fpr;  ///< false-positive rate, fp / negatives
  std::vector<double> tpr;  ///< true-positive rate (recall), tp / positives
};

/// Precision–recall curve: one point per distinct score, thresholds descending ("score >= t" is
/// positive), so recall never decreases along the vectors. No artificial end point is added.
struct PrCurve {
  std::vector<double> thresholds;
  std::vector<double> recall;     ///< NaN for every point when there is no positive
  std::vector<double> precision;  ///< always defined (each threshold predicts ≥ 1 positive)
};

/// Options of evaluate_binary.
struct BinaryOptions {
  /// Decision rule: predicted positive iff score >= threshold (reported as `threshold`).
  double threshold = 0.5;
  /// Also fill the ROC and PR curves (one point per distinct score).
  bool with_curves = true;
  /// When set, the decision rule instead: predicted positive iff is_positive(score) — e.g. the
  /// hit row's models::decide_hit(p, metadata) != kNo, classify's keep, which also keeps the
  /// uncertain band below the threshold. `threshold` is still reported.
  std::function<bool(double score)> is_positive = {};
};

/// Metrics of a binary decision plus the threshold-free ranking quality of its score.
struct BinaryMetrics {
  double threshold = 0.5;  ///< the decision threshold used (score >= threshold is positive)
  int64_t n = 0;           ///< samples
  int64_t n_positive = 0;  ///< truth 1
  int64_t n_negative = 0;  ///< truth 0
  ConfusionCounts confusion;
  double accuracy = 0;           ///< (tp + tn) / n; NaN when n = 0
  /// Chance baseline: accuracy of always predicting the majority class, max(P, N) / n.
  double majority_accuracy = 0;
  int majority_class = 0;         ///< 1 if P > N, else 0 (a tie counts as 0)
  double positive_fraction = 0;   ///< P / n: the PR-AUC (and precision) of a random ranking
  /// Mean of the per-class recalls over the classes present in the truth (sklearn's
  /// balanced_accuracy_score): (recall + specificity) / 2 with both classes; with one class
  /// present it is that class's recall. With both classes, always predicting one class (the
  /// majority or not) scores exactly 0.5: the chance level. NaN when n = 0.
  double balanced_accuracy = 0;
  double precision = 0;    ///< tp / (tp + fp); NaN when nothing is predicted positive
  double recall = 0;       ///< tp / P; NaN when P = 0
  double specificity = 0;  ///< tn / N; NaN when N = 0
  /// 2 tp / (2 tp + fp + fn); NaN only when that denominator is 0 (no positive in truth or
  /// prediction). With positives but none predicted it is 0.
  double f1 = 0;
  /// Area under the ROC curve by the Mann–Whitney U statistic: the probability that a random
  /// positive scores above a random negative, a tie counting 0.5 (mid-ranks). NaN unless both
  /// classes are present.
  double roc_auc = 0;
  /// Average precision as sklearn's average_precision_score: Σ_k (R_k − R_{k−1}) · P_k over the
  /// distinct thresholds in descending order (step-wise, no interpolation; tied scores enter
  /// together). NaN when P = 0; 1.0 when N = 0 and P > 0.
  double pr_auc = 0;
  RocCurve roc;  ///< empty unless BinaryOptions::with_curves
  PrCurve pr;    ///< empty unless BinaryOptions::with_curves
};

/// Evaluates scores against 0/1 truth. An empty input gives n = 0 and NaN rates.
/// @throws ConfigError if the sizes differ, a truth value is not 0 or 1, a score is NaN, or the
///         threshold is NaN (the message names the index).
[[nodiscard]] BinaryMetrics evaluate_binary(const std::vector<double>& scores,
                                            const std::vector<uint8_t>& truth,
                                            const BinaryOptions& options = {});

/// Mann–Whitney ROC-AUC alone (see BinaryMetrics::roc_auc). Same preconditions.
[[nodiscard]] double roc_auc(const std::vector<double>& scores, const std::vector<uint8_t>& truth);
/// Average precision alone (see BinaryMetrics::pr_auc). Same preconditions.
[[nodiscard]] double average_precision(const std::vector<double>& scores,
                                       const std::vector<uint8_t>& truth);

/// Per-class figures of a multiclass decision.
struct ClassMetrics {
  std::string name;
  int64_t support = 0;    ///< truth count
  int64_t predicted = 0;  ///< prediction count
  double precision = 0;   ///< NaN when never predicted
  double recall = 0;      ///< NaN when absent from the truth
  double f1 = 0;          ///< 2 tp / (support + predicted); NaN when both are 0
};

/// Metrics of a K-way decision (quality: 5 classes).
struct MulticlassMetrics {
  int64_t n = 0;
  std::vector<std::string> class_names;
  /// K×K counts, row-major: confusion[t * K + p] = samples of truth class t predicted as p.
  std::vector<int64_t> confusion;
  double accuracy = 0;           ///< NaN when n = 0
  double majority_accuracy = 0;  ///< share of the most common truth class (chance baseline)
  std::string majority_class;    ///< its name (the first one on a tie); empty when n = 0
  /// Mean recall over the classes present in the truth (chance level 1 / #present classes).
  double balanced_accuracy = 0;
  /// Mean F1 over the classes that appear in the truth or the predictions (a class absent from
  /// both has no defined F1 and is left out; one present but never right counts 0).
  double macro_f1 = 0;
  std::vector<ClassMetrics> per_class;  ///< class_names order
};

/// Evaluates class indices in [0, K) with K = class_names.size().
/// @throws ConfigError if the sizes differ, K < 2, or an index is outside [0, K) (naming it).
[[nodiscard]] MulticlassMetrics evaluate_multiclass(const std::vector<int>& truth,
                                                    const std::vector<int>& predicted,
                                                    const std::vector<std::string>& class_names);

/// Errors of a regression (mosaic1, mosaic2).
struct RegressionMetrics {
  int64_t n = 0;  ///< samples evaluated (after the mask)
  double mae = 0;   ///< mean |pred − truth|; NaN when n = 0
  double rmse = 0;  ///< sqrt(mean (pred − truth)²); NaN when n = 0
  /// 1 − SS_res / SS_tot with SS_tot = Σ (truth − mean truth)². NaN when SS_tot = 0 (constant
  /// truth, or n < 2). 0 is the level of always predicting the mean; it can be negative.
  double r2 = 0;
  double truth_mean = 0;  ///< NaN when n = 0
  /// Chance baselines: the MAE and RMSE of always predicting truth_mean (RMSE = population
  /// standard deviation of the truth).
  double baseline_mae = 0;
  double baseline_rmse = 0;
};

/// Evaluates predictions against truth, optionally on a subset: when `mask` is non-empty only
/// samples with mask[i] != 0 count (mosaic2 is evaluated on multilattice frames only).
/// @throws ConfigError if the sizes differ (mask: when non-empty) or a value that counts is not
///         finite (naming the index).
[[nodiscard]] RegressionMetrics evaluate_regression(const std::vector<double>& truth,
                                                    const std::vector<double>& predicted,
                                                    const std::vector<uint8_t>& mask = {});

/// Options of find_veto_point.
struct VetoOptions {
  /// Share of the positives (frames with a crystal) that must be kept, in (0, 1].
  double keep_fraction = 0.999;
};

/// The veto operating point: the highest threshold that still keeps keep_fraction of the hits,
/// and how many blanks it rejects there.
///
/// Rule and ties: a frame is kept iff score >= threshold. With P positives, the threshold is the
/// k-th highest positive score, k = ceil(keep_fraction · P) (computed with a 1e-9 tolerance so
/// 0.999 · 1000 is 999, not 1000). Every positive tied with that score is kept too, so
/// n_positive_kept can exceed k. A blank with a score equal to the threshold is kept (not
/// rejected): ties go to keeping, the fail-open side. Any higher threshold would keep fewer
/// than k positives.
struct VetoPoint {
  double keep_fraction_target = 0.999;  ///< VetoOptions::keep_fraction
  int64_t n_positive = 0;
  int64_t n_negative = 0;
  double threshold = 0;          ///< NaN when there is no positive
  int64_t n_positive_kept = 0;   ///< positives with score >= threshold
  int64_t n_negative_rejected = 0;  ///< negatives with score < threshold
  double kept_fraction = 0;      ///< n_positive_kept / n_positive; NaN when P = 0
  double rejected_fraction = 0;  ///< n_negative_rejected / n_negative; NaN when N = 0 or P = 0
};

/// Finds the veto point from scores (higher = more likely a hit) and truth (1 = has a crystal).
/// @throws ConfigError if keep_fraction is outside (0, 1], the sizes differ, a truth value is not
///         0/1 or a score is NaN.
[[nodiscard]] VetoPoint find_veto_point(const std::vector<double>& scores,
                                        const std::vector<uint8_t>& truth,
                                        const VetoOptions& options = {});

/// The veto point when "frames with diffraction" are the hits with at least one bright spot
/// (`bright_spots`, from the simulator's truth; dataset/sidecar.h): hits without one are left
/// out, blanks all stay. Unset when a hit's count is unknown or no hit has a bright spot.
/// @throws as find_veto_point; ConfigError if bright_spots has another size.
[[nodiscard]] std::optional<VetoPoint> find_visible_veto_point(
    const std::vector<double>& scores, const std::vector<uint8_t>& truth,
    const std::vector<std::optional<int64_t>>& bright_spots, const VetoOptions& options = {});

/// JSON forms. Every non-finite number (NaN, ±inf) is written as null. Keys are the member
/// names; BinaryMetrics nests "confusion" {tp, fp, tn, fn}, "roc" {thresholds, fpr, tpr} and
/// "pr" {thresholds, recall, precision} (omitted when the curves were not computed);
/// MulticlassMetrics writes "confusion" as K rows of K counts (truth rows, predicted columns)
/// and "per_class" as an array of objects.
[[nodiscard]] nlohmann::json to_json(const ConfusionCounts& counts);
[[nodiscard]] nlohmann::json to_json(const BinaryMetrics& metrics);
[[nodiscard]] nlohmann::json to_json(const MulticlassMetrics& metrics);
[[nodiscard]] nlohmann::json to_json(const RegressionMetrics& metrics);
[[nodiscard]] nlohmann::json to_json(const VetoPoint& point);

/// A number as JSON: the value when finite, null otherwise.
[[nodiscard]] nlohmann::json json_number(double value);

/// Plain-text tables for stdout, one row per named result, accuracy always beside its chance
/// baseline ("chance" = majority-class accuracy). Fractions as percentages with one decimal,
/// AUCs with three decimals, NaN as "n/a". Each ends with a newline.
[[nodiscard]] std::string format_binary_table(
    const std::vector<std::pair<std::string, BinaryMetrics>>& rows);
/// Accuracy and chance, balanced accuracy, macro-F1, per-class precision/recall/F1 and the
/// confusion matrix (truth rows, predicted columns).
[[nodiscard]] std::string format_multiclass(const std::string& name,
                                            const MulticlassMetrics& metrics);
/// n, MAE, RMSE, R² and the predict-the-mean baseline MAE/RMSE.
[[nodiscard]] std::string format_regression_table(
    const std::vector<std::pair<std::string, RegressionMetrics>>& rows);
/// One line: threshold, positives kept, negatives rejected.
[[nodiscard]] std::string format_veto(const std::string& name, const VetoPoint& point);

}  // namespace difftriage::evaluate
