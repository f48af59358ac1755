// difftriage evaluate --model M --data D --out OUT — a trained model on a labelled dataset:
// metrics with chance baselines, predictions per frame, ROC/PR curves, confusion heatmaps and
// mosaic scatter plots. The work is in difftriage::evaluate (model_eval.h).
//
// Frames that fail to read or decode are listed in predictions.jsonl with their error, left out
// of the metrics and named on stderr; the command then exits 3 after writing everything.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"
#include "difftriage/core/atomic_file.h"
#include "difftriage/core/json_text.h"
#include "difftriage/core/error.h"
#include "difftriage/dataset/dataset.h"
#include "difftriage/evaluate/baseline.h"
#include "difftriage/evaluate/bootstrap.h"
#include "difftriage/evaluate/eval_report.h"
#include "difftriage/evaluate/model_eval.h"
#include "difftriage/models/classifier.h"

namespace difftriage::cli {
namespace {

struct EvaluateArgs {
  std::string model, data, out;
  evaluate::ModelEvalOptions options;
  bool no_plots = false;
  bool quiet = false;
  bool no_baseline = false;
  int bootstrap = 0;
  uint64_t bootstrap_seed = 1;
  std::string reweight_to;
  features::EvidenceArgs evidence;
};

void run_evaluate(const EvaluateArgs& a, const std::string& exact_command) {
  const auto ds = dataset::load_dataset(a.data);
  DT_CHECK(!ds.samples.empty(), FormatError, a.data, ": the label files list no images");
  const std::filesystem::path out = a.out;
  make_output_dir(out);
  ProgressLine progress("evaluate", "frames", static_cast<int64_t>(ds.samples.size()), a.quiet);
  auto options = a.options;
  options.on_progress = [&progress](int64_t done, int64_t) { progress.update(done); };
  const auto classifier = models::Classifier::load(a.model);
  auto evidence_args = a.evidence;
  // A dataset folder may say its frames' geometry in a geometry.json beside its label files.
  if (evidence_args.geometry_file.empty() &&
      std::filesystem::is_regular_file(std::filesystem::path(a.data) / "geometry.json")) {
    evidence_args.geometry_file = (std::filesystem::path(a.data) / "geometry.json").string();
  }
  options.evidence = features::make_evidence_stage(evidence_args,
                                                   classifier.metadata().spot_evidence);
  const auto preds = evaluate::predict_dataset(classifier, ds, options);
  progress.finish(static_cast<int64_t>(preds.frames.size()));
  const auto report = evaluate::evaluate_predictions(preds, a.options);
  std::string lines;
  for (const auto& f : preds.frames) lines += dump_json(evaluate::to_json(f, preds.metadata)) + "\n";
  write_file_atomically(out / "predictions.jsonl", lines);
  nlohmann::json metrics = evaluate::to_json(report);
  metrics["dataset"] = a.data;
  metrics["model"] = a.model;
  metrics["thresholds"] = preds.metadata.thresholds;
  metrics["inference_frames_per_s"] = preds.frames_per_s;
  // The classical baselines on the same frames, so the network is always shown against them.
  std::string baseline_table;
  if (!a.no_baseline) {
    evaluate::BaselineOptions baseline;
    baseline.n_threads = std::max(1, a.options.n_workers);
    baseline.veto = a.options.veto;
    const auto report_bl =
        evaluate::evaluate_baseline(evaluate::score_dataset(ds, baseline), baseline);
    metrics["classical_baseline"] = evaluate::to_json(report_bl);
    baseline_table = evaluate::format_baseline(report_bl);
  }
  std::string headline;
  if (a.bootstrap > 0) {
    evaluate::BootstrapOptions bo;
    bo.n_resamples = a.bootstrap;
    bo.seed = a.bootstrap_seed;
    double coverage = 1.0;
    std::string title = "headline figures with 95 % bootstrap intervals (" +
                        std::to_string(a.bootstrap) + " resamples)";
    if (!a.reweight_to.empty()) {
      const auto mix = evaluate::mix_weights(preds.frames, dataset::load_dataset(a.reweight_to));
      bo.weights = mix.weights;
      coverage = mix.coverage;
      char buf[160];
      std::snprintf(buf, sizeof buf, ", reweighted to the %s mix of %s (%lld strata, %.1f %% of its frames covered)",
                    mix.stratum_kind.c_str(), a.reweight_to.c_str(),
                    static_cast<long long>(mix.n_strata), 100.0 * mix.coverage);
      title += buf;
    }
    const auto figures = evaluate::bootstrap_headline(preds, bo);
    metrics["bootstrap"] = evaluate::to_json(figures, bo, a.reweight_to, coverage);
    headline = "\n" + title + ":\n" + evaluate::format_headline(figures);
  }
  write_file_atomically(out / "metrics.json", dump_json(metrics, 2) + "\n");
  write_run_json(out, "evaluate",
                 {{"model", a.model},
                  {"data", a.data},
                  {"out", a.out},
                  {"batch", a.options.batch_size},
                  {"threads", a.options.n_threads},
                  {"workers", a.options.n_workers},
                  {"keep_fraction", a.options.veto.keep_fraction},
                  {"bootstrap", a.bootstrap},
                  {"bootstrap_seed", a.bootstrap_seed},
                  {"reweight_to", a.reweight_to},
                  {"plots", !a.no_plots}},
                 exact_command);
  if (!a.no_plots) evaluate::plot_model_eval(out, report, preds);
  evaluate::write_evaluate_report(out);  // from the files just written, as `difftriage report`
  std::printf("%s", evaluate::format_model_eval(report).c_str());
  if (!baseline_table.empty()) {
    std::printf("\nclassical baselines on the same frames (spot count, ice-ring score):\n%s",
                baseline_table.c_str());
  }
  std::printf("%s", headline.c_str());
  std::printf("inference: %.1f frames/s (decode + preprocess + forward)\n", preds.frames_per_s);
  std::printf("wrote %s/{metrics.json, predictions.jsonl, report.html, run.json%s}\n", a.out.c_str(),
              a.no_plots ? "" : ", *.png");
  if (report.n_errors > 0) {
    for (const auto& f : preds.frames) {
      if (!f.ok()) std::fprintf(stderr, "difftriage: error: %s\n", f.error.c_str());
    }
    std::fprintf(stderr, "difftriage: error: %lld frame(s) of %s could not be read\n",
                 static_cast<long long>(report.n_errors), a.data.c_str());
    throw ExitRequest{kExitData};
  }
}

}  // namespace

void register_evaluate(CLI::App& root) {
  auto a = std::make_shared<EvaluateArgs>();
  CLI::App* cmd = root.add_subcommand(
      "evaluate",
      "Evaluate a trained model on a labelled dataset: metrics.json (accuracy beside chance, "
      "balanced accuracy, precision/recall/F1, ROC/PR AUC, quality confusion, mosaic errors, "
      "veto point), predictions.jsonl, figures and report.html (all of it on one self-contained "
      "page)");
  cmd->add_option("--model", a->model, "Checkpoint (folder with model.pt + model.json)")
      ->required();
  cmd->add_option("--data", a->data, "Dataset folder (multiclasses.txt and/or categories1.txt)")
      ->required();
  cmd->add_option("--out", a->out, "Output folder (created if missing)")->required();
  add_inference_options(*cmd, a->options.n_threads, a->options.n_workers,
                        a->options.batch_size);
  cmd->add_option("--keep-fraction", a->options.veto.keep_fraction,
                  "Veto operating point: share of crystal frames to keep, in (0, 1]")
      ->check(CLI::Range(1e-9, 1.0))
      ->capture_default_str();
  cmd->add_flag("--no-plots", a->no_plots, "Do not draw the PNG figures (no gnuplot needed)");
  cmd->add_flag("--quiet", a->quiet, "No progress on stderr");
  cmd->add_flag("--no-baseline", a->no_baseline,
                "Do not run the classical baselines (spot-counting hit finder, ice-ring score) on "
                "the same frames (by default they are reported beside the model)");
  cmd->add_option("--bootstrap", a->bootstrap,
                  "Also report the headline figures (balanced accuracy per label, photo1/photo2/"
                  "multilattice among crystal frames, quality accuracy, mosaic R2, hit balanced "
                  "accuracy at classify's keep/veto point) with 95 % intervals from this many "
                  "bootstrap resamples (0 = off)")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  cmd->add_option("--bootstrap-seed", a->bootstrap_seed, "Seed of the bootstrap resampling")
      ->capture_default_str();
  cmd->add_option("--reweight-to", a->reweight_to,
                  "With --bootstrap: weight every frame so that the set has this dataset's label "
                  "mix (strata: the six labels, or the quality class when that dataset has only "
                  "categories1.txt); its images are not read")
      ->check(CLI::ExistingDirectory);
  add_evidence_options(*cmd, a->evidence);
  cmd->callback([a, cmd] {
    DT_CHECK(a->reweight_to.empty() || a->bootstrap > 0, ConfigError,
             "--reweight-to needs --bootstrap N (N > 0)");
    run_evaluate(*a, command_line(*cmd));
  });
}

}  // namespace difftriage::cli
