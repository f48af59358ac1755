// dataset::measure_realism: the per-frame realism measures (see realism.h).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "difftriage/dataset/realism.h"

namespace difftriage::dataset {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Group {
  int64_t n = 0;
  bool saturated = false;
  double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;  // pixel-coordinate moments
};

// 8-connected groups of pixels > the spot level (masked pixels never belong).
std::vector<Group> spot_groups(const ImageView<float>& frame) {
  const int64_t nf = frame.n_fast(), ns = frame.n_slow();
  std::vector<uint8_t> seen(static_cast<size_t>(nf * ns), 0);
  auto above = [&](int64_t s, int64_t f) {
    return !frame.is_masked(s * frame.n_fast() + f) && frame(s, f) > kRealismSpotLevel;
  };
  std::vector<Group> out;
  std::vector<std::pair<int64_t, int64_t>> stack;
  for (int64_t s0 = 0; s0 < ns; ++s0) {
    for (int64_t f0 = 0; f0 < nf; ++f0) {
      if (seen[static_cast<size_t>(s0 * nf + f0)] || !above(s0, f0)) continue;
      Group g;
      stack.assign(1, {s0, f0});
      seen[static_cast<size_t>(s0 * nf + f0)] = 1;
      while (!stack.empty()) {
        const auto [s, f] = stack.back();
        stack.pop_back();
        ++g.n;
        g.saturated |= frame(s, f) >= 255.0f;
        const double x = static_cast<double>(f), y = static_cast<double>(s);
        g.sx += x, g.sy += y, g.sxx += x * x, g.syy += y * y, g.sxy += x * y;
        for (int64_t ds = -1; ds <= 1; ++ds) {
          for (int64_t df = -1; df <= 1; ++df) {
            const int64_t s2 = s + ds, f2 = f + df;
            if (s2 < 0 || f2 < 0 || s2 >= ns || f2 >= nf) continue;
            uint8_t& mark = seen[static_cast<size_t>(s2 * nf + f2)];
            if (mark || !above(s2, f2)) continue;
            mark = 1;
            stack.emplace_back(s2, f2);
          }
        }
      }
      if (g.n <= kRealismMaxSpotPixels) out.push_back(g);
    }
  }
  return out;
}

double elongation(const Group& g) {
  const double n = static_cast<double>(g.n);
  const double mx = g.sx / n, my = g.sy / n;
  const double vxx = g.sxx / n - mx * mx + 1.0 / 12.0, vyy = g.syy / n - my * my + 1.0 / 12.0;
  const double vxy = g.sxy / n - mx * my;
  const double half_trace = 0.5 * (vxx + vyy);
  const double root = std::sqrt(std::max(0.0, 0.25 * (vxx - vyy) * (vxx - vyy) + vxy * vxy));
  const double l1 = half_trace + root, l2 = std::max(half_trace - root, 1e-12);
  return std::sqrt(l1 / l2);
}

// Nearest-rank percentile of a non-empty vector (sorted in place).
double percentile_of(std::vector<double>& v, double p) {
  std::sort(v.begin(), v.end());
  const auto k = static_cast<size_t>(std::clamp(
      std::ceil(p / 100.0 * static_cast<double>(v.size())) - 1.0, 0.0,
      static_cast<double>(v.size() - 1)));
  return v[k];
}

void measure_spots(const ImageView<float>& frame, const std::optional<DetectorGeometry>& geometry,
                   RealismFrame& m) {
  const std::vector<Group> groups = spot_groups(frame);
  m.n_spots = static_cast<int64_t>(groups.size());
  if (groups.empty()) {
    m.mean_spot_area_px = m.median_spot_area_px = m.single_pixel_share = m.mean_elongation = kNaN;
    m.saturated_spot_area_px = m.saturated_single_share = m.spot_d95_angstrom = kNaN;
    return;
  }
  std::vector<double> areas, d;
  double single = 0, elong = 0, n_shaped = 0, sat_area = 0, sat_single = 0, n_sat = 0;
  for (const Group& g : groups) {
    areas.push_back(static_cast<double>(g.n));
    single += g.n == 1;
    if (g.n >= 2) elong += elongation(g), ++n_shaped;
    if (g.saturated) ++n_sat, sat_area += static_cast<double>(g.n), sat_single += g.n == 1;
    if (geometry) {
      const double n = static_cast<double>(g.n);
      const double res = geometry->resolution_angstrom(g.sx / n, g.sy / n);
      if (std::isfinite(res)) d.push_back(res);
    }
  }
  const double n = static_cast<double>(groups.size());
  double total = 0;
  for (double a : areas) total += a;
  m.mean_spot_area_px = total / n;
  m.single_pixel_share = single / n;
  m.mean_elongation = n_shaped > 0 ? elong / n_shaped : kNaN;
  std::sort(areas.begin(), areas.end());
  m.median_spot_area_px = areas[areas.size() / 2];
  m.saturated_spot_area_px = n_sat > 0 ? sat_area / n_sat : kNaN;
  m.saturated_single_share = n_sat > 0 ? sat_single / n_sat : kNaN;
  m.spot_d95_angstrom = d.size() >= 10 ? percentile_of(d, 5.0) : kNaN;
}

// Azimuthal mean of unmasked pixels ≤ the spot level in bins of `width` of f(pixel).
template <typename Coordinate>
std::vector<double> azimuthal_mean(const ImageView<float>& frame, double lo, double width,
                                   size_t n_bins, Coordinate coordinate) {
  std::vector<double> sum(n_bins, 0.0), count(n_bins, 0.0);
  for (int64_t s = 0; s < frame.n_slow(); ++s) {
    for (int64_t f = 0; f < frame.n_fast(); ++f) {
      if (frame.is_masked(s * frame.n_fast() + f)) continue;
      const float v = frame(s, f);
      if (v > kRealismSpotLevel || v <= 0.0f) continue;
      const double k = (coordinate(static_cast<double>(f), static_cast<double>(s)) - lo) / width;
      if (!(k >= 0.0) || k >= static_cast<double>(n_bins)) continue;
      const auto b = static_cast<size_t>(k);
      sum[b] += v, count[b] += 1.0;
    }
  }
  for (size_t b = 0; b < n_bins; ++b) sum[b] = count[b] > 0 ? sum[b] / count[b] : kNaN;
  return sum;
}

void measure_solvent_ring(const ImageView<float>& frame, const DetectorGeometry& g,
                          RealismFrame& m) {
  m.solvent_ring_d_angstrom = m.solvent_ring_fwhm_inv_angstrom = kNaN;
  constexpr double kLo = 0.10, kWidth = 0.004, kHi = 0.62;
  const auto n_bins = static_cast<size_t>((kHi - kLo) / kWidth);
  const std::vector<double> raw = azimuthal_mean(
      frame, kLo, kWidth, n_bins,
      [&](double f, double s) { return 1.0 / g.resolution_angstrom(f, s); });
  // 5-bin box smoothing over the bins that have pixels.
  std::vector<double> p(n_bins, kNaN);
  for (size_t b = 0; b < n_bins; ++b) {
    double sum = 0, n = 0;
    for (size_t j = b >= 2 ? b - 2 : 0; j <= std::min(n_bins - 1, b + 2); ++j) {
      if (std::isfinite(raw[j])) sum += raw[j], n += 1;
    }
    if (n >= 3) p[b] = sum / n;
  }
  auto s_of = [&](size_t b) { return kLo + (static_cast<double>(b) + 0.5) * kWidth; };
  size_t peak = n_bins;
  for (size_t b = 0; b < n_bins; ++b) {
    if (s_of(b) < 0.2 || s_of(b) > 0.45 || !std::isfinite(p[b])) continue;
    if (peak == n_bins || p[b] > p[peak]) peak = b;
  }
  if (peak == n_bins) return;
  // Lowest points on either side (left: down to 0.1 Å⁻¹; right: up to 0.2 Å⁻¹ past the peak).
  size_t left = n_bins, right = n_bins;
  for (size_t b = 0; b < peak; ++b) {
    if (std::isfinite(p[b]) && (left == n_bins || p[b] < p[left])) left = b;
  }
  for (size_t b = peak + 1; b < n_bins && s_of(b) <= s_of(peak) + 0.2; ++b) {
    if (std::isfinite(p[b]) && (right == n_bins || p[b] < p[right])) right = b;
  }
  if (left == n_bins || right == n_bins) return;
  // A maximum at the edge of its search window is no ring maximum.
  if (left + 1 >= peak || peak + 1 >= right) return;
  auto baseline = [&](size_t b) {
    const double t = (s_of(b) - s_of(left)) / (s_of(right) - s_of(left));
    return p[left] + t * (p[right] - p[left]);
  };
  const double height = p[peak] - baseline(peak);
  if (!(height > 0.5)) return;  // under half a level: no ring
  auto crossing = [&](int step) {
    for (auto b = static_cast<ptrdiff_t>(peak);; b += step) {
      const auto next = b + step;
      if (next < static_cast<ptrdiff_t>(left) || next > static_cast<ptrdiff_t>(right)) return kNaN;
      const auto nb = static_cast<size_t>(next);
      const double e0 = p[static_cast<size_t>(b)] - baseline(static_cast<size_t>(b));
      const double e1 = p[nb] - baseline(nb);
      if (e1 <= 0.5 * height) {
        const double t = (e0 - 0.5 * height) / std::max(e0 - e1, 1e-12);
        return std::abs(s_of(static_cast<size_t>(b)) + step * t * kWidth - s_of(peak));
      }
    }
  };
  const double lo = crossing(-1), hi = crossing(+1);
  m.solvent_ring_d_angstrom = 1.0 / s_of(peak);
  if (std::isfinite(lo) && std::isfinite(hi)) m.solvent_ring_fwhm_inv_angstrom = lo + hi;
  else if (std::isfinite(lo)) m.solvent_ring_fwhm_inv_angstrom = 2.0 * lo;
}

void measure_ice_ring(const ImageView<float>& frame, const DetectorGeometry& g, RealismFrame& m) {
  m.ice_ring_sigma_px = m.ice_ring_saturated_share = kNaN;
  const std::optional<double> r0 = g.radius_px_for_resolution(kRealismIceRingD);
  if (!r0 || *r0 < 10.0) return;
  constexpr double kHalf = 6.0, kWidth = 0.25;
  const auto n_bins = static_cast<size_t>(2.0 * kHalf / kWidth);
  auto radius = [&](double f, double s) { return g.radius_px(f, s); };
  // Saturation: all pixels within ±2 px (spot-level ones included).
  double n_ring = 0, n_sat = 0;
  std::vector<double> sum(n_bins, 0.0), count(n_bins, 0.0);
  for (int64_t s = 0; s < frame.n_slow(); ++s) {
    for (int64_t f = 0; f < frame.n_fast(); ++f) {
      if (frame.is_masked(s * frame.n_fast() + f)) continue;
      const double dr = radius(static_cast<double>(f), static_cast<double>(s)) - *r0;
      if (std::abs(dr) >= kHalf) continue;
      const float v = frame(s, f);
      if (std::abs(dr) <= 2.0) n_ring += 1, n_sat += v >= 255.0f;
      const auto b = static_cast<size_t>((dr + kHalf) / kWidth);
      if (b < n_bins) sum[b] += v, count[b] += 1.0;
    }
  }
  if (n_ring < 20) return;
  m.ice_ring_saturated_share = n_sat / n_ring;
  // Straight baseline fitted to the flanks (3 ≤ |dr| < 6 px), excess read within ±3 px.
  double sx = 0, sy = 0, sxx = 0, sxy = 0, n = 0;
  std::vector<double> r(n_bins), mean(n_bins, kNaN);
  for (size_t b = 0; b < n_bins; ++b) {
    r[b] = -kHalf + (static_cast<double>(b) + 0.5) * kWidth;
    if (count[b] == 0) continue;
    mean[b] = sum[b] / count[b];
    if (std::abs(r[b]) >= 3.0) sx += r[b], sy += mean[b], sxx += r[b] * r[b], sxy += r[b] * mean[b], n += 1;
  }
  if (n < 4) return;
  const double slope = (n * sxy - sx * sy) / std::max(n * sxx - sx * sx, 1e-12);
  const double icept = (sy - slope * sx) / n;
  double w = 0, wr = 0, wrr = 0;
  for (size_t b = 0; b < n_bins; ++b) {
    if (std::abs(r[b]) >= 3.0 || !std::isfinite(mean[b])) continue;
    const double e = mean[b] - (icept + slope * r[b]);
    if (e <= 0) continue;
    w += e, wr += e * r[b], wrr += e * r[b] * r[b];
  }
  if (!(w > 2.0)) return;  // no ring above the flanks
  const double centre = wr / w;
  m.ice_ring_sigma_px = std::sqrt(std::max(0.0, wrr / w - centre * centre));
}

double noise_sigma(const ImageView<float>& frame) {
  double sum = 0, n = 0;
  for (int64_t s = 0; s < frame.n_slow(); ++s) {
    for (int64_t f = 0; f + 1 < frame.n_fast(); ++f) {
      if (frame.is_masked(s * frame.n_fast() + f) || frame.is_masked(s * frame.n_fast() + f + 1)) continue;
      const float a = frame(s, f), b = frame(s, f + 1);
      if (a <= 0.0f || a >= 255.0f || b <= 0.0f || b >= 255.0f) continue;
      const double d = static_cast<double>(a) - static_cast<double>(b);
      if (std::abs(d) > 20.0) continue;
      sum += d * d, n += 1;
    }
  }
  return n > 0 ? std::sqrt(0.5 * sum / n) : kNaN;
}

}  // namespace

RealismFrame measure_realism(const ImageView<float>& frame,
                             const std::optional<DetectorGeometry>& geometry) {
  RealismFrame m;
  measure_spots(frame, geometry, m);
  if (geometry) {
    measure_solvent_ring(frame, *geometry, m);
    measure_ice_ring(frame, *geometry, m);
  } else {
    m.solvent_ring_d_angstrom = m.solvent_ring_fwhm_inv_angstrom = kNaN;
    m.ice_ring_sigma_px = m.ice_ring_saturated_share = kNaN;
  }
  m.noise_sigma = noise_sigma(frame);
  return m;
}

}  // namespace difftriage::dataset
