/// The triage decision for one frame (fail-open) and its results.jsonl row.
///
///   stream::TriageDecision d = stream::decide_triage(result, classifier->metadata());
///   if (d.keep()) hits << stream::to_event_line(result.address) << '\n';
///   jsonl << stream::result_row(result, d, classifier->metadata()).dump() << '\n';
///
/// Fail-open: a frame is vetoed only when the model is confident it is blank, i.e. its hit
/// probability p_hit (models::score_hit, hit_score.h: 1 − p(blank) of a blank head or of the
/// labels head, else 1 − p(blank) − p(noxtal) of the quality head) is below the hit threshold
/// (ModelMetadata::hit_threshold) AND outside the model's uncertainty band (|p_hit − threshold|
/// ≥ uncertainty_band). A frame inside the band is kept and flagged "uncertain"; a frame that
/// could not be read, preprocessed or classified is kept, flagged "unreadable", with its error
/// message; a model with none of these outputs cannot veto, so every frame is kept and flagged
/// "no_blank_output".
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "difftriage/models/model_info.h"
#include "difftriage/features/evidence_stage.h"
#include "difftriage/stream/frame_address.h"

namespace difftriage::stream {

/// What the pipeline produced for one input frame. Plain value type.
struct FrameResult {
  int64_t index = 0;  ///< position in the input list (0-based)
  FrameAddress address;
  /// The model's outputs; empty when the frame failed.
  std::optional<models::Prediction> prediction;
  /// Why the frame failed (read, preprocessing or inference error, naming file and frame);
  /// empty when `prediction` is set.
  std::string error;
  /// The spot-level evidence (features/evidence_stage.h), when the run has an evidence stage and the
  /// frame could be read.
  std::optional<features::FrameEvidenceResult> evidence;

  bool ok() const noexcept { return prediction.has_value(); }
};

/// The fail-open decision for one frame. Plain value type.
struct TriageDecision {
  bool veto = false;        ///< true only for a confident blank
  bool uncertain = false;   ///< p_hit within the uncertainty band: kept
  bool unreadable = false;  ///< the frame failed: kept with its error
  /// Kept without a judgement: the model gives no p_hit ("no_blank_output"), or the live
  /// stream's triage fell behind ("untriaged", stream/live.h).
  bool untriaged = false;
  /// The model alone would have vetoed the frame, but its spot evidence holds enough Bragg
  /// peaks (features::FrameEvidence::guard_keeps): kept, flagged "spot_guard".
  bool spot_guard = false;
  /// The frame lies beyond the model's familiarity threshold (models/familiarity.h): kept
  /// whatever p_hit says, flagged "unfamiliar".
  bool unfamiliar = false;
  /// models::score_hit's p_hit, when the model gives one and the frame was classified.
  std::optional<double> p_hit;
  /// In order: "unreadable", "uncertain", "no_blank_output", "spot_guard", "no_geometry",
  /// "unfamiliar" (those that apply; "no_geometry": the run measures spot evidence but the frame
  /// has no geometry).
  std::vector<std::string> flags;

  bool keep() const noexcept { return !veto; }
};

/// Decides keep/veto for `result` (see the top of this header). Pure, thread-safe.
TriageDecision decide_triage(const FrameResult& result, const models::ModelMetadata& metadata);

/// The decision a results.jsonl row records (its `decision` and `flags`), e.g. to count a
/// written file again (classify --resume, merging the rows of several streams or ranks); p_hit
/// is not recorded in the row and stays unset. @throws FormatError when `row` lacks a valid
/// `decision` or `flags`.
TriageDecision decision_from_row(const nlohmann::json& row);

/// The accounting of a triage run: THE identity every command and every later producer of
/// results.jsonl rows (streams, report, Python, MPI merge) reports and checks —
///   n_frames = n_kept + n_veto,
/// and n_uncertain, n_unreadable and n_untriaged are disjoint subsets of n_kept (each kept frame
/// carries at most one of the flags "uncertain", "unreadable", "no_blank_output"; the rest of
/// n_kept are confident hits). Plain value type.
struct TriageCounts {
  int64_t n_frames = 0;
  int64_t n_kept = 0;        ///< hits + uncertain + unreadable + untriaged
  int64_t n_veto = 0;
  int64_t n_uncertain = 0;   ///< kept, flagged "uncertain"
  int64_t n_unreadable = 0;  ///< kept, flagged "unreadable" (summary.json's n_errors until 0.x)
  int64_t n_untriaged = 0;   ///< kept unjudged: "no_blank_output" or the stream's "untriaged"

  /// Counts one frame's decision.
  void add(const TriageDecision& decision) noexcept;
  /// Adds another run's counts (e.g. of another stream or rank).
  void merge(const TriageCounts& other) noexcept;
  /// True when the identity above holds.
  bool consistent() const noexcept;
  /// Kept readable frames / readable frames (unreadable frames are kept but not hits); 0 when
  /// no frame was readable.
  double hit_rate() const noexcept;
  /// The counters, exactly: {n_frames, n_kept, n_veto, n_uncertain, n_unreadable, n_untriaged,
  /// hit_rate} (summary.json's top level).
  nlohmann::json to_json() const;
  /// Inverse of to_json (hit_rate is recomputed). @throws FormatError naming the missing or
  /// ill-typed counter, or when the identity does not hold.
  static TriageCounts from_json(const nlohmann::json& counts);
};

/// The results.jsonl object of one frame, with exactly the keys
/// `path, frame, p, labels, quality, p_quality, mosaic1, mosaic2, decision, flags, error`, and
/// `path_b64` after `path` when the file name is not valid UTF-8 (core/json_text.h set_path:
/// `path` then holds the name with U+FFFD for each invalid byte, `path_b64` the exact bytes):
/// `p` and `labels` map the six label names (kLabelNames) to a probability and to 0|1 (the
/// model's threshold), `quality` is the argmax class name, `p_quality` maps the five quality
/// names to probabilities, `mosaic1`/`mosaic2` are the mosaic head outputs in [0,1],
/// `decision` is "keep" or "veto", `flags` the decision's flags and `error` null or the
/// message. Values the model does not output (and all of them on an error row) are null.
/// Pure, thread-safe.
nlohmann::json result_row(const FrameResult& result, const TriageDecision& decision,
                          const models::ModelMetadata& metadata);

}  // namespace difftriage::stream
