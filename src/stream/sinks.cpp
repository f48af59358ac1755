// The `classify` output folder: results.jsonl, hits.lst, summary.json, and the CXI stack of the
// kept frames.
#include "difftriage/stream/sinks.h"

#include <algorithm>
#include <sstream>
#include <system_error>
#include <utility>

#include "difftriage/core/atomic_file.h"
#include "difftriage/core/error.h"
#include "difftriage/core/json_text.h"
#include "difftriage/core/log.h"
#include "difftriage/io/image_io.h"
#include "difftriage/models/model_info.h"
#include "difftriage/stream/run_report.h"
#include "difftriage/version.h"

namespace difftriage::stream {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// "64 x 48 uint16" (fast x slow, as io::CxiStackWriter's messages put it).
std::string describe_shape(int64_t n_fast, int64_t n_slow, PixelType type) {
  std::ostringstream text;
  text << n_fast << " x " << n_slow << " " << pixel_type_name(type);
  return text.str();
}

}  // namespace

HitsCxiWriter::HitsCxiWriter(HitsCxiOptions options) : options_(std::move(options)) {
  DT_CHECK(!options_.path.empty(), ConfigError, "HitsCxiOptions::path is empty");
  // Created now, not at the first kept frame: a bad folder or deflate level fails before the
  // run instead of in the middle of it. The temporary is removed unless finish() renames it.
  stack_.emplace(options_.path, options_.cxi);
}

HitsCxiWriter::~HitsCxiWriter() = default;

bool HitsCxiWriter::add(const FrameResult& result, const TriageDecision& decision) {
  DT_CHECK(!finished_, ConfigError, "cannot add a frame to ", options_.path.string(),
           ": already finished");
  if (!decision.keep()) return false;
  return add_kept(result.address, result.ok());
}

bool HitsCxiWriter::add_kept(const FrameAddress& address, bool readable) {
  DT_CHECK(!finished_, ConfigError, "cannot add a frame to ", options_.path.string(),
           ": already finished");
  if (!readable) {  // kept fail-open, but there are no pixels to write
    ++n_unreadable_;
    return false;
  }
  auto not_written = [&](const std::string& reason) {
    json entry = {{"frame", address.frame}, {"reason", to_utf8_lossy(reason)}};
    set_path(entry, address.path);
    not_written_.push_back(std::move(entry));
    return false;
  };
  // Read again rather than carried through the pipeline: see HitsCxiWriter in sinks.h.
  std::optional<AnyImage> image;
  try {
    io::ReadOptions read;
    read.frame = address.frame;
    image = io::read_image(address.path, read);
  } catch (const Error& e) {  // IoError, FormatError: the input changed since the pipeline read it
    return not_written(std::string("cannot read it again: ") + e.what());
  }
  const auto [n_slow, n_fast] = extents(*image);
  const PixelType type = pixel_type(*image);
  if (n_written_ > 0 && (n_fast != n_fast_ || n_slow != n_slow_ || type != pixel_type_)) {
    return not_written(describe_shape(n_fast, n_slow, type) + " differs from the stack's " +
                       describe_shape(n_fast_, n_slow_, pixel_type_) + " (fast x slow)");
  }
  try {
    stack_->append(*image, {address.path, address.frame});
  } catch (const ConfigError& e) {  // a frame the stack refuses (empty); IoError propagates
    return not_written(e.what());
  }
  if (n_written_ == 0) {
    n_fast_ = n_fast;
    n_slow_ = n_slow;
    pixel_type_ = type;
  }
  ++n_written_;
  return true;
}

json HitsCxiWriter::finish() {
  DT_CHECK(!finished_, ConfigError, "cannot finish ", options_.path.string(), ": already finished");
  finished_ = true;
  const std::string name = options_.path.string();
  if (n_written_ > 0) {
    stack_->finish();
  } else {
    stack_.reset();  // the destructor removes the temporary
    // No stack from this run: leave no file from an earlier one either (see sinks.h).
    std::error_code ec;
    if (fs::is_regular_file(fs::symlink_status(options_.path, ec))) {
      fs::remove(options_.path, ec);
      DT_CHECK(!ec, IoError, "cannot remove the stale ", name, ": ", ec.message());
    }
  }
  stack_.reset();  // closes the finished file
  const auto n_not_written = static_cast<int64_t>(not_written_.size());
  if (n_not_written > 0) {
    std::ostringstream message;
    message << n_not_written << " kept frame(s) not written to " << name
            << " (a shape or pixel type other than the first frame's, or not readable again; "
               "they stay in hits.lst), the first: "
            << not_written_[0]["path"].get<std::string>() << " //"
            << not_written_[0]["frame"].get<int64_t>() << ": "
            << not_written_[0]["reason"].get<std::string>();
    log_message(LogLevel::kWarning, message.str());
  }
  const bool written = n_written_ > 0;
  return {{"path", name},
          {"written", written},
          {"n_written", n_written_},
          {"n_unreadable", n_unreadable_},
          {"n_not_written", n_not_written},
          {"not_written", not_written_},
          {"n_fast", written ? json(n_fast_) : json(nullptr)},
          {"n_slow", written ? json(n_slow_) : json(nullptr)},
          {"pixel_type", written ? json(pixel_type_name(pixel_type_)) : json(nullptr)},
          {"deflate_level", options_.cxi.deflate_level}};
}

json model_summary_json(const models::ModelMetadata& metadata) {
  const json full = models::to_json(metadata);
  json model = json::object();
  for (const char* key : {"format_version", "architecture", "heads", "preprocess", "thresholds",
                          "uncertainty_band", "provenance"}) {
    if (full.contains(key)) model[key] = full[key];
  }
  return model;
}

std::string digest_inputs(const std::vector<FrameAddress>& inputs) {
  std::string bytes;
  for (const auto& a : inputs) {
    bytes += a.path.native();
    bytes += '\0';
    bytes += std::to_string(a.frame);
    bytes += '\n';
  }
  return models::fnv1a64_hex(bytes);
}

namespace {
constexpr const char* kResults = "results.jsonl";
constexpr const char* kHits = "hits.lst";
constexpr const char* kSummary = "summary.json";
constexpr const char* kReport = "report.html";
constexpr const char* kProgress = "progress.json";

StagedOutputsOptions staged_options(const TriageRunInfo& info) {
  StagedOutputsOptions o;
  o.resume = info.resume;
  o.before_step = info.before_publish_step;
  return o;
}
}  // namespace

TriageFolderWriter::TriageFolderWriter(fs::path folder, models::ModelMetadata metadata,
                                       TriageRunInfo info)
    : folder_(std::move(folder)),
      metadata_(std::move(metadata)),
      info_(std::move(info)),
      inputs_digest_(digest_inputs(info_.inputs)),
      staged_(folder_, staged_options(info_)) {
  if (info_.flush_every <= 0) info_.flush_every = std::max<int64_t>(1, info_.options.batch_size);
  // Fail before the run, not after it, when an output cannot be put in place.
  staged_.check_targets(info_.write_report ? std::vector<std::string>{kResults, kHits, kReport, kSummary}
                                            : std::vector<std::string>{kResults, kHits, kSummary});
  const fs::path results = staged_.partial() / kResults;
  if (info_.resume) {
    DT_CHECK(staged_.resumed(), ConfigError, "nothing to resume in ", staged_.partial().string(),
             fs::exists(folder_ / kSummary) ? " (the folder holds a complete run)" : "");
    resume_rows();
  }
  results_ = std::make_unique<std::ofstream>(results, std::ios::binary | std::ios::app);
  DT_CHECK(results_->good(), IoError, "cannot write ", results.string());
  if (!info_.hits_cxi.path.empty()) {
    hits_cxi_ = std::make_unique<HitsCxiWriter>(info_.hits_cxi);
    if (n_done_ > 0) {  // the kept frames of the interrupted run, read again
      std::ifstream in(results, std::ios::binary);
      std::string line;
      while (std::getline(in, line)) {
        const json row = json::parse(line);
        const auto d = decision_from_row(row);
        if (d.keep()) hits_cxi_->add_kept({path_from_json(row), row["frame"]}, !d.unreadable);
      }
    }
  }
  write_file_atomically(staged_.partial() / kProgress, dump_json(progress(), 2) + "\n");
}

TriageFolderWriter::~TriageFolderWriter() = default;

json TriageFolderWriter::progress() const {
  return {{"n_done", n_rows_ - n_pending_},
          {"n_frames", static_cast<int64_t>(info_.inputs.size())},
          {"inputs_digest", inputs_digest_},
          {"options", info_.run_options}};
}

void TriageFolderWriter::resume_rows() {
  const fs::path dir = staged_.partial();
  json saved;
  try {
    saved = json::parse(read_file(dir / kProgress));
  } catch (const json::exception& e) {
    throw FormatError(detail::concat((dir / kProgress).string(), ": damaged (", e.what(), ")"));
  } catch (const IoError& e) {
    throw ConfigError(detail::concat("cannot resume: ", e.what()));
  }
  DT_CHECK(saved.value("inputs_digest", std::string()) == inputs_digest_ &&
               saved.value("n_frames", int64_t{-1}) == static_cast<int64_t>(info_.inputs.size()),
           ConfigError, "cannot resume ", dir.string(),
           ": the inputs differ from the interrupted run's (", saved.value("n_frames", int64_t{-1}),
           " frame(s)); run without --resume to start again");
  DT_CHECK(saved.contains("options") && saved["options"] == info_.run_options, ConfigError,
           "cannot resume ", dir.string(), ": the options differ from the interrupted run's (",
           dump_json(saved.value("options", json())), " vs ", dump_json(info_.run_options),
           "); run without --resume to start again");
  // Complete rows only: a kill during a write can leave a torn last line, dropped here.
  std::string text = read_file(dir / kResults);
  const auto end = text.rfind('\n');
  text.resize(end == std::string::npos ? 0 : end + 1);
  size_t pos = 0;
  int64_t line_no = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    ++line_no;
    json row;
    FrameAddress address;
    try {
      row = json::parse(text.substr(pos, nl - pos));
      address = {path_from_json(row), row.at("frame").get<int64_t>()};
    } catch (const std::exception& e) {
      throw FormatError(detail::concat((dir / kResults).string(), ":", line_no,
                                       ": damaged row (", e.what(), ")"));
    }
    const auto index = static_cast<size_t>(n_rows_);
    DT_CHECK(index < info_.inputs.size() && info_.inputs[index] == address, ConfigError,
             "cannot resume: ", (dir / kResults).string(), ":", line_no,
             " is not the input frame ", line_no, "; run without --resume");
    record(address, decision_from_row(row));
    pos = nl + 1;
  }
  // Rewrite the complete rows (drops a torn last line) before appending.
  write_file_atomically(dir / kResults, text);
  n_done_ = n_rows_;
}

void TriageFolderWriter::record(const FrameAddress& address, const TriageDecision& d) {
  counts_.add(d);
  ++n_rows_;
  if (!d.keep()) return;
  const std::string problem = event_list_problem(address);
  if (problem.empty()) {
    hits_ += to_event_line(address);
    hits_ += '\n';
  } else {
    json entry = {{"frame", address.frame}, {"reason", problem}};
    set_path(entry, address.path);
    not_in_event_list_.push_back(std::move(entry));
  }
}

TriageDecision TriageFolderWriter::add(const FrameResult& result) {
  TriageDecision d = decide_triage(result, metadata_);
  record(result.address, d);
  pending_rows_ += dump_json(result_row(result, d, metadata_));
  pending_rows_ += '\n';
  if (++n_pending_ >= info_.flush_every) flush();
  if (hits_cxi_) hits_cxi_->add(result, d);
  return d;
}

void TriageFolderWriter::add_skipped_inputs(const json& entries) {
  DT_CHECK(entries.is_array(), ConfigError, "add_skipped_inputs: not an array");
  for (const auto& e : entries) info_.skipped_inputs.push_back(e);
}

void TriageFolderWriter::set_summary_extra(const std::string& key, json value) {
  static const char* const kStandard[] = {
      "n_frames", "n_kept", "n_veto", "n_uncertain", "n_unreadable", "n_untriaged", "hit_rate",
      "not_in_event_list", "skipped_inputs", "resumed_frames", "frames_per_s", "elapsed_s",
      "model", "model_info", "settings", "timing", "version", "git_hash", "hits_cxi"};
  for (const char* k : kStandard) {
    DT_CHECK(key != k, ConfigError, "set_summary_extra: \"", key, "\" is a standard key");
  }
  extra_[key] = std::move(value);
}

void TriageFolderWriter::flush() {
  if (n_pending_ == 0) return;
  results_->write(pending_rows_.data(), static_cast<std::streamsize>(pending_rows_.size()));
  results_->flush();  // in the kernel's hands: survives the process being killed
  DT_CHECK(results_->good(), IoError, "cannot write ", (staged_.partial() / kResults).string());
  pending_rows_.clear();
  n_pending_ = 0;
  write_file_atomically(staged_.partial() / kProgress, dump_json(progress(), 2) + "\n");
}

json TriageFolderWriter::finish(const TriageStats& stats,
                                const std::vector<std::pair<std::string, std::string>>& more) {
  flush();
  results_->close();
  DT_CHECK(!info_.inputs.empty() ? n_rows_ == static_cast<int64_t>(info_.inputs.size()) : true,
           FormatError, "the run wrote ", n_rows_, " row(s) for ", info_.inputs.size(),
           " input frame(s)");
  DT_CHECK(counts_.consistent(), FormatError, "the counts break n_frames = n_kept + n_veto");
  const json model = model_summary_json(metadata_);
  const auto& o = info_.options;
  // The stack first: summary.json, written last, then describes a stack already in place.
  const json hits_cxi = hits_cxi_ ? hits_cxi_->finish() : json();
  json summary = counts_.to_json();
  summary.update(json{{"not_in_event_list", not_in_event_list_},
                      {"skipped_inputs", info_.skipped_inputs},
                      {"resumed_frames", n_done_},
                      {"frames_per_s", stats.frames_per_s},
                      {"elapsed_s", stats.elapsed_s},
                      {"model", to_utf8_lossy(info_.model_path)},
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
                      {"git_hash", kGitHash}});
  if (hits_cxi_) summary["hits_cxi"] = hits_cxi;
  for (const auto& [key, value] : extra_.items()) summary[key] = value;
  const fs::path dir = staged_.partial();
  std::vector<std::string> files = {kResults, kHits};
  write_file_atomically(dir / kHits, hits_);
  for (const auto& [name, content] : more) {
    write_file_atomically(dir / name, content);
    files.push_back(name);
  }
  if (info_.write_report) {
    // The report is part of the set (published before summary.json, the completion marker),
    // made from the files just written, as `difftriage report DIR` makes it again.
    json run;
    for (const auto& [name, content] : more) {
      if (name == "run.json") run = json::parse(content, nullptr, false);
    }
    if (run.is_discarded()) run = json();
    write_file_atomically(dir / kReport, render_triage_report(dir / kResults, summary, run,
                                                              TriageReportOptions{}));
    files.push_back(kReport);
  }
  write_file_atomically(dir / kSummary, dump_json(summary, 2) + "\n");
  files.push_back(kSummary);
  staged_.publish(files, kSummary);
  return summary;
}

}  // namespace difftriage::stream
