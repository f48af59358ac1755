// plot_image_grid: grayscale frames in a multiplot grid, each under its own title.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "difftriage/core/error.h"
#include "difftriage/core/image.h"
#include "difftriage/report/charts.h"
#include "gnuplot_runner.h"
#include "gnuplot_script.h"

namespace difftriage::report {

namespace {

// Frames are reduced to at most this many pixels per side before gnuplot sees them: a grid cell
// is rarely larger, and gnuplot's image plotting slows down with millions of pixels.
constexpr int64_t kMaxDrawnExtent = 512;

// Reduces `image` by max-pooling factor × factor blocks (ragged edge blocks included), so that
// isolated bright Bragg spots stay visible after the reduction.
Image<uint8_t> max_pool(const ImageView<uint8_t>& image, int64_t factor) {
  const int64_t n_slow = (image.n_slow() + factor - 1) / factor;
  const int64_t n_fast = (image.n_fast() + factor - 1) / factor;
  Image<uint8_t> pooled(n_slow, n_fast, 0);
  for (int64_t s = 0; s < image.n_slow(); ++s) {
    const uint8_t* row = image.data() + s * image.n_fast();
    uint8_t* out_row = pooled.data() + (s / factor) * n_fast;
    for (int64_t f = 0; f < image.n_fast(); ++f) {
      uint8_t& cell = out_row[f / factor];
      cell = std::max(cell, row[f]);
    }
  }
  return pooled;
}

void validate(const ImageGrid& chart) {
  DT_CHECK(!chart.images.empty(), ConfigError, "ImageGrid::images is empty");
  DT_CHECK(chart.titles.size() == chart.images.size(), ConfigError, "ImageGrid::titles has ",
           chart.titles.size(), " entries but ImageGrid::images has ", chart.images.size());
  DT_CHECK(chart.n_columns >= 1, ConfigError, "ImageGrid::n_columns must be >= 1, got ",
           chart.n_columns);
  for (size_t i = 0; i < chart.images.size(); ++i) {
    const ImageView<uint8_t>& image = chart.images[i];
    DT_CHECK(!image.empty() && image.data() != nullptr && image.n_slow() > 0 && image.n_fast() > 0,
             ConfigError, "ImageGrid::images[", i, "] ('", chart.titles[i], "') is empty");
  }
}

// Writes the (possibly pooled) pixels as raw bytes, row 0 first; returns {n_fast, n_slow}.
std::pair<int64_t, int64_t> write_pixels(const std::filesystem::path& path,
                                         const ImageView<uint8_t>& image) {
  const int64_t extent = std::max(image.n_slow(), image.n_fast());
  if (extent > kMaxDrawnExtent) {
    const Image<uint8_t> pooled = max_pool(image, (extent + kMaxDrawnExtent - 1) / kMaxDrawnExtent);
    detail::write_file_bytes(path, std::string_view(reinterpret_cast<const char*>(pooled.data()),
                                                   static_cast<size_t>(pooled.size())));
    return {pooled.n_fast(), pooled.n_slow()};
  }
  detail::write_file_bytes(path, std::string_view(reinterpret_cast<const char*>(image.data()),
                                                 static_cast<size_t>(image.size())));
  return {image.n_fast(), image.n_slow()};
}

}  // namespace

void plot_image_grid(const std::filesystem::path& out, const ImageGrid& chart,
                     const ChartOptions& options) {
  detail::validate_options(options);
  validate(chart);
  const detail::FontSizes fonts = detail::compute_font_sizes(options);
  const int n_images = static_cast<int>(chart.images.size());
  const int n_columns = std::min(chart.n_columns, n_images);
  const int n_rows = (n_images + n_columns - 1) / n_columns;
  const double width = options.width_px;
  const double height = options.height_px;

  // Layout in pixels: a band for the figure title, then equal cells; each cell holds its title
  // line and, below it, the image fitted with square pixels. Sub-titles shrink (down to 7 pt) so
  // the longest fits its cell; the figure title is at most twice their size.
  const double pad = std::max(4.0, 0.01 * std::min(width, height));
  const double cell_w = width / n_columns;
  size_t longest_title = 1;
  for (const auto& t : chart.titles) longest_title = std::max(longest_title, t.size());
  const int label_pt = std::clamp(
      static_cast<int>((cell_w - 2 * pad) / (longest_title * detail::kCharWidthPxPerPt)), 7,
      fonts.base_pt);
  const double label_band = detail::kLineHeightPxPerPt * label_pt + pad;
  const int title_pt = std::min(fonts.title_pt, 2 * label_pt);
  // gnuplot sets the multiplot title about one line below the canvas top.
  const double title_band =
      chart.title.empty() ? pad : 2.0 * detail::kLineHeightPxPerPt * title_pt;
  const double cell_h = (height - title_band) / n_rows;

  detail::ScratchDir scratch;
  std::string s;
  s += "set encoding utf8\n";
  s += "set multiplot";
  if (!chart.title.empty()) {
    s += " title " + detail::quote(chart.title) + " font '," + std::to_string(title_pt) + "'";
  }
  s += "\n";
  s += "unset key\nunset tics\nunset colorbox\n";
  s += "set border 15 lw 0.6 lc rgb '#888888'\n";
  s += "set palette gray\nset cbrange [0:255]\n";
  s += "set margins 0, 0, 0, 0\n";
  for (int i = 0; i < n_images; ++i) {
    const std::string name = "image_" + std::to_string(i) + ".bin";
    const auto [n_fast, n_slow] = write_pixels(scratch.file(name), chart.images[static_cast<size_t>(i)]);

    // The image box: the largest rectangle with the image's aspect ratio inside the cell, less
    // padding and the title band, centred horizontally and hung from the title.
    const int row = i / n_columns;
    const int column = i % n_columns;
    const double box_w = cell_w - 2 * pad;
    const double box_h = cell_h - label_band - pad;
    const double scale = std::max(1e-6, std::min(box_w / n_fast, box_h / n_slow));
    const double draw_w = scale * n_fast;
    const double draw_h = scale * n_slow;
    const double left = column * cell_w + 0.5 * (cell_w - draw_w);
    const double top = title_band + row * cell_h + label_band;  // from the canvas top
    auto screen_x = [&](double px) { return detail::format_number(px / width); };
    auto screen_y = [&](double px_from_top) { return detail::format_number(1.0 - px_from_top / height); };

    s += "set lmargin at screen " + screen_x(left) + "\n";
    s += "set rmargin at screen " + screen_x(left + draw_w) + "\n";
    s += "set tmargin at screen " + screen_y(top) + "\n";
    s += "set bmargin at screen " + screen_y(top + draw_h) + "\n";
    s += "set title " + detail::quote(chart.titles[static_cast<size_t>(i)]) + " font '," +
         std::to_string(label_pt) + "' offset 0,-0.3\n";
    s += "set xrange [-0.5:" + detail::format_number(static_cast<double>(n_fast) - 0.5) + "]\n";
    s += "set yrange [-0.5:" + detail::format_number(static_cast<double>(n_slow) - 0.5) + "]\n";
    // flipy: the file holds row 0 first, and row 0 (slow = 0) belongs at the top.
    s += "plot " + detail::quote(scratch.file(name).string()) + " binary array=(" +
         std::to_string(n_fast) + "," + std::to_string(n_slow) +
         ") format='%uchar' flipy with image\n";
  }
  detail::render_png(out, options, fonts, scratch, s);
}

}  // namespace difftriage::report
