#include "cli_common.h"

#include <chrono>
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <system_error>

#include <unistd.h>

#include <CLI/CLI.hpp>

#include "difftriage/core/atomic_file.h"
#include "difftriage/core/error.h"
#include "difftriage/core/json_text.h"
#include "difftriage/version.h"

namespace difftriage::cli {

void make_output_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir)) {
    throw IoError("cannot create output folder " + dir.string() + ": " +
                  (ec ? ec.message() : std::string("not a folder")));
  }
}

ProgressLine::ProgressLine(std::string what, std::string unit, int64_t total, bool quiet,
                           double interval_s)
    : what_(std::move(what)),
      unit_(std::move(unit)),
      total_(total),
      quiet_(quiet),
      tty_(isatty(STDERR_FILENO) != 0),
      interval_s_(interval_s),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

void ProgressLine::update(int64_t done) {
  if (quiet_) return;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_).count();
  if (since < (tty_ ? 0.2 : interval_s_)) return;
  last_ = now;
  print(done, false);
}

void ProgressLine::finish(int64_t done) {
  if (!quiet_) print(done, true);
}

void ProgressLine::print(int64_t done, bool final_line) {
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = secs > 0 ? static_cast<double>(done) / secs : 0.0;
  char eta[32] = "";
  if (total_ > 0 && rate > 0 && done < total_) {
    std::snprintf(eta, sizeof eta, ", ETA %.0f s", static_cast<double>(total_ - done) / rate);
  }
  // "12/40" when the total is known, "12" when it is not (classify --watch).
  const std::string count = total_ > 0 ? std::to_string(done) + "/" + std::to_string(total_)
                                       : std::to_string(done);
  if (tty_) {
    const int width = 30;
    const int filled =
        total_ > 0 ? static_cast<int>(width * std::min(done, total_) / total_) : 0;
    std::fprintf(stderr, "\r%s [%s%s] %s %s  %.1f/s%s\033[K", what_.c_str(),
                 std::string(static_cast<size_t>(filled), '#').c_str(),
                 std::string(static_cast<size_t>(width - filled), ' ').c_str(), count.c_str(),
                 unit_.c_str(), rate, eta);
    if (final_line) std::fprintf(stderr, "\n");
  } else {
    std::fprintf(stderr, "%s: %s %s (%.1f %s/s%s)\n", what_.c_str(), count.c_str(),
                 unit_.c_str(), rate, unit_.c_str(), eta);
  }
  std::fflush(stderr);
}

std::string run_json_text(const std::string& command, const nlohmann::json& options,
                          const std::string& exact_command) {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  nlohmann::json run = {{"command", command},
                        {"options", options},
                        {"version", kVersion},
                        {"git_hash", kGitHash},
                        {"created_utc", stamp}};
  if (!exact_command.empty()) run["command_line"] = exact_command;
  return dump_json(run, 2) + "\n";
}

void write_run_json(const std::filesystem::path& dir, const std::string& command,
                    const nlohmann::json& options, const std::string& exact_command) {
  write_file_atomically(dir / "run.json", run_json_text(command, options, exact_command));
}

std::string command_line(const CLI::App& command) {
  std::string line = "difftriage " + command.get_name();
  for (const auto* opt : command.get_options()) {
    if (opt->count() == 0 || opt->get_name() == "--help") continue;
    if (opt->nonpositional()) line += " " + opt->get_name();  // a positional: its values only
    if (opt->get_expected_max() == 0) continue;  // a flag: its name says it all
    for (const auto& r : opt->results()) line += " " + r;
  }
  return line;
}

void add_inference_options(CLI::App& command, int& threads, int& workers, int64_t& batch) {
  command.add_option("--threads", threads, "Torch compute threads")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  command.add_option("--workers", workers, "Image decoding threads (0 = inline)")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();
  command.add_option("--batch", batch, "Frames per forward pass")
      ->check(CLI::Range(int64_t{1}, int64_t{65536}))
      ->capture_default_str();
}

void add_geometry_option(CLI::App& command, std::string& file, const std::string& use) {
  command
      .add_option("--geometry", file,
                  "JSON file with the beam and detector of the frames " + use +
                      " (default: each frame's metadata): an object with exactly the keys "
                      "wavelength_angstrom, distance_mm, pixel_size_mm, beam_center_fast_px, "
                      "beam_center_slow_px (pixels from the frame's corner, 0-based pixel "
                      "edges) and optionally n_fast, n_slow")
      ->check(CLI::ExistingFile);
}

void add_evidence_options(CLI::App& command, features::EvidenceArgs& args) {
  add_geometry_option(command, args.geometry_file,
                      "that have no geometry of their own (metadata or the simulator's sidecar "
                      "<stem>.json); frames without any geometry get null cell and "
                      "d_min_angstrom and the flag no_geometry");
  command.add_flag("--geometry-override", args.geometry_override,
                   "Use --geometry for every frame, replacing the geometry of its metadata or "
                   "sidecar");
  command
      .add_option("--cell", args.cell_files,
                  "Candidate unit cell (repeatable): a CrystFEL unit cell file (its stem names "
                  "the candidate) or a JSON list of {name, a_angstrom, b_angstrom, c_angstrom, "
                  "alpha_deg, beta_deg, gamma_deg, centering}; added to the presets photo1 and "
                  "photo2, each scored in results.jsonl's cell.p")
      ->check(CLI::ExistingFile);
  command.add_flag("--no-spot-evidence", args.disabled,
                   "Skip the full-resolution spot evidence (peaks, cells, d_min, the veto "
                   "guard): the model alone decides, as before 0.9");
}

}  // namespace difftriage::cli
