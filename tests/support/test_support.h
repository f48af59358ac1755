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

/// Exit code of a test executable whose tests passed except some that were skipped
/// (tests/support/gtest_main.cpp); CTest shows it as "Skipped".
inline constexpr int kSkipExitCode = 77;

/// True when the environment says the shared fixtures must be there (DT_REQUIRE_SHARED=1, set
/// by scripts/run-tests under CI): a missing fixture then fails the test instead of skipping it.
bool shared_data_required();

/// Skips the current test when `path` (a file under ../shared) is missing, or fails it when
/// shared_data_required(). Use at the top of a TEST body.
#define DT_REQUIRE_SHARED(path)                                                               \
  do {                                                                                        \
    if (!std::filesystem::exists(path)) {                                                     \
      if (::difftriage::testing::shared_data_required()) {                                    \
        GTEST_FAIL() << "required shared data missing (DT_REQUIRE_SHARED=1): " << (path);     \
      }                                                                                       \
      GTEST_SKIP() << "shared data not found: " << (path);                                    \
    }                                                                                         \
  } while (0)
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

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, read back, closed):
/// for servers a test starts itself, so tests run in parallel never share a fixed port.
int free_tcp_port();

/// Result of running a command.
struct CommandResult {
  int exit_code = -1;
  std::string out;  ///< stdout
  std::string err;  ///< stderr
};
/// Runs the CLI with `args` (no shell involved), capturing stdout and stderr.
CommandResult run_cli(const std::vector<std::string>& args);

}  // namespace difftriage::testing
