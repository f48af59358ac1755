#include "difftriage/features/radial.h"

#include <cmath>
#include <tuple>

#include "difftriage/core/error.h"

namespace difftriage::features {

std::pair<double, double> beam_center_px(const ImageView<float>& image,
                                         const RadialProfileOptions& options) {
  const DetectorMetadata* md = image.metadata();
  double cf = 0.5 * static_cast<double>(image.n_fast());
  double cs = 0.5 * static_cast<double>(image.n_slow());
  if (md != nullptr && md->beam_center_fast_px && md->beam_center_slow_px) {
    cf = *md->beam_center_fast_px;
    cs = *md->beam_center_slow_px;
  }
  return {options.center_fast_px.value_or(cf), options.center_slow_px.value_or(cs)};
}

RadialProfile radial_profile(const ImageView<float>& image, const RadialProfileOptions& options) {
  DT_CHECK(options.bin_width_px > 0, ConfigError, "radial profile: bin width must be > 0, got ",
           options.bin_width_px);
  RadialProfile p;
  std::tie(p.center_fast_px, p.center_slow_px) = beam_center_px(image, options);
  p.bin_width_px = options.bin_width_px;
  // The farthest corner bounds the number of shells.
  double r_max = 0;
  for (double s : {0.0, static_cast<double>(image.n_slow())})
    for (double f : {0.0, static_cast<double>(image.n_fast())})
      r_max = std::max(r_max, std::hypot(f - p.center_fast_px, s - p.center_slow_px));
  const auto n_bins = static_cast<size_t>(r_max / options.bin_width_px) + 1;
  std::vector<double> sum(n_bins, 0.0);
  p.n_pixels.assign(n_bins, 0);
  const double inv_width = 1.0 / options.bin_width_px;
  for (int64_t s = 0; s < image.n_slow(); ++s) {
    // Pixel centres sit at +0.5 (the corner-origin convention of DIALS/CrystFEL beam centres).
    const double ds = static_cast<double>(s) + 0.5 - p.center_slow_px;
    for (int64_t f = 0; f < image.n_fast(); ++f) {
      const int64_t i = s * image.n_fast() + f;
      if (image.is_masked(i)) continue;
      const double df = static_cast<double>(f) + 0.5 - p.center_fast_px;
      const auto k = static_cast<size_t>(std::sqrt(df * df + ds * ds) * inv_width);
      if (k >= n_bins) continue;
      sum[k] += image.data()[i];
      ++p.n_pixels[k];
    }
  }
  p.radius_px.resize(n_bins);
  p.mean.resize(n_bins);
  for (size_t k = 0; k < n_bins; ++k) {
    p.radius_px[k] = (static_cast<double>(k) + 0.5) * options.bin_width_px;
    p.mean[k] = p.n_pixels[k] > 0 ? sum[k] / static_cast<double>(p.n_pixels[k]) : 0.0;
  }
  return p;
}

}  // namespace difftriage::features
