#include "difftriage/features/spots.h"

#include <gtest/gtest.h>

#include "features/synthetic.h"

namespace difftriage::features {
namespace {

TEST(FindSpots, FindsPlantedSpotsAtTheirCentroids) {
  Image<float> img = test::noise_frame(128, 110.0, 8.0, 1);
  const double pos[][2] = {{20.3, 30.7}, {64.5, 64.5}, {100.2, 15.9}, {40.0, 110.0}};
  for (const auto& p : pos) test::add_spot(img, p[0], p[1], 120.0, 0.8);
  const auto spots = find_spots(img.view());
  ASSERT_EQ(spots.size(), 4u);
  for (const auto& p : pos) {
    bool matched = false;
    for (const auto& s : spots) {
      if (std::hypot(s.fast_px - p[0], s.slow_px - p[1]) < 0.5) matched = true;
    }
    EXPECT_TRUE(matched) << p[0] << "," << p[1];
  }
  for (const auto& s : spots) EXPECT_GT(s.snr, 5.0);
}

TEST(FindSpots, PureNoiseHasNoSpotsAndWideSpotsStillCount) {
  EXPECT_TRUE(find_spots(test::noise_frame(256, 110.0, 8.0, 2).view()).empty());
  Image<float> img = test::noise_frame(64, 110.0, 8.0, 3);
  test::add_spot(img, 32, 32, 100.0, 1.5);  // ~3x3 px core: the annulus keeps it detectable
  EXPECT_EQ(find_spots(img.view()).size(), 1u);
}

TEST(FindSpots, MaskedPixelsAreIgnoredAndOptionsValidated) {
  Image<float> img = test::noise_frame(64, 110.0, 8.0, 4);
  test::add_spot(img, 32.5, 32.5, 150.0, 0.6);
  std::vector<uint8_t> mask(static_cast<size_t>(img.size()), 0);
  for (int64_t s = 30; s < 35; ++s)
    for (int64_t f = 30; f < 35; ++f) mask[static_cast<size_t>(s * 64 + f)] = 1;
  img.set_mask(mask);
  EXPECT_TRUE(find_spots(img.view()).empty());
  SpotFinderOptions bad;
  bad.peak_radius_px = bad.background_radius_px;
  EXPECT_THROW(find_spots(img.view(), bad), ConfigError);
}

}  // namespace
}  // namespace difftriage::features
