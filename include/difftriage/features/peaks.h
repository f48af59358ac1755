/// Bragg peaks at full resolution: every local maximum that stands out of its local background,
/// as its own peak. Unlike find_spots (spots.h), which joins touching strong pixels into one
/// spot, neighbouring reflections of a large cell (2–3 pixels apart on a 512² frame) stay
/// separate here, so their spacings can be measured (features/lattice.h).
///
///   auto peaks = difftriage::features::find_peaks(difftriage::to_float(frame).view());
///   for (const auto& p : peaks) use(p.fast_px, p.slow_px, p.snr);
#pragma once

#include <cstdint>
#include <vector>

#include "difftriage/core/image.h"

namespace difftriage::features {

/// Thresholds of the peak finder. The defaults suit 8-bit study frames and photon counts.
struct PeakFinderOptions {
  /// Half-width of the square background window ((2r + 1)² pixels).
  int background_radius_px = 5;
  /// Half-width of the square around the pixel left out of its background window.
  int peak_radius_px = 1;
  /// A local maximum is a peak if value − local mean > n_sigma · local standard deviation ...
  double n_sigma = 4.0;
  /// ... and value − local mean ≥ min_excess (in the frame's units).
  double min_excess = 3.0;
  /// Pixels closer than this to the frame edge are never peaks.
  int border_px = 3;
  /// At most this many peaks are returned: the highest-SNR ones (≥ 1).
  int64_t max_peaks = 3000;
};

/// One peak: the centroid of the background-subtracted 3 × 3 pixels around a local maximum.
/// Plain value type.
struct Peak {
  double fast_px = 0;  ///< centroid, pixel-edge coordinates (pixel f spans [f, f + 1))
  double slow_px = 0;
  double height = 0;   ///< maximum − local mean, the frame's units
  double snr = 0;      ///< height / local standard deviation (sd floored at 0.5)
};

/// Finds peaks: unmasked pixels at least as high as their 8 neighbours (a plateau gives one peak,
/// its first pixel in row-major order) that pass the thresholds. Sorted by SNR, highest first;
/// ties in row-major order. Pure, thread-safe, O(pixels).
/// @throws ConfigError for radii with peak_radius_px ≥ background_radius_px, a negative radius,
/// or max_peaks < 1 (naming the option).
std::vector<Peak> find_peaks(const ImageView<float>& image, const PeakFinderOptions& options = {});

}  // namespace difftriage::features
