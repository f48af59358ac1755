#include "difftriage/features/ice.h"

#include <gtest/gtest.h>

#include "features/synthetic.h"

namespace difftriage::features {
namespace {

TEST(IceScore, FindsARingAtTheIceSpacingWithGeometry) {
  Image<float> img = test::noise_frame(256, 100.0, 5.0, 5);
  const IceGeometry g{1.0, 80.0, 0.2};
  const double r = radius_px_for_d(3.669, g.wavelength_angstrom, g.distance_mm, g.pixel_size_mm);
  test::add_ring(img, 128, 128, r, 20.0, 1.0);
  IceScoreOptions options;
  options.geometry = g;
  const auto s = ice_score(img.view(), options);
  EXPECT_TRUE(s.used_geometry);
  EXPECT_DOUBLE_EQ(s.d_angstrom, 3.669);
  EXPECT_GT(s.score, 10.0);
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
