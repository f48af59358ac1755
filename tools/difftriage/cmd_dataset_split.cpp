// difftriage dataset split DIR --out OUT --fractions 0.8,0.1,0.1 --seed N
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli_common.h"
#include "commands.h"
#include "difftriage/dataset/split.h"

namespace difftriage::cli {
namespace {
struct SplitArgs {
  std::string dir;
  std::string out;
  std::vector<double> fractions = {0.8, 0.1, 0.1};
  std::vector<std::string> names = {"train", "val", "test"};
  uint64_t seed = 0;
};
}  // namespace

void register_dataset_split(CLI::App& dataset) {
  auto args = std::make_shared<SplitArgs>();
  CLI::App* cmd = dataset.add_subcommand(
      "split", "Stratified, deterministic train/val/test split written as dataset folders");
  cmd->add_option("dir", args->dir, "Dataset folder")->required();
  cmd->add_option("--out", args->out, "Output folder; gets one sub-folder per part")->required();
  cmd->add_option("--fractions", args->fractions, "Fractions per part, summing to 1")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--names", args->names, "Part names, one per fraction")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "Random seed (same seed => same split)")
      ->capture_default_str();
  cmd->callback([args] {
    const auto ds = dataset::load_dataset(args->dir);
    dataset::SplitOptions options;
    options.fractions = args->fractions;
    options.names = args->names;
    options.seed = args->seed;
    const auto split = dataset::split_dataset(ds, options);
    make_output_dir(args->out);
    dataset::write_split(ds, split, args->out);
    write_run_json(args->out, "dataset split",
                   {{"dir", args->dir},
                    {"fractions", args->fractions},
                    {"names", args->names},
                    {"seed", args->seed}});
    for (size_t i = 0; i < split.names.size(); ++i) {
      std::printf("%-8s %6zu samples -> %s/%s\n", split.names[i].c_str(), split.parts[i].size(),
                  args->out.c_str(), split.names[i].c_str());
    }
  });
}

}  // namespace difftriage::cli
