// difftriage classify INPUT... --out DIR [--model M] — triage frames with a trained model; a
// thin wrapper over the stream module (include/difftriage/stream/stream.h): inputs → frames
// (stream/sources.h), the pipeline (stream/pipeline.h), fail-open decisions (stream/triage.h)
// and DIR/{results.jsonl, hits.lst, summary.json, run.json} written as one set through
// DIR/.partial/ (stream/sinks.h), with --resume to continue a killed run, and, with
// --hits-cxi FILE, the kept frames as one CXI stack (stream::HitsCxiWriter).
// With --watch DIR instead of inputs, the frames of DIR's files as a writer completes them
// (stream/watch.h: the settle rule, the accounting), the same rows and output set, until
// SIGINT/SIGTERM or --watch-idle-s; --monitor serves the live page (stream/monitor.h).
// Exit 0 when every frame was processed (even with per-frame errors), 3 when no input frame
// could be read, 2 for bad options (a glob matching nothing, no model to be found).
#include <malloc.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_common.h"
#include "commands.h"
#include "triage_model.h"
#include "difftriage/core/atomic_file.h"
#include "difftriage/core/error.h"
#include "difftriage/core/json_text.h"
#include "difftriage/io/image_io.h"
#include "difftriage/stream/monitor.h"
#include "difftriage/stream/run_report.h"
#include "difftriage/stream/stream.h"
#include "mpi_world.h"

namespace difftriage::cli {
namespace {
namespace fs = std::filesystem;

struct ClassifyArgs {
  std::vector<std::string> inputs;
  std::string out, model;
  int n_threads = 2;
  int n_decode_threads = 0;  // 0: same as n_threads
  int n_torch_threads = 1;
  int64_t batch_size = 32;
  int64_t queue_capacity = 64;
  std::string hits_cxi;
  int hits_cxi_deflate = 0;
  bool quiet = false;
  bool resume = false;
  std::string watch;         // --watch DIR: triage files as a writer completes them
  double settle_s = 1.0;     // --settle-s
  double watch_idle_s = 0.0; // --watch-idle-s (0: until SIGINT/SIGTERM)
  std::string monitor;       // --monitor [HOST:]PORT (with --watch)
  features::EvidenceArgs evidence;
};

std::atomic<bool> g_stop{false};
extern "C" void request_watch_stop(int /*signal*/) { g_stop = true; }

// glibc serves allocations above M_MMAP_THRESHOLD (dynamic, at most 32 MiB) with fresh mmap()s,
// so each batch of full 512² inputs (32 MiB) and the network's large activations page-fault
// and zero their memory again: measured 205 → 330 frames/s for a 512²-input model on the
// 2-core machine without it. classify is a batch job: keep freed memory for reuse instead.
void keep_freed_memory() {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

// The closing lines of a run (stdout), its warnings (stderr) and its exit status.
void report_summary(const ClassifyArgs& a, const stream::TriageCounts& c,
                    const nlohmann::json& summary) {
  std::printf(
      "%lld frame(s): %lld kept, %lld vetoed, %lld uncertain, %lld unreadable, %lld untriaged "
      "(%.1f frames/s)\nwrote %s/{results.jsonl, hits.lst, report.html, summary.json, run.json}\n",
      static_cast<long long>(c.n_frames), static_cast<long long>(c.n_kept),
      static_cast<long long>(c.n_veto), static_cast<long long>(c.n_uncertain),
      static_cast<long long>(c.n_unreadable), static_cast<long long>(c.n_untriaged),
      summary["frames_per_s"].get<double>(), to_utf8_lossy(a.out).c_str());
  if (!summary["not_in_event_list"].empty()) {
    std::fprintf(stderr,
                 "classify: warning: %zu kept frame(s) left out of hits.lst: their names cannot "
                 "be written in an event list (see summary.json not_in_event_list)\n",
                 summary["not_in_event_list"].size());
  }
  if (summary.contains("hits_cxi")) {
    // The not-written frames were reported by the library's one warning line (stderr).
    const auto& h = summary["hits_cxi"];
    if (h["written"].get<bool>()) {
      std::printf("wrote %s (%lld kept frame(s); %lld unreadable kept frame(s) have no pixels)\n",
                  a.hits_cxi.c_str(), static_cast<long long>(h["n_written"].get<int64_t>()),
                  static_cast<long long>(h["n_unreadable"].get<int64_t>()));
    } else {
      std::printf("%s not written: no kept frame could be written (see summary.json hits_cxi)\n",
                  a.hits_cxi.c_str());
    }
  }
  if (c.n_frames > 0 && c.n_unreadable == c.n_frames) {
    std::fprintf(stderr, "difftriage: error: none of the %lld input frame(s) could be read\n",
                 static_cast<long long>(c.n_frames));
    throw ExitRequest{kExitData};
  }
}

// The pipeline's threads, batch and queue from the flags. @throws ConfigError (stream::validate).
stream::TriageOptions triage_options(const ClassifyArgs& a) {
  stream::TriageOptions options;
  options.n_infer_workers = a.n_threads;
  options.n_torch_threads = a.n_torch_threads;
  options.n_decode_threads = a.n_decode_threads > 0 ? a.n_decode_threads : a.n_threads;
  options.batch_size = a.batch_size;
  options.queue_capacity = a.queue_capacity;
  stream::validate(options);
  return options;
}

void run_classify(const ClassifyArgs& a, const std::string& exact_command) {
  const auto t0 = std::chrono::steady_clock::now();
  keep_freed_memory();
  stream::TriageOptions options = triage_options(a);

  std::vector<stream::SkippedInput> skipped;
  const auto frames = stream::expand_inputs(a.inputs, &skipped);
  if (!skipped.empty() && !a.quiet) {
    std::fprintf(stderr,
                 "classify: %zu folder entr%s not taken as frames (listed in summary.json "
                 "skipped_inputs), e.g. %s: %s\n",
                 skipped.size(), skipped.size() == 1 ? "y" : "ies",
                 to_utf8_lossy(skipped[0].path.native()).c_str(), skipped[0].reason.c_str());
  }
  DT_CHECK(!frames.empty(), IoError, "classify: the inputs name no frames");
  const fs::path model = resolve_triage_model(a.model);
  auto clf = std::make_shared<const models::Classifier>(models::Classifier::load(model));
  options.evidence = features::make_evidence_stage(a.evidence, clf->metadata().spot_evidence);
  const fs::path out = a.out;

  stream::TriageRunInfo info;
  info.model_path = model.string();
  info.options = options;
  info.hits_cxi.path = a.hits_cxi;
  info.hits_cxi.cxi.deflate_level = a.hits_cxi_deflate;
  info.inputs = frames;
  info.skipped_inputs = stream::skipped_inputs_json(skipped);
  info.resume = a.resume;
  // What decides the rows: a resumed run must have the same (threads, batch sizes do not).
  info.run_options = {{"model", to_utf8_lossy(model.native())},
                      {"model_info", models::to_json(clf->metadata())},
                      {"hits_cxi", to_utf8_lossy(a.hits_cxi)},
                      {"hits_cxi_deflate", a.hits_cxi_deflate},
                      {"geometry", a.evidence.geometry_file},
                      {"geometry_override", a.evidence.geometry_override},
                      {"cells", a.evidence.cell_files},
                      {"spot_evidence", !a.evidence.disabled}};
  info.run_options["model_info"].erase("metrics");
  stream::TriageFolderWriter writer(out, clf->metadata(), info);
  const auto n_done = writer.n_done();
  const std::vector<stream::FrameAddress> todo(frames.begin() + n_done, frames.end());
  if (!a.quiet) {
    std::fprintf(stderr,
                 "classify: %zu frame(s)%s, model %s, %d decode thread(s), %d inference "
                 "worker(s) x %d torch thread(s)\n",
                 frames.size(),
                 n_done > 0 ? (", " + std::to_string(n_done) + " already done (--resume)").c_str()
                            : "",
                 to_utf8_lossy(model.native()).c_str(), options.n_decode_threads,
                 options.n_infer_workers, options.n_torch_threads);
  }
  info.setup_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ProgressLine progress("classify", "frames", static_cast<int64_t>(todo.size()), a.quiet);
  int64_t n_seen = 0;
  const auto stats =
      stream::run_triage(todo, clf, options, [&](const stream::FrameResult& r) {
        writer.add(r);
        progress.update(++n_seen);
      });
  progress.finish(n_seen);
  const std::string run_json = run_json_text(
      "classify", {{"inputs", a.inputs},
                   {"out", a.out},
                   {"model", model.string()},
                   {"threads", a.n_threads},
                   {"decode_threads", options.n_decode_threads},
                   {"torch_threads", a.n_torch_threads},
                   {"batch", a.batch_size},
                   {"queue", a.queue_capacity},
                   {"resume", a.resume},
                   {"hits_cxi", a.hits_cxi.empty() ? nlohmann::json() : nlohmann::json(a.hits_cxi)},
                   {"hits_cxi_deflate", a.hits_cxi_deflate}},
      exact_command);
  const auto summary = writer.finish(stats, {{"run.json", run_json}});
  report_summary(a, writer.counts(), summary);
}

// ---- mpirun -n N difftriage classify INPUT... --out DIR (README "Running on a cluster") -------
//
// Every rank expands the inputs to the same frame list and takes a contiguous block of it
// (rank_block; an HDF5 stack is split by frame). Rank 0 locks DIR and starts DIR/.partial/
// afresh (StagedOutputs); each rank then writes its block's rows through its own
// TriageFolderWriter into DIR/.partial/rank-NNNN/ (its own .partial/, progress.json and lock:
// a rank killed mid-run leaves its flushed rows there). Once every rank has published its part,
// rank 0 concatenates the parts' results.jsonl and hits.lst in rank order — input order, so
// both are byte-identical to one process's — writes summary.json (the counters summed, the
// timings, world_size and ranks), run.json, report.html (from the merged rows) and, with
// --hits-cxi, the stack of the kept frames read again in hits.lst order; then publishes the set
// into DIR (summary.json last) and removes .partial/.

std::vector<std::string> merged_files() {
  return {"results.jsonl", "hits.lst", "report.html", "summary.json", "run.json"};
}

// Appends the bytes of `from` to `to`. @throws IoError naming the file.
void append_file(std::ofstream& to, const fs::path& from, const fs::path& to_path) {
  std::ifstream in(from, std::ios::binary);
  DT_CHECK(in.good(), IoError, "cannot read ", from.string());
  // An empty part (a rank without frames, a part without hits): `<< rdbuf()` that inserts
  // nothing sets failbit.
  if (in.peek() == std::ifstream::traits_type::eof()) return;
  to << in.rdbuf();
  DT_CHECK(to.good(), IoError, "cannot write ", to_path.string());
}

fs::path rank_part_folder(const fs::path& out, int rank) {
  char name[32];
  std::snprintf(name, sizeof name, "rank-%04d", rank);
  return out / ".partial" / name;
}

// For tests of a rank that dies: DIFFTRIAGE_TEST_RANK_FAILURE=R:N:kill|error makes rank R, after
// flushing its first N rows to its .partial/, kill itself (SIGKILL) or throw an IoError.
struct RankFailure {
  int rank = -1;
  int64_t after_rows = 0;
  bool kill = false;
};
RankFailure test_rank_failure() {
  RankFailure f;
  const char* v = std::getenv("DIFFTRIAGE_TEST_RANK_FAILURE");
  if (v == nullptr) return f;
  char mode[16] = {};
  long long rows = 0;
  if (std::sscanf(v, "%d:%lld:%15s", &f.rank, &rows, mode) != 3) return RankFailure{};
  f.after_rows = rows;
  f.kill = std::string(mode) == "kill";
  return f;
}

void run_classify_ranks(const ClassifyArgs& a, const std::string& exact_command,
                        const MpiWorld& world) {
  const auto t0 = std::chrono::steady_clock::now();
  keep_freed_memory();
  const fs::path out = a.out;
  const bool rank0 = world.rank() == 0;
  stream::TriageOptions options;
  std::vector<stream::SkippedInput> skipped;
  std::vector<stream::FrameAddress> frames;
  fs::path model;
  std::shared_ptr<const models::Classifier> clf;
  nlohmann::json run_options;
  std::optional<StagedOutputs> staged;  // rank 0: DIR's lock and its fresh .partial/
  std::unique_ptr<stream::HitsCxiWriter> hits_cxi;  // rank 0, with --hits-cxi
  run_step_on_all_ranks(world, [&] {
    DT_CHECK(!a.resume, ConfigError,
             "classify --resume does not run under mpirun (", world.size(),
             " ranks): the ranks' rows of the interrupted run are in ", a.out,
             "/.partial/rank-*/; run again without --resume (or resume it as one process "
             "only if it was started as one)");
    options = triage_options(a);
    frames = stream::expand_inputs(a.inputs, &skipped);
    DT_CHECK(!frames.empty(), IoError, "classify: the inputs name no frames");
    model = resolve_triage_model(a.model);
    clf = std::make_shared<const models::Classifier>(models::Classifier::load(model));
    options.evidence = features::make_evidence_stage(a.evidence, clf->metadata().spot_evidence);
    run_options = {{"model", to_utf8_lossy(model.native())},
                   {"model_info", models::to_json(clf->metadata())},
                   {"geometry", a.evidence.geometry_file},
                   {"geometry_override", a.evidence.geometry_override},
                   {"cells", a.evidence.cell_files},
                   {"spot_evidence", !a.evidence.disabled},
                   {"mpi_world_size", world.size()}};
    run_options["model_info"].erase("metrics");
    if (rank0) {
      staged.emplace(out, StagedOutputsOptions{});
      staged->check_targets(merged_files());
      if (!a.hits_cxi.empty()) {  // fails now, not after the run, when it cannot be created
        stream::HitsCxiOptions h;
        h.path = a.hits_cxi;
        h.cxi.deflate_level = a.hits_cxi_deflate;
        hits_cxi = std::make_unique<stream::HitsCxiWriter>(h);
      }
    }
  });
  // Every rank must see rank 0's DIR/.partial/: the parts are merged through the file system.
  run_step_on_all_ranks(world, [&] {
    DT_CHECK(fs::is_directory(out / ".partial"), IoError, (out / ".partial").string(),
             " (made by rank 0) is not visible on ", world.describe(),
             ": --out must be on a file system every rank sees");
  });
  // Whole batches per rank: the pipeline's batches are windows of --batch input frames
  // (stream/pipeline.h), so each rank's batches are the single-process run's, bit for bit.
  const auto [begin, end] = rank_block(static_cast<int64_t>(frames.size()), world.rank(),
                                       world.size(), options.batch_size);
  const std::vector<stream::FrameAddress> block(frames.begin() + begin, frames.begin() + end);
  if (rank0 && !a.quiet) {
    std::fprintf(stderr,
                 "classify: %zu frame(s) across %d ranks (rank 0: frames %lld..%lld), model %s, "
                 "%d decode thread(s), %d inference worker(s) x %d torch thread(s) per rank\n",
                 frames.size(), world.size(), static_cast<long long>(begin),
                 static_cast<long long>(end - 1), to_utf8_lossy(model.native()).c_str(),
                 options.n_decode_threads, options.n_infer_workers, options.n_torch_threads);
    if (!skipped.empty()) {
      std::fprintf(stderr,
                   "classify: %zu folder entr%s not taken as frames (listed in summary.json "
                   "skipped_inputs), e.g. %s: %s\n",
                   skipped.size(), skipped.size() == 1 ? "y" : "ies",
                   to_utf8_lossy(skipped[0].path.native()).c_str(), skipped[0].reason.c_str());
    }
  }
  const double setup_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // This rank's block, written as a set of its own into DIR/.partial/rank-NNNN/.
  const auto t_run = std::chrono::steady_clock::now();
  nlohmann::json part;
  run_part_or_abort(world, [&] {
    stream::TriageRunInfo info;
    info.model_path = model.string();
    info.options = options;
    info.inputs = block;
    info.run_options = run_options;
    info.run_options["mpi_rank"] = world.rank();
    info.write_report = false;
    info.setup_s = setup_s;
    stream::TriageFolderWriter writer(rank_part_folder(out, world.rank()), clf->metadata(), info);
    ProgressLine progress("classify (rank 0)", "frames", static_cast<int64_t>(block.size()),
                          a.quiet || !rank0);
    int64_t n_seen = 0;
    const RankFailure failure = test_rank_failure();
    const auto stats =
        stream::run_triage(block, clf, options, [&](const stream::FrameResult& r) {
          writer.add(r);
          progress.update(++n_seen);
          if (failure.rank == world.rank() && n_seen == failure.after_rows) {
            writer.flush();
            if (failure.kill) std::raise(SIGKILL);
            throw IoError("cannot write " + writer.partial_folder().string() +
                          "/results.jsonl (DIFFTRIAGE_TEST_RANK_FAILURE)");
          }
        });
    progress.finish(n_seen);
    const nlohmann::json s = writer.finish(stats);
    part = {{"rank", world.rank()},
            {"host", world.host()},
            {"first_frame", begin},
            {"n_frames", s["n_frames"]},
            {"n_kept", s["n_kept"]},
            {"setup_s", setup_s},
            {"elapsed_s", stats.elapsed_s},
            {"frames_per_s", stats.frames_per_s},
            {"cpu_s", stats.cpu_s},
            {"decode_s", stats.decode_s},
            {"infer_s", stats.infer_s},
            {"n_batches", stats.n_batches}};
  });
  const std::vector<std::string> parts = world.gather(dump_json(part));
  const double run_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_run).count();

  run_step_on_all_ranks(world, [&] {
    if (!rank0) return;
    const auto t_merge = std::chrono::steady_clock::now();
    const fs::path dir = staged->partial();
    // results.jsonl and hits.lst: the parts in rank order, which is input order.
    for (const char* name : {"results.jsonl", "hits.lst"}) {
      write_atomically(dir / name, [&](const fs::path& tmp) {
        std::ofstream to(tmp, std::ios::binary);
        DT_CHECK(to.good(), IoError, "cannot write ", tmp.string());
        for (int r = 0; r < world.size(); ++r) {
          const fs::path from = rank_part_folder(out, r) / name;
          DT_CHECK(fs::is_regular_file(from), IoError, "rank ", r, "'s part ", from.string(),
                   " is missing (rank ", r, " reported its part done: is --out on a file "
                   "system every rank sees?)");
          append_file(to, from, tmp);
        }
        to.close();
        DT_CHECK(to.good(), IoError, "cannot write ", tmp.string());
      });
    }
    // summary.json: rank 0's part's as the frame of it (model, settings, version), the
    // counters summed over the parts, the timings of the whole run and of each rank.
    nlohmann::json summary;
    stream::TriageCounts counts;
    nlohmann::json not_in_event_list = nlohmann::json::array();
    nlohmann::json ranks = nlohmann::json::array();
    double cpu_s = 0, decode_s = 0, infer_s = 0;
    int64_t n_batches = 0;
    for (int r = 0; r < world.size(); ++r) {
      const fs::path file = rank_part_folder(out, r) / "summary.json";
      nlohmann::json s;
      try {
        s = nlohmann::json::parse(read_file(file));
      } catch (const nlohmann::json::exception& e) {
        throw FormatError(file.string() + ": damaged (" + e.what() + ")");
      }
      counts.merge(stream::TriageCounts::from_json(s));
      for (const auto& e : s.at("not_in_event_list")) not_in_event_list.push_back(e);
      const auto figures = nlohmann::json::parse(parts[static_cast<size_t>(r)]);
      cpu_s += figures.at("cpu_s").get<double>();
      decode_s += figures.at("decode_s").get<double>();
      infer_s += figures.at("infer_s").get<double>();
      n_batches += figures.at("n_batches").get<int64_t>();
      ranks.push_back(figures);
      if (r == 0) summary = std::move(s);
    }
    DT_CHECK(counts.n_frames == static_cast<int64_t>(frames.size()), FormatError,
             "the ranks' parts hold ", counts.n_frames, " row(s) for ", frames.size(),
             " input frame(s)");
    summary.update(counts.to_json());
    summary["not_in_event_list"] = not_in_event_list;
    summary["skipped_inputs"] = stream::skipped_inputs_json(skipped);
    summary["resumed_frames"] = 0;
    summary["elapsed_s"] = run_s;
    summary["frames_per_s"] = run_s > 0 ? static_cast<double>(counts.n_frames) / run_s : 0.0;
    summary["world_size"] = world.size();
    summary["ranks"] = ranks;
    if (hits_cxi) {  // the kept frames read again, in hits.lst order (see sinks.h)
      std::ifstream in(dir / "results.jsonl", std::ios::binary);
      std::string line;
      while (std::getline(in, line)) {
        const auto row = nlohmann::json::parse(line);
        const auto d = stream::decision_from_row(row);
        if (d.keep()) hits_cxi->add_kept({path_from_json(row), row["frame"]}, !d.unreadable);
      }
      summary["hits_cxi"] = hits_cxi->finish();
    }
    const std::string run_json = run_json_text(
        "classify",
        {{"inputs", a.inputs},
         {"out", a.out},
         {"model", model.string()},
         {"mpi_world_size", world.size()},
         {"threads", a.n_threads},
         {"decode_threads", options.n_decode_threads},
         {"torch_threads", a.n_torch_threads},
         {"batch", a.batch_size},
         {"queue", a.queue_capacity},
         {"resume", false},
         {"hits_cxi", a.hits_cxi.empty() ? nlohmann::json() : nlohmann::json(a.hits_cxi)},
         {"hits_cxi_deflate", a.hits_cxi_deflate}},
        exact_command);
    write_file_atomically(dir / "run.json", run_json);
    summary["timing"] = {
        {"setup_s", setup_s},
        {"cpu_s", cpu_s},
        {"decode_s", decode_s},
        {"infer_s", infer_s},
        {"n_batches", n_batches},
        {"merge_s",
         std::chrono::duration<double>(std::chrono::steady_clock::now() - t_merge).count()}};
    write_file_atomically(dir / "report.html",
                          stream::render_triage_report(dir / "results.jsonl", summary,
                                                       nlohmann::json::parse(run_json)));
    write_file_atomically(dir / "summary.json", dump_json(summary, 2) + "\n");
    staged->publish(merged_files(), "summary.json");
    std::printf("%d ranks: ", world.size());
    report_summary(a, counts, summary);
  });
}

// classify --watch DIR: the same writer, rows and output set as run_classify, fed by
// stream::run_watch_triage instead of a fixed frame list.
void run_classify_watch(const ClassifyArgs& a, const std::string& exact_command) {
  const auto t0 = std::chrono::steady_clock::now();
  keep_freed_memory();
  stream::TriageOptions options = triage_options(a);
  stream::WatchOptions w;
  w.folder = a.watch;
  w.settle_s = a.settle_s;
  w.idle_stop_s = a.watch_idle_s;
  stream::validate(w);
  std::optional<stream::MonitorAddress> monitor_address;
  if (!a.monitor.empty()) monitor_address = stream::parse_monitor_address(a.monitor, "--monitor");

  const fs::path model = resolve_triage_model(a.model);
  auto clf = std::make_shared<const models::Classifier>(models::Classifier::load(model));
  const models::ModelMetadata& metadata = clf->metadata();
  options.evidence = features::make_evidence_stage(a.evidence, metadata.spot_evidence);

  stream::TriageRunInfo info;
  info.model_path = model.string();
  info.options = options;
  info.hits_cxi.path = a.hits_cxi;
  info.hits_cxi.cxi.deflate_level = a.hits_cxi_deflate;
  stream::TriageFolderWriter writer(a.out, metadata, info);

  // The live page (stream/monitor.h): series = the watched folder; the triage only updates
  // counters and never waits for a browser.
  std::shared_ptr<stream::RunMonitor> monitor;
  std::unique_ptr<stream::MonitorServer> server;
  if (monitor_address) {
    monitor = std::make_shared<stream::RunMonitor>("classify --watch");
    server = std::make_unique<stream::MonitorServer>(monitor, *monitor_address);
    monitor->begin_series(to_utf8_lossy(w.folder.native()));
    std::fprintf(stderr, "classify: live monitor at %s (status: %sstatus.json)\n",
                 server->url().c_str(), server->url().c_str());
  }
  if (!a.quiet) {
    char until[96] = "until SIGINT/SIGTERM";
    if (w.idle_stop_s > 0) {
      std::snprintf(until, sizeof until, "until %g s idle or SIGINT/SIGTERM", w.idle_stop_s);
    }
    std::fprintf(stderr,
                 "classify: watching %s (a file is taken once unchanged for %g s; %s), model "
                 "%s, writing %s\n",
                 to_utf8_lossy(w.folder.native()).c_str(), w.settle_s, until,
                 to_utf8_lossy(model.native()).c_str(), to_utf8_lossy(a.out).c_str());
  }
  info.setup_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ProgressLine progress("classify --watch", "frames", 0, a.quiet);
  int64_t n_seen = 0;
  g_stop = false;
  std::signal(SIGINT, request_watch_stop);
  std::signal(SIGTERM, request_watch_stop);
  w.stop_requested = [] { return g_stop.load(); };
  w.after_batch = [&] { writer.flush(); };
  if (monitor) w.on_frames = [&](const std::vector<stream::FrameAddress>& f) {
    monitor->count_in(static_cast<int64_t>(f.size()));
  };
  stream::WatchResult result;
  try {
    result = stream::run_watch_triage(w, clf, options, [&](const stream::FrameResult& r) {
      const stream::TriageDecision d = writer.add(r);
      progress.update(++n_seen);
      if (!monitor) return;
      monitor->add(stream::result_row(r, d, metadata));
      // The latest kept frame's thumbnail, read again, at most about once a second.
      if (d.keep() && r.ok() && monitor->wants_thumbnail()) {
        try {
          io::ReadOptions ro;
          ro.frame = r.address.frame;
          monitor->set_last_kept(
              stream::make_thumbnail_png(io::read_image(r.address.path, ro), metadata.preprocess),
              {{"path", to_utf8_lossy(r.address.path.native())}, {"frame", r.address.frame}});
        } catch (const std::exception&) {
          // No thumbnail this time (the file changed or vanished): the row stands.
        }
      }
    });
  } catch (...) {
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    throw;
  }
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  progress.finish(n_seen);
  if (monitor) monitor->end_series(result.stopped_by == "idle" ? "idle" : "stopped");
  writer.add_skipped_inputs(stream::skipped_inputs_json(result.skipped));
  writer.set_summary_extra("watch", {{"folder", to_utf8_lossy(w.folder.native())},
                                     {"settle_s", w.settle_s},
                                     {"idle_stop_s", w.idle_stop_s},
                                     {"n_files", result.n_files},
                                     {"n_skipped", static_cast<int64_t>(result.skipped.size())},
                                     {"stopped_by", result.stopped_by},
                                     {"watch_s", result.watch_s}});
  if (!a.quiet && !result.skipped.empty()) {
    std::fprintf(stderr,
                 "classify: %zu entr%s of the watched folder not triaged (listed in "
                 "summary.json skipped_inputs), e.g. %s: %s\n",
                 result.skipped.size(), result.skipped.size() == 1 ? "y" : "ies",
                 to_utf8_lossy(result.skipped[0].path.native()).c_str(),
                 result.skipped[0].reason.c_str());
  }
  const std::string run_json = run_json_text(
      "classify", {{"watch", a.watch},
                   {"settle_s", a.settle_s},
                   {"watch_idle_s", a.watch_idle_s},
                   {"monitor", a.monitor.empty() ? nlohmann::json() : nlohmann::json(a.monitor)},
                   {"out", a.out},
                   {"model", model.string()},
                   {"threads", a.n_threads},
                   {"decode_threads", options.n_decode_threads},
                   {"torch_threads", a.n_torch_threads},
                   {"batch", a.batch_size},
                   {"queue", a.queue_capacity},
                   {"hits_cxi", a.hits_cxi.empty() ? nlohmann::json() : nlohmann::json(a.hits_cxi)},
                   {"hits_cxi_deflate", a.hits_cxi_deflate}},
      exact_command);
  const auto summary = writer.finish(result.stats, {{"run.json", run_json}});
  std::printf("watched %s for %.1f s (stopped: %s): %lld file(s) taken, %zu entr%s not triaged\n",
              to_utf8_lossy(w.folder.native()).c_str(), result.watch_s,
              result.stopped_by == "idle" ? "idle" : "signal",
              static_cast<long long>(result.n_files), result.skipped.size(),
              result.skipped.size() == 1 ? "y" : "ies");
  report_summary(a, writer.counts(), summary);
}

}  // namespace

void register_classify(CLI::App& root) {
  auto a = std::make_shared<ClassifyArgs>();
  CLI::App* cmd = root.add_subcommand(
      "classify",
      "Triage frames with a trained model: DIR/results.jsonl (probabilities, labels, quality, "
      "mosaic, keep/veto decision per frame, in input order), DIR/hits.lst (CrystFEL event list "
      "of kept frames), DIR/summary.json (counts, hit rate, frames/s, model, settings) and "
      "DIR/report.html (a self-contained page: counts, charts along the run, example frames, "
      "errors; `difftriage report DIR` makes it again) and DIR/run.json. Fail-open: vetoes only frames the model is confidently sure are blank; "
      "uncertain and unreadable frames are kept and flagged. Exit 0 when every frame was "
      "processed (even with per-frame errors), 3 when none could be read. Under `mpirun -n N` "
      "the frame list is split into contiguous blocks of whole --batch windows, one per rank "
      "(an HDF5 stack split by frame); each rank writes its rows into DIR/.partial/rank-NNNN/ "
      "and rank 0 merges results.jsonl and hits.lst (byte-identical to one process's), "
      "summary.json (world_size, ranks), run.json, report.html and --hits-cxi; DIR must be on a "
      "file system every rank sees. A rank that fails or dies ends the job (non-zero exit) with "
      "its rows kept in DIR/.partial/. Not with --resume or --watch");
  cmd->add_option("inputs", a->inputs,
                  "Frame files, folders (their frame files, sorted: files with a frame "
                  "extension or frame content; everything else is listed in summary.json "
                  "skipped_inputs), quoted glob patterns ('run1/*.cbf', expanded "
                  "sorted; no match is an error) or @LIST event lists (`path` or `path //N` per "
                  "line, # comments). `path //N` is frame N (0-based); a plain path of a "
                  "multi-frame file (HDF5 stack, EIGER master, multi-page TIFF, CBOR) is all "
                  "its frames. Not with --watch")
      ;
  cmd->add_option("--out", a->out, "Output folder (created if missing)")->required();
  cmd->add_option("--model", a->model,
                  "Checkpoint folder (model.pt + model.json) or .pt/.json path. Default: the "
                  "folder named by the environment variable DIFFTRIAGE_DEFAULT_MODEL when set, "
                  "else the shipped models/default of the source tree, else of the "
                  "installation (share/difftriage/models/default)");
  cmd->add_option("--threads", a->n_threads,
                  "CPU threads: forward passes run concurrently on this many batches (each "
                  "single-threaded unless --torch-threads), and as many threads read and "
                  "preprocess frames unless --decode-threads is given")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_option("--decode-threads", a->n_decode_threads,
                  "Threads that read and preprocess frames (default: --threads)")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--torch-threads", a->n_torch_threads,
                  "Intra-op threads of each forward pass (more helps latency on an idle "
                  "machine, hurts throughput when cores are shared)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_option("--batch", a->batch_size,
                  "Frames per forward pass: each window of this many consecutive input frames "
                  "is one batch of its readable frames")
      ->check(CLI::Range(int64_t{1}, int64_t{65536}))
      ->capture_default_str();
  cmd->add_option("--queue", a->queue_capacity,
                  "Frames decoded ahead of inference at most (bounds memory; below --batch "
                  "decoding and inference no longer overlap)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
      ->capture_default_str();
  CLI::Option* hits_cxi =
      cmd->add_option("--hits-cxi", a->hits_cxi,
                      "Also write the kept frames' pixels, in hits.lst order, to this CXI/HDF5 "
                      "stack (its folder must exist; written atomically; source path and frame "
                      "recorded per frame). Frames are read again from their files. Unreadable "
                      "kept frames have no pixels and are only counted; a frame whose shape or "
                      "pixel type differs from the first one written is left out, listed in "
                      "summary.json hits_cxi.not_written and warned about. No file is left when "
                      "no frame could be written");
  cmd->add_option("--hits-cxi-deflate", a->hits_cxi_deflate,
                  "zlib level of the --hits-cxi frames (0 = uncompressed, fastest)")
      ->check(CLI::Range(0, 9))
      ->needs(hits_cxi)
      ->capture_default_str();
  cmd->add_flag("--resume", a->resume,
                "Continue the run that was interrupted in --out (its rows in OUT/.partial/ are "
                "kept, not triaged again); refused when there is nothing to resume or the "
                "inputs or model differ");
  CLI::Option* watch = cmd->add_option(
      "--watch", a->watch,
      "Instead of inputs: watch this folder (not recursively) and triage its frame files as a "
      "writer completes them, until SIGINT/SIGTERM (or --watch-idle-s): a file is taken once "
      "its size, modification time and inode stayed unchanged for --settle-s seconds; files "
      "already there are taken too; every frame of a taken file gets its row (a corrupt file: "
      "an unreadable row, kept); entries not triaged (subfolders, non-frame files, files removed "
      "or still changing at the end, hidden files: writers' temporaries) are listed in "
      "summary.json skipped_inputs. EIGER data files wait for their master. On stop the frames "
      "taken are triaged to the end and the output set is closed as for classify");
  cmd->add_option("--settle-s", a->settle_s,
                  "With --watch: seconds a file must stay unchanged (size, mtime, inode) before "
                  "it is read; choose it longer than the writer's longest pause, or have the "
                  "writer rename a finished temporary into place")
      ->check(CLI::Range(1e-3, 1e6))
      ->needs(watch)
      ->capture_default_str();
  cmd->add_option("--watch-idle-s", a->watch_idle_s,
                  "With --watch: stop after this many seconds with no new or changing file and "
                  "none waiting to settle (for scripts and tests); 0 = until SIGINT/SIGTERM")
      ->check(CLI::Range(0.0, 1e9))
      ->needs(watch)
      ->capture_default_str();
  cmd->add_option("--monitor", a->monitor,
                  "With --watch: serve the live page on [HOST:]PORT (HOST defaults to "
                  "127.0.0.1; PORT 0 picks a free one, printed on stderr), as `stream "
                  "--monitor`: counters, frames/s in and out, charts, the latest kept frame, a "
                  "badice alarm; /status.json for scripts (series: the watched folder; "
                  "last_kept: {path, frame}). The triage never waits for the page")
      ->needs(watch);
  watch->excludes(cmd->get_option("--resume"));
  add_evidence_options(*cmd, a->evidence);
  cmd->add_flag("--quiet", a->quiet, "No progress on stderr");
  cmd->callback([a, cmd] {
    if (!a->watch.empty()) {
      DT_CHECK(MpiWorld::join().size() == 1, ConfigError,
               "classify --watch runs as one process, not under mpirun with ",
               MpiWorld::join().size(), " ranks (each would watch the same folder)");
      if (!a->inputs.empty()) {
        throw ConfigError("classify: give either inputs or --watch DIR, not both");
      }
      if (!a->monitor.empty()) stream::parse_monitor_address(a->monitor, "--monitor");
      run_classify_watch(*a, command_line(*cmd));
      return;
    }
    if (a->inputs.empty()) {
      throw ConfigError("classify: no inputs (give frame files, folders, globs or @lists, or "
                        "--watch DIR)");
    }
    const MpiWorld& world = MpiWorld::join();
    if (world.size() > 1) {
      run_classify_ranks(*a, command_line(*cmd), world);
    } else {
      run_classify(*a, command_line(*cmd));
    }
  });
}

}  // namespace difftriage::cli
