#include "difftriage/features/ice.h"

#include <gtest/gtest.h>

#include "features/synthetic.h"

namespace difftriage::features {
namespace {

TEST(IceScore, FindsARingAtTheIceSpacingWithGeometry) {
  Image<float> img = test::noise_frame(256, 100.0, 5.0, 5);
  // λ 1 Å, 80 mm, 0.2 mm pixels, beam at the frame centre.
  const DetectorGeometry g{1.0, 80.0, 0.2, 128.0, 128.0, 256, 256};
  const double r = g.radius_px_for_resolution(3.669).value();
  test::add_ring(img, 128, 128, r, 20.0, 1.0);
  IceScoreOptions options;
  options.geometry = g;
  const auto s = ice_score(img.view(), options);
  EXPECT_TRUE(s.used_geometry);
  EXPECT_DOUBLE_EQ(s.d_angstrom, 3.669);
  EXPECT_GT(s.score, 10.0);
}

TEST(IceScore, UsesTheMetadataGeometryOfAFlatDetectorOnly) {
  // Metadata with wavelength, distance and pixel size but no beam centre: the rings are looked
  // for around the frame centre at the ice spacings.
  Image<float> img = test::noise_frame(256, 100.0, 5.0, 8);
  const DetectorGeometry g{1.0, 80.0, 0.2, 128.0, 128.0, 256, 256};
  test::add_ring(img, 128, 128, g.radius_px_for_resolution(3.897).value(), 20.0, 1.0);
  img.metadata().wavelength_angstrom = 1.0;
  img.metadata().distance_mm = 80.0;
  img.metadata().pixel_size_mm = 0.2;
  const auto s = ice_score(img.view());
  EXPECT_TRUE(s.used_geometry);
  EXPECT_DOUBLE_EQ(s.d_angstrom, 3.897);
  EXPECT_GT(s.score, 10.0);
  // A detector that is not flat has no geometry: blind search, no d.
  img.metadata().surface = DetectorSurface::kCylinder;
  const auto blind = ice_score(img.view());
  EXPECT_FALSE(blind.used_geometry);
  EXPECT_EQ(blind.d_angstrom, 0.0);
  // An unphysical explicit geometry is a ConfigError naming the field.
  IceScoreOptions bad;
  bad.geometry = DetectorGeometry{1.0, 0.0, 0.2, 128.0, 128.0, 0, 0};
  try {
    ice_score(img.view(), bad);
    FAIL() << "no throw";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("distance_mm"), std::string::npos) << e.what();
  }
}

TEST(IceScore, BlindSearchFindsTheRingAndNoiseScoresLow) {
  Image<float> ring = test::noise_frame(256, 100.0, 5.0, 6);
  test::add_ring(ring, 128, 128, 70.0, 15.0, 1.0);
  const auto with_ring = ice_score(ring.view());
  EXPECT_FALSE(with_ring.used_geometry);
  EXPECT_NEAR(with_ring.radius_px, 70.0, 1.5);
  const auto plain = ice_score(test::noise_frame(256, 100.0, 5.0, 7).view());
  EXPECT_GT(with_ring.score, 3 * plain.score);
  EXPECT_LT(plain.score, 8.0);
}

}  // namespace
}  // namespace difftriage::features
