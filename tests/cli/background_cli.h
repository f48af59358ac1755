// `difftriage ARGS...` started in the background for the CLI tests (stream, watch): stdout and
// stderr go to files in `dir`; the destructor kills a process still running.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "support/test_support.h"

extern char** environ;

namespace difftriage::testing {

class BackgroundCli {
 public:
  /// Output in `dir`/`stem`.out and `dir`/`stem`.err.
  BackgroundCli(const std::vector<std::string>& args, const std::filesystem::path& dir,
                const std::string& stem = "bg")
      : out_(dir / (stem + ".out")), err_(dir / (stem + ".err")) {
    const std::string exe = cli_path().string();
    std::vector<char*> argv{const_cast<char*>(exe.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    const std::string out = out_.string(), err = err_.string();
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EXPECT_EQ(posix_spawn(&pid_, exe.c_str(), &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
  }
  BackgroundCli(const BackgroundCli&) = delete;
  BackgroundCli& operator=(const BackgroundCli&) = delete;
  ~BackgroundCli() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  void signal(int s) { kill(pid_, s); }
  /// Exit status, waiting at most `limit_s` seconds (then -1; the destructor kills it).
  int wait(int limit_s = 180) {
    for (int k = 0; k < limit_s * 20; ++k) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -1;
  }
  std::string err() const { return read_bytes(err_); }
  std::string out() const { return read_bytes(out_); }

 private:
  std::filesystem::path out_, err_;
  pid_t pid_ = -1;
};

}  // namespace difftriage::testing
