// histogram_counts (the binning) and plot_histogram (bars of those counts, labelled).
#include <algorithm>
#include <cmath>
#include <string>

#include "difftriage/core/error.h"
#include "difftriage/report/charts.h"
#include "gnuplot_runner.h"
#include "gnuplot_script.h"

namespace difftriage::report {

namespace {

void validate_binning(int n_bins, double min_value, double max_value) {
  DT_CHECK(n_bins >= 1, ConfigError, "Histogram::n_bins must be >= 1, got ", n_bins);
  DT_CHECK(std::isfinite(min_value) && std::isfinite(max_value) &&
               std::isfinite(max_value - min_value),
           ConfigError, "Histogram::min_value and max_value must be finite, got ", min_value,
           " and ", max_value);
  DT_CHECK(min_value < max_value, ConfigError, "Histogram::min_value (", min_value,
           ") must be < max_value (", max_value, ")");
}

}  // namespace

std::vector<int64_t> histogram_counts(const std::vector<double>& values, int n_bins,
                                      double min_value, double max_value) {
  validate_binning(n_bins, min_value, max_value);
  std::vector<int64_t> counts(static_cast<size_t>(n_bins), 0);
  const double range = max_value - min_value;
  for (double v : values) {
    if (!(v >= min_value && v <= max_value)) continue;  // also drops NaN
    // Multiply before dividing: exact for the usual integer pixel values and bin counts, so a
    // value on an edge lands in the bin it starts. Divide first only if the product overflows.
    double scaled = (v - min_value) * n_bins / range;
    if (!std::isfinite(scaled)) scaled = (v - min_value) / range * n_bins;
    const int bin = std::min(static_cast<int>(scaled), n_bins - 1);  // v == max: last bin
    ++counts[static_cast<size_t>(bin)];
  }
  return counts;
}

void plot_histogram(const std::filesystem::path& out, const Histogram& chart,
                    const ChartOptions& options) {
  detail::validate_options(options);
  DT_CHECK(!chart.values.empty(), ConfigError, "Histogram::values is empty");
  const std::vector<int64_t> counts =
      histogram_counts(chart.values, chart.n_bins, chart.min_value, chart.max_value);
  const detail::FontSizes fonts = detail::compute_font_sizes(options);
  const int64_t max_count = *std::max_element(counts.begin(), counts.end());

  const double bin_width = (chart.max_value - chart.min_value) / chart.n_bins;
  const double plot_width_px = options.width_px - 12.0 * fonts.base_pt;
  const double slot_px = plot_width_px / chart.n_bins;
  std::vector<std::string> labels;
  for (int64_t c : counts) labels.push_back(std::to_string(c));
  const bool rotate_counts = detail::should_rotate_labels(labels, fonts.small_pt, slot_px);
  // A rotated label still needs one line height of bin width; below that, counts would overlap
  // into a smear, so they are left out (the bars still show them).
  const bool show_counts =
      slot_px >= 0.8 * detail::kLineHeightPxPerPt * fonts.small_pt || !rotate_counts;

  // Log axis: bars need a positive base, so the axis starts at 0.5 and empty bins draw no bar;
  // their "0" is printed just above the axis.
  const double y_floor = 0.5;
  double y_max;
  if (chart.log_y) {
    y_max = std::max<double>(static_cast<double>(max_count), 1.0) * (rotate_counts ? 6.0 : 2.5);
  } else {
    y_max = std::max<double>(static_cast<double>(max_count), 1.0) * (rotate_counts ? 1.25 : 1.12);
  }

  detail::ScratchDir scratch;
  std::string data;
  for (size_t i = 0; i < counts.size(); ++i) {
    const double centre = chart.min_value + (static_cast<double>(i) + 0.5) * bin_width;
    const double count = static_cast<double>(counts[i]);
    const bool empty_on_log = chart.log_y && counts[i] == 0;
    data += detail::format_number(centre) + " " +
            (empty_on_log ? std::string("NaN") : detail::format_number(count)) + " " +
            detail::format_number(empty_on_log ? y_floor : count) + " " + labels[i] + "\n";
  }
  detail::write_file_bytes(scratch.file("bins.dat"), data);

  const std::string data_file = detail::quote(scratch.file("bins.dat").string());
  std::string s = detail::make_common_style(chart.title, fonts);
  s += "set xlabel " + detail::quote(chart.x_label) + "\n";
  s += "set ylabel " + detail::quote(chart.log_y ? "count (log scale)" : "count") + "\n";
  s += "set xrange [" + detail::format_number(chart.min_value) + ":" +
       detail::format_number(chart.max_value) + "]\n";
  if (chart.log_y) {
    s += "set logscale y 10\n";
    s += "set format y '%.0s%c'\n";  // 1k, 10k, 1M instead of 1e+06
    s += "set yrange [" + detail::format_number(y_floor) + ":" + detail::format_number(y_max) + "]\n";
  } else {
    s += "set yrange [0:" + detail::format_number(y_max) + "]\n";
  }
  s += "set rmargin 4\n";
  s += "set boxwidth " + detail::format_number(bin_width) + " absolute\n";
  s += "set style fill solid 0.85 border lc rgb '#1f3f66'\n";
  s += "plot " + data_file + " using 1:2 with boxes lc rgb '#5b8fc7'";
  if (show_counts) {
    s += ", \\\n     '' using 1:3:4 with labels " + std::string(rotate_counts ? "left rotate by 90" : "center") +
         " offset 0," + (rotate_counts ? "0.4" : "0.6") + " font '," +
         std::to_string(fonts.small_pt) + "' tc rgb '#111111'";
  }
  s += "\n";
  detail::render_png(out, options, fonts, scratch, s);
}

}  // namespace difftriage::report
