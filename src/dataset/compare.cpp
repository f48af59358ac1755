// dataset::compare: per-class FrameStats of two datasets (the work behind `dataset compare`).
#include "difftriage/dataset/compare.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "difftriage/core/atomic_file.h"
#include "difftriage/core/error.h"
#include "difftriage/core/json_text.h"
#include "difftriage/core/labels.h"
#include "difftriage/io/image_io.h"
#include "difftriage/report/charts.h"

namespace difftriage::dataset {
namespace fs = std::filesystem;

namespace {

// Sums of one class while frames are read; finish() turns them into means.
struct ClassAccumulator {
  ClassStats stats;  // sums until finish()
  std::vector<double> n_spots_all;

  void add(const features::FrameStats& f) {
    ++stats.n_frames;
    for (size_t k = 0; k < stats.mean_percentiles.size(); ++k) {
      stats.mean_percentiles[k] += f.percentiles[k];
    }
    stats.mean += f.mean;
    stats.fraction_above_185 += f.fraction_bright;
    stats.mean_spots += static_cast<double>(f.n_spots);
    n_spots_all.push_back(static_cast<double>(f.n_spots));
    if (stats.radial_profile.empty()) stats.radial_profile.assign(f.radial_profile.size(), 0.0);
    for (size_t k = 0; k < stats.radial_profile.size(); ++k) {
      stats.radial_profile[k] += f.radial_profile[k];
    }
  }
  ClassStats finish() {
    const double n = static_cast<double>(std::max<int64_t>(1, stats.n_frames));
    for (double& v : stats.mean_percentiles) v /= n;
    for (double& v : stats.radial_profile) v /= n;
    stats.mean /= n;
    stats.fraction_above_185 /= n;
    stats.mean_spots /= n;
    std::sort(n_spots_all.begin(), n_spots_all.end());
    stats.median_spots = n_spots_all.empty() ? 0.0 : n_spots_all[n_spots_all.size() / 2];
    return stats;
  }
};

nlohmann::json to_json(const ClassStats& s) {
  nlohmann::json percentiles = nlohmann::json::object();
  for (size_t k = 0; k < s.mean_percentiles.size(); ++k) {
    percentiles["p" + std::to_string(static_cast<int>(features::kFramePercentiles[k]))] =
        s.mean_percentiles[k];
  }
  return {{"n_frames", s.n_frames},
          {"mean_percentiles", percentiles},
          {"mean", s.mean},
          {"fraction_above_185", s.fraction_above_185},
          {"mean_spots", s.mean_spots},
          {"median_spots", s.median_spots},
          {"radial_profile", s.radial_profile}};
}

std::string file_safe(std::string name) {
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

}  // namespace

double ClassStats::mean_percentile(double percent) const noexcept {
  for (size_t k = 0; k < features::kFramePercentiles.size(); ++k) {
    if (features::kFramePercentiles[k] == percent) return mean_percentiles[k];
  }
  return std::numeric_limits<double>::quiet_NaN();
}

std::vector<std::string> classes_of(const Sample& sample) {
  std::vector<std::string> out;
  if (sample.quality) out.push_back(std::string("q:") + quality_name(*sample.quality));
  if (sample.labels) {
    for (size_t k = 0; k < kNumLabels; ++k) {
      if ((*sample.labels)[k]) out.push_back(kLabelNames[k]);
    }
  }
  return out;
}

ClassStatsMap summarise_classes(const Dataset& dataset, int max_per_class) {
  DT_CHECK(max_per_class >= 1, ConfigError, "max_per_class must be ≥ 1, got ", max_per_class);
  std::map<std::string, ClassAccumulator> acc;
  for (const Sample& sample : dataset.samples) {
    const std::vector<std::string> classes = classes_of(sample);
    const bool wanted = std::any_of(classes.begin(), classes.end(), [&](const std::string& c) {
      return acc[c].stats.n_frames < max_per_class;
    });
    if (!wanted) continue;
    const Image<float> frame = to_float(io::read_image(sample.path));
    const features::FrameStats stats = features::compute_frame_stats(frame.view());
    for (const std::string& c : classes) {
      if (acc[c].stats.n_frames < max_per_class) acc[c].add(stats);
    }
  }
  ClassStatsMap out;
  for (auto& [name, a] : acc) {
    if (a.stats.n_frames > 0) out[name] = a.finish();
  }
  return out;
}

Comparison compare(const CompareOptions& options) {
  DT_CHECK(options.max_per_class >= 1, ConfigError, "max_per_class must be ≥ 1, got ",
           options.max_per_class);
  Comparison c;
  c.options = options;
  const Dataset a = load_dataset(options.dir_a), b = load_dataset(options.dir_b);
  c.a = summarise_classes(a, options.max_per_class);
  c.b = summarise_classes(b, options.max_per_class);
  c.realism = score_realism(measure_dataset(a, options.geometry_a, options.max_per_class),
                            measure_dataset(b, options.geometry_b, options.max_per_class));
  for (const auto& entry : c.a) c.class_names.push_back(entry.first);
  for (const auto& entry : c.b) {
    if (!c.a.count(entry.first)) c.class_names.push_back(entry.first);
  }
  return c;
}

nlohmann::json to_json(const Comparison& comparison) {
  const CompareOptions& o = comparison.options;
  nlohmann::json j = {{"a", {{"name", o.name_a}, {"dir", o.dir_a.string()}}},
                      {"b", {{"name", o.name_b}, {"dir", o.dir_b.string()}}},
                      {"classes", nlohmann::json::object()},
                      {"realism", to_json(comparison.realism)}};
  for (const std::string& name : comparison.class_names) {
    for (const auto* side : {&comparison.a, &comparison.b}) {
      const auto it = side->find(name);
      j["classes"][name][side == &comparison.a ? "a" : "b"] =
          it == side->end() ? nlohmann::json() : to_json(it->second);
    }
  }
  return j;
}

void write_comparison(const fs::path& out, const Comparison& comparison) {
  const CompareOptions& o = comparison.options;
  for (const std::string& name : comparison.class_names) {
    report::LineChart chart;
    chart.title = "Radial profile, class " + name;
    chart.x_label = "radius / distance from beam centre to nearest edge";
    chart.y_label = "mean pixel value";
    for (const auto* side : {&comparison.a, &comparison.b}) {
      const auto it = side->find(name);
      if (it == side->end()) continue;
      const std::vector<double>& profile = it->second.radial_profile;
      std::vector<double> x(profile.size());
      for (size_t k = 0; k < x.size(); ++k) {
        x[k] = (static_cast<double>(k) + 0.5) / static_cast<double>(x.size());
      }
      chart.series_names.push_back(side == &comparison.a ? o.name_a : o.name_b);
      chart.xs.push_back(std::move(x));
      chart.ys.push_back(profile);
    }
    report::plot_lines(out / ("radial_" + file_safe(name) + ".png"), chart);
  }
  write_file_atomically(out / "compare.json", dump_json(to_json(comparison), 2) + "\n");
}

}  // namespace difftriage::dataset
