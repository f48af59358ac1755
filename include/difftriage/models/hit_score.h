/// The hit score: the one function that turns a frame's evidence into p_hit, the probability
/// that the frame holds diffraction from a crystal (a "hit"). `classify` (stream::decide_triage)
/// compares it with the model's hit threshold, `evaluate` measures it against the truth and
/// `calibrate` sets thresholds["hit"] on it, so a threshold means the same everywhere. Does not
/// include LibTorch.
///
///   models::Prediction p = classifier.classify(frame);
///   models::HitScore s = models::score_hit({p}, classifier.metadata());
///   if (s.p_hit) std::cout << *s.p_hit << " (" << s.evidence << ")\n";
///
/// Rule (first that applies; "blank" and "noxtal" are found by name in the model's
/// label_names / quality_names):
///  1. a binary `blank` head (Prediction::binary["blank"]): p_hit = 1 − p;
///  2. the labels head's `blank` output: p_hit = 1 − p(blank);
///  3. the quality head (softmax): p_hit = 1 − p(blank) − p(noxtal), i.e. p(weak) + p(good) +
///     p(strong), clamped to [0, 1];
///  4. none of these: no p_hit (the model cannot veto; `classify` keeps the frame).
/// Why this order: a binary `blank` head exists only because a model was trained with a
/// dedicated blank output, and results.jsonl's p.blank already shows that head over the labels
/// head, so p_hit = 1 − p.blank holds in every row; the labels head's blank is a sigmoid of the
/// same question; the quality head answers it only indirectly (two of five classes).
///
/// More evidence (e.g. the spot finder's count) will join HitEvidence; the rule above is then
/// the network's part of the score.
#pragma once

#include <optional>
#include <vector>

#include "difftriage/models/model_info.h"

namespace difftriage::models {

/// Which output gave p_hit (rules 1–4 of the header comment).
enum class HitSource {
  kNone,           ///< no output answers "is this frame blank?"
  kBlankOutput,    ///< 1 − p of a binary `blank` head
  kLabelsBlank,    ///< 1 − p(blank) of the labels head
  kQualityClasses  ///< 1 − p(blank) − p(noxtal) of the quality head
};

/// Everything known about one frame that bears on p_hit. A view: it refers to `network` and
/// must not outlive it; build it where you call score_hit.
struct HitEvidence {
  /// The network's outputs for the frame (Classifier::classify / infer).
  const Prediction& network;
};

/// p_hit of one frame and where it came from. Plain value type.
struct HitScore {
  /// In [0, 1]; unset when source is kNone.
  std::optional<double> p_hit;
  HitSource source = HitSource::kNone;
  /// describe(source): e.g. "1 - p(blank) of the labels head"; "" for kNone. Static storage.
  const char* evidence = "";
};

/// p_hit of one frame by the rule of the header comment; `metadata` gives the label and
/// quality names. Pure, thread-safe, never throws.
[[nodiscard]] HitScore score_hit(const HitEvidence& evidence,
                                 const ModelMetadata& metadata) noexcept;

/// The keep/veto decision on p_hit, the one every command applies (classify's
/// stream::decide_triage, evaluate's hit row, calibrate's check, the bootstrap): models::decide
/// with metadata.hit_threshold() and metadata.uncertainty_band. kNo is a veto; kUncertain and
/// kYes keep the frame. Pure, thread-safe.
[[nodiscard]] Decision decide_hit(double p_hit, const ModelMetadata& metadata) noexcept;

/// The source score_hit uses for every frame of a model with `metadata.heads` (the same
/// rule, decided from the heads instead of one prediction's outputs). Pure, thread-safe.
[[nodiscard]] HitSource hit_source(const ModelMetadata& metadata) noexcept;

/// Human-readable description of a source (as evaluate's metrics.json "hit_score" writes it):
/// "1 - p of the blank head", "1 - p(blank) of the labels head",
/// "1 - p(blank) - p(noxtal) of the quality head", or "" for kNone. Static storage.
[[nodiscard]] const char* describe(HitSource source) noexcept;

}  // namespace difftriage::models
