// difftriage stream --connect ENDPOINT --out DIR — triage a DECTRIS detector's live stream
// (Stream V1 or V2 over ZeroMQ); a thin wrapper over stream::run_live_triage (stream/live.h).
// Exit 0 after --max-series series or SIGINT/SIGTERM (every open series closed), 2 for bad
// options, 3 for an output folder that cannot be written.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>

#include "cli_common.h"
#include "commands.h"
#include "difftriage/core/error.h"
#include "difftriage/stream/live.h"
#include "triage_model.h"

namespace difftriage::cli {
namespace {
namespace fs = std::filesystem;

std::atomic<bool> g_stop{false};
extern "C" void request_stop(int /*signal*/) { g_stop = true; }

struct StreamArgs {
  std::string endpoint, out, model;
  int64_t max_series = 0;
  double series_timeout_s = 60.0;
  int n_threads = 2;
  int64_t batch_size = 32;
  int64_t queue_capacity = 64;
  std::string forward;
  double forward_timeout_s = 1.0;
  bool write_kept = false;
  bool fan_out = false;
  std::string monitor;
  bool quiet = false;
  features::EvidenceArgs evidence;
};

void run_stream(const StreamArgs& a, const std::string& exact_command) {
  stream::LiveOptions o;
  o.endpoint = a.endpoint;
  o.out = a.out;
  o.max_series = a.max_series;
  o.series_timeout_s = a.series_timeout_s;
  o.queue_capacity = a.queue_capacity;
  o.forward_endpoint = a.forward;
  o.forward_timeout_s = a.forward_timeout_s;
  o.write_kept = a.write_kept;
  o.fan_out = a.fan_out;
  if (!a.evidence.geometry_file.empty()) {
    try {
      o.headerless_geometry = read_geometry_json(a.evidence.geometry_file);
    } catch (const Error& e) {
      throw ConfigError(std::string("--geometry: ") + e.what());
    }
  }
  o.triage.n_decode_threads = a.n_threads;
  o.triage.n_infer_workers = a.n_threads;
  o.triage.batch_size = a.batch_size;
  o.triage.queue_capacity = std::max<int64_t>(a.batch_size, 64);
  const fs::path model = resolve_triage_model(a.model);
  o.model_path = model.string();
  auto clf = std::make_shared<const models::Classifier>(models::Classifier::load(model));
  o.triage.evidence = features::make_evidence_stage(a.evidence, clf->metadata().spot_evidence);
  make_output_dir(a.out);
  write_run_json(a.out, "stream",
                 {{"connect", a.endpoint},
                  {"out", a.out},
                  {"model", model.string()},
                  {"max_series", a.max_series},
                  {"series_timeout", a.series_timeout_s},
                  {"threads", a.n_threads},
                  {"batch", a.batch_size},
                  {"queue", a.queue_capacity},
                  {"forward", a.forward.empty() ? nlohmann::json() : nlohmann::json(a.forward)},
                  {"forward_timeout", a.forward_timeout_s},
                  {"write_kept", a.write_kept},
                  {"fan_out", a.fan_out},
                  {"geometry", a.evidence.geometry_file},
                  {"geometry_override", a.evidence.geometry_override},
                  {"cells", a.evidence.cell_files},
                  {"spot_evidence", !a.evidence.disabled},
                  {"monitor", a.monitor.empty() ? nlohmann::json() : nlohmann::json(a.monitor)}},
                 exact_command);
  // The live page: the run's counters (stream/monitor.h), served on its own threads for as
  // long as the run goes on; the triage only updates counters and never waits for a browser.
  std::unique_ptr<stream::MonitorServer> server;
  if (!a.monitor.empty()) {
    o.monitor = std::make_shared<stream::RunMonitor>("stream");
    server = std::make_unique<stream::MonitorServer>(
        o.monitor, stream::parse_monitor_address(a.monitor, "--monitor"));
    std::fprintf(stderr, "stream: live monitor at %s (status: %sstatus.json)\n",
                 server->url().c_str(), server->url().c_str());
  }
  g_stop = false;
  std::signal(SIGINT, request_stop);
  std::signal(SIGTERM, request_stop);
  o.stop_requested = [] { return g_stop.load(); };
  if (!a.quiet) {
    std::fprintf(stderr, "stream: PULL from %s%s, model %s, writing %s/series_<id>/\n",
                 a.endpoint.c_str(), a.fan_out ? " (fan-out worker)" : "",
                 model.string().c_str(), a.out.c_str());
  }
  const stream::LiveSummary s = stream::run_live_triage(o, clf);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  std::printf("%lld series, %lld frame(s): %lld kept, %lld vetoed; %lld stray message(s)\n",
              static_cast<long long>(s.n_series), static_cast<long long>(s.n_frames),
              static_cast<long long>(s.n_kept), static_cast<long long>(s.n_veto),
              static_cast<long long>(s.n_stray_messages));
  for (const auto& f : s.series_folders) {
    const bool kept = fs::exists(f / "kept.nxs");
    std::printf("wrote %s/{results.jsonl, report.html, summary.json%s}\n", f.string().c_str(),
                kept ? ", kept.nxs" : "");
  }
}

}  // namespace

void register_stream(CLI::App& root) {
  auto a = std::make_shared<StreamArgs>();
  CLI::App* cmd = root.add_subcommand(
      "stream",
      "Triage a DECTRIS detector's live stream (SIMPLON Stream V1 or Stream V2 over ZeroMQ, "
      "detected per message): a PULL socket connects to the detector's PUSH (several stream "
      "processes share its frames round-robin). Per series DIR/series_<id>/results.jsonl "
      "(classify's row with path null, series and frame), report.html and summary.json (status, n_frames = "
      "n_kept + n_veto, flags, timing); DIR/stream_summary.json at exit. Fail-open: corrupt "
      "images and images without their series header are kept and flagged (with --fan-out the "
      "latter are triaged like the others, flagged)");
  cmd->add_option("--connect", a->endpoint, "ZeroMQ endpoint of the detector, e.g. "
                                            "tcp://127.0.0.1:9999")
      ->required();
  cmd->add_option("--out", a->out, "Output folder (created if missing)")->required();
  cmd->add_option("--model", a->model,
                  "Checkpoint folder or file (default as for classify: "
                  "$DIFFTRIAGE_DEFAULT_MODEL, else the shipped model)");
  cmd->add_option("--max-series", a->max_series,
                  "Stop after this many series have ended (complete or timed out); 0 = until "
                  "SIGINT/SIGTERM")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40))
      ->capture_default_str();
  cmd->add_option("--series-timeout", a->series_timeout_s,
                  "Close a series as incomplete after this many seconds without a message for it")
      ->check(CLI::Range(1e-3, 1e9))
      ->capture_default_str();
  cmd->add_option("--threads", a->n_threads, "Decode threads and concurrent forward passes")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_option("--batch", a->batch_size, "Images per forward pass at most")
      ->check(CLI::Range(int64_t{1}, int64_t{65536}))
      ->capture_default_str();
  cmd->add_option("--queue", a->queue_capacity,
                  "Image messages held for triage at most (and ZeroMQ's receive buffer); when "
                  "full, images are kept untriaged and flagged, never dropped")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
      ->capture_default_str();
  cmd->add_option("--forward", a->forward,
                  "Bind a PUSH socket here (e.g. tcp://127.0.0.1:9998) and pass on each series' "
                  "header, its kept image messages as received with the triage result attached "
                  "(V1: an extra difftriage-1.0 part; V2: user_data) and its end message");
  cmd->add_option("--forward-timeout", a->forward_timeout_s,
                  "Seconds one forward may wait for the downstream; kept images not sent are "
                  "counted in summary.json n_not_forwarded")
      ->check(CLI::Range(1e-3, 1e9))
      ->capture_default_str();
  cmd->add_flag("--write-kept", a->write_kept,
               "Write each series' kept images to DIR/series_<id>/kept.nxs (NXmx: "
               "/entry/data/data, pixel mask, geometry; bitshuffle-LZ4 chunks stored as "
               "received, other encodings re-framed as bitshuffle-LZ4, HDF5 filter 32008); kept "
               "images not written are counted in summary.json n_kept_not_written");
  cmd->add_option("--monitor", a->monitor,
                  "Serve a live page on [HOST:]PORT (HOST defaults to 127.0.0.1; PORT 0 picks a "
                  "free one, printed on stderr): counters of the run and the current series, "
                  "frames/s in and out, the charts of the report, the latest kept frame, a "
                  "badice alarm; /status.json carries the same numbers for scripts. The triage "
                  "never waits for the page");
  cmd->add_flag("--fan-out", a->fan_out,
                "Run as one of several workers sharing the detector's PUSH socket: each message "
                "(series headers and ends included) reaches ONE worker, so most series arrive "
                "here without their header. Images without it are triaged and vetoed like any "
                "other (still flagged no_header; without --fan-out they are always kept), a "
                "message of another series closes this worker's open series (closed_by "
                "next_series), else --series-timeout does. --geometry FILE gives images without "
                "a header the detector's geometry (the beam centre the model's input region is "
                "placed on; the spot evidence's geometry). Put the workers' folders together "
                "with `difftriage merge`");
  add_evidence_options(*cmd, a->evidence);
  cmd->add_flag("--quiet", a->quiet, "No progress line on stderr");
  cmd->callback([a, cmd] {
    if (!a->monitor.empty()) stream::parse_monitor_address(a->monitor, "--monitor");  // exit 2 early
    run_stream(*a, command_line(*cmd));
  });
}

}  // namespace difftriage::cli
