#include "difftriage/features/frame_stats.h"

#include <algorithm>
#include <cmath>

#include "difftriage/core/error.h"
#include "difftriage/core/pixel_stats.h"
#include "difftriage/features/radial.h"

namespace difftriage::features {

FrameStats compute_frame_stats(const ImageView<float>& image, const FrameStatsOptions& options) {
  DT_CHECK(options.n_radial_bins >= 1, ConfigError, "frame stats: n_radial_bins must be >= 1");
  FrameStats out;
  std::vector<double> values;
  values.reserve(static_cast<size_t>(image.size()));
  int64_t n_bright = 0;
  double sum = 0;
  for (int64_t i = 0; i < image.size(); ++i) {
    if (image.is_masked(i)) continue;
    const double v = image.data()[i];
    values.push_back(v);
    sum += v;
    n_bright += v > options.bright_threshold;
  }
  if (!values.empty()) {
    out.mean = sum / static_cast<double>(values.size());
    out.fraction_bright = static_cast<double>(n_bright) / static_cast<double>(values.size());
    for (size_t k = 0; k < kFramePercentiles.size(); ++k)
      out.percentiles[k] = percentile_inplace(values, kFramePercentiles[k]);
  }
  out.n_spots = static_cast<int64_t>(find_spots(image, options.spots).size());

  const RadialProfile fine = radial_profile(image);
  const double r_max = std::max(
      1.0, std::min({fine.center_fast_px, static_cast<double>(image.n_fast()) - fine.center_fast_px,
                     fine.center_slow_px, static_cast<double>(image.n_slow()) - fine.center_slow_px}));
  std::vector<double> acc(static_cast<size_t>(options.n_radial_bins), 0.0);
  std::vector<double> n(acc.size(), 0.0);
  for (size_t k = 0; k < fine.mean.size(); ++k) {
    const auto bin = static_cast<size_t>(fine.radius_px[k] / r_max * options.n_radial_bins);
    if (bin >= acc.size() || fine.n_pixels[k] == 0) continue;
    acc[bin] += fine.mean[k] * static_cast<double>(fine.n_pixels[k]);
    n[bin] += static_cast<double>(fine.n_pixels[k]);
  }
  out.radial_profile.resize(acc.size());
  for (size_t b = 0; b < acc.size(); ++b) out.radial_profile[b] = n[b] > 0 ? acc[b] / n[b] : 0.0;
  return out;
}

}  // namespace difftriage::features
