// difftriage merge DIR... --out OUT — the output folders of several `stream --fan-out` workers
// as one accounting per series; a thin wrapper over stream::merge_stream_runs (stream/merge.h).
// Exit 0 when merged, 2 for bad options, 3 for an input that is not a finished stream output
// folder, inconsistent inputs (a frame twice, another model) or an output that cannot be written.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli_common.h"
#include "commands.h"
#include "difftriage/core/error.h"
#include "difftriage/stream/merge.h"

namespace difftriage::cli {
namespace {
namespace fs = std::filesystem;

struct MergeArgs {
  std::vector<std::string> inputs;
  std::string out;
  bool no_report = false;
};

void run_merge(const MergeArgs& a, const std::string& exact_command) {
  stream::MergeOptions o;
  for (const auto& in : a.inputs) o.inputs.emplace_back(in);
  o.out = a.out;
  o.write_reports = !a.no_report;
  o.run_json = run_json_text("merge", {{"inputs", a.inputs}, {"out", a.out}, {"report", !a.no_report}},
                             exact_command);
  const stream::MergeSummary s = stream::merge_stream_runs(o);
  std::printf("%lld worker folder(s), %lld series, %lld frame(s): %lld kept, %lld vetoed; %lld "
              "missing\n",
              static_cast<long long>(a.inputs.size()), static_cast<long long>(s.n_series),
              static_cast<long long>(s.n_frames), static_cast<long long>(s.n_kept),
              static_cast<long long>(s.n_veto), static_cast<long long>(s.n_missing));
  for (const auto& series : s.series) {
    std::printf("series %lld %s: %lld frame(s) from %lld worker folder(s), %lld kept, %lld "
                "vetoed, %lld missing -> %s/{results.jsonl, %ssummary.json}\n",
                static_cast<long long>(series.series_id), series.status.c_str(),
                static_cast<long long>(series.n_frames), static_cast<long long>(series.n_workers),
                static_cast<long long>(series.n_kept), static_cast<long long>(series.n_veto),
                static_cast<long long>(series.n_missing), series.folder.string().c_str(),
                a.no_report ? "" : "report.html, ");
  }
  std::printf("wrote %s/{stream_summary.json, run.json}\n", a.out.c_str());
}

}  // namespace

void register_merge(CLI::App& root) {
  auto a = std::make_shared<MergeArgs>();
  CLI::App* cmd = root.add_subcommand(
      "merge",
      "Put together the output folders of several `stream --fan-out` workers that shared one "
      "detector: per series OUT/series_<id>/results.jsonl (every worker's rows sorted by frame, "
      "each with \"worker\": its input's position), summary.json (counts recounted from the "
      "rows: n_frames = n_kept + n_veto; status complete when an end message arrived and no "
      "frame of the header's count is missing; missing_frames; per-worker counts; the "
      "workers' kept.nxs listed, not copied) and report.html; OUT/stream_summary.json last. "
      "Refused (exit 3, naming the file): an input that is no finished stream folder, a frame "
      "present twice, workers with different models");
  cmd->add_option("dirs", a->inputs, "The workers' stream output folders (--out of each stream)")
      ->required();
  cmd->add_option("--out", a->out,
                  "Output folder: new, empty or an earlier merge's (replaced as one set)")
      ->required();
  cmd->add_flag("--no-report", a->no_report, "Do not write report.html per series");
  cmd->callback([a, cmd] { run_merge(*a, command_line(*cmd)); });
}

}  // namespace difftriage::cli
