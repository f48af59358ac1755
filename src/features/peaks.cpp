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
  // Local maxima first (cheap), then their background from running window sums, row by row:
  // the statistics are needed at about one pixel in ten, not at every pixel, and the memory
  // stays a few rows (a 16M frame's evidence would otherwise write tables of 100 MB per frame).
  detail::RowWindowStatistics stats(image, options.background_radius_px, options.peak_radius_px);
  const float* v = image.data();
  const bool masked = image.mask() != nullptr;
  // The 3 × 3 maximum through a row-wise maximum of 3 (vectorisable), kept for three rows;
  // masked pixels take part as −infinity (a row copy with them replaced, `vrow`). A pixel below
  // it is no local maximum; the few that equal it are checked exactly.
  constexpr float kInf = std::numeric_limits<float>::infinity();
  std::vector<float> hmax(static_cast<size_t>(3 * nf), -kInf);
  std::vector<float> vrow(masked ? static_cast<size_t>(nf) : 0);
  auto hmax_row = [&](int64_t s) { return hmax.data() + (s % 3) * nf; };
  auto fill_hmax = [&](int64_t s) {
    float* h = hmax_row(s);
    const float* row = v + s * nf;
    if (masked) {
      const uint8_t* m = image.mask() + s * nf;
      float* w = vrow.data();
      for (int64_t f = 0; f < nf; ++f) w[f] = m[f] != 0 ? -kInf : row[f];
      row = w;
    }
    for (int64_t f = 1; f < nf - 1; ++f) h[f] = std::max(row[f - 1], std::max(row[f], row[f + 1]));
  };
  if (border < ns - border) {
    fill_hmax(border - 1);
    fill_hmax(border);
  }
  // A peak stands min_excess above its background mean, which is no lower than the frame's
  // lowest unmasked value: pixels below that floor (the zeros and ones of a photon-counting
  // frame, most of its local maxima) are never candidates. A margin keeps rounding on the safe
  // side; the exact test below decides. The minimum in 8 lanes, so that it vectorises.
  constexpr int kLanes = 8;
  float lane_min[kLanes];
  std::fill(lane_min, lane_min + kLanes, kInf);
  const int64_t n = ns * nf, n_blocked = n / kLanes * kLanes;
  const uint8_t* mask = image.mask();
  for (int64_t i = 0; i < n_blocked; i += kLanes) {
    for (int k = 0; k < kLanes; ++k) {
      const float x = masked && mask[i + k] != 0 ? kInf : v[i + k];
      lane_min[k] = x < lane_min[k] ? x : lane_min[k];  // a NaN pixel leaves the minimum alone
    }
  }
  float lowest = *std::min_element(lane_min, lane_min + kLanes);
  for (int64_t i = n_blocked; i < n; ++i) {
    if (!(masked && mask[i] != 0) && v[i] < lowest) lowest = v[i];
  }
  if (lowest == kInf) return peaks;  // nothing unmasked (or only +infinity and NaN)
  const double floor_exact = static_cast<double>(lowest) + options.min_excess;
  const float floor = std::isfinite(lowest)
                          ? static_cast<float>(floor_exact - 1e-6 * (1.0 + std::abs(floor_exact)))
                          : -kInf;
  // Candidates of a row as bytes, scanned 8 at a time (most words are zero).
  const int64_t n_words = (nf + 7) / 8;
  std::vector<uint64_t> candidate_words(static_cast<size_t>(n_words), 0);
  auto* candidate = reinterpret_cast<uint8_t*>(candidate_words.data());
  for (int64_t s = border; s < ns - border; ++s) {
    fill_hmax(s + 1);
    const float* up = hmax_row(s - 1);
    const float* mid = hmax_row(s);
    const float* down = hmax_row(s + 1);
    bool row_set = false;
    const float* row = v + s * nf;
    for (int64_t f = border; f < nf - border; ++f) {
      candidate[f] = static_cast<uint8_t>(
          (row[f] >= std::max(up[f], std::max(mid[f], down[f]))) & (row[f] >= floor));
    }
    for (int64_t f = border; f < nf - border; ++f) {
      if ((f & 7) == 0 && candidate_words[static_cast<size_t>(f >> 3)] == 0) {
        f += 7;
        continue;
      }
      if (!candidate[f]) continue;
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
      if (!row_set) {
        stats.set_row(s);
        row_set = true;
      }
      double mean = 0, local_sd = 0;
      if (!stats.mean_at(f, &mean) || x - mean < options.min_excess) continue;
      stats.at(f, &mean, &local_sd);
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
