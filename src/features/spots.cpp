#include "difftriage/features/spots.h"

#include <algorithm>
#include <cmath>

#include "difftriage/core/error.h"
#include "local_background.h"

namespace difftriage::features {

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

  // Local mean and variance of unmasked pixels (DIALS' dispersion statistics, box kernel).
  const detail::LocalBackground bg = detail::compute_local_background(
      image, options.background_radius_px, options.peak_radius_px, options.border_px);
  const std::vector<float>& local_mean = bg.mean;
  const std::vector<float>& local_sd = bg.sd;
  std::vector<uint8_t> strong(static_cast<size_t>(ns * nf), 0);
  for (int64_t i = 0; i < ns * nf; ++i) {
    if (bg.valid[static_cast<size_t>(i)] == 0) continue;
    const double mean = local_mean[static_cast<size_t>(i)];
    const double sd = local_sd[static_cast<size_t>(i)];
    const double v = image.data()[i];
    if (v - mean >= options.min_excess && v > mean + options.n_sigma * sd) {
      strong[static_cast<size_t>(i)] = 1;
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
