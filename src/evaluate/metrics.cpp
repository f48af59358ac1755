#include "difftriage/evaluate/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <numeric>

#include <nlohmann/json.hpp>

#include "difftriage/core/error.h"

namespace difftriage::evaluate {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// a / b, NaN when b == 0 (an undefined rate is not 0).
double ratio(double a, double b) { return b == 0 ? kNaN : a / b; }

void check_binary_inputs(const std::vector<double>& scores, const std::vector<uint8_t>& truth,
                         const char* what) {
  DT_CHECK(scores.size() == truth.size(), ConfigError, what, ": ", scores.size(), " scores but ",
           truth.size(), " truth values");
  for (size_t i = 0; i < scores.size(); ++i) {
    DT_CHECK(truth[i] <= 1, ConfigError, what, ": truth[", i, "] = ", int{truth[i]},
             " is not 0 or 1");
    DT_CHECK(!std::isnan(scores[i]), ConfigError, what, ": scores[", i, "] is NaN");
  }
}

/// Cumulative counts after each group of tied scores, scores in descending order: the points
/// of the ROC and PR curves and the steps of average precision.
struct RankedSteps {
  std::vector<double> thresholds;
  std::vector<int64_t> tp;
  std::vector<int64_t> fp;
};

RankedSteps ranked_steps(const std::vector<double>& scores, const std::vector<uint8_t>& truth) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  RankedSteps steps;
  int64_t tp = 0, fp = 0;
  for (size_t i = 0; i < order.size();) {
    const double s = scores[order[i]];
    // A group of equal scores enters together: a threshold cannot separate them.
    for (; i < order.size() && scores[order[i]] == s; ++i) (truth[order[i]] ? tp : fp) += 1;
    steps.thresholds.push_back(s);
    steps.tp.push_back(tp);
    steps.fp.push_back(fp);
  }
  return steps;
}

double average_precision_from(const RankedSteps& steps, int64_t n_positive) {
  if (n_positive == 0) return kNaN;
  double ap = 0, previous_recall = 0;
  for (size_t k = 0; k < steps.tp.size(); ++k) {
    const double recall = static_cast<double>(steps.tp[k]) / static_cast<double>(n_positive);
    const double precision =
        static_cast<double>(steps.tp[k]) / static_cast<double>(steps.tp[k] + steps.fp[k]);
    ap += (recall - previous_recall) * precision;
    previous_recall = recall;
  }
  return ap;
}

/// Mann–Whitney U / (P · N) with mid-ranks for ties (each tied positive–negative pair counts
/// 0.5).
double mann_whitney_auc(const std::vector<double>& scores, const std::vector<uint8_t>& truth) {
  int64_t n_pos = 0;
  for (uint8_t t : truth) n_pos += t;
  const auto n_neg = static_cast<int64_t>(truth.size()) - n_pos;
  if (n_pos == 0 || n_neg == 0) return kNaN;
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  double rank_sum = 0;  // sum of the (1-based, mid-) ranks of the positives
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    int64_t pos_in_group = 0;
    for (; j < order.size() && scores[order[j]] == scores[order[i]]; ++j)
      pos_in_group += truth[order[j]];
    const double mid_rank = 0.5 * (static_cast<double>(i + 1) + static_cast<double>(j));
    rank_sum += mid_rank * static_cast<double>(pos_in_group);
    i = j;
  }
  const double p = static_cast<double>(n_pos), n = static_cast<double>(n_neg);
  const double u = rank_sum - p * (p + 1) / 2;
  return u / (p * n);
}

std::string fmt_percent(double v) {
  if (!std::isfinite(v)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * v);
  return buf;
}

std::string fmt_fixed(double v, int decimals) {
  if (!std::isfinite(v)) return "n/a";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string fmt_general(double v) {
  if (!std::isfinite(v)) return "n/a";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

nlohmann::json json_array(const std::vector<double>& values) {
  nlohmann::json a = nlohmann::json::array();
  for (double v : values) a.push_back(json_number(v));
  return a;
}

/// Pads or keeps `s` to `width` characters, right-aligned.
std::string right(const std::string& s, size_t width) {
  return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}
std::string left(const std::string& s, size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

}  // namespace

BinaryMetrics evaluate_binary(const std::vector<double>& scores, const std::vector<uint8_t>& truth,
                              const BinaryOptions& options) {
  check_binary_inputs(scores, truth, "evaluate_binary");
  DT_CHECK(!std::isnan(options.threshold), ConfigError, "evaluate_binary: threshold is NaN");
  BinaryMetrics m;
  m.threshold = options.threshold;
  m.n = static_cast<int64_t>(scores.size());
  auto& c = m.confusion;
  for (size_t i = 0; i < scores.size(); ++i) {
    const bool predicted =
        options.is_positive ? options.is_positive(scores[i]) : scores[i] >= options.threshold;
    if (truth[i]) {
      (predicted ? c.tp : c.fn) += 1;
    } else {
      (predicted ? c.fp : c.tn) += 1;
    }
  }
  m.n_positive = c.tp + c.fn;
  m.n_negative = c.tn + c.fp;
  const auto n = static_cast<double>(m.n);
  const auto p = static_cast<double>(m.n_positive), neg = static_cast<double>(m.n_negative);
  m.accuracy = ratio(static_cast<double>(c.tp + c.tn), n);
  m.majority_class = m.n_positive > m.n_negative ? 1 : 0;
  m.majority_accuracy = ratio(std::max(p, neg), n);
  m.positive_fraction = ratio(p, n);
  m.precision = ratio(static_cast<double>(c.tp), static_cast<double>(c.tp + c.fp));
  m.recall = ratio(static_cast<double>(c.tp), p);
  m.specificity = ratio(static_cast<double>(c.tn), neg);
  m.f1 = ratio(2.0 * static_cast<double>(c.tp), static_cast<double>(2 * c.tp + c.fp + c.fn));
  if (m.n_positive > 0 && m.n_negative > 0) {
    m.balanced_accuracy = 0.5 * (m.recall + m.specificity);
  } else if (m.n_positive > 0) {
    m.balanced_accuracy = m.recall;
  } else if (m.n_negative > 0) {
    m.balanced_accuracy = m.specificity;
  } else {
    m.balanced_accuracy = kNaN;
  }
  m.roc_auc = mann_whitney_auc(scores, truth);
  const RankedSteps steps = ranked_steps(scores, truth);
  m.pr_auc = average_precision_from(steps, m.n_positive);
  if (options.with_curves) {
    m.roc.thresholds.push_back(std::numeric_limits<double>::infinity());
    m.roc.fpr.push_back(m.n_negative > 0 ? 0.0 : kNaN);
    m.roc.tpr.push_back(m.n_positive > 0 ? 0.0 : kNaN);
    for (size_t k = 0; k < steps.thresholds.size(); ++k) {
      const auto tp = static_cast<double>(steps.tp[k]), fp = static_cast<double>(steps.fp[k]);
      m.roc.thresholds.push_back(steps.thresholds[k]);
      m.roc.fpr.push_back(ratio(fp, neg));
      m.roc.tpr.push_back(ratio(tp, p));
      m.pr.thresholds.push_back(steps.thresholds[k]);
      m.pr.recall.push_back(ratio(tp, p));
      m.pr.precision.push_back(tp / (tp + fp));
    }
  }
  return m;
}

double roc_auc(const std::vector<double>& scores, const std::vector<uint8_t>& truth) {
  check_binary_inputs(scores, truth, "roc_auc");
  return mann_whitney_auc(scores, truth);
}

double average_precision(const std::vector<double>& scores, const std::vector<uint8_t>& truth) {
  check_binary_inputs(scores, truth, "average_precision");
  int64_t n_pos = 0;
  for (uint8_t t : truth) n_pos += t;
  return average_precision_from(ranked_steps(scores, truth), n_pos);
}

MulticlassMetrics evaluate_multiclass(const std::vector<int>& truth,
                                      const std::vector<int>& predicted,
                                      const std::vector<std::string>& class_names) {
  const auto k = static_cast<int>(class_names.size());
  DT_CHECK(k >= 2, ConfigError, "evaluate_multiclass: need at least 2 classes, got ", k);
  DT_CHECK(truth.size() == predicted.size(), ConfigError, "evaluate_multiclass: ", truth.size(),
           " truth values but ", predicted.size(), " predictions");
  MulticlassMetrics m;
  m.n = static_cast<int64_t>(truth.size());
  m.class_names = class_names;
  m.confusion.assign(static_cast<size_t>(k * k), 0);
  for (size_t i = 0; i < truth.size(); ++i) {
    DT_CHECK(truth[i] >= 0 && truth[i] < k, ConfigError, "evaluate_multiclass: truth[", i,
             "] = ", truth[i], " is outside [0, ", k, ")");
    DT_CHECK(predicted[i] >= 0 && predicted[i] < k, ConfigError, "evaluate_multiclass: predicted[",
             i, "] = ", predicted[i], " is outside [0, ", k, ")");
    ++m.confusion[static_cast<size_t>(truth[i] * k + predicted[i])];
  }
  int64_t correct = 0, best_support = -1;
  double recall_sum = 0, f1_sum = 0;
  int n_present = 0, n_f1 = 0;
  for (int c = 0; c < k; ++c) {
    ClassMetrics cm;
    cm.name = class_names[static_cast<size_t>(c)];
    const int64_t tp = m.confusion[static_cast<size_t>(c * k + c)];
    for (int o = 0; o < k; ++o) {
      cm.support += m.confusion[static_cast<size_t>(c * k + o)];
      cm.predicted += m.confusion[static_cast<size_t>(o * k + c)];
    }
    correct += tp;
    cm.precision = ratio(static_cast<double>(tp), static_cast<double>(cm.predicted));
    cm.recall = ratio(static_cast<double>(tp), static_cast<double>(cm.support));
    cm.f1 = ratio(2.0 * static_cast<double>(tp), static_cast<double>(cm.support + cm.predicted));
    if (cm.support > 0) {
      recall_sum += cm.recall;
      ++n_present;
    }
    if (!std::isnan(cm.f1)) {
      f1_sum += cm.f1;
      ++n_f1;
    }
    if (cm.support > best_support) {
      best_support = cm.support;
      m.majority_class = m.n > 0 ? cm.name : std::string();
    }
    m.per_class.push_back(cm);
  }
  const auto n = static_cast<double>(m.n);
  m.accuracy = ratio(static_cast<double>(correct), n);
  m.majority_accuracy = ratio(static_cast<double>(best_support), n);
  m.balanced_accuracy = ratio(recall_sum, n_present);
  m.macro_f1 = ratio(f1_sum, n_f1);
  return m;
}

RegressionMetrics evaluate_regression(const std::vector<double>& truth,
                                      const std::vector<double>& predicted,
                                      const std::vector<uint8_t>& mask) {
  DT_CHECK(truth.size() == predicted.size(), ConfigError, "evaluate_regression: ", truth.size(),
           " truth values but ", predicted.size(), " predictions");
  DT_CHECK(mask.empty() || mask.size() == truth.size(), ConfigError,
           "evaluate_regression: mask has ", mask.size(), " entries for ", truth.size(),
           " samples");
  std::vector<size_t> used;
  for (size_t i = 0; i < truth.size(); ++i) {
    if (!mask.empty() && mask[i] == 0) continue;
    DT_CHECK(std::isfinite(truth[i]), ConfigError, "evaluate_regression: truth[", i,
             "] is not finite");
    DT_CHECK(std::isfinite(predicted[i]), ConfigError, "evaluate_regression: predicted[", i,
             "] is not finite");
    used.push_back(i);
  }
  RegressionMetrics m;
  m.n = static_cast<int64_t>(used.size());
  const auto n = static_cast<double>(m.n);
  double sum_truth = 0, abs_err = 0, sq_err = 0;
  for (size_t i : used) {
    sum_truth += truth[i];
    abs_err += std::abs(predicted[i] - truth[i]);
    sq_err += (predicted[i] - truth[i]) * (predicted[i] - truth[i]);
  }
  m.truth_mean = ratio(sum_truth, n);
  m.mae = ratio(abs_err, n);
  m.rmse = std::sqrt(ratio(sq_err, n));
  double ss_tot = 0, base_abs = 0;
  for (size_t i : used) {
    ss_tot += (truth[i] - m.truth_mean) * (truth[i] - m.truth_mean);
    base_abs += std::abs(truth[i] - m.truth_mean);
  }
  m.baseline_mae = ratio(base_abs, n);
  m.baseline_rmse = std::sqrt(ratio(ss_tot, n));
  // SS_tot = 0: every model, good or bad, would divide by zero; R² says nothing then.
  m.r2 = ss_tot > 0 ? 1.0 - sq_err / ss_tot : kNaN;
  return m;
}

VetoPoint find_veto_point(const std::vector<double>& scores, const std::vector<uint8_t>& truth,
                          const VetoOptions& options) {
  DT_CHECK(options.keep_fraction > 0 && options.keep_fraction <= 1, ConfigError,
           "veto: keep fraction must be in (0, 1], got ", options.keep_fraction);
  check_binary_inputs(scores, truth, "find_veto_point");
  VetoPoint v;
  v.keep_fraction_target = options.keep_fraction;
  std::vector<double> positive_scores;
  for (size_t i = 0; i < scores.size(); ++i) {
    if (truth[i]) positive_scores.push_back(scores[i]);
  }
  v.n_positive = static_cast<int64_t>(positive_scores.size());
  v.n_negative = static_cast<int64_t>(scores.size()) - v.n_positive;
  if (v.n_positive == 0) {
    v.threshold = v.kept_fraction = v.rejected_fraction = kNaN;
    return v;
  }
  // k positives must stay; the tolerance keeps 0.999 · 1000 (= 999.0000000000001) at 999.
  const auto k = std::max<int64_t>(
      1, static_cast<int64_t>(std::ceil(options.keep_fraction * static_cast<double>(v.n_positive) -
                                        1e-9)));
  std::sort(positive_scores.begin(), positive_scores.end(), std::greater<>());
  v.threshold = positive_scores[static_cast<size_t>(k - 1)];
  for (size_t i = 0; i < scores.size(); ++i) {
    if (truth[i] && scores[i] >= v.threshold) ++v.n_positive_kept;
    if (!truth[i] && scores[i] < v.threshold) ++v.n_negative_rejected;
  }
  v.kept_fraction = ratio(static_cast<double>(v.n_positive_kept), static_cast<double>(v.n_positive));
  v.rejected_fraction =
      ratio(static_cast<double>(v.n_negative_rejected), static_cast<double>(v.n_negative));
  return v;
}

nlohmann::json json_number(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
}

nlohmann::json to_json(const ConfusionCounts& c) {
  return {{"tp", c.tp}, {"fp", c.fp}, {"tn", c.tn}, {"fn", c.fn}};
}

nlohmann::json to_json(const BinaryMetrics& m) {
  nlohmann::json j = {{"threshold", json_number(m.threshold)},
                      {"n", m.n},
                      {"n_positive", m.n_positive},
                      {"n_negative", m.n_negative},
                      {"confusion", to_json(m.confusion)},
                      {"accuracy", json_number(m.accuracy)},
                      {"majority_accuracy", json_number(m.majority_accuracy)},
                      {"majority_class", m.majority_class},
                      {"positive_fraction", json_number(m.positive_fraction)},
                      {"balanced_accuracy", json_number(m.balanced_accuracy)},
                      {"precision", json_number(m.precision)},
                      {"recall", json_number(m.recall)},
                      {"specificity", json_number(m.specificity)},
                      {"f1", json_number(m.f1)},
                      {"roc_auc", json_number(m.roc_auc)},
                      {"pr_auc", json_number(m.pr_auc)}};
  if (!m.roc.thresholds.empty()) {
    j["roc"] = {{"thresholds", json_array(m.roc.thresholds)},
                {"fpr", json_array(m.roc.fpr)},
                {"tpr", json_array(m.roc.tpr)}};
  }
  if (!m.pr.thresholds.empty()) {
    j["pr"] = {{"thresholds", json_array(m.pr.thresholds)},
               {"recall", json_array(m.pr.recall)},
               {"precision", json_array(m.pr.precision)}};
  }
  return j;
}

nlohmann::json to_json(const MulticlassMetrics& m) {
  const size_t k = m.class_names.size();
  nlohmann::json rows = nlohmann::json::array();
  for (size_t t = 0; t < k; ++t) {
    nlohmann::json row = nlohmann::json::array();
    for (size_t p = 0; p < k; ++p) row.push_back(m.confusion[t * k + p]);
    rows.push_back(row);
  }
  nlohmann::json per_class = nlohmann::json::array();
  for (const auto& c : m.per_class) {
    per_class.push_back({{"name", c.name},
                         {"support", c.support},
                         {"predicted", c.predicted},
                         {"precision", json_number(c.precision)},
                         {"recall", json_number(c.recall)},
                         {"f1", json_number(c.f1)}});
  }
  return {{"n", m.n},
          {"class_names", m.class_names},
          {"confusion", rows},
          {"accuracy", json_number(m.accuracy)},
          {"majority_accuracy", json_number(m.majority_accuracy)},
          {"majority_class", m.majority_class},
          {"balanced_accuracy", json_number(m.balanced_accuracy)},
          {"macro_f1", json_number(m.macro_f1)},
          {"per_class", per_class}};
}

nlohmann::json to_json(const RegressionMetrics& m) {
  return {{"n", m.n},
          {"mae", json_number(m.mae)},
          {"rmse", json_number(m.rmse)},
          {"r2", json_number(m.r2)},
          {"truth_mean", json_number(m.truth_mean)},
          {"baseline_mae", json_number(m.baseline_mae)},
          {"baseline_rmse", json_number(m.baseline_rmse)}};
}

std::optional<VetoPoint> find_visible_veto_point(
    const std::vector<double>& scores, const std::vector<uint8_t>& truth,
    const std::vector<std::optional<int64_t>>& bright_spots, const VetoOptions& options) {
  DT_CHECK(bright_spots.size() == truth.size(), ConfigError,
           "find_visible_veto_point: ", bright_spots.size(), " bright-spot counts for ",
           truth.size(), " frames");
  std::vector<double> kept_scores;
  std::vector<uint8_t> kept_truth;
  bool any_visible_hit = false;
  for (size_t i = 0; i < truth.size(); ++i) {
    if (truth[i] != 0) {
      if (!bright_spots[i]) return std::nullopt;
      if (*bright_spots[i] == 0) continue;
      any_visible_hit = true;
    }
    kept_scores.push_back(scores[i]);
    kept_truth.push_back(truth[i]);
  }
  if (!any_visible_hit) return std::nullopt;
  return find_veto_point(kept_scores, kept_truth, options);
}

nlohmann::json to_json(const VetoPoint& v) {
  return {{"keep_fraction_target", json_number(v.keep_fraction_target)},
          {"n_positive", v.n_positive},
          {"n_negative", v.n_negative},
          {"threshold", json_number(v.threshold)},
          {"n_positive_kept", v.n_positive_kept},
          {"n_negative_rejected", v.n_negative_rejected},
          {"kept_fraction", json_number(v.kept_fraction)},
          {"rejected_fraction", json_number(v.rejected_fraction)}};
}

std::string format_binary_table(const std::vector<std::pair<std::string, BinaryMetrics>>& rows) {
  size_t w = 4;
  for (const auto& [name, m] : rows) w = std::max(w, name.size());
  std::string out = left("task", w) + right("n", 7) + right("pos", 7) + right("thresh", 9) +
                    right("acc", 8) + right("chance", 8) + right("bal_acc", 9) +
                    right("prec", 8) + right("recall", 8) + right("spec", 8) + right("F1", 7) +
                    right("ROC-AUC", 9) + right("PR-AUC", 8) + right("(chance)", 10) + "\n";
  for (const auto& [name, m] : rows) {
    out += left(name, w) + right(std::to_string(m.n), 7) + right(std::to_string(m.n_positive), 7) +
           right(fmt_general(m.threshold), 9) + right(fmt_percent(m.accuracy), 8) +
           right(fmt_percent(m.majority_accuracy), 8) +
           right(fmt_percent(m.balanced_accuracy), 9) + right(fmt_percent(m.precision), 8) +
           right(fmt_percent(m.recall), 8) + right(fmt_percent(m.specificity), 8) +
           right(fmt_fixed(m.f1, 3), 7) + right(fmt_fixed(m.roc_auc, 3), 9) +
           right(fmt_fixed(m.pr_auc, 3), 8) + right("(" + fmt_fixed(m.positive_fraction, 3) + ")", 10) +
           "\n";
  }
  return out;
}

std::string format_multiclass(const std::string& name, const MulticlassMetrics& m) {
  std::string out = name + ": n " + std::to_string(m.n) + "  acc " + fmt_percent(m.accuracy) +
                    "  chance " + fmt_percent(m.majority_accuracy) + " (always " +
                    (m.majority_class.empty() ? std::string("n/a") : m.majority_class) +
                    ")  bal_acc " + fmt_percent(m.balanced_accuracy) + "  macro-F1 " +
                    fmt_fixed(m.macro_f1, 3) + "\n";
  size_t w = 10;
  for (const auto& c : m.class_names) w = std::max(w, c.size() + 2);
  out += left("  class", w) + right("support", 9) + right("prec", 8) + right("recall", 8) +
         right("F1", 7) + "   confusion (predicted →)\n";
  const size_t k = m.class_names.size();
  for (size_t t = 0; t < k; ++t) {
    const auto& c = m.per_class[t];
    out += left("  " + c.name, w) + right(std::to_string(c.support), 9) +
           right(fmt_percent(c.precision), 8) + right(fmt_percent(c.recall), 8) +
           right(fmt_fixed(c.f1, 3), 7) + "  ";
    for (size_t p = 0; p < k; ++p) out += right(std::to_string(m.confusion[t * k + p]), 6);
    out += "\n";
  }
  return out;
}

std::string format_regression_table(
    const std::vector<std::pair<std::string, RegressionMetrics>>& rows) {
  size_t w = 6;
  for (const auto& [name, m] : rows) w = std::max(w, name.size());
  std::string out = left("target", w) + right("n", 7) + right("MAE", 9) + right("RMSE", 9) +
                    right("R2", 8) + right("base MAE", 10) + right("base RMSE", 11) + "\n";
  for (const auto& [name, m] : rows) {
    out += left(name, w) + right(std::to_string(m.n), 7) + right(fmt_fixed(m.mae, 4), 9) +
           right(fmt_fixed(m.rmse, 4), 9) + right(fmt_fixed(m.r2, 3), 8) +
           right(fmt_fixed(m.baseline_mae, 4), 10) + right(fmt_fixed(m.baseline_rmse, 4), 11) +
           "\n";
  }
  return out;
}

std::string format_veto(const std::string& name, const VetoPoint& v) {
  return name + ": keep >= " + fmt_percent(v.keep_fraction_target) + " of " +
         std::to_string(v.n_positive) + " hits -> threshold " + fmt_general(v.threshold) +
         ", kept " + std::to_string(v.n_positive_kept) + " (" + fmt_percent(v.kept_fraction) +
         "), rejects " + std::to_string(v.n_negative_rejected) + " of " +
         std::to_string(v.n_negative) + " blanks (" + fmt_percent(v.rejected_fraction) + ")\n";
}

}  // namespace difftriage::evaluate
