/// Sinks of the triage pipeline: the `classify` output folder and, optionally, a CXI stack of
/// the kept frames.
///
///   stream::TriageRunInfo info{"models/default", options};
///   info.hits_cxi.path = "cls/hits.cxi";  // optional: the kept frames' pixels as one stack
///   stream::TriageFolderWriter writer("cls", clf->metadata(), info);
///   auto stats = stream::run_triage(frames, clf, options,
///                                   [&](const stream::FrameResult& r) { writer.add(r); });
///   nlohmann::json summary = writer.finish(stats);
///
/// Files, written as one set (TriageFolderWriter below: built in FOLDER/.partial/, moved into
/// FOLDER at the end, summary.json last, so its presence means a complete set of one run):
///  - results.jsonl: one result_row() per input frame, in input order (triage.h);
///  - hits.lst: CrystFEL event list (`path //N`) of the kept frames — hits, uncertain,
///    unreadable and untriaged frames (fail-open) — except frames whose name an event list
///    cannot carry (stream::event_list_problem), listed in summary.json `not_in_event_list`;
///  - summary.json: the counts (TriageCounts::to_json: n_frames, n_kept, n_veto, n_uncertain,
///    n_unreadable, n_untriaged, hit_rate), `not_in_event_list` ([{path, frame, reason}]),
///    `skipped_inputs` ([{path, reason}], what folder expansion left out), `resumed_frames`,
///    frames_per_s, elapsed_s (of this process's part of the run), the model path and a summary
///    of the model (architecture, heads, preprocessing, thresholds, provenance), the pipeline
///    settings and the timings (setup_s, process cpu_s during the run, decode_s and infer_s
///    summed over threads, n_batches), and "hits_cxi" (HitsCxiWriter::finish) when a stack was
///    asked for;
///  - report.html: the run report (stream/run_report.h), unless TriageRunInfo::write_report is
///    false;
///  - the CXI stack, when TriageRunInfo::hits_cxi.path is set (HitsCxiWriter, below; written
///    atomically on its own, wherever it is).
/// Rows are appended to .partial/results.jsonl every flush_every frames; only hits.lst (one
/// line per kept frame) is held in memory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "difftriage/core/atomic_file.h"
#include "difftriage/core/image.h"
#include "difftriage/io/cxi_writer.h"
#include "difftriage/models/model_info.h"
#include "difftriage/stream/pipeline.h"
#include "difftriage/stream/triage.h"

namespace difftriage::stream {

/// Options of HitsCxiWriter (`classify --hits-cxi FILE --hits-cxi-deflate L`).
struct HitsCxiOptions {
  /// The CXI file to write (its folder must exist). Empty: TriageFolderWriter writes no stack.
  std::filesystem::path path;
  /// Passed to io::CxiStackWriter: deflate_level 0..9 (0: frames stored uncompressed) and
  /// optional detector metadata for the file (default: the first written frame's).
  io::CxiWriteOptions cxi = {};
};

/// Writes the frames that triage keeps into one CXI stack (io::CxiStackWriter), in the order
/// they are added — input order, the order of results.jsonl and hits.lst — each with its source
/// (`/entry_1/difftriage/source_path`, `source_frame`).
///
/// Pixels: add() reads each kept frame again from its file (io::read_image). The pipeline keeps
/// only the model input of a frame (input_size² floats), not the decoded frame; carrying decoded
/// frames through the queue and the batches would hold up to queue_capacity + batch_size ×
/// n_infer_workers full frames (64 MiB each for an EIGER 16M in int32) instead of one, for every
/// frame, vetoed or not. Re-reading holds one frame at a time and costs a second read of the kept
/// frames only.
///
/// Nothing kept is dropped silently; a kept frame that is not in the stack is counted in
/// finish()'s summary:
///  - an unreadable frame (an error result, kept fail-open) has no pixels: `n_unreadable`;
///  - a frame whose extents or pixel type differ from the first frame written (a stack holds
///    one shape and type), or that cannot be read again (the file changed or vanished since the
///    pipeline read it): listed in `not_written` with path, frame and reason, and one warning
///    is logged (core/log.h) at finish().
///
/// The file appears atomically: a temporary beside `path` from construction on, renamed by
/// finish() when at least one frame was written, removed otherwise (and by the destructor when
/// finish() is not reached). When no frame was written, finish() leaves no file at `path` —
/// one from an earlier run is removed, so that after finish() `path` holds exactly this run's
/// frames or does not exist — and the summary says `"written": false`.
///
/// Not thread-safe: call add() from one thread (run_triage's sink), then finish() once.
class HitsCxiWriter {
 public:
  /// Creates the temporary file beside `options.path`.
  /// @throws ConfigError naming the option if `options.path` is empty or
  ///         `options.cxi.deflate_level` is outside 0..9; IoError naming the file if the
  ///         temporary cannot be created (e.g. the folder does not exist).
  explicit HitsCxiWriter(HitsCxiOptions options);
  ~HitsCxiWriter();
  HitsCxiWriter(const HitsCxiWriter&) = delete;
  HitsCxiWriter& operator=(const HitsCxiWriter&) = delete;

  /// Appends the frame of `result` when `decision` keeps it and it was readable (see above);
  /// returns true when it was written. A vetoed frame is ignored.
  /// @throws IoError naming the CXI file if writing it fails; ConfigError if finished.
  bool add(const FrameResult& result, const TriageDecision& decision);
  /// The same for a kept frame known by its address only (a resumed run's rows): `readable`
  /// false counts it as unreadable.
  bool add_kept(const FrameAddress& address, bool readable);

  /// Finishes the file (see above) and returns summary.json's "hits_cxi" object:
  /// `path`, `written` (whether `path` now holds the stack), `n_written`, `n_unreadable`,
  /// `n_not_written`, `not_written` ([{path, frame, reason}], in input order), `n_fast`,
  /// `n_slow` and `pixel_type` of the stack (null when nothing was written) and `deflate_level`.
  /// @throws IoError naming the file if it cannot be finished or a stale one removed;
  ///         ConfigError if called twice.
  nlohmann::json finish();

  /// Frames written so far.
  int64_t n_written() const noexcept { return n_written_; }

 private:
  HitsCxiOptions options_;
  std::optional<io::CxiStackWriter> stack_;  // reset by finish()
  bool finished_ = false;
  int64_t n_written_ = 0;
  int64_t n_unreadable_ = 0;
  // Extents and pixel type of the first frame written: what the stack holds.
  int64_t n_fast_ = 0, n_slow_ = 0;
  PixelType pixel_type_ = PixelType::kUint8;
  nlohmann::json not_written_ = nlohmann::json::array();
};

/// How the run was set up, as summary.json records it besides the counts, and what the folder
/// writer writes besides its three files.
struct TriageRunInfo {
  std::string model_path;  ///< as the user named it (or the resolved default)
  TriageOptions options;
  /// Time spent before run_triage (input expansion, model loading), s; recorded as
  /// timing.setup_s.
  double setup_s = 0.0;
  /// The kept frames as one CXI stack (HitsCxiWriter); none when `hits_cxi.path` is empty.
  HitsCxiOptions hits_cxi = {};
  /// The frames of the run, in order (expand_inputs). When not empty, the writer records their
  /// digest in progress.json, a resumed run must have the same list, and finish() checks that
  /// every one of them has its row. Empty: no check (frames are whatever add() is given).
  std::vector<FrameAddress> inputs = {};
  /// What folder expansion left out ([{path, reason}], skipped_inputs_json()); summary.json's
  /// `skipped_inputs`.
  nlohmann::json skipped_inputs = nlohmann::json::array();
  /// The options that decide the rows (model, thresholds, ...): recorded in progress.json; a
  /// resumed run must give the same.
  nlohmann::json run_options = nlohmann::json::object();
  /// Continue the interrupted run in FOLDER/.partial/ (classify --resume) instead of replacing
  /// it: its rows are kept, counted again and not re-triaged (see n_done()).
  bool resume = false;
  /// Rows appended and flushed to .partial/results.jsonl at a time (and progress.json
  /// rewritten); 0: options.batch_size.
  int64_t flush_every = 0;
  /// Write report.html (stream/run_report.h) into the set, before summary.json.
  bool write_report = true;
  /// For tests: called before each step of the final publish (StagedOutputsOptions).
  std::function<void(const std::string& step)> before_publish_step = {};
};

// The accounting identity and its counters live in triage.h (TriageCounts).

/// Writes the classify output folder as one set (core/atomic_file.h StagedOutputs), a batch of
/// rows at a time. Not thread-safe: call add() from the sink (run_triage calls it on one
/// thread), then finish() once.
///
/// While the run works, FOLDER/.partial/ holds results.jsonl (rows appended and flushed every
/// `flush_every` frames, so a killed run loses at most that many) and progress.json
/// ({n_done, n_frames, inputs_digest, options}). finish() writes hits.lst, the caller's further
/// files and summary.json there and moves them into FOLDER, summary.json last. FOLDER is locked
/// for the writer's life.
class TriageFolderWriter {
 public:
  /// Locks `folder` (creating it), finishes a publish a killed run left half done, removes stale
  /// temporaries, and starts `.partial/` afresh — or, with info.resume, reads back the rows
  /// of the interrupted run there (a torn last row is dropped). Creates the CXI stack's
  /// temporary file when `info.hits_cxi.path` is set (a resumed run re-reads the kept frames
  /// already triaged into it).
  /// @throws IoError naming the folder or file (in use by another run, cannot write, a folder
  ///         in the way of an output); ConfigError for --resume with nothing to resume or with
  ///         other inputs or options than the interrupted run's; FormatError for a damaged
  ///         .partial/results.jsonl; ConfigError as HitsCxiWriter.
  TriageFolderWriter(std::filesystem::path folder, models::ModelMetadata metadata,
                     TriageRunInfo info);
  ~TriageFolderWriter();
  TriageFolderWriter(const TriageFolderWriter&) = delete;
  TriageFolderWriter& operator=(const TriageFolderWriter&) = delete;

  /// Rows already written by the interrupted run when resuming: the caller triages
  /// inputs[n_done()..] only. 0 for a fresh run.
  int64_t n_done() const noexcept { return n_done_; }

  /// Decides (decide_triage) and records one result, appending a kept frame to the CXI stack
  /// when there is one (which reads it again); returns the decision.
  /// @throws IoError naming the file if writing results.jsonl or the CXI stack fails.
  TriageDecision add(const FrameResult& result);
  const TriageCounts& counts() const noexcept { return counts_; }

  /// Appends entries ([{path, reason}], skipped_inputs_json()) to summary.json's
  /// `skipped_inputs`: what a watched folder left out, found during the run.
  void add_skipped_inputs(const nlohmann::json& entries);
  /// Sets summary.json's `key` to `value` (e.g. "watch"), written by finish() after the
  /// standard keys (it may not replace one of them).
  /// @throws ConfigError when `key` is one of the standard keys.
  void set_summary_extra(const std::string& key, nlohmann::json value);

  /// Finishes the CXI stack (if any), writes the last rows, hits.lst, each of `more_files`
  /// (name → content, e.g. run.json) and summary.json into .partial/, then publishes the set
  /// into the folder (summary.json last) and returns the summary.
  /// @throws IoError naming the file if writing fails; FormatError if the rows do not account
  ///         for every input frame.
  nlohmann::json finish(const TriageStats& stats,
                        const std::vector<std::pair<std::string, std::string>>& more_files = {});

  /// Appends the rows held so far to .partial/results.jsonl and rewrites progress.json (add()
  /// does it every flush_every rows; a watched folder's run does it after each batch of files).
  /// @throws IoError naming the file if writing fails.
  void flush();

  /// FOLDER/.partial, where the set is written until finish().
  const std::filesystem::path& partial_folder() const noexcept { return staged_.partial(); }

 private:
  void record(const FrameAddress& address, const TriageDecision& decision);
  void resume_rows();
  nlohmann::json progress() const;
  std::filesystem::path folder_;
  models::ModelMetadata metadata_;
  TriageRunInfo info_;
  std::string inputs_digest_;
  StagedOutputs staged_;
  TriageCounts counts_;
  int64_t n_done_ = 0;
  int64_t n_rows_ = 0;  // rows written or buffered, resumed ones included
  std::string pending_rows_;
  int64_t n_pending_ = 0;
  std::unique_ptr<std::ofstream> results_;
  std::string hits_;
  nlohmann::json not_in_event_list_ = nlohmann::json::array();
  std::unique_ptr<HitsCxiWriter> hits_cxi_;  // null without info_.hits_cxi.path
  nlohmann::json extra_ = nlohmann::json::object();  // set_summary_extra
};

/// FNV-1a 64 (hex) of a frame list: each path's bytes, NUL, the frame number, newline. What
/// progress.json records to tell whether a resumed run has the same inputs.
std::string digest_inputs(const std::vector<FrameAddress>& inputs);

/// The model as a summary.json records it (`model_info`): the sidecar's format_version,
/// architecture, heads, preprocess, thresholds, uncertainty_band and provenance (not its
/// metrics). What classify's and stream's summaries hold, and what `merge` compares to tell
/// that workers ran the same model. Pure.
nlohmann::json model_summary_json(const models::ModelMetadata& metadata);

}  // namespace difftriage::stream
