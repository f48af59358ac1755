/// Private to the HDF5 reader (hdf5_*.cpp): the layout cache. Files read by path keep their
/// description (FileInfo, hdf5_layout.h) between reads while the file's modification time and
/// size are unchanged, so that frame k of an EIGER master does not re-read the master, its data
/// links and its pixel mask. Only used under hdf5_mutex() (no lock of its own).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <list>
#include <memory>
#include <optional>
#include <string>

#include "hdf5_layout.h"

namespace difftriage::io::detail::hdf5 {

/// The per-file cache: canonical path -> FileInfo, valid while the file's modification time and
/// size are unchanged. At most kMaxEntries files (least recently used dropped first), and masks
/// of at most kMaxMaskBytes in all. Only used under hdf5_mutex() (no lock of its own).
class FileInfoCache {
 public:
  static constexpr size_t kMaxEntries = 8;
  static constexpr size_t kMaxMaskBytes = size_t{256} << 20;

  struct Stamp {
    std::string key;  // canonical path
    fs::path dir;     // absolute folder of the path as given (data files resolve there)
    fs::file_time_type mtime;
    std::uintmax_t size = 0;
  };

  /// The stamp of `path`, or nullopt when it cannot be taken (then nothing is cached).
  static std::optional<Stamp> stamp(const fs::path& path);

  /// The description stamped `s`, or null (a changed file's entry is dropped).
  std::shared_ptr<FileInfo> find(const Stamp& s);
  /// Remembers `info` under `s` (most recently used), dropping the oldest beyond the limits.
  void insert(const Stamp& s, std::shared_ptr<FileInfo> info);
  void erase(const std::string& key);
  void clear() noexcept { entries_.clear(); }

 private:
  struct Entry {
    Stamp stamp;
    std::shared_ptr<FileInfo> info;
  };
  std::list<Entry> entries_;
};

/// The process's one cache.
FileInfoCache& file_info_cache();

/// Runs `use(info, file, dir, cached)` on the description of the file at `path`, from the cache
/// when allowed and valid. Call under hdf5_mutex().
template <typename Use>
auto with_described_file(const fs::path& path, bool use_cache, Use use) {
  const std::string name = path.string();
  fs::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  std::optional<FileInfoCache::Stamp> stamp;
  if (use_cache) stamp = FileInfoCache::stamp(path);
  // A cached description outlives the call: resolve data files in the absolute folder the path
  // names (not the symlink target: HDF5 and the detector resolve next to the master as named),
  // so that a later call from another working directory still finds them.
  if (stamp) dir = stamp->dir;
  if (stamp) {
    if (std::shared_ptr<FileInfo> info = file_info_cache().find(*stamp)) {
      try {
        LazyFile file(name, -1);
        return use(*info, file, &dir, true);
      } catch (const StaleInfo&) {
        file_info_cache().erase(stamp->key);
      }
    }
  }
  LazyFile file(name, -1);
  std::shared_ptr<FileInfo> info = describe_file(file.get(), name, &dir);
  if (stamp) file_info_cache().insert(*stamp, info);
  return use(*info, file, &dir, false);
}

}  // namespace difftriage::io::detail::hdf5
