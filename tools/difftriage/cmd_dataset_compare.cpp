// difftriage dataset compare A B --out OUT — per-class statistics of two datasets side by side.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "cli_common.h"
#include "commands.h"
#include "difftriage/dataset/compare.h"

namespace difftriage::cli {
namespace {

struct CompareArgs {
  std::string a, b, out;
  std::string name_a = "A", name_b = "B";
  int max_per_class = 200;
};

void run_compare(const CompareArgs& args) {
  dataset::CompareOptions options;
  options.dir_a = args.a;
  options.dir_b = args.b;
  options.name_a = args.name_a;
  options.name_b = args.name_b;
  options.max_per_class = args.max_per_class;
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
  dataset::write_comparison(out, comparison);
  write_run_json(out, "dataset compare",
                 {{"a", args.a}, {"b", args.b}, {"max_per_class", args.max_per_class}});
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
  cmd->callback([args] { run_compare(*args); });
}

}  // namespace difftriage::cli
