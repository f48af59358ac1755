#include "difftriage/dataset/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

namespace difftriage::dataset {

namespace {

constexpr size_t kNumStatColumns = kStatColumns.size();

// The study's grid titles abbreviate multilattice to "multi".
constexpr std::array<const char*, kNumLabels> kCaptionWords = {"blank", "photo1", "photo2",
                                                               "multi", "ice",    "badice"};

std::array<double, kNumStatColumns> column_values(const Sample& sample) {
  std::array<double, kNumStatColumns> values{};
  for (size_t j = 0; j < kNumLabels; ++j) values[j] = (*sample.labels)[j];
  values[kNumLabels] = sample.mosaic1;
  values[kNumLabels + 1] = sample.mosaic2;
  return values;
}

std::string combination_name(const std::array<uint8_t, kNumLabels>& labels) {
  std::string name;
  for (size_t j = 0; j < kNumLabels; ++j) {
    if (!labels[j]) continue;
    if (!name.empty()) name += '+';
    name += kLabelNames[j];
  }
  return name.empty() ? "none" : name;
}

// Pearson correlation of every column pair. A column whose values are all equal has no variance
// and no defined coefficient (NaN, also on the diagonal). Tested for exact equality rather than
// via a computed variance, so a constant 0.3 does not come out as rounding noise.
std::vector<double> correlation_matrix(const std::vector<std::array<double, kNumStatColumns>>& x) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> r(kNumStatColumns * kNumStatColumns, kNaN);
  const size_t n = x.size();
  std::array<double, kNumStatColumns> mean{};
  std::array<bool, kNumStatColumns> varies{};
  for (size_t c = 0; c < kNumStatColumns; ++c) {
    double sum = 0.0;
    for (const auto& row : x) {
      sum += row[c];
      varies[c] = varies[c] || row[c] != x.front()[c];
    }
    mean[c] = n ? sum / static_cast<double>(n) : 0.0;
  }
  for (size_t a = 0; a < kNumStatColumns; ++a) {
    if (!varies[a]) continue;
    r[a * kNumStatColumns + a] = 1.0;
    for (size_t b = a + 1; b < kNumStatColumns; ++b) {
      if (!varies[b]) continue;
      double s_ab = 0.0, s_aa = 0.0, s_bb = 0.0;  // two-pass sums about the means
      for (const auto& row : x) {
        const double da = row[a] - mean[a], db = row[b] - mean[b];
        s_ab += da * db;
        s_aa += da * da;
        s_bb += db * db;
      }
      const double value = std::clamp(s_ab / std::sqrt(s_aa * s_bb), -1.0, 1.0);
      r[a * kNumStatColumns + b] = value;
      r[b * kNumStatColumns + a] = value;
    }
  }
  return r;
}

nlohmann::json number_or_null(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
}

}  // namespace

DatasetStats compute_stats(const Dataset& dataset) {
  DatasetStats stats;
  stats.n_samples = static_cast<int64_t>(dataset.samples.size());
  std::vector<std::array<double, kNumStatColumns>> values;
  std::map<std::string, int64_t> combinations;
  for (const Sample& sample : dataset.samples) {
    if (sample.quality) {
      ++stats.n_quality;
      ++stats.quality_counts[static_cast<size_t>(*sample.quality)];
    }
    if (sample.labels) {
      ++stats.n_multilabel;
      values.push_back(column_values(sample));
      ++combinations[combination_name(*sample.labels)];
    }
  }

  if (!values.empty()) {
    const auto n = static_cast<double>(values.size());
    for (size_t c = 0; c < kNumStatColumns; ++c) {
      ColumnStats column;
      column.name = kStatColumns[c];
      column.n_samples = stats.n_multilabel;
      for (const auto& row : values) column.n_positive += row[c] > 0.0 ? 1 : 0;
      const double p = static_cast<double>(column.n_positive) / n;
      column.majority_accuracy = std::max(p, 1.0 - p);
      column.majority_class = p > 0.5 ? "1" : "0";  // a tie predicts the negative class
      stats.columns.push_back(std::move(column));
    }
    stats.correlation = correlation_matrix(values);
  }

  if (stats.n_quality > 0) {
    // max_element returns the first maximum: ties go to the earlier class in kQualityNames.
    const auto best = std::max_element(stats.quality_counts.begin(), stats.quality_counts.end());
    stats.quality_majority_accuracy =
        static_cast<double>(*best) / static_cast<double>(stats.n_quality);
    stats.quality_majority_class =
        kQualityNames[static_cast<size_t>(best - stats.quality_counts.begin())];
  }

  stats.combinations.assign(combinations.begin(), combinations.end());
  std::stable_sort(stats.combinations.begin(), stats.combinations.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return stats;
}

nlohmann::json to_json(const DatasetStats& stats) {
  using nlohmann::json;
  json j;
  j["n_samples"] = stats.n_samples;
  j["n_multilabel"] = stats.n_multilabel;
  j["n_quality"] = stats.n_quality;

  json columns = json::array();
  for (const ColumnStats& column : stats.columns) {
    const double fraction = column.n_samples > 0 ? static_cast<double>(column.n_positive) /
                                                       static_cast<double>(column.n_samples)
                                                 : 0.0;
    columns.push_back({{"name", column.name},
                       {"n_samples", column.n_samples},
                       {"n_positive", column.n_positive},
                       {"positive_fraction", fraction},
                       {"majority_accuracy", column.majority_accuracy},
                       {"majority_class", column.majority_class}});
  }
  j["columns"] = std::move(columns);

  json names = json::array();
  for (const char* name : kStatColumns) names.push_back(name);
  json matrix = json::array();
  if (stats.correlation.size() == kNumStatColumns * kNumStatColumns) {
    for (size_t a = 0; a < kNumStatColumns; ++a) {
      json row = json::array();
      for (size_t b = 0; b < kNumStatColumns; ++b) {
        row.push_back(number_or_null(stats.correlation[a * kNumStatColumns + b]));
      }
      matrix.push_back(std::move(row));
    }
  }
  j["correlation"] = {{"columns", std::move(names)}, {"matrix", std::move(matrix)}};

  json counts = json::object();
  for (size_t q = 0; q < kNumQualities; ++q) counts[kQualityNames[q]] = stats.quality_counts[q];
  j["quality"] = {{"counts", std::move(counts)},
                  {"majority_accuracy", stats.quality_majority_accuracy},
                  {"majority_class", stats.quality_majority_class}};

  json combinations = json::array();
  for (const auto& [labels, count] : stats.combinations) {
    const double fraction = stats.n_multilabel > 0 ? static_cast<double>(count) /
                                                         static_cast<double>(stats.n_multilabel)
                                                   : 0.0;
    combinations.push_back({{"labels", labels}, {"count", count}, {"fraction", fraction}});
  }
  j["combinations"] = std::move(combinations);
  return j;
}

std::string describe_labels(const Sample& sample) {
  std::string caption;
  auto add = [&caption](const char* word) {
    if (!caption.empty()) caption += ' ';
    caption += word;
  };
  if (sample.labels) {
    for (size_t j = 0; j < kNumLabels; ++j) {
      if ((*sample.labels)[j]) add(kCaptionWords[j]);
    }
  }
  if (sample.quality) add(quality_name(*sample.quality));
  return caption.empty() ? "none" : caption;
}

}  // namespace difftriage::dataset
