// Self-contained HTML: escaping, base64 data URIs and the charts of charts.h as inline SVG.
#include "difftriage/report/html.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "difftriage/core/error.h"
#include "difftriage/core/json_text.h"

namespace difftriage::report {
namespace {

// Tableau 10, as the gnuplot charts (line_chart.cpp), so a series has one colour everywhere.
constexpr const char* kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string num(double v, const char* format = "%.6g") {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// Coordinates in the SVG: one decimal is finer than a CSS pixel.
std::string px(double v) { return num(v, "%.1f"); }

// A tick label: integers without decimals, else 3 significant digits.
std::string tick_label(double v) {
  if (std::abs(v) < 1e-12) return "0";
  if (std::abs(v - std::round(v)) < 1e-9 * std::max(1.0, std::abs(v)) && std::abs(v) < 1e15) {
    return num(std::round(v), "%.0f");
  }
  return num(v, "%.3g");
}

// Round tick values (1-2-5 × 10^k steps) covering [lo, hi], about `target` of them.
std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / std::max(1, target);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + 1e-9 * step; t += step) {
    ticks.push_back(std::abs(t) < 1e-12 * step ? 0.0 : t);
    if (ticks.size() > 50) break;
  }
  return ticks;
}

void validate(const SvgOptions& o) {
  DT_CHECK(o.width_px >= 160 && o.width_px <= 4096, ConfigError,
           "SvgOptions::width_px must be in 160..4096, got ", o.width_px);
  DT_CHECK(o.height_px >= 100 && o.height_px <= 4096, ConfigError,
           "SvgOptions::height_px must be in 100..4096, got ", o.height_px);
}

std::string svg_open(const SvgOptions& o, const std::string& title) {
  // Inline in HTML: the parser puts <svg> in the SVG namespace, no xmlns needed.
  return "<svg class=\"chart\" viewBox=\"0 0 " +
         std::to_string(o.width_px) + " " + std::to_string(o.height_px) +
         "\" style=\"max-width:" + std::to_string(o.width_px) +
         "px\" role=\"img\" aria-label=\"" + html_escape(title) + "\">" +
         "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>" + "<text x=\"" +
         px(o.width_px / 2.0) + "\" y=\"16\" text-anchor=\"middle\" font-size=\"14\">" +
         html_escape(title) + "</text>";
}

}  // namespace

std::string html_escape(std::string_view s) {
  std::string r;
  r.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': r += "&amp;"; break;
      case '<': r += "&lt;"; break;
      case '>': r += "&gt;"; break;
      case '"': r += "&quot;"; break;
      case '\'': r += "&#39;"; break;
      default: r += c;
    }
  }
  return r;
}

std::string png_data_uri(const std::vector<uint8_t>& png) {
  return "data:image/png;base64," +
         encode_base64(std::string_view(reinterpret_cast<const char*>(png.data()), png.size()));
}

std::string render_svg(const LineChart& chart, const SvgOptions& options) {
  validate(options);
  DT_CHECK(chart.xs.size() == chart.series_names.size(), ConfigError, "LineChart::xs has ",
           chart.xs.size(), " series but LineChart::series_names has ", chart.series_names.size());
  DT_CHECK(chart.ys.size() == chart.series_names.size(), ConfigError, "LineChart::ys has ",
           chart.ys.size(), " series but LineChart::series_names has ", chart.series_names.size());
  for (size_t s = 0; s < chart.xs.size(); ++s) {
    DT_CHECK(chart.xs[s].size() == chart.ys[s].size(), ConfigError, "LineChart series '",
             chart.series_names[s], "' has ", chart.xs[s].size(), " x values but ",
             chart.ys[s].size(), " y values");
  }
  auto drawable = [&](double x, double y) {
    return std::isfinite(x) && std::isfinite(y) && (!chart.log_y || y > 0);
  };
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo;
  double y_lo = x_lo, y_hi = -x_lo;
  for (size_t s = 0; s < chart.xs.size(); ++s) {
    for (size_t i = 0; i < chart.xs[s].size(); ++i) {
      const double x = chart.xs[s][i], y = chart.ys[s][i];
      if (!drawable(x, y)) continue;
      const double ty = chart.log_y ? std::log10(y) : y;
      x_lo = std::min(x_lo, x), x_hi = std::max(x_hi, x);
      y_lo = std::min(y_lo, ty), y_hi = std::max(y_hi, ty);
    }
  }
  const double w = options.width_px, h = options.height_px;
  const double left = 56, right = chart.series_names.size() > 1 ? 130 : 16, top = 28,
               bottom = 40;
  const double plot_w = w - left - right, plot_h = h - top - bottom;
  std::string s = svg_open(options, chart.title);
  s += "<rect x=\"" + px(left) + "\" y=\"" + px(top) + "\" width=\"" + px(plot_w) +
       "\" height=\"" + px(plot_h) + "\" fill=\"none\" stroke=\"#888\"/>";
  s += "<text x=\"" + px(left + plot_w / 2) + "\" y=\"" + px(h - 6) +
       "\" text-anchor=\"middle\" font-size=\"12\">" + html_escape(chart.x_label) + "</text>";
  s += "<text transform=\"translate(12," + px(top + plot_h / 2) +
       ") rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">" + html_escape(chart.y_label) +
       "</text>";
  if (!std::isfinite(x_lo)) {
    s += "<text x=\"" + px(left + plot_w / 2) + "\" y=\"" + px(top + plot_h / 2) +
         "\" text-anchor=\"middle\" font-size=\"12\" fill=\"#888\">no data</text></svg>";
    return s;
  }
  if (x_hi == x_lo) x_lo -= 0.5, x_hi += 0.5;
  if (y_hi == y_lo) y_lo -= 0.5, y_hi += 0.5;
  if (!chart.log_y && y_lo > 0 && y_lo < 0.3 * y_hi) y_lo = 0;  // anchor rates at zero
  auto sx = [&](double x) { return left + (x - x_lo) / (x_hi - x_lo) * plot_w; };
  auto sy = [&](double ty) { return top + plot_h - (ty - y_lo) / (y_hi - y_lo) * plot_h; };
  for (double t : nice_ticks(x_lo, x_hi, 6)) {
    s += "<line x1=\"" + px(sx(t)) + "\" x2=\"" + px(sx(t)) + "\" y1=\"" + px(top + plot_h) +
         "\" y2=\"" + px(top + plot_h + 4) + "\" stroke=\"#888\"/><text x=\"" + px(sx(t)) +
         "\" y=\"" + px(top + plot_h + 16) + "\" text-anchor=\"middle\" font-size=\"11\">" +
         tick_label(t) + "</text>";
  }
  for (double t : nice_ticks(y_lo, y_hi, 4)) {
    const std::string label = chart.log_y ? tick_label(std::pow(10.0, t)) : tick_label(t);
    s += "<line x1=\"" + px(left) + "\" x2=\"" + px(left + plot_w) + "\" y1=\"" + px(sy(t)) +
         "\" y2=\"" + px(sy(t)) + "\" stroke=\"#eee\"/><text x=\"" + px(left - 4) + "\" y=\"" +
         px(sy(t) + 4) + "\" text-anchor=\"end\" font-size=\"11\">" + label + "</text>";
  }
  for (size_t k = 0; k < chart.xs.size(); ++k) {
    const char* colour = kColours[k % 10];
    std::string points;
    auto flush = [&] {
      if (points.empty()) return;
      s += std::string("<polyline fill=\"none\" stroke=\"") + colour +
           "\" stroke-width=\"1.5\" points=\"" + points + "\"/>";
      points.clear();
    };
    for (size_t i = 0; i < chart.xs[k].size(); ++i) {
      const double x = chart.xs[k][i], y = chart.ys[k][i];
      if (!drawable(x, y)) {
        flush();
        continue;
      }
      if (!points.empty()) points += ' ';
      points += px(sx(x)) + "," + px(sy(chart.log_y ? std::log10(y) : y));
    }
    // A single point draws no line: give it a dot.
    if (!points.empty() && points.find(' ') == std::string::npos) {
      const auto comma = points.find(',');
      s += "<circle cx=\"" + points.substr(0, comma) + "\" cy=\"" + points.substr(comma + 1) +
           "\" r=\"2.5\" fill=\"" + colour + "\"/>";
    }
    flush();
    if (chart.series_names.size() > 1) {
      const double ly = top + 8 + 16.0 * static_cast<double>(k);
      s += "<line x1=\"" + px(w - right + 8) + "\" x2=\"" + px(w - right + 26) + "\" y1=\"" +
           px(ly) + "\" y2=\"" + px(ly) + "\" stroke=\"" + colour +
           "\" stroke-width=\"2\"/><text x=\"" + px(w - right + 30) + "\" y=\"" + px(ly + 4) +
           "\" font-size=\"11\">" + html_escape(chart.series_names[k]) + "</text>";
    }
  }
  return s + "</svg>";
}

std::string render_svg(const BarChart& chart, const SvgOptions& options) {
  validate(options);
  DT_CHECK(chart.values.size() == chart.categories.size(), ConfigError, "BarChart::values has ",
           chart.values.size(), " entries but BarChart::categories has ",
           chart.categories.size());
  double hi = 0;
  for (size_t i = 0; i < chart.values.size(); ++i) {
    DT_CHECK(std::isfinite(chart.values[i]), ConfigError, "BarChart::values[", i, "] ('",
             chart.categories[i], "') is not finite");
    hi = std::max(hi, chart.values[i]);
  }
  if (hi <= 0) hi = 1;
  const double w = options.width_px, h = options.height_px;
  const double left = 56, right = 16, top = 28, bottom = 40;
  const double plot_w = w - left - right, plot_h = h - top - bottom;
  std::string s = svg_open(options, chart.title);
  s += "<line x1=\"" + px(left) + "\" x2=\"" + px(left + plot_w) + "\" y1=\"" +
       px(top + plot_h) + "\" y2=\"" + px(top + plot_h) + "\" stroke=\"#888\"/>";
  s += "<text transform=\"translate(12," + px(top + plot_h / 2) +
       ") rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">" + html_escape(chart.y_label) +
       "</text>";
  for (double t : nice_ticks(0, hi * 1.1, 4)) {
    const double y = top + plot_h - t / (hi * 1.1) * plot_h;
    s += "<line x1=\"" + px(left) + "\" x2=\"" + px(left + plot_w) + "\" y1=\"" + px(y) +
         "\" y2=\"" + px(y) + "\" stroke=\"#eee\"/><text x=\"" + px(left - 4) + "\" y=\"" +
         px(y + 4) + "\" text-anchor=\"end\" font-size=\"11\">" + tick_label(t) + "</text>";
  }
  const size_t n = std::max<size_t>(1, chart.values.size());
  const double slot = plot_w / static_cast<double>(n);
  for (size_t i = 0; i < chart.values.size(); ++i) {
    const double v = std::max(0.0, chart.values[i]);
    const double bar_h = v / (hi * 1.1) * plot_h;
    const double x = left + slot * static_cast<double>(i) + 0.15 * slot;
    s += std::string("<rect x=\"") + px(x) + "\" y=\"" + px(top + plot_h - bar_h) +
         "\" width=\"" + px(0.7 * slot) + "\" height=\"" + px(bar_h) + "\" fill=\"" +
         kColours[i % 10] + "\"/>";
    s += "<text x=\"" + px(x + 0.35 * slot) + "\" y=\"" + px(top + plot_h - bar_h - 3) +
         "\" text-anchor=\"middle\" font-size=\"11\">" + tick_label(chart.values[i]) +
         "</text>";
    s += "<text x=\"" + px(x + 0.35 * slot) + "\" y=\"" + px(top + plot_h + 14) +
         "\" text-anchor=\"middle\" font-size=\"11\">" + html_escape(chart.categories[i]) +
         "</text>";
  }
  s += "<text x=\"" + px(left + plot_w / 2) + "\" y=\"" + px(h - 6) +
       "\" text-anchor=\"middle\" font-size=\"12\">" + html_escape(chart.x_label) + "</text>";
  return s + "</svg>";
}

std::string html_page(const std::string& title, const std::string& body,
                      const std::string& extra_head) {
  return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" +
         html_escape(title) +
         "</title>\n<style>body{font-family:sans-serif;margin:1.5em;max-width:1400px}"
         "figure{display:inline-block;margin:0.4em;vertical-align:top}"
         "figcaption{font-size:0.8em;max-width:420px;word-break:break-all}"
         "img{image-rendering:pixelated}svg.chart{width:100%;height:auto;display:block}"
         ".charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));"
         "gap:0.8em}table{border-collapse:collapse;margin:0.4em 0}"
         "td,th{border:1px solid #999;padding:0.2em 0.6em;text-align:right}"
         "th{background:#f2f2f2}td.l,th.l{text-align:left}"
         "code{background:#f4f4f4;padding:0.1em 0.3em;word-break:break-all}"
         ".alarm{background:#c00;color:#fff;padding:0.6em;font-weight:bold}"
         ".muted{color:#666}</style>\n" +
         extra_head + "</head><body>\n<h1>" + html_escape(title) + "</h1>\n" + body +
         "</body></html>\n";
}

}  // namespace difftriage::report
