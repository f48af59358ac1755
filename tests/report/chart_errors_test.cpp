// Bad charts are ConfigErrors naming the field; gnuplot failures are IoErrors that leave no file.
#include <cmath>
#include <filesystem>
#include <functional>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "difftriage/core/error.h"
#include "difftriage/core/image.h"
#include "difftriage/report/charts.h"
#include "support/test_support.h"

namespace difftriage::report {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// Runs `call`, expects a ConfigError whose message mentions `field`.
void expect_config_error(const std::function<void()>& call, const std::string& field) {
  try {
    call();
    ADD_FAILURE() << "no ConfigError for " << field;
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(field), std::string::npos)
        << "message does not name " << field << ": " << e.what();
  }
}

// Points TMPDIR (what std::filesystem::temp_directory_path reads) at a folder of this test for
// its lifetime, so that the chart code's scratch folders can be counted without seeing those of
// other test processes running at the same time (ctest -j).
class PrivateTmpdir {
 public:
  explicit PrivateTmpdir(const fs::path& dir) : dir_(dir) {
    const char* old = std::getenv("TMPDIR");
    if (old != nullptr) old_ = old;
    fs::create_directories(dir_);
    ::setenv("TMPDIR", dir_.c_str(), 1);
  }
  ~PrivateTmpdir() {
    if (old_) {
      ::setenv("TMPDIR", old_->c_str(), 1);
    } else {
      ::unsetenv("TMPDIR");
    }
  }
  PrivateTmpdir(const PrivateTmpdir&) = delete;
  PrivateTmpdir& operator=(const PrivateTmpdir&) = delete;
  bool empty() const { return fs::is_empty(dir_); }

 private:
  fs::path dir_;
  std::optional<std::string> old_;
};

TEST(ChartErrors, BarChartValidation) {
  TempDir dir;
  const fs::path out = dir / "c.png";
  expect_config_error([&] { plot_bar_chart(out, BarChart{"t", "x", "y", {}, {}}); }, "categories");
  expect_config_error([&] { plot_bar_chart(out, BarChart{"t", "x", "y", {"a", "b"}, {1}}); },
                      "values");
  expect_config_error(
      [&] { plot_bar_chart(out, BarChart{"t", "x", "y", {"a"}, {std::nan("")}}); }, "values[0]");
  ChartOptions tiny;
  tiny.width_px = 0;
  expect_config_error([&] { plot_bar_chart(out, BarChart{"t", "x", "y", {"a"}, {1}}, tiny); },
                      "width_px");
  EXPECT_FALSE(fs::exists(out));
}

TEST(ChartErrors, HeatmapValidation) {
  TempDir dir;
  const fs::path out = dir / "c.png";
  expect_config_error([&] { plot_heatmap(out, Heatmap{"t", {}, {"a"}, {}}); }, "row_labels");
  expect_config_error([&] { plot_heatmap(out, Heatmap{"t", {"r"}, {}, {}}); }, "column_labels");
  expect_config_error([&] { plot_heatmap(out, Heatmap{"t", {"r"}, {"a", "b"}, {1, 2, 3}}); },
                      "values");
  expect_config_error([&] { plot_heatmap(out, Heatmap{"t", {"r"}, {"a"}, {0.5}, 1.0, 1.0}); },
                      "min_value");
  expect_config_error([&] { plot_heatmap(out, Heatmap{"t", {"r"}, {"a"}, {0.5}, 2.0, -1.0}); },
                      "min_value");
}

TEST(ChartErrors, HistogramValidation) {
  TempDir dir;
  const fs::path out = dir / "c.png";
  Histogram chart;
  expect_config_error([&] { plot_histogram(out, chart); }, "values");
  chart.values = {1, 2};
  chart.n_bins = 0;
  expect_config_error([&] { plot_histogram(out, chart); }, "n_bins");
  chart.n_bins = 4;
  chart.min_value = 10;
  chart.max_value = 10;
  expect_config_error([&] { plot_histogram(out, chart); }, "min_value");
}

TEST(ChartErrors, ImageGridValidation) {
  TempDir dir;
  const fs::path out = dir / "c.png";
  const Image<uint8_t> image(4, 4);
  const Image<uint8_t> empty;
  expect_config_error([&] { plot_image_grid(out, ImageGrid{"t", {}, {}, 5}); }, "images");
  expect_config_error([&] { plot_image_grid(out, ImageGrid{"t", {image}, {}, 5}); }, "titles");
  expect_config_error([&] { plot_image_grid(out, ImageGrid{"t", {image}, {"a"}, 0}); },
                      "n_columns");
  expect_config_error([&] { plot_image_grid(out, ImageGrid{"t", {image, empty}, {"a", "b"}, 2}); },
                      "images[1]");
}

TEST(ChartErrors, LineChartValidation) {
  TempDir dir;
  const fs::path out = dir / "c.png";
  expect_config_error([&] { plot_lines(out, LineChart{"t", "x", "y", {}, {}, {}}); },
                      "series_names");
  expect_config_error([&] { plot_lines(out, LineChart{"t", "x", "y", {"a"}, {{1}}, {}}); }, "ys");
  expect_config_error([&] { plot_lines(out, LineChart{"t", "x", "y", {"a"}, {{1, 2}}, {{1}}}); },
                      "ys[0]");
  expect_config_error([&] { plot_lines(out, LineChart{"t", "x", "y", {"a"}, {{}}, {{}}}); },
                      "xs[0]");
  LineChart no_positive{"t", "x", "y", {"a"}, {{1, 2}}, {{0, -1}}, true};
  expect_config_error([&] { plot_lines(out, no_positive); }, "log_y");
}

TEST(ChartErrors, MissingGnuplotIsIoErrorAndLeavesNoFile) {
  TempDir dir;
  const fs::path out = dir / "c.png";
  const PrivateTmpdir tmpdir(dir / "tmp");
  ChartOptions options;
  options.gnuplot = "difftriage-no-such-gnuplot";
  try {
    plot_bar_chart(out, BarChart{"t", "x", "y", {"a"}, {1}}, options);
    ADD_FAILURE() << "no IoError";
  } catch (const IoError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("difftriage-no-such-gnuplot"), std::string::npos) << message;
    EXPECT_NE(message.find(out.string()), std::string::npos) << message;
  }
  EXPECT_EQ(std::vector<fs::path>(fs::directory_iterator(dir.path()), fs::directory_iterator{}),
            std::vector<fs::path>{dir / "tmp"})
      << "a file was left beside " << out;
  EXPECT_TRUE(tmpdir.empty()) << "a scratch folder was left behind";
}

TEST(ChartErrors, FailingGnuplotKeepsTheOldFile) {
  TempDir dir;
  const fs::path out = dir / "c.png";
  testing::write_text(out, "old");
  ChartOptions options;
  options.gnuplot = "false";  // starts, exits 1 without drawing
  EXPECT_THROW(plot_histogram(out, Histogram{"t", "v", {1, 2, 3}}, options), IoError);
  EXPECT_EQ(testing::read_bytes(out), "old");
  std::vector<fs::path> entries(fs::directory_iterator(dir.path()), fs::directory_iterator{});
  EXPECT_EQ(entries.size(), 1u);
}

TEST(ChartErrors, GnuplotStderrIsInTheMessage) {
  TempDir dir;
  const fs::path out = dir / "no such folder" / "c.png";  // gnuplot cannot open its output
  try {
    plot_lines(out, LineChart{"t", "x", "y", {"a"}, {{1, 2}}, {{1, 2}}});
    ADD_FAILURE() << "no IoError";
  } catch (const IoError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(out.string()), std::string::npos) << message;
    EXPECT_NE(message.find("cannot open file"), std::string::npos) << message;
  }
  EXPECT_FALSE(fs::exists(out.parent_path()));
}

}  // namespace
}  // namespace difftriage::report
