// plot_heatmap: a labelled matrix of coloured cells on a diverging palette, value in each cell.
#include <algorithm>
#include <cmath>
#include <string>

#include "difftriage/core/error.h"
#include "difftriage/report/charts.h"
#include "gnuplot_runner.h"
#include "gnuplot_script.h"

namespace difftriage::report {

namespace {

// ColorBrewer RdBu (11 classes), blue for low values through white to red for high ones: a
// diverging palette readable by most colour-blind viewers and in grayscale print.
constexpr const char* kDivergingPalette =
    "set palette defined (0 '#053061', 0.1 '#2166ac', 0.2 '#4393c3', 0.3 '#92c5de', "
    "0.4 '#d1e5f0', 0.5 '#f7f7f7', 0.6 '#fddbc7', 0.7 '#f4a582', 0.8 '#d6604d', "
    "0.9 '#b2182b', 1 '#67001f')\n";

// Cell text switches from black to white on the darkest 30 % at each end of the palette.
constexpr double kWhiteTextBeyond = 0.3;
constexpr int kBlackRgb = 0x111111;
constexpr int kWhiteRgb = 0xffffff;

void validate(const Heatmap& chart) {
  DT_CHECK(!chart.row_labels.empty(), ConfigError, "Heatmap::row_labels is empty");
  DT_CHECK(!chart.column_labels.empty(), ConfigError, "Heatmap::column_labels is empty");
  const size_t expected = chart.row_labels.size() * chart.column_labels.size();
  DT_CHECK(chart.values.size() == expected, ConfigError, "Heatmap::values has ",
           chart.values.size(), " entries, expected rows x columns = ", chart.row_labels.size(),
           " x ", chart.column_labels.size(), " = ", expected);
  DT_CHECK(std::isfinite(chart.min_value) && std::isfinite(chart.max_value), ConfigError,
           "Heatmap::min_value and max_value must be finite, got ", chart.min_value, " and ",
           chart.max_value);
  DT_CHECK(chart.min_value < chart.max_value, ConfigError, "Heatmap::min_value (",
           chart.min_value, ") must be < max_value (", chart.max_value, ")");
}

}  // namespace

void plot_heatmap(const std::filesystem::path& out, const Heatmap& chart,
                  const ChartOptions& options) {
  detail::validate_options(options);
  validate(chart);
  const detail::FontSizes fonts = detail::compute_font_sizes(options);
  const size_t n_rows = chart.row_labels.size();
  const size_t n_columns = chart.column_labels.size();

  // Square cells: the plot area is the largest square-celled box that fits the canvas less room
  // for the title, tic labels and colour box.
  auto longest = [](const std::vector<std::string>& labels) {
    size_t n = 0;
    for (const auto& label : labels) n = std::max(n, label.size());
    return static_cast<double>(n);
  };
  const double char_px = detail::kCharWidthPxPerPt * fonts.base_pt;
  const double avail_w = options.width_px - longest(chart.row_labels) * char_px - 14.0 * fonts.base_pt;
  const double avail_h = options.height_px - 8.0 * fonts.base_pt;
  const double cell_px = std::max(1.0, std::min(avail_w / n_columns, avail_h / n_rows));
  const bool rotate_columns = detail::should_rotate_labels(chart.column_labels, fonts.base_pt, cell_px);
  // Cell values ("-0.25": 5 characters) must fit 85 % of a cell; shrink the font, not below 6 pt.
  const int cell_pt = std::clamp(static_cast<int>(0.85 * cell_px / (5.0 * detail::kCharWidthPxPerPt)),
                                 6, fonts.base_pt);

  detail::ScratchDir scratch;
  std::string data;
  const double range = chart.max_value - chart.min_value;
  for (size_t r = 0; r < n_rows; ++r) {
    for (size_t c = 0; c < n_columns; ++c) {
      const double v = chart.values[r * n_columns + c];
      int text_rgb = kBlackRgb;
      if (std::isfinite(v)) {
        const double t = std::clamp((v - chart.min_value) / range, 0.0, 1.0);
        if (std::fabs(t - 0.5) > 0.5 - kWhiteTextBeyond) text_rgb = kWhiteRgb;
      }
      data += std::to_string(c) + " " + std::to_string(r) + " " + detail::format_number(v) + " " +
              detail::format_fixed(v, 2) + " " + std::to_string(text_rgb) + "\n";
    }
  }
  detail::write_file_bytes(scratch.file("cells.dat"), data);

  const std::string data_file = detail::quote(scratch.file("cells.dat").string());
  std::string s = detail::make_common_style(chart.title, fonts);
  s += "unset grid\n";
  s += "set border 15 lw 1 lc rgb '#333333'\n";
  s += "set size ratio -1\n";  // square cells
  s += "set xrange [-0.5:" + detail::format_number(static_cast<double>(n_columns) - 0.5) + "]\n";
  s += "set yrange [" + detail::format_number(static_cast<double>(n_rows) - 0.5) + ":-0.5]\n";  // row 0 on top
  s += detail::make_category_tics('x', chart.column_labels, rotate_columns);
  s += detail::make_category_tics('y', chart.row_labels, false);
  s += "set tics scale 0\n";
  s += kDivergingPalette;
  s += "set cbrange [" + detail::format_number(chart.min_value) + ":" +
       detail::format_number(chart.max_value) + "]\n";
  s += "set cbtics out scale 0.6\n";
  s += "plot " + data_file + " using 1:2:3 with image pixels, \\\n";
  s += "     '' using 1:2:4:5 with labels center font '," + std::to_string(cell_pt) +
       "' tc rgb variable\n";
  detail::render_png(out, options, fonts, scratch, s);
}

}  // namespace difftriage::report
