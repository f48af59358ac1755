/// Label statistics of a dataset: the numbers behind `difftriage dataset stats`.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "difftriage/dataset/dataset.h"

namespace difftriage::dataset {

/// Columns of the correlation matrix: the six labels then mosaic1 and mosaic2.
inline constexpr std::array<const char*, 8> kStatColumns = {
    "blank", "photo1", "photo2", "multilattice", "ice", "badice", "mosaic1", "mosaic2"};

/// Frequency and chance baseline of one binary column.
struct ColumnStats {
  std::string name;
  int64_t n_samples = 0;   ///< samples that carry this column
  int64_t n_positive = 0;  ///< label == 1, or mosaic > 0
  /// Accuracy of always predicting the majority class: max(p, 1 - p).
  double majority_accuracy = 0.0;
  std::string majority_class;  ///< "0" or "1"
};

/// Statistics over a dataset.
struct DatasetStats {
  int64_t n_samples = 0;
  int64_t n_multilabel = 0;          ///< samples with a multiclasses.txt row
  int64_t n_quality = 0;             ///< samples with a categories1.txt row
  std::vector<ColumnStats> columns;  ///< kStatColumns order; empty without multilabel samples
  /// Pearson correlation between kStatColumns over multilabel samples (8×8, row-major; empty
  /// without multilabel samples). Where a column has zero variance (all values equal) the
  /// coefficient is undefined, its diagonal included: NaN here, null in JSON.
  std::vector<double> correlation;
  std::array<int64_t, kNumQualities> quality_counts{};  ///< kQualityNames order
  double quality_majority_accuracy = 0.0;               ///< share of the most common quality class
  std::string quality_majority_class;
  /// Label combinations of the multilabel samples ("blank+ice": set labels joined by '+' in
  /// kLabelNames order; "none" when all six are 0) and how often they occur, most common first,
  /// ties in name order.
  std::vector<std::pair<std::string, int64_t>> combinations;
};

/// Computes the statistics. Pure function; thread-safe.
DatasetStats compute_stats(const Dataset& dataset);

/// JSON form written to stats.json (NaN correlations become null):
///   {"n_samples": 72, "n_multilabel": 72, "n_quality": 0,
///    "columns": [{"name": "blank", "n_samples": 72, "n_positive": 15, "positive_fraction": 0.21,
///                 "majority_accuracy": 0.79, "majority_class": "0"}, ...],      // kStatColumns
///    "correlation": {"columns": ["blank", ..., "mosaic2"], "matrix": [[1.0, -0.3, ...], ...]},
///    "quality": {"counts": {"blank": 0, "noxtal": 0, ...}, "majority_accuracy": 0.0,
///                "majority_class": ""},
///    "combinations": [{"labels": "blank", "count": 10, "fraction": 0.14}, ...]}
/// "columns" and "matrix" are empty arrays without multilabel samples.
nlohmann::json to_json(const DatasetStats& stats);

/// "blank photo2 ice" style caption of a sample's labels and quality (the study's grid titles):
/// the set labels as blank photo1 photo2 multi ice badice, then the quality word if the sample
/// has one; "none" when neither gives a word.
std::string describe_labels(const Sample& sample);

}  // namespace difftriage::dataset
