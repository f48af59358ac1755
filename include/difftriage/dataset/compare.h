/// Per-class statistics of two datasets side by side (ours against an independent simulator's,
/// or the study's): the numbers behind `difftriage dataset compare`.
///
/// A sample belongs to the class of its quality word ("q:good") and to one class per positive
/// label ("photo1", "ice", ...). Per class and dataset, up to max_per_class frames are read and
/// their features::FrameStats averaged.
///
///   difftriage::dataset::CompareOptions options;
///   options.dir_a = "sim/test";
///   options.dir_b = "study/try2";
///   const auto comparison = difftriage::dataset::compare(options);
///   double p50 = comparison.a.at("q:good").mean_percentile(50);
///   difftriage::dataset::write_comparison("cmp", comparison);   // compare.json + radial_*.png
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "difftriage/core/detector_geometry.h"
#include "difftriage/dataset/dataset.h"
#include "difftriage/dataset/realism.h"
#include "difftriage/features/frame_stats.h"

namespace difftriage::dataset {

/// Options of compare.
struct CompareOptions {
  std::filesystem::path dir_a, dir_b;      ///< the two dataset folders (load_dataset)
  std::string name_a = "A", name_b = "B";  ///< their names in legends
  int max_per_class = 200;                 ///< frames read per class and dataset at most (≥ 1)
  /// Geometry of the frames of a dataset that have no simulator sidecar (the realism measures in
  /// Å need it); unset: those measures are left out for such frames.
  std::optional<DetectorGeometry> geometry_a, geometry_b;
};

/// Averages of features::FrameStats (default options) over the frames of one class.
struct ClassStats {
  int64_t n_frames = 0;
  /// Mean of each frame percentile, features::kFramePercentiles order.
  std::array<double, features::kFramePercentiles.size()> mean_percentiles{};
  double mean = 0.0;                   ///< mean pixel value
  double fraction_above_185 = 0.0;     ///< mean share of pixels > 185 (the study's spot level)
  double mean_spots = 0.0;             ///< mean spot count (features spot finder)
  double median_spots = 0.0;           ///< upper median of the spot counts
  std::vector<double> radial_profile;  ///< mean radial profile (FrameStats::radial_profile)
  /// The mean of percentile `percent` (one of kFramePercentiles); NaN for another value.
  double mean_percentile(double percent) const noexcept;
};

/// Class name → statistics, classes with at least one frame only.
using ClassStatsMap = std::map<std::string, ClassStats>;

/// The classes of a sample: "q:<quality>" if it has a quality, then each positive label's name
/// (kLabelNames order).
std::vector<std::string> classes_of(const Sample& sample);

/// Reads up to `max_per_class` frames per class of `dataset` (in sample order; a frame is read
/// when one of its classes still needs frames, and counts only for those that do) and averages
/// their statistics. @throws ConfigError if max_per_class < 1; IoError / FormatError if a frame
/// cannot be read.
ClassStatsMap summarise_classes(const Dataset& dataset, int max_per_class);

/// Both datasets' class statistics.
struct Comparison {
  CompareOptions options;
  ClassStatsMap a, b;
  /// Every class: those of `a` in name order, then those only in `b`.
  std::vector<std::string> class_names;
  /// The realism score of `a` (ours) against `b` (the reference): dataset/realism.h.
  RealismReport realism;
};

/// Loads both datasets (load_dataset), summarises each and scores a's realism against b.
/// @throws ConfigError if max_per_class < 1; IoError / FormatError from loading or reading.
Comparison compare(const CompareOptions& options);

/// compare.json:
///   {"a": {"name": "A", "dir": "sim/test"}, "b": {...},
///    "classes": {"photo1": {"a": {"n_frames": 40, "mean_percentiles": {"p1": .., "p5": .., ..},
///                                 "mean": .., "fraction_above_185": .., "mean_spots": ..,
///                                 "median_spots": .., "radial_profile": [..]},
///                           "b": null /* class absent from b */}, ...},
///    "realism": {"rows": [...], "n_rows", "n_in_range", "flagged"}  /* realism.h to_json */}
nlohmann::json to_json(const Comparison& comparison);

/// Writes compare.json and, per class, radial_<class>.png (the mean radial profiles of both
/// datasets; characters other than letters and digits in the class name become '_') into `out`
/// (which must exist). @throws IoError, or ConfigError from the plotting.
void write_comparison(const std::filesystem::path& out, const Comparison& comparison);

}  // namespace difftriage::dataset
