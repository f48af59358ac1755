// The charts draw the data, not just a canvas of the right size: each chart is rendered twice
// with mirrored data, and the ink (dark pixels of the PNG read back in gray) moves the way the
// data moved. A blank canvas, or a chart that ignored its values, draws the same ink both times.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "difftriage/core/image.h"
#include "difftriage/io/image_io.h"
#include "difftriage/report/charts.h"
#include "support/test_support.h"

namespace difftriage::report {
namespace {
namespace fs = std::filesystem;
using testing::TempDir;

// A rectangle of the chart in fractions of its width (fast) and height (slow).
struct Region {
  double fast0, fast1, slow0, slow1;
};

Image<uint8_t> read_gray(const fs::path& path) {
  auto image = io::read_image(path);
  EXPECT_TRUE(std::holds_alternative<Image<uint8_t>>(image)) << path;
  return std::get<Image<uint8_t>>(std::move(image));
}

// Pixels of `r` darker than light gray (gnuplot draws on white).
int64_t ink(const Image<uint8_t>& image, const Region& r) {
  int64_t n = 0;
  const auto s0 = static_cast<int64_t>(r.slow0 * image.n_slow());
  const auto s1 = static_cast<int64_t>(r.slow1 * image.n_slow());
  const auto f0 = static_cast<int64_t>(r.fast0 * image.n_fast());
  const auto f1 = static_cast<int64_t>(r.fast1 * image.n_fast());
  for (int64_t s = s0; s < s1; ++s)
    for (int64_t f = f0; f < f1; ++f) n += image(s, f) < 200;
  return n;
}

double mean_gray(const Image<uint8_t>& image, const Region& r) {
  double sum = 0;
  int64_t n = 0;
  for (auto s = static_cast<int64_t>(r.slow0 * image.n_slow());
       s < static_cast<int64_t>(r.slow1 * image.n_slow()); ++s)
    for (auto f = static_cast<int64_t>(r.fast0 * image.n_fast());
         f < static_cast<int64_t>(r.fast1 * image.n_fast()); ++f, ++n)
      sum += image(s, f);
  return n > 0 ? sum / static_cast<double>(n) : 0.0;
}

ChartOptions canvas() {
  ChartOptions options;
  options.width_px = 480;
  options.height_px = 320;
  return options;
}

// Upper half of the plot, left and right of its middle (titles and axis labels are the same in
// both renders, so they cancel in the comparisons).
constexpr Region kUpperLeft{0.15, 0.5, 0.15, 0.55};
constexpr Region kUpperRight{0.5, 0.95, 0.15, 0.55};

// `left` has more ink than `right` in the plot's upper left, `right` more in its upper right,
// each by more than `margin` pixels.
void expect_ink_moves_right(const fs::path& left, const fs::path& right, int64_t margin) {
  const auto a = read_gray(left);
  const auto b = read_gray(right);
  EXPECT_GT(ink(a, kUpperLeft), ink(b, kUpperLeft) + margin) << left << " vs " << right;
  EXPECT_GT(ink(b, kUpperRight), ink(a, kUpperRight) + margin) << left << " vs " << right;
}

TEST(ChartInk, BarHeightsFollowTheValues) {
  TempDir dir;
  plot_bar_chart(dir / "left.png", BarChart{"bars", "", "", {"a", "b"}, {10, 1}}, canvas());
  plot_bar_chart(dir / "right.png", BarChart{"bars", "", "", {"a", "b"}, {1, 10}}, canvas());
  expect_ink_moves_right(dir / "left.png", dir / "right.png", 500);
}

TEST(ChartInk, LinesGoWhereTheirPointsAre) {
  TempDir dir;
  const std::vector<double> x = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  std::vector<double> rising, falling;
  for (double v : x) {
    rising.push_back(v);
    falling.push_back(9 - v);
  }
  plot_lines(dir / "rising.png", LineChart{"lines", "x", "y", {"s"}, {x}, {rising}}, canvas());
  plot_lines(dir / "falling.png", LineChart{"lines", "x", "y", {"s"}, {x}, {falling}}, canvas());
  expect_ink_moves_right(dir / "falling.png", dir / "rising.png", 20);
}

TEST(ChartInk, HistogramBarsSitOverTheBinsHoldingTheValues) {
  TempDir dir;
  Histogram low, high;
  low.title = high.title = "values";
  low.n_bins = high.n_bins = 4;
  for (int i = 0; i < 400; ++i) {
    low.values.push_back(10.0 + (i % 40));    // all in the first bin
    high.values.push_back(200.0 + (i % 40));  // all in the last bin
  }
  low.values.push_back(250.0);  // one value at the other end keeps the axes alike
  high.values.push_back(5.0);
  plot_histogram(dir / "low.png", low, canvas());
  plot_histogram(dir / "high.png", high, canvas());
  expect_ink_moves_right(dir / "low.png", dir / "high.png", 500);
}

TEST(ChartInk, HeatmapCellsTakeTheColourOfTheirValue) {
  TempDir dir;
  Heatmap plus{"h", {"r1", "r2"}, {"c1", "c2"}, {1.0, 0.0, 0.0, 1.0}};
  Heatmap zero{"h", {"r1", "r2"}, {"c1", "c2"}, {0.0, 0.0, 0.0, 0.0}};
  plot_heatmap(dir / "plus.png", plus, canvas());
  plot_heatmap(dir / "zero.png", zero, canvas());
  const auto a = read_gray(dir / "plus.png");
  const auto b = read_gray(dir / "zero.png");
  // The value 1 cells are dark red; 0 is white on the diverging palette.
  const double da = mean_gray(a, {0.1, 0.9, 0.1, 0.9});
  const double db = mean_gray(b, {0.1, 0.9, 0.1, 0.9});
  EXPECT_LT(da, db - 20) << da << " vs " << db;
}

TEST(ChartInk, ImageGridShowsThePixels) {
  TempDir dir;
  Image<uint8_t> dark(64, 64, 0), light(64, 64, 255);
  plot_image_grid(dir / "dark.png", ImageGrid{"g", {dark.view()}, {"x"}, 1}, canvas());
  plot_image_grid(dir / "light.png", ImageGrid{"g", {light.view()}, {"x"}, 1}, canvas());
  const Region centre{0.4, 0.6, 0.4, 0.6};
  const double d = mean_gray(read_gray(dir / "dark.png"), centre);
  const double l = mean_gray(read_gray(dir / "light.png"), centre);
  EXPECT_LT(d, 60) << d;
  EXPECT_GT(l, 195) << l;
}

}  // namespace
}  // namespace difftriage::report
