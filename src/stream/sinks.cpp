// The `classify` output folder: results.jsonl, hits.lst, summary.json.
#include "difftriage/stream/sinks.h"

#include <system_error>

#include "difftriage/core/atomic_file.h"
#include "difftriage/core/error.h"
#include "difftriage/version.h"

namespace difftriage::stream {
namespace fs = std::filesystem;
using nlohmann::json;

double TriageCounts::hit_rate() const noexcept {
  const int64_t n_readable = n_frames - n_errors;
  return n_readable > 0 ? static_cast<double>(n_kept - n_errors) / static_cast<double>(n_readable)
                        : 0.0;
}

TriageFolderWriter::TriageFolderWriter(fs::path folder, models::ModelMetadata metadata,
                                       TriageRunInfo info)
    : folder_(std::move(folder)), metadata_(std::move(metadata)), info_(std::move(info)) {
  std::error_code ec;
  fs::create_directories(folder_, ec);
  DT_CHECK(!ec && fs::is_directory(folder_), IoError, "cannot create output folder ",
           folder_.string(), ec ? ": " + ec.message() : std::string());
}

TriageDecision TriageFolderWriter::add(const FrameResult& result) {
  TriageDecision d = decide_triage(result, metadata_);
  ++counts_.n_frames;
  counts_.n_errors += d.unreadable ? 1 : 0;
  counts_.n_uncertain += d.uncertain ? 1 : 0;
  if (d.keep()) {
    ++counts_.n_kept;
    hits_ += to_event_line(result.address);
    hits_ += '\n';
  } else {
    ++counts_.n_veto;
  }
  results_ += result_row(result, d, metadata_).dump();
  results_ += '\n';
  return d;
}

json TriageFolderWriter::finish(const TriageStats& stats) {
  const json full = models::to_json(metadata_);
  json model = json::object();
  for (const char* key : {"format_version", "architecture", "heads", "preprocess", "thresholds",
                          "uncertainty_band", "provenance"}) {
    if (full.contains(key)) model[key] = full[key];
  }
  const auto& o = info_.options;
  const json summary = {{"n_frames", counts_.n_frames},
                        {"n_kept", counts_.n_kept},
                        {"n_veto", counts_.n_veto},
                        {"n_uncertain", counts_.n_uncertain},
                        {"n_errors", counts_.n_errors},
                        {"hit_rate", counts_.hit_rate()},
                        {"frames_per_s", stats.frames_per_s},
                        {"elapsed_s", stats.elapsed_s},
                        {"model", info_.model_path},
                        {"model_info", model},
                        {"settings",
                         {{"n_decode_threads", o.n_decode_threads},
                          {"n_infer_workers", o.n_infer_workers},
                          {"n_torch_threads", o.n_torch_threads},
                          {"batch_size", o.batch_size},
                          {"queue_capacity", o.queue_capacity}}},
                        {"timing",
                         {{"setup_s", info_.setup_s},
                          {"cpu_s", stats.cpu_s},
                          {"decode_s", stats.decode_s},
                          {"infer_s", stats.infer_s},
                          {"n_batches", stats.n_batches}}},
                        {"version", kVersion},
                        {"git_hash", kGitHash}};
  write_file_atomically(folder_ / "results.jsonl", results_);
  write_file_atomically(folder_ / "hits.lst", hits_);
  write_file_atomically(folder_ / "summary.json", summary.dump(2) + "\n");
  return summary;
}

}  // namespace difftriage::stream
