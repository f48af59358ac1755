#include "difftriage/features/peaks.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "difftriage/core/error.h"
#include "local_background.h"

namespace difftriage::features {
namespace {
// Below this the local standard deviation is treated as this (flat, noise-free backgrounds of
// 8-bit frames would otherwise give an infinite SNR to a one-level bump).
constexpr double kMinSd = 0.5;
}  // namespace

std::vector<Peak> find_peaks(const ImageView<float>& image, const PeakFinderOptions& options) {
  DT_CHECK(options.peak_radius_px >= 0 && options.peak_radius_px < options.background_radius_px,
           ConfigError, "peak finder: need 0 <= peak_radius_px < background_radius_px, got ",
           options.peak_radius_px, " and ", options.background_radius_px);
  DT_CHECK(options.max_peaks >= 1, ConfigError, "peak finder: max_peaks must be >= 1, got ",
           options.max_peaks);
  const int64_t ns = image.n_slow(), nf = image.n_fast();
  std::vector<Peak> peaks;
  if (ns < 3 || nf < 3) return peaks;
  const int64_t border = std::max<int64_t>(1, options.border_px);
  // Local maxima first (cheap), then their background from summed-area tables: the statistics
  // are needed at about one pixel in ten, not at every pixel.
  const detail::LocalStatistics stats(image, options.background_radius_px,
                                      options.peak_radius_px);
  const float* v = image.data();
  const bool masked = image.mask() != nullptr;
  // The 3 × 3 maximum through a row-wise maximum of 3 (vectorisable); masked pixels take part as
  // −infinity. A pixel below it is no local maximum; the few that equal it are checked exactly.
  std::vector<float> hmax(static_cast<size_t>(ns * nf), -std::numeric_limits<float>::infinity());
  auto value = [&](int64_t i) {
    return masked && image.is_masked(i) ? -std::numeric_limits<float>::infinity() : v[i];
  };
  for (int64_t s = 0; s < ns; ++s) {
    float* h = hmax.data() + s * nf;
    if (!masked) {
      const float* row = v + s * nf;
      for (int64_t f = 1; f < nf - 1; ++f) h[f] = std::max(row[f - 1], std::max(row[f], row[f + 1]));
    } else {
      for (int64_t f = 1; f < nf - 1; ++f) {
        const int64_t i = s * nf + f;
        h[f] = std::max(value(i - 1), std::max(value(i), value(i + 1)));
      }
    }
  }
  std::vector<uint8_t> candidate(static_cast<size_t>(nf), 0);
  for (int64_t s = border; s < ns - border; ++s) {
    const float* up = hmax.data() + (s - 1) * nf;
    const float* mid = up + nf;
    const float* down = mid + nf;
    const float* row = v + s * nf;
    for (int64_t f = border; f < nf - border; ++f) {
      candidate[static_cast<size_t>(f)] = row[f] >= std::max(up[f], std::max(mid[f], down[f]));
    }
    for (int64_t f = border; f < nf - border; ++f) {
      if (!candidate[static_cast<size_t>(f)]) continue;
      const int64_t i = s * nf + f;
      if (masked && image.is_masked(i)) continue;
      // Local maximum: strictly above the neighbours before it, at least as high as those after
      // (one peak per plateau). Masked neighbours do not count.
      const float x = v[i];
      bool is_max = true;
      for (int64_t ds = -1; ds <= 1 && is_max; ++ds) {
        for (int64_t df = -1; df <= 1; ++df) {
          if (ds == 0 && df == 0) continue;
          const int64_t j = i + ds * nf + df;
          if (masked && image.is_masked(j)) continue;
          const bool before = ds < 0 || (ds == 0 && df < 0);
          if (before ? v[j] >= x : v[j] > x) {
            is_max = false;
            break;
          }
        }
      }
      if (!is_max) continue;
      double mean = 0, local_sd = 0;
      if (!stats.mean_at(s, f, &mean) || x - mean < options.min_excess) continue;
      stats.at(s, f, &mean, &local_sd);
      const double height = x - mean;
      const double sd = std::max<double>(kMinSd, local_sd);
      if (height <= options.n_sigma * sd) continue;
      double w = 0, wf = 0, ws = 0;
      for (int64_t ds = -1; ds <= 1; ++ds) {
        for (int64_t df = -1; df <= 1; ++df) {
          const int64_t j = i + ds * nf + df;
          if (image.is_masked(j)) continue;
          const double e = std::max(0.0, v[j] - mean);
          w += e;
          wf += e * static_cast<double>(df);
          ws += e * static_cast<double>(ds);
        }
      }
      Peak p;
      p.fast_px = static_cast<double>(f) + 0.5 + wf / w;  // w ≥ height > 0
      p.slow_px = static_cast<double>(s) + 0.5 + ws / w;
      p.height = height;
      p.snr = height / sd;
      peaks.push_back(p);
    }
  }
  std::stable_sort(peaks.begin(), peaks.end(),
                   [](const Peak& a, const Peak& b) { return a.snr > b.snr; });
  if (static_cast<int64_t>(peaks.size()) > options.max_peaks) {
    peaks.resize(static_cast<size_t>(options.max_peaks));
  }
  return peaks;
}

}  // namespace difftriage::features
