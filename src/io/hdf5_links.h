/// Private to the HDF5 reader (hdf5_*.cpp): where a frame lives. Link checks, the target of a
/// link (a dataset in this file or an external link), the data file an external link names
/// (resolved next to the master), opening the dataset behind a link, and the shape of a frame
/// stack. Call everything under hdf5_mutex().
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "hdf5_support.h"

namespace difftriage::io::detail::hdf5 {

namespace fs = std::filesystem;

/// True when every component of the absolute `path` exists as a link (H5Lexists needs the
/// parents).
bool link_exists(hid_t loc, const std::string& path);

/// True when `path` is a group of this file (not behind an external link).
bool is_group(hid_t loc, const std::string& path);

/// An open dataset, with the data file that holds it when reached through an external link.
struct OpenDataset {
  Hid file;        // the data file when the dataset was reached through an external link
  Hid dataset;
  std::string label;  // "/entry/data/data_000001 (-> x_data_000001.h5:/entry/data/data)"
};

/// What the link at `path` points to: a dataset in this file, or an external link's target.
struct LinkTarget {
  bool external = false;
  std::string file;    // external: the file name as written in the link
  std::string object;  // external: the object in that file; else `path` itself
};

/// Reads the link at `path` of `file` (named `name` in errors). @throws FormatError when the
/// link is missing or an unreadable external link.
LinkTarget read_link(hid_t file, const std::string& name, const std::string& path);

/// The data file an external link names, resolved next to the master in `dir` (EIGER writes the
/// bare data-file name; an absolute name that is gone is also looked for there, as HDF5 does).
/// Null `dir` (an in-memory image) or a missing file: FormatError naming the master and the link.
fs::path resolve_external(const std::string& name, const std::string& path,
                          const LinkTarget& target, const fs::path* dir);

/// Opens `object` in the data file `data_file` (reached from link `path` of `name`), checking
/// the data file in a child first when isolation is on (hdf5_isolation.h).
OpenDataset open_external(const std::string& name, const std::string& path,
                          const fs::path& data_file, const std::string& object);

/// Opens the dataset at link `path` of `file` (no external link followed).
OpenDataset open_internal(hid_t file, const std::string& name, const std::string& path);

/// Opens the dataset at link `path`, following an external link relative to `dir` (null for an
/// in-memory image, where external links cannot be followed).
OpenDataset open_dataset(hid_t file, const std::string& name, const std::string& path,
                         const fs::path* dir);

/// Shape of a frame stack: rank 2 is one frame, rank 3 is (frames, slow, fast).
struct Stack {
  int rank = 0;
  int64_t n_frames = 0, n_slow = 0, n_fast = 0;
};

/// The shape of `dataset` (`label` in errors). @throws FormatError for another rank or extents
/// beyond the image limits.
Stack stack_shape(hid_t dataset, const std::string& name, const std::string& label);

}  // namespace difftriage::io::detail::hdf5
