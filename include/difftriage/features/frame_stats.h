/// Per-frame statistics used to compare datasets (ours against an independent simulator's):
/// pixel percentiles, bright-pixel fraction, spot count and a radial profile on a fixed grid.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "difftriage/core/image.h"
#include "difftriage/features/spots.h"

namespace difftriage::features {

/// Percentiles reported per frame, in percent.
inline constexpr std::array<double, 7> kFramePercentiles = {1, 5, 25, 50, 75, 95, 99};

/// Options of compute_frame_stats.
struct FrameStatsOptions {
  double bright_threshold = 185.0;  ///< the study's "spot" level on 8-bit frames
  int n_radial_bins = 32;           ///< radial profile resampled to this many shells
  SpotFinderOptions spots;
};

/// Statistics of one frame (unmasked pixels only).
struct FrameStats {
  std::array<double, kFramePercentiles.size()> percentiles{};
  double mean = 0;
  double fraction_bright = 0;  ///< share of pixels > bright_threshold
  int64_t n_spots = 0;
  /// Mean value per shell; shell k covers radii [k, k + 1) · r_max / n_radial_bins where r_max is
  /// the distance from the beam centre to the nearest frame edge (so frames of any size align).
  std::vector<double> radial_profile;
};

/// Computes the statistics. Pure; thread-safe.
/// @throws ConfigError if n_radial_bins < 1.
FrameStats compute_frame_stats(const ImageView<float>& image, const FrameStatsOptions& options = {});

}  // namespace difftriage::features
