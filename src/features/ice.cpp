#include "difftriage/features/ice.h"

#include "difftriage/core/error.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace difftriage::features {
namespace {

// The geometry whose ring radii the score checks: the option, else the frame's metadata with
// the beam centre the shells were built around (centre_fast/slow_px: the option, the
// metadata's or the frame centre), so a frame without a beam centre in its metadata keeps its
// resolution rings. Only wavelength, distance and pixel size enter the ring radii.
std::optional<DetectorGeometry> resolve_geometry(const ImageView<float>& image,
                                                 const IceScoreOptions& options,
                                                 double center_fast_px, double center_slow_px) {
  if (options.geometry) return options.geometry;
  if (image.metadata() == nullptr) return std::nullopt;
  DetectorMetadata md = *image.metadata();
  md.beam_center_fast_px = center_fast_px;
  md.beam_center_slow_px = center_slow_px;
  return geometry_from_metadata(md, image.n_fast(), image.n_slow()).geometry;
}

/// Robust per-shell statistics: the median (Bragg spots barely move it, rings do) and the
/// standard error of that median from the median absolute deviation (1.4826 · MAD ≈ σ for
/// Gaussian noise; the median's standard error is ≈ 1.2533 σ / √n).
struct ShellStats {
  std::vector<double> median;
  std::vector<double> std_error;
};

ShellStats shell_stats(const ImageView<float>& image, double cf, double cs, double width) {
  std::vector<std::vector<float>> shells;
  for (int64_t s = 0; s < image.n_slow(); ++s) {
    const double ds = static_cast<double>(s) + 0.5 - cs;
    for (int64_t f = 0; f < image.n_fast(); ++f) {
      const int64_t i = s * image.n_fast() + f;
      if (image.is_masked(i)) continue;
      const double df = static_cast<double>(f) + 0.5 - cf;
      const auto k = static_cast<size_t>(std::sqrt(df * df + ds * ds) / width);
      if (k >= shells.size()) shells.resize(k + 1);
      shells[k].push_back(image.data()[i]);
    }
  }
  ShellStats out;
  out.median.assign(shells.size(), std::numeric_limits<double>::quiet_NaN());
  out.std_error.assign(shells.size(), std::numeric_limits<double>::quiet_NaN());
  for (size_t k = 0; k < shells.size(); ++k) {
    auto& v = shells[k];
    if (v.size() < 4) continue;
    const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
    std::nth_element(v.begin(), mid, v.end());
    const double median = *mid;
    for (auto& x : v) x = static_cast<float>(std::abs(x - median));
    std::nth_element(v.begin(), mid, v.end());
    const double sigma = 1.4826 * *mid;
    out.median[k] = median;
    out.std_error[k] = 1.2533 * sigma / std::sqrt(static_cast<double>(v.size()));
  }
  return out;
}

/// Contrast of the shells [k − w, k + w] against `flank` shells on each side: difference of
/// medians over its noise, where the noise is the larger of the shells' own standard error and
/// the scatter of the flank medians (a sloping background is not a ring).
double ring_contrast(const ShellStats& p, int64_t k, int w, int flank) {
  const auto n = static_cast<int64_t>(p.median.size());
  double ring = 0, ring_var = 0;
  int n_ring = 0;
  for (int64_t j = k - w; j <= k + w; ++j) {
    if (j < 0 || j >= n || std::isnan(p.median[static_cast<size_t>(j)])) continue;
    ring += p.median[static_cast<size_t>(j)];
    ring_var += p.std_error[static_cast<size_t>(j)] * p.std_error[static_cast<size_t>(j)];
    ++n_ring;
  }
  std::vector<double> flanks;
  double flank_var = 0;
  auto take = [&](int64_t j) {
    if (j < 0 || j >= n || std::isnan(p.median[static_cast<size_t>(j)])) return;
    flanks.push_back(p.median[static_cast<size_t>(j)]);
    flank_var += p.std_error[static_cast<size_t>(j)] * p.std_error[static_cast<size_t>(j)];
  };
  for (int64_t j = k - w - flank; j < k - w - 1; ++j) take(j);
  for (int64_t j = k + w + 2; j <= k + w + flank; ++j) take(j);
  if (n_ring == 0 || flanks.size() < 3) return 0.0;
  const double nf = static_cast<double>(flanks.size());
  double mean = 0;
  for (double v : flanks) mean += v;
  mean /= nf;
  double scatter = 0;
  for (double v : flanks) scatter += (v - mean) * (v - mean);
  scatter /= (nf - 1);
  const double own = ring_var / (n_ring * n_ring) + flank_var / (nf * nf);
  const double noise = std::sqrt(std::max(own, scatter / nf)) + 1e-9;
  return (ring / n_ring - mean) / noise;
}

}  // namespace

IceScore ice_score(const ImageView<float>& image, const IceScoreOptions& options) {
  IceScore best;
  DT_CHECK(options.profile.bin_width_px > 0, ConfigError, "ice score: bin width must be > 0");
  RadialProfileOptions profile = options.profile;
  if (options.geometry) {
    options.geometry->validate();
    if (!profile.center_fast_px) profile.center_fast_px = options.geometry->beam_center_fast_px;
    if (!profile.center_slow_px) profile.center_slow_px = options.geometry->beam_center_slow_px;
  }
  const auto [cf, cs] = beam_center_px(image, profile);
  const ShellStats p = shell_stats(image, cf, cs, options.profile.bin_width_px);
  const double width = options.profile.bin_width_px;
  const int w = std::max(0, options.ring_half_width_bins);
  const int flank = std::max(2, options.flank_bins);
  best.score = -1e300;
  if (const auto geometry = resolve_geometry(image, options, cf, cs)) {
    best.used_geometry = true;
    for (double d : kIceRingsAngstrom) {
      const auto radius = geometry->radius_px_for_resolution(d);
      if (!radius) continue;
      const double r = *radius;
      const auto k = static_cast<int64_t>(r / width);
      if (k >= static_cast<int64_t>(p.median.size())) continue;
      const double c = ring_contrast(p, k, w, flank);
      if (c > best.score) {
        best.score = c;
        best.radius_px = r;
        best.d_angstrom = d;
      }
    }
  } else {
    for (int64_t k = 0; k < static_cast<int64_t>(p.median.size()); ++k) {
      const double radius = (static_cast<double>(k) + 0.5) * width;
      if (radius < options.min_radius_px) continue;
      const double c = ring_contrast(p, k, w, flank);
      if (c > best.score) {
        best.score = c;
        best.radius_px = radius;
      }
    }
  }
  if (best.score == -1e300) best.score = 0;
  return best;
}

}  // namespace difftriage::features
