// Private to the report module: pieces every gnuplot script needs — safe string literals,
// locale-independent numbers, font sizes and the shared figure style.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "difftriage/report/charts.h"

namespace difftriage::report::detail {

/// Point sizes of the fonts of one figure, scaled to the canvas.
struct FontSizes {
  int base_pt = 12;   ///< axis labels, tic labels, legend
  int title_pt = 16;  ///< figure title
  int small_pt = 10;  ///< numbers printed on bars, bins and cells
};

/// Approximate advance of one character and height of one line, in pixels per point of font
/// size, measured for DejaVu Sans under pngcairo (1 pt renders as 4/3 px; a mixed-case character
/// is about 0.55 em wide). Used to decide when labels must be rotated or shrunk.
inline constexpr double kCharWidthPxPerPt = 0.75;
inline constexpr double kLineHeightPxPerPt = 1.6;

/// A gnuplot string expression that evaluates to `text`, whatever it contains. Single-quoted
/// literals are used because gnuplot runs `backquoted commands` inside double quotes; a quote is
/// doubled, newlines become "\n" concatenations, other control characters become spaces. The
/// terminal is `noenhanced`, so _ ^ @ & { } are printed as they are.
std::string quote(std::string_view text);

/// Shortest round-trip decimal form of `value` ("NaN" when not finite), independent of the C
/// and C++ locales, as gnuplot data files expect.
std::string format_number(double value);

/// `value` with exactly `decimals` decimals ("-0.00" is written "0.00"); "n/a" when not finite.
std::string format_fixed(double value, int decimals);

/// A count or value printed on a bar: integers without decimals, others with 4 significant digits.
std::string format_value_label(double value);

/// Font sizes for a canvas of the given size: the base grows with the smaller side.
FontSizes compute_font_sizes(const ChartOptions& options);

/// @throws ConfigError if the canvas size is out of [kMinCanvasPx, kMaxCanvasPx] or the gnuplot
/// executable name is empty.
void validate_options(const ChartOptions& options);
inline constexpr int kMinCanvasPx = 64;
inline constexpr int kMaxCanvasPx = 16384;

/// Commands shared by every 2-D chart: encoding, title, border, tics, grid colours.
std::string make_common_style(const std::string& title, const FontSizes& fonts);

/// True when the longest of `labels` (at `font_pt`) is wider than `slot_px`: tic labels then get
/// rotated so they do not overlap.
bool should_rotate_labels(const std::vector<std::string>& labels, int font_pt, double slot_px);

/// `set xtics (...)` / `set ytics (...)` placing `labels[i]` at i, rotated by 40° when `rotate`.
std::string make_category_tics(char axis, const std::vector<std::string>& labels, bool rotate);

/// Writes `content` to `path`. @throws IoError naming the file.
void write_file_bytes(const std::filesystem::path& path, std::string_view content);

}  // namespace difftriage::report::detail
