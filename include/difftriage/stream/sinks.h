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
/// Files (each written atomically by finish(): a temporary file renamed into place, so a reader
/// never sees a partial file; summary.json last, so its presence means the run completed):
///  - results.jsonl: one result_row() per input frame, in input order (triage.h);
///  - hits.lst: CrystFEL event list (`path //N`) of the kept frames — hits, uncertain and
///    unreadable frames (fail-open);
///  - summary.json: counts (n_frames, n_kept, n_veto, n_uncertain, n_errors), hit_rate (kept
///    readable frames / readable frames), frames_per_s, elapsed_s, the model path and a summary
///    of the model (architecture, heads, preprocessing, thresholds, provenance), the pipeline
///    settings and the timings (setup_s, process cpu_s during the run, decode_s and infer_s
///    summed over threads, n_batches), and "hits_cxi" (HitsCxiWriter::finish) when a stack was
///    asked for;
///  - the CXI stack, when TriageRunInfo::hits_cxi.path is set (HitsCxiWriter, below).
/// Rows are kept in memory until finish() (about 0.6 KB per frame).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

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
};

/// Running counts of a triage run. Plain value type.
struct TriageCounts {
  int64_t n_frames = 0;
  int64_t n_kept = 0;  ///< hits + uncertain + unreadable
  int64_t n_veto = 0;
  int64_t n_uncertain = 0;
  int64_t n_errors = 0;  ///< unreadable (kept)
  /// Kept readable frames / readable frames (unreadable frames are kept but not hits); 0 when
  /// no frame was readable.
  double hit_rate() const noexcept;
};

/// Collects results and writes the output folder. Not thread-safe: call add() from the sink
/// (run_triage calls it on one thread), then finish() once.
class TriageFolderWriter {
 public:
  /// Creates `folder` (and parents) if missing, and the CXI stack's temporary file when
  /// `info.hits_cxi.path` is set.
  /// @throws IoError naming the folder or file; ConfigError as HitsCxiWriter.
  TriageFolderWriter(std::filesystem::path folder, models::ModelMetadata metadata,
                     TriageRunInfo info);

  /// Decides (decide_triage) and records one result, appending a kept frame to the CXI stack
  /// when there is one (which reads it again); returns the decision.
  /// @throws IoError naming the CXI file if writing it fails.
  TriageDecision add(const FrameResult& result);
  const TriageCounts& counts() const noexcept { return counts_; }

  /// Finishes the CXI stack (if any), then writes results.jsonl, hits.lst and summary.json (see
  /// above) and returns the summary.
  /// @throws IoError naming the file if writing fails.
  nlohmann::json finish(const TriageStats& stats);

 private:
  std::filesystem::path folder_;
  models::ModelMetadata metadata_;
  TriageRunInfo info_;
  TriageCounts counts_;
  std::string results_;
  std::string hits_;
  std::unique_ptr<HitsCxiWriter> hits_cxi_;  // null without info_.hits_cxi.path
};

}  // namespace difftriage::stream
