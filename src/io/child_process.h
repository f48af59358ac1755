/// Private to the io module: runs a piece of parsing in a forked child process, so that a crash
/// or a hang inside a third-party parser (libhdf5) ends the child, not the caller.
///
/// Why a process: libhdf5 decodes a file's metadata itself, and the version Debian 12 ships
/// (1.10.8) can dereference null or read through a corrupt address on damaged metadata
/// (README "Robustness"). No signal handler can make a process whole again after that, so the
/// parse is first done where a crash costs nothing.
#pragma once

#include <functional>
#include <string>

namespace difftriage::io::detail {

/// What became of the work run in a child.
struct ChildOutcome {
  enum class Kind {
    kReturned,  ///< the work returned; `text` is what it returned
    kThrew,     ///< the work threw; `text` is the exception's message
    kCrashed,   ///< the child was killed by a signal; `text` names it ("SIGSEGV")
    kTimedOut,  ///< the child ran longer than the timeout and was killed
    kNoChild,   ///< no child could be started (fork or pipe failed); `text` says why
  };
  Kind kind = Kind::kNoChild;
  std::string text;
};

/// Runs `work` in a child made by fork() and waits at most `timeout_s` seconds for it. The child
/// is a copy of the caller's memory at the moment of the call and runs only the calling thread,
/// so `work` must not wait for anything another thread would release: call this while holding
/// every lock `work` needs (it stays held in the child, by the child's only thread). The child
/// sends `work`'s result or exception message through a pipe and leaves with _exit (no atexit
/// handlers, no destructors of static objects). Thread-safe; never throws.
ChildOutcome run_in_child(const std::function<std::string()>& work, double timeout_s) noexcept;

/// "SIGSEGV (segmentation fault)"-style name of a signal number.
std::string signal_description(int signal_number);

}  // namespace difftriage::io::detail
