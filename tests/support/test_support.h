/// Helpers shared by the test executables: paths to the source tree, the shared fixtures and the
/// CLI, and a self-removing temporary folder.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace difftriage::testing {

/// The repository root (DT_SOURCE_DIR overrides the path compiled in).
std::filesystem::path source_dir();
/// `tests/data` in the repository.
std::filesystem::path test_data_dir();
/// `../shared/fixtures` beside the repository (may be absent in an exported tree).
std::filesystem::path shared_fixtures_dir();
/// `../shared/reference` beside the repository.
std::filesystem::path shared_reference_dir();
/// Path of the built `difftriage` executable (DT_CLI overrides the path compiled in).
std::filesystem::path cli_path();

/// A fresh folder under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// Writes `content` to `path` (creating parent folders).
void write_text(const std::filesystem::path& path, const std::string& content);
/// The non-empty lines of a text file (none if it cannot be read).
std::vector<std::string> read_lines(const std::filesystem::path& path);
/// Reads a whole file as bytes.
std::string read_bytes(const std::filesystem::path& path);

/// Result of running a command.
struct CommandResult {
  int exit_code = -1;
  std::string out;  ///< stdout
  std::string err;  ///< stderr
};
/// Runs the CLI with `args` (no shell involved), capturing stdout and stderr.
CommandResult run_cli(const std::vector<std::string>& args);

}  // namespace difftriage::testing
