// Watched folders: the settle rule (FolderWatcher) and the watch loop over run_triage.
#include "difftriage/stream/watch.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <system_error>
#include <thread>
#include <utility>

#include "difftriage/core/error.h"

namespace difftriage::stream {
namespace {
namespace fs = std::filesystem;

struct FileStamp {
  uintmax_t size = 0;
  int64_t mtime_ns = 0;
  uintmax_t inode = 0;
};

// stat() follows links (a link to a file settles with its target); a broken link falls back to
// the link itself.
FileStamp stamp_of(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 && ::lstat(path.c_str(), &st) != 0) return {};
  FileStamp s;
  s.size = static_cast<uintmax_t>(st.st_size);
  s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  s.inode = static_cast<uintmax_t>(st.st_ino);
  return s;
}

constexpr const char* kVanished = "removed or renamed before it settled (never read)";
constexpr const char* kUnsettled = "still changing when the watch stopped (never read)";
// How long a taken file is still checked for changes (a writer that paused longer than the
// settle time and went on): after that it is not stat()ed again.
constexpr std::chrono::seconds kRecheckTaken{60};
constexpr const char* kChangedAfter = "changed after it was taken (triaged as it was when taken)";

}  // namespace

void validate(const WatchOptions& o) {
  DT_CHECK(std::isfinite(o.settle_s) && o.settle_s > 0.0, ConfigError,
           "settle_s (--settle-s) must be > 0 s, got ", o.settle_s);
  DT_CHECK(std::isfinite(o.idle_stop_s) && o.idle_stop_s >= 0.0, ConfigError,
           "idle_stop_s (--watch-idle-s) must be >= 0 s, got ", o.idle_stop_s);
  DT_CHECK(std::isfinite(o.poll_s) && o.poll_s >= 0.0, ConfigError,
           "poll_s must be >= 0 s, got ", o.poll_s);
  std::error_code ec;
  DT_CHECK(fs::is_directory(o.folder, ec), ConfigError, "--watch ", o.folder.string(),
           ": not a folder", fs::exists(o.folder, ec) ? "" : " (it does not exist)");
}

FolderWatcher::FolderWatcher(fs::path folder, double settle_s)
    : folder_(std::move(folder)), settle_(settle_s) {
  WatchOptions o;
  o.folder = folder_;
  o.settle_s = settle_s;
  validate(o);
}

int64_t FolderWatcher::n_pending() const {
  const auto now = last_poll_;
  int64_t n = 0;
  for (const auto& [path, e] : entries_) {
    // A held EIGER data file that has settled waits for its master, not for itself.
    if (!e.taken && !e.hidden && now - e.stable_since < settle_) ++n;
  }
  return n;
}

FolderWatcher::Poll FolderWatcher::poll(Clock::time_point now) {
  Poll p;
  last_poll_ = now;
  std::vector<fs::path> present;
  std::error_code ec;
  for (fs::directory_iterator it(folder_, ec), end; !ec && it != end; it.increment(ec)) {
    present.push_back(it->path());
  }
  DT_CHECK(!ec, IoError, folder_.string(), ": cannot list the watched folder: ", ec.message());
  std::sort(present.begin(), present.end());

  // Entries gone since the last listing.
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (std::binary_search(present.begin(), present.end(), it->first)) {
      ++it;
      continue;
    }
    if (it->second.taken) {  // stays: a file is taken once per path
      ++it;
      continue;
    }
    p.changed = true;
    if (!it->second.hidden) p.skipped.push_back({it->first, kVanished});
    it = entries_.erase(it);
  }

  std::vector<fs::path> settled;
  for (const fs::path& path : present) {
    auto [it, inserted] = entries_.try_emplace(path);
    Entry& e = it->second;
    // A long run's folder holds many files long taken: they are not stat()ed again, so a
    // listing costs a stat per recent file only.
    if (e.taken && now - e.taken_at > kRecheckTaken) continue;
    const FileStamp s = stamp_of(path);
    const bool same = !inserted && e.size == s.size && e.mtime_ns == s.mtime_ns &&
                      e.inode == s.inode;
    if (!same) {
      p.changed = true;
      if (e.taken && !e.reported) {
        p.skipped.push_back({path, kChangedAfter});
        e.reported = true;
      }
      e.size = s.size;
      e.mtime_ns = s.mtime_ns;
      e.inode = s.inode;
      e.stable_since = now;
      if (inserted) {
        const std::string name = path.filename().string();
        e.hidden = !name.empty() && name[0] == '.';
      }
      continue;
    }
    if (e.taken || e.hidden || now - e.stable_since < settle_) continue;
    settled.push_back(path);
  }

  auto settled_now = [&](const fs::path& path) {
    const auto it = entries_.find(path);
    return it != entries_.end() && now - it->second.stable_since >= settle_;
  };
  for (const fs::path& path : settled) {
    Entry& e = entries_[path];
    std::string reason = non_frame_reason(path);
    if (!reason.empty()) {
      p.skipped.push_back({path, std::move(reason)});
      e.taken = e.reported = true;
      e.taken_at = now;  // accounted for; later changes of a folder are not news
      continue;
    }
    const std::string name = path.filename().string();
    const std::string data_prefix = eiger_data_prefix(name);
    if (!data_prefix.empty()) {
      // Held while its master may come; taken on its own when its master was taken before it
      // appeared (its frames were not among the master's then).
      const auto master = entries_.find(path.parent_path() / (data_prefix + "_master.h5"));
      if (master == entries_.end() || !master->second.taken) continue;
    }
    const std::string master_prefix = eiger_master_prefix(name);
    if (!master_prefix.empty()) {
      // Taken once every data file of the series present has settled too.
      bool ready = true;
      std::vector<fs::path> data_files;
      for (const auto& [other, oe] : entries_) {
        if (oe.taken || eiger_data_prefix(other.filename().string()) != master_prefix) continue;
        data_files.push_back(other);
        ready = ready && settled_now(other);
      }
      if (!ready) continue;
      for (const auto& d : data_files) {  // the master holds their frames
        entries_[d].taken = true;
        entries_[d].taken_at = now;
      }
    }
    e.taken = true;
    e.taken_at = now;
    p.taken.push_back(path);
    ++n_taken_;
  }
  return p;
}

FolderWatcher::Poll FolderWatcher::close() {
  Poll p;
  const auto now = last_poll_;
  for (auto& [path, e] : entries_) {
    if (e.taken) continue;
    e.taken = true;
    if (e.hidden) {
      p.skipped.push_back({path, "a hidden file"});
    } else if (now - e.stable_since >= settle_ &&
               !eiger_data_prefix(path.filename().string()).empty()) {
      p.taken.push_back(path);  // a data file whose master never came
      ++n_taken_;
    } else {
      p.skipped.push_back({path, kUnsettled});
    }
  }
  return p;
}

WatchResult run_watch_triage(const WatchOptions& options,
                             std::shared_ptr<const models::Classifier> classifier,
                             const TriageOptions& triage, const ResultSink& sink) {
  validate(options);
  DT_CHECK(classifier != nullptr, ConfigError, "run_watch_triage: no classifier");
  using Clock = FolderWatcher::Clock;
  const auto start = Clock::now();
  const auto seconds_since = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  const double poll_s = options.poll_s > 0.0 ? options.poll_s
                                             : std::min(0.25, options.settle_s / 4.0);
  FolderWatcher watcher(options.folder, options.settle_s);
  WatchResult result;
  int64_t n_frames_before = 0;
  auto triage_files = [&](const std::vector<fs::path>& files) {
    if (files.empty()) return;
    std::vector<FrameAddress> frames;
    for (const auto& f : files) {
      auto more = expand_file(f);
      frames.insert(frames.end(), more.begin(), more.end());
    }
    result.n_files += static_cast<int64_t>(files.size());
    if (options.on_frames) options.on_frames(frames);
    const int64_t offset = n_frames_before;
    const TriageStats s =
        run_triage(frames, classifier, triage, [&](const FrameResult& r) {
          FrameResult global = r;  // index over the whole watch, not within this batch
          global.index += offset;
          sink(global);
        });
    n_frames_before += s.n_frames;
    TriageStats& t = result.stats;
    t.n_frames += s.n_frames;
    t.n_errors += s.n_errors;
    t.n_batches += s.n_batches;
    t.elapsed_s += s.elapsed_s;
    t.cpu_s += s.cpu_s;
    t.decode_s += s.decode_s;
    t.infer_s += s.infer_s;
    if (options.after_batch) options.after_batch();
  };
  auto take = [&](FolderWatcher::Poll p) {
    result.skipped.insert(result.skipped.end(), p.skipped.begin(), p.skipped.end());
    triage_files(p.taken);
  };

  auto last_activity = Clock::now();
  for (;;) {
    FolderWatcher::Poll p = watcher.poll(Clock::now());
    const bool active = p.changed || !p.taken.empty();
    take(std::move(p));
    if (active) last_activity = Clock::now();  // after the triage: waiting starts now
    if (options.stop_requested && options.stop_requested()) {
      result.stopped_by = "stop_requested";
      break;
    }
    if (options.idle_stop_s > 0.0 && watcher.n_pending() == 0 &&
        seconds_since(last_activity) >= options.idle_stop_s) {
      result.stopped_by = "idle";
      break;
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(poll_s));
  }
  // Drain: what has settled by now is taken, then the held and the unsettled are accounted for.
  take(watcher.poll(Clock::now()));
  take(watcher.close());
  TriageStats& t = result.stats;
  t.frames_per_s = t.elapsed_s > 0.0 ? static_cast<double>(t.n_frames) / t.elapsed_s : 0.0;
  result.watch_s = seconds_since(start);
  return result;
}

}  // namespace difftriage::stream
