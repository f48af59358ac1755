// difftriage report DIR — (re)make the self-contained report.html of an output folder from its
// files: a classify folder or stream series folder (results.jsonl + summary.json, the triage
// report of stream/run_report.h), an evaluate folder (metrics.json, evaluate/eval_report.h), or
// a stream output folder (a report per series_*/ folder). How a merged multi-process run gets
// its report. Exit 0, 3 when DIR holds none of these or a file is damaged.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli_common.h"
#include "commands.h"
#include "difftriage/core/error.h"
#include "difftriage/evaluate/eval_report.h"
#include "difftriage/stream/run_report.h"

namespace difftriage::cli {
namespace {
namespace fs = std::filesystem;

struct ReportArgs {
  std::string dir;
  int n_examples = 8;
  int thumbnail_px = 128;
};

bool is_triage_folder(const fs::path& d) {
  return fs::is_regular_file(d / "summary.json") && fs::is_regular_file(d / "results.jsonl");
}

void run_report(const ReportArgs& a) {
  const fs::path dir = a.dir;
  DT_CHECK(fs::is_directory(dir), IoError, a.dir, ": not a folder");
  stream::TriageReportOptions o;
  o.n_examples = a.n_examples;
  o.thumbnail_side_px = a.thumbnail_px;
  std::vector<fs::path> written;
  if (fs::is_regular_file(dir / "metrics.json")) {
    written.push_back(evaluate::write_evaluate_report(dir));
  } else if (is_triage_folder(dir)) {
    written.push_back(stream::write_triage_report(dir, o));
  } else {
    std::vector<fs::path> series;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.is_directory() && e.path().filename().string().rfind("series_", 0) == 0 &&
          is_triage_folder(e.path())) {
        series.push_back(e.path());
      }
    }
    std::sort(series.begin(), series.end());
    DT_CHECK(!series.empty(), IoError, a.dir,
             ": no run to report (expected summary.json + results.jsonl of classify or a stream "
             "series, metrics.json of evaluate, or series_*/ folders of stream)");
    for (const auto& s : series) written.push_back(stream::write_triage_report(s, o));
  }
  for (const auto& w : written) std::printf("wrote %s\n", w.string().c_str());
}

}  // namespace

void register_report(CLI::App& root) {
  auto a = std::make_shared<ReportArgs>();
  CLI::App* cmd = root.add_subcommand(
      "report",
      "Make the self-contained report.html of an output folder again from its files: classify "
      "or a stream series (results.jsonl + summary.json: counts, charts along the run, example "
      "frames through the model's preprocessing, unreadable frames, model, command), evaluate "
      "(metrics.json and its figures), or a stream output folder (one report per series_*/). "
      "Images are inlined; the page opens from disk without network");
  cmd->add_option("dir", a->dir, "Output folder of classify, evaluate or stream")->required();
  cmd->add_option("--examples", a->n_examples,
                  "Example frames per decision in the strips (0 = none); frames are read again "
                  "from their files (a stream series' pixels are not on disk: none)")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  cmd->add_option("--thumbnail", a->thumbnail_px, "Thumbnail side at most, pixels")
      ->check(CLI::Range(16, 1024))
      ->capture_default_str();
  cmd->callback([a] { run_report(*a); });
}

}  // namespace difftriage::cli
