#include "difftriage/features/frame_stats.h"

#include <gtest/gtest.h>

#include "features/synthetic.h"

namespace difftriage::features {
namespace {

TEST(FrameStats, CountsBrightPixelsSpotsAndProfile) {
  Image<float> img(100, 100, 100.0f);
  for (int64_t f = 0; f < 10; ++f) img(5, f) = 200.0f;  // 10 bright pixels in a row: 1 blob
  test::add_spot(img, 50.5, 30.5, 150.0, 0.5);
  FrameStatsOptions options;
  options.n_radial_bins = 5;
  const auto s = compute_frame_stats(img.view(), options);
  EXPECT_NEAR(s.fraction_bright, 11.0 / 10000.0, 1e-12);  // the row + the spot's peak pixel
  EXPECT_EQ(s.percentiles[3], 100.0);                       // median
  EXPECT_EQ(s.n_spots, 2);
  ASSERT_EQ(s.radial_profile.size(), 5u);
  EXPECT_NEAR(s.radial_profile[0], 100.0, 1e-9);  // centre shells are flat background
  EXPECT_GT(s.radial_profile[2], 100.0);          // the spot sits 20 px from the centre
  options.n_radial_bins = 0;
  EXPECT_THROW(compute_frame_stats(img.view(), options), ConfigError);
}

}  // namespace
}  // namespace difftriage::features
