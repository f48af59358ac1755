/// Private to the HDF5 reader (hdf5_*.cpp): fork-based isolation (ReadOptions::isolate_hdf5).
/// Before a file is opened in this process, a forked child (child_process.h) parses what any
/// read of it would make libhdf5 parse; only if the child comes back is the file opened here.
/// Owns the reader's global state for this: the per-thread settings, the "in a checking child"
/// flag and the set of files that passed. Call everything under hdf5_mutex().
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "difftriage/io/image_io.h"

namespace difftriage::io::detail::hdf5 {

/// This thread's read settings, set by IsolationScope at every entry point (under hdf5_mutex()).
struct Isolation {
  bool enabled = false;
  double timeout_s = 60.0;
};

/// Sets this thread's isolation settings from `options` for the scope (restored after).
/// @throws ConfigError when options.isolate_timeout_s is not finite and > 0.
class IsolationScope {
 public:
  explicit IsolationScope(const ReadOptions& options);
  ~IsolationScope();
  IsolationScope(const IsolationScope&) = delete;
  IsolationScope& operator=(const IsolationScope&) = delete;

 private:
  Isolation saved_;
};

/// Parses `file` in a child first, unless this thread's read has isolation off, this process is
/// such a child, or the same file (canonical path, modification time, size; and `object`) passed
/// before. `object` empty: the whole file, as LazyFile opens it; else that dataset of an EIGER
/// data file, as open_external opens it.
/// @throws FormatError naming `who` if the child crashed or overran its time; IoError when no
/// child could be started.
void check_in_child_first(const std::filesystem::path& file, const std::string& object,
                          const std::string& who);

/// The same for an in-memory file image (never remembered as passed).
void check_bytes_in_child_first(const uint8_t* bytes, size_t n_bytes, const std::string& name);

/// In a checking child: remembers that `file`'s `object` was walked, so that the parent need not
/// check that data file again. Elsewhere: nothing.
void note_walked_in_child(const std::filesystem::path& file, const std::string& object);

/// Forgets every file that passed its check. Never throws.
void clear_checked_files() noexcept;

}  // namespace difftriage::io::detail::hdf5
