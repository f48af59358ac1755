#include "cli_common.h"

#include <chrono>
#include <ctime>
#include <system_error>

#include <CLI/CLI.hpp>

#include "difftriage/core/atomic_file.h"
#include "difftriage/core/error.h"
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

void write_run_json(const std::filesystem::path& dir, const std::string& command,
                    const nlohmann::json& options) {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  nlohmann::json run = {{"command", command},
                        {"options", options},
                        {"version", kVersion},
                        {"git_hash", kGitHash},
                        {"created_utc", stamp}};
  write_file_atomically(dir / "run.json", run.dump(2) + "\n");
}

std::string command_line(const CLI::App& command) {
  std::string line = "difftriage " + command.get_name();
  for (const auto* opt : command.get_options()) {
    if (opt->count() == 0 || opt->get_name() == "--help") continue;
    line += " " + opt->get_name();
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

}  // namespace difftriage::cli
