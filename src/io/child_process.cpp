// fork + pipe + poll: the isolation behind ReadOptions::isolate_hdf5 (see child_process.h).
#include "child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>

namespace difftriage::io::detail {
namespace {

// Writes all of `text` to `fd`, retrying on EINTR and short writes; gives up silently (the
// parent then sees a truncated or empty message, and the exit status still tells the story).
void write_all(int fd, const std::string& text) noexcept {
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

// The child's side: one tag byte ('R' returned, 'E' threw) and the text, then _exit.
[[noreturn]] void run_child(int fd, const std::function<std::string()>& work) noexcept {
  // A dying parent must not leave the child writing into a closed pipe forever.
  ::signal(SIGPIPE, SIG_DFL);
  std::string message;
  try {
    message = "R" + work();
  } catch (const std::exception& e) {
    message = std::string("E") + e.what();
  } catch (...) {
    message = "Eunknown exception";
  }
  write_all(fd, message);
  ::close(fd);
  ::_exit(0);
}

}  // namespace

std::string signal_description(int signal_number) {
  const char* abbrev = sigabbrev_np(signal_number);
  const char* text = sigdescr_np(signal_number);
  std::string out =
      abbrev != nullptr ? std::string("SIG") + abbrev : "signal " + std::to_string(signal_number);
  if (text != nullptr) out += std::string(" (") + text + ")";
  return out;
}

ChildOutcome run_in_child(const std::function<std::string()>& work, double timeout_s) noexcept {
  ChildOutcome outcome;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    outcome.text = std::string("pipe failed: ") + std::strerror(errno);
    return outcome;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    outcome.text = std::string("fork failed: ") + std::strerror(errno);
    ::close(fds[0]);
    ::close(fds[1]);
    return outcome;
  }
  if (pid == 0) {
    ::close(fds[0]);
    run_child(fds[1], work);
  }
  ::close(fds[1]);

  // Read until the child closes its end (it exits) or the deadline passes.
  std::string received;
  bool timed_out = false;
  // At most a year: a larger (or non-finite) timeout would overflow the clock's integer ticks.
  const double wait_s = timeout_s > 0.0 ? std::min(timeout_s, 3.2e7) : 0.0;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(wait_s));
  char buffer[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1 << 30)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;  // timeout rechecked at the top of the loop
    const ssize_t n = ::read(fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the child closed the pipe (exited or crashed)
    received.append(buffer, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    outcome.kind = ChildOutcome::Kind::kTimedOut;
    return outcome;
  }
  if (WIFSIGNALED(status)) {
    outcome.kind = ChildOutcome::Kind::kCrashed;
    outcome.text = signal_description(WTERMSIG(status));
    return outcome;
  }
  if (received.empty()) {
    // Exited without a word: something in the work called exit() itself.
    outcome.kind = ChildOutcome::Kind::kCrashed;
    outcome.text = "exit status " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) +
                   " without a result";
    return outcome;
  }
  outcome.kind = received[0] == 'R' ? ChildOutcome::Kind::kReturned : ChildOutcome::Kind::kThrew;
  outcome.text = received.substr(1);
  return outcome;
}

}  // namespace difftriage::io::detail
