/// Atomic file output: write to a temporary file beside the target, then rename over it, so a
/// reader never sees a half-written file and a failure leaves nothing behind.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace difftriage {

/// Calls `write(tmp_path)`, which must create and fill `tmp_path` (a file in the same folder as
/// `target`), then renames it to `target`. If `write` throws, the temporary is removed and the
/// exception propagates; `target` is untouched.
/// @throws IoError if the rename fails.
void write_atomically(const std::filesystem::path& target,
                      const std::function<void(const std::filesystem::path& tmp_path)>& write);

/// Writes `bytes` to `target` atomically. @throws IoError naming the file on failure.
void write_file_atomically(const std::filesystem::path& target, std::string_view bytes);

/// True for a name write_atomically gives its temporaries: ".NAME.tmp-PID-N".
bool is_atomic_temporary_name(const std::string& file_name);

/// Removes the temporaries of write_atomically (is_atomic_temporary_name) in `folder` (not
/// recursive) and returns how many: what a killed process left. Call it only while holding the
/// folder's FolderLock, so no live writer's temporary is taken.
/// @throws IoError naming the folder or file if one cannot be removed.
int64_t remove_stale_temporaries(const std::filesystem::path& folder);

/// An exclusive advisory lock of a folder: flock(2) on the folder itself, so no lock file is
/// left behind and the kernel releases it when the process dies (even by SIGKILL). Not
/// thread-safe; movable, not copyable.
class FolderLock {
 public:
  /// Locks `folder` (which must exist) without waiting.
  /// @throws IoError naming the folder if another process (or another FolderLock of this one)
  ///         holds it ("in use by another run"), or if it cannot be opened.
  explicit FolderLock(const std::filesystem::path& folder);
  ~FolderLock();
  FolderLock(FolderLock&& other) noexcept;
  FolderLock& operator=(FolderLock&&) = delete;
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int fd_ = -1;
};

/// Options of StagedOutputs.
struct StagedOutputsOptions {
  /// Keep `.partial/` as an interrupted run left it (its owner continues it) instead of
  /// replacing it with an empty one.
  bool resume = false;
  /// For tests: called with the name of each publish() step just before it is taken
  /// ("remove summary.json", "rename results.jsonl", ..., "remove .partial"), so a test can
  /// kill the process at that point.
  std::function<void(const std::string& step)> before_step = {};
};

/// The outputs of one run as a set: the run writes every file into `FOLDER/.partial/`, then
/// publish() moves them into FOLDER, the completion marker (`last`, e.g. summary.json) last,
/// so the marker's presence in FOLDER means a complete set of one run.
///
///   StagedOutputs out("cls", {});             // lock, clean up, fresh cls/.partial/
///   write_file_atomically(out.partial() / "results.jsonl", rows);
///   write_file_atomically(out.partial() / "summary.json", summary);
///   out.publish({"results.jsonl", "summary.json"}, "summary.json");
///
/// - Lock: a FolderLock of FOLDER for the object's life; a second run into FOLDER is refused.
/// - Stale temporaries (remove_stale_temporaries) in FOLDER and `.partial/` are removed.
/// - An interrupted run leaves FOLDER's previous set untouched (until publish() starts) and its
///   work in `.partial/`; the next StagedOutputs replaces `.partial/` unless options.resume.
/// - publish() first records the list of files in `.partial/publish.json`, removes FOLDER's old
///   marker, renames each file (the marker last) and removes `.partial/`. A process killed
///   during publish() leaves FOLDER without a marker (so no set claims to be complete) and
///   `.partial/publish.json`; the next StagedOutputs on FOLDER, resumed or not, finishes that
///   publish first (every file of it was complete), so the interrupted run's set appears whole.
/// Not thread-safe.
class StagedOutputs {
 public:
  /// Creates FOLDER if missing, locks it, finishes an interrupted publish, removes stale
  /// temporaries and prepares `.partial/`.
  /// @throws IoError naming the folder (cannot create, in use, cannot clean up).
  StagedOutputs(std::filesystem::path folder, StagedOutputsOptions options);

  const std::filesystem::path& folder() const noexcept { return folder_; }
  /// FOLDER/.partial: where the run writes.
  const std::filesystem::path& partial() const noexcept { return partial_; }
  /// True when options.resume found an interrupted run's `.partial/` to continue.
  bool resumed() const noexcept { return resumed_; }

  /// Moves `files` (names in `.partial/`) into FOLDER, `last` after all others (see above),
  /// then removes `.partial/` with whatever else it holds (a progress file).
  /// @throws IoError naming the file that cannot be moved; ConfigError if `last` is not in
  ///         `files` or a file is missing from `.partial/`.
  void publish(const std::vector<std::string>& files, const std::string& last);

  /// Checks that each of `files` can be moved into FOLDER (nothing but a file or link is in
  /// the way), so a run can fail before its work rather than in the middle of publish().
  /// publish() checks again before moving anything. @throws IoError naming the path.
  void check_targets(const std::vector<std::string>& files) const;

 private:
  void step(const std::string& name) const;
  void finish_publish(const std::vector<std::string>& files, const std::string& last);
  std::filesystem::path folder_, partial_;
  StagedOutputsOptions options_;
  FolderLock lock_;
  bool resumed_ = false;
};

/// Reads a whole file. @throws IoError naming the file if it cannot be opened or read.
std::string read_file(const std::filesystem::path& path);

}  // namespace difftriage
