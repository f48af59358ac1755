// The keep/veto calibration: veto point on a calibration set → hit threshold and band.
#include "difftriage/evaluate/calibrate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "difftriage/core/error.h"

namespace difftriage::evaluate {

int64_t min_crystal_frames_for(double keep_fraction) noexcept {
  const double k = std::min(keep_fraction, 0.99);
  if (!(k > 0)) return 1;
  // n/(n + 1) ≥ k ⇔ n ≥ k/(1 − k); the epsilon keeps 0.9/(1 − 0.9) = 9.000000000000002 at 9.
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(k / (1.0 - k) - 1e-9)));
}

VetoCalibration calibrate_veto(const ModelPredictions& predictions,
                               const VetoCalibrationOptions& options) {
  DT_CHECK(options.keep_fraction > 0 && options.keep_fraction <= 1, ConfigError,
           "keep_fraction must be in (0, 1], got ", options.keep_fraction);
  DT_CHECK(!options.band || (std::isfinite(*options.band) && *options.band >= 0 &&
                             *options.band < 1),
           ConfigError, "band must be in [0, 1), got ", options.band.value_or(0.0));
  DT_CHECK(!options.min_crystal_frames || *options.min_crystal_frames >= 0, ConfigError,
           "min_crystal_frames must be >= 0, got ", options.min_crystal_frames.value_or(0));
  VetoCalibration c;
  std::vector<double> scores;
  std::vector<uint8_t> truth;
  for (const auto& f : predictions.frames) {
    if (!f.ok() || !f.truth_has_crystal || !std::isfinite(f.hit_probability)) {
      ++c.n_skipped;
      continue;
    }
    scores.push_back(f.hit_probability);
    truth.push_back(*f.truth_has_crystal ? 1 : 0);
  }
  VetoOptions vo;
  vo.keep_fraction = options.keep_fraction;
  c.point = find_veto_point(scores, truth, vo);
  DT_CHECK(c.point.n_positive > 0, FormatError,
           "calibration set: no crystal frame with a hit score (", c.n_skipped,
           " frame(s) skipped); the veto needs crystal frames to keep");
  DT_CHECK(c.point.n_negative > 0, FormatError,
           "calibration set: no blank frame; the veto point cannot be measured without blanks");
  const int64_t n_needed =
      options.min_crystal_frames.value_or(min_crystal_frames_for(options.keep_fraction));
  DT_CHECK(c.point.n_positive >= n_needed, FormatError, "calibration set: ",
           c.point.n_positive, " crystal frame(s) cannot support keeping ",
           options.keep_fraction, " of crystal frames: the lowest kept score of n frames misses "
           "about 1/(n + 1) of unseen ones, so this needs at least ", n_needed,
           " crystal frames (see min_crystal_frames_for)");
  DT_CHECK(!options.reject_fraction ||
               (*options.reject_fraction > 0 && *options.reject_fraction <= 1),
           ConfigError, "reject_fraction must be in (0, 1], got ",
           options.reject_fraction.value_or(0.0));
  double t = c.point.threshold;
  if (options.reject_fraction) {
    std::vector<double> blank;
    for (size_t i = 0; i < scores.size(); ++i) {
      if (!truth[i]) blank.push_back(scores[i]);
    }
    std::sort(blank.begin(), blank.end());
    const auto k = static_cast<size_t>(
        std::ceil(*options.reject_fraction * static_cast<double>(blank.size()) - 1e-9));
    // Vetoing p < t_b rejects the k lowest blanks.
    const double t_b = std::nextafter(blank[std::max<size_t>(k, 1) - 1],
                                      std::numeric_limits<double>::infinity());
    t = std::min(t, t_b);
  }
  c.veto_threshold = t;
  const double b = options.band.value_or(t);
  DT_CHECK(t + b <= 1.0, FormatError, "calibration set: the veto point p_hit ", t,
           " plus the band ", b, " gives a hit threshold of ", t + b,
           ", above 1: not a probability (classify would veto every frame below ", t,
           "); a set whose crystal frames all score this high is too small or too easy to "
           "calibrate on, or the band (band) is too wide");
  // decide() vetoes p < thr with |p − thr| ≥ b; thr = t + b puts that boundary at t, and
  // rounding may put t itself on the veto side: step thr down until t is not vetoed.
  double thr = t + b;
  while (models::decide(t, thr, b) == models::Decision::kNo) {
    thr = std::nextafter(thr, -std::numeric_limits<double>::infinity());
  }
  c.hit_threshold = thr;
  c.uncertainty_band = b;
  for (size_t i = 0; i < scores.size(); ++i) {
    const auto d = models::decide(scores[i], thr, b);
    if (truth[i]) {
      ++c.n_crystal;
      c.n_crystal_uncertain += d == models::Decision::kUncertain;
      c.n_crystal_vetoed += d == models::Decision::kNo;
    } else {
      ++c.n_blank;
      c.n_blank_uncertain += d == models::Decision::kUncertain;
      c.n_blank_vetoed += d == models::Decision::kNo;
    }
  }
  return c;
}

nlohmann::json to_json(const VetoCalibration& c) {
  return {{"veto_point", to_json(c.point)},
          {"veto_threshold", c.veto_threshold},
          {"hit_threshold", c.hit_threshold},
          {"uncertainty_band", c.uncertainty_band},
          {"crystal", {{"n", c.n_crystal},
                       {"uncertain", c.n_crystal_uncertain},
                       {"vetoed", c.n_crystal_vetoed}}},
          {"blank", {{"n", c.n_blank},
                     {"uncertain", c.n_blank_uncertain},
                     {"vetoed", c.n_blank_vetoed}}},
          {"skipped", c.n_skipped}};
}

void apply_veto_calibration(models::ModelMetadata& metadata, const VetoCalibration& c,
                            const nlohmann::json& source) {
  metadata.thresholds["hit"] = c.hit_threshold;
  metadata.uncertainty_band = c.uncertainty_band;
  auto record = to_json(c);
  record["source"] = source;
  if (!metadata.provenance.is_object()) metadata.provenance = nlohmann::json::object();
  metadata.provenance["veto_calibration"] = std::move(record);
}

}  // namespace difftriage::evaluate
