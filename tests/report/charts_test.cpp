// Each chart type renders a real PNG of the requested size through gnuplot.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "difftriage/core/image.h"
#include "difftriage/report/charts.h"
#include "png_probe.h"
#include "support/test_support.h"

namespace difftriage::report {
namespace {

namespace fs = std::filesystem;
using testing::png_size;
using testing::TempDir;

// Small canvases keep each gnuplot run well under a second.
ChartOptions small_canvas(int width_px = 480, int height_px = 320) {
  ChartOptions options;
  options.width_px = width_px;
  options.height_px = height_px;
  return options;
}

void expect_png(const fs::path& path, int width_px, int height_px) {
  ASSERT_TRUE(fs::exists(path)) << path;
  const auto size = png_size(path);
  ASSERT_TRUE(size.has_value()) << path << " is not a PNG";
  EXPECT_EQ(size->first, static_cast<uint32_t>(width_px));
  EXPECT_EQ(size->second, static_cast<uint32_t>(height_px));
}

// Only the PNG is left in the output folder: no temporary beside it.
void expect_only_file(const fs::path& folder, const std::string& name) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(folder)) names.push_back(entry.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{name});
}

Image<uint8_t> gradient_image(int64_t n_slow, int64_t n_fast) {
  Image<uint8_t> image(n_slow, n_fast);
  for (int64_t s = 0; s < n_slow; ++s) {
    for (int64_t f = 0; f < n_fast; ++f) image(s, f) = static_cast<uint8_t>((s + 3 * f) % 256);
  }
  return image;
}

TEST(Charts, BarChartWritesPngOfRequestedSize) {
  TempDir dir;
  BarChart chart{"Label frequency", "label", "count", {"blank", "ice", "good", "weak"},
                 {12, 30, 7.5, 0}};
  plot_bar_chart(dir / "bars.png", chart, small_canvas(500, 300));
  expect_png(dir / "bars.png", 500, 300);
  expect_only_file(dir.path(), "bars.png");
}

TEST(Charts, BarChartWithNegativeValuesAndLongLabels) {
  TempDir dir;
  BarChart chart{"Signed", "", "", {"a very long category name", "another long one", "x"},
                 {-3, 5, 1e6}};
  plot_bar_chart(dir / "signed.png", chart, small_canvas());
  expect_png(dir / "signed.png", 480, 320);
}

TEST(Charts, HeatmapWritesPngWithNaNCells) {
  TempDir dir;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Heatmap chart{"Correlation", {"mean", "std", "ice"}, {"mean", "std", "ice"},
                {1.0, 0.5, -0.2, 0.5, 1.0, nan, -0.2, nan, 1.0}};
  plot_heatmap(dir / "heat.png", chart, small_canvas(400, 400));
  expect_png(dir / "heat.png", 400, 400);
}

TEST(Charts, HistogramWritesPngLinearAndLog) {
  TempDir dir;
  Histogram chart;
  chart.title = "Pixel values";
  for (int i = 0; i < 1000; ++i) chart.values.push_back(std::fmod(i * 37.0, 256.0));
  chart.n_bins = 8;
  plot_histogram(dir / "linear.png", chart, small_canvas());
  expect_png(dir / "linear.png", 480, 320);
  chart.log_y = true;
  chart.values.resize(10);  // leaves empty bins, which a log axis cannot draw as bars
  plot_histogram(dir / "log.png", chart, small_canvas());
  expect_png(dir / "log.png", 480, 320);
}

TEST(Charts, ImageGridWritesPngForMixedSizes) {
  TempDir dir;
  // A large frame (reduced by max-pooling) beside small non-square ones.
  const Image<uint8_t> large = gradient_image(1100, 1300);
  const Image<uint8_t> wide = gradient_image(20, 60);
  const Image<uint8_t> tall = gradient_image(64, 16);
  ImageGrid chart{"Samples", {large, wide, tall, wide}, {"fake_00001.pgm photo1 ice", "wide",
                                                         "tall", "wide again"}, 3};
  plot_image_grid(dir / "grid.png", chart, small_canvas(600, 500));
  expect_png(dir / "grid.png", 600, 500);
}

TEST(Charts, LineChartWritesPngLinearAndLog) {
  TempDir dir;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // A gap (NaN), a series with nothing drawable, and a single point.
  LineChart chart{"Loss", "epoch", "loss", {"train", "validation", "missing", "one"},
                  {{1, 2, 3, 4}, {1, 2, 3, 4}, {1, 2}, {2.5}},
                  {{1.0, 0.5, 0.3, 0.2}, {1.2, nan, 0.6, 0.0}, {nan, nan}, {0.7}}};
  plot_lines(dir / "lines.png", chart, small_canvas());
  expect_png(dir / "lines.png", 480, 320);
  chart.log_y = true;  // the 0.0 is left out
  plot_lines(dir / "log.png", chart, small_canvas());
  expect_png(dir / "log.png", 480, 320);
}

// Also a single bar: gnuplot 5.4 crashes on a one-row `labels` plot with no defined point.
TEST(Charts, ReplacesAnExistingFile) {
  TempDir dir;
  testing::write_text(dir / "bars.png", "old content");
  plot_bar_chart(dir / "bars.png", BarChart{"t", "x", "y", {"a"}, {1}}, small_canvas(200, 150));
  expect_png(dir / "bars.png", 200, 150);
}

TEST(Charts, HostileTextIsPrintedNotInterpreted) {
  TempDir dir;
  // Quotes, backslashes, enhanced-text specials, a gnuplot macro, a newline, and a backquoted
  // command, which gnuplot would run inside a double-quoted string.
  const fs::path marker = dir / "pwned";
  const std::string hostile = "it's \"x_1^2\" \\ C:\\path\\ @macro &{a} `touch " +
                              marker.string() + "` ' ; set output '/x'\nsecond line";
  BarChart bars{hostile, hostile, hostile, {hostile, "b_c", "'"}, {1, 2, 3}};
  plot_bar_chart(dir / "bars.png", bars, small_canvas());
  expect_png(dir / "bars.png", 480, 320);

  Heatmap heat{hostile, {hostile, "\\"}, {"'", "\""}, {0.1, 0.2, 0.3, 0.4}};
  plot_heatmap(dir / "heat.png", heat, small_canvas());
  expect_png(dir / "heat.png", 480, 320);

  Histogram hist;
  hist.title = hostile;
  hist.x_label = hostile;
  hist.values = {1, 2, 3};
  plot_histogram(dir / "hist.png", hist, small_canvas());
  expect_png(dir / "hist.png", 480, 320);

  const Image<uint8_t> image = gradient_image(8, 8);
  plot_image_grid(dir / "grid.png", ImageGrid{hostile, {image, image}, {hostile, "_^@"}, 2},
                  small_canvas());
  expect_png(dir / "grid.png", 480, 320);

  plot_lines(dir / "lines.png",
             LineChart{hostile, hostile, hostile, {hostile}, {{0, 1}}, {{0, 1}}}, small_canvas());
  expect_png(dir / "lines.png", 480, 320);

  EXPECT_FALSE(fs::exists(marker)) << "a backquoted command in a title was run";
}

TEST(Charts, OutputPathWithQuotesAndSpaces) {
  TempDir dir;
  const fs::path out = dir / "it's a \"chart\" `x`.png";
  plot_bar_chart(out, BarChart{"t", "x", "y", {"a", "b"}, {1, 2}}, small_canvas(300, 200));
  expect_png(out, 300, 200);
}

}  // namespace
}  // namespace difftriage::report
