/// Self-contained HTML pages: escaping, images inlined as data URIs, and the charts of charts.h
/// drawn as inline SVG (no gnuplot process, no file beside the page, a few kB per chart), so a
/// report opens from disk, offline, and a live page can redraw the same charts on the server.
///
///   std::string body = "<h2>Hit rate</h2>" + report::render_svg(line_chart);
///   body += "<img src=\"" + report::png_data_uri(png_bytes) + "\">";
///   write_file_atomically("report.html", report::html_page("run 42", body));
///
/// Thread-safety: every function here is pure and may be called concurrently.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "difftriage/report/charts.h"

namespace difftriage::report {

/// `s` with & < > " ' replaced by their entities: safe in element text and quoted attributes.
[[nodiscard]] std::string html_escape(std::string_view s);

/// "data:image/png;base64,..." of PNG bytes (base64 of core/json_text.h), for an <img src>.
[[nodiscard]] std::string png_data_uri(const std::vector<uint8_t>& png);

/// Size of an inline SVG chart, in CSS pixels (it scales with the page: width 100 %, max this).
struct SvgOptions {
  int width_px = 640;   ///< 160..4096
  int height_px = 260;  ///< 100..4096
};

/// A line chart as one `<svg>` element: axes with round tick values, one polyline per series
/// (NaN values leave a gap; with `log_y`, values ≤ 0 too), a legend when there are several
/// series, and the title. Series with no finite point are listed in the legend only.
/// @throws ConfigError naming the field if the vectors disagree in length or `options` is out
///         of range. An empty chart (no finite point) is drawn as axes with "no data".
[[nodiscard]] std::string render_svg(const LineChart& chart, const SvgOptions& options = {});

/// A bar chart as one `<svg>` element, each bar's value printed above it (integers without
/// decimals). @throws ConfigError as render_svg(LineChart) or for a non-finite value.
[[nodiscard]] std::string render_svg(const BarChart& chart, const SvgOptions& options = {});

/// A whole HTML5 document: `<meta charset="utf-8">`, the title, the shared style sheet of the
/// project's pages (reports, the live monitor, explain's index), `extra_head` (e.g. a script)
/// and `body` (HTML, inserted as is) under an `<h1>` of the title.
[[nodiscard]] std::string html_page(const std::string& title, const std::string& body,
                                    const std::string& extra_head = "");

}  // namespace difftriage::report
