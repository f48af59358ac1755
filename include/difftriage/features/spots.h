/// Classical spot finding: the dispersion idea of DIALS and the local-maximum + SNR idea of
/// peakfinder8, used as a hit-finding baseline and for dataset statistics.
///
///   auto spots = difftriage::features::find_spots(difftriage::to_float(frame).view());
///   bool hit = spots.size() >= 10;
#pragma once

#include <cstdint>
#include <vector>

#include "difftriage/core/image.h"

namespace difftriage::features {

/// Thresholds of the spot finder. Defaults suit both 8-bit study frames and photon counts.
struct SpotFinderOptions {
  /// Half-width of the square background window (window = 2 * r + 1 pixels wide). The window
  /// must be several times a spot's width so the spot barely moves the local statistics.
  int background_radius_px = 6;
  /// Half-width of the square around the pixel left out of the background window, so that a
  /// spot of a few pixels does not inflate its own background (peakfinder's annulus idea).
  int peak_radius_px = 2;
  /// A pixel is strong if value > local mean + n_sigma · local standard deviation ...
  double n_sigma = 5.0;
  /// ... and value − local mean ≥ min_excess (guards against flat, noise-free backgrounds).
  double min_excess = 8.0;
  /// Connected strong pixels (8-neighbourhood) form a spot if there are at least this many and
  /// at most max_pixels (larger blobs are rings or streaks, not Bragg spots).
  int min_pixels = 1;
  int max_pixels = 200;
  /// Pixels closer than this to the frame edge are never strong.
  int border_px = 2;
};

/// One spot: intensity-weighted centroid of its pixels' excess over the local background.
struct Spot {
  double fast_px = 0;  ///< centroid, pixel-centre coordinates (pixel f spans [f, f + 1))
  double slow_px = 0;
  double peak = 0;        ///< highest pixel value
  double background = 0;  ///< local mean at the peak
  double snr = 0;         ///< (peak − background) / local standard deviation
  int64_t n_pixels = 0;
};

/// Finds spots. Masked pixels are neither strong nor part of a background window.
/// Pure; thread-safe. Runs in O(pixels) using summed-area tables.
/// @throws ConfigError for non-positive radii, peak_radius_px >= background_radius_px or min_pixels > max_pixels.
std::vector<Spot> find_spots(const ImageView<float>& image, const SpotFinderOptions& options = {});

}  // namespace difftriage::features
