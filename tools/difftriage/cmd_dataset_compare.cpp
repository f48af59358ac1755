// difftriage dataset compare A B --out OUT — per-class statistics of two datasets side by side.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "cli_common.h"
#include "commands.h"
#include "difftriage/core/detector_geometry.h"
#include "difftriage/dataset/compare.h"

namespace difftriage::cli {
namespace {

struct CompareArgs {
  std::string a, b, out, geometry_a, geometry_b;
  std::string name_a = "A", name_b = "B";
  int max_per_class = 200;
};

std::string format_value(double v) {
  char buf[32];
  if (!std::isfinite(v)) return "-";
  std::snprintf(buf, sizeof buf, std::abs(v) >= 100 ? "%.0f" : std::abs(v) >= 10 ? "%.1f" : "%.3g", v);
  return buf;
}

void print_realism(const dataset::RealismReport& report, const std::string& ours,
                   const std::string& reference) {
  std::printf("\nrealism of %s against %s (per-frame measures: %s's 10th / 50th / 90th percentile "
              "and %s's median; trends: Spearman rho per regime)\n",
              ours.c_str(), reference.c_str(), ours.c_str(), reference.c_str());
  std::printf("%-40s %-17s %5s %5s %8s %8s %8s %9s %6s  %s\n", "measure", "class", "n", "n_ref",
              "p10", "p50", "p90", "reference", "pct", "in range");
  for (const dataset::RealismRow& r : report.rows) {
    std::string regimes;
    for (const auto& g : r.regimes) {
      regimes += " " + g.name + " " + format_value(g.rho) + " (n " + std::to_string(g.n) + ")";
    }
    std::printf("%-40s %-17s %5lld %5lld %8s %8s %8s %9s %6s  %s%s\n", r.measure.c_str(),
                r.cls.c_str(), static_cast<long long>(r.n_ours),
                static_cast<long long>(r.n_reference), format_value(r.ours_p10).c_str(),
                format_value(r.ours_p50).c_str(), format_value(r.ours_p90).c_str(),
                format_value(r.reference).c_str(), format_value(r.percentile).c_str(),
                r.in_range ? "yes" : "NO", regimes.c_str());
  }
  std::printf("realism score: %lld of %zu measures have %s's value inside %s's range\n",
              static_cast<long long>(report.n_in_range), report.rows.size(), reference.c_str(),
              ours.c_str());
  for (const std::string& f : report.flagged) std::printf("  outside: %s\n", f.c_str());
}

void run_compare(const CompareArgs& args) {
  dataset::CompareOptions options;
  options.dir_a = args.a;
  options.dir_b = args.b;
  options.name_a = args.name_a;
  options.name_b = args.name_b;
  options.max_per_class = args.max_per_class;
  if (!args.geometry_a.empty()) options.geometry_a = read_geometry_json(args.geometry_a);
  if (!args.geometry_b.empty()) options.geometry_b = read_geometry_json(args.geometry_b);
  const dataset::Comparison comparison = dataset::compare(options);
  const std::filesystem::path out = args.out;
  make_output_dir(out);
  std::printf("%-14s %-10s %6s %6s %6s %6s %8s %8s\n", "class", "dataset", "frames", "p5", "p50",
              "p95", ">185 %", "spots");
  for (const std::string& name : comparison.class_names) {
    for (const auto* side : {&comparison.a, &comparison.b}) {
      const auto it = side->find(name);
      if (it == side->end()) continue;
      const dataset::ClassStats& s = it->second;
      std::printf("%-14s %-10s %6lld %6.0f %6.0f %6.0f %8.3f %8.1f\n", name.c_str(),
                  (side == &comparison.a ? args.name_a : args.name_b).c_str(),
                  static_cast<long long>(s.n_frames), s.mean_percentile(5), s.mean_percentile(50),
                  s.mean_percentile(95), 100.0 * s.fraction_above_185, s.mean_spots);
    }
  }
  print_realism(comparison.realism, args.name_a, args.name_b);
  dataset::write_comparison(out, comparison);
  write_run_json(out, "dataset compare",
                 {{"a", args.a},
                  {"b", args.b},
                  {"max_per_class", args.max_per_class},
                  {"geometry_a", args.geometry_a},
                  {"geometry_b", args.geometry_b}});
}

}  // namespace

void register_dataset_compare(CLI::App& dataset) {
  auto args = std::make_shared<CompareArgs>();
  CLI::App* cmd = dataset.add_subcommand(
      "compare", "Per-class statistics of two datasets side by side (pixel percentiles, share of "
                 "pixels > 185, spot counts, radial profiles) as compare.json and plots, and the "
                 "realism score of the first (ours) against the second (a reference): spot area, "
                 "single-pixel share, spots > 185 per quality class, spot resolution, solvent and "
                 "ice rings, noise, mosaic trends");
  cmd->add_option("a", args->a, "First dataset folder")->required();
  cmd->add_option("b", args->b, "Second dataset folder")->required();
  cmd->add_option("--out", args->out, "Output folder")->required();
  cmd->add_option("--name-a", args->name_a, "Legend name of the first dataset")->capture_default_str();
  cmd->add_option("--name-b", args->name_b, "Legend name of the second dataset")->capture_default_str();
  cmd->add_option("--geometry-a", args->geometry_a,
                  "Geometry JSON (as --geometry elsewhere) of the first dataset's frames that have "
                  "no simulator sidecar; the realism measures in angstrom need it")
      ->check(CLI::ExistingFile);
  cmd->add_option("--geometry-b", args->geometry_b,
                  "Geometry JSON of the second dataset's frames that have no simulator sidecar "
                  "(e.g. the reference's: 1.3 A, 100 mm, 0.22 mm output pixels, centre 256, 256)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--max-per-class", args->max_per_class, "Frames read per class and dataset at most")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  cmd->callback([args] { run_compare(*args); });
}

}  // namespace difftriage::cli
