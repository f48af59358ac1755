// The hit score p_hit: one rule for classify, evaluate and calibrate (see hit_score.h).
#include "difftriage/models/hit_score.h"

#include <algorithm>
#include <string>

namespace difftriage::models {
namespace {

// Position of `name` in `names`, or names.size().
size_t index_of(const std::vector<std::string>& names, const char* name) noexcept {
  return static_cast<size_t>(std::find(names.begin(), names.end(), name) - names.begin());
}

// The precedence of hit_score.h, in one place for score_hit and hit_source.
HitSource select(bool blank_head, bool labels_blank, bool quality_blank_noxtal) noexcept {
  if (blank_head) return HitSource::kBlankOutput;
  if (labels_blank) return HitSource::kLabelsBlank;
  if (quality_blank_noxtal) return HitSource::kQualityClasses;
  return HitSource::kNone;
}

}  // namespace

HitScore score_hit(const HitEvidence& evidence, const ModelMetadata& metadata) noexcept {
  const Prediction& p = evidence.network;
  const auto blank_head = p.binary.find("blank");
  const size_t label_blank = index_of(metadata.label_names, "blank");
  const size_t quality_blank = index_of(metadata.quality_names, "blank");
  const size_t quality_noxtal = index_of(metadata.quality_names, "noxtal");
  HitScore s;
  s.source = select(blank_head != p.binary.end(), label_blank < p.label_probabilities.size(),
                    quality_blank < p.quality_probabilities.size() &&
                        quality_noxtal < p.quality_probabilities.size());
  s.evidence = describe(s.source);
  // Computed in double from the float outputs, as results.jsonl and metrics.json always did.
  switch (s.source) {
    case HitSource::kBlankOutput:
      s.p_hit = 1.0 - static_cast<double>(blank_head->second);
      break;
    case HitSource::kLabelsBlank:
      s.p_hit = 1.0 - static_cast<double>(p.label_probabilities[label_blank]);
      break;
    case HitSource::kQualityClasses:
      // Softmax: p(weak) + p(good) + p(strong); rounding may leave it a hair outside [0, 1].
      s.p_hit = std::clamp(1.0 - static_cast<double>(p.quality_probabilities[quality_blank]) -
                               static_cast<double>(p.quality_probabilities[quality_noxtal]),
                           0.0, 1.0);
      break;
    case HitSource::kNone:
      break;
  }
  return s;
}

Decision decide_hit(double p_hit, const ModelMetadata& metadata) noexcept {
  return decide(p_hit, metadata.hit_threshold(), metadata.uncertainty_band);
}

HitSource hit_source(const ModelMetadata& metadata) noexcept {
  const auto has = [&](const char* head) {
    return std::find(metadata.heads.begin(), metadata.heads.end(), head) != metadata.heads.end();
  };
  const auto named = [](const std::vector<std::string>& names, const char* name) {
    return index_of(names, name) < names.size();
  };
  return select(has("blank"), has(kLabelsHead) && named(metadata.label_names, "blank"),
                has(kQualityHead) && named(metadata.quality_names, "blank") &&
                    named(metadata.quality_names, "noxtal"));
}

const char* describe(HitSource source) noexcept {
  switch (source) {
    case HitSource::kBlankOutput:
      return "1 - p of the blank head";
    case HitSource::kLabelsBlank:
      return "1 - p(blank) of the labels head";
    case HitSource::kQualityClasses:
      return "1 - p(blank) - p(noxtal) of the quality head";
    case HitSource::kNone:
      break;
  }
  return "";
}

}  // namespace difftriage::models
