// Familiarity of a frame to the calibration set (familiarity.h): probabilistic-PCA distance on
// the pooled trunk features; the eigen-decomposition is LibTorch's.
#include "difftriage/models/familiarity.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "difftriage/core/error.h"

namespace difftriage::models {

double Familiarity::distance(const std::vector<float>& features) const {
  const size_t n = mean.size();
  DT_CHECK(features.size() == n, ConfigError, "familiarity: the frame has ", features.size(),
           " trunk features, the model's familiarity was fitted on ", n);
  std::vector<double> centred(n);
  double total = 0;
  for (size_t j = 0; j < n; ++j) {
    centred[j] = static_cast<double>(features[j]) - mean[j];
    total += centred[j] * centred[j];
  }
  double within = 0, explained = 0;
  for (size_t i = 0; i < components.size(); ++i) {
    double proj = 0;
    for (size_t j = 0; j < n; ++j) proj += centred[j] * components[i][j];
    within += proj * proj / variances[i];
    explained += proj * proj;
  }
  const double residual = std::max(0.0, total - explained);
  return std::sqrt((within + residual / residual_variance) / static_cast<double>(n));
}

Familiarity fit_familiarity(const std::vector<std::vector<float>>& features,
                            const FamiliarityOptions& options) {
  DT_CHECK(options.quantile > 0 && options.quantile <= 1, ConfigError,
           "familiarity quantile must be in (0, 1], got ", options.quantile);
  DT_CHECK(!features.empty(), ConfigError, "familiarity: no calibration frames");
  const auto d = static_cast<int64_t>(features.front().size());
  DT_CHECK(d >= 2, ConfigError, "familiarity: frames need at least 2 trunk features, got ", d);
  DT_CHECK(options.n_components >= 1 && options.n_components < d, ConfigError,
           "familiarity components must be in [1, ", d - 1, "], got ", options.n_components);
  const auto n = static_cast<int64_t>(features.size());
  DT_CHECK(n >= options.n_components + 2, ConfigError, "familiarity: ", n,
           " calibration frame(s) cannot fit ", options.n_components, " components (need ",
           options.n_components + 2, ")");
  torch::Tensor x = torch::empty({n, d}, torch::kFloat64);
  auto acc = x.accessor<double, 2>();
  for (int64_t i = 0; i < n; ++i) {
    const auto& f = features[static_cast<size_t>(i)];
    DT_CHECK(static_cast<int64_t>(f.size()) == d, ConfigError, "familiarity: calibration frame ",
             i, " has ", f.size(), " trunk features, frame 0 has ", d);
    for (int64_t j = 0; j < d; ++j) acc[i][j] = f[static_cast<size_t>(j)];
  }
  const torch::Tensor mu = x.mean(0);
  const torch::Tensor c = x - mu;
  const torch::Tensor cov = c.t().mm(c) / static_cast<double>(n - 1);
  auto [values, vectors] = torch::linalg::eigh(cov, "L");  // ascending
  Familiarity fam;
  fam.mean.assign(mu.data_ptr<double>(), mu.data_ptr<double>() + d);
  const int64_t k = options.n_components;
  // A floor keeps a direction of (near) zero variance from dividing by zero: 1e-6 of the mean.
  const double floor = std::max(1e-12, 1e-6 * values.mean().item<double>());
  for (int64_t i = 0; i < k; ++i) {
    const int64_t col = d - 1 - i;
    const torch::Tensor v = vectors.select(1, col).contiguous();
    fam.components.emplace_back(v.data_ptr<double>(), v.data_ptr<double>() + d);
    fam.variances.push_back(std::max(floor, values[col].item<double>()));
  }
  fam.residual_variance =
      std::max(floor, values.slice(0, 0, d - k).sum().item<double>() / static_cast<double>(d - k));
  std::vector<double> distances;
  distances.reserve(static_cast<size_t>(n));
  for (const auto& f : features) distances.push_back(fam.distance(f));
  std::sort(distances.begin(), distances.end());
  const auto rank = static_cast<size_t>(
      std::max(0.0, std::ceil(options.quantile * static_cast<double>(n)) - 1.0));
  fam.threshold = distances[std::min(rank, distances.size() - 1)];
  DT_CHECK(fam.threshold > 0, ConfigError,
           "familiarity: the calibration frames' trunk features do not vary");
  fam.quantile = options.quantile;
  fam.n_frames = n;
  return fam;
}

nlohmann::json to_json(const Familiarity& f) {
  return {{"mean", f.mean},           {"components", f.components},
          {"variances", f.variances}, {"residual_variance", f.residual_variance},
          {"threshold", f.threshold}, {"quantile", f.quantile},
          {"n_frames", f.n_frames}};
}

Familiarity familiarity_from_json(const nlohmann::json& j, const std::string& source) {
  Familiarity f;
  try {
    f.mean = j.at("mean").get<std::vector<double>>();
    f.components = j.at("components").get<std::vector<std::vector<double>>>();
    f.variances = j.at("variances").get<std::vector<double>>();
    f.residual_variance = j.at("residual_variance").get<double>();
    f.threshold = j.at("threshold").get<double>();
    f.quantile = j.value("quantile", 0.0);
    f.n_frames = j.value("n_frames", int64_t{0});
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(detail::concat(source, ": familiarity: ", e.what()));
  }
  DT_CHECK(f.mean.size() >= 2 && !f.components.empty() &&
               f.components.size() == f.variances.size(),
           FormatError, source, ": familiarity: needs a mean of ≥ 2 features and as many "
           "variances as components");
  for (const auto& row : f.components) {
    DT_CHECK(row.size() == f.mean.size(), FormatError, source,
             ": familiarity: a component's size differs from the mean's (", f.mean.size(), ")");
  }
  for (double v : f.variances) {
    DT_CHECK(v > 0 && std::isfinite(v), FormatError, source,
             ": familiarity: variances must be finite and > 0");
  }
  DT_CHECK(f.residual_variance > 0 && std::isfinite(f.residual_variance) &&
               std::isfinite(f.threshold) && f.threshold > 0,
           FormatError, source, ": familiarity: residual_variance and threshold must be > 0");
  return f;
}

}  // namespace difftriage::models
