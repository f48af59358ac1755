/// Watched folders (`classify --watch DIR`): frame files triaged as a writer completes them.
///
///   stream::WatchOptions w;
///   w.folder = "/data/run7";
///   w.settle_s = 1.0;       // a file is taken once unchanged for 1 s
///   w.idle_stop_s = 30.0;   // stop after 30 s without a new or changing file (0: never)
///   w.stop_requested = [] { return g_stop.load(); };
///   stream::TriageFolderWriter writer("cls", clf->metadata(), {model.string(), options});
///   auto r = stream::run_watch_triage(w, clf, options,
///                                     [&](const stream::FrameResult& fr) { writer.add(fr); });
///   writer.add_skipped_inputs(stream::skipped_inputs_json(r.skipped));
///   writer.finish(r.stats);
///
/// The settle rule (FolderWatcher). The folder is listed every `poll_s`; each entry's
/// (size, modification time in ns, inode) is remembered. A regular file is *taken* once that
/// triple has stayed the same for at least `settle_s` seconds (two listings at least settle_s
/// apart with no change seen in between), and not earlier: a writer that pauses for less than
/// settle_s between pieces is never read half-written. Closing is not detected (no inotify): the
/// rule also holds on network file systems (NFS, GPFS, Lustre), where a writer on another host
/// raises no local inotify event. A writer that pauses longer than settle_s should write to a
/// hidden name (".x.cbf") or another name and rename it when complete: a rename is atomic.
///
/// Every file seen is accounted for, either as rows (every frame of every taken file goes to
/// run_triage, whose sink gets one result per frame: a corrupt or truncated file is an error
/// row, kept and flagged) or in `skipped` with its reason:
///  - entries that are not frame files (non_frame_reason: subfolders — not watched recursively —,
///    FIFOs, broken links, label files, JSON sidecars, event lists, files of no frame format) are
///    listed once, when they have settled (a file's content is probed only then);
///  - hidden files (".name") are writers' temporaries: not taken, and listed only when still
///    there when the watch ends (a temporary renamed into place is its final name's file);
///  - a file removed or renamed before it settled: "removed or renamed before it settled (never
///    read)";
///  - a file still changing when the watch stops: "still changing when the watch stopped (never
///    read)";
///  - a file that changes again within 60 s after it was taken is not triaged again: listed
///    once, "changed after it was taken (triaged as it was when taken)". Files taken longer ago
///    are not looked at again (a long run's folder holds many of them; each listing stats only
///    the recent ones).
/// A file is taken once per path.
///
/// Multi-frame files: a file is expanded when taken (expand_file: every frame of an HDF5 stack,
/// multi-page TIFF, CBOR file). EIGER data files (`X_data_NNNNNN.h5`) are held and never taken
/// on their own while their master may still come; a master `X_master.h5` is taken once it and
/// every `X_data_*.h5` present have settled, and its frames are those its data files hold at
/// that moment (frames of data files written later are not triaged: have the writer write the
/// master last, or choose settle_s longer than the gap between data files). Data files whose
/// master never came are taken on their own when the watch ends.
///
/// Stopping: after `stop_requested()` returns true (the CLI: SIGINT/SIGTERM) or idle_stop_s
/// without any change, the frames already taken are triaged to the end (run_triage finishes its
/// batch), files that have settled by then are taken too, and the call returns; the caller
/// closes its output set (TriageFolderWriter::finish).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "difftriage/stream/pipeline.h"
#include "difftriage/stream/sources.h"

namespace difftriage::stream {

/// Options of run_watch_triage (`classify --watch DIR --settle-s S --watch-idle-s N`).
struct WatchOptions {
  /// The folder to watch (must exist; not watched recursively).
  std::filesystem::path folder;
  /// A file is taken once its size, modification time and inode have not changed for this long,
  /// s (> 0).
  double settle_s = 1.0;
  /// Stop after this long with no file pending, none taken and no change in the folder, s;
  /// 0: only stop_requested() stops the watch.
  double idle_stop_s = 0.0;
  /// Seconds between two listings of the folder; 0: min(0.25, settle_s / 4).
  double poll_s = 0.0;
  /// Polled between listings and after each triaged batch; true ends the watch (see above).
  std::function<bool()> stop_requested = {};
  /// Called on the watching thread with the frames of each batch of taken files, before they
  /// are triaged (for a live monitor's frames-in counter).
  std::function<void(const std::vector<FrameAddress>& frames)> on_frames = {};
  /// Called on the watching thread after each batch of taken files was triaged (every result
  /// handed to the sink): where a writer flushes its rows (TriageFolderWriter::flush), so that
  /// results.jsonl grows as files come, not only every batch_size rows.
  std::function<void()> after_batch = {};
};

/// @throws ConfigError naming the option (settle_s, idle_stop_s, poll_s) out of range, or the
/// folder when it does not exist or is not a folder.
void validate(const WatchOptions& options);

/// Tracks one folder's entries and says which frame files have settled (the rule at the top of
/// this header). Reads only the file system (stat, and a few probe bytes of a settled file
/// without a frame extension). Not thread-safe.
class FolderWatcher {
 public:
  using Clock = std::chrono::steady_clock;

  /// @throws ConfigError as validate(WatchOptions) for `folder` and `settle_s`.
  FolderWatcher(std::filesystem::path folder, double settle_s);

  /// What one listing found.
  struct Poll {
    /// Frame files that settled since the last poll and are taken now, sorted by path (an EIGER
    /// master before nothing of its own data files: those are never listed with it).
    std::vector<std::filesystem::path> taken;
    /// Entries accounted for without rows, with their reason (see the top of this header).
    std::vector<SkippedInput> skipped;
    /// True when anything changed: a new entry, a file that grew or changed, one that vanished.
    bool changed = false;
  };

  /// Lists the folder at time `now` (steady clock; tests may pass a synthetic time).
  /// @throws IoError naming the folder if it cannot be listed (e.g. removed).
  Poll poll(Clock::time_point now);

  /// The end of the watch (call it after a last poll()): EIGER data files held for a master that
  /// never came are taken on their own (in `taken`); files not settled at the last poll, and
  /// hidden files still there, go to `skipped`.
  Poll close();

  /// Files seen but not settled at the last poll (held EIGER data files that settled are not
  /// pending: they wait for their master).
  int64_t n_pending() const;
  /// Files taken so far.
  int64_t n_taken() const noexcept { return n_taken_; }

 private:
  struct Entry {
    uintmax_t size = 0;
    int64_t mtime_ns = 0;
    uintmax_t inode = 0;
    Clock::time_point stable_since;
    bool taken = false;         // triaged (or, for a non-frame entry, listed as skipped)
    Clock::time_point taken_at;
    bool reported = false;      // a later change or a hidden file already listed
    bool hidden = false;
  };
  std::filesystem::path folder_;
  std::chrono::duration<double> settle_;
  std::map<std::filesystem::path, Entry> entries_;
  Clock::time_point last_poll_{};
  int64_t n_taken_ = 0;
};

/// What run_watch_triage did. Plain value type.
struct WatchResult {
  /// Summed over the batches (n_frames, n_errors, n_batches, cpu_s, decode_s, infer_s); elapsed_s
  /// is the time spent triaging (the sum of the batches' wall times) and frames_per_s
  /// n_frames / elapsed_s: the rate while there was work, not diluted by waiting for files.
  TriageStats stats;
  /// Files taken (each gives one or more frames).
  int64_t n_files = 0;
  /// Entries seen and accounted for without rows (see the top of this header), in the order met.
  std::vector<SkippedInput> skipped;
  /// Wall time of the whole watch, s.
  double watch_s = 0.0;
  /// "stop_requested" or "idle".
  std::string stopped_by;
};

/// Watches `options.folder` and triages each settled file's frames with run_triage (the same
/// pipeline, decisions and rows as classify), handing every result to `sink` on the calling
/// thread, until stopped (see the top of this header).
/// @throws ConfigError for bad options (validate) or a null classifier; IoError if the folder
/// cannot be listed; whatever `sink` throws.
WatchResult run_watch_triage(const WatchOptions& options,
                             std::shared_ptr<const models::Classifier> classifier,
                             const TriageOptions& triage, const ResultSink& sink);

}  // namespace difftriage::stream
