#include "gnuplot_runner.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include "difftriage/core/atomic_file.h"
#include "difftriage/core/error.h"
#include "difftriage/core/log.h"

extern char** environ;

namespace difftriage::report::detail {
namespace fs = std::filesystem;
using difftriage::detail::concat;

namespace {

// How much of gnuplot's stderr goes into an error message: enough for the failing command, its
// caret line and the reason, not a flood.
constexpr int kMaxStderrLines = 12;
constexpr size_t kMaxStderrChars = 2000;

// The PNG file signature (PNG spec, section 5.2).
constexpr char kPngSignature[] = "\x89PNG\r\n\x1a\n";

std::string take_first_lines(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  std::string out;
  int n_lines = 0;
  while (std::getline(in, line) && n_lines < kMaxStderrLines) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (!out.empty()) out += '\n';
    out += line;
    ++n_lines;
  }
  if (out.size() > kMaxStderrChars) out = out.substr(0, kMaxStderrChars) + " ...";
  return out;
}

std::string read_if_present(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  return text.str();
}

bool looks_like_png(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  char head[8] = {};
  in.read(head, sizeof head);
  return in.gcount() == 8 && std::memcmp(head, kPngSignature, 8) == 0;
}

// Starts `gnuplot -d` (-d: ignore ~/.gnuplot and the system gnuplotrc, so user settings cannot
// change our figures) with stdin from `script`, stdout discarded and stderr into `stderr_path`.
// Returns the wait status. Throws IoError if the program cannot be started.
int spawn_and_wait(const std::string& gnuplot, const fs::path& script, const fs::path& stderr_path,
                   const fs::path& out) {
  posix_spawn_file_actions_t actions;
  if (posix_spawn_file_actions_init(&actions) != 0) {
    throw IoError(concat("cannot run gnuplot for ", out.string(), ": out of memory"));
  }
  struct ActionsGuard {
    posix_spawn_file_actions_t* actions;
    ~ActionsGuard() { posix_spawn_file_actions_destroy(actions); }
  } guard{&actions};
  const std::string script_str = script.string();
  const std::string stderr_str = stderr_path.string();
  int rc = posix_spawn_file_actions_addopen(&actions, 0, script_str.c_str(), O_RDONLY, 0);
  if (rc == 0) rc = posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  if (rc == 0) {
    rc = posix_spawn_file_actions_addopen(&actions, 2, stderr_str.c_str(),
                                          O_WRONLY | O_CREAT | O_TRUNC, 0600);
  }
  if (rc != 0) {
    throw IoError(concat("cannot run gnuplot for ", out.string(), ": ", std::strerror(rc)));
  }

  std::vector<char> program(gnuplot.begin(), gnuplot.end());
  program.push_back('\0');
  char default_settings[] = "-d";
  char* argv[] = {program.data(), default_settings, nullptr};
  pid_t pid = 0;
  rc = posix_spawnp(&pid, program.data(), &actions, nullptr, argv, environ);
  if (rc != 0) {
    throw IoError(concat("cannot run gnuplot executable '", gnuplot, "' to draw ", out.string(),
                         ": ", std::strerror(rc)));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      throw IoError(concat("lost track of gnuplot drawing ", out.string(), ": ",
                           std::strerror(errno)));
    }
  }
  return status;
}

}  // namespace

ScratchDir::ScratchDir() {
  std::error_code ec;
  const fs::path base = fs::temp_directory_path(ec);
  if (ec) throw IoError(concat("no temporary folder for chart data: ", ec.message()));
  std::string pattern = (base / "difftriage-report-XXXXXX").string();
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (::mkdtemp(buffer.data()) == nullptr) {
    throw IoError(concat("cannot create a temporary folder in ", base.string(), ": ",
                         std::strerror(errno)));
  }
  path_ = buffer.data();
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

void render_png(const fs::path& out, const ChartOptions& options, const FontSizes& fonts,
                const ScratchDir& scratch, const std::string& body) {
  const fs::path script_path = scratch.file("chart.gp");
  const fs::path stderr_path = scratch.file("gnuplot.stderr");
  const std::string size =
      " size " + std::to_string(options.width_px) + "," + std::to_string(options.height_px);
  const std::string font = " font 'DejaVu Sans," + std::to_string(fonts.base_pt) + "'";

  write_atomically(out, [&](const fs::path& tmp_png) {
    std::string script;
    script += "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n";
    script += "  set terminal pngcairo noenhanced truecolor" + size + font + " linewidth 1.3\n";
    script += "} else {\n";
    script += "  set terminal png noenhanced truecolor" + size + font + "\n";
    script += "}\n";
    script += "set output " + quote(tmp_png.string()) + "\n";
    script += body;
    script += "unset multiplot\nset output\n";  // flush and close the PNG before exiting
    write_file_bytes(script_path, script);

    const int status = spawn_and_wait(options.gnuplot, script_path, stderr_path, out);
    const std::string errors = take_first_lines(read_if_present(stderr_path));
    if (WIFSIGNALED(status)) {
      throw IoError(concat("gnuplot was killed by signal ", WTERMSIG(status), " while drawing ",
                           out.string(), errors.empty() ? "" : ":\n", errors));
    }
    const int exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (exit_code == 127 && errors.empty()) {
      throw IoError(concat("cannot run gnuplot executable '", options.gnuplot, "' to draw ",
                           out.string()));
    }
    if (exit_code != 0) {
      throw IoError(concat("gnuplot failed (exit status ", exit_code, ") drawing ", out.string(),
                           errors.empty() ? "" : ":\n", errors));
    }
    std::error_code ec;
    if (!fs::is_regular_file(tmp_png, ec) || !looks_like_png(tmp_png)) {
      throw IoError(concat("gnuplot wrote no PNG for ", out.string(),
                           errors.empty() ? "" : ":\n", errors));
    }
    if (!errors.empty()) {
      log_message(LogLevel::kWarning, concat("gnuplot warnings drawing ", out.string(), ":\n", errors));
    }
  });
}

}  // namespace difftriage::report::detail
