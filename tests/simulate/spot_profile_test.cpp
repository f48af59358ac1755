// The physics that sets spot and ring profiles, each pinned on a hand-checkable case: spot width
// against crystal size (the Scherrer cone), sub-spot count against mosaic-block count, narrow
// spots integrated over pixels, ice-ring width against crystallite size and grain counts against
// crystallite size and ice volume.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <tuple>
#include <vector>

#include "difftriage/simulate/render.h"
#include "difftriage/simulate/scene.h"

namespace difftriage::simulate {
namespace {

constexpr double kDeg = M_PI / 180.0;

// λ = 1 Å, D = 100 mm, 0.1 mm pixels, 1024², no point spread, divergence or bandwidth.
FrameSpec sharp_spec() {
  FrameSpec s;
  s.geometry = DetectorGeometry{1.0, 100.0, 0.1, 512.0, 512.0, 1024, 1024};
  s.polarization_fraction = 0.5;
  s.background.solvent = false;
  s.background.air_photons = 0.0;
  s.background.beamstop_radius_px = 0.0;
  s.background.beamstop_arm_width_px = 0.0;
  s.detector.point_spread_px = 0.0;
  return s;
}

// A 40 Å cubic crystal turned so that reflection hkl sits exactly on the Ewald sphere at
// azimuth 0 (2θ from Bragg's law).
CrystalSpec crystal_with_reflection_on_sphere(const FrameSpec& s, Vec3 hkl, double* two_theta) {
  CrystalSpec c;
  c.cell = {40.0, 40.0, 40.0, 90.0, 90.0, 90.0};
  c.mosaic_deg = 1e-6;
  c.b_factor_angstrom2 = 0.0;
  c.photons_scale = 1e4;
  c.structure_seed = 5;
  const double lambda = s.geometry.wavelength_angstrom;
  *two_theta = 2.0 * std::asin(lambda / (2.0 * 40.0 / norm(hkl)));
  const Vec3 s1{std::sin(*two_theta), 0.0, std::cos(*two_theta)};
  const Vec3 q = (1.0 / lambda) * (s1 - kBeamDirection);
  const Vec3 g0 = (1.0 / 40.0) * hkl;
  const double angle = std::acos(std::clamp(dot(normalized(g0), normalized(q)), -1.0, 1.0));
  c.pieces = {SubCrystal{rotation_about_axis(cross(g0, q), angle), 1.0}};
  return c;
}

const Reflection* find(const std::vector<Reflection>& refl, int h, int k, int l) {
  for (const Reflection& r : refl) {
    if (r.h == h && r.k == k && r.l == l) return &r;
  }
  return nullptr;
}

TEST(SpotProfile, SpotWidthFollowsTheCrystalsDiffractionCone) {
  // A crystal L long diffracts into Δ2θ with σ = λ·0.5/L; on the detector that is
  // D/(pixel·cos²2θ)·λ·0.5/L pixels, in both directions. By hand for L = 0.01 µm = 100 Å,
  // λ = 1 Å, D/pixel = 1000: σ = 1000·0.005/cos²2θ = 5/cos²2θ px; ten times narrower at 0.1 µm.
  for (double l_um : {0.01, 0.1}) {
    FrameSpec s = sharp_spec();
    double two_theta = 0;
    CrystalSpec c = crystal_with_reflection_on_sphere(s, Vec3{4, 3, 2}, &two_theta);
    c.domain_size_um = l_um;
    s.crystals = {c};
    const auto refl = predict_reflections(s);
    const Reflection* r = find(refl, 4, 3, 2);
    ASSERT_NE(r, nullptr);
    const double cos2 = std::cos(two_theta) * std::cos(two_theta);
    const double expected = 1000.0 * 1.0 * 0.5 / (l_um * 1e4) / cos2;
    EXPECT_NEAR(r->sigma_radial_px, expected, 1e-6 * expected) << l_um << " µm";
    EXPECT_NEAR(r->sigma_tangential_px, expected, 1e-6 * expected) << l_um << " µm";
  }
}

TEST(SpotProfile, EachDiscreteMosaicBlockGivesItsOwnSubSpot) {
  // A 3° spread of blocks over a 0.01 µm crystal (reciprocal points wide enough that every block
  // reflects 864, at r ≈ 277 px, so the blocks' spots lie pixels apart): one sub-spot per block,
  // holding at most its block's share of the volume. (Blocks whose spots fall within 0.5 px of
  // each other are merged into one spot by design; this seed has none.)
  for (int32_t n_domains : {1, 3, 7}) {
    FrameSpec s = sharp_spec();
    double two_theta = 0;
    CrystalSpec c = crystal_with_reflection_on_sphere(s, Vec3{8, 6, 4}, &two_theta);
    c.mosaic_deg = 3.0;
    c.n_domains = n_domains;
    c.domain_seed = 17;
    c.domain_size_um = 0.01;
    s.crystals = {c};
    const auto refl = predict_reflections(s);
    int n = 0;
    for (const Reflection& r : refl) {
      if (r.h != 8 || r.k != 6 || r.l != 4) continue;
      ++n;
      EXPECT_LE(r.partiality, 1.0 / n_domains + 1e-9);
    }
    EXPECT_EQ(n, n_domains) << n_domains << " blocks";
  }
}

TEST(SpotProfile, NarrowSpotsAreIntegratedOverPixelsAndKeepTheirPhotons) {
  // σ = 0.05 px at a pixel centre: the pixel holds all but erf-tails of it; at a pixel corner the
  // four pixels share it equally. Photons are conserved either way.
  for (const auto& [fast, slow, share] : {std::tuple{10.0, 12.0, 1.0}, {10.5, 12.5, 0.25}}) {
    Image<float> img(32, 32, 0.0f);
    Reflection r;
    r.fast_px = fast, r.slow_px = slow;
    r.photons = 1000.0;
    r.sigma_radial_px = r.sigma_tangential_px = 0.05;
    add_spots(img, {r});
    double total = 0;
    for (int64_t i = 0; i < img.size(); ++i) total += img.data()[i];
    EXPECT_NEAR(total, 1000.0, 1e-2);
    EXPECT_NEAR(img(12, 10), 1000.0 * share, 1.0);
  }
}

TEST(SpotProfile, IceRingWidthFollowsScherrer) {
  // Ring 3.897 Å at λ = 1 Å: θ = asin(1/7.794); Scherrer FWHM Δ2θ = 0.94·λ/(L·cos θ), σ =
  // FWHM/2.3548, on the detector × D/(pixel·cos²2θ). By hand for L = 50 nm = 500 Å.
  FrameSpec s = sharp_spec();
  s.ice.present = true;
  s.ice.crystallite_nm = 50.0;
  s.ice.volume_um3 = 1e5;  // many grains: a smooth ring
  s.ice.peak_photons = 1000.0;
  const double theta = std::asin(1.0 / (2.0 * 3.897));
  const double fwhm = 0.94 * 1.0 / (500.0 * std::cos(theta));
  const double expected = fwhm / 2.3548200450309493 * 1000.0 / std::pow(std::cos(2 * theta), 2);
  const auto widths = ice_ring_widths_px(s);
  EXPECT_NEAR(widths[0], expected, 1e-9 * expected);
  // Five times smaller crystallites: five times wider rings.
  s.ice.crystallite_nm = 10.0;
  EXPECT_NEAR(ice_ring_widths_px(s)[0], 5.0 * expected, 1e-9 * expected);

  // The rendered ring's radial σ along +fast (second moment of the profile) is that width.
  s.ice.crystallite_nm = 50.0;
  const Image<float> img = render_background(s);
  const double r0 = *s.geometry.radius_px_for_resolution(3.897);
  double w = 0, wr = 0, wrr = 0;
  for (int i = -8; i <= 8; ++i) {
    const auto x = static_cast<int64_t>(std::floor(512.0 + r0)) + i;
    const double r = x + 0.5 - 512.0 - r0;
    const double v = img(512, x);
    w += v, wr += v * r, wrr += v * r * r;
  }
  const double mean = wr / w;
  EXPECT_NEAR(std::sqrt(wrr / w - mean * mean), expected, 0.1);  // sampled at pixel centres
}

TEST(SpotProfile, IceGrainsFollowCrystalliteSizeAndVolume) {
  // N = V/L³ crystallites, m·Δθ·cos θ/2 of them in reflecting position with Δθ ∝ 1/L: doubling L
  // divides the grains by 16, doubling the volume doubles them.
  FrameSpec s = sharp_spec();
  s.ice.present = true;
  s.ice.crystallite_nm = 40.0;
  s.ice.volume_um3 = 10.0;
  const double base = ice_grain_counts(s)[0];
  EXPECT_GT(base, 0.0);
  s.ice.crystallite_nm = 80.0;
  EXPECT_NEAR(ice_grain_counts(s)[0], base / 16.0, 1e-9 * base);
  s.ice.crystallite_nm = 40.0;
  s.ice.volume_um3 = 20.0;
  EXPECT_NEAR(ice_grain_counts(s)[0], 2.0 * base, 1e-9 * base);
  // By hand: L = 40 nm, V = 20 µm³: N = 2e10/64000 = 312500; FWHM = 0.94/(400·cos θ);
  // multiplicity 6: n = N·6·FWHM/4·cos θ = 312500·6·0.94/1600.
  EXPECT_NEAR(ice_grain_counts(s)[0], 312500.0 * 6.0 * 0.94 / 1600.0, 1e-6);

  // Few grains make a spotty ring, many a smooth one: the azimuthal spread of the ring's
  // intensity (coefficient of variation on the ring's radius) is much larger.
  auto azimuthal_cv = [](FrameSpec spec) {
    spec.ice.peak_photons = 1000.0;
    spec.ice.grain_seed = 3;
    const Image<float> img = render_background(spec);
    const double r0 = *spec.geometry.radius_px_for_resolution(3.897);
    std::vector<double> v;
    for (int a = 0; a < 720; ++a) {
      const double phi = a * 0.5 * kDeg;
      const auto x = static_cast<int64_t>(512.0 - 0.5 + r0 * std::cos(phi) + 0.5);
      const auto y = static_cast<int64_t>(512.0 - 0.5 + r0 * std::sin(phi) + 0.5);
      v.push_back(img(y, x));
    }
    const double mean = std::accumulate(v.begin(), v.end(), 0.0) / v.size();
    double var = 0;
    for (double x : v) var += (x - mean) * (x - mean);
    return std::sqrt(var / v.size()) / mean;
  };
  FrameSpec few = s, many = s;
  few.ice.crystallite_nm = 200.0, few.ice.volume_um3 = 3.0;   // a handful of grains
  many.ice.crystallite_nm = 10.0, many.ice.volume_um3 = 300.0;  // millions
  EXPECT_LT(ice_grain_counts(few)[0], 5.0);
  EXPECT_GT(ice_grain_counts(many)[0], 1e6);
  EXPECT_GT(azimuthal_cv(few), 1.0);
  EXPECT_LT(azimuthal_cv(many), 0.1);
}

}  // namespace
}  // namespace difftriage::simulate
