// Fail-open triage decision and the results.jsonl row (the semantics `classify` has always had).
#include "difftriage/stream/triage.h"

#include <map>

#include "difftriage/core/error.h"
#include "difftriage/core/json_text.h"
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

// The spot evidence's keys; with a geometry the cell decision also gives the presets' p and
// labels (one answer: labels.photo1 is cell.names ∋ photo1).
void add_evidence(json& row, const features::FrameEvidenceResult& r) {
  const features::FrameEvidence& e = r.evidence;
  row["n_bragg_peaks"] = e.lattice.n_bragg_peaks;
  if (!e.has_geometry) return;
  if (e.lattice.d_min_angstrom) row["d_min_angstrom"] = *e.lattice.d_min_angstrom;
  json cell = features::cell_json(r);
  if (cell.is_null()) return;
  for (const auto& [name, p] : cell["p"].items()) {
    if (!row["p"].contains(name)) continue;
    row["p"][name] = p;
    row["labels"][name] = p.get<double>() >= 0.5 ? 1 : 0;
  }
  row["cell"] = std::move(cell);
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
    d.untriaged = true;
    d.flags.push_back("no_blank_output");  // the model cannot veto: keep everything
    return d;
  }
  // The hit threshold is the model's veto operating point (thresholds.hit), or mirrors the
  // blank label's threshold when the model has none.
  d.p_hit = score.p_hit;
  switch (models::decide_hit(*d.p_hit, meta)) {
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
  if (result.evidence) {
    const features::FrameEvidence& e = result.evidence->evidence;
    if (d.veto && e.guard_keeps) {  // Bragg peaks on the frame: never vetoed
      d.veto = false;
      d.spot_guard = true;
      d.flags.push_back("spot_guard");
    }
    if (!e.has_geometry) d.flags.push_back("no_geometry");
  }
  if (result.prediction->unfamiliar) {  // nothing like it in calibration: its veto is not trusted
    d.unfamiliar = true;
    d.veto = false;
    d.flags.push_back("unfamiliar");
  }
  return d;
}

TriageDecision decision_from_row(const json& row) {
  DT_CHECK(row.is_object() && row.contains("decision") && row["decision"].is_string() &&
               row.contains("flags") && row["flags"].is_array(),
           FormatError, "a results row needs a string 'decision' and an array 'flags'");
  const auto decision = row["decision"].get<std::string>();
  DT_CHECK(decision == "keep" || decision == "veto", FormatError, "decision: '",
           to_utf8_lossy(decision), "' is neither keep nor veto");
  TriageDecision d;
  d.veto = decision == "veto";
  for (const auto& flag : row["flags"]) {
    DT_CHECK(flag.is_string(), FormatError, "flags: not a string");
    const auto f = flag.get<std::string>();
    d.uncertain |= f == "uncertain";
    d.unreadable |= f == "unreadable";
    d.untriaged |= f == "no_blank_output" || f == "untriaged";
    d.flags.push_back(f);
  }
  DT_CHECK(!(d.veto && (d.uncertain || d.unreadable || d.untriaged)), FormatError,
           "a vetoed row cannot be flagged uncertain, unreadable, no_blank_output or untriaged");
  return d;
}

void TriageCounts::add(const TriageDecision& d) noexcept {
  ++n_frames;
  if (d.veto) {
    ++n_veto;
    return;
  }
  ++n_kept;
  n_uncertain += d.uncertain ? 1 : 0;
  n_unreadable += d.unreadable ? 1 : 0;
  n_untriaged += d.untriaged ? 1 : 0;
}

void TriageCounts::merge(const TriageCounts& o) noexcept {
  n_frames += o.n_frames;
  n_kept += o.n_kept;
  n_veto += o.n_veto;
  n_uncertain += o.n_uncertain;
  n_unreadable += o.n_unreadable;
  n_untriaged += o.n_untriaged;
}

bool TriageCounts::consistent() const noexcept {
  return n_frames >= 0 && n_kept >= 0 && n_veto >= 0 && n_uncertain >= 0 && n_unreadable >= 0 &&
         n_untriaged >= 0 && n_frames == n_kept + n_veto &&
         n_uncertain + n_unreadable + n_untriaged <= n_kept;
}

double TriageCounts::hit_rate() const noexcept {
  const int64_t n_readable = n_frames - n_unreadable;
  return n_readable > 0
             ? static_cast<double>(n_kept - n_unreadable) / static_cast<double>(n_readable)
             : 0.0;
}

json TriageCounts::to_json() const {
  return {{"n_frames", n_frames},       {"n_kept", n_kept},
          {"n_veto", n_veto},           {"n_uncertain", n_uncertain},
          {"n_unreadable", n_unreadable}, {"n_untriaged", n_untriaged},
          {"hit_rate", hit_rate()}};
}

TriageCounts TriageCounts::from_json(const json& j) {
  TriageCounts c;
  const auto get = [&](const char* key, int64_t& value) {
    DT_CHECK(j.is_object() && j.contains(key) && j[key].is_number_integer(), FormatError,
             "counts: missing or non-integer '", key, "'");
    value = j[key].get<int64_t>();
  };
  get("n_frames", c.n_frames);
  get("n_kept", c.n_kept);
  get("n_veto", c.n_veto);
  get("n_uncertain", c.n_uncertain);
  get("n_unreadable", c.n_unreadable);
  get("n_untriaged", c.n_untriaged);
  DT_CHECK(c.consistent(), FormatError, "counts: n_frames = n_kept + n_veto does not hold (",
           c.n_frames, " != ", c.n_kept, " + ", c.n_veto,
           ") or the flagged counts exceed n_kept");
  return c;
}

json result_row(const FrameResult& result, const TriageDecision& decision,
                const models::ModelMetadata& meta) {
  const auto& labels = kLabelNames;
  const auto& qualities = kQualityNames;
  json row = json::object();
  set_path(row, result.address.path);  // "path" (+ "path_b64" for a name that is not UTF-8)
  row.update(json{{"frame", result.address.frame},
              {"p", null_map(labels.data(), labels.size())},
              {"labels", null_map(labels.data(), labels.size())},
              {"quality", nullptr},
              {"p_quality", null_map(qualities.data(), qualities.size())},
              {"mosaic1", nullptr},
              {"mosaic2", nullptr},
              {"cell", nullptr},
              {"d_min_angstrom", nullptr},
              {"n_bragg_peaks", nullptr},
              {"decision", decision.veto ? "veto" : "keep"},
              {"flags", decision.flags},
              {"error", nullptr}});
  if (!result.ok()) {
    row["error"] = to_utf8_lossy(result.error);  // it names the file, which may not be UTF-8
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
  if (result.evidence) add_evidence(row, *result.evidence);
  return row;
}

}  // namespace difftriage::stream
