#include "difftriage/features/spots.h"

#include <algorithm>
#include <cmath>

#include "difftriage/core/error.h"

namespace difftriage::features {
namespace {

/// Summed-area table with one row and column of zeros in front: sat(s, f) = sum over
/// [0, s) × [0, f).
class SummedArea {
 public:
  SummedArea(int64_t n_slow, int64_t n_fast)
      : n_fast1_(n_fast + 1), table_(static_cast<size_t>((n_slow + 1) * (n_fast + 1)), 0.0) {}
  double& at(int64_t s, int64_t f) { return table_[static_cast<size_t>(s * n_fast1_ + f)]; }
  double at(int64_t s, int64_t f) const { return table_[static_cast<size_t>(s * n_fast1_ + f)]; }
  /// Sum over rows [s0, s1) and columns [f0, f1).
  double box(int64_t s0, int64_t s1, int64_t f0, int64_t f1) const {
    return at(s1, f1) - at(s0, f1) - at(s1, f0) + at(s0, f0);
  }

 private:
  int64_t n_fast1_;
  std::vector<double> table_;
};

}  // namespace

std::vector<Spot> find_spots(const ImageView<float>& image, const SpotFinderOptions& options) {
  DT_CHECK(options.background_radius_px >= 1, ConfigError,
           "spot finder: background radius must be >= 1, got ", options.background_radius_px);
  DT_CHECK(options.peak_radius_px >= 0 && options.peak_radius_px < options.background_radius_px,
           ConfigError, "spot finder: need 0 <= peak radius < background radius, got ",
           options.peak_radius_px, " and ", options.background_radius_px);
  DT_CHECK(options.min_pixels >= 1 && options.min_pixels <= options.max_pixels, ConfigError,
           "spot finder: need 1 <= min_pixels <= max_pixels, got ", options.min_pixels, " and ",
           options.max_pixels);
  const int64_t ns = image.n_slow(), nf = image.n_fast();
  std::vector<Spot> spots;
  if (ns == 0 || nf == 0) return spots;

  // Local mean and variance of unmasked pixels from three summed-area tables (DIALS' dispersion
  // algorithm computes the same statistics with a box kernel).
  SummedArea sum(ns, nf), sum2(ns, nf), count(ns, nf);
  for (int64_t s = 0; s < ns; ++s) {
    double row = 0, row2 = 0, rown = 0;
    for (int64_t f = 0; f < nf; ++f) {
      const int64_t i = s * nf + f;
      if (!image.is_masked(i)) {
        const double v = image.data()[i];
        row += v;
        row2 += v * v;
        rown += 1;
      }
      sum.at(s + 1, f + 1) = sum.at(s, f + 1) + row;
      sum2.at(s + 1, f + 1) = sum2.at(s, f + 1) + row2;
      count.at(s + 1, f + 1) = count.at(s, f + 1) + rown;
    }
  }

  const int r = options.background_radius_px;
  const int r_in = options.peak_radius_px;
  const int64_t border = std::max(0, options.border_px);
  std::vector<float> local_mean(static_cast<size_t>(ns * nf), 0.0f);
  std::vector<float> local_sd(static_cast<size_t>(ns * nf), 0.0f);
  std::vector<uint8_t> strong(static_cast<size_t>(ns * nf), 0);
  for (int64_t s = border; s < ns - border; ++s) {
    const int64_t s0 = std::max<int64_t>(0, s - r), s1 = std::min(ns, s + r + 1);
    for (int64_t f = border; f < nf - border; ++f) {
      const int64_t i = s * nf + f;
      if (image.is_masked(i)) continue;
      const int64_t f0 = std::max<int64_t>(0, f - r), f1 = std::min(nf, f + r + 1);
      // Background = outer box minus the inner box around the pixel.
      const int64_t t0 = std::max<int64_t>(0, s - r_in), t1 = std::min(ns, s + r_in + 1);
      const int64_t g0 = std::max<int64_t>(0, f - r_in), g1 = std::min(nf, f + r_in + 1);
      const double n = count.box(s0, s1, f0, f1) - count.box(t0, t1, g0, g1);
      if (n < 2) continue;
      const double mean = (sum.box(s0, s1, f0, f1) - sum.box(t0, t1, g0, g1)) / n;
      const double var = std::max(
          0.0, (sum2.box(s0, s1, f0, f1) - sum2.box(t0, t1, g0, g1)) / n - mean * mean);
      const double sd = std::sqrt(var);
      const double v = image.data()[i];
      local_mean[static_cast<size_t>(i)] = static_cast<float>(mean);
      local_sd[static_cast<size_t>(i)] = static_cast<float>(sd);
      if (v - mean >= options.min_excess && v > mean + options.n_sigma * sd) {
        strong[static_cast<size_t>(i)] = 1;
      }
    }
  }

  // Connected components of strong pixels (8-neighbourhood), flood fill with an explicit stack.
  std::vector<int64_t> stack;
  std::vector<int64_t> members;
  for (int64_t seed = 0; seed < ns * nf; ++seed) {
    if (strong[static_cast<size_t>(seed)] != 1) continue;
    strong[static_cast<size_t>(seed)] = 2;
    stack.assign(1, seed);
    members.clear();
    while (!stack.empty()) {
      const int64_t i = stack.back();
      stack.pop_back();
      members.push_back(i);
      const int64_t s = i / nf, f = i % nf;
      for (int64_t ds = -1; ds <= 1; ++ds) {
        for (int64_t df = -1; df <= 1; ++df) {
          const int64_t s2 = s + ds, f2 = f + df;
          if (s2 < 0 || s2 >= ns || f2 < 0 || f2 >= nf) continue;
          const int64_t j = s2 * nf + f2;
          if (strong[static_cast<size_t>(j)] == 1) {
            strong[static_cast<size_t>(j)] = 2;
            stack.push_back(j);
          }
        }
      }
    }
    const auto n_members = static_cast<int64_t>(members.size());
    if (n_members < options.min_pixels || n_members > options.max_pixels) continue;
    Spot spot;
    spot.n_pixels = n_members;
    double weight = 0, wf = 0, ws = 0;
    int64_t peak_index = members.front();
    for (int64_t i : members) {
      const double v = image.data()[i];
      const double excess = std::max(0.0, v - local_mean[static_cast<size_t>(i)]);
      weight += excess;
      wf += excess * (static_cast<double>(i % nf) + 0.5);
      ws += excess * (static_cast<double>(i / nf) + 0.5);
      if (v > image.data()[peak_index]) peak_index = i;
    }
    spot.fast_px = weight > 0 ? wf / weight : static_cast<double>(peak_index % nf) + 0.5;
    spot.slow_px = weight > 0 ? ws / weight : static_cast<double>(peak_index / nf) + 0.5;
    spot.peak = image.data()[peak_index];
    spot.background = local_mean[static_cast<size_t>(peak_index)];
    const double sd = local_sd[static_cast<size_t>(peak_index)];
    spot.snr = sd > 0 ? (spot.peak - spot.background) / sd : 0.0;
    spots.push_back(spot);
  }
  return spots;
}

}  // namespace difftriage::features
