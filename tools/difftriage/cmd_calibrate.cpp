// difftriage calibrate --model M --data CALIB --out M2 — sets the keep/veto operating point of a
// trained model from a labelled calibration set (never the test set): the hit threshold below
// which `classify` vetoes a frame, and the uncertainty band in which it keeps and flags it.
// The work is in difftriage::evaluate (calibrate.h); the weights are copied unchanged.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"
#include "difftriage/core/error.h"
#include "difftriage/dataset/dataset.h"
#include "difftriage/evaluate/calibrate.h"
#include "difftriage/evaluate/model_eval.h"
#include "difftriage/models/classifier.h"
#include "difftriage/models/familiarity.h"

namespace difftriage::cli {
namespace {

// With the spot evidence (unless --reject-fraction): the veto sits as low as rejecting this share
// of the calibration set's blanks allows.
constexpr double kDefaultRejectFraction = 0.99;

// Widest uncertainty band of a calibration with the spot evidence (unless --band).
constexpr double kGuardedBand = 0.02;

struct CalibrateArgs {
  std::string model, data, out;
  evaluate::ModelEvalOptions eval;
  evaluate::VetoCalibrationOptions calibration;
  double band = -1;  // < 0: unset (the veto point)
  int64_t min_crystal_frames = -1;  // < 0: unset (the rule of min_crystal_frames_for)
  double reject_fraction = -1;      // < 0: unset (0.99 with the spot evidence, else none)
  std::string command;
  bool quiet = false;
  features::EvidenceArgs evidence;
  models::FamiliarityOptions familiarity;
  bool no_familiarity = false;
};

// The familiarity (models/familiarity.h) fitted on every frame of the set that was read, crystal
// or blank: the frames the veto was checked on. A set too small for the components asked fits
// as many as it supports (frames − 2); one of under 3 frames gets none (nullopt), said on stdout.
std::optional<models::Familiarity> fit_set_familiarity(const evaluate::ModelPredictions& preds,
                                                       models::FamiliarityOptions options) {
  std::vector<std::vector<float>> features;
  for (const auto& f : preds.frames) {
    if (f.ok() && !f.trunk_features.empty()) features.push_back(f.trunk_features);
  }
  const auto n = static_cast<int64_t>(features.size());
  if (n < 3) {
    std::printf("familiarity: not fitted (%lld frame(s) read; 3 needed): no frame will be "
                "flagged unfamiliar\n", static_cast<long long>(n));
    return std::nullopt;
  }
  const auto d = static_cast<int64_t>(features.front().size());
  options.n_components = std::min({options.n_components, n - 2, d - 1});
  return models::fit_familiarity(features, options);
}

// With the spot evidence, the frames the veto must keep are those whose diffraction shows
// (issue 17: labels by visibility): the veto point is set on the crystal frames with at least one
// bright reflection in their sidecar (frames without a sidecar count as visible); crystal frames
// without one are left out of it (counted in n_skipped). Returns how many were left out. The
// guard is not used here: it protects frames the model misjudges, on top of this point, and a
// point set only on the few frames it does not protect would rest on a dozen frames.
int64_t keep_only_visible(evaluate::ModelPredictions& preds) {
  int64_t n_invisible = 0;
  for (auto& f : preds.frames) {
    if (!f.ok() || !f.truth_has_crystal || !*f.truth_has_crystal) continue;
    if (f.truth_bright_spots && *f.truth_bright_spots == 0) {
      f.truth_has_crystal.reset();
      ++n_invisible;
    }
  }
  return n_invisible;
}

std::string percent(int64_t k, int64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %%", n > 0 ? 100.0 * static_cast<double>(k) / n : 0.0);
  return buf;
}

void run_calibrate(CalibrateArgs& a) {
  if (a.band >= 0) a.calibration.band = a.band;
  if (a.min_crystal_frames >= 0) a.calibration.min_crystal_frames = a.min_crystal_frames;
  const auto ds = dataset::load_dataset(a.data);
  DT_CHECK(!ds.samples.empty(), FormatError, a.data, ": the label files list no images");
  // One load: the classifier that scores the calibration set is the model saved with the
  // calibrated thresholds.
  const auto classifier = models::Classifier::load(a.model);
  ProgressLine progress("calibrate", "frames", static_cast<int64_t>(ds.samples.size()), a.quiet);
  auto eval_options = a.eval;
  eval_options.on_progress = [&progress](int64_t done, int64_t) { progress.update(done); };
  eval_options.evidence =
      features::make_evidence_stage(a.evidence, classifier.metadata().spot_evidence);
  auto preds = evaluate::predict_dataset(classifier, ds, eval_options);
  progress.finish(static_cast<int64_t>(preds.frames.size()));
  int64_t n_invisible = 0;
  if (a.reject_fraction >= 0) a.calibration.reject_fraction = a.reject_fraction;
  if (eval_options.evidence) {
    n_invisible = keep_only_visible(preds);
    if (a.reject_fraction < 0) a.calibration.reject_fraction = kDefaultRejectFraction;
    // Near 1 the default band (the point itself) would push the threshold above 1: a band of
    // kGuardedBand, narrowed to a quarter of what lies above the point, flags the frames just
    // above it and keeps those well above without a flag.
    if (!a.calibration.band) {
      auto probe = a.calibration;
      probe.band = 0.0;
      const double t = evaluate::calibrate_veto(preds, probe).veto_threshold;
      a.calibration.band = std::min({t, kGuardedBand, std::max(0.0, (1.0 - t) / 4.0)});
    }
  }
  const auto c = evaluate::calibrate_veto(preds, a.calibration);
  std::optional<models::Familiarity> familiarity;
  if (!a.no_familiarity) familiarity = fit_set_familiarity(preds, a.familiarity);
  auto metadata = classifier.metadata();
  evaluate::apply_veto_calibration(
      metadata, c,
      {{"data", a.data}, {"model", a.model}, {"command", a.command},
       {"keep_fraction", a.calibration.keep_fraction},
       {"reject_fraction", a.calibration.reject_fraction
                               ? nlohmann::json(*a.calibration.reject_fraction)
                               : nlohmann::json()},
       {"visible_crystal_frames_only", eval_options.evidence != nullptr},
       {"n_crystal_without_bright_spot", n_invisible}});
  metadata.familiarity = familiarity ? models::to_json(*familiarity) : nlohmann::json();
  make_output_dir(a.out);
  classifier.save(a.out, metadata);
  if (eval_options.evidence) {
    std::printf("%lld crystal frame(s) without a bright spot left out of the veto point\n",
                static_cast<long long>(n_invisible));
  }
  if (familiarity) {
    std::printf("familiarity: %lld frame(s), %lld components; a frame farther than %.4g (the "
                "set's %g quantile) is kept and flagged unfamiliar\n",
                static_cast<long long>(familiarity->n_frames),
                static_cast<long long>(familiarity->components.size()), familiarity->threshold,
                familiarity->quantile);
  }
  if (c.veto_threshold < c.point.threshold) {
    std::printf("veto point lowered to p_hit %.6g: the smallest that rejects %g of the blanks "
                "(--reject-fraction)\n",
                c.veto_threshold, a.calibration.reject_fraction.value_or(1.0));
  }
  std::printf(
      "calibration set %s: %lld crystal frame(s), %lld blank(s), %lld left out\n"
      "veto point (keep >= %g of crystal frames): p_hit %.6g\n"
      "hit threshold %.6g, uncertainty band %.6g: veto p_hit < %.6g, keep flagged uncertain "
      "below %.6g\n"
      "on this set: crystal frames kept %lld/%lld (%lld uncertain), blanks vetoed %lld/%lld "
      "(%s), %lld uncertain\n"
      "wrote %s\n",
      a.data.c_str(), static_cast<long long>(c.n_crystal), static_cast<long long>(c.n_blank),
      static_cast<long long>(c.n_skipped), a.calibration.keep_fraction, c.point.threshold,
      c.hit_threshold, c.uncertainty_band, c.hit_threshold - c.uncertainty_band,
      c.hit_threshold + c.uncertainty_band,
      static_cast<long long>(c.n_crystal - c.n_crystal_vetoed),
      static_cast<long long>(c.n_crystal), static_cast<long long>(c.n_crystal_uncertain),
      static_cast<long long>(c.n_blank_vetoed), static_cast<long long>(c.n_blank),
      percent(c.n_blank_vetoed, c.n_blank).c_str(), static_cast<long long>(c.n_blank_uncertain),
      models::checkpoint_files(a.out).sidecar.string().c_str());
  // As evaluate: unreadable frames are named and make the exit code 3, after writing.
  int64_t n_errors = 0;
  for (const auto& f : preds.frames) {
    if (f.ok()) continue;
    ++n_errors;
    std::fprintf(stderr, "difftriage: error: %s\n", f.error.c_str());
  }
  if (n_errors > 0) {
    std::fprintf(stderr,
                 "difftriage: error: %lld frame(s) of %s could not be read; the calibration "
                 "above leaves them out\n",
                 static_cast<long long>(n_errors), a.data.c_str());
    throw ExitRequest{kExitData};
  }
}

}  // namespace

void register_calibrate(CLI::App& root) {
  auto a = std::make_shared<CalibrateArgs>();
  CLI::App* cmd = root.add_subcommand(
      "calibrate",
      "Set a trained model's keep/veto operating point from a labelled calibration set (not the "
      "test set): classify vetoes a frame only when p_hit is below the veto point, and keeps "
      "frames just above it flagged uncertain. Writes the model, weights unchanged, to --out. "
      "Exit 3 (after writing) if a frame could not be read");
  cmd->add_option("--model", a->model,
                  "Checkpoint to calibrate (folder with model.pt + model.json)")
      ->required();
  cmd->add_option("--data", a->data,
                  "Calibration dataset folder (multiclasses.txt and/or categories1.txt) with "
                  "crystal frames and blanks")
      ->required();
  cmd->add_option("--out", a->out,
                  "Output checkpoint folder (created if missing; may be --model itself)")
      ->required();
  cmd->add_option("--keep-fraction", a->calibration.keep_fraction,
                  "Share of the calibration set's crystal frames the veto must keep, in (0, 1]")
      ->check(CLI::Range(1e-9, 1.0))
      ->capture_default_str();
  cmd->add_option("--band", a->band,
                  "Half-width of the uncertainty band around the hit threshold, in [0, 1) "
                  "(default: the veto point itself, so frames with p_hit in [t, 3t) are kept and "
                  "flagged uncertain; with the spot evidence at most 0.02 and a quarter of 1 - t, "
                  "and the veto point is set on the crystal frames with a bright reflection in "
                  "their sidecar: those whose diffraction shows). It also flags label probabilities this close to their "
                  "thresholds")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--min-crystal-frames", a->min_crystal_frames,
                  "Fewest crystal frames the set must hold (default: the rule n/(n+1) >= "
                  "min(keep fraction, 0.99): 99 for --keep-fraction 1, 19 for 0.95, 9 for 0.9). "
                  "A smaller set is refused (exit 3), as is a hit threshold above 1")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  cmd->add_option("--reject-fraction", a->reject_fraction,
                  "Lower the veto point from the keep point to the smallest p_hit that still "
                  "vetoes this share of the calibration set's blanks, in (0, 1] (default 0.99 "
                  "with the spot evidence: the widest margin to the crystal frames; without it, "
                  "the keep point)")
      ->check(CLI::Range(1e-9, 1.0));
  cmd->add_option("--unfamiliar-quantile", a->familiarity.quantile,
                  "Familiarity threshold: this quantile of the calibration frames' own distance "
                  "to the set (pooled trunk features, PCA Mahalanobis); classify keeps and flags "
                  "'unfamiliar' any frame farther away, in (0, 1]")
      ->check(CLI::Range(1e-9, 1.0))
      ->capture_default_str();
  cmd->add_option("--unfamiliar-components", a->familiarity.n_components,
                  "Principal directions of the familiarity distance (a set of N frames fits at most "
                  "N - 2)")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}))
      ->capture_default_str();
  cmd->add_flag("--no-familiarity", a->no_familiarity,
                "Write no familiarity: classify never flags a frame unfamiliar");
  add_evidence_options(*cmd, a->evidence);
  cmd->add_flag("--quiet", a->quiet, "No progress on stderr");
  add_inference_options(*cmd, a->eval.n_threads, a->eval.n_workers, a->eval.batch_size);
  cmd->callback([a, cmd] {
    a->command = command_line(*cmd);
    run_calibrate(*a);
  });
}

}  // namespace difftriage::cli
