#include "difftriage/features/radial.h"

#include <algorithm>
#include <cmath>

#include <gtest/gtest.h>

#include "features/synthetic.h"

namespace difftriage::features {
namespace {

TEST(RadialProfile, PeaksAtTheRingRadius) {
  Image<float> img(200, 200, 10.0f);
  test::add_ring(img, 100, 100, 60.0, 50.0, 1.0);
  const auto p = radial_profile(img.view());
  const auto k = std::max_element(p.mean.begin(), p.mean.end()) - p.mean.begin();
  EXPECT_NEAR(p.radius_px[static_cast<size_t>(k)], 60.0, 1.0);
  EXPECT_DOUBLE_EQ(p.center_fast_px, 100.0);
  EXPECT_NEAR(p.mean[5], 10.0, 1e-3);
}

TEST(RadialProfile, UsesMetadataCentreAndSkipsMaskedPixels) {
  Image<float> img(50, 80, 1.0f);
  img.metadata().beam_center_fast_px = 10.0;
  img.metadata().beam_center_slow_px = 20.0;
  std::vector<uint8_t> mask(static_cast<size_t>(img.size()), 0);
  img(20, 10) = 1000.0f;
  mask[20 * 80 + 10] = 1;
  img.set_mask(mask);
  const auto p = radial_profile(img.view());
  EXPECT_DOUBLE_EQ(p.center_fast_px, 10.0);
  EXPECT_DOUBLE_EQ(p.center_slow_px, 20.0);
  for (double m : p.mean) EXPECT_TRUE(m == 0.0 || m == 1.0) << m;
  RadialProfileOptions bad;
  bad.bin_width_px = 0;
  EXPECT_THROW(radial_profile(img.view(), bad), ConfigError);
}

// The pixel <-> resolution relations are DetectorGeometry's (tests/core/detector_geometry_test.cpp
// has the hand-computed case that was here).

}  // namespace
}  // namespace difftriage::features
