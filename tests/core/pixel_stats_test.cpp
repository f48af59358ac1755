#include "difftriage/core/pixel_stats.h"

#include <cmath>

#include <gtest/gtest.h>

namespace difftriage {
namespace {

TEST(Percentile, NearestRankByHand) {
  std::vector<double> v = {5, 1, 4, 2, 3, 6, 8, 7, 10, 9};
  EXPECT_EQ(percentile_inplace(v, 50), 5);
  EXPECT_EQ(percentile_inplace(v, 0), 1);
  EXPECT_EQ(percentile_inplace(v, 100), 10);
  EXPECT_EQ(percentile_inplace(v, 95), 10);
  EXPECT_EQ(percentile_inplace(v, 91), 10);
  EXPECT_EQ(percentile_inplace(v, 90), 9);
  std::vector<double> empty;
  EXPECT_THROW(percentile_inplace(empty, 50), ConfigError);
  EXPECT_THROW(percentile_inplace(v, 101), ConfigError);
}

TEST(SummarizePixels, SkipsMaskedPixels) {
  Image<uint16_t> img(2, 3);
  const uint16_t values[] = {1, 2, 3, 4, 5, 60000};
  for (int i = 0; i < 6; ++i) img.data()[i] = values[i];
  img.set_mask({0, 0, 0, 0, 0, 1});
  const auto s = summarize_pixels(img);
  EXPECT_EQ(s.n_pixels, 6);
  EXPECT_EQ(s.n_masked, 1);
  EXPECT_EQ(s.min, 1);
  EXPECT_EQ(s.max, 5);
  EXPECT_DOUBLE_EQ(s.mean, 3.0);
  EXPECT_NEAR(s.stddev, std::sqrt(2.0), 1e-12);
  EXPECT_EQ(s.percentiles[2], 3);  // median
}

TEST(SummarizePixels, AllMaskedGivesZeros) {
  Image<float> img(1, 2, 9.0f);
  img.set_mask({1, 1});
  const auto s = summarize_pixels(img);
  EXPECT_EQ(s.n_masked, 2);
  EXPECT_EQ(s.max, 0);
}

}  // namespace
}  // namespace difftriage
