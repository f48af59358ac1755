// HDF5 frames: EIGER / NeXus (NXmx) master and data files, and CXI files (libhdf5, C API).
// This file holds the reader's entry points (format_registry.h); the work is split by concern,
// the way dxtbx's FormatNXmx hands layout parsing to its own module:
//   hdf5_support.h       RAII handles, quiet errors, the HDF5 mutex (shared with cxi_writer.cpp)
//   hdf5_attributes.*    strings, numbers with units, lengths in mm
//   hdf5_links.*         link checks, external links resolved next to the master, datasets
//   hdf5_filters.*       one frame's bytes, chunk filters (bitshuffle/LZ4), conversion
//   hdf5_nexus_layout.*  EIGER/NeXus master and data files: data links, NXmx metadata, mask
//   hdf5_cxi_layout.*    CXI files: detector metadata, per-frame mask
//   hdf5_layout.*        which layout a file has, its description (FileInfo), frame reads
//   hdf5_layout_cache.*  descriptions kept per file read by path
//   hdf5_isolation.*     the forked checking child and its global state
//
// Locking. The HDF5 C library keeps process-wide state (the error-stack printing switch, and in
// builds without --enable-threadsafe no locking at all), so every HDF5 call here runs under one
// mutex; the CPU-heavy part, decompressing a chunk, runs after the mutex is released.
#include <hdf5.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "format_registry.h"
#include "hdf5_filters.h"
#include "hdf5_isolation.h"
#include "hdf5_layout.h"
#include "hdf5_layout_cache.h"
#include "hdf5_support.h"

namespace difftriage::io::detail {

std::mutex& hdf5_mutex() {
  static std::mutex mutex;
  return mutex;
}

namespace {

namespace fs = std::filesystem;
using hdf5::FileInfo;
using hdf5::FrameRead;
using hdf5::IsolationScope;
using hdf5::LazyFile;

AnyImage finish(FrameRead read) {
  std::vector<uint8_t> mask = std::move(read.pixel_mask);
  AnyImage image = hdf5::decode_image(read.raw, read.eiger, &mask);
  std::visit(
      [&](auto& img) {
        img.metadata() = std::move(read.metadata);
        if (!mask.empty()) img.set_mask(std::move(mask));
      },
      image);
  return image;
}

}  // namespace

int probe_hdf5(const uint8_t* head, size_t n_bytes) noexcept {
  // The superblock signature sits at 0 or, after a user block, at 512, 1024, 2048, ...
  static const uint8_t kSignature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  for (size_t offset = 0; offset + 8 <= n_bytes; offset = offset == 0 ? 512 : offset * 2) {
    if (std::memcmp(head + offset, kSignature, 8) == 0) return kProbeStrong;
  }
  return kProbeNo;
}

AnyImage read_hdf5(const fs::path& path, const ReadOptions& options) {
  const std::string name = path.string();
  if (options.frame < 0) throw_format_error(name, "frame ", options.frame, " out of range");
  FrameRead read;
  {
    std::lock_guard<std::mutex> lock(hdf5_mutex());
    QuietErrors quiet;
    IsolationScope isolation(options);
    read = hdf5::with_described_file(
        path, options.cache_file_layout,
        [&](FileInfo& info, LazyFile& file, const fs::path* dir, bool cached) {
          return hdf5::read_described(info, file, name, dir, options.frame, cached);
        });
  }
  return finish(std::move(read));
}

namespace {
// Runs `use(info, file)` on an in-memory HDF5 file under the library lock, after the isolation
// check of `options`: what decode_hdf5 and count_hdf5 share.
template <typename Use>
auto with_described_bytes(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                          const ReadOptions& options, Use&& use) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  QuietErrors quiet;
  IsolationScope isolation(options);
  hdf5::check_bytes_in_child_first(bytes, n_bytes, name);
  Hid file = hdf5::open_file_image(bytes, n_bytes, name);
  std::shared_ptr<FileInfo> info = hdf5::describe_file(file.get(), name, nullptr);
  LazyFile lazy(name, file.get());
  return use(*info, lazy);
}
}  // namespace

AnyImage decode_hdf5(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                     const ReadOptions& options) {
  if (options.frame < 0) throw_format_error(name, "frame ", options.frame, " out of range");
  FrameRead read = with_described_bytes(bytes, n_bytes, name, options,
                                        [&](FileInfo& info, LazyFile& lazy) {
                                          return hdf5::read_described(info, lazy, name, nullptr,
                                                                      options.frame, false);
                                        });
  return finish(std::move(read));
}

int64_t count_hdf5_path(const fs::path& path, const ReadOptions& options) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  QuietErrors quiet;
  IsolationScope isolation(options);
  const std::string name = path.string();
  return hdf5::with_described_file(
      path, options.cache_file_layout,
      [&](FileInfo& info, LazyFile& file, const fs::path* dir, bool /*cached*/) {
        return hdf5::count_described(info, file, name, dir);
      });
}

int64_t count_hdf5(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                   const ReadOptions& options) {
  return with_described_bytes(bytes, n_bytes, name, options, [&](FileInfo& info, LazyFile& lazy) {
    return hdf5::count_described(info, lazy, name, nullptr);
  });
}

void clear_hdf5_cache() noexcept {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  hdf5::file_info_cache().clear();
  hdf5::clear_checked_files();
}

}  // namespace difftriage::io::detail
