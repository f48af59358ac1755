// Fail-open triage decision and the results.jsonl row (the semantics `classify` has always had).
#include "difftriage/stream/triage.h"

#include <map>

#include "difftriage/models/hit_score.h"

namespace difftriage::stream {
namespace {
using nlohmann::json;

json null_map(const char* const* names, size_t n) {
  json m = json::object();
  for (size_t i = 0; i < n; ++i) m[names[i]] = nullptr;
  return m;
}

// Label name → probability, from the labels head and the binary heads.
std::map<std::string, double> label_probabilities(const models::Prediction& p,
                                                  const models::ModelMetadata& meta) {
  std::map<std::string, double> probs;
  for (size_t i = 0; i < p.label_probabilities.size() && i < meta.label_names.size(); ++i) {
    probs[meta.label_names[i]] = p.label_probabilities[i];
  }
  for (const auto& [name, prob] : p.binary) probs[name] = prob;
  return probs;
}

}  // namespace

TriageDecision decide_triage(const FrameResult& result, const models::ModelMetadata& meta) {
  TriageDecision d;
  if (!result.ok()) {
    d.unreadable = true;
    d.flags.push_back("unreadable");
    return d;
  }
  const auto score = models::score_hit({*result.prediction}, meta);
  if (!score.p_hit) {
    d.flags.push_back("no_blank_output");  // the model cannot veto: keep everything
    return d;
  }
  // The hit threshold is the model's veto operating point (thresholds.hit), or mirrors the
  // blank label's threshold when the model has none.
  d.p_hit = score.p_hit;
  switch (models::decide(*d.p_hit, meta.hit_threshold(), meta.uncertainty_band)) {
    case models::Decision::kNo:
      d.veto = true;
      break;
    case models::Decision::kUncertain:
      d.uncertain = true;
      d.flags.push_back("uncertain");
      break;
    case models::Decision::kYes:
      break;
  }
  return d;
}

json result_row(const FrameResult& result, const TriageDecision& decision,
                const models::ModelMetadata& meta) {
  const auto& labels = kLabelNames;
  const auto& qualities = kQualityNames;
  json row = {{"path", result.address.path.string()},
              {"frame", result.address.frame},
              {"p", null_map(labels.data(), labels.size())},
              {"labels", null_map(labels.data(), labels.size())},
              {"quality", nullptr},
              {"p_quality", null_map(qualities.data(), qualities.size())},
              {"mosaic1", nullptr},
              {"mosaic2", nullptr},
              {"decision", decision.veto ? "veto" : "keep"},
              {"flags", decision.flags},
              {"error", nullptr}};
  if (!result.ok()) {
    row["error"] = result.error;
    return row;
  }
  const auto& p = *result.prediction;
  for (const auto& [name, prob] : label_probabilities(p, meta)) {
    if (!row["p"].contains(name)) continue;  // only the six study labels are columns
    row["p"][name] = prob;
    row["labels"][name] = prob >= meta.threshold(name) ? 1 : 0;
  }
  for (size_t i = 0; i < p.quality_probabilities.size() && i < meta.quality_names.size(); ++i) {
    if (row["p_quality"].contains(meta.quality_names[i])) {
      row["p_quality"][meta.quality_names[i]] = p.quality_probabilities[i];
    }
  }
  if (p.quality >= 0 && p.quality < static_cast<int>(meta.quality_names.size())) {
    row["quality"] = meta.quality_names[static_cast<size_t>(p.quality)];
  }
  if (p.mosaic.size() >= 2) {
    row["mosaic1"] = p.mosaic[0];
    row["mosaic2"] = p.mosaic[1];
  }
  return row;
}

}  // namespace difftriage::stream
