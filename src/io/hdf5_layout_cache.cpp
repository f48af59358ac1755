// HDF5 reader: the layout cache (hdf5_layout_cache.h). One FileInfo per file read by path,
// keyed by canonical path and stamped with modification time, size and the folder the path
// names; least recently used dropped first.
#include "hdf5_layout_cache.h"

#include <system_error>
#include <utility>

namespace difftriage::io::detail::hdf5 {

std::optional<FileInfoCache::Stamp> FileInfoCache::stamp(const fs::path& path) {
  std::error_code ec;
  Stamp s;
  s.key = fs::canonical(path, ec).string();
  if (ec) return std::nullopt;
  s.dir = fs::absolute(path, ec).parent_path().lexically_normal();
  if (ec) return std::nullopt;
  s.mtime = fs::last_write_time(s.key, ec);
  if (ec) return std::nullopt;
  s.size = fs::file_size(s.key, ec);
  if (ec) return std::nullopt;
  return s;
}

std::shared_ptr<FileInfo> FileInfoCache::find(const Stamp& s) {
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->stamp.key != s.key) continue;
    if (it->stamp.mtime != s.mtime || it->stamp.size != s.size || it->stamp.dir != s.dir) {
      entries_.erase(it);  // the file changed (or is named from elsewhere): describe again
      return nullptr;
    }
    entries_.splice(entries_.begin(), entries_, it);  // most recently used first
    return entries_.front().info;
  }
  return nullptr;
}

void FileInfoCache::insert(const Stamp& s, std::shared_ptr<FileInfo> info) {
  erase(s.key);
  entries_.push_front(Entry{s, std::move(info)});
  size_t mask_bytes = 0;
  size_t n = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    mask_bytes += it->info->pixel_mask.size();
    if (++n > kMaxEntries || (n > 1 && mask_bytes > kMaxMaskBytes)) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

void FileInfoCache::erase(const std::string& key) {
  entries_.remove_if([&](const Entry& e) { return e.stamp.key == key; });
}

FileInfoCache& file_info_cache() {
  static FileInfoCache cache;
  return cache;
}

}  // namespace difftriage::io::detail::hdf5
