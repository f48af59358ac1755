/// Classical baselines on a labelled dataset (DESIGN.md, "Learning"): a spot-counting hit finder
/// (local maximum + SNR, the peakfinder8 / DIALS idea, features::find_spots) and a shell-median
/// ice-ring score (features::ice_score), evaluated with the same honest metrics as the networks.
/// This is the evaluation runner of the classical methods; besides `core` it uses `dataset`,
/// `io` and `features` (still no LibTorch, so it lives in difftriage_core).
///
///   auto ds = difftriage::dataset::load_dataset("sim/test");
///   difftriage::evaluate::BaselineOptions options;          // >= 10 spots is a hit
///   auto frames = difftriage::evaluate::score_dataset(ds, options);
///   auto report = difftriage::evaluate::evaluate_baseline(frames, options);
///   std::cout << difftriage::evaluate::format_baseline(report);
///
/// Truth used:
/// - "has crystal": from multiclasses.txt, blank == 0; for a sample with only a categories1.txt
///   row, quality ∈ {weak, good, strong} (blank and noxtal have no crystal).
/// - "ice" and "badice": the multiclasses.txt labels; samples without that row are left out.
#pragma once

#include <cstdint>
#include <functional>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "difftriage/core/image.h"
#include "difftriage/dataset/dataset.h"
#include "difftriage/evaluate/metrics.h"
#include "difftriage/features/ice.h"
#include "difftriage/features/spots.h"

namespace difftriage::evaluate {

/// Options of the classical baselines.
struct BaselineOptions {
  features::SpotFinderOptions spot_finder;  ///< spot finder thresholds (its defaults)
  features::IceScoreOptions ice;            ///< ice score options (its defaults)
  /// Hit decision: a frame is a hit iff it has at least this many spots (the rule of thumb of
  /// serial-crystallography hit finders, e.g. CrystFEL's min-peaks ≈ 10–20).
  int64_t min_spots = 10;
  /// Ice decision: ice iff ice score >= this. The score is a ring contrast in noise units; pure
  /// noise stays below ~8, so 10 is a conservative default.
  double ice_threshold = 10.0;
  /// Bad-ice decision: badice iff ice score >= this (badice rings are near saturation, far
  /// stronger than ordinary ice).
  double badice_threshold = 50.0;
  VetoOptions veto;  ///< keep ≥ 99.9 % of the hits by default
  /// Worker threads for score_dataset (≥ 1). Results are in input order whatever the count.
  int n_threads = 2;
  /// Called by score_dataset as frames are scored, with (frames done, frames in all); calls are
  /// serialised (never two at once), from the worker threads.
  std::function<void(int64_t n_done, int64_t n_frames)> on_progress = {};
};

/// Classical scores of one frame.
struct FrameScores {
  int64_t n_spots = 0;     ///< spots found (hit score)
  double max_snr = 0;      ///< highest spot SNR; 0 when no spot
  double ice_score = 0;    ///< features::IceScore::score
  double ice_radius_px = 0;  ///< radius of the strongest ring candidate
};

/// Scores one frame (float pixels, any size). Pure; thread-safe.
/// @throws ConfigError for invalid spot-finder or ice options.
[[nodiscard]] FrameScores score_frame(const ImageView<float>& frame,
                                      const BaselineOptions& options = {});

/// What a sample's labels say, for the baselines (see the header comment for the rules).
/// Members are unset when the sample's label files do not tell.
struct BaselineTruth {
  std::optional<bool> has_crystal;
  std::optional<bool> ice;
  std::optional<bool> badice;
  std::optional<Quality> quality;
  /// Bright spots in the simulator's sidecar (dataset/sidecar.h); set by score_dataset when the
  /// frame has one.
  std::optional<int64_t> bright_spots;
};

/// Truth of one sample. Pure.
[[nodiscard]] BaselineTruth baseline_truth(const dataset::Sample& sample);

/// One frame of a dataset, scored.
struct FrameResult {
  std::string file;            ///< as in the label file
  std::filesystem::path path;  ///< root / file
  BaselineTruth truth;
  FrameScores scores;          ///< meaningless when `error` is set
  std::string error;           ///< why the frame could not be scored (read/decode error); empty if ok
  /// True when the frame was scored.
  bool ok() const noexcept { return error.empty(); }
};

/// Reads (io::read_image, frame 0) and scores every sample of `dataset` on
/// options.n_threads worker threads; results in sample order. A frame that cannot be read or
/// decoded (an IoError or FormatError) becomes a FrameResult with `error` set — the run goes on
/// and the caller decides (the CLI exits 3 after writing everything). Thread-safe with respect
/// to other calls.
/// @throws ConfigError if n_threads < 1 or an option is invalid; any non-difftriage exception of
///         a worker (std::bad_alloc, …) is rethrown after all workers have stopped.
[[nodiscard]] std::vector<FrameResult> score_dataset(const dataset::Dataset& dataset,
                                                     const BaselineOptions& options = {});

/// Dataset-level evaluation of the baselines. Only frames that were scored (ok()) and carry the
/// relevant truth count.
struct BaselineReport {
  int64_t n_frames = 0;  ///< frames in the dataset
  int64_t n_scored = 0;  ///< frames scored
  int64_t n_errors = 0;  ///< frames that failed to read or decode
  int64_t min_spots = 10;
  double ice_threshold = 10.0;
  double badice_threshold = 50.0;
  /// Spot count vs "has crystal" (decision: n_spots >= min_spots). Unset with no such truth.
  std::optional<BinaryMetrics> hit;
  /// Veto operating point of the spot count (keep ≥ keep_fraction of the crystal frames).
  std::optional<VetoPoint> hit_veto;
  /// The same, hits = crystal frames with ≥ 1 bright spot (find_visible_veto_point).
  std::optional<VetoPoint> hit_veto_visible;
  /// Ice score vs the ice label (decision: >= ice_threshold). Unset without multilabel rows.
  std::optional<BinaryMetrics> ice;
  /// Ice score vs the badice label (decision: >= badice_threshold).
  std::optional<BinaryMetrics> badice;
};

/// Evaluates scored frames. Pure.
/// @throws ConfigError for an invalid veto keep fraction.
[[nodiscard]] BaselineReport evaluate_baseline(const std::vector<FrameResult>& frames,
                                               const BaselineOptions& options = {});

/// metrics.json form:
///   {"n_frames", "n_scored", "n_errors",
///    "hit_finder": {"score": "n_spots", "decision": "n_spots >= min_spots", "min_spots",
///                   "metrics": <BinaryMetrics>, "veto": <VetoPoint>,
///                   "veto_visible": <VetoPoint> | null} | null,
///    "ice": {"score": "ice_score", "decision": ..., "threshold", "metrics": ...} | null,
///    "badice": {... as ice ...} | null}
/// Every BinaryMetrics carries its chance baselines (majority_accuracy, positive_fraction).
[[nodiscard]] nlohmann::json to_json(const BaselineReport& report);

/// One predictions.jsonl object: {"file", "path", "n_spots", "max_snr", "ice_score",
/// "ice_radius_px", "truth": {"has_crystal", "ice", "badice", "quality", "bright_spots"} (null
/// when unknown),
/// "error": null | message}. Scores are null for a frame that failed.
[[nodiscard]] nlohmann::json to_json(const FrameResult& frame);

/// The stdout table: frame counts, the binary metrics table (accuracy beside chance) and the
/// veto line.
[[nodiscard]] std::string format_baseline(const BaselineReport& report);

}  // namespace difftriage::evaluate
