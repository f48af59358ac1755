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

/// The same statistics on demand, pixel by pixel, from summed-area tables built once (O(pixels)):
/// for callers that need them at a few pixels (the peak finder: local maxima only), and behind
/// compute_local_background. Immutable after construction; thread-safe.
class LocalStatistics {
 public:
  LocalStatistics(const ImageView<float>& image, int outer_radius_px, int inner_radius_px);
  /// Background mean and standard deviation at pixel (s, f); false when its window holds fewer
  /// than two unmasked pixels.
  bool at(int64_t s, int64_t f, double* mean, double* sd) const;
  /// The mean alone (cheaper: most local maxima fail on their height over it); false as at().
  bool mean_at(int64_t s, int64_t f, double* mean) const;

 private:
  // The outer box [s0, s1) × [f0, f1) and the inner one [t0, t1) × [g0, g1), clipped, and the
  // number of unmasked pixels between them.
  struct Window {
    int64_t s0, s1, f0, f1, t0, t1, g0, g1;
    double n;
  };
  Window window(int64_t s, int64_t f) const;
  double box(const std::vector<double>& t, int64_t s0, int64_t s1, int64_t f0, int64_t f1) const {
    return t[static_cast<size_t>(s1 * n1_ + f1)] - t[static_cast<size_t>(s0 * n1_ + f1)] -
           t[static_cast<size_t>(s1 * n1_ + f0)] + t[static_cast<size_t>(s0 * n1_ + f0)];
  }
  // Sum of table `t` over the outer box minus the inner one.
  double ring(const std::vector<double>& t, const Window& w) const {
    return box(t, w.s0, w.s1, w.f0, w.f1) - box(t, w.t0, w.t1, w.g0, w.g1);
  }
  int64_t ns_, nf_, n1_;
  int r_, r_in_;
  bool masked_;
  std::vector<double> sum_, sum2_, count_;  // (ns + 1) × (nf + 1); count_ only with a mask
};

/// The same statistics, row after row, from running column sums over the window's rows (O(pixels),
/// O(columns) memory): for a caller that visits the rows in increasing order and needs the
/// statistics at a few pixels of each (the peak finder). Sums of integer-valued pixels are exact,
/// so the figures equal LocalStatistics' there. Not thread-safe (one per thread).
class RowWindowStatistics {
 public:
  RowWindowStatistics(const ImageView<float>& image, int outer_radius_px, int inner_radius_px);
  /// Moves the window to row `s`; rows must be visited in increasing order.
  void set_row(int64_t s);
  /// Background mean at pixel (row of set_row, f); false when its window holds fewer than two
  /// unmasked pixels.
  bool mean_at(int64_t f, double* mean) const;
  /// Mean and standard deviation, as mean_at.
  bool at(int64_t f, double* mean, double* sd) const;

 private:
  void add_row(int64_t s, double sign);
  // Sums over the window around (s_, f) (outer square minus inner one, clipped, masked pixels
  // left out): sum of values, of squares (when `sum2` is not null) and the pixel count.
  void ring(int64_t f, double* sum, double* sum2, double* n) const;
  ImageView<float> image_;
  int64_t ns_, nf_;
  int r_, r_in_;
  bool masked_;
  int64_t s_ = -1;
  int64_t next_add_ = 0, next_remove_ = 0;  // next row to enter / to leave the window
  std::vector<double> col_, col2_, coln_;   // per column, over the window's rows (coln_: masked)
};

}  // namespace difftriage::features::detail
