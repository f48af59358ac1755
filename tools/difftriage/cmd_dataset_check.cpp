// difftriage dataset check DIR — validates labels and that every image exists and decodes.
#include <cstdio>
#include <memory>
#include <string>

#include "cli_common.h"
#include "commands.h"
#include "difftriage/dataset/dataset.h"

namespace difftriage::cli {
namespace {
struct CheckArgs {
  std::string dir;
  bool no_decode = false;
};
}  // namespace

void register_dataset_check(CLI::App& dataset) {
  auto args = std::make_shared<CheckArgs>();
  CLI::App* cmd = dataset.add_subcommand(
      "check", "Validate label files and that every image exists and decodes; list all problems");
  cmd->add_option("dir", args->dir, "Dataset folder")->required();
  cmd->add_flag("--no-decode", args->no_decode,
                "Only check that image files exist (do not decode them)");
  cmd->callback([args] {
    dataset::CheckOptions options;
    options.decode_images = !args->no_decode;
    const auto report = dataset::check_dataset(args->dir, options);
    for (const auto& warning : report.warnings) std::fprintf(stderr, "warning: %s\n", warning.c_str());
    for (const auto& problem : report.problems) std::fprintf(stderr, "%s\n", problem.c_str());
    std::printf("%s: %lld samples, %lld images ok, %zu problem(s), %zu warning(s)\n",
                args->dir.c_str(), static_cast<long long>(report.n_samples),
                static_cast<long long>(report.n_images_ok), report.problems.size(),
                report.warnings.size());
    std::fflush(stdout);
    if (!report.ok()) throw ExitRequest{kExitData};
  });
}

}  // namespace difftriage::cli
