#include "difftriage/simulate/render.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "difftriage/simulate/random.h"

namespace difftriage::simulate {
namespace {

constexpr double kFwhmToSigma = 1.0 / 2.3548200450309493;  // 2·sqrt(2 ln 2)
constexpr double kDeg = M_PI / 180.0;

struct Interval {
  double lo, hi;
};

// Real roots of a x² + 2 b x + c = 0 as an interval; empty (lo > hi) if none.
Interval quadratic_roots(double a, double b, double c) {
  const double disc = b * b - a * c;
  if (disc < 0.0) return {1.0, 0.0};
  const double s = std::sqrt(disc);
  return {(-b - s) / a, (-b + s) / a};
}

// One discrete mosaic block: its lab-frame rotation R = exp([ω]×) (applied after the piece's
// orientation) and rotation vector ω (rad).
struct Block {
  Mat3 rotation;
  Vec3 omega;
  double angle = 0.0;  // |ω|
};

// The blocks of a crystal with CrystalSpec::n_domains > 0, drawn from its domain_seed: ω has
// three independent Gaussian components of σ = mosaic FWHM / 2.3548, so the blocks' tilt about
// any axis has the crystal's mosaic FWHM (the definition of the continuous model).
std::vector<Block> draw_blocks(const CrystalSpec& crystal) {
  std::vector<Block> out;
  Rng rng(crystal.domain_seed);
  const double sigma = crystal.mosaic_deg * kDeg * kFwhmToSigma;
  for (int32_t j = 0; j < crystal.n_domains; ++j) {
    Block b;
    b.omega = Vec3{sigma * rng.normal(), sigma * rng.normal(), sigma * rng.normal()};
    b.angle = norm(b.omega);
    if (b.angle > 0.0) b.rotation = rotation_about_axis(b.omega, b.angle);
    out.push_back(b);
  }
  return out;
}

void predict_piece(const FrameSpec& spec, int16_t ci, int16_t pi, const PredictOptions& opt,
                   std::vector<Reflection>& out) {
  const DetectorGeometry& g = spec.geometry;
  const CrystalSpec& crystal = spec.crystals[static_cast<size_t>(ci)];
  const SubCrystal& piece = crystal.pieces[static_cast<size_t>(pi)];
  const double inv_lambda = 1.0 / g.wavelength_angstrom;
  const Vec3 k_in = inv_lambda * kBeamDirection;
  const Mat3 ub = piece.orientation * reciprocal_basis(crystal.cell);
  const Mat3 a_real = direct_basis(crystal.cell);
  const double edge[3] = {norm(a_real.column(0)), norm(a_real.column(1)), norm(a_real.column(2))};

  // Loop order: the longest real-space edge (densest reciprocal rows) is solved analytically.
  int inner = 0;
  for (int j = 1; j < 3; ++j)
    if (edge[j] > edge[inner]) inner = j;
  const int outer1 = (inner + 1) % 3, outer2 = (inner + 2) % 3;

  // Discrete blocks: each block is a sharp crystal (no mosaic term in its own shell); block j
  // moves a point by |ω_j|·|g| at most, so the union of the blocks' shells lies within
  // max|ω|·|g| of the piece's own.
  const bool discrete = crystal.n_domains > 0;
  const std::vector<Block> blocks = discrete ? draw_blocks(crystal) : std::vector<Block>{};
  double max_block_angle = 0.0;
  // The blocks' ω and |ω|² as flat arrays: the per-candidate screen below runs over every block
  // and vectorises.
  const size_t n_blocks = blocks.size();
  std::vector<double> wx(n_blocks), wy(n_blocks), wz(n_blocks), w2(n_blocks);
  for (size_t j = 0; j < n_blocks; ++j) {
    const Block& b = blocks[j];
    max_block_angle = std::max(max_block_angle, b.angle);
    wx[j] = b.omega.x, wy[j] = b.omega.y, wz[j] = b.omega.z, w2[j] = b.angle * b.angle;
  }
  std::vector<uint8_t> hit(n_blocks);
  const double block_weight = discrete ? 1.0 / static_cast<double>(crystal.n_domains) : 1.0;

  const double g_max = 1.0 / (0.995 * g.corner_resolution_angstrom());
  const double g_min = 1.0 / opt.max_d_angstrom;
  const double sigma_mosaic = discrete ? 0.0 : crystal.mosaic_deg * kDeg * kFwhmToSigma;
  const double sigma_div = spec.divergence_deg * kDeg;
  const double sigma_angle = std::sqrt(sigma_mosaic * sigma_mosaic + sigma_div * sigma_div);
  const double sigma_size = 0.5 / (crystal.domain_size_um * 1e4);  // 1/L with L in Å
  auto sigma_eps = [&](double gl) {
    const double a = gl * sigma_angle;
    const double b = 0.5 * gl * gl * g.wavelength_angstrom * spec.bandwidth;
    return std::sqrt(sigma_size * sigma_size + a * a + b * b);
  };
  const double n_sigma = std::sqrt(-2.0 * std::log(opt.min_partiality));
  // Widest shell half-thickness, Å⁻¹.
  const double delta = n_sigma * sigma_eps(g_max) + max_block_angle * g_max;
  const double r_hi = inv_lambda + delta, r_lo = std::max(0.0, inv_lambda - delta);

  const Vec3 m1 = ub.column(outer1), m2 = ub.column(outer2), m3 = ub.column(inner);
  const int n1 = static_cast<int>(std::floor(g_max * edge[outer1]));
  const int n2 = static_cast<int>(std::floor(g_max * edge[outer2]));
  const double a3 = dot(m3, m3);
  const double sigma_psf = spec.detector.point_spread_px;
  const double pol = spec.polarization_fraction;
  const double margin = 4.0;

  // One spot of reflection hkl diffracted with scattering vector `gv` (lab frame), excitation
  // error `eps` and partiality `partiality`, by `volume` of the piece (1, or 1/n_domains for one
  // block). A block spot within 0.5 px of an earlier block spot of the same reflection is merged
  // into it (small spreads put several blocks on one pixel; one splat is cheaper than many).
  double wilson = -1.0;  // |F|²·Debye–Waller of the current hkl, computed on first use
  size_t hkl_first = 0;  // index in `out` of the current hkl's first spot
  auto emit = [&](const int hkl[3], const Vec3& gv, double gl, double eps, double partiality,
                  double volume) {
    const Vec3 k_out = k_in + gv;
    const double k_len = norm(k_out);
    const Vec3 s1 = (1.0 / k_len) * k_out;
    const auto px = g.project_ray_px(s1);
    if (!px) return;
    const double fast = (*px)[0], slow = (*px)[1];
    if (fast < -margin || slow < -margin || fast > g.n_fast - 1 + margin ||
        slow > g.n_slow - 1 + margin)
      return;
    if (wilson < 0.0) {
      wilson = wilson_intensity(crystal.structure_seed, hkl[0], hkl[1], hkl[2]) *
               std::exp(-0.5 * crystal.b_factor_angstrom2 * gl * gl);
    }
    // Polarisation: P = 1 − f·s1x² − (1 − f)·s1y² (f = fraction polarised along x);
    // Debye–Waller exp(−B/(2d²)) = exp(−B·g²/2). No cos³2θ pixel solid angle (unlike the diffuse
    // background): a spot's photons are scattered into a solid angle fixed in reciprocal space
    // (d²q = dΩ/λ²) and all reach the detector; obliquity only spreads them over more pixels,
    // which matters for streaks (their widths are in pixels already) but not for a spot within
    // the point spread. Applying it dimmed 2.5 Å spots ~1.8× against low-resolution ones.
    const double polarisation = 1.0 - pol * s1.x * s1.x - (1.0 - pol) * s1.y * s1.y;
    const double fraction = volume * partiality;
    const double photons_per_scale = piece.weight * wilson * fraction * polarisation;
    for (size_t k = hkl_first; k < out.size(); ++k) {
      Reflection& q = out[k];
      if (std::abs(q.fast_px - fast) < 0.5 && std::abs(q.slow_px - slow) < 0.5) {
        const double w = photons_per_scale / (q.photons_per_scale + photons_per_scale);
        q.fast_px += w * (fast - q.fast_px), q.slow_px += w * (slow - q.slow_px);
        q.excitation_error += w * (eps - q.excitation_error);
        q.partiality += fraction;
        q.photons_per_scale += photons_per_scale;
        q.photons = crystal.photons_scale * q.photons_per_scale;
        return;
      }
    }
    Reflection r;
    r.h = hkl[0], r.k = hkl[1], r.l = hkl[2];
    r.crystal = ci, r.piece = pi;
    r.fast_px = fast, r.slow_px = slow;
    r.d_angstrom = 1.0 / gl;
    r.excitation_error = eps;
    r.partiality = fraction;
    r.photons_per_scale = photons_per_scale;
    r.photons = crystal.photons_scale * r.photons_per_scale;
    const double dxp = fast + 0.5 - g.beam_center_fast_px;
    const double dyp = slow + 0.5 - g.beam_center_slow_px;
    const double rad = std::sqrt(dxp * dxp + dyp * dyp);  // (std::hypot is slow in glibc)
    if (rad > 1e-9) r.radial_cos = dxp / rad, r.radial_sin = dyp / rad;
    // Continuous mosaic: the blocks in reflecting position form a continuum of rotations that
    // move the spot along its ring by r·σ_mosaic. A discrete block is sharp.
    const double tangential = rad * sigma_mosaic;
    // On a flat detector an angular spread Δ2θ of the diffracted ray spreads the spot by
    // Δr = D/cos²2θ · Δ2θ (radially; tangentially by D/cos 2θ · Δ2θ, taken equal here).
    const double cz = std::clamp(s1.z, -1.0, 1.0);
    const double px_per_rad = g.distance_mm / (cz * cz) / g.pixel_size_mm;
    // Bandwidth: Δ2θ = 2 tan θ · Δλ/λ, radial only. tan θ = sin 2θ / (1 + cos 2θ), with
    // cos 2θ = s1.z (no acos/tan per reflection).
    const double tan_theta = std::sqrt(std::max(0.0, 1.0 - cz * cz)) / (1.0 + cz);
    const double radial = px_per_rad * 2.0 * tan_theta * spec.bandwidth;
    // Isotropic terms: the incident beam's divergence tilts the diffracted ray by as much, and a
    // crystal L long diffracts into a cone of Δ2θ ≈ λ·σ_s with σ_s = 0.5/L its reciprocal
    // point's σ (Scherrer): sub-pixel for micron crystals, pixels for 10 nm ones.
    const double size_px = px_per_rad * g.wavelength_angstrom * sigma_size;
    const double divergence_px = px_per_rad * sigma_div;
    const double isotropic2 =
        sigma_psf * sigma_psf + size_px * size_px + divergence_px * divergence_px;
    r.sigma_tangential_px = std::sqrt(isotropic2 + tangential * tangential);
    r.sigma_radial_px = std::sqrt(isotropic2 + radial * radial);
    out.push_back(r);
  };

  out.reserve(out.size() + 16384);
  for (int i1 = -n1; i1 <= n1; ++i1) {
    for (int i2 = -n2; i2 <= n2; ++i2) {
      const Vec3 v = k_in + static_cast<double>(i1) * m1 + static_cast<double>(i2) * m2;
      // |v + l·m3|² between r_lo² and r_hi²: l in the outer roots minus the inner ones.
      const double b = dot(v, m3), c = dot(v, v);
      const Interval outer = quadratic_roots(a3, b, c - r_hi * r_hi);
      if (outer.lo > outer.hi) continue;
      const Interval hole = quadratic_roots(a3, b, c - r_lo * r_lo);
      Interval parts[2] = {outer, {1.0, 0.0}};
      if (hole.lo <= hole.hi) parts[0] = {outer.lo, hole.lo}, parts[1] = {hole.hi, outer.hi};
      for (const Interval& part : parts) {
        if (part.lo > part.hi) continue;
        for (int i3 = static_cast<int>(std::ceil(part.lo)); i3 <= static_cast<int>(std::floor(part.hi));
             ++i3) {
          int hkl[3];
          hkl[outer1] = i1, hkl[outer2] = i2, hkl[inner] = i3;
          if (hkl[0] == 0 && hkl[1] == 0 && hkl[2] == 0) continue;
          const Vec3 gv = static_cast<double>(i1) * m1 + static_cast<double>(i2) * m2 +
                          static_cast<double>(i3) * m3;
          const double gl = norm(gv);
          if (gl > g_max || gl < g_min) continue;
          const double eps = norm(k_in + gv) - inv_lambda;
          const double se = sigma_eps(gl);
          // partiality ≥ min_partiality ⇔ |ε| ≤ n_sigma·σ_ε: test before paying for the exp.
          const double reach = n_sigma * se;
          wilson = -1.0;
          hkl_first = out.size();
          if (!discrete) {
            if (std::abs(eps) > reach) continue;
            const double partiality = std::exp(-0.5 * eps * eps / (se * se));
            if (is_systematically_absent(crystal.space_group, hkl[0], hkl[1], hkl[2])) continue;
            emit(hkl, gv, gl, eps, partiality, 1.0);
            continue;
          }
          if (std::abs(eps) > reach + max_block_angle * gl) continue;
          if (is_systematically_absent(crystal.space_group, hkl[0], hkl[1], hkl[2])) continue;
          // First order in ω: R·g = g + ω×g + O(|ω|²|g|/2), so ε_j ≈ ε + (ω×g)·k̂_out =
          // ε + ω·(g×k̂_out). The second-order terms (the rotation's and the sphere's curvature,
          // ≤ |ω|²|g|/2 + λ|ω|²|g|²/2) are the margin of this cheap test; survivors are exact.
          const Vec3 k_out = k_in + gv;
          const Vec3 gxk = (1.0 / (inv_lambda + eps)) * cross(gv, k_out);
          const double curvature = gl * (0.5 + 0.5 * g.wavelength_angstrom * gl);
          bool any = false;
          for (size_t j = 0; j < n_blocks; ++j) {
            const double e = eps + wx[j] * gxk.x + wy[j] * gxk.y + wz[j] * gxk.z;
            hit[j] = std::abs(e) <= reach + w2[j] * curvature;
            any |= hit[j] != 0;
          }
          if (!any) continue;
          for (size_t j = 0; j < n_blocks; ++j) {
            if (!hit[j]) continue;
            const Vec3 gj = blocks[j].rotation * gv;
            const double eps_j = norm(k_in + gj) - inv_lambda;
            if (std::abs(eps_j) > reach) continue;
            const double partiality = std::exp(-0.5 * eps_j * eps_j / (se * se));
            emit(hkl, gj, gl, eps_j, partiality, block_weight);
          }
        }
      }
    }
  }
}

// Radial lookup tables of one frame (flat detector ⟂ beam: every radial quantity depends only on
// the distance r from the beam centre). Sampled every 1/kTableStep px, linearly interpolated.
constexpr double kTableStep = 4.0;

}  // namespace

std::vector<Reflection> predict_reflections(const FrameSpec& spec, const PredictOptions& options) {
  validate_simulated_geometry(spec.geometry);
  std::vector<Reflection> out;
  for (size_t ci = 0; ci < spec.crystals.size(); ++ci) {
    for (size_t pi = 0; pi < spec.crystals[ci].pieces.size(); ++pi) {
      predict_piece(spec, static_cast<int16_t>(ci), static_cast<int16_t>(pi), options, out);
    }
  }
  return out;
}

double spot_peak_fraction(const Reflection& r) noexcept {
  const double sr2 = r.sigma_radial_px * r.sigma_radial_px + 1.0 / 12.0;
  const double st2 = r.sigma_tangential_px * r.sigma_tangential_px + 1.0 / 12.0;
  return std::min(1.0, 1.0 / (2.0 * M_PI * std::sqrt(sr2 * st2)));
}

namespace {

// Scherrer FWHM (rad, in 2θ) of ring k and the beam divergence, combined; 2θ of the ring.
struct RingAngles {
  bool reachable = false;
  double two_theta = 0.0;
  double fwhm_2theta = 0.0;
};

RingAngles ice_ring_angles(const FrameSpec& spec, int k) {
  RingAngles a;
  const DetectorGeometry& g = spec.geometry;
  const auto two_theta = g.two_theta_rad_for_resolution(kIceRingD[k]);
  if (!two_theta || *two_theta >= 0.5 * M_PI) return a;
  a.reachable = true;
  a.two_theta = *two_theta;
  const double scherrer = 0.94 * g.wavelength_angstrom /
                          (spec.ice.crystallite_nm * 10.0 * std::cos(0.5 * *two_theta));
  const double divergence = 2.3548200450309493 * spec.divergence_deg * kDeg;
  a.fwhm_2theta = std::sqrt(scherrer * scherrer + divergence * divergence);
  return a;
}

}  // namespace

std::array<double, 8> ice_ring_widths_px(const FrameSpec& spec) {
  std::array<double, 8> out{};
  const DetectorGeometry& g = spec.geometry;
  const double psf = spec.detector.point_spread_px;
  for (int k = 0; k < 8; ++k) {
    const RingAngles a = ice_ring_angles(spec, k);
    if (!a.reachable) continue;
    const double c = std::cos(a.two_theta);
    const double sigma = a.fwhm_2theta * kFwhmToSigma * g.distance_mm / (c * c) / g.pixel_size_mm;
    out[static_cast<size_t>(k)] = std::sqrt(sigma * sigma + psf * psf);
  }
  return out;
}

std::array<double, 8> ice_grain_counts(const FrameSpec& spec) {
  std::array<double, 8> out{};
  const double l_nm = spec.ice.crystallite_nm;
  const double n_crystallites = spec.ice.volume_um3 * 1e9 / (l_nm * l_nm * l_nm);
  for (int k = 0; k < 8; ++k) {
    const RingAngles a = ice_ring_angles(spec, k);
    if (!a.reachable) continue;
    const double half_theta_width = 0.25 * a.fwhm_2theta;  // Δθ = FWHM(2θ)/2, then /2 again
    out[static_cast<size_t>(k)] = n_crystallites * kIceRingMultiplicity[k] * half_theta_width *
                                  std::cos(0.5 * a.two_theta);
  }
  return out;
}

Image<float> render_background(const FrameSpec& spec) {
  const DetectorGeometry& g = spec.geometry;
  validate_simulated_geometry(g);
  const BackgroundSpec& bg = spec.background;
  const IceSpec& ice = spec.ice;
  Image<float> out(g.n_slow, g.n_fast, 0.0f);

  const double r_max = g.corner_radius_px();
  const size_t n_table = static_cast<size_t>(r_max * kTableStep) + 3;

  // Ice ring radii (px) and per-ring peak photons.
  constexpr int kRings = 8;
  double ring_r[kRings];
  double ring_peak[kRings];
  for (int i = 0; i < kRings; ++i) {
    const auto rr = g.radius_px_for_resolution(kIceRingD[i]);
    ring_r[i] = rr ? *rr : -1e9;
    ring_peak[i] = ice.present ? ice.peak_photons * kIceRingRelIntensity[i] : 0.0;
  }

  const std::array<double, 8> ring_sigma = ice_ring_widths_px(spec);
  std::vector<float> t_bg(n_table), t_ice(n_table), t_sin2(n_table);
  std::vector<int8_t> t_ring(n_table, -1);
  const double w2 = 2.0 * bg.solvent_width_inv_angstrom * bg.solvent_width_inv_angstrom;
  const double s_w = 1.0 / bg.solvent_d_angstrom;
  for (size_t i = 0; i < n_table; ++i) {
    const double r = static_cast<double>(i) / kTableStep;
    const double two_theta = g.two_theta_rad_at_radius(r);
    const double s = 2.0 * std::sin(two_theta / 2.0) / g.wavelength_angstrom;  // 1/d
    const double c2t = std::cos(two_theta);
    const double obliquity = c2t * c2t * c2t;
    // Water: main maximum near 3.0–3.7 Å plus its weaker second maximum near 2.1 Å.
    double solvent = 0.0;
    if (bg.solvent) {
      solvent = bg.solvent_peak_photons *
                (std::exp(-(s - s_w) * (s - s_w) / w2) +
                 0.3 * std::exp(-(s - 0.47) * (s - 0.47) / (2.0 * 0.1 * 0.1)));
    }
    const double air =
        bg.air_photons * (0.3 + 0.7 * std::exp(-two_theta / (bg.air_falloff_deg * kDeg)));
    t_bg[i] = static_cast<float>((solvent + air) * obliquity);
    t_sin2[i] = static_cast<float>(std::sin(two_theta) * std::sin(two_theta));
    if (ice.present) {
      double total = 0.0, best = 0.0;
      for (int k = 0; k < kRings; ++k) {
        const double dr = r - ring_r[k];
        const double sigma = ring_sigma[static_cast<size_t>(k)];
        if (!(sigma > 0.0) || std::abs(dr) > 6.0 * sigma) continue;
        const double v = ring_peak[k] * std::exp(-0.5 * dr * dr / (sigma * sigma));
        total += v;
        if (v > best) best = v, t_ring[i] = static_cast<int8_t>(k);
      }
      t_ice[i] = static_cast<float>(total * obliquity);
    }
  }

  // Grain modulation along each ring: the ring is the sum of its crystallites in reflecting
  // position (ice_grain_counts), each a spot as wide along the ring as the ring is across, with
  // exponentially distributed intensities, normalised to mean 1. Beyond kMaxDrawnGrains grains
  // the drawn modulation's fluctuation is scaled down by √(kMaxDrawnGrains/n), as a sum of n
  // grains' would be.
  constexpr int kAzBins = 4096;
  constexpr double kMaxDrawnGrains = 20000.0;
  std::vector<std::vector<float>> grain(kRings);
  if (ice.present) {
    Rng rng(ice.grain_seed);
    const std::array<double, 8> n_grains = ice_grain_counts(spec);
    for (int k = 0; k < kRings; ++k) {
      const double n = n_grains[static_cast<size_t>(k)];
      if (!(n > 0.0) || ring_r[k] <= 0.0) continue;
      const auto n_draw = static_cast<int64_t>(std::max(1.0, std::min(n, kMaxDrawnGrains)));
      std::vector<double> m(kAzBins, 0.0);
      const double sigma_bins = std::max(
          0.7, ring_sigma[static_cast<size_t>(k)] / ring_r[k] * kAzBins / (2.0 * M_PI));
      const int half = std::min(kAzBins / 2 - 1, static_cast<int>(std::ceil(4.0 * sigma_bins)));
      // Grain centres on bin centres (4096 bins: 0.09°), so one kernel serves every grain.
      std::vector<double> kernel(static_cast<size_t>(2 * half + 1));
      for (int b = -half; b <= half; ++b) {
        kernel[static_cast<size_t>(b + half)] = std::exp(-0.5 * b * b / (sigma_bins * sigma_bins));
      }
      for (int64_t j = 0; j < n_draw; ++j) {
        const int centre = static_cast<int>(rng.uniform() * kAzBins);
        const double w = rng.exponential();
        for (int b = -half; b <= half; ++b) {
          const int bin = (centre + b + kAzBins) % kAzBins;
          m[static_cast<size_t>(bin)] += w * kernel[static_cast<size_t>(b + half)];
        }
      }
      double mean = 0.0;
      for (double v : m) mean += v;
      mean /= kAzBins;
      const double damp = std::sqrt(static_cast<double>(n_draw) / std::max(n, 1.0));
      grain[k].resize(kAzBins);
      for (int b = 0; b < kAzBins; ++b) {
        grain[k][b] = static_cast<float>(1.0 + damp * (m[b] / mean - 1.0));
      }
    }
  }

  const double pol = spec.polarization_fraction;
  for (int32_t slow = 0; slow < g.n_slow; ++slow) {
    const double dy = slow + 0.5 - g.beam_center_slow_px;
    float* row = out.data() + static_cast<int64_t>(slow) * g.n_fast;
    for (int32_t fast = 0; fast < g.n_fast; ++fast) {
      const double dx = fast + 0.5 - g.beam_center_fast_px;
      const double r2 = dx * dx + dy * dy;
      const double r = std::sqrt(r2);
      const double t = r * kTableStep;
      const auto i0 = static_cast<size_t>(t);
      const double frac = t - static_cast<double>(i0);
      const double cos2 = r2 > 0.0 ? dx * dx / r2 : 0.5;
      // Unpolarised-fraction-weighted Thomson factor: 1 − sin²2θ·(f cos²φ + (1 − f) sin²φ).
      const double sin2 = t_sin2[i0] + frac * (t_sin2[i0 + 1] - t_sin2[i0]);
      const double polarisation = 1.0 - sin2 * (pol * cos2 + (1.0 - pol) * (1.0 - cos2));
      double v = t_bg[i0] + frac * (t_bg[i0 + 1] - t_bg[i0]);
      if (ice.present) {
        const double iv = t_ice[i0] + frac * (t_ice[i0 + 1] - t_ice[i0]);
        if (iv > 0.0) {
          const int ring = t_ring[frac < 0.5 ? i0 : i0 + 1];
          double mod = 1.0;
          if (ring >= 0 && !grain[static_cast<size_t>(ring)].empty()) {
            const double az = std::atan2(dy, dx) + M_PI;  // [0, 2π]
            auto bin = static_cast<int>(az * (kAzBins / (2.0 * M_PI)));
            mod = grain[static_cast<size_t>(ring)][static_cast<size_t>(std::min(bin, kAzBins - 1))];
          }
          v += iv * mod;
        }
      }
      row[fast] = static_cast<float>(v * polarisation);
    }
  }
  return out;
}

namespace {

// A spot narrower than a pixel, integrated over each pixel's area rather than sampled at its
// centre (a sampled σ = 0.1 px Gaussian would miss every centre but one, or all): separable, with
// the ellipse's variances along fast and slow (its small tilt term left out).
void add_narrow_spot(Image<float>& photons, const Reflection& r) {
  const double c = r.radial_cos, s = r.radial_sin;
  const double vr = r.sigma_radial_px * r.sigma_radial_px;
  const double vt = r.sigma_tangential_px * r.sigma_tangential_px;
  const double sx = std::sqrt(c * c * vr + s * s * vt), sy = std::sqrt(s * s * vr + c * c * vt);
  constexpr int kHalf = 3;
  double wx[2 * kHalf + 1], wy[2 * kHalf + 1];
  const auto fx = static_cast<int64_t>(std::lround(r.fast_px));
  const auto fy = static_cast<int64_t>(std::lround(r.slow_px));
  // Pixel k spans [k − 0.5, k + 0.5) in these coordinates (centres at integers).
  auto weights = [](double* w, int64_t centre, double mu, double sigma) {
    const double inv = 1.0 / (std::sqrt(2.0) * std::max(sigma, 1e-6));
    for (int i = -kHalf; i <= kHalf; ++i) {
      const double lo = static_cast<double>(centre + i) - 0.5 - mu;
      w[i + kHalf] = 0.5 * (std::erf((lo + 1.0) * inv) - std::erf(lo * inv));
    }
  };
  weights(wx, fx, r.fast_px, sx);
  weights(wy, fy, r.slow_px, sy);
  for (int j = -kHalf; j <= kHalf; ++j) {
    const int64_t y = fy + j;
    if (y < 0 || y >= photons.n_slow() || wy[j + kHalf] < 1e-9) continue;
    float* row = photons.data() + y * photons.n_fast();
    for (int i = -kHalf; i <= kHalf; ++i) {
      const int64_t x = fx + i;
      if (x < 0 || x >= photons.n_fast()) continue;
      row[x] += static_cast<float>(r.photons * wx[i + kHalf] * wy[j + kHalf]);
    }
  }
}

}  // namespace

void add_spots(Image<float>& photons, const std::vector<Reflection>& reflections) {
  const int64_t n_fast = photons.n_fast(), n_slow = photons.n_slow();
  constexpr double kCut = 16.0;  // Q ≤ 16 ⇔ within 4σ
  for (const Reflection& r : reflections) {
    if (!(r.photons > 1e-3)) continue;
    if (std::max(r.sigma_radial_px, r.sigma_tangential_px) < kNarrowSpotSigmaPx) {
      add_narrow_spot(photons, r);
      continue;
    }
    const double c = r.radial_cos, s = r.radial_sin;
    const double ir = 1.0 / (r.sigma_radial_px * r.sigma_radial_px);
    const double it = 1.0 / (r.sigma_tangential_px * r.sigma_tangential_px);
    // Q(dx, dy) = A dx² + 2B dx dy + C dy², from u = c dx + s dy (radial), v = −s dx + c dy.
    const double qa = c * c * ir + s * s * it;
    const double qb = c * s * (ir - it);
    const double qc = s * s * ir + c * c * it;
    const double norm_factor =
        r.photons / (2.0 * M_PI * r.sigma_radial_px * r.sigma_tangential_px);
    // Along a row Q is quadratic in dx, so exp(−Q/2) follows a multiplicative recurrence:
    // E(dx+1) = E(dx)·R(dx), R(dx+1) = R(dx)·exp(−A). Two exps per row instead of one per pixel.
    const double step_decay = std::exp(-qa);
    // Extent in y of the ellipse Q = kCut: sqrt(kCut·Σyy), Σyy = σr² s² + σt² c².
    const double y_half = std::sqrt(kCut * (s * s / ir + c * c / it));
    const auto y0 = static_cast<int64_t>(std::max<double>(0, std::ceil(r.slow_px - y_half)));
    const auto y1 =
        static_cast<int64_t>(std::min<double>(n_slow - 1, std::floor(r.slow_px + y_half)));
    for (int64_t y = y0; y <= y1; ++y) {
      const double dy = y - r.slow_px;
      const double disc = qb * qb * dy * dy - qa * (qc * dy * dy - kCut);
      if (disc < 0.0) continue;
      const double sq = std::sqrt(disc);
      const double x_lo = r.fast_px + (-qb * dy - sq) / qa;
      const double x_hi = r.fast_px + (-qb * dy + sq) / qa;
      const auto x0 = static_cast<int64_t>(std::max<double>(0, std::ceil(x_lo)));
      const auto x1 = static_cast<int64_t>(std::min<double>(n_fast - 1, std::floor(x_hi)));
      if (x0 > x1) continue;
      float* row = photons.data() + y * n_fast;
      const double dx0 = static_cast<double>(x0) - r.fast_px;
      double value =
          norm_factor * std::exp(-0.5 * (qa * dx0 * dx0 + 2.0 * qb * dx0 * dy + qc * dy * dy));
      double ratio = std::exp(-0.5 * (qa * (2.0 * dx0 + 1.0) + 2.0 * qb * dy));
      for (int64_t x = x0; x <= x1; ++x) {
        row[x] += static_cast<float>(value);
        value *= ratio;
        ratio *= step_decay;
      }
    }
  }
}

namespace {

// The beamstop of a frame with its trigonometry done once (the per-pixel test is then a few
// multiply-adds).
struct BeamstopShape {
  explicit BeamstopShape(const FrameSpec& spec) {
    const DetectorGeometry& g = spec.geometry;
    const BackgroundSpec& bg = spec.background;
    cx = g.beam_center_fast_px - 0.5, cy = g.beam_center_slow_px - 0.5;
    r2 = bg.beamstop_radius_px * bg.beamstop_radius_px;
    ca = std::cos(bg.beamstop_arm_angle_deg * kDeg), sa = std::sin(bg.beamstop_arm_angle_deg * kDeg);
    half_width = 0.5 * bg.beamstop_arm_width_px;
    transmission = bg.beamstop_transmission;
  }
  double factor(double fast, double slow) const noexcept {
    const double dx = fast - cx, dy = slow - cy;
    if (dx * dx + dy * dy <= r2) return transmission;
    const double along = dx * ca + dy * sa, across = -dx * sa + dy * ca;
    if (along > 0.0 && std::abs(across) <= half_width) return transmission;
    return 1.0;
  }
  double cx, cy, r2, ca, sa, half_width, transmission;
};

}  // namespace

double beamstop_factor(const FrameSpec& spec, double fast, double slow) noexcept {
  return BeamstopShape(spec).factor(fast, slow);
}

void apply_beamstop(Image<float>& photons, const FrameSpec& spec) {
  const BeamstopShape shape(spec);
  const auto t = static_cast<float>(shape.transmission);
  for (int64_t slow = 0; slow < photons.n_slow(); ++slow) {
    float* row = photons.data() + slow * photons.n_fast();
    for (int64_t fast = 0; fast < photons.n_fast(); ++fast) {
      if (shape.factor(static_cast<double>(fast), static_cast<double>(slow)) != 1.0) row[fast] *= t;
    }
  }
}

std::vector<double> bright_thresholds(const FrameSpec& spec,
                                      const std::vector<Reflection>& reflections,
                                      const Image<float>& background) {
  const double read_photons =
      spec.detector.readout_noise_adu / spec.detector.gain_adu_per_photon;
  const BeamstopShape shape(spec);
  std::vector<double> out;
  out.reserve(reflections.size());
  for (const Reflection& r : reflections) {
    const auto f = static_cast<int64_t>(std::lround(r.fast_px));
    const auto s = static_cast<int64_t>(std::lround(r.slow_px));
    if (f < 0 || s < 0 || f >= background.n_fast() || s >= background.n_slow()) {
      out.push_back(std::numeric_limits<double>::infinity());
      continue;
    }
    const double b = background(s, f);
    const double peak =
        r.photons * spot_peak_fraction(r) * shape.factor(r.fast_px, r.slow_px);
    const double needed = kBrightSpotSnr * std::sqrt(b + read_photons * read_photons);
    out.push_back(peak > 0.0 ? needed / peak : std::numeric_limits<double>::infinity());
  }
  return out;
}

int64_t count_bright_spots(const FrameSpec& spec, const std::vector<Reflection>& reflections,
                           const Image<float>& background) {
  int64_t n = 0;
  for (double t : bright_thresholds(spec, reflections, background)) n += (t <= 1.0);
  return n;
}

}  // namespace difftriage::simulate
