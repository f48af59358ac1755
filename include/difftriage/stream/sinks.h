/// Sinks of the triage pipeline: the `classify` output folder.
///
///   stream::TriageFolderWriter writer("cls", clf->metadata(), {"models/default", options});
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
///    summed over threads, n_batches).
/// Rows are kept in memory until finish() (about 0.6 KB per frame).
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "difftriage/models/model_info.h"
#include "difftriage/stream/pipeline.h"
#include "difftriage/stream/triage.h"

namespace difftriage::stream {

/// What summary.json records about the run besides the counts.
struct TriageRunInfo {
  std::string model_path;  ///< as the user named it (or the resolved default)
  TriageOptions options;
  /// Time spent before run_triage (input expansion, model loading), s; recorded as
  /// timing.setup_s.
  double setup_s = 0.0;
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
  /// Creates `folder` (and parents) if missing. @throws IoError naming the folder.
  TriageFolderWriter(std::filesystem::path folder, models::ModelMetadata metadata,
                     TriageRunInfo info);

  /// Decides (decide_triage) and records one result; returns the decision.
  TriageDecision add(const FrameResult& result);
  const TriageCounts& counts() const noexcept { return counts_; }

  /// Writes results.jsonl, hits.lst and summary.json (see above) and returns the summary.
  /// @throws IoError naming the file if writing fails.
  nlohmann::json finish(const TriageStats& stats);

 private:
  std::filesystem::path folder_;
  models::ModelMetadata metadata_;
  TriageRunInfo info_;
  TriageCounts counts_;
  std::string results_;
  std::string hits_;
};

}  // namespace difftriage::stream
