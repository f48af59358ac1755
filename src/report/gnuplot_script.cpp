#include "gnuplot_script.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <fstream>
#include <system_error>

#include "difftriage/core/error.h"

namespace difftriage::report::detail {

std::string quote(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "''";
    } else if (c == '\n') {
      out += "'.\"\\n\".'";  // close, concatenate a real newline, reopen
    } else if (c == '\0') {
      continue;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += ' ';
    } else {
      out += c;
    }
  }
  out += "'";
  return out;
}

std::string format_number(double value) {
  if (!std::isfinite(value)) return "NaN";
  std::array<char, 64> buffer{};
  auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  if (ec != std::errc()) return "NaN";  // cannot happen with 64 chars
  return std::string(buffer.data(), end);
}

std::string format_fixed(double value, int decimals) {
  if (!std::isfinite(value)) return "n/a";
  std::array<char, 400> buffer{};  // fixed notation of 1e308 needs 309 digits
  auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value,
                                 std::chars_format::fixed, decimals);
  if (ec != std::errc()) return format_number(value);
  std::string text(buffer.data(), end);
  if (text[0] == '-' && text.find_first_not_of("-0.") == std::string::npos) text.erase(0, 1);
  return text;
}

std::string format_value_label(double value) {
  if (!std::isfinite(value)) return "n/a";
  if (value == std::round(value) && std::fabs(value) < 1e15) return format_fixed(value, 0);
  std::array<char, 64> buffer{};
  auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value,
                                 std::chars_format::general, 4);
  if (ec != std::errc()) return format_number(value);
  return std::string(buffer.data(), end);
}

FontSizes compute_font_sizes(const ChartOptions& options) {
  // 14 pt on the default 1200 × 700 canvas; never below 9 pt (unreadable) or above 28 pt.
  const int side = std::min(options.width_px, options.height_px);
  FontSizes fonts;
  fonts.base_pt = std::clamp(static_cast<int>(std::lround(side / 50.0)), 9, 28);
  fonts.title_pt = fonts.base_pt + std::max(2, fonts.base_pt / 4);
  fonts.small_pt = std::max(8, fonts.base_pt - 2);
  return fonts;
}

void validate_options(const ChartOptions& options) {
  DT_CHECK(options.width_px >= kMinCanvasPx && options.width_px <= kMaxCanvasPx, ConfigError,
           "ChartOptions::width_px must be in [", kMinCanvasPx, ", ", kMaxCanvasPx, "], got ",
           options.width_px);
  DT_CHECK(options.height_px >= kMinCanvasPx && options.height_px <= kMaxCanvasPx, ConfigError,
           "ChartOptions::height_px must be in [", kMinCanvasPx, ", ", kMaxCanvasPx, "], got ",
           options.height_px);
  DT_CHECK(!options.gnuplot.empty(), ConfigError, "ChartOptions::gnuplot (executable) is empty");
}

std::string make_common_style(const std::string& title, const FontSizes& fonts) {
  std::string s;
  s += "set encoding utf8\n";
  s += "set title " + quote(title) + " font '," + std::to_string(fonts.title_pt) + "'\n";
  s += "set border 3 lw 1.2 lc rgb '#333333'\n";  // left and bottom axes only
  s += "set tics nomirror out scale 0.6 textcolor rgb '#222222'\n";
  s += "set grid ytics lt 1 lw 1 lc rgb '#dddddd' dt solid\n";
  s += "set grid back\n";
  s += "unset key\n";
  return s;
}

bool should_rotate_labels(const std::vector<std::string>& labels, int font_pt, double slot_px) {
  size_t longest = 0;
  for (const std::string& label : labels) longest = std::max(longest, label.size());
  return static_cast<double>(longest) * kCharWidthPxPerPt * font_pt > 0.9 * slot_px;
}

std::string make_category_tics(char axis, const std::vector<std::string>& labels, bool rotate) {
  std::string s = "set ";
  s += axis;
  s += "tics (";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) s += ", ";
    s += quote(labels[i]) + " " + std::to_string(i);
  }
  s += ")";
  if (rotate) s += " rotate by 40 right";
  s += "\n";
  return s;
}

void write_file_bytes(const std::filesystem::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw IoError(difftriage::detail::concat("cannot create ", path.string()));
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  out.close();
  if (!out) throw IoError(difftriage::detail::concat("cannot write ", path.string()));
}

}  // namespace difftriage::report::detail
