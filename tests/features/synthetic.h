// Synthetic frames for the feature tests: Gaussian noise, Gaussian spots, rings.
#pragma once

#include <cmath>
#include <random>

#include "difftriage/core/image.h"

namespace difftriage::features::test {

/// Background `level` plus Gaussian noise of `sd` (fixed seed).
inline Image<float> noise_frame(int64_t n, double level, double sd, uint64_t seed) {
  Image<float> img(n, n);
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(level, sd);
  for (auto& v : img.pixels()) v = static_cast<float>(normal(rng));
  return img;
}

/// Adds a Gaussian spot of `height` and width `sigma_px` centred at (fast, slow) in pixel-centre
/// coordinates.
inline void add_spot(Image<float>& img, double fast, double slow, double height, double sigma_px) {
  for (int64_t s = 0; s < img.n_slow(); ++s)
    for (int64_t f = 0; f < img.n_fast(); ++f) {
      const double df = f + 0.5 - fast, ds = s + 0.5 - slow;
      const double r2 = df * df + ds * ds;
      if (r2 > 36 * sigma_px * sigma_px) continue;
      img(s, f) += static_cast<float>(height * std::exp(-0.5 * r2 / (sigma_px * sigma_px)));
    }
}

/// Adds a Gaussian ring of `height` at `radius_px` around (cf, cs).
inline void add_ring(Image<float>& img, double cf, double cs, double radius_px, double height,
                     double sigma_px) {
  for (int64_t s = 0; s < img.n_slow(); ++s)
    for (int64_t f = 0; f < img.n_fast(); ++f) {
      const double r = std::hypot(f + 0.5 - cf, s + 0.5 - cs);
      const double x = (r - radius_px) / sigma_px;
      img(s, f) += static_cast<float>(height * std::exp(-0.5 * x * x));
    }
}

}  // namespace difftriage::features::test
