// difftriage dataset stats DIR --out OUT — the study's dataset analyses as PNG files + stats.json.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"
#include "difftriage/core/atomic_file.h"
#include "difftriage/core/json_text.h"
#include "difftriage/dataset/dataset.h"
#include "difftriage/dataset/stats.h"
#include "difftriage/io/image_io.h"
#include "difftriage/report/charts.h"
#include "display_image.h"

namespace difftriage::cli {
namespace {

struct StatsArgs {
  std::string dir;
  std::string out;
  std::string image;  // file (relative to dir) for the histograms; default: first sample
  int n_grid = 25;
  int stripe_height = 32;
  int n_bins = 16;
};

constexpr int kGridColumns = 5;

void plot_label_charts(const dataset::DatasetStats& stats, const std::filesystem::path& out) {
  if (!stats.columns.empty()) {
    report::BarChart freq;
    freq.title = "Label frequency (" + std::to_string(stats.n_multilabel) + " images)";
    freq.x_label = "label (mosaic: images with value > 0)";
    freq.y_label = "images";
    for (const auto& c : stats.columns) {
      freq.categories.push_back(c.name);
      freq.values.push_back(static_cast<double>(c.n_positive));
    }
    report::plot_bar_chart(out / "label_frequency.png", freq);

    report::Heatmap corr;
    corr.title = "Label correlation (Pearson)";
    for (const char* name : dataset::kStatColumns) {
      corr.row_labels.push_back(name);
      corr.column_labels.push_back(name);
    }
    corr.values = stats.correlation;
    report::plot_heatmap(out / "label_correlation.png", corr);
  }
  if (stats.n_quality > 0) {
    report::BarChart quality;
    quality.title = "Quality classes (" + std::to_string(stats.n_quality) + " images)";
    quality.x_label = "quality";
    quality.y_label = "images";
    for (size_t q = 0; q < kNumQualities; ++q) {
      quality.categories.push_back(kQualityNames[q]);
      quality.values.push_back(static_cast<double>(stats.quality_counts[q]));
    }
    report::plot_bar_chart(out / "quality_frequency.png", quality);
  }
}

void plot_sample_grid(const dataset::Dataset& ds, int n_grid, const std::filesystem::path& out) {
  std::vector<Image<uint8_t>> images;
  report::ImageGrid grid;
  grid.title = "First " + std::to_string(std::min<size_t>(n_grid, ds.samples.size())) +
               " images of " + ds.root.filename().string();
  grid.n_columns = kGridColumns;
  for (const auto& sample : ds.samples) {
    if (static_cast<int>(images.size()) >= n_grid) break;
    images.push_back(to_display_u8(io::read_image(sample.path)));
    grid.titles.push_back(sample.file + " " + dataset::describe_labels(sample));
  }
  for (const auto& img : images) grid.images.push_back(img.view());
  // Square-ish tiles big enough to see single spots: ~300 px per tile plus a title line.
  report::ChartOptions size;
  const int n_rows = (static_cast<int>(grid.images.size()) + kGridColumns - 1) / kGridColumns;
  size.width_px = 300 * std::min<int>(kGridColumns, static_cast<int>(grid.images.size()));
  size.height_px = 80 + 330 * n_rows;
  if (!grid.images.empty()) report::plot_image_grid(out / "sample_grid.png", grid, size);
}

/// Histograms of one whole image and of its middle row, and the middle row as a stripe image
/// (the study's figures for one sample).
nlohmann::json plot_pixel_figures(const dataset::Sample& sample, const StatsArgs& args,
                                  const std::filesystem::path& out) {
  const AnyImage raw = io::read_image(sample.path);
  const Image<float> frame = to_float(raw);
  const bool is_u8 = pixel_type(raw) == PixelType::kUint8;
  std::vector<double> all, row;
  all.reserve(static_cast<size_t>(frame.size()));
  const auto view = frame.view();
  for (int64_t i = 0; i < frame.size(); ++i)
    if (!view.is_masked(i)) all.push_back(frame.data()[i]);
  const int64_t mid = frame.n_slow() / 2;
  for (int64_t f = 0; f < frame.n_fast(); ++f)
    if (!view.is_masked(mid * frame.n_fast() + f)) row.push_back(frame(mid, f));

  auto lo_hi = [&](const std::vector<double>& v) {
    if (is_u8 || v.empty()) return std::make_pair(0.0, 255.0);
    auto [mn, mx] = std::minmax_element(v.begin(), v.end());
    return std::make_pair(*mn, std::max(*mx, *mn + 1.0));
  };
  report::Histogram h_all;
  h_all.title = "Pixel values of " + sample.file + " (whole image)";
  h_all.values = all;
  h_all.n_bins = args.n_bins;
  std::tie(h_all.min_value, h_all.max_value) = lo_hi(all);
  h_all.log_y = true;
  report::plot_histogram(out / "pixel_histogram_image.png", h_all);

  report::Histogram h_row;
  h_row.title = "Pixel values of " + sample.file + " (middle row " + std::to_string(mid) + ")";
  h_row.values = row;
  h_row.n_bins = args.n_bins;
  std::tie(h_row.min_value, h_row.max_value) = lo_hi(row);
  report::plot_histogram(out / "pixel_histogram_middle_row.png", h_row);

  // The middle row repeated into a stripe, so single bright spots show as vertical lines.
  const Image<uint8_t> display = to_display_u8(raw);
  Image<uint8_t> stripe(args.stripe_height, display.n_fast());
  for (int64_t s = 0; s < stripe.n_slow(); ++s)
    for (int64_t f = 0; f < stripe.n_fast(); ++f) stripe(s, f) = display(mid, f);
  io::write_png(out / "middle_row_stripe.png", stripe.view());

  const int64_t n_bright = std::count_if(row.begin(), row.end(), [](double v) { return v > 185; });
  return {{"file", sample.file},
          {"middle_row", mid},
          {"middle_row_pixels_above_185", n_bright},
          {"n_bins", args.n_bins}};
}

}  // namespace

void register_dataset_stats(CLI::App& dataset) {
  auto args = std::make_shared<StatsArgs>();
  CLI::App* cmd = dataset.add_subcommand(
      "stats", "Write the study's dataset analyses (label frequency, correlation, sample grid, "
               "pixel histograms, middle-row stripe) as PNG files plus stats.json");
  cmd->add_option("dir", args->dir, "Dataset folder")->required();
  cmd->add_option("--out", args->out, "Output folder")->required();
  cmd->add_option("--image", args->image,
                  "Image (as named in the label file) for the histograms and stripe; "
                  "default: the first sample");
  cmd->add_option("--grid", args->n_grid, "Number of images in the sample grid")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  cmd->add_option("--bins", args->n_bins, "Histogram bins")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->callback([args] {
    const auto ds = dataset::load_dataset(args->dir);
    DT_CHECK(!ds.samples.empty(), FormatError, args->dir, ": the label files list no images");
    const auto stats = dataset::compute_stats(ds);
    const std::filesystem::path out = args->out;
    make_output_dir(out);

    const dataset::Sample* chosen = &ds.samples.front();
    if (!args->image.empty()) {
      auto it = std::find_if(ds.samples.begin(), ds.samples.end(),
                             [&](const auto& s) { return s.file == args->image; });
      DT_CHECK(it != ds.samples.end(), ConfigError, "--image ", args->image,
               " is not listed in the label files of ", args->dir);
      chosen = &*it;
    }

    plot_label_charts(stats, out);
    plot_sample_grid(ds, args->n_grid, out);
    nlohmann::json j = dataset::to_json(stats);
    j["pixel_figures"] = plot_pixel_figures(*chosen, *args, out);
    write_file_atomically(out / "stats.json", dump_json(j, 2) + "\n");
    write_run_json(out, "dataset stats",
                   {{"dir", args->dir}, {"image", chosen->file}, {"grid", args->n_grid},
                    {"bins", args->n_bins}});

    std::printf("%s: %lld images (%lld multilabel, %lld quality)\n", args->dir.c_str(),
                static_cast<long long>(stats.n_samples), static_cast<long long>(stats.n_multilabel),
                static_cast<long long>(stats.n_quality));
    if (!stats.columns.empty()) {
      std::printf("%-13s %8s %8s %10s\n", "label", "positive", "of", "chance acc");
      for (const auto& c : stats.columns) {
        std::printf("%-13s %8lld %8lld %9.1f%%\n", c.name.c_str(),
                    static_cast<long long>(c.n_positive), static_cast<long long>(c.n_samples),
                    100.0 * c.majority_accuracy);
      }
    }
    if (stats.n_quality > 0) {
      std::printf("quality:");
      for (size_t q = 0; q < kNumQualities; ++q)
        std::printf(" %s %lld", kQualityNames[q],
                    static_cast<long long>(stats.quality_counts[q]));
      std::printf("  (chance acc %.1f%%)\n", 100.0 * stats.quality_majority_accuracy);
    }
    std::printf("wrote %s/{stats.json, *.png}\n", args->out.c_str());
  });
}

}  // namespace difftriage::cli
