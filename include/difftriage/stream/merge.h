/// `difftriage merge`: the output folders of several `stream --fan-out` workers that shared one
/// detector (stream/live.h LiveOptions::fan_out) put together as one accounting per series.
///
///   stream::MergeOptions o;
///   o.inputs = {"w1", "w2"};  o.out = "merged";
///   stream::MergeSummary s = stream::merge_stream_runs(o);   // merged/series_<id>/...
///
/// Each input is a finished `stream` output folder (its stream_summary.json, written when the
/// stream exits, lists its series folders; each of those holds summary.json and results.jsonl).
/// OUT gets the layout of a stream output folder, so `difftriage report OUT` and every reader
/// of stream folders take it:
///  - series_<id>/results.jsonl: every row of every worker's folders of series <id> (a worker
///    may have several, `series_<id>_2`, ... when its series timed out and went on), sorted by
///    frame, each with `"worker": k` added (k: the position of its input, 0-based);
///  - series_<id>/summary.json: the counters recounted from the rows (n_frames = n_kept +
///    n_veto, n_uncertain, n_unreadable, n_untriaged, hit_rate; each worker's summary.json must
///    agree with its own rows), n_no_header, `status` (complete: some worker received the end
///    message and no frame is missing; else interrupted when a worker was stopped with the
///    series open, else incomplete), header_received / end_received (by any worker),
///    n_images_expected (the header's count; null when no worker received the header),
///    n_missing and missing_frames (the numbers in 0 .. n_images_expected − 1 no worker
///    received, as inclusive ranges [[first, last], ...]), n_outside_expected, the summed
///    timing and kept counts, `kept_files` (the workers' kept.nxs, listed where they lie: pixels
///    are not copied) and `workers` (per worker folder: its status, closed_by, header/end
///    received and counts);
///  - series_<id>/report.html (stream/run_report.h, from the merged rows: no example frames,
///    the pixels are not on disk);
///  - stream_summary.json (the completion marker, last): merged_from, workers (host, pid,
///    endpoint, fan_out, messages), n_series, n_frames, n_kept, n_veto, n_missing,
///    n_stray_messages, series_folders; run.json from MergeOptions::run_json.
/// Written as one set (core/atomic_file.h StagedOutputs): into OUT/.partial/, then moved into
/// OUT with stream_summary.json last. OUT must be new, empty or an earlier merge's output (its
/// old set is replaced).
///
/// Refused, naming the file (FormatError/IoError), before anything is written: an input that is
/// not a finished stream output folder (no stream_summary.json, a `.partial/` set, a series
/// folder still open — results.jsonl.partial — or not listed in stream_summary.json, a merge
/// output), a damaged or inconsistent summary.json or results.jsonl (row and line named), a
/// frame (series, frame number) present twice (both files and lines named: a series id the
/// detector used twice, or the same worker folder given twice), workers whose models differ
/// (summary.json model_info, else the model path), or series whose headers disagree on the
/// image count. Not thread-safe; one merge per OUT at a time (OUT is locked).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace difftriage::stream {

/// Options of merge_stream_runs.
struct MergeOptions {
  /// The workers' stream output folders, in the order their rows get `worker` 0, 1, ...
  std::vector<std::filesystem::path> inputs;
  /// The merged output folder.
  std::filesystem::path out;
  /// Write each merged series' report.html.
  bool write_reports = true;
  /// Written as OUT/run.json (part of the set) when not empty.
  std::string run_json;
};

/// What a merge wrote. Plain value type.
struct MergeSummary {
  int64_t n_series = 0;
  int64_t n_frames = 0;  ///< rows, all series (= n_kept + n_veto)
  int64_t n_kept = 0;
  int64_t n_veto = 0;
  int64_t n_missing = 0;  ///< frames of 0 .. n_images_expected − 1 no worker received
  /// Per merged series, in series order: its folder, status, counts and missing frames.
  struct Series {
    int64_t series_id = 0;
    std::filesystem::path folder;
    std::string status;
    int64_t n_frames = 0, n_kept = 0, n_veto = 0, n_missing = 0, n_workers = 0;
  };
  std::vector<Series> series;
};

/// Merges (see the top of this header).
/// @throws ConfigError for no input, OUT among the inputs or an input given twice; IoError or
///         FormatError naming the file at fault (see above).
MergeSummary merge_stream_runs(const MergeOptions& options);

}  // namespace difftriage::stream
