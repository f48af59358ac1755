/// Private to the HDF5 reader (hdf5_*.cpp): the NeXus / EIGER layout. A master's data links
/// (/entry/data/data_NNNNNN), the NXmx detector and beam metadata, and the static pixel mask.
/// Never throws (what is absent or unreadable is left out). Call under hdf5_mutex().
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

#include "difftriage/core/image.h"

namespace difftriage::io::detail::hdf5 {

/// The names /entry/data/data_NNNNNN in /entry/data, sorted (they are zero-padded).
std::vector<std::string> master_data_links(hid_t file);

/// Fills `md` from /entry/instrument/detector and /entry/instrument/beam (beam centre, distance,
/// pixel size, exposure, saturation, wavelength, description); units converted.
void read_nexus_metadata(hid_t file, DetectorMetadata* md);

/// The NeXus pixel mask (non-zero = masked) when it has the frame's shape, else empty.
std::vector<uint8_t> read_pixel_mask(hid_t file, int64_t n_slow, int64_t n_fast);

}  // namespace difftriage::io::detail::hdf5
