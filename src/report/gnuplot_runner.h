// Private to the report module: a self-removing scratch folder and the one place that runs
// gnuplot (posix_spawnp, no shell) and moves its PNG into place atomically.
#pragma once

#include <filesystem>
#include <string>

#include "difftriage/report/charts.h"
#include "gnuplot_script.h"

namespace difftriage::report::detail {

/// A private folder created with mkdtemp under std::filesystem::temp_directory_path() and
/// removed, with everything in it, on destruction. Not copyable.
class ScratchDir {
 public:
  /// @throws IoError if the folder cannot be created.
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }
  /// `path() / name`.
  std::filesystem::path file(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// Runs gnuplot on `body` (the chart's commands, data files already in `scratch`) and writes the
/// PNG to `out` atomically. The script opens with the terminal: pngcairo when this gnuplot has
/// it, else the libgd `png` terminal (gnuplot checks GPVAL_TERMINALS itself, so no extra process
/// is started), `noenhanced`, canvas size from `options`, base font from `fonts`.
/// @throws IoError with gnuplot's first stderr lines and `out` if gnuplot cannot be started,
/// fails, or writes no PNG; `out` is then left untouched.
void render_png(const std::filesystem::path& out, const ChartOptions& options,
                const FontSizes& fonts, const ScratchDir& scratch, const std::string& body);

}  // namespace difftriage::report::detail
