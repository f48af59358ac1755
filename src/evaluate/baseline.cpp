#include "difftriage/evaluate/baseline.h"

#include <algorithm>
#include <mutex>

#include <nlohmann/json.hpp>

#include "difftriage/core/error.h"
#include "difftriage/core/labels.h"
#include "difftriage/core/parallel.h"
#include "difftriage/dataset/labels.h"
#include "difftriage/dataset/sidecar.h"
#include "difftriage/io/image_io.h"

namespace difftriage::evaluate {
namespace {

uint8_t label(const std::array<uint8_t, kNumLabels>& labels, Label which) {
  return labels[static_cast<size_t>(which)];
}

nlohmann::json optional_bool(const std::optional<bool>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

/// Scores and truth of the scored frames that carry the truth `pick` selects.
template <typename Score, typename Pick>
void collect(const std::vector<FrameResult>& frames, Score score, Pick pick,
             std::vector<double>& scores, std::vector<uint8_t>& truth) {
  for (const auto& f : frames) {
    if (!f.ok()) continue;
    const std::optional<bool> t = pick(f.truth);
    if (!t) continue;
    scores.push_back(score(f.scores));
    truth.push_back(*t ? 1 : 0);
  }
}

nlohmann::json task_json(const char* score, const std::string& decision, double threshold,
                         const std::optional<BinaryMetrics>& metrics) {
  if (!metrics) return nullptr;
  return {{"score", score},
          {"decision", decision},
          {"threshold", json_number(threshold)},
          {"metrics", to_json(*metrics)}};
}

}  // namespace

FrameScores score_frame(const ImageView<float>& frame, const BaselineOptions& options) {
  FrameScores s;
  const auto spots = features::find_spots(frame, options.spot_finder);
  s.n_spots = static_cast<int64_t>(spots.size());
  for (const auto& spot : spots) s.max_snr = std::max(s.max_snr, spot.snr);
  const auto ice = features::ice_score(frame, options.ice);
  s.ice_score = ice.score;
  s.ice_radius_px = ice.radius_px;
  return s;
}

BaselineTruth baseline_truth(const dataset::Sample& sample) {
  BaselineTruth t;
  t.quality = sample.quality;
  if (sample.labels) {
    t.has_crystal = label(*sample.labels, Label::kBlank) == 0;
    t.ice = label(*sample.labels, Label::kIce) != 0;
    t.badice = label(*sample.labels, Label::kBadice) != 0;
  } else if (sample.quality) {
    t.has_crystal = has_crystal(*sample.quality);
  }
  return t;
}

std::vector<FrameResult> score_dataset(const dataset::Dataset& dataset,
                                       const BaselineOptions& options) {
  DT_CHECK(options.n_threads >= 1, ConfigError, "baseline: n_threads must be >= 1, got ",
           options.n_threads);
  const size_t n = dataset.samples.size();
  std::vector<FrameResult> results(n);
  for (size_t i = 0; i < n; ++i) {
    results[i].file = dataset.samples[i].file;
    results[i].path = dataset.samples[i].path;
    results[i].truth = baseline_truth(dataset.samples[i]);
  }
  // A ConfigError (bad options fail every frame alike) or anything unexpected stops the run and
  // is rethrown here; IoError / FormatError mean this frame's data is at fault and are kept.
  std::mutex progress_mutex;
  int64_t n_done = 0;
  parallel_for(static_cast<int64_t>(n), options.n_threads, [&](int64_t i) {
    FrameResult& r = results[static_cast<size_t>(i)];
    try {
      if (const auto sidecar = dataset::read_sidecar_truth(r.path)) {
        r.truth.bright_spots = sidecar->bright_spots;
      }
      const AnyImage raw = io::read_image(r.path);
      const Image<float> frame = to_float(raw);
      r.scores = score_frame(frame.view(), options);
    } catch (const ConfigError&) {
      throw;
    } catch (const Error& e) {
      r.error = e.what();
    }
    if (options.on_progress) {
      const std::lock_guard<std::mutex> lock(progress_mutex);
      options.on_progress(++n_done, static_cast<int64_t>(n));
    }
  });
  return results;
}

BaselineReport evaluate_baseline(const std::vector<FrameResult>& frames,
                                 const BaselineOptions& options) {
  BaselineReport report;
  report.n_frames = static_cast<int64_t>(frames.size());
  for (const auto& f : frames) (f.ok() ? report.n_scored : report.n_errors) += 1;
  report.min_spots = options.min_spots;
  report.ice_threshold = options.ice_threshold;
  report.badice_threshold = options.badice_threshold;

  const auto spots = [](const FrameScores& s) { return static_cast<double>(s.n_spots); };
  const auto ice = [](const FrameScores& s) { return s.ice_score; };
  {
    std::vector<double> scores;
    std::vector<uint8_t> truth;
    collect(frames, spots, [](const BaselineTruth& t) { return t.has_crystal; }, scores, truth);
    if (!scores.empty()) {
      report.hit = evaluate_binary(scores, truth, {static_cast<double>(options.min_spots), true});
      report.hit_veto = find_veto_point(scores, truth, options.veto);
      std::vector<std::optional<int64_t>> bright;
      for (const auto& f : frames) {
        if (f.ok() && f.truth.has_crystal) bright.push_back(f.truth.bright_spots);
      }
      report.hit_veto_visible = find_visible_veto_point(scores, truth, bright, options.veto);
    }
  }
  {
    std::vector<double> scores;
    std::vector<uint8_t> truth;
    collect(frames, ice, [](const BaselineTruth& t) { return t.ice; }, scores, truth);
    if (!scores.empty()) report.ice = evaluate_binary(scores, truth, {options.ice_threshold, true});
  }
  {
    std::vector<double> scores;
    std::vector<uint8_t> truth;
    collect(frames, ice, [](const BaselineTruth& t) { return t.badice; }, scores, truth);
    if (!scores.empty()) {
      report.badice = evaluate_binary(scores, truth, {options.badice_threshold, true});
    }
  }
  return report;
}

nlohmann::json to_json(const BaselineReport& report) {
  nlohmann::json hit = task_json("n_spots", "n_spots >= min_spots",
                                 static_cast<double>(report.min_spots), report.hit);
  if (report.hit) {
    hit["min_spots"] = report.min_spots;
    hit["veto"] = report.hit_veto ? to_json(*report.hit_veto) : nlohmann::json(nullptr);
    hit["veto_visible"] =
        report.hit_veto_visible ? to_json(*report.hit_veto_visible) : nlohmann::json(nullptr);
  }
  return {{"n_frames", report.n_frames},
          {"n_scored", report.n_scored},
          {"n_errors", report.n_errors},
          {"hit_finder", hit},
          {"ice", task_json("ice_score", "ice_score >= ice_threshold", report.ice_threshold,
                            report.ice)},
          {"badice", task_json("ice_score", "ice_score >= badice_threshold",
                               report.badice_threshold, report.badice)}};
}

nlohmann::json to_json(const FrameResult& frame) {
  const BaselineTruth& t = frame.truth;
  nlohmann::json truth = {
      {"has_crystal", optional_bool(t.has_crystal)},
      {"ice", optional_bool(t.ice)},
      {"badice", optional_bool(t.badice)},
      {"quality", t.quality ? nlohmann::json(quality_name(*t.quality))
                            : nlohmann::json(nullptr)},
      {"bright_spots", t.bright_spots ? nlohmann::json(*t.bright_spots) : nlohmann::json(nullptr)}};
  nlohmann::json j = {{"file", frame.file}, {"path", frame.path.string()}};
  if (frame.ok()) {
    j["n_spots"] = frame.scores.n_spots;
    j["max_snr"] = json_number(frame.scores.max_snr);
    j["ice_score"] = json_number(frame.scores.ice_score);
    j["ice_radius_px"] = json_number(frame.scores.ice_radius_px);
  } else {
    j["n_spots"] = j["max_snr"] = j["ice_score"] = j["ice_radius_px"] = nullptr;
  }
  j["truth"] = truth;
  j["error"] = frame.ok() ? nlohmann::json(nullptr) : nlohmann::json(frame.error);
  return j;
}

std::string format_baseline(const BaselineReport& report) {
  std::string out = "frames: " + std::to_string(report.n_frames) + " (" +
                    std::to_string(report.n_scored) + " scored, " +
                    std::to_string(report.n_errors) + " failed)\n";
  std::vector<std::pair<std::string, BinaryMetrics>> rows;
  if (report.hit) rows.emplace_back("hit (n_spots)", *report.hit);
  if (report.ice) rows.emplace_back("ice (ice_score)", *report.ice);
  if (report.badice) rows.emplace_back("badice (ice_score)", *report.badice);
  if (rows.empty()) return out + "no frame carries a truth the baselines can be scored on\n";
  out += format_binary_table(rows);
  out += "(chance = accuracy of always predicting the majority class; PR-AUC (chance) = "
         "positive fraction)\n";
  if (report.hit_veto) out += format_veto("veto (n_spots)", *report.hit_veto);
  if (report.hit_veto_visible) {
    out += format_veto("veto (n_spots), hits = crystal frames with >= 1 bright spot",
                       *report.hit_veto_visible);
  }
  return out;
}

}  // namespace difftriage::evaluate
