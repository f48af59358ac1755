// The `classify` output folder: results.jsonl, hits.lst, summary.json, and the CXI stack of the
// kept frames.
#include "difftriage/stream/sinks.h"

#include <sstream>
#include <system_error>
#include <utility>

#include "difftriage/core/atomic_file.h"
#include "difftriage/core/error.h"
#include "difftriage/core/log.h"
#include "difftriage/io/image_io.h"
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
  if (!result.ok()) {  // kept fail-open, but there are no pixels to write
    ++n_unreadable_;
    return false;
  }
  const FrameAddress& address = result.address;
  auto not_written = [&](const std::string& reason) {
    not_written_.push_back(
        {{"path", address.path.string()}, {"frame", address.frame}, {"reason", reason}});
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
  if (!info_.hits_cxi.path.empty()) hits_cxi_ = std::make_unique<HitsCxiWriter>(info_.hits_cxi);
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
  if (hits_cxi_) hits_cxi_->add(result, d);
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
  // The stack first: summary.json, written last, then describes a stack already in place.
  const json hits_cxi = hits_cxi_ ? hits_cxi_->finish() : json();
  json summary = {{"n_frames", counts_.n_frames},
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
  if (hits_cxi_) summary["hits_cxi"] = hits_cxi;
  write_file_atomically(folder_ / "results.jsonl", results_);
  write_file_atomically(folder_ / "hits.lst", hits_);
  write_file_atomically(folder_ / "summary.json", summary.dump(2) + "\n");
  return summary;
}

}  // namespace difftriage::stream
