#include "difftriage/features/resolution.h"

#include <algorithm>
#include <cmath>

#include "difftriage/core/error.h"

namespace difftriage::features {
namespace {

// The value at quantile q of sorted values (nearest rank, as LatticeOptions' d_min_quantile).
double at_quantile(const std::vector<double>& sorted, double q) {
  const auto k = static_cast<size_t>(std::floor(q * static_cast<double>(sorted.size() - 1) + 0.5));
  return sorted[k];
}

std::vector<double> numbers(const nlohmann::json& j, const char* key, const std::string& source) {
  const auto it = j.find(key);
  DT_CHECK(it != j.end() && it->is_array() && !it->empty(), FormatError, source,
           ": spot_evidence.resolution.", key, " must be a non-empty array of numbers");
  std::vector<double> out;
  for (const auto& v : *it) {
    DT_CHECK(v.is_number() && std::isfinite(v.get<double>()), FormatError, source,
             ": spot_evidence.resolution.", key, " must hold finite numbers");
    out.push_back(v.get<double>());
  }
  return out;
}

}  // namespace

nlohmann::json to_json(const ResolutionModel& m) {
  return {{"snr_cuts", m.snr_cuts}, {"quantiles", m.quantiles}, {"weights", m.weights},
          {"bias", m.bias},         {"min_peaks", m.min_peaks}, {"provenance", m.provenance}};
}

ResolutionModel resolution_model_from_json(const nlohmann::json& j, const std::string& source) {
  DT_CHECK(j.is_object(), FormatError, source, ": spot_evidence.resolution must be an object");
  ResolutionModel m;
  m.snr_cuts = numbers(j, "snr_cuts", source);
  m.quantiles = numbers(j, "quantiles", source);
  m.weights = numbers(j, "weights", source);
  for (size_t i = 0; i < m.snr_cuts.size(); ++i) {
    DT_CHECK(m.snr_cuts[i] > 0 && (i == 0 || m.snr_cuts[i] > m.snr_cuts[i - 1]), FormatError,
             source, ": spot_evidence.resolution.snr_cuts must be positive and ascending");
  }
  for (double q : m.quantiles) {
    DT_CHECK(q >= 0 && q <= 1, FormatError, source,
             ": spot_evidence.resolution.quantiles must lie in [0, 1]");
  }
  const size_t n = m.snr_cuts.size() * (m.quantiles.size() + 1);
  DT_CHECK(m.weights.size() == n, FormatError, source, ": spot_evidence.resolution.weights must ",
           "hold ", n, " numbers (snr_cuts x (quantiles + 1)), not ", m.weights.size());
  const auto b = j.find("bias");
  DT_CHECK(b != j.end() && b->is_number() && std::isfinite(b->get<double>()), FormatError, source,
           ": spot_evidence.resolution.bias must be a finite number");
  m.bias = b->get<double>();
  const auto p = j.find("min_peaks");
  DT_CHECK(p != j.end() && p->is_number_integer() && p->get<int64_t>() >= 1, FormatError, source,
           ": spot_evidence.resolution.min_peaks must be an integer >= 1");
  m.min_peaks = p->get<int64_t>();
  if (const auto pr = j.find("provenance"); pr != j.end()) m.provenance = *pr;
  return m;
}

std::optional<std::vector<double>> resolution_features(std::vector<std::pair<double, double>> d_snr,
                                                       const ResolutionModel& m) {
  std::sort(d_snr.begin(), d_snr.end());
  std::vector<double> lowest;
  std::vector<double> features;
  features.reserve(m.weights.size());
  for (size_t c = 0; c < m.snr_cuts.size(); ++c) {
    std::vector<double> d;  // sorted: d_snr is
    for (const auto& [dv, snr] : d_snr) {
      if (snr >= m.snr_cuts[c]) d.push_back(dv);
    }
    const auto n = static_cast<int64_t>(d.size());
    if (c == 0) {
      if (n < m.min_peaks) return std::nullopt;
      lowest = d;
    }
    const std::vector<double>& source = n >= m.min_peaks ? d : lowest;
    for (double q : m.quantiles) features.push_back(std::log(at_quantile(source, q)));
    features.push_back(std::log1p(static_cast<double>(n)));
  }
  return features;
}

std::optional<double> predict_d_min(std::vector<std::pair<double, double>> d_snr,
                                    const ResolutionModel& m) {
  const auto f = resolution_features(std::move(d_snr), m);
  if (!f) return std::nullopt;
  double z = m.bias;
  for (size_t i = 0; i < f->size(); ++i) z += m.weights[i] * (*f)[i];
  return std::exp(z);
}

}  // namespace difftriage::features
