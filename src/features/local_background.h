// Local background statistics of a frame (private to features): the mean and standard deviation
// of the unmasked pixels in a square window around each pixel, leaving out a smaller square
// around the pixel itself so that a spot does not inflate its own background (DIALS'
// dispersion statistics with peakfinder's annulus idea). O(pixels) with summed-area tables.
#pragma once

#include <cstdint>
#include <vector>

#include "difftriage/core/image.h"

namespace difftriage::features::detail {

/// Per-pixel background mean and standard deviation (row-major, slow × fast). Pixels that are
/// masked, within `border_px` of the edge, or whose window holds fewer than two unmasked pixels
/// have `valid` 0 and mean = sd = 0.
struct LocalBackground {
  std::vector<float> mean;
  std::vector<float> sd;
  std::vector<uint8_t> valid;
};

/// Window = (2·outer_radius_px + 1)² minus (2·inner_radius_px + 1)² around the pixel, clipped
/// to the frame. Requires 0 ≤ inner_radius_px < outer_radius_px (checked by the callers).
LocalBackground compute_local_background(const ImageView<float>& image, int outer_radius_px,
                                         int inner_radius_px, int64_t border_px);

}  // namespace difftriage::features::detail
