/// Charts as PNG files, drawn by gnuplot (pngcairo terminal; the libgd `png` terminal when this
/// gnuplot lacks pngcairo). Each function writes a gnuplot script and its data into a private
/// temporary folder, runs gnuplot (posix_spawnp, no shell; user init files ignored), and moves the
/// PNG into place atomically; the temporary folder is removed whatever happens. Titles and labels
/// are printed literally (quotes, backslashes, _ ^ @ & { } need no escaping; a newline starts a
/// new line).
///
/// Thread-safety: every function here may be called concurrently (each run has its own folder
/// and gnuplot process).
///
///   difftriage::report::BarChart chart{"Label frequency", "label", "count", {"blank", "ice"}, {12, 30}};
///   difftriage::report::plot_bar_chart("label_frequency.png", chart);
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "difftriage/core/image.h"

namespace difftriage::report {

/// How gnuplot is run and how large the PNG is.
struct ChartOptions {
  std::string gnuplot = "gnuplot";  ///< executable, looked up on PATH
  int width_px = 1200;              ///< canvas width in pixels, 64..16384
  int height_px = 700;              ///< canvas height in pixels, 64..16384
};

/// Bars with their value printed on top (the study's label-frequency figure). Values must be
/// finite; integers are printed without decimals. Category labels are rotated when too long to
/// fit under their bar.
struct BarChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<std::string> categories;
  std::vector<double> values;  ///< one per category
};

/// A labelled matrix drawn as coloured cells with the value in each cell (correlation heatmap).
/// Colours run on a diverging blue-white-red palette (ColorBrewer RdBu) from min_value to
/// max_value, values beyond them take the end colours; each cell shows its value with 2
/// decimals. NaN (or infinite) cells are drawn empty and annotated "n/a".
struct Heatmap {
  std::string title;
  std::vector<std::string> row_labels;
  std::vector<std::string> column_labels;
  std::vector<double> values;  ///< row-major, rows × columns
  double min_value = -1.0;     ///< colour scale range
  double max_value = 1.0;
};

/// A histogram of values with the count printed above each bin (rotated on narrow bins, left
/// out when bins are narrower than a line of text). Binning as histogram_counts().
struct Histogram {
  std::string title;
  std::string x_label = "pixel value";
  std::vector<double> values;
  int n_bins = 10;
  double min_value = 0.0;    ///< range covered by the bins
  double max_value = 255.0;
  bool log_y = false;        ///< logarithmic count axis (empty bins drawn as no bar, "0" kept)
};

/// Grayscale images in a grid, each with a title (the study's 5×5 sample figure). Pixels are drawn
/// on a fixed 0..255 gray scale, row 0 (slow = 0) at the top, with square pixels; masks are
/// ignored. Images of any size are accepted: one larger than 512 px on a side is reduced by
/// max-pooling (bright spots survive) before drawing. A grid with fewer images than
/// `n_columns` uses one column per image.
struct ImageGrid {
  std::string title;
  std::vector<ImageView<uint8_t>> images;
  std::vector<std::string> titles;  ///< one per image
  int n_columns = 5;
};

/// Lines y(x) sharing one x axis (training curves, radial profiles). NaN values leave a gap;
/// with `log_y`, values ≤ 0 are left out too.
struct LineChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<std::string> series_names;
  std::vector<std::vector<double>> xs;  ///< one x vector per series
  std::vector<std::vector<double>> ys;  ///< one y vector per series
  bool log_y = false;
};

/// Counts of `values` in `n_bins` equal bins spanning [min_value, max_value]. Bin i covers
/// [min + i·w, min + (i+1)·w) with w = (max − min) / n_bins, except the last, which also holds
/// values equal to `max_value`. Values below `min_value`, above `max_value`, or NaN are counted
/// in no bin. A pure function.
/// @throws ConfigError if n_bins < 1, a bound is not finite, or min_value >= max_value.
[[nodiscard]] std::vector<int64_t> histogram_counts(const std::vector<double>& values, int n_bins,
                                                    double min_value, double max_value);

/// Each writes `out` (a .png) atomically; on failure `out` is left as it was.
/// @throws ConfigError naming the field if the chart's vectors disagree in length or are empty,
/// n_bins or n_columns < 1, min_value >= max_value, a value is not finite where one is required,
/// or `options` is out of range.
/// @throws IoError with gnuplot's first stderr lines and `out` if gnuplot cannot be run or fails.
/// Warnings gnuplot prints while still succeeding go to the log sink (LogLevel::kWarning).
void plot_bar_chart(const std::filesystem::path& out, const BarChart& chart,
                    const ChartOptions& options = {});
void plot_heatmap(const std::filesystem::path& out, const Heatmap& chart,
                  const ChartOptions& options = {});
void plot_histogram(const std::filesystem::path& out, const Histogram& chart,
                    const ChartOptions& options = {});
void plot_image_grid(const std::filesystem::path& out, const ImageGrid& chart,
                     const ChartOptions& options = {});
void plot_lines(const std::filesystem::path& out, const LineChart& chart,
                const ChartOptions& options = {});

}  // namespace difftriage::report
