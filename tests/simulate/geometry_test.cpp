// Geometry, crystal and random-number building blocks of the simulator.
#include <gtest/gtest.h>

#include <cmath>

#include "difftriage/core/detector_geometry.h"
#include "difftriage/core/error.h"
#include "difftriage/simulate/crystal.h"
#include "difftriage/simulate/random.h"
#include "difftriage/simulate/scene.h"

namespace difftriage::simulate {
namespace {

// The simulator's detector is the core DetectorGeometry (tests/core/detector_geometry_test.cpp
// tests it in full); these check it as the simulator uses it.
TEST(Geometry, PixelResolutionFollowsBraggsLaw) {
  DetectorGeometry g = FrameSpec{}.geometry;
  g.wavelength_angstrom = 1.2;
  g.distance_mm = 120.0;
  g.pixel_size_mm = 0.1;
  g.beam_center_fast_px = 512.5;
  g.beam_center_slow_px = 512.5;
  // Pixel 812 is 300 px (30 mm) right of the beam: 2θ = atan(30/120), d = λ/(2 sin θ).
  const double two_theta = std::atan(30.0 / 120.0);
  EXPECT_NEAR(g.resolution_angstrom(812.0, 512.0), 1.2 / (2.0 * std::sin(two_theta / 2)), 1e-9);
  EXPECT_TRUE(std::isinf(g.resolution_angstrom(512.0, 512.0)));
  const auto r = g.radius_px_for_resolution(3.0);
  ASSERT_TRUE(r.has_value());
  EXPECT_NEAR(g.resolution_at_radius_angstrom(*r), 3.0, 1e-9);
  EXPECT_FALSE(g.radius_px_for_resolution(0.5).has_value());  // λ > 2d
  // A ray through the pixel projects back onto it.
  const auto px = g.project_ray_px(g.pixel_position_mm(700.0, 300.0));
  ASSERT_TRUE(px.has_value());
  EXPECT_NEAR((*px)[0], 700.0, 1e-9);
  EXPECT_NEAR((*px)[1], 300.0, 1e-9);
}

TEST(Geometry, RejectsUnphysicalValuesNamingTheField) {
  DetectorGeometry g = FrameSpec{}.geometry;
  EXPECT_NO_THROW(validate_simulated_geometry(g));
  g.distance_mm = -5.0;
  try {
    validate_simulated_geometry(g);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("distance_mm"), std::string::npos);
  }
  g = FrameSpec{}.geometry;
  g.wavelength_angstrom = 0.0;
  EXPECT_THROW(validate_simulated_geometry(g), ConfigError);
  g = FrameSpec{}.geometry;
  g.pixel_size_mm = -0.1;
  EXPECT_THROW(validate_simulated_geometry(g), ConfigError);
  // The simulator needs a known size, at most 8192 pixels per axis.
  g = FrameSpec{}.geometry;
  g.n_fast = g.n_slow = 0;
  EXPECT_THROW(validate_simulated_geometry(g), ConfigError);
  g.n_fast = g.n_slow = 8193;
  EXPECT_THROW(validate_simulated_geometry(g), ConfigError);
}

TEST(Geometry, OutputGeometryIsTheBinnedDetector) {
  FrameSpec s;
  s.geometry = {1.3, 100.0, 0.11, 512.0, 500.5, 1024, 1024};
  s.bin_factor = 2;
  const DetectorGeometry out = output_geometry(s);
  EXPECT_DOUBLE_EQ(out.pixel_size_mm, 0.22);
  EXPECT_EQ(out.n_fast, 512);
  EXPECT_EQ(out.n_slow, 512);
  EXPECT_DOUBLE_EQ(out.beam_center_fast_px, 256.0);
  EXPECT_DOUBLE_EQ(out.beam_center_slow_px, 250.25);
  EXPECT_DOUBLE_EQ(out.wavelength_angstrom, 1.3);
  EXPECT_DOUBLE_EQ(out.distance_mm, 100.0);
  // Same physical point, same resolution: output pixel (j) covers full pixels 2j, 2j + 1, so
  // the output pixel centre 300.0 (+0.5) is the full-frame edge 601 = full coordinate 600.5.
  EXPECT_NEAR(out.resolution_angstrom(300.0, 100.0), s.geometry.resolution_angstrom(600.5, 200.5),
              1e-12);
  EXPECT_NEAR(out.corner_resolution_angstrom(), s.geometry.corner_resolution_angstrom(), 1e-12);
  s.bin_factor = 3;  // does not divide 1024
  EXPECT_THROW(output_geometry(s), ConfigError);
}

TEST(Crystal, ReciprocalBasisGivesInterplanarSpacings) {
  const auto ps2 = crystal_preset("photo2");
  const Mat3 b2 = reciprocal_basis(ps2.cell);
  // Orthorhombic: 1/d² = h²/a² + k²/b² + l²/c².
  const double inv_d2 = 9.0 / (117.0 * 117.0) + 4.0 / (223.0 * 223.0) + 25.0 / (310.0 * 310.0);
  EXPECT_NEAR(norm(b2 * Vec3{3, -2, 5}), std::sqrt(inv_d2), 1e-12);
  const auto ps1 = crystal_preset("photo1");
  EXPECT_EQ(ps1.space_group, SpaceGroup::kP63);
  const Mat3 b1 = reciprocal_basis(ps1.cell);
  // Hexagonal: 1/d² = 4/3 (h² + hk + k²)/a² + l²/c².
  const double h = 2, k = 1, l = 3;
  const double hex = 4.0 / 3.0 * (h * h + h * k + k * k) / (281.0 * 281.0) + l * l / (165.0 * 165.0);
  EXPECT_NEAR(norm(b1 * Vec3{h, k, l}), std::sqrt(hex), 1e-12);
  EXPECT_NEAR(cell_volume_angstrom3(ps1.cell), 281.0 * 281.0 * 165.0 * std::sqrt(3.0) / 2.0, 1e-3);
  EXPECT_THROW(crystal_preset("lysozyme"), ConfigError);
  UnitCell bad;
  bad.a_angstrom = -1.0;
  EXPECT_THROW(validate_cell(bad), ConfigError);
}

TEST(Crystal, SystematicAbsencesOfScrewAxes) {
  EXPECT_TRUE(is_systematically_absent(SpaceGroup::kP63, 0, 0, 3));
  EXPECT_FALSE(is_systematically_absent(SpaceGroup::kP63, 0, 0, 4));
  EXPECT_FALSE(is_systematically_absent(SpaceGroup::kP63, 1, 0, 3));
  EXPECT_TRUE(is_systematically_absent(SpaceGroup::kP212121, 5, 0, 0));
  EXPECT_TRUE(is_systematically_absent(SpaceGroup::kP212121, 0, -3, 0));
  EXPECT_TRUE(is_systematically_absent(SpaceGroup::kP212121, 0, 0, 7));
  EXPECT_FALSE(is_systematically_absent(SpaceGroup::kP212121, 0, 0, 8));
  EXPECT_FALSE(is_systematically_absent(SpaceGroup::kP212121, 1, 1, 1));
  EXPECT_FALSE(is_systematically_absent(SpaceGroup::kP1, 0, 0, 1));
}

TEST(Crystal, RandomRotationsAreProperAndUniform) {
  Rng rng(11);
  Mat3 mean{};
  mean.m = {};
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const Mat3 r = random_rotation(rng);
    const Mat3 rtr = transpose(r) * r;
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) {
        ASSERT_NEAR(rtr.m[a][b], a == b ? 1.0 : 0.0, 1e-12);
        mean.m[a][b] += r.m[a][b] / n;
      }
  }
  // Haar measure: every matrix element has mean 0 (sd 1/sqrt(3n) ≈ 0.004).
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) EXPECT_NEAR(mean.m[a][b], 0.0, 0.02);
  const Mat3 r = random_rotation_by(rng, 1.5);
  EXPECT_NEAR(misorientation_deg(Mat3::identity(), r), 1.5, 1e-9);
}

TEST(Crystal, WilsonIntensitiesAreExponentialAndObeyFriedel) {
  double sum = 0.0, sum2 = 0.0;
  int n = 0;
  for (int h = -20; h <= 20; ++h)
    for (int k = -20; k <= 20; ++k) {
      const double v = wilson_intensity(99, h, k, 3);
      sum += v, sum2 += v * v, ++n;
      EXPECT_EQ(v, wilson_intensity(99, -h, -k, -3));
    }
  EXPECT_NEAR(sum / n, 1.0, 0.06);            // exponential: mean 1
  EXPECT_NEAR(sum2 / n, 2.0, 0.25);           // second moment 2
  EXPECT_NE(wilson_intensity(1, 1, 2, 3), wilson_intensity(2, 1, 2, 3));
}

TEST(Random, SamplersHaveTheRightMoments) {
  Rng rng(5);
  for (double mean : {0.3, 4.0, 11.5, 60.0, 2000.0}) {
    double s = 0.0, s2 = 0.0;
    const int n = 40000;
    for (int i = 0; i < n; ++i) {
      const double x = rng.poisson(mean);
      ASSERT_GE(x, 0.0);
      ASSERT_EQ(x, std::floor(x));
      s += x, s2 += x * x;
    }
    const double m = s / n, var = s2 / n - m * m;
    EXPECT_NEAR(m, mean, 5.0 * std::sqrt(mean / n) + 1e-3) << mean;
    EXPECT_NEAR(var / mean, 1.0, 0.05) << mean;
  }
  double s = 0.0, s2 = 0.0;
  for (int i = 0; i < 40000; ++i) {
    const double z = rng.normal();
    s += z, s2 += z * z;
  }
  EXPECT_NEAR(s / 40000, 0.0, 0.03);
  EXPECT_NEAR(s2 / 40000, 1.0, 0.03);
  // Same seed, same numbers; stream seeds differ.
  Rng a(derive_seed(1, 2, RngStream::kNoise)), b(derive_seed(1, 2, RngStream::kNoise));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a.next(), b.next());
  EXPECT_NE(derive_seed(1, 2, RngStream::kNoise), derive_seed(1, 3, RngStream::kNoise));
  EXPECT_NE(derive_seed(1, 2, RngStream::kNoise), derive_seed(2, 2, RngStream::kNoise));
  EXPECT_EQ(splitmix64(0), 0xE220A8397B1DCDAFULL);  // reference value of splitmix64
}

}  // namespace
}  // namespace difftriage::simulate
