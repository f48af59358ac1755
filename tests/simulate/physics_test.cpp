// The physics of the rendered frames: Bragg spot positions, ice-ring radii, mosaic widening,
// multilattice copies and spot-free blanks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "difftriage/simulate/detector.h"
#include "difftriage/simulate/render.h"
#include "difftriage/simulate/simulate.h"

namespace difftriage::simulate {
namespace {

constexpr double kDeg = M_PI / 180.0;
// Upper bound of the median 5 %-resolution of bright spots of strong B = 25 frames (Å).
constexpr double kStrongD5Max = 3.3;  // measured 3.06 (continuous mosaic, cos³ on spots: 3.65)

// A quiet test scene: fixed geometry, no solvent, faint air, no beamstop, no ice.
FrameSpec quiet_spec() {
  FrameSpec s;
  s.geometry.wavelength_angstrom = 1.0;
  s.geometry.distance_mm = 100.0;
  s.geometry.pixel_size_mm = 0.1;
  s.geometry.n_fast = s.geometry.n_slow = 1024;
  s.geometry.beam_center_fast_px = 512.3;
  s.geometry.beam_center_slow_px = 511.6;
  s.polarization_fraction = 0.5;
  s.background.solvent = false;
  s.background.solvent_peak_photons = 0.0;
  s.background.air_photons = 0.01;
  s.background.beamstop_radius_px = 0.0;
  s.background.beamstop_arm_width_px = 0.0;
  s.detector.readout_noise_adu = 0.0;
  s.detector.point_spread_px = 0.5;
  s.bin_factor = 2;
  return s;
}

// A 40 Å cubic P1 crystal whose reflection hkl is placed exactly on the Ewald sphere at
// azimuth phi_deg; returns the crystal and the spot position predicted independently from
// Bragg's law and the flat-detector geometry.
struct Placed {
  CrystalSpec crystal;
  double fast, slow;
};
Placed place_reflection(const FrameSpec& s, Vec3 hkl, double phi_deg, double mosaic_deg) {
  CrystalSpec c;
  c.cell = {40.0, 40.0, 40.0, 90.0, 90.0, 90.0};
  c.mosaic_deg = mosaic_deg;
  c.domain_size_um = 2.0;
  c.b_factor_angstrom2 = 0.0;
  c.photons_scale = 2e5;
  c.structure_seed = 3;
  const double lambda = s.geometry.wavelength_angstrom;
  const double d = 40.0 / norm(hkl);
  const double two_theta = 2.0 * std::asin(lambda / (2.0 * d));  // Bragg's law
  const double phi = phi_deg * kDeg;
  const Vec3 s1{std::sin(two_theta) * std::cos(phi), std::sin(two_theta) * std::sin(phi),
                std::cos(two_theta)};
  const Vec3 q = (1.0 / lambda) * (s1 - kBeamDirection);
  const Vec3 g0 = (1.0 / 40.0) * hkl;  // crystal frame
  const Vec3 axis = cross(g0, q);
  const double angle = std::acos(std::clamp(dot(normalized(g0), normalized(q)), -1.0, 1.0));
  c.pieces = {SubCrystal{rotation_about_axis(axis, angle), 1.0}};
  // Flat detector: r = D·tan 2θ from the beam centre along azimuth φ.
  const double r_px = s.geometry.distance_mm * std::tan(two_theta) / s.geometry.pixel_size_mm;
  return {c, s.geometry.beam_center_fast_px - 0.5 + r_px * std::cos(phi),
          s.geometry.beam_center_slow_px - 0.5 + r_px * std::sin(phi)};
}

Image<float> expected_photons(const FrameSpec& s) {
  Image<float> img = render_background(s);
  add_spots(img, predict_reflections(s));
  apply_beamstop(img, s);
  return img;
}

// Intensity-weighted centroid and second moments in a window (background subtracted).
struct Moments {
  double fast, slow, var_along, var_across, total;
};
Moments window_moments(const Image<float>& img, double fc, double sc, int half, double dir_c,
                       double dir_s) {
  double w = 0, sf = 0, ss = 0;
  for (int y = int(sc) - half; y <= int(sc) + half; ++y)
    for (int x = int(fc) - half; x <= int(fc) + half; ++x) {
      const double v = img(y, x);
      w += v, sf += v * x, ss += v * y;
    }
  Moments m{sf / w, ss / w, 0, 0, w};
  double va = 0, vc = 0;
  for (int y = int(sc) - half; y <= int(sc) + half; ++y)
    for (int x = int(fc) - half; x <= int(fc) + half; ++x) {
      const double v = img(y, x), dx = x - m.fast, dy = y - m.slow;
      const double along = -dir_s * dx + dir_c * dy;  // tangential
      const double across = dir_c * dx + dir_s * dy;  // radial
      va += v * along * along, vc += v * across * across;
    }
  m.var_along = va / w, m.var_across = vc / w;
  return m;
}

TEST(Physics, ChosenReflectionLandsWhereBraggsLawPutsIt) {
  for (double phi : {30.0, 137.0, 250.0}) {
    FrameSpec s = quiet_spec();
    const Placed p = place_reflection(s, Vec3{2, 3, 1}, phi, 0.02);
    s.crystals = {p.crystal};
    const auto refl = predict_reflections(s);
    const auto it = std::find_if(refl.begin(), refl.end(), [](const Reflection& r) {
      return r.h == 2 && r.k == 3 && r.l == 1;
    });
    ASSERT_NE(it, refl.end()) << "reflection 231 not predicted at phi " << phi;
    EXPECT_NEAR(it->partiality, 1.0, 1e-6);
    EXPECT_NEAR(it->d_angstrom, 40.0 / std::sqrt(14.0), 1e-9);
    EXPECT_NEAR(it->fast_px, p.fast, 1e-6);
    EXPECT_NEAR(it->slow_px, p.slow, 1e-6);
    // In the rendered pixels: the brightest pixel and the centroid are within 1 px.
    const Image<float> img = expected_photons(s);
    const Moments m = window_moments(img, p.fast, p.slow, 5, 1, 0);
    EXPECT_NEAR(m.fast, p.fast, 1.0);
    EXPECT_NEAR(m.slow, p.slow, 1.0);
    int best_x = 0, best_y = 0;
    float best = -1;
    for (int y = int(p.slow) - 5; y <= int(p.slow) + 5; ++y)
      for (int x = int(p.fast) - 5; x <= int(p.fast) + 5; ++x)
        if (img(y, x) > best) best = img(y, x), best_x = x, best_y = y;
    EXPECT_LE(std::hypot(best_x - p.fast, best_y - p.slow), 1.0);
  }
}

TEST(Physics, IceRingsSitAtTheRadiiOfTheirSpacings) {
  FrameSpec s = quiet_spec();
  s.geometry.distance_mm = 60.0;  // all eight rings on the detector
  s.background.air_photons = 0.0;
  s.ice.present = true;
  s.ice.peak_photons = 1000.0;
  s.ice.crystallite_nm = 100.0;
  s.ice.volume_um3 = 1e4;  // millions of grains: a smooth ring
  const Image<float> img = render_background(s);
  const DetectorGeometry& g = s.geometry;
  for (double d : kIceRingD) {
    // Bragg: 2θ = 2 asin(λ/2d); flat detector: r = D tan 2θ / pixel.
    const double r_expected =
        g.distance_mm * std::tan(2.0 * std::asin(g.wavelength_angstrom / (2.0 * d))) /
        g.pixel_size_mm;
    // Radial profile along +fast and +slow (0.1 px steps via the pixels of that line).
    for (int axis = 0; axis < 2; ++axis) {
      double best_r = 0.0, best_v = -1.0;
      for (int i = -6; i <= 6; ++i) {
        const double r_probe = std::round(r_expected) + i;
        const double f = axis == 0 ? g.beam_center_fast_px - 0.5 + r_probe : g.beam_center_fast_px - 0.5;
        const double sl = axis == 1 ? g.beam_center_slow_px - 0.5 + r_probe : g.beam_center_slow_px - 0.5;
        const auto x = static_cast<int64_t>(std::lround(f)), y = static_cast<int64_t>(std::lround(sl));
        const double v = img(y, x);
        if (v > best_v) {
          best_v = v;
          best_r = std::hypot(x + 0.5 - g.beam_center_fast_px, y + 0.5 - g.beam_center_slow_px);
        }
      }
      EXPECT_NEAR(best_r, r_expected, 1.0) << "ring " << d << " Å, axis " << axis;
      EXPECT_GT(best_v, 10.0);
    }
  }
}

TEST(Physics, MoreMosaicSpreadGivesWiderSpotsMonotonically) {
  double previous = 0.0;
  for (double mosaic : {0.02, 0.15, 0.4, 0.7, 1.0}) {
    FrameSpec s = quiet_spec();
    const Placed p = place_reflection(s, Vec3{8, 7, 6}, 20.0, mosaic);
    s.crystals = {p.crystal};
    const Image<float> img = expected_photons(s);
    const double c = std::cos(20.0 * kDeg), sn = std::sin(20.0 * kDeg);
    const Moments m = window_moments(img, p.fast, p.slow, 9, c, sn);
    const double width = std::sqrt(m.var_along);
    EXPECT_GT(width, previous) << "mosaic " << mosaic;
    previous = width;
  }
  EXPECT_GT(previous, 2.0);  // 1° FWHM at r ≈ 316 px: σ ≈ 2.3 px tangentially
}

TEST(Physics, DiscreteMosaicBlocksGiveSharpSpotsOnTheirOwnEwaldSpheres) {
  // nanoBragg-like blocks: whatever the spread, every spot is as sharp as the point spread (no
  // r·σ_mosaic streak), lies where Bragg's law puts its d, and holds at most its blocks' volume;
  // more blocks of the same spread light more reflections (one lune per block).
  size_t previous = 0;
  for (int32_t n_domains : {4, 16, 48}) {
    FrameSpec s = quiet_spec();
    Placed p = place_reflection(s, Vec3{8, 7, 6}, 20.0, 1.0);
    p.crystal.n_domains = n_domains;
    p.crystal.domain_seed = 99;
    p.crystal.b_factor_angstrom2 = 0.0;
    s.crystals = {p.crystal};
    const auto refl = predict_reflections(s);
    ASSERT_FALSE(refl.empty());
    const DetectorGeometry& g = s.geometry;
    for (const Reflection& r : refl) {
      // Point spread plus the 2 µm crystal's diffraction cone (≈ 0.03 px here): no streak.
      EXPECT_LE(r.sigma_tangential_px, std::hypot(s.detector.point_spread_px, 0.05));
      EXPECT_GT(r.partiality, 0.0);
      EXPECT_LE(r.partiality, 1.0 + 1e-9);
      // A block's spot is on that block's Ewald sphere up to its excitation error (a few 1e-5
      // Å⁻¹ here): its radius is D·tan 2θ(d) within a pixel.
      const double two_theta = 2.0 * std::asin(g.wavelength_angstrom / (2.0 * r.d_angstrom));
      const double r_px = std::hypot(r.fast_px + 0.5 - g.beam_center_fast_px,
                                     r.slow_px + 0.5 - g.beam_center_slow_px);
      EXPECT_NEAR(r_px, g.distance_mm * std::tan(two_theta) / g.pixel_size_mm, 1.0);
    }
    EXPECT_GT(refl.size(), previous) << n_domains << " blocks";
    previous = refl.size();
  }
  // The continuous model of the same 1° spread streaks its spots along their rings instead.
  FrameSpec s = quiet_spec();
  s.crystals = {place_reflection(s, Vec3{8, 7, 6}, 20.0, 1.0).crystal};
  const auto refl = predict_reflections(s);
  const auto it = std::find_if(refl.begin(), refl.end(), [](const Reflection& r) {
    return r.h == 8 && r.k == 7 && r.l == 6;
  });
  ASSERT_NE(it, refl.end());
  EXPECT_GT(it->sigma_tangential_px, 2.0);
}

TEST(Physics, StrongFramesOfWellOrderedCrystalsReachHighResolution) {
  // B = 25 Å², discrete mosaic blocks, detector edge at 2.0 Å: the bright spots of a strong frame
  // reach the outer detector (the nanoBragg reference's strong frames, B = 25–45: 5 % of spots
  // beyond 2.5–2.8 Å). Quality targeting must not push every bright spot to low resolution.
  SimulateOptions o;
  o.seed = 11;
  o.mix = Mix{};
  o.mix.blank = o.mix.noxtal = o.mix.weak = o.mix.good = 0.0;
  o.mix.ice = 0.0;
  o.scene.b_factor_min = o.scene.b_factor_strong_max = 25.0;
  o.scene.discrete_domains_fraction = 1.0;  // nanoBragg-like blocks (as the reference)
  o.scene.edge_resolution_min_angstrom = o.scene.edge_resolution_max_angstrom = 2.0;
  std::vector<double> d_5pct;
  for (int64_t i = 0; i < 6; ++i) {
    const SimulatedFrame f = simulate_frame(o, i);
    ASSERT_EQ(f.labels.quality, Quality::kStrong) << "frame " << i;
    const auto refl = predict_reflections(f.spec);
    const auto t = bright_thresholds(f.spec, refl, render_background(f.spec));
    std::vector<double> d;
    for (size_t k = 0; k < refl.size(); ++k)
      if (t[k] <= 1.0) d.push_back(refl[k].d_angstrom);
    ASSERT_GE(d.size(), static_cast<size_t>(kStrongMinBrightSpots));
    std::nth_element(d.begin(), d.begin() + d.size() / 20, d.end());
    d_5pct.push_back(d[d.size() / 20]);
  }
  std::sort(d_5pct.begin(), d_5pct.end());
  EXPECT_LT(d_5pct[d_5pct.size() / 2], kStrongD5Max) << "median over frames";
}

TEST(Physics, MultilatticeGivesOneSpotCopyPerPiece) {
  FrameSpec s = quiet_spec();
  Placed p = place_reflection(s, Vec3{8, 7, 6}, 20.0, 0.05);
  // Three pieces rotated about the beam by 0, 0.9 and 1.8°: a rotation about the beam keeps the
  // Ewald condition and moves the spot along its ring by r·angle (≈ 5 and 10 px).
  const Mat3 u0 = p.crystal.pieces[0].orientation;
  p.crystal.pieces.clear();
  for (double a : {0.0, 0.9, 1.8}) {
    p.crystal.pieces.push_back({rotation_about_axis(kBeamDirection, a * kDeg) * u0, 1.0 / 3.0});
  }
  p.crystal.split_deg = 1.8;
  s.crystals = {p.crystal};
  const auto refl = predict_reflections(s);
  const Image<float> img = expected_photons(s);
  int n_copies = 0;
  for (const Reflection& r : refl) {
    if (r.h != 8 || r.k != 7 || r.l != 6) continue;
    ++n_copies;
    // A local maximum of the image within 1 px of each predicted copy.
    int bx = 0, by = 0;
    float best = -1;
    for (int y = int(std::lround(r.slow_px)) - 1; y <= int(std::lround(r.slow_px)) + 1; ++y)
      for (int x = int(std::lround(r.fast_px)) - 1; x <= int(std::lround(r.fast_px)) + 1; ++x)
        if (img(y, x) > best) best = img(y, x), bx = x, by = y;
    bool is_max = true;
    for (int dy = -1; dy <= 1; ++dy)
      for (int dx = -1; dx <= 1; ++dx) is_max = is_max && img(by + dy, bx + dx) <= best;
    EXPECT_TRUE(is_max);
    EXPECT_LE(std::hypot(bx - r.fast_px, by - r.slow_px), 1.0);
  }
  EXPECT_EQ(n_copies, 3);
  const FrameLabels labels = labels_from_spec(s, 10);
  EXPECT_TRUE(labels.multilattice);
  EXPECT_NEAR(labels.mosaic2, 1.8 / kSplitFullScaleDeg, 1e-12);

  // Randomly generated multilattice frames have 2–3 pieces split by (0, 2.5]°.
  SceneOptions options;
  FrameKind kind;
  kind.crystal = kind.photo2 = kind.multilattice = true;
  kind.quality = Quality::kGood;
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    const FrameSpec spec = make_frame_spec(options, kind, seed);
    ASSERT_EQ(spec.crystals.size(), 1u);
    const auto& pieces = spec.crystals[0].pieces;
    EXPECT_GE(pieces.size(), 2u);
    EXPECT_LE(pieces.size(), 3u);
    double largest = 0.0;
    for (const auto& a : pieces)
      for (const auto& b : pieces) largest = std::max(largest, misorientation_deg(a.orientation, b.orientation));
    EXPECT_NEAR(largest, spec.crystals[0].split_deg, 1e-6);
    EXPECT_GT(largest, 0.0);
    EXPECT_LE(largest, kSplitFullScaleDeg + 1e-9);
  }
}

TEST(Physics, BlankFramesHaveNoSpotLikeMaxima) {
  SimulateOptions options;
  options.seed = 21;
  options.mix = Mix{};
  options.mix.weak = options.mix.good = options.mix.strong = 0.0;
  options.mix.ice = 0.0;
  for (int64_t i = 0; i < 8; ++i) {
    const SimulatedFrame f = simulate_frame(options, i);
    ASSERT_TRUE(f.labels.blank);
    EXPECT_EQ(f.labels.mosaic1, 0.0);
    EXPECT_EQ(f.stats.n_reflections, 0);
    const Image<uint8_t>& img = f.image;
    int64_t n_bright_maxima = 0;
    for (int64_t y = 1; y + 1 < img.n_slow(); ++y)
      for (int64_t x = 1; x + 1 < img.n_fast(); ++x) {
        const uint8_t v = img(y, x);
        if (v < 185) continue;
        bool is_max = true;
        for (int dy = -1; dy <= 1; ++dy)
          for (int dx = -1; dx <= 1; ++dx) is_max = is_max && img(y + dy, x + dx) <= v;
        n_bright_maxima += is_max;
      }
    EXPECT_EQ(n_bright_maxima, 0) << "frame " << i;
    EXPECT_LE(f.stats.p95_8bit, 160.0) << "frame " << i;
    EXPECT_GE(f.stats.median_8bit, 60.0) << "frame " << i;
  }
}

TEST(Physics, BinningKeepsOrAveragesPeaks) {
  Image<float> img(4, 4, 1.0f);
  img(1, 2) = 9.0f;
  const Image<float> mx = bin_frame(img, 2, BinningMode::kMax);
  const Image<float> mean = bin_frame(img, 2, BinningMode::kMean);
  EXPECT_EQ(mx(0, 1), 9.0f);
  EXPECT_EQ(mean(0, 1), 3.0f);
  EXPECT_EQ(mean(1, 0), 1.0f);
  EXPECT_THROW(bin_frame(img, 3, BinningMode::kMean), ConfigError);
}

}  // namespace
}  // namespace difftriage::simulate
