// Helpers shared by the subcommands: exit codes, output folders, run.json provenance.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "difftriage/features/evidence_stage.h"

namespace CLI {
class App;
}

namespace difftriage::cli {

/// Exit codes of the CLI (DESIGN.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitData = 3;
inline constexpr int kExitInternal = 70;

/// Thrown by a subcommand that has already reported its problems and only wants an exit code.
struct ExitRequest {
  int code;
};

/// Progress of a long command on stderr, with rate and ETA: a bar redrawn at most every 0.2 s
/// when stderr is a terminal, otherwise one plain line every `interval_s` seconds (and one at
/// the end); nothing when `quiet`. Call update() after each unit of work, from one thread at a
/// time; finish() prints the last line.
class ProgressLine {
 public:
  /// `what`: the command ("classify"); `unit`: "frames"; `total` units expected (0: unknown).
  ProgressLine(std::string what, std::string unit, int64_t total, bool quiet,
               double interval_s = 5.0);
  void update(int64_t done);
  void finish(int64_t done);

 private:
  void print(int64_t done, bool final_line);
  std::string what_, unit_;
  int64_t total_;
  bool quiet_, tty_;
  double interval_s_;
  std::chrono::steady_clock::time_point start_, last_;
};

/// Creates `dir` (and parents). @throws IoError naming the folder on failure.
void make_output_dir(const std::filesystem::path& dir);

/// Writes `dir/run.json` atomically: command, resolved options, version, git hash.
void write_run_json(const std::filesystem::path& dir, const std::string& command,
                    const nlohmann::json& options, const std::string& exact_command = "");
/// The text write_run_json writes, for a command that publishes its outputs as one set.
/// `exact_command` (command_line() of the parsed subcommand), when not empty, is recorded as
/// "command_line": the exact command a report shows.
std::string run_json_text(const std::string& command, const nlohmann::json& options,
                          const std::string& exact_command = "");

/// The command line of a parsed subcommand, for provenance: "difftriage <name>", then each
/// option given with its values (flags by name alone), in declaration order.
std::string command_line(const CLI::App& command);

/// --threads (Torch compute threads), --workers (decoding threads) and --batch (frames per
/// forward pass) of the commands that run a model over a dataset, with their ranges.
void add_inference_options(CLI::App& command, int& threads, int& workers, int64_t& batch);

/// --geometry FILE: the detector geometry JSON file (read with read_geometry_json); `use` says
/// what the command does with it, e.g. "for the ice score's rings at the ice spacings".
void add_geometry_option(CLI::App& command, std::string& file, const std::string& use);

/// The spot-evidence options (features/evidence_stage.h) of the commands that triage frames:
/// --geometry, --geometry-override, --cell (repeatable), --no-spot-evidence.
void add_evidence_options(CLI::App& command, features::EvidenceArgs& args);

}  // namespace difftriage::cli
