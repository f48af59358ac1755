#include "difftriage/explain/spot_overlay.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "difftriage/core/error.h"

namespace difftriage::explain {

std::array<uint8_t, 3> role_colour(features::PeakRole role) noexcept {
  switch (role) {
    case features::PeakRole::kBragg: return {255, 40, 40};
    case features::PeakRole::kWeak: return {255, 220, 0};
    case features::PeakRole::kIceRing: return {0, 220, 255};
    case features::PeakRole::kNearBeam: return {150, 150, 150};
  }
  return {255, 255, 255};
}

namespace {

// The q-th quantile (0..1) of `values` (reordered).
double quantile(std::vector<float>& values, double q) {
  if (values.empty()) return 0.0;
  const auto k = static_cast<size_t>(q * static_cast<double>(values.size() - 1));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
  return values[k];
}

void put(RgbPicture& pic, int64_t s, int64_t f, const std::array<uint8_t, 3>& c) {
  if (s < 0 || f < 0 || s >= pic.n_slow || f >= pic.n_fast) return;
  std::copy(c.begin(), c.end(), pic.rgb.begin() + 3 * (s * pic.n_fast + f));
}

}  // namespace

RgbPicture draw_peaks(const AnyImage& frame, const std::vector<features::Peak>& peaks,
                      int64_t peak_binning, const std::optional<DetectorGeometry>& geometry,
                      const features::LatticeOptions& options, int64_t max_side_px) {
  const auto [ns, nf] = extents(frame);
  DT_CHECK(ns > 0 && nf > 0, ConfigError, "draw_peaks: empty frame");
  DT_CHECK(peak_binning >= 1, ConfigError, "draw_peaks: peak_binning must be >= 1, got ",
           peak_binning);
  DT_CHECK(max_side_px >= 16, ConfigError, "draw_peaks: max_side_px must be >= 16, got ",
           max_side_px);
  const int64_t b = (std::max(ns, nf) + max_side_px - 1) / max_side_px;
  RgbPicture pic;
  pic.n_slow = std::max<int64_t>(1, ns / b);
  pic.n_fast = std::max<int64_t>(1, nf / b);
  pic.rgb.assign(static_cast<size_t>(3 * pic.n_slow * pic.n_fast), 0);
  // Max-binned display values; NaN marks a bin whose pixels are all masked.
  const Image<float> pixels = to_float(frame);
  const ImageView<float> in = pixels.view();
  std::vector<float> shown(static_cast<size_t>(pic.n_slow * pic.n_fast),
                           std::numeric_limits<float>::quiet_NaN());
  std::vector<float> finite;
  for (int64_t s = 0; s < pic.n_slow; ++s) {
    for (int64_t f = 0; f < pic.n_fast; ++f) {
      float best = -std::numeric_limits<float>::infinity();
      for (int64_t ds = 0; ds < b && s * b + ds < ns; ++ds) {
        for (int64_t df = 0; df < b && f * b + df < nf; ++df) {
          const int64_t i = (s * b + ds) * nf + f * b + df;
          if (!in.is_masked(i) && std::isfinite(in.data()[i])) best = std::max(best, in.data()[i]);
        }
      }
      if (std::isfinite(best)) {
        shown[static_cast<size_t>(s * pic.n_fast + f)] = best;
        finite.push_back(best);
      }
    }
  }
  const double lo = quantile(finite, 0.01), hi = std::max(lo + 1.0, quantile(finite, 0.999));
  const double scale = 255.0 / std::log1p(hi - lo);
  for (size_t i = 0; i < shown.size(); ++i) {
    const float v = shown[i];
    if (std::isnan(v)) {
      pic.rgb[3 * i] = 0, pic.rgb[3 * i + 1] = 0, pic.rgb[3 * i + 2] = 90;
      continue;
    }
    const double t = std::clamp(std::log1p(std::clamp(v - lo, 0.0, hi - lo)) * scale, 0.0, 255.0);
    const auto g = static_cast<uint8_t>(t);
    pic.rgb[3 * i] = g, pic.rgb[3 * i + 1] = g, pic.rgb[3 * i + 2] = g;
  }
  // Weak peaks first, Bragg peaks last (on top).
  std::vector<std::pair<features::PeakRole, features::Peak>> drawn;
  for (const features::Peak& p : peaks) {
    features::Peak at_frame = p;
    at_frame.fast_px *= static_cast<double>(peak_binning);
    at_frame.slow_px *= static_cast<double>(peak_binning);
    features::PeakRole role = p.snr >= options.bragg_min_snr ? features::PeakRole::kBragg
                                                             : features::PeakRole::kWeak;
    if (geometry) role = features::peak_role(at_frame, *geometry, options);
    drawn.emplace_back(role, at_frame);
  }
  std::stable_sort(drawn.begin(), drawn.end(), [](const auto& x, const auto& y) {
    return (x.first == features::PeakRole::kBragg) < (y.first == features::PeakRole::kBragg);
  });
  constexpr int kRadius = 5;
  for (const auto& [role, p] : drawn) {
    const auto colour = role_colour(role);
    const double cs = p.slow_px / static_cast<double>(b), cf = p.fast_px / static_cast<double>(b);
    for (int k = 0; k < 48; ++k) {
      const double a = 2.0 * M_PI * k / 48.0;
      put(pic, static_cast<int64_t>(std::floor(cs + kRadius * std::sin(a))),
          static_cast<int64_t>(std::floor(cf + kRadius * std::cos(a))), colour);
    }
  }
  return pic;
}

}  // namespace difftriage::explain
