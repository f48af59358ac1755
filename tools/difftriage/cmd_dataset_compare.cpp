// difftriage dataset compare A B --out OUT — per-class statistics of two datasets side by side.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"
#include "difftriage/core/atomic_file.h"
#include "difftriage/dataset/dataset.h"
#include "difftriage/features/frame_stats.h"
#include "difftriage/io/image_io.h"
#include "difftriage/report/charts.h"

namespace difftriage::cli {
namespace {

struct CompareArgs {
  std::string a, b, out;
  std::string name_a = "A", name_b = "B";
  int max_per_class = 200;
};

/// Class names a sample belongs to: its quality word and each of its positive labels; a
/// multilabel sample with no crystal label is also "blank".
std::vector<std::string> classes_of(const dataset::Sample& s) {
  std::vector<std::string> out;
  if (s.quality) out.push_back(std::string("q:") + quality_name(*s.quality));
  if (s.labels) {
    for (size_t k = 0; k < kNumLabels; ++k)
      if ((*s.labels)[k]) out.push_back(kLabelNames[k]);
  }
  return out;
}

/// Averages of FrameStats over the frames of one class.
struct ClassStats {
  int64_t n_frames = 0;
  std::vector<double> percentiles = std::vector<double>(features::kFramePercentiles.size(), 0.0);
  double mean = 0, fraction_bright = 0, n_spots = 0;
  std::vector<double> n_spots_all;
  std::vector<double> radial;

  void add(const features::FrameStats& f) {
    ++n_frames;
    for (size_t k = 0; k < percentiles.size(); ++k) percentiles[k] += f.percentiles[k];
    mean += f.mean;
    fraction_bright += f.fraction_bright;
    n_spots += static_cast<double>(f.n_spots);
    n_spots_all.push_back(static_cast<double>(f.n_spots));
    if (radial.empty()) radial.assign(f.radial_profile.size(), 0.0);
    for (size_t k = 0; k < radial.size(); ++k) radial[k] += f.radial_profile[k];
  }
  nlohmann::json finish() {
    const double n = std::max<int64_t>(1, n_frames);
    for (auto& v : percentiles) v /= n;
    for (auto& v : radial) v /= n;
    std::sort(n_spots_all.begin(), n_spots_all.end());
    nlohmann::json pct = nlohmann::json::object();
    for (size_t k = 0; k < percentiles.size(); ++k)
      pct["p" + std::to_string(static_cast<int>(features::kFramePercentiles[k]))] = percentiles[k];
    return {{"n_frames", n_frames},
            {"mean_percentiles", pct},
            {"mean", mean / n},
            {"fraction_above_185", fraction_bright / n},
            {"mean_spots", n_spots / n},
            {"median_spots", n_spots_all.empty() ? 0.0 : n_spots_all[n_spots_all.size() / 2]},
            {"radial_profile", radial}};
  }
};

std::map<std::string, nlohmann::json> summarise(const std::string& dir, int max_per_class) {
  const auto ds = dataset::load_dataset(dir);
  std::map<std::string, ClassStats> acc;
  for (const auto& sample : ds.samples) {
    const auto classes = classes_of(sample);
    const bool wanted = std::any_of(classes.begin(), classes.end(), [&](const std::string& c) {
      return acc[c].n_frames < max_per_class;
    });
    if (!wanted) continue;
    const auto frame = to_float(io::read_image(sample.path));
    const auto stats = features::compute_frame_stats(frame.view());
    for (const auto& c : classes)
      if (acc[c].n_frames < max_per_class) acc[c].add(stats);
  }
  std::map<std::string, nlohmann::json> out;
  for (auto& [name, stats] : acc)
    if (stats.n_frames > 0) out[name] = stats.finish();
  return out;
}

std::string file_safe(std::string name) {
  for (auto& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

}  // namespace

void register_dataset_compare(CLI::App& dataset) {
  auto args = std::make_shared<CompareArgs>();
  CLI::App* cmd = dataset.add_subcommand(
      "compare", "Per-class statistics of two datasets side by side (pixel percentiles, share of "
                 "pixels > 185, spot counts, radial profiles) as compare.json and plots");
  cmd->add_option("a", args->a, "First dataset folder")->required();
  cmd->add_option("b", args->b, "Second dataset folder")->required();
  cmd->add_option("--out", args->out, "Output folder")->required();
  cmd->add_option("--name-a", args->name_a, "Legend name of the first dataset")->capture_default_str();
  cmd->add_option("--name-b", args->name_b, "Legend name of the second dataset")->capture_default_str();
  cmd->add_option("--max-per-class", args->max_per_class, "Frames read per class and dataset at most")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  cmd->callback([args] {
    const auto a = summarise(args->a, args->max_per_class);
    const auto b = summarise(args->b, args->max_per_class);
    const std::filesystem::path out = args->out;
    make_output_dir(out);
    nlohmann::json j = {{"a", {{"name", args->name_a}, {"dir", args->a}}},
                        {"b", {{"name", args->name_b}, {"dir", args->b}}},
                        {"classes", nlohmann::json::object()}};
    std::printf("%-14s %-10s %6s %6s %6s %6s %8s %8s\n", "class", "dataset", "frames", "p5", "p50",
                "p95", ">185 %", "spots");
    std::vector<std::string> names;
    for (const auto& [name, _] : a) names.push_back(name);
    for (const auto& [name, _] : b)
      if (!a.count(name)) names.push_back(name);
    for (const auto& name : names) {
      report::LineChart chart;
      chart.title = "Radial profile, class " + name;
      chart.x_label = "radius / distance from beam centre to nearest edge";
      chart.y_label = "mean pixel value";
      for (const auto* side : {&a, &b}) {
        const auto it = side->find(name);
        const std::string label = side == &a ? args->name_a : args->name_b;
        j["classes"][name][side == &a ? "a" : "b"] = it == side->end() ? nlohmann::json() : it->second;
        if (it == side->end()) continue;
        const auto& s = it->second;
        std::printf("%-14s %-10s %6lld %6.0f %6.0f %6.0f %8.3f %8.1f\n", name.c_str(), label.c_str(),
                    static_cast<long long>(s["n_frames"].get<int64_t>()),
                    s["mean_percentiles"]["p5"].get<double>(), s["mean_percentiles"]["p50"].get<double>(),
                    s["mean_percentiles"]["p95"].get<double>(),
                    100.0 * s["fraction_above_185"].get<double>(), s["mean_spots"].get<double>());
        const auto profile = s["radial_profile"].get<std::vector<double>>();
        std::vector<double> x(profile.size());
        for (size_t k = 0; k < x.size(); ++k) x[k] = (static_cast<double>(k) + 0.5) / static_cast<double>(x.size());
        chart.series_names.push_back(label);
        chart.xs.push_back(x);
        chart.ys.push_back(profile);
      }
      report::plot_lines(out / ("radial_" + file_safe(name) + ".png"), chart);
    }
    write_file_atomically(out / "compare.json", j.dump(2) + "\n");
    write_run_json(out, "dataset compare",
                   {{"a", args->a}, {"b", args->b}, {"max_per_class", args->max_per_class}});
  });
}

}  // namespace difftriage::cli
