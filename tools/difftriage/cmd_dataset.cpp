// difftriage dataset <check|stats|split> — the group; each subcommand has its own file.
#include "commands.h"

namespace difftriage::cli {

void register_dataset(CLI::App& root) {
  CLI::App* group = root.add_subcommand(
      "dataset", "Work with labelled datasets (folders with multiclasses.txt / categories1.txt)");
  group->require_subcommand(1);
  register_dataset_check(*group);
  register_dataset_stats(*group);
  register_dataset_split(*group);
  register_dataset_compare(*group);
}

}  // namespace difftriage::cli
