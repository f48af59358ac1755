/// Private to the HDF5 reader (hdf5_*.cpp): which layout a file has and what it holds. A
/// FileInfo describes a file once (layout, each master data link's resolved file and frame
/// count, metadata, pixel mask); frames are then read or counted through it. The layouts
/// themselves are in hdf5_nexus_layout.h and hdf5_cxi_layout.h. Call under hdf5_mutex().
#pragma once

#include <hdf5.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "difftriage/core/image.h"
#include "hdf5_filters.h"
#include "hdf5_links.h"
#include "hdf5_support.h"

namespace difftriage::io::detail::hdf5 {

/// The layouts, tried in this order (see hdf5_layout.cpp).
enum class Layout { kEigerMaster, kNexusStack, kCxi };

/// Everything read from the file under the HDF5 mutex.
struct FrameRead {
  RawFrame raw;
  bool eiger = false;
  DetectorMetadata metadata;
  std::vector<uint8_t> pixel_mask;
};

/// Which layout the file has, and where its frames are.
struct FileLayout {
  Layout layout = Layout::kNexusStack;
  std::vector<std::string> links;  // kEigerMaster: /entry/data/data_NNNNNN, sorted
  std::string stack_path;          // kNexusStack, kCxi: the stack dataset
};

/// The layout of `file`. @throws FormatError naming `name` when no known image dataset exists.
FileLayout find_layout(hid_t file, const std::string& name);

/// One /entry/data/data_NNNNNN link of a master.
struct DataPart {
  std::string link;
  LinkTarget target;
  fs::path file;           // external: the resolved data file, empty until resolved
  int64_t n_frames = -1;   // -1: not resolved yet (the data file was missing)
  int64_t n_slow = 0, n_fast = 0;
};

/// What a file holds, read once per file (and cached for files read by path, see
/// hdf5_layout_cache.h). A data file still missing when the master is described (a series still
/// being written) is re-resolved whenever a frame at or beyond it is asked for.
struct FileInfo {
  FileLayout layout;
  std::vector<DataPart> parts;  // kEigerMaster
  DetectorMetadata metadata;
  bool eiger = false;
  bool mask_read = false;         // pixel_mask looked for at mask_slow x mask_fast
  int64_t mask_slow = 0, mask_fast = 0;
  std::vector<uint8_t> pixel_mask;  // empty: none of that shape
  std::string cxi_detector;         // kCxi: the detector group of the data link
};

/// Opens the data file of an external part and checks its stack; fills n_frames and the shape.
OpenDataset open_part(DataPart& part, const std::string& name, const fs::path* dir);

/// Describes an open file: layout, metadata, the master's parts (resolved where their data file
/// exists) and the pixel mask for the first resolved frame shape.
std::shared_ptr<FileInfo> describe_file(hid_t file, const std::string& name, const fs::path* dir);

/// The file at a path, opened on first use (a described master need not be opened to read a
/// frame from one of its data files); or a file opened by the caller (`open_file` >= 0).
class LazyFile {
 public:
  LazyFile(const std::string& name, hid_t open_file) : name_(name), given_(open_file) {}
  /// The open file. @throws FormatError when it cannot be opened (or its check in a child
  /// failed, hdf5_isolation.h).
  hid_t get();

 private:
  std::string name_;
  hid_t given_;
  Hid owned_;
};

/// Thrown (internally) when a cached description no longer matches a data file: the caller
/// describes the file afresh.
struct StaleInfo {};

/// Reads frame `frame` using `info` (which it may complete: parts resolved, mask read).
/// `cached`: `info` came from the cache (then a data file that changed throws StaleInfo).
FrameRead read_described(FileInfo& info, LazyFile& file, const std::string& name,
                         const fs::path* dir, int64_t frame, bool cached);

/// Frames addressable as `//N`: the sum over a master's data files (each resolved: a missing one
/// is an error), or the stack's length.
int64_t count_described(FileInfo& info, LazyFile& file, const std::string& name,
                        const fs::path* dir);

/// Opens `bytes` as an in-memory HDF5 file image (core driver, no backing store; HDF5 copies the
/// bytes). @throws FormatError naming `name`.
Hid open_file_image(const uint8_t* bytes, size_t n_bytes, const std::string& name);

}  // namespace difftriage::io::detail::hdf5
