// DetectorGeometry: the formulas against hand-computed values, round trips, corner and edge
// resolution, the builders (metadata, JSON) with their errors, and the PILATUS 12M fixture
// whose cylinder has no flat geometry.
#include "difftriage/core/detector_geometry.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "difftriage/core/error.h"
#include "difftriage/io/image_io.h"
#include "support/test_support.h"

namespace difftriage {
namespace {

// λ 1 Å, 100 mm, 0.1 mm pixels, beam at (500, 400) px on a 1000 × 800 detector.
DetectorGeometry sample_geometry() { return {1.0, 100.0, 0.1, 500.0, 400.0, 1000, 800}; }

// Expects `f` to throw ConfigError whose message holds every one of `parts`.
template <typename F>
void expect_config_error(F&& f, std::initializer_list<const char*> parts) {
  try {
    f();
    ADD_FAILURE() << "expected ConfigError";
  } catch (const ConfigError& e) {
    for (const char* p : parts) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << " / " << p;
    }
  }
}

TEST(DetectorGeometry, BraggAndFlatDetectorByHand) {
  const DetectorGeometry g = sample_geometry();
  // d = 2 Å: sin θ = 0.25, 2θ = 28.955°, r = 100 mm · tan 2θ / 0.1 mm = 553.283 px.
  const double two_theta = 2.0 * std::asin(0.25);
  EXPECT_NEAR(*g.two_theta_rad_for_resolution(2.0), two_theta, 1e-15);
  const auto r = g.radius_px_for_resolution(2.0);
  ASSERT_TRUE(r.has_value());
  EXPECT_NEAR(*r, 1000.0 * std::tan(two_theta), 1e-9);
  EXPECT_NEAR(*r, 553.283, 1e-3);
  EXPECT_NEAR(g.resolution_at_radius_angstrom(*r), 2.0, 1e-12);
  EXPECT_NEAR(g.two_theta_rad_at_radius(*r), two_theta, 1e-12);
  // Unreachable: λ > 2d (no Bragg angle), 2θ ≥ 90° (parallel to a flat detector), d ≤ 0.
  EXPECT_FALSE(g.radius_px_for_resolution(0.4).has_value());
  EXPECT_FALSE(g.two_theta_rad_for_resolution(0.4).has_value());
  EXPECT_FALSE(g.radius_px_for_resolution(1.0 / std::sqrt(2.0) - 1e-9).has_value());  // 2θ > 90°
  EXPECT_TRUE(g.radius_px_for_resolution(0.75).has_value());  // 2θ ≈ 83.6°
  EXPECT_FALSE(g.radius_px_for_resolution(0.0).has_value());
  EXPECT_FALSE(g.radius_px_for_resolution(-3.0).has_value());
  EXPECT_FALSE(g.radius_px_for_resolution(std::nan("")).has_value());
  // The beam centre: d = ∞, 2θ = 0.
  EXPECT_TRUE(std::isinf(g.resolution_at_radius_angstrom(0.0)));
  EXPECT_TRUE(std::isinf(g.resolution_at_radius_angstrom(-1.0)));
  EXPECT_DOUBLE_EQ(*g.radius_px_for_resolution(std::numeric_limits<double>::infinity()), 0.0);
}

TEST(DetectorGeometry, PixelPositionScatteringVectorTwoThetaAndResolution) {
  const DetectorGeometry g = sample_geometry();
  // Pixel (799.5, 399.5) has its centre 300 px = 30 mm along +x from the beam.
  const Vec3 p = g.pixel_position_mm(799.5, 399.5);
  EXPECT_NEAR(p.x, 30.0, 1e-12);
  EXPECT_NEAR(p.y, 0.0, 1e-12);
  EXPECT_DOUBLE_EQ(p.z, 100.0);
  EXPECT_NEAR(g.radius_px(799.5, 399.5), 300.0, 1e-12);
  // 2θ = atan(30 / 100); q = (s1 − s0)/λ with s1 = (30, 0, 100)/|.|; d = λ / (2 sin θ).
  const double two_theta = std::atan(0.3);
  EXPECT_NEAR(g.two_theta_rad(799.5, 399.5), two_theta, 1e-15);
  const double len = std::sqrt(30.0 * 30.0 + 100.0 * 100.0);
  const Vec3 q = g.scattering_vector_per_angstrom(799.5, 399.5);
  EXPECT_NEAR(q.x, 30.0 / len, 1e-15);
  EXPECT_NEAR(q.y, 0.0, 1e-15);
  EXPECT_NEAR(q.z, 100.0 / len - 1.0, 1e-15);
  EXPECT_NEAR(norm(q), 2.0 * std::sin(two_theta / 2.0), 1e-15);  // |q| = 2 sin θ / λ
  const double d = 1.0 / (2.0 * std::sin(two_theta / 2.0));
  EXPECT_NEAR(g.resolution_angstrom(799.5, 399.5), d, 1e-12);
  EXPECT_NEAR(g.resolution_at_radius_angstrom(300.0), d, 1e-12);
  // Slow axis is +y; a pixel above the beam.
  EXPECT_NEAR(g.pixel_position_mm(499.5, 99.5).y, -30.0, 1e-12);
  EXPECT_NEAR(g.resolution_angstrom(499.5, 99.5), d, 1e-12);
  // The pixel whose centre is the beam centre: d = ∞.
  EXPECT_TRUE(std::isinf(g.resolution_angstrom(499.5, 399.5)));
  EXPECT_DOUBLE_EQ(g.two_theta_rad(499.5, 399.5), 0.0);
}

TEST(DetectorGeometry, RoundTripsDToRadiusToD) {
  DetectorGeometry g = sample_geometry();
  for (double lambda : {0.7, 1.0, 1.3}) {
    g.wavelength_angstrom = lambda;
    for (double d : {50.0, 10.0, 3.897, 3.669, 2.0, 1.2}) {
      const auto r = g.radius_px_for_resolution(d);
      ASSERT_TRUE(r.has_value()) << lambda << " " << d;
      EXPECT_NEAR(g.resolution_at_radius_angstrom(*r), d, 1e-10 * d);
      // ... and the pixel at that radius sees the same d.
      EXPECT_NEAR(g.resolution_angstrom(499.5 + *r, 399.5), d, 1e-10 * d);
    }
  }
  for (double r : {1.0, 37.5, 300.0, 700.0}) {
    EXPECT_NEAR(*g.radius_px_for_resolution(g.resolution_at_radius_angstrom(r)), r, 1e-9 * r);
  }
}

TEST(DetectorGeometry, ProjectsARayBackOntoItsPixel) {
  const DetectorGeometry g = sample_geometry();
  const auto px = g.project_ray_px(g.pixel_position_mm(700.0, 300.0));
  ASSERT_TRUE(px.has_value());
  EXPECT_NEAR((*px)[0], 700.0, 1e-9);
  EXPECT_NEAR((*px)[1], 300.0, 1e-9);
  // The direct beam lands on the beam centre: pixel coordinate beam_center − 0.5.
  const auto beam = g.project_ray_px(kBeamDirection);
  EXPECT_DOUBLE_EQ((*beam)[0], 499.5);
  EXPECT_DOUBLE_EQ((*beam)[1], 399.5);
  EXPECT_FALSE(g.project_ray_px({1.0, 0.0, 0.0}).has_value());   // parallel
  EXPECT_FALSE(g.project_ray_px({0.0, 0.0, -1.0}).has_value());  // backwards
}

TEST(DetectorGeometry, CornerAndEdgeResolution) {
  DetectorGeometry g = sample_geometry();
  // Beam (500, 400) on 1000 × 800: every corner is hypot(500, 400) = 640.3 px away; the nearest
  // edges (top and bottom) are 400 px away.
  EXPECT_NEAR(g.corner_radius_px(), std::hypot(500.0, 400.0), 1e-12);
  EXPECT_DOUBLE_EQ(g.edge_radius_px(), 400.0);
  const double d_corner = 1.0 / (2.0 * std::sin(std::atan(64.03124237432849 / 100.0) / 2.0));
  EXPECT_NEAR(g.corner_resolution_angstrom(), d_corner, 1e-9);
  const double d_edge = 1.0 / (2.0 * std::sin(std::atan(40.0 / 100.0) / 2.0));
  EXPECT_NEAR(g.edge_resolution_angstrom(), d_edge, 1e-12);
  EXPECT_LT(g.corner_resolution_angstrom(), g.edge_resolution_angstrom());
  // Off-centre beam: the farthest corner is (1000, 800) from (100, 50); the nearest edge slow 0.
  g.beam_center_fast_px = 100.0;
  g.beam_center_slow_px = 50.0;
  EXPECT_NEAR(g.corner_radius_px(), std::hypot(900.0, 750.0), 1e-12);
  EXPECT_DOUBLE_EQ(g.edge_radius_px(), 50.0);
  EXPECT_NEAR(g.corner_resolution_angstrom(),
              g.resolution_at_radius_angstrom(std::hypot(900.0, 750.0)), 1e-15);
  // Beam outside the frame: no complete ring.
  g.beam_center_fast_px = -20.0;
  EXPECT_DOUBLE_EQ(g.edge_radius_px(), 0.0);
  EXPECT_TRUE(std::isinf(g.edge_resolution_angstrom()));
  // Without a size there are no corners.
  g.n_fast = g.n_slow = 0;
  expect_config_error([&] { (void)g.corner_resolution_angstrom(); }, {"n_fast"});
  expect_config_error([&] { (void)g.edge_resolution_angstrom(); }, {"n_fast"});
}

TEST(DetectorGeometry, ValidationNamesTheField) {
  EXPECT_NO_THROW(sample_geometry().validate());
  auto with = [](auto change) {
    DetectorGeometry g = sample_geometry();
    change(g);
    return g;
  };
  expect_config_error([&] { with([](auto& g) { g.wavelength_angstrom = 0; }).validate(); },
                      {"wavelength_angstrom"});
  expect_config_error([&] { with([](auto& g) { g.distance_mm = -5; }).validate(); },
                      {"distance_mm", "-5"});
  expect_config_error([&] { with([](auto& g) { g.pixel_size_mm = std::nan(""); }).validate(); },
                      {"pixel_size_mm"});
  expect_config_error([&] { with([](auto& g) { g.beam_center_fast_px = INFINITY; }).validate(); },
                      {"beam_center_fast_px"});
  expect_config_error(
      [&] { with([](auto& g) { g.beam_center_slow_px = std::nan(""); }).validate(); },
      {"beam_center_slow_px"});
  expect_config_error([&] { with([](auto& g) { g.n_fast = -1; }).validate(); }, {"n_fast"});
  expect_config_error([&] { with([](auto& g) { g.n_slow = 0; }).validate(); }, {"n_slow"});
  // Unknown size (both 0) is valid; a frame then supplies it.
  const DetectorGeometry unsized = with([](auto& g) { g.n_fast = g.n_slow = 0; });
  EXPECT_NO_THROW(unsized.validate());
  const DetectorGeometry sized = unsized.with_frame_size(64, 32);
  EXPECT_EQ(sized.n_fast, 64);
  EXPECT_EQ(sized.n_slow, 32);
  EXPECT_EQ(sized.with_frame_size(64, 32).n_fast, 64);
  expect_config_error([&] { (void)sized.with_frame_size(32, 64); }, {"n_fast", "32 x 64"});
}

TEST(DetectorGeometry, FromMetadata) {
  DetectorMetadata md;
  md.wavelength_angstrom = 1.0;
  md.distance_mm = 100.0;
  md.pixel_size_mm = 0.1;
  md.beam_center_fast_px = 500.0;
  md.beam_center_slow_px = 400.0;
  const auto found = geometry_from_metadata(md, 1000, 800);
  ASSERT_TRUE(found) << found.why_not;
  EXPECT_TRUE(found.why_not.empty());
  EXPECT_DOUBLE_EQ(found.geometry->corner_resolution_angstrom(),
                   sample_geometry().corner_resolution_angstrom());
  EXPECT_EQ(found.geometry->n_fast, 1000);
  EXPECT_EQ(found.geometry->n_slow, 800);

  // Incomplete: every missing field is named.
  DetectorMetadata partial = md;
  partial.distance_mm.reset();
  partial.beam_center_slow_px.reset();
  const auto missing = geometry_from_metadata(partial, 1000, 800);
  EXPECT_FALSE(missing);
  EXPECT_NE(missing.why_not.find("distance_mm"), std::string::npos) << missing.why_not;
  EXPECT_NE(missing.why_not.find("beam_center_slow_px"), std::string::npos) << missing.why_not;
  EXPECT_EQ(missing.why_not.find("wavelength_angstrom"), std::string::npos) << missing.why_not;
  EXPECT_FALSE(geometry_from_metadata(DetectorMetadata{}, 1000, 800));

  // Unphysical values and sizes are explained, not thrown.
  DetectorMetadata zero = md;
  zero.pixel_size_mm = 0.0;
  const auto bad = geometry_from_metadata(zero, 1000, 800);
  EXPECT_FALSE(bad);
  EXPECT_NE(bad.why_not.find("pixel_size_mm"), std::string::npos) << bad.why_not;
  EXPECT_FALSE(geometry_from_metadata(md, 0, 800));

  // Not flat: no geometry, said as such.
  DetectorMetadata cylinder = md;
  cylinder.surface = DetectorSurface::kCylinder;
  cylinder.detector = "PILATUS 12M";
  const auto curved = geometry_from_metadata(cylinder, 1000, 800);
  EXPECT_FALSE(curved);
  EXPECT_NE(curved.why_not.find("not flat"), std::string::npos) << curved.why_not;
  EXPECT_NE(curved.why_not.find("cylinder"), std::string::npos) << curved.why_not;
}

constexpr const char* kGoodJson = R"({
  "wavelength_angstrom": 1.3, "distance_mm": 100, "pixel_size_mm": 0.22,
  "beam_center_fast_px": 256, "beam_center_slow_px": 256.5, "n_fast": 512, "n_slow": 512
})";

TEST(DetectorGeometry, FromJson) {
  const DetectorGeometry g = geometry_from_json(kGoodJson, "g.json");
  EXPECT_DOUBLE_EQ(g.wavelength_angstrom, 1.3);
  EXPECT_DOUBLE_EQ(g.distance_mm, 100.0);
  EXPECT_DOUBLE_EQ(g.pixel_size_mm, 0.22);
  EXPECT_DOUBLE_EQ(g.beam_center_fast_px, 256.0);
  EXPECT_DOUBLE_EQ(g.beam_center_slow_px, 256.5);
  EXPECT_EQ(g.n_fast, 512);
  EXPECT_EQ(g.n_slow, 512);
  // n_fast / n_slow are optional; geometry_to_json writes what read_geometry_json reads.
  const DetectorGeometry unsized = geometry_from_json(
      R"({"wavelength_angstrom": 1.3, "distance_mm": 100, "pixel_size_mm": 0.22,
          "beam_center_fast_px": 256, "beam_center_slow_px": 256.5})",
      "u.json");
  EXPECT_FALSE(unsized.has_size());
  EXPECT_FALSE(geometry_to_json(unsized).contains("n_fast"));
  const DetectorGeometry back = geometry_from_json(geometry_to_json(g).dump(), "back");
  EXPECT_EQ(geometry_to_json(back), geometry_to_json(g));

  // A file on disk; errors name it.
  testing::TempDir dir;
  testing::write_text(dir / "geometry.json", kGoodJson);
  EXPECT_EQ(read_geometry_json(dir / "geometry.json").n_fast, 512);
  EXPECT_THROW(read_geometry_json(dir / "missing.json"), IoError);
  testing::write_text(dir / "typo.json", R"({"wavelength_angstrom": 1.3, "distance_mm": 100,
      "pixel_size_mm": 0.22, "beam_centre_fast_px": 256, "beam_center_slow_px": 256})");
  expect_config_error([&] { read_geometry_json(dir / "typo.json"); },
                      {"typo.json", "unknown key", "beam_centre_fast_px"});
}

TEST(DetectorGeometry, JsonErrorsNameTheKey) {
  const std::string keys = R"("wavelength_angstrom": 1.3, "distance_mm": 100, "pixel_size_mm": 0.22,
      "beam_center_fast_px": 256)";
  // Missing required key.
  expect_config_error([&] { geometry_from_json("{" + keys + "}", "f.json"); },
                      {"f.json", "missing key", "beam_center_slow_px"});
  // Unknown key (units in the name matter: distance without _mm is not the key).
  expect_config_error(
      [&] {
        geometry_from_json("{" + keys + R"(, "beam_center_slow_px": 1, "distance": 3})", "f.json");
      },
      {"f.json", "unknown key", "'distance'"});
  // Wrong types.
  expect_config_error(
      [&] {
        geometry_from_json(R"({"wavelength_angstrom": "1.3", "distance_mm": 100,
            "pixel_size_mm": 0.22, "beam_center_fast_px": 256, "beam_center_slow_px": 256})",
                           "f.json");
      },
      {"f.json", "wavelength_angstrom", "number"});
  expect_config_error(
      [&] {
        geometry_from_json(
            "{" + keys + R"(, "beam_center_slow_px": 1, "n_fast": 512.5, "n_slow": 512})",
            "f.json");
      },
      {"f.json", "n_fast", "integer"});
  expect_config_error(
      [&] {
        geometry_from_json("{" + keys + R"(, "beam_center_slow_px": 1, "n_slow": 512})", "f.json");
      },
      {"f.json", "n_slow", "n_fast"});
  // Unphysical value: the key and the file.
  expect_config_error(
      [&] {
        geometry_from_json(R"({"wavelength_angstrom": 1.3, "distance_mm": -100,
            "pixel_size_mm": 0.22, "beam_center_fast_px": 256, "beam_center_slow_px": 256})",
                           "f.json");
      },
      {"f.json", "distance_mm"});
  // Not JSON, not an object.
  expect_config_error([&] { geometry_from_json("{ wavelength", "f.json"); }, {"f.json", "JSON"});
  expect_config_error([&] { geometry_from_json("[1, 2]", "f.json"); }, {"f.json", "object"});
}

TEST(DetectorGeometry, Pilatus12mFixtureHasNoFlatGeometry) {
  const auto path = testing::shared_fixtures_dir() / "DLS_I23_P12M_thau_00001.cbf.gz";
  DT_REQUIRE_SHARED(path);
  const AnyImage any = io::read_image(path);
  const DetectorMetadata& md = metadata(any);
  // The header has every flat-detector field, but the I23 detector is a cylinder.
  ASSERT_TRUE(md.wavelength_angstrom && md.distance_mm && md.pixel_size_mm &&
              md.beam_center_fast_px && md.beam_center_slow_px);
  EXPECT_EQ(md.surface, DetectorSurface::kCylinder);
  const auto [n_slow, n_fast] = extents(any);
  const auto found = geometry_from_metadata(md, n_fast, n_slow);
  EXPECT_FALSE(found);
  EXPECT_NE(found.why_not.find("not flat"), std::string::npos) << found.why_not;
  EXPECT_NE(found.why_not.find("PILATUS 12M"), std::string::npos) << found.why_not;
}

TEST(DetectorGeometry, FlatCbfFixturesHaveAGeometry) {
  for (const char* file : {"DLS_I03_smargon_0001.cbf.gz", "dlsnxs2cbf_therm_0001.cbf.gz"}) {
    const auto path = testing::shared_fixtures_dir() / file;
    DT_REQUIRE_SHARED(path);
    const AnyImage any = io::read_image(path);
    EXPECT_EQ(metadata(any).surface, DetectorSurface::kFlat) << file;
    const auto [n_slow, n_fast] = extents(any);
    const auto found = geometry_from_metadata(metadata(any), n_fast, n_slow);
    ASSERT_TRUE(found) << file << ": " << found.why_not;
    // Corners of a PILATUS 6M at 291 mm / an EIGER 16M at 214 mm reach beyond 2 Å.
    EXPECT_LT(found.geometry->corner_resolution_angstrom(), 2.0) << file;
    EXPECT_GT(found.geometry->edge_resolution_angstrom(),
              found.geometry->corner_resolution_angstrom())
        << file;
  }
}

}  // namespace
}  // namespace difftriage
