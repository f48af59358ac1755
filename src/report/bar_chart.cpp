// plot_bar_chart: one box per category with its value printed above (below, if negative).
#include <algorithm>
#include <cmath>
#include <string>

#include "difftriage/core/error.h"
#include "difftriage/report/charts.h"
#include "gnuplot_runner.h"
#include "gnuplot_script.h"

namespace difftriage::report {

namespace {

void validate(const BarChart& chart) {
  DT_CHECK(!chart.categories.empty(), ConfigError, "BarChart::categories is empty");
  DT_CHECK(chart.categories.size() == chart.values.size(), ConfigError, "BarChart::values has ",
           chart.values.size(), " entries but BarChart::categories has ", chart.categories.size());
  for (size_t i = 0; i < chart.values.size(); ++i) {
    DT_CHECK(std::isfinite(chart.values[i]), ConfigError, "BarChart::values[", i,
             "] (category '", chart.categories[i], "') is not finite");
  }
}

}  // namespace

void plot_bar_chart(const std::filesystem::path& out, const BarChart& chart,
                    const ChartOptions& options) {
  detail::validate_options(options);
  validate(chart);
  const detail::FontSizes fonts = detail::compute_font_sizes(options);
  const size_t n = chart.values.size();

  // Room for the printed values: 12 % above the tallest bar (and below the lowest negative one).
  const auto [lo_it, hi_it] = std::minmax_element(chart.values.begin(), chart.values.end());
  double y_max = std::max(0.0, *hi_it);
  double y_min = std::min(0.0, *lo_it);
  const double span = (y_max - y_min) > 0 ? (y_max - y_min) : 1.0;
  if (y_max > 0 || y_min == 0) y_max += 0.12 * span;
  if (y_min < 0) y_min -= 0.12 * span;

  // Roughly the plot area: the canvas less the y tic labels, y label and right padding.
  const double plot_width_px = options.width_px - 12.0 * fonts.base_pt;
  const double slot_px = plot_width_px / static_cast<double>(n);
  const bool rotate_categories = detail::should_rotate_labels(chart.categories, fonts.base_pt, slot_px);
  std::vector<std::string> value_labels;
  for (double v : chart.values) value_labels.push_back(detail::format_value_label(v));
  const bool rotate_values = detail::should_rotate_labels(value_labels, fonts.small_pt, slot_px);

  detail::ScratchDir scratch;
  std::string data;
  for (size_t i = 0; i < n; ++i) {
    data += std::to_string(i) + " " + detail::format_number(chart.values[i]) + " " +
            value_labels[i] + "\n";
  }
  detail::write_file_bytes(scratch.file("bars.dat"), data);

  const std::string data_file = detail::quote(scratch.file("bars.dat").string());
  const std::string value_font = "font '," + std::to_string(fonts.small_pt) + "'";
  const std::string value_rotation = rotate_values ? " rotate by 90" : "";
  std::string s = detail::make_common_style(chart.title, fonts);
  s += "set xlabel " + detail::quote(chart.x_label) + "\n";
  s += "set ylabel " + detail::quote(chart.y_label) + "\n";
  s += "set xrange [-0.6:" + detail::format_number(static_cast<double>(n) - 0.4) + "]\n";
  s += "set yrange [" + detail::format_number(y_min) + ":" + detail::format_number(y_max) + "]\n";
  s += detail::make_category_tics('x', chart.categories, rotate_categories);
  s += "set xtics scale 0\n";
  s += "set rmargin 3\n";  // gnuplot reserves far too much for rotated tic labels otherwise
  s += "set xzeroaxis lt -1 lw 1\n";
  s += "set boxwidth 0.7\n";
  s += "set style fill solid 0.9 border lc rgb '#2b4c7e'\n";
  // One label plot per sign, each only when it has points: gnuplot 5.4 crashes on a `labels`
  // plot whose points are all undefined when the data file holds a single row.
  const bool any_negative = *lo_it < 0;
  const bool any_non_negative = *hi_it >= 0;
  s += "plot " + data_file + " using 1:2 with boxes lc rgb '#4c78a8'";
  if (any_non_negative) {
    s += ", \\\n     '' using 1:($2 >= 0 ? $2 : 1/0):3 with labels " +
         std::string(rotate_values ? "left" : "center") + " offset 0,0.6" + value_rotation + " " +
         value_font + " tc rgb '#111111'";
  }
  if (any_negative) {
    s += ", \\\n     '' using 1:($2 < 0 ? $2 : 1/0):3 with labels " +
         std::string(rotate_values ? "right" : "center") + " offset 0,-0.6" + value_rotation + " " +
         value_font + " tc rgb '#111111'";
  }
  s += "\n";
  detail::render_png(out, options, fonts, scratch, s);
}

}  // namespace difftriage::report
