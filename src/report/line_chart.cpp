// plot_lines: several y(x) series on shared axes with a legend.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>
#include <string>

#include "difftriage/core/error.h"
#include "difftriage/report/charts.h"
#include "gnuplot_runner.h"
#include "gnuplot_script.h"

namespace difftriage::report {

namespace {

// Tableau 10 (matplotlib's default cycle): distinct hues that survive projection and print.
constexpr const char* kSeriesColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
// Series with more points than this are drawn as plain lines: markers would merge into a band.
constexpr size_t kMaxPointsWithMarkers = 40;

bool is_drawable(double y, bool log_y) { return std::isfinite(y) && (!log_y || y > 0); }

// Tics for a log axis over [lo, hi] (lo > 0). gnuplot labels only powers of ten, which leaves a
// loss curve spanning 0.12..1.6 with a single labelled tic; below two decades we place tics at
// 1-2-5 × 10^k, or at every 1..9 × 10^k when that gives fewer than three.
std::string make_log_tics(double lo, double hi) {
  if (hi / lo >= 100.0) return "set format y '%g'\n";
  const int first = static_cast<int>(std::floor(std::log10(lo)));
  const int last = static_cast<int>(std::ceil(std::log10(hi)));
  auto tics_with = [&](const std::vector<int>& mantissas) {
    std::vector<double> tics;
    for (int k = first; k <= last; ++k) {
      for (int m : mantissas) {
        // m / 10^j rather than m × 10^-j: the division is correctly rounded, so 3 × 10^-1 is
        // exactly the double nearest 0.3 and prints as "0.3".
        const double v = k >= 0 ? m * std::pow(10.0, k) : m / std::pow(10.0, -k);
        if (v >= lo / 1.1 && v <= hi * 1.1) tics.push_back(v);
      }
    }
    return tics;
  };
  std::vector<double> tics = tics_with({1, 2, 5});
  if (tics.size() < 3) tics = tics_with({1, 2, 3, 4, 5, 6, 7, 8, 9});
  std::string s = "set format y '%g'\nset ytics (";
  for (size_t i = 0; i < tics.size(); ++i) {
    if (i > 0) s += ", ";
    s += detail::format_number(tics[i]);
  }
  return s + ")\n";
}

void validate(const LineChart& chart) {
  DT_CHECK(!chart.series_names.empty(), ConfigError, "LineChart::series_names is empty");
  DT_CHECK(chart.xs.size() == chart.series_names.size(), ConfigError, "LineChart::xs has ",
           chart.xs.size(), " series but LineChart::series_names has ", chart.series_names.size());
  DT_CHECK(chart.ys.size() == chart.series_names.size(), ConfigError, "LineChart::ys has ",
           chart.ys.size(), " series but LineChart::series_names has ", chart.series_names.size());
  bool any_point = false;
  for (size_t i = 0; i < chart.xs.size(); ++i) {
    DT_CHECK(!chart.xs[i].empty(), ConfigError, "LineChart::xs[", i, "] ('",
             chart.series_names[i], "') is empty");
    DT_CHECK(chart.xs[i].size() == chart.ys[i].size(), ConfigError, "LineChart::ys[", i, "] ('",
             chart.series_names[i], "') has ", chart.ys[i].size(), " values but xs[", i, "] has ",
             chart.xs[i].size());
    for (size_t k = 0; k < chart.xs[i].size(); ++k) {
      any_point = any_point || (std::isfinite(chart.xs[i][k]) && is_drawable(chart.ys[i][k], chart.log_y));
    }
  }
  DT_CHECK(any_point, ConfigError, "LineChart::ys has no finite",
           chart.log_y ? " positive value (log_y is set)" : " value", " to draw");
}

}  // namespace

void plot_lines(const std::filesystem::path& out, const LineChart& chart,
                const ChartOptions& options) {
  detail::validate_options(options);
  validate(chart);
  const detail::FontSizes fonts = detail::compute_font_sizes(options);

  detail::ScratchDir scratch;
  std::string s = detail::make_common_style(chart.title, fonts);
  s += "set grid xtics ytics lt 1 lw 1 lc rgb '#dddddd' dt solid\n";
  // Axes end at the data (not at the next tic, which on a log axis can be a whole decade
  // away), plus a small margin.
  s += "set autoscale xfix\nset autoscale yfix\n";
  s += "set xlabel " + detail::quote(chart.x_label) + "\n";
  s += "set ylabel " + detail::quote(chart.y_label) + "\n";
  if (chart.log_y) {
    double lo = std::numeric_limits<double>::infinity();
    double hi = 0.0;
    for (const auto& ys : chart.ys) {
      for (double y : ys) {
        if (is_drawable(y, true)) {
          lo = std::min(lo, y);
          hi = std::max(hi, y);
        }
      }
    }
    s += "set logscale y 10\n" + make_log_tics(lo, hi);
  }
  s += "set key top right opaque box lc rgb '#bbbbbb' samplen 3 spacing 1.2\n";
  s += "set offsets graph 0.01, graph 0.01, graph 0.05, graph 0.05\n";
  const size_t n_colours = sizeof(kSeriesColours) / sizeof(kSeriesColours[0]);
  s += "plot ";
  for (size_t i = 0; i < chart.xs.size(); ++i) {
    std::string data;
    for (size_t k = 0; k < chart.xs[i].size(); ++k) {
      const double y = chart.ys[i][k];
      // An undrawable point ends the line segment there (a blank line in gnuplot data).
      if (!std::isfinite(chart.xs[i][k]) || !is_drawable(y, chart.log_y)) {
        data += "\n";
        continue;
      }
      data += detail::format_number(chart.xs[i][k]) + " " + detail::format_number(y) + "\n";
    }
    const std::string name = "series_" + std::to_string(i) + ".dat";
    detail::write_file_bytes(scratch.file(name), data);
    const bool markers = chart.xs[i].size() <= kMaxPointsWithMarkers;
    if (i > 0) s += ", \\\n     ";
    s += detail::quote(scratch.file(name).string()) + " using 1:2 with " +
         (markers ? "linespoints pt 7 ps 0.9" : "lines") + " lw 2 lc rgb '" +
         kSeriesColours[i % n_colours] + "' dt " + std::to_string(1 + (i / n_colours) % 5) +
         " title " + detail::quote(chart.series_names[i]);
  }
  s += "\n";
  detail::render_png(out, options, fonts, scratch, s);
}

}  // namespace difftriage::report
