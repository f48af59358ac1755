// Registration of the CLI's subcommands: one cmd_<name>.cpp per subcommand, each adding itself
// to the root app. A subcommand's callback does the work and throws difftriage::Error on failure;
// main() maps exceptions to exit codes.
#pragma once

#include <CLI/CLI.hpp>

namespace difftriage::cli {

void register_info(CLI::App& root);
void register_dataset(CLI::App& root);  // dataset check | stats | split
void register_simulate(CLI::App& root);
void register_baseline(CLI::App& root);
void register_train(CLI::App& root);     // needs difftriage_ml
void register_evaluate(CLI::App& root);  // needs difftriage_ml
void register_calibrate(CLI::App& root);  // needs difftriage_ml
void register_explain(CLI::App& root);   // needs difftriage_ml
void register_classify(CLI::App& root);  // needs difftriage_ml
void register_stream(CLI::App& root);    // needs difftriage_ml
void register_replay(CLI::App& root);    // needs difftriage_ml
void register_report(CLI::App& root);    // needs difftriage_ml
void register_merge(CLI::App& root);     // needs difftriage_ml
void register_dataset_check(CLI::App& dataset);
void register_dataset_stats(CLI::App& dataset);
void register_dataset_split(CLI::App& dataset);
void register_dataset_compare(CLI::App& dataset);

}  // namespace difftriage::cli
