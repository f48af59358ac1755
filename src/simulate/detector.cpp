#include "difftriage/simulate/detector.h"

#include <algorithm>
#include <cmath>

#include "difftriage/core/error.h"
#include "difftriage/simulate/random.h"

namespace difftriage::simulate {

Image<float> apply_detector(const Image<float>& photons, const DetectorSpec& d, uint64_t seed) {
  Image<float> out(photons.n_slow(), photons.n_fast(), 0.0f);
  const double sat = d.saturation_adu;
  const bool read = d.readout_noise_adu > 0.0;
  const double g = d.gain_adu_per_photon, r2 = d.readout_noise_adu * d.readout_noise_adu;
  const int64_t n_fast = photons.n_fast();
  for (int64_t slow = 0; slow < photons.n_slow(); ++slow) {
    // One generator per row, seeded from (seed, row): the sequence never depends on how many
    // draws earlier rows took, and rows could be done in any order.
    FastRng rng(splitmix64(seed ^ splitmix64(static_cast<uint64_t>(slow))));
    const float* in = photons.data() + slow * n_fast;
    float* o = out.data() + slow * n_fast;
    for (int64_t i = 0; i < n_fast; ++i) {
      const double mean = in[i];
      double adu;
      if (mean >= Rng::kPoissonNormalCutoff) {
        // Poisson (normal approximation) and Gaussian read noise in one draw: the sum of two
        // independent normals is normal with the summed variance g²·mean + σ_r².
        adu = d.pedestal_adu + g * mean + std::sqrt(g * g * mean + r2) * rng.normal();
      } else {
        adu = d.pedestal_adu + g * rng.poisson(mean);
        if (read) adu += d.readout_noise_adu * rng.normal();
      }
      // Clamp, then round half up (x ≥ 0, so truncating x + 0.5 rounds without a libm call).
      adu = adu < 0.0 ? 0.0 : (adu > sat ? sat : adu);
      o[i] = static_cast<float>(static_cast<int64_t>(adu + 0.5));
    }
  }
  return out;
}

Image<float> bin_frame(const Image<float>& image, int32_t factor, BinningMode mode) {
  DT_CHECK(factor >= 1 && image.n_fast() % factor == 0 && image.n_slow() % factor == 0,
           ConfigError, "binning factor ", factor, " does not divide the frame ", image.n_slow(),
           " x ", image.n_fast());
  if (factor == 1) return image;
  const int64_t ns = image.n_slow() / factor, nf = image.n_fast() / factor;
  Image<float> out(ns, nf, 0.0f);
  const float inv = 1.0f / static_cast<float>(factor * factor);
  for (int64_t s = 0; s < ns; ++s) {
    float* orow = out.data() + s * nf;
    for (int32_t dy = 0; dy < factor; ++dy) {
      const float* irow = image.data() + (s * factor + dy) * image.n_fast();
      if (mode == BinningMode::kMax) {
        for (int64_t f = 0; f < nf; ++f) {
          float m = dy == 0 ? irow[f * factor] : orow[f];
          for (int32_t dx = 0; dx < factor; ++dx) m = std::max(m, irow[f * factor + dx]);
          orow[f] = m;
        }
      } else {
        for (int64_t f = 0; f < nf; ++f) {
          float acc = 0.0f;
          for (int32_t dx = 0; dx < factor; ++dx) acc += irow[f * factor + dx];
          orow[f] += acc;
        }
      }
    }
    if (mode == BinningMode::kMean) {
      for (int64_t f = 0; f < nf; ++f) orow[f] *= inv;
    }
  }
  return out;
}

Image<uint8_t> map_to_8bit(const Image<float>& adu, const IntensityMapSpec& map,
                           double pedestal_adu) {
  Image<uint8_t> out(adu.n_slow(), adu.n_fast(), 0);
  const double scale = 1.0 / map.adu_per_level;
  const float* in = adu.data();
  uint8_t* o = out.data();
  for (int64_t i = 0; i < adu.size(); ++i) {
    const double v = std::floor(map.offset_8bit + (in[i] - pedestal_adu) * scale + 0.5);
    o[i] = static_cast<uint8_t>(std::clamp(v, 0.0, 255.0));
  }
  return out;
}

Image<uint16_t> to_uint16(const Image<float>& adu) {
  Image<uint16_t> out(adu.n_slow(), adu.n_fast(), 0);
  for (int64_t i = 0; i < adu.size(); ++i) {
    out.data()[i] = static_cast<uint16_t>(std::clamp(std::round(adu.data()[i]), 0.0f, 65535.0f));
  }
  return out;
}

Image<int32_t> to_int32(const Image<float>& adu) {
  Image<int32_t> out(adu.n_slow(), adu.n_fast(), 0);
  for (int64_t i = 0; i < adu.size(); ++i) {
    out.data()[i] = static_cast<int32_t>(std::lround(adu.data()[i]));
  }
  return out;
}

}  // namespace difftriage::simulate
