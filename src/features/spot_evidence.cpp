#include "difftriage/features/spot_evidence.h"

#include <utility>

#include <algorithm>
#include <cmath>
#include <limits>

#include "difftriage/core/error.h"

namespace difftriage::features {

nlohmann::json to_json(const SpotEvidenceCalibration& c) {
  nlohmann::json j = {{"cell_bias", c.cell_bias},
                      {"cell_w_score", c.cell_w_score},
                      {"cell_w_margin", c.cell_w_margin},
                      {"guard_min_bragg_peaks", c.guard_min_bragg_peaks},
                      {"provenance", c.provenance}};
  if (c.resolution) j["resolution"] = to_json(*c.resolution);
  return j;
}

SpotEvidenceCalibration spot_evidence_calibration_from_json(const nlohmann::json& j,
                                                            const std::string& source) {
  DT_CHECK(j.is_object(), FormatError, source, ": spot_evidence must be an object");
  SpotEvidenceCalibration c;
  auto number = [&](const char* key, double* out) {
    const auto it = j.find(key);
    DT_CHECK(it != j.end() && it->is_number() && std::isfinite(it->get<double>()), FormatError,
             source, ": spot_evidence.", key, " must be a finite number");
    *out = it->get<double>();
  };
  number("cell_bias", &c.cell_bias);
  number("cell_w_score", &c.cell_w_score);
  number("cell_w_margin", &c.cell_w_margin);
  const auto g = j.find("guard_min_bragg_peaks");
  DT_CHECK(g != j.end() && g->is_number_integer() && g->get<int64_t>() >= 1, FormatError, source,
           ": spot_evidence.guard_min_bragg_peaks must be an integer >= 1");
  c.guard_min_bragg_peaks = g->get<int64_t>();
  if (const auto p = j.find("provenance"); p != j.end()) c.provenance = *p;
  if (const auto r = j.find("resolution"); r != j.end()) {
    c.resolution = resolution_model_from_json(*r, source);
  }
  return c;
}

SpotEvidence::SpotEvidence(std::vector<CandidateCell> cells, SpotEvidenceCalibration calibration,
                           PeakFinderOptions peak_options, LatticeOptions lattice_options)
    : matcher_(std::move(cells), lattice_options),
      calibration_(std::move(calibration)),
      peak_options_(peak_options) {}

std::array<double, 2> SpotEvidence::cell_features(const std::vector<double>& scores, size_t k) {
  double best_other = -std::numeric_limits<double>::infinity();
  for (size_t j = 0; j < scores.size(); ++j) {
    if (j != k) best_other = std::max(best_other, scores[j]);
  }
  if (!std::isfinite(best_other)) best_other = 0.0;  // a single candidate
  return {scores[k], scores[k] - best_other};
}

std::vector<double> SpotEvidence::probabilities(const std::vector<double>& scores) const {
  std::vector<double> p(scores.size());
  for (size_t k = 0; k < scores.size(); ++k) {
    const auto f = cell_features(scores, k);
    const double z = calibration_.cell_bias + calibration_.cell_w_score * f[0] +
                     calibration_.cell_w_margin * f[1];
    p[k] = 1.0 / (1.0 + std::exp(-z));
  }
  return p;
}

FrameEvidence SpotEvidence::measure(const ImageView<float>& image,
                                    const std::optional<DetectorGeometry>& geometry,
                                    const std::string& no_geometry_reason,
                                    bool keep_peaks) const {
  FrameEvidence e;
  std::vector<Peak> peaks = find_peaks(image, peak_options_);
  const LatticeOptions& lo = matcher_.options();
  if (geometry) {
    e.has_geometry = true;
    e.lattice = measure_lattice(peaks, *geometry, lo,
                                calibration_.resolution ? &*calibration_.resolution : nullptr);
    e.cell_scores = matcher_.scores(e.lattice);
    double n_pairs = 0;
    for (double v : e.lattice.pair_length_counts) n_pairs += v;
    const bool lattice_evidence = n_pairs >= kMinLatticePairs &&
                                  e.lattice.n_bragg_peaks >= calibration_.guard_min_bragg_peaks;
    e.cell_probabilities = lattice_evidence ? probabilities(e.cell_scores)
                                            : std::vector<double>(e.cell_scores.size(), 0.0);
  } else {
    e.no_geometry_reason = no_geometry_reason;
    e.lattice.n_peaks = static_cast<int64_t>(peaks.size());
    for (const Peak& p : peaks) e.lattice.n_bragg_peaks += (p.snr >= lo.bragg_min_snr);
  }
  e.guard_keeps = e.lattice.n_bragg_peaks >= calibration_.guard_min_bragg_peaks;
  if (keep_peaks) e.peaks = std::move(peaks);
  return e;
}

}  // namespace difftriage::features
