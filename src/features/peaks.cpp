#include "difftriage/features/peaks.h"

#include <algorithm>
#include <cmath>

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
  const detail::LocalBackground bg = detail::compute_local_background(
      image, options.background_radius_px, options.peak_radius_px, border);
  const float* v = image.data();
  for (int64_t s = border; s < ns - border; ++s) {
    for (int64_t f = border; f < nf - border; ++f) {
      const int64_t i = s * nf + f;
      if (bg.valid[static_cast<size_t>(i)] == 0) continue;
      const double mean = bg.mean[static_cast<size_t>(i)];
      const double height = v[i] - mean;
      if (height < options.min_excess) continue;
      const double sd = std::max<double>(kMinSd, bg.sd[static_cast<size_t>(i)]);
      if (height <= options.n_sigma * sd) continue;
      // Local maximum: strictly above the neighbours before it, at least as high as those after
      // (one peak per plateau). Masked neighbours do not count.
      bool is_max = true;
      for (int64_t ds = -1; ds <= 1 && is_max; ++ds) {
        for (int64_t df = -1; df <= 1; ++df) {
          if (ds == 0 && df == 0) continue;
          const int64_t j = i + ds * nf + df;
          if (image.is_masked(j)) continue;
          const bool before = ds < 0 || (ds == 0 && df < 0);
          if (before ? v[j] >= v[i] : v[j] > v[i]) {
            is_max = false;
            break;
          }
        }
      }
      if (!is_max) continue;
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
