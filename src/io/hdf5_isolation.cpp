// HDF5 reader: fork-based isolation and its global state (hdf5_isolation.h).
//
// libhdf5 parses metadata itself and 1.10.8 can crash on damaged metadata. Before a file is
// opened here, a forked child (child_process.h) walks what any read of it would make libhdf5
// parse: superblock, links, layout, metadata, the chunk index of every frame stack and the raw
// bytes of the first and last frame of each. Only if the child comes back (with a result or an
// ordinary error) is the file opened in this process. The fork happens under the HDF5 mutex, so
// the child's copy of libhdf5's state is consistent.
#include "hdf5_isolation.h"

#include <hdf5.h>

#include <cmath>
#include <functional>
#include <list>
#include <optional>
#include <set>
#include <system_error>
#include <vector>

#include "child_process.h"
#include "difftriage/core/error.h"
#include "format_registry.h"
#include "hdf5_filters.h"
#include "hdf5_layout.h"
#include "hdf5_links.h"
#include "hdf5_support.h"

namespace difftriage::io::detail::hdf5 {

using ::difftriage::detail::concat;

namespace {

// This thread's read settings, set by IsolationScope at every entry point (under hdf5_mutex()).
thread_local Isolation t_isolation;
// True only in a checking child (one thread, a private copy of memory): it parses everything
// itself instead of forking again.
bool g_in_checking_child = false;
// In a checking child: the identities (file_identity) of the data files its walk opened. A data
// file counts as walked only once the whole walk returns (see walk_file).
std::vector<std::string> g_walked_in_child;

// Files whose check passed, as "canonical path|object|mtime|size"; at most kMaxEntries, the
// oldest forgotten first. Only used under hdf5_mutex().
class CheckedFiles {
 public:
  static constexpr size_t kMaxEntries = 4096;
  bool contains(const std::string& id) const { return ids_.count(id) > 0; }
  void insert(const std::string& id) {
    if (!ids_.insert(id).second) return;
    order_.push_back(id);
    if (order_.size() > kMaxEntries) {
      ids_.erase(order_.front());
      order_.pop_front();
    }
  }
  void clear() noexcept {
    ids_.clear();
    order_.clear();
  }

 private:
  std::set<std::string> ids_;
  std::list<std::string> order_;
};

CheckedFiles& checked_files() {
  static CheckedFiles files;
  return files;
}

// "canonical|object|mtime|size", or nullopt when the file cannot be stat'ed (checked every time).
std::optional<std::string> file_identity(const fs::path& file, const std::string& object) {
  std::error_code ec;
  const fs::path canonical = fs::canonical(file, ec);
  if (ec) return std::nullopt;
  const auto mtime = fs::last_write_time(canonical, ec);
  if (ec) return std::nullopt;
  const std::uintmax_t size = fs::file_size(canonical, ec);
  if (ec) return std::nullopt;
  return concat(canonical.string(), "|", object, "|", mtime.time_since_epoch().count(), "|", size);
}

// Child side. Every chunk of a frame stack is looked up in its index (what a read of any frame
// does first), without reading the chunk.
void walk_chunk_index(hid_t dataset, const std::string& name, const std::string& label) {
  Hid dcpl(H5Dget_create_plist(dataset), H5Pclose);
  if (H5Pget_layout(dcpl.get()) != H5D_CHUNKED) return;
  hsize_t n_chunks = 0;
  if (H5Dget_num_chunks(dataset, H5S_ALL, &n_chunks) < 0) {
    throw_format_error(name, "dataset ", label, ": cannot list its chunks: ", hdf5_reason());
  }
  for (hsize_t i = 0; i < n_chunks; ++i) {
    hsize_t offset[H5S_MAX_RANK] = {};
    unsigned filter_mask = 0;
    haddr_t address = 0;
    hsize_t size = 0;
    if (H5Dget_chunk_info(dataset, H5S_ALL, i, offset, &filter_mask, &address, &size) < 0) {
      throw_format_error(name, "dataset ", label, ": chunk ", i, " of ", n_chunks,
                         " cannot be located: ", hdf5_reason());
    }
  }
}

// Child side: a described file's frame counts, the chunk index of each stack, and the first
// and last frame of each stack as a read would fetch them (raw bytes, masks; not decoded).
void walk_described(FileInfo& info, LazyFile& file, const std::string& name, const fs::path* dir) {
  const int64_t n_frames = count_described(info, file, name, dir);
  std::vector<int64_t> frames;
  if (info.layout.layout == Layout::kEigerMaster) {
    int64_t first = 0;
    for (DataPart& part : info.parts) {
      OpenDataset data = part.target.external ? open_part(part, name, dir)
                                              : open_internal(file.get(), name, part.link);
      walk_chunk_index(data.dataset.get(), name, data.label);
      if (part.n_frames > 0) {
        frames.push_back(first);
        frames.push_back(first + part.n_frames - 1);
      }
      first += part.n_frames;
    }
  } else {
    OpenDataset data = open_dataset(file.get(), name, info.layout.stack_path, dir);
    walk_chunk_index(data.dataset.get(), name, data.label);
    if (n_frames > 0) frames = {0, n_frames - 1};
  }
  for (const int64_t frame : frames) read_described(info, file, name, dir, frame, false);
}

// Returns the identities of the data files walked on the way, one per line.
std::string walk_file(const fs::path& path) {
  const std::string name = path.string();
  fs::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  LazyFile file(name, -1);
  std::shared_ptr<FileInfo> info = describe_file(file.get(), name, &dir);
  walk_described(*info, file, name, &dir);
  std::string walked;
  for (const std::string& id : g_walked_in_child) walked += id + "\n";
  return walked;
}

std::string walk_external(const fs::path& data_file, const std::string& object) {
  const std::string name = data_file.string();
  Hid file(H5Fopen(name.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.valid()) throw_format_error(name, "cannot open as HDF5: ", hdf5_reason());
  OpenDataset data = open_internal(file.get(), name, object);
  const Stack stack = stack_shape(data.dataset.get(), name, data.label);
  walk_chunk_index(data.dataset.get(), name, data.label);
  for (const int64_t frame : {int64_t{0}, stack.n_frames - 1}) {
    if (frame >= 0) {
      read_frame_bytes(data.dataset.get(), concat(name, ": dataset ", object, ", frame ", frame),
                       stack, frame);
    }
  }
  return {};
}

std::string walk_image(const uint8_t* bytes, size_t n_bytes, const std::string& name) {
  Hid file = open_file_image(bytes, n_bytes, name);
  std::shared_ptr<FileInfo> info = describe_file(file.get(), name, nullptr);
  LazyFile lazy(name, file.get());
  walk_described(*info, lazy, name, nullptr);
  return {};
}

// Parent side: runs `walk` in a child; returns what the walk returned (empty when it threw),
// throws when the child did not come back.
std::string run_check(const std::function<std::string()>& walk, const std::string& who) {
  const ChildOutcome outcome = run_in_child(
      [&] {
        g_in_checking_child = true;
        return walk();
      },
      t_isolation.timeout_s);
  switch (outcome.kind) {
    case ChildOutcome::Kind::kReturned:
      return outcome.text;
    case ChildOutcome::Kind::kThrew:
      return {};  // parsing here repeats the child's steps: the same error
    case ChildOutcome::Kind::kCrashed:
      throw FormatError(concat(who, ": damaged HDF5 metadata: libhdf5 crashed (", outcome.text,
                               ") parsing this file in a separate checking process, so it is "
                               "not read"));
    case ChildOutcome::Kind::kTimedOut:
      throw FormatError(concat(who,
                               ": parsing this HDF5 file in a separate checking process did "
                               "not finish within ",
                               t_isolation.timeout_s,
                               " s (damaged metadata can make libhdf5 loop), so it is not read"));
    case ChildOutcome::Kind::kNoChild:
      break;
  }
  throw IoError(concat(who,
                       ": cannot start the process that checks this HDF5 file before it "
                       "is read (",
                       outcome.text, ")"));
}

}  // namespace

IsolationScope::IsolationScope(const ReadOptions& options) : saved_(t_isolation) {
  DT_CHECK(options.isolate_timeout_s > 0.0 && std::isfinite(options.isolate_timeout_s),
           ConfigError, "ReadOptions::isolate_timeout_s must be finite and > 0, got ",
           options.isolate_timeout_s);
  t_isolation = {options.isolate_hdf5, options.isolate_timeout_s};
}

IsolationScope::~IsolationScope() { t_isolation = saved_; }

void check_bytes_in_child_first(const uint8_t* bytes, size_t n_bytes, const std::string& name) {
  if (!t_isolation.enabled || g_in_checking_child) return;
  run_check([&] { return walk_image(bytes, n_bytes, name); }, name);
}

void check_in_child_first(const fs::path& file, const std::string& object, const std::string& who) {
  if (!t_isolation.enabled || g_in_checking_child) return;
  const std::optional<std::string> id = file_identity(file, object);
  if (id && checked_files().contains(*id)) return;
  const std::string walked = run_check(
      [&] { return object.empty() ? walk_file(file) : walk_external(file, object); }, who);
  if (id) checked_files().insert(*id);
  // The data files a master's walk went through passed with it.
  for (size_t begin = 0, end = 0; begin < walked.size(); begin = end + 1) {
    end = walked.find('\n', begin);
    if (end == std::string::npos) end = walked.size();
    if (end > begin) checked_files().insert(walked.substr(begin, end - begin));
  }
}

void note_walked_in_child(const fs::path& file, const std::string& object) {
  if (!g_in_checking_child) return;
  if (const std::optional<std::string> id = file_identity(file, object)) {
    g_walked_in_child.push_back(*id);
  }
}

void clear_checked_files() noexcept { checked_files().clear(); }

}  // namespace difftriage::io::detail::hdf5
