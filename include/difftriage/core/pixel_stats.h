/// Summary statistics of a frame's unmasked pixels (what `difftriage info` prints).
#pragma once

#include <array>
#include <cstdint>

#include "difftriage/core/image.h"

namespace difftriage {

/// Percentiles reported by summarize_pixels, in percent.
inline constexpr std::array<double, 5> kSummaryPercentiles = {1.0, 5.0, 50.0, 95.0, 99.0};

/// Statistics over the pixels that are not masked.
struct PixelSummary {
  int64_t n_pixels = 0;  ///< all pixels
  int64_t n_masked = 0;  ///< pixels excluded by the mask
  double min = 0, max = 0, mean = 0, stddev = 0;
  /// Values at kSummaryPercentiles (nearest-rank on the sorted unmasked pixels).
  std::array<double, kSummaryPercentiles.size()> percentiles{};
};

/// Computes the summary. A frame whose pixels are all masked gives n_masked == n_pixels and
/// zeros elsewhere. Thread-safe (pure function).
PixelSummary summarize_pixels(const AnyImage& image);

/// Nearest-rank percentile `p` (0..100) of `values`, which it partially reorders.
/// @throws ConfigError if values is empty or p is outside [0, 100].
double percentile_inplace(std::vector<double>& values, double p);

}  // namespace difftriage
