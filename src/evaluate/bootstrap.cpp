// Headline figures with bootstrap intervals and label-mix reweighting (see bootstrap.h).
#include "difftriage/evaluate/bootstrap.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>

#include <nlohmann/json.hpp>

#include "difftriage/core/error.h"
#include "difftriage/core/labels.h"
#include "difftriage/models/hit_score.h"
#include "difftriage/core/random.h"

namespace difftriage::evaluate {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string label_stratum(const std::array<uint8_t, 6>& labels) {
  std::string key;
  for (size_t j = 0; j < labels.size(); ++j) key += labels[j] ? '1' : '0';
  return key;
}

// One figure over the frames `index` (with repeats) and their weights `w`.
using Figure = std::function<double(const std::vector<size_t>& index)>;

struct FigureDef {
  std::string name;
  Figure value;
  double chance;
  int64_t n;
};

// Weighted balanced accuracy: the mean over the truth classes present of the weighted recall.
double balanced_accuracy(const std::vector<size_t>& index, const std::vector<double>& w,
                         const std::function<int(size_t)>& truth,
                         const std::function<int(size_t)>& predicted) {
  double total[2] = {0, 0}, right[2] = {0, 0};
  for (size_t i : index) {
    const int t = truth(i);
    if (t < 0) continue;
    total[t] += w[i];
    right[t] += predicted(i) == t ? w[i] : 0.0;
  }
  double sum = 0, classes = 0;
  for (int c = 0; c < 2; ++c) {
    if (total[c] > 0) sum += right[c] / total[c], classes += 1;
  }
  return classes > 0 ? sum / classes : kNaN;
}

// Weighted R² of `predicted` against `truth` over frames where truth(i) is finite.
double r_squared(const std::vector<size_t>& index, const std::vector<double>& w,
                 const std::function<double(size_t)>& truth,
                 const std::function<double(size_t)>& predicted) {
  double sw = 0, st = 0;
  for (size_t i : index) {
    const double t = truth(i);
    if (std::isfinite(t)) sw += w[i], st += w[i] * t;
  }
  if (!(sw > 0)) return kNaN;
  const double mean = st / sw;
  double ss_res = 0, ss_tot = 0;
  for (size_t i : index) {
    const double t = truth(i);
    if (!std::isfinite(t)) continue;
    ss_res += w[i] * (predicted(i) - t) * (predicted(i) - t);
    ss_tot += w[i] * (t - mean) * (t - mean);
  }
  return ss_tot > 0 ? 1.0 - ss_res / ss_tot : kNaN;
}

double percentile(std::vector<double> v, double p) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  const double pos = p / 100.0 * static_cast<double>(v.size() - 1);
  const auto k = static_cast<size_t>(pos);
  if (k + 1 >= v.size()) return v.back();
  return v[k] + (pos - static_cast<double>(k)) * (v[k + 1] - v[k]);
}

nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

}  // namespace

MixWeights mix_weights(const std::vector<FramePrediction>& frames, const dataset::Dataset& target) {
  MixWeights out;
  const bool by_labels = target.has_multilabel_file;
  out.stratum_kind = by_labels ? "labels" : "quality";
  std::map<std::string, double> want, have;
  double n_target = 0;
  for (const dataset::Sample& s : target.samples) {
    std::string key;
    if (by_labels && s.labels) key = label_stratum(*s.labels);
    else if (!by_labels && s.quality) key = quality_name(*s.quality);
    else continue;
    want[key] += 1, n_target += 1;
  }
  DT_CHECK(n_target > 0, ConfigError, "the reweighting target ", target.root.string(),
           " has no frame with ", out.stratum_kind, " truth");
  out.n_strata = static_cast<int64_t>(want.size());
  auto key_of = [&](const FramePrediction& f) -> std::string {
    if (by_labels) {
      for (uint8_t known : f.truth_label_known) {
        if (!known) return "";
      }
      return label_stratum(f.truth_labels);
    }
    return f.truth_quality ? quality_name(static_cast<Quality>(*f.truth_quality)) : "";
  };
  double n_ours = 0;
  for (const FramePrediction& f : frames) {
    const std::string key = key_of(f);
    if (!key.empty() && f.ok()) have[key] += 1, n_ours += 1;
  }
  double covered = 0;
  for (const auto& [key, count] : want) {
    if (have.count(key)) covered += count;
  }
  out.coverage = covered / n_target;
  for (const FramePrediction& f : frames) {
    const std::string key = key_of(f);
    const auto w = want.find(key), h = have.find(key);
    out.weights.push_back(!f.ok() || key.empty() || w == want.end() || h == have.end()
                              ? 0.0
                              : (w->second / covered) / (h->second / n_ours));
  }
  return out;
}

std::vector<std::pair<std::string, Interval>> bootstrap_headline(const ModelPredictions& preds,
                                                                 const BootstrapOptions& options) {
  DT_CHECK(options.n_resamples >= 1, ConfigError, "n_resamples must be >= 1, got ",
           options.n_resamples);
  const auto& frames = preds.frames;
  DT_CHECK(options.weights.empty() || options.weights.size() == frames.size(), ConfigError,
           "weights: ", options.weights.size(), " for ", frames.size(), " frames");
  const std::vector<double> w =
      options.weights.empty() ? std::vector<double>(frames.size(), 1.0) : options.weights;
  const auto& meta = preds.metadata;
  std::vector<FigureDef> defs;

  auto count = [&](const std::function<bool(const FramePrediction&)>& counts) {
    int64_t n = 0;
    for (size_t i = 0; i < frames.size(); ++i) n += frames[i].ok() && w[i] > 0 && counts(frames[i]);
    return n;
  };
  auto crystal = [](const FramePrediction& f) {
    return f.truth_has_crystal && *f.truth_has_crystal;
  };
  const bool has_labels = std::any_of(frames.begin(), frames.end(), [](const FramePrediction& f) {
    return f.ok() && !f.label_predictions.empty();
  });
  if (has_labels) {
    auto add_label = [&](size_t j, bool among_crystals) {
      auto counts = [j, among_crystals, crystal](const FramePrediction& f) {
        return !f.label_predictions.empty() && f.truth_label_known[j] &&
               (!among_crystals || crystal(f));
      };
      const int64_t n = count(counts);
      if (n == 0) return;
      defs.push_back(
          {std::string(kLabelNames[j]) + (among_crystals ? " | crystal" : " balanced accuracy"),
           [&, j, counts](const std::vector<size_t>& index) {
             return balanced_accuracy(
                 index, w,
                 [&](size_t i) { return frames[i].ok() && counts(frames[i]) ? frames[i].truth_labels[j] : -1; },
                 [&](size_t i) { return static_cast<int>(frames[i].label_predictions[j]); });
           },
           0.5, n});
    };
    for (size_t j = 0; j < kLabelNames.size(); ++j) add_label(j, false);
    for (const char* name : {"photo1", "photo2", "multilattice"}) {
      add_label(static_cast<size_t>(label_index(name)), true);
    }
    // Splits the frame shows (sidecar stats.split_visible, simulate::split_is_visible): visible
    // splits against single-lattice crystal frames, splits that do not show left out.
    const auto m = static_cast<size_t>(label_index("multilattice"));
    auto shown = [m, crystal](const FramePrediction& f) {
      return !f.label_predictions.empty() && f.truth_label_known[m] && crystal(f) &&
             (f.truth_labels[m] == 0 || f.truth_split_visible.value_or(false));
    };
    const bool has_visibility = std::any_of(frames.begin(), frames.end(), [](const auto& f) {
      return f.truth_split_visible.has_value();
    });
    if (const int64_t n = count(shown); has_visibility && n > 0) {
      defs.push_back({"multilattice | visible splits",
                      [&, m, shown](const std::vector<size_t>& index) {
                        return balanced_accuracy(
                            index, w,
                            [&](size_t i) {
                              return frames[i].ok() && shown(frames[i]) ? frames[i].truth_labels[m]
                                                                        : -1;
                            },
                            [&](size_t i) { return static_cast<int>(frames[i].label_predictions[m]); });
                      },
                      0.5, n});
    }
  }
  if (const int64_t n = count([](const FramePrediction& f) { return f.quality >= 0 && f.truth_quality; })) {
    auto counts = [](const FramePrediction& f) { return f.quality >= 0 && f.truth_quality.has_value(); };
    // Chance: the weighted share of the most common truth class.
    std::map<int, double> share;
    double total = 0;
    for (size_t i = 0; i < frames.size(); ++i) {
      if (frames[i].ok() && counts(frames[i])) share[*frames[i].truth_quality] += w[i], total += w[i];
    }
    double best = 0;
    for (const auto& [c, v] : share) best = std::max(best, v);
    defs.push_back({"quality accuracy",
                    [&, counts](const std::vector<size_t>& index) {
                      double sw = 0, right = 0;
                      for (size_t i : index) {
                        if (!frames[i].ok() || !counts(frames[i])) continue;
                        sw += w[i];
                        right += frames[i].quality == *frames[i].truth_quality ? w[i] : 0.0;
                      }
                      return sw > 0 ? right / sw : kNaN;
                    },
                    total > 0 ? best / total : kNaN, n});
  }
  for (int k = 0; k < 2; ++k) {
    auto counts = [k, crystal](const FramePrediction& f) {
      if (f.mosaic.size() != 2 || !f.truth_mosaic) return false;
      return k == 0 ? crystal(f) : (f.truth_label_known[3] && f.truth_labels[3] == 1);
    };
    const int64_t n = count(counts);
    if (n == 0) continue;
    defs.push_back({k == 0 ? "mosaic1 R2" : "mosaic2 R2",
                    [&, k, counts](const std::vector<size_t>& index) {
                      return r_squared(
                          index, w,
                          [&](size_t i) {
                            return frames[i].ok() && counts(frames[i]) ? (*frames[i].truth_mosaic)[static_cast<size_t>(k)] : kNaN;
                          },
                          [&](size_t i) { return static_cast<double>(frames[i].mosaic[static_cast<size_t>(k)]); });
                    },
                    0.0, n});
  }
  {
    auto counts = [](const FramePrediction& f) {
      return std::isfinite(f.hit_probability) && f.truth_has_crystal.has_value();
    };
    if (const int64_t n = count(counts)) {
      defs.push_back({"hit balanced accuracy",
                      [&, counts](const std::vector<size_t>& index) {
                        return balanced_accuracy(
                            index, w,
                            [&](size_t i) { return frames[i].ok() && counts(frames[i]) ? (*frames[i].truth_has_crystal ? 1 : 0) : -1; },
                            [&](size_t i) {
                              return models::decide_hit(frames[i].hit_probability, meta) ==
                                             models::Decision::kNo
                                         ? 0
                                         : 1;
                            });
                      },
                      0.5, n});
    }
  }

  std::vector<size_t> all(frames.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  std::vector<std::vector<double>> resampled(defs.size());
  uint64_t state = options.seed;
  std::vector<size_t> index(frames.size());
  for (int b = 0; b < options.n_resamples; ++b) {
    for (size_t& i : index) {
      state = splitmix64(state);
      i = static_cast<size_t>(unit_double(state) * static_cast<double>(frames.size()));
      i = std::min(i, frames.size() - 1);
    }
    for (size_t d = 0; d < defs.size(); ++d) resampled[d].push_back(defs[d].value(index));
  }
  std::vector<std::pair<std::string, Interval>> out;
  for (size_t d = 0; d < defs.size(); ++d) {
    Interval iv;
    iv.value = defs[d].value(all);
    iv.lo = percentile(resampled[d], 2.5);
    iv.hi = percentile(resampled[d], 97.5);
    iv.chance = defs[d].chance;
    iv.n = defs[d].n;
    out.emplace_back(defs[d].name, iv);
  }
  return out;
}

nlohmann::json to_json(const std::vector<std::pair<std::string, Interval>>& figures,
                       const BootstrapOptions& options, const std::string& reweighted_to,
                       double coverage) {
  nlohmann::json f = nlohmann::json::object();
  for (const auto& [name, iv] : figures) {
    f[name] = {{"value", number(iv.value)}, {"lo", number(iv.lo)}, {"hi", number(iv.hi)},
               {"chance", number(iv.chance)}, {"n", iv.n}};
  }
  return {{"n_resamples", options.n_resamples},
          {"seed", options.seed},
          {"reweighted_to", reweighted_to.empty() ? nlohmann::json() : nlohmann::json(reweighted_to)},
          {"coverage", number(coverage)},
          {"figures", f}};
}

std::string format_headline(const std::vector<std::pair<std::string, Interval>>& figures) {
  std::string out;
  char line[160];
  std::snprintf(line, sizeof line, "%-30s %6s %8s %19s %8s\n", "figure", "n", "value",
                "95% interval", "chance");
  out += line;
  auto fmt = [](double v) {
    char b[16];
    if (std::isfinite(v)) std::snprintf(b, sizeof b, "%.3f", v);
    else std::snprintf(b, sizeof b, "n/a");
    return std::string(b);
  };
  for (const auto& [name, iv] : figures) {
    const std::string interval = "[" + fmt(iv.lo) + ", " + fmt(iv.hi) + "]";
    std::snprintf(line, sizeof line, "%-30s %6lld %8s %19s %8s\n", name.c_str(),
                  static_cast<long long>(iv.n), fmt(iv.value).c_str(), interval.c_str(),
                  fmt(iv.chance).c_str());
    out += line;
  }
  return out;
}

}  // namespace difftriage::evaluate
