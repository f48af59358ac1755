/// Private to the HDF5 reader (hdf5_*.cpp): the CXI layout. Metadata of the detector group the
/// data link points to (and what difftriage's CXI writer stores beside it), and the per-frame
/// CXI mask. Never throws. Call under hdf5_mutex().
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

#include "difftriage/core/image.h"

namespace difftriage::io::detail::hdf5 {

/// Reads CXI metadata into `md`; returns the detector group the data link points to.
std::string read_cxi_metadata(hid_t file, DetectorMetadata* md);

/// The CXI detector mask for frame `frame` of a (n_frames, n_slow, n_fast) stack:
/// <detector>/mask of shape (n_frames, slow, fast) or (slow, fast), 1 where a pixel is unusable;
/// empty when absent, of another shape, unreadable, or without an unusable pixel.
std::vector<uint8_t> read_cxi_mask(hid_t file, const std::string& detector, int64_t frame,
                                   int64_t n_frames, int64_t n_slow, int64_t n_fast);

}  // namespace difftriage::io::detail::hdf5
