#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "difftriage/core/error.h"
#include "difftriage/report/charts.h"

namespace difftriage::report {
namespace {

using Counts = std::vector<int64_t>;

TEST(HistogramCounts, CountsHandComputedBins) {
  // Bins of width 2 over [0, 10]: [0,2) [2,4) [4,6) [6,8) [8,10].
  const std::vector<double> values = {0, 1.9, 2, 3.5, 5.999, 6, 7, 8, 9.99, 10};
  EXPECT_EQ(histogram_counts(values, 5, 0.0, 10.0), (Counts{2, 2, 1, 2, 3}));
}

TEST(HistogramCounts, MaxGoesInLastBinAndOutsideValuesInNone) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> values = {-0.001, 255, 255.5, nan, inf, -inf, 0, 127.5};
  // [0, 127.5) and [127.5, 255]: 0 in the first, 127.5 and 255 in the second.
  EXPECT_EQ(histogram_counts(values, 2, 0.0, 255.0), (Counts{1, 2}));
}

TEST(HistogramCounts, PixelValueEdgesLandInTheBinTheyStart) {
  // 256 grey levels in 16 bins of 16 levels: every level v belongs to bin v / 16 ... except 255
  // which is inside [240, 255]. Max 256 makes every bin exactly 16 levels wide.
  std::vector<double> levels;
  for (int v = 0; v < 256; ++v) levels.push_back(v);
  EXPECT_EQ(histogram_counts(levels, 16, 0.0, 256.0), Counts(16, 16));
  // Over [0, 255] with 5 bins of 51 levels: 0..50, 51..101, 102..152, 153..203, 204..255.
  EXPECT_EQ(histogram_counts(levels, 5, 0.0, 255.0), (Counts{51, 51, 51, 51, 52}));
}

TEST(HistogramCounts, NegativeRangeAndSingleBin) {
  EXPECT_EQ(histogram_counts({-3, -2.5, -1, 0, 0.5}, 1, -3.0, 0.0), (Counts{4}));
  EXPECT_EQ(histogram_counts({-1.0, -0.5, 0.0, 0.25, 0.5, 1.0}, 4, -1.0, 1.0),
            (Counts{1, 1, 2, 2}));
}

TEST(HistogramCounts, EmptyValuesGiveZeroCounts) {
  EXPECT_EQ(histogram_counts({}, 3, 0.0, 1.0), (Counts{0, 0, 0}));
}

TEST(HistogramCounts, HugeRangeDoesNotOverflow) {
  const double big = std::numeric_limits<double>::max() / 2;
  EXPECT_EQ(histogram_counts({-big, 0.0, big}, 2, -big, big), (Counts{1, 2}));
}

TEST(HistogramCounts, RejectsBadBinning) {
  EXPECT_THROW((void)histogram_counts({1.0}, 0, 0.0, 1.0), ConfigError);
  EXPECT_THROW((void)histogram_counts({1.0}, -4, 0.0, 1.0), ConfigError);
  EXPECT_THROW((void)histogram_counts({1.0}, 4, 1.0, 1.0), ConfigError);
  EXPECT_THROW((void)histogram_counts({1.0}, 4, 2.0, 1.0), ConfigError);
  EXPECT_THROW((void)histogram_counts({1.0}, 4, 0.0, std::numeric_limits<double>::infinity()),
               ConfigError);
  try {
    (void)histogram_counts({1.0}, 0, 0.0, 1.0);
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("n_bins"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace difftriage::report
