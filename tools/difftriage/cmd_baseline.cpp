// difftriage baseline --data D --out OUT [--geometry G.json] — the classical baselines
// (spot-counting hit finder, shell-median ice score) evaluated on a labelled dataset with chance
// baselines beside every accuracy. The work is in difftriage::evaluate (baseline.h); this file
// parses flags, writes files and draws the figures.
//
// Frames that fail to read or decode do not stop the run: they are listed in predictions.jsonl
// with their error, left out of the metrics (metrics.json counts them in n_errors), named on
// stderr, and the command then exits 3 (datasets are checked data; a broken frame is a data
// error) after everything else has been written.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"
#include "difftriage/core/atomic_file.h"
#include "difftriage/core/json_text.h"
#include "difftriage/core/detector_geometry.h"
#include "difftriage/dataset/dataset.h"
#include "difftriage/evaluate/baseline.h"
#include "difftriage/report/charts.h"

namespace difftriage::cli {
namespace {

struct BaselineArgs {
  std::string data;
  std::string out;
  std::string geometry_file;
  evaluate::BaselineOptions options;
  bool no_plots = false;
  bool quiet = false;
};

/// A (name, metrics) pair per evaluated task with both classes present (curves are defined).
std::vector<std::pair<std::string, const evaluate::BinaryMetrics*>> plottable(
    const evaluate::BaselineReport& report) {
  std::vector<std::pair<std::string, const evaluate::BinaryMetrics*>> tasks;
  auto add = [&](const char* name, const std::optional<evaluate::BinaryMetrics>& m) {
    if (m && m->n_positive > 0 && m->n_negative > 0) tasks.emplace_back(name, &*m);
  };
  add("hit (n_spots)", report.hit);
  add("ice (ice_score)", report.ice);
  add("badice (ice_score)", report.badice);
  return tasks;
}

std::string with_value(const std::string& name, const char* what, double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, " %s %.3f", what, value);
  return name + buf;
}

void plot_curves(const evaluate::BaselineReport& report, const std::filesystem::path& out) {
  const auto tasks = plottable(report);
  if (tasks.empty()) return;
  report::LineChart roc{"ROC curves of the classical baselines", "false-positive rate",
                        "true-positive rate (recall)", {}, {}, {}, false};
  report::LineChart pr{"Precision-recall curves of the classical baselines", "recall",
                       "precision", {}, {}, {}, false};
  for (const auto& [name, m] : tasks) {
    roc.series_names.push_back(with_value(name, "AUC", m->roc_auc));
    roc.xs.push_back(m->roc.fpr);
    roc.ys.push_back(m->roc.tpr);
    pr.series_names.push_back(with_value(name, "AP", m->pr_auc));
    pr.xs.push_back(m->pr.recall);
    pr.ys.push_back(m->pr.precision);
    // A random ranking's precision is the positive fraction at every recall.
    pr.series_names.push_back(with_value(name, "chance", m->positive_fraction));
    pr.xs.push_back({0.0, 1.0});
    pr.ys.push_back({m->positive_fraction, m->positive_fraction});
  }
  roc.series_names.push_back("chance");
  roc.xs.push_back({0.0, 1.0});
  roc.ys.push_back({0.0, 1.0});
  report::plot_lines(out / "roc.png", roc);
  report::plot_lines(out / "pr.png", pr);
}

/// Histogram of one score split by a truth, drawn as one line per class over shared bins.
void plot_score_histogram(const std::vector<evaluate::FrameResult>& frames,
                          const std::filesystem::path& file, const std::string& title,
                          const std::string& x_label, double (*score)(const evaluate::FrameScores&),
                          std::optional<bool> (*pick)(const evaluate::BaselineTruth&),
                          const char* positive_name, const char* negative_name) {
  std::vector<double> pos, neg;
  for (const auto& f : frames) {
    if (!f.ok()) continue;
    const auto t = pick(f.truth);
    if (!t) continue;
    (*t ? pos : neg).push_back(score(f.scores));
  }
  if (pos.empty() && neg.empty()) return;
  double lo = 1e300, hi = -1e300;
  for (const auto* v : {&pos, &neg}) {
    for (double x : *v) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
  }
  if (!(hi > lo)) hi = lo + 1.0;
  constexpr int kBins = 40;
  const double width = (hi - lo) / kBins;
  report::LineChart chart{title, x_label, "frames", {}, {}, {}, false};
  std::vector<double> centres;
  for (int b = 0; b < kBins; ++b) centres.push_back(lo + (b + 0.5) * width);
  auto add = [&](const std::vector<double>& values, const char* name) {
    if (values.empty()) return;
    const auto counts = report::histogram_counts(values, kBins, lo, hi);
    chart.series_names.push_back(std::string(name) + " (" + std::to_string(values.size()) + ")");
    chart.xs.push_back(centres);
    chart.ys.emplace_back(counts.begin(), counts.end());
  };
  add(pos, positive_name);
  add(neg, negative_name);
  report::plot_lines(file, chart);
}

void plot_histograms(const std::vector<evaluate::FrameResult>& frames,
                     const std::filesystem::path& out) {
  plot_score_histogram(
      frames, out / "hist_spots.png", "Spot count by truth", "spots found",
      [](const evaluate::FrameScores& s) { return static_cast<double>(s.n_spots); },
      [](const evaluate::BaselineTruth& t) { return t.has_crystal; }, "crystal", "no crystal");
  plot_score_histogram(
      frames, out / "hist_ice.png", "Ice score by truth", "ice score (ring contrast, noise units)",
      [](const evaluate::FrameScores& s) { return s.ice_score; },
      [](const evaluate::BaselineTruth& t) { return t.ice; }, "ice", "no ice");
}

void run_baseline(BaselineArgs& args) {
  if (!args.geometry_file.empty()) {
    args.options.ice.geometry = read_geometry_json(args.geometry_file);
  }
  const auto ds = dataset::load_dataset(args.data);
  DT_CHECK(!ds.samples.empty(), FormatError, args.data, ": the label files list no images");
  const std::filesystem::path out = args.out;
  make_output_dir(out);

  if (!args.quiet) {
    std::fprintf(stderr, "difftriage: scoring %zu frames on %d thread(s)\n", ds.samples.size(),
                 args.options.n_threads);
  }
  ProgressLine progress("baseline", "frames", static_cast<int64_t>(ds.samples.size()), args.quiet);
  args.options.on_progress = [&progress](int64_t done, int64_t) { progress.update(done); };
  const auto frames = evaluate::score_dataset(ds, args.options);
  args.options.on_progress = {};
  progress.finish(static_cast<int64_t>(frames.size()));
  const auto report = evaluate::evaluate_baseline(frames, args.options);

  std::string lines;
  for (const auto& f : frames) lines += dump_json(evaluate::to_json(f)) + "\n";
  write_file_atomically(out / "predictions.jsonl", lines);
  nlohmann::json metrics = evaluate::to_json(report);
  metrics["dataset"] = args.data;
  write_file_atomically(out / "metrics.json", dump_json(metrics, 2) + "\n");
  const auto& o = args.options;
  write_run_json(out, "baseline",
                 {{"data", args.data},
                  {"out", args.out},
                  {"min_spots", o.min_spots},
                  {"ice_threshold", o.ice_threshold},
                  {"badice_threshold", o.badice_threshold},
                  {"keep_fraction", o.veto.keep_fraction},
                  {"threads", o.n_threads},
                  {"plots", !args.no_plots},
                  {"geometry_file", args.geometry_file},
                  {"geometry", o.ice.geometry ? geometry_to_json(*o.ice.geometry)
                                              : nlohmann::json(nullptr)},
                  {"spot_finder",
                   {{"background_radius_px", o.spot_finder.background_radius_px},
                    {"peak_radius_px", o.spot_finder.peak_radius_px},
                    {"n_sigma", o.spot_finder.n_sigma},
                    {"min_excess", o.spot_finder.min_excess},
                    {"min_pixels", o.spot_finder.min_pixels},
                    {"max_pixels", o.spot_finder.max_pixels},
                    {"border_px", o.spot_finder.border_px}}}});
  if (!args.no_plots) {
    plot_curves(report, out);
    plot_histograms(frames, out);
  }

  std::printf("%s", evaluate::format_baseline(report).c_str());
  std::printf("wrote %s/{metrics.json, predictions.jsonl, run.json%s}\n", args.out.c_str(),
              args.no_plots ? "" : ", *.png");
  if (report.n_errors > 0) {
    for (const auto& f : frames) {
      if (!f.ok()) std::fprintf(stderr, "difftriage: error: %s\n", f.error.c_str());
    }
    std::fprintf(stderr, "difftriage: error: %lld frame(s) of %s could not be read\n",
                 static_cast<long long>(report.n_errors), args.data.c_str());
    throw ExitRequest{kExitData};
  }
}

}  // namespace

void register_baseline(CLI::App& root) {
  auto args = std::make_shared<BaselineArgs>();
  CLI::App* cmd = root.add_subcommand(
      "baseline",
      "Evaluate the classical baselines (spot-counting hit finder, ice-ring score) on a labelled "
      "dataset: metrics.json, predictions.jsonl, ROC/PR curves and score histograms");
  cmd->add_option("--data", args->data, "Dataset folder (multiclasses.txt and/or categories1.txt)")
      ->required();
  cmd->add_option("--out", args->out, "Output folder (created if missing)")->required();
  cmd->add_option("--min-spots", args->options.min_spots,
                  "Hit decision: a frame with at least this many spots is a hit")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30))
      ->capture_default_str();
  cmd->add_option("--ice-threshold", args->options.ice_threshold,
                  "Ice decision: ice score (ring contrast in noise units) >= this")
      ->capture_default_str();
  cmd->add_option("--badice-threshold", args->options.badice_threshold,
                  "Bad-ice decision: ice score >= this")
      ->capture_default_str();
  cmd->add_option("--keep-fraction", args->options.veto.keep_fraction,
                  "Veto operating point: share of crystal frames to keep, in (0, 1]")
      ->check(CLI::Range(1e-9, 1.0))
      ->capture_default_str();
  cmd->add_option("--threads", args->options.n_threads, "Worker threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  add_geometry_option(*cmd, args->geometry_file,
                      "(all of them), for the ice score's rings at the ice spacings");
  cmd->add_flag("--no-plots", args->no_plots, "Do not draw the PNG figures (no gnuplot needed)");
  cmd->add_flag("--quiet", args->quiet, "No progress on stderr");
  cmd->callback([args] { run_baseline(*args); });
}

}  // namespace difftriage::cli
