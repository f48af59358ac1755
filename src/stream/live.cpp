// The live DECTRIS stream consumer and the replay sender (see include/difftriage/stream/live.h).
#include "difftriage/stream/live.h"

#include <unistd.h>
#include <zmq.h>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <algorithm>
#include <exception>
#include <fstream>
#include <limits>
#include <type_traits>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "difftriage/core/atomic_file.h"
#include "difftriage/core/error.h"
#include "difftriage/core/log.h"
#include "difftriage/io/image_io.h"
#include "difftriage/io/stack_writer.h"
#include "difftriage/stream/run_report.h"
#include "difftriage/stream/sinks.h"
#include "difftriage/stream/sources.h"
#include "difftriage/stream/triage.h"
#include "difftriage/version.h"

namespace difftriage::stream {
namespace fs = std::filesystem;
using ::difftriage::detail::concat;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

io::MessageParts to_parts(std::vector<zmq::message_t>& messages) {
  io::MessageParts parts;
  parts.reserve(messages.size());
  for (auto& m : messages) {
    const auto* p = static_cast<const uint8_t*>(m.data());
    parts.emplace_back(p, p + m.size());
  }
  return parts;
}

// One received message as the triage thread sees it. An untriaged record (the queue was full)
// keeps the envelope only.
struct Received {
  int64_t index = 0;  // message number, 1-based, for error messages
  io::MessageParts parts;
  std::optional<io::StreamMessage> message;  // nullopt: a stray message
  std::string error;                          // why it is stray
  bool untriaged = false;
};

// The receiver → triage queue: at most `capacity` messages with pixels; untriaged records and
// non-image messages do not count against it.
class MessageQueue {
 public:
  explicit MessageQueue(int64_t capacity) : capacity_(capacity) {}
  // Adds `r`; an image that does not fit becomes an untriaged record (its pixels dropped).
  void push(Received r) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const bool image = r.message && r.message->type == io::StreamMessageType::kImage;
      if (image) {
        if (n_images_ >= capacity_) {
          r.untriaged = true;
          r.parts.clear();
          r.parts.shrink_to_fit();
        } else {
          ++n_images_;
        }
      }
      queue_.push_back(std::move(r));
    }
    changed_.notify_all();
  }
  // The next message, waiting up to `wait`; nullopt when none came.
  std::optional<Received> pop(std::chrono::milliseconds wait) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!changed_.wait_for(lock, wait, [&] { return !queue_.empty(); })) return std::nullopt;
    Received r = std::move(queue_.front());
    queue_.pop_front();
    if (r.message && r.message->type == io::StreamMessageType::kImage && !r.untriaged) --n_images_;
    return r;
  }
  bool empty() {
    std::lock_guard<std::mutex> lock(mutex_);
    return queue_.empty();
  }
  // True when the front is an image of `series` with pixels (batching continues).
  bool front_is_image_of(int64_t series) {
    std::lock_guard<std::mutex> lock(mutex_);
    return !queue_.empty() && queue_.front().message &&
           queue_.front().message->type == io::StreamMessageType::kImage &&
           queue_.front().message->series_id == series && !queue_.front().untriaged;
  }

 private:
  int64_t capacity_;
  int64_t n_images_ = 0;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Received> queue_;
};

// One open series: its folder, its results file and its counts.
class SeriesState {
 public:
  // `stand_in`: decodes the images when `header` is missing (LiveOptions::headerless_geometry).
  SeriesState(const fs::path& out, int64_t series_id, io::StreamProtocol protocol,
              std::optional<io::StreamSeriesHeader> header, bool fan_out,
              std::optional<io::StreamSeriesHeader> stand_in = std::nullopt)
      : series_id_(series_id),
        protocol_(protocol),
        header_(std::move(header)),
        stand_in_(header_ ? std::nullopt : std::move(stand_in)),
        fan_out_(fan_out) {
    folder_ = out / concat("series_", series_id);
    for (int k = 2; fs::exists(folder_); ++k) folder_ = out / concat("series_", series_id, "_", k);
    std::error_code ec;
    fs::create_directories(folder_, ec);
    DT_CHECK(!ec, IoError, "cannot create series folder ", folder_.string(), ": ", ec.message());
    results_.open(folder_ / "results.jsonl.partial", std::ios::binary);
    DT_CHECK(results_.good(), IoError, "cannot write ", (folder_ / "results.jsonl.partial").string());
    opened_ = last_ = Clock::now();
  }

  int64_t series_id() const { return series_id_; }
  const io::StreamSeriesHeader* header() const { return header_ ? &*header_ : nullptr; }
  // What the images are decoded with: the header, else the stand-in, else nothing.
  const io::StreamSeriesHeader* decode_header() const {
    return header_ ? &*header_ : stand_in_ ? &*stand_in_ : nullptr;
  }
  // The series' end message was received (by this consumer).
  void mark_end() { end_received_ = true; }
  const fs::path& folder() const { return folder_; }
  Clock::time_point last_activity() const { return last_; }
  void touch() { last_ = Clock::now(); }
  const TriageCounts& counts() const { return counts_; }

  // Records one frame: `decision` as decided (no_header/untriaged adjustments done here).
  json add(const FrameResult& result, int64_t frame, TriageDecision decision,
           const models::ModelMetadata& metadata, bool untriaged) {
    if (!header_) {
      // A lone consumer that missed the header keeps the frame (it connected late: the
      // header's mask was not applied). A fan-out worker is expected to miss most headers:
      // its veto stands (see LiveOptions::fan_out for why that is safe).
      if (!fan_out_) decision.veto = false;
      decision.flags.push_back("no_header");
      ++n_no_header_;
    }
    if (untriaged) {
      decision.veto = false;
      decision.unreadable = false;
      decision.uncertain = false;
      decision.untriaged = true;
      decision.flags = {"untriaged"};
      if (!header_) decision.flags.push_back("no_header");
    }
    counts_.add(decision);  // the one accounting identity (TriageCounts)
    json row = result_row(result, decision, metadata);
    row["path"] = nullptr;
    row["frame"] = frame;
    row["series"] = series_id_;
    results_ << row.dump() << '\n';
    if (report_) report_->add(row);
    results_.flush();  // a reader of the .partial file sees every frame triaged so far
    DT_CHECK(results_.good(), IoError, "cannot write ",
             (folder_ / "results.jsonl.partial").string());
    touch();
    return row;
  }

  // True when the series' report still wants an example of this decision.
  // The series' report, built as its rows are written (closing it reads nothing again).
  void start_report() { report_ = std::make_unique<TriageReportBuilder>(); }
  bool wants_example(DecisionKind kind, int n_examples) const {
    if (!report_) return false;
    const auto& e = report_->options().examples;
    const auto it = e.find(kind);
    return it == e.end() || static_cast<int>(it->second.size()) < n_examples;
  }
  void add_example(DecisionKind kind, ReportExample example) {
    if (report_) report_->options().examples[kind].push_back(std::move(example));
  }

  // A kept image that was (or could not be) forwarded.
  void count_forward(bool sent) { (sent ? n_forwarded_ : n_not_forwarded_) += 1; }

  // --write-kept: a kept image into kept.nxs, its bitshuffle-LZ4 chunk as received when it is
  // one, else decoded and re-framed. `parts` empty: its pixels were not held (untriaged).
  void write_kept(const io::MessageParts& parts, int64_t frame, const std::string& name) {
    try {
      if (parts.empty()) throw IoError("kept untriaged: its pixels were not held");
      if (!kept_) {
        io::StackWriteOptions o;
        o.layout = io::StackLayout::kNxmx;
        if (const io::StreamSeriesHeader* h = decode_header()) {
          o.metadata = h->metadata;
          o.pixel_mask = h->mask;
        }
        kept_ = std::make_unique<io::FrameStackWriter>(folder_ / "kept.nxs", o);
      }
      const io::FrameSource source{concat("series ", series_id_), frame};
      if (auto chunk = io::find_bslz4_chunk(parts, name)) {
        kept_->append_bslz4(chunk->bytes.data(), chunk->bytes.size(), chunk->type, chunk->n_slow,
                            chunk->n_fast, source);
      } else {
        kept_->append(io::decode_stream_image(parts, nullptr, name), source);
      }
      ++n_kept_written_;
    } catch (const Error& e) {
      ++n_kept_not_written_;
      if (kept_errors_.size() < 20) kept_errors_.push_back(concat(name, ": ", e.what()));
      log_message(LogLevel::kWarning, concat("kept image not written to kept.nxs: ", name, ": ",
                                             e.what()));
    }
  }

  void add_stats(const TriageStats& s) {
    decode_s_ += s.decode_s;
    infer_s_ += s.infer_s;
    cpu_s_ += s.cpu_s;
    n_batches_ += s.n_batches;
  }

  // Renames results.jsonl into place and writes summary.json (last).
  json close(const std::string& status, const std::string& closed_by, const LiveOptions& options,
             const models::ModelMetadata& metadata) {
    results_.close();
    std::error_code ec;
    fs::rename(folder_ / "results.jsonl.partial", folder_ / "results.jsonl", ec);
    DT_CHECK(!ec, IoError, "cannot rename ", (folder_ / "results.jsonl.partial").string(), ": ",
             ec.message());
    json kept_file = nullptr;
    if (kept_) {
      try {
        kept_->finish();
        kept_file = "kept.nxs";
      } catch (const Error& e) {  // nothing was written after all
        n_kept_not_written_ += n_kept_written_;
        n_kept_written_ = 0;
        kept_errors_.push_back(e.what());
        log_message(LogLevel::kError, e.what());
      }
      kept_.reset();
    }
    const double elapsed_s = seconds_between(opened_, Clock::now());
    const auto& o = options.triage;
    json summary = {
        {"series", series_id_},
        {"protocol", io::stream_protocol_name(protocol_)},
        {"status", status},
        {"header_received", header_.has_value()},
        {"end_received", end_received_},
        {"closed_by", closed_by},
        {"fan_out", fan_out_},
        {"n_images_expected", header_ && header_->n_images ? json(*header_->n_images) : json()},
        {"n_no_header", n_no_header_},
        {"forward", options.forward_endpoint.empty() ? json(nullptr) : json(options.forward_endpoint)},
        {"n_forwarded", n_forwarded_},
        {"n_not_forwarded", n_not_forwarded_},
        {"kept_file", kept_file},
        {"n_kept_written", n_kept_written_},
        {"n_kept_not_written", n_kept_not_written_},
        {"kept_errors", kept_errors_},
        {"frames_per_s", elapsed_s > 0 ? static_cast<double>(counts_.n_frames) / elapsed_s : 0.0},
        {"elapsed_s", elapsed_s},
        {"model", options.model_path},
        {"model_info", model_summary_json(metadata)},
        {"endpoint", options.endpoint},
        {"settings",
         {{"n_decode_threads", o.n_decode_threads},
          {"n_infer_workers", o.n_infer_workers},
          {"n_torch_threads", o.n_torch_threads},
          {"batch_size", o.batch_size},
          {"queue_capacity", options.queue_capacity},
          {"series_timeout_s", options.series_timeout_s}}},
        {"timing",
         {{"cpu_s", cpu_s_}, {"decode_s", decode_s_}, {"infer_s", infer_s_}, {"n_batches", n_batches_}}},
        {"version", kVersion},
        {"git_hash", kGitHash}};
    summary.update(counts_.to_json());  // n_frames, n_kept, n_veto, n_uncertain, n_unreadable,
                                        // n_untriaged, hit_rate
    if (report_) {
      // Before summary.json, which marks the folder complete.
      report_->options().preprocess = metadata.preprocess;
      // The command is the stream folder's run.json (written before the first series).
      json run;
      try {
        run = json::parse(read_file(folder_.parent_path() / "run.json"));
      } catch (const std::exception&) {
        run = json();
      }
      write_file_atomically(folder_ / "report.html", report_->render(summary, run));
    }
    write_file_atomically(folder_ / "summary.json", summary.dump(2) + "\n");
    return summary;
  }

 private:
  int64_t series_id_;
  io::StreamProtocol protocol_;
  std::optional<io::StreamSeriesHeader> header_, stand_in_;
  bool fan_out_ = false, end_received_ = false;
  fs::path folder_;
  std::ofstream results_;
  Clock::time_point opened_, last_;
  TriageCounts counts_;
  int64_t n_no_header_ = 0, n_batches_ = 0;
  int64_t n_forwarded_ = 0, n_not_forwarded_ = 0;
  double decode_s_ = 0, infer_s_ = 0, cpu_s_ = 0;
  std::unique_ptr<io::FrameStackWriter> kept_;
  int64_t n_kept_written_ = 0, n_kept_not_written_ = 0;
  std::vector<std::string> kept_errors_;  // the first few reasons a kept image was not written
  std::unique_ptr<TriageReportBuilder> report_;  // null: no report.html
};

void set_int_option(zmq::socket_t& socket, int option, int value) {
  zmq_setsockopt(socket.handle(), option, &value, sizeof value);
}

// The PUSH socket of --forward. A send waits at most `timeout_s` for the downstream; after a
// send that failed, later ones do not wait until one succeeds again (a stalled downstream costs
// the triage one timeout, not one per frame). Used by the triage thread only.
class Forwarder {
 public:
  Forwarder(zmq::context_t& context, const std::string& endpoint, double timeout_s, int hwm)
      : socket_(context, zmq::socket_type::push),
        timeout_ms_(static_cast<int>(std::min(timeout_s * 1e3, 2e9))) {
    set_int_option(socket_, ZMQ_SNDHWM, hwm);
    set_int_option(socket_, ZMQ_LINGER, timeout_ms_);
    try {
      socket_.bind(endpoint);
    } catch (const zmq::error_t& e) {
      throw ConfigError(concat("cannot bind the forward endpoint ", endpoint, ": ", e.what()));
    }
  }
  // True when the whole message was queued for the downstream.
  bool send(const io::MessageParts& parts) {
    set_int_option(socket_, ZMQ_SNDTIMEO, stalled_ ? 0 : timeout_ms_);
    for (size_t i = 0; i < parts.size(); ++i) {
      const auto flags = i + 1 < parts.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
      if (!socket_.send(zmq::buffer(parts[i]), flags)) {
        // Only the first part can fail: ZeroMQ queues a multipart message whole.
        stalled_ = true;
        return false;
      }
    }
    stalled_ = false;
    return true;
  }

 private:
  zmq::socket_t socket_;
  int timeout_ms_;
  bool stalled_ = false;
};

// The image message as received with the triage result `row` attached: V1 one more part,
// {"htype": "difftriage-1.0", "result": row} (after the appendix when there is one); V2 the
// image map's "user_data": {"difftriage": row} (CBOR), when the message has no user_data yet —
// otherwise it goes out unchanged. The pixel blob is never touched.
io::MessageParts attach_result(const io::MessageParts& parts, const json& row) {
  io::MessageParts out = parts;
  const bool v2 = parts.size() == 1 && parts[0].size() > 4 && parts[0][0] == 0xD9 &&
                  parts[0][1] == 0xD9 && parts[0][2] == 0xF7 && (parts[0][3] >> 5) == 5;
  if (!v2) {
    const std::string text = json{{"htype", "difftriage-1.0"}, {"result", row}}.dump();
    out.emplace_back(text.begin(), text.end());
    return out;
  }
  const std::vector<uint8_t>& m = parts[0];
  static const std::string kKey = "user_data";
  if (std::search(m.begin(), m.end(), kKey.begin(), kKey.end()) != m.end()) return out;
  // Map head at byte 3: its count, and where the entries start.
  const int info = m[3] & 31;
  uint64_t n = 0;
  size_t entries = 4;
  if (info < 24) {
    n = static_cast<uint64_t>(info);
  } else if (info <= 27) {
    const size_t len = size_t{1} << (info - 24);
    if (m.size() < 4 + len) return out;
    for (size_t i = 0; i < len; ++i) n = (n << 8) | m[4 + i];
    entries = 4 + len;
  } else {
    return out;  // indefinite map: left as received
  }
  std::vector<uint8_t> v{0xD9, 0xD9, 0xF7};
  auto head = [&](int major, uint64_t value) {
    const auto mt = static_cast<uint8_t>(major << 5);
    if (value < 24) {
      v.push_back(static_cast<uint8_t>(mt | value));
      return;
    }
    int len = value <= 0xFF ? 1 : value <= 0xFFFF ? 2 : value <= 0xFFFFFFFFULL ? 4 : 8;
    v.push_back(static_cast<uint8_t>(mt | (len == 1 ? 24 : len == 2 ? 25 : len == 4 ? 26 : 27)));
    for (int i = len - 1; i >= 0; --i) v.push_back(static_cast<uint8_t>(value >> (8 * i)));
  };
  head(5, n + 1);
  v.insert(v.end(), m.begin() + static_cast<std::ptrdiff_t>(entries), m.end());
  head(3, kKey.size());
  v.insert(v.end(), kKey.begin(), kKey.end());
  const std::vector<uint8_t> value = json::to_cbor(json{{"difftriage", row}});
  v.insert(v.end(), value.begin(), value.end());
  out[0] = std::move(v);
  return out;
}

}  // namespace

LiveSummary run_live_triage(const LiveOptions& options,
                            std::shared_ptr<const models::Classifier> classifier) {
  DT_CHECK(classifier != nullptr, ConfigError, "run_live_triage: no classifier");
  DT_CHECK(!options.endpoint.empty(), ConfigError, "LiveOptions::endpoint is empty");
  DT_CHECK(options.series_timeout_s > 0 && std::isfinite(options.series_timeout_s), ConfigError,
           "LiveOptions::series_timeout_s must be > 0, got ", options.series_timeout_s);
  DT_CHECK(options.queue_capacity >= 1, ConfigError,
           "LiveOptions::queue_capacity must be >= 1, got ", options.queue_capacity);
  DT_CHECK(options.max_series >= 0, ConfigError, "LiveOptions::max_series must be >= 0, got ",
           options.max_series);
  DT_CHECK(options.forward_timeout_s > 0 && std::isfinite(options.forward_timeout_s), ConfigError,
           "LiveOptions::forward_timeout_s must be > 0, got ", options.forward_timeout_s);
  validate(options.triage);
  std::error_code ec;
  fs::create_directories(options.out, ec);
  DT_CHECK(!ec && fs::is_directory(options.out), IoError, "cannot create output folder ",
           options.out.string(), ec ? ": " + ec.message() : std::string());
  const models::ModelMetadata& metadata = classifier->metadata();

  zmq::context_t context(1);
  zmq::socket_t socket(context, zmq::socket_type::pull);
  set_int_option(socket, ZMQ_RCVHWM, static_cast<int>(std::min<int64_t>(options.queue_capacity, 1 << 20)));
  set_int_option(socket, ZMQ_LINGER, 0);
  try {
    socket.connect(options.endpoint);
  } catch (const zmq::error_t& e) {
    throw ConfigError(concat("cannot connect to ", options.endpoint, ": ", e.what()));
  }

  std::optional<Forwarder> forwarder;
  if (!options.forward_endpoint.empty()) {
    forwarder.emplace(context, options.forward_endpoint, options.forward_timeout_s,
                      static_cast<int>(std::min<int64_t>(options.queue_capacity, 1 << 20)));
  }
  MessageQueue queue(options.queue_capacity);
  std::atomic<bool> stop_receiving{false};
  std::exception_ptr receiver_failure;
  int64_t n_messages = 0;
  std::thread receiver([&] {
    try {
      while (!stop_receiving.load()) {
        zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
        if (zmq::poll(&item, 1, std::chrono::milliseconds(100)) == 0) continue;
        std::vector<zmq::message_t> messages;
        if (!zmq::recv_multipart(socket, std::back_inserter(messages), zmq::recv_flags::dontwait)) {
          continue;
        }
        Received r;
        r.index = ++n_messages;
        r.parts = to_parts(messages);
        try {
          r.message = io::parse_stream_message(r.parts, concat("message ", r.index));
        } catch (const Error& e) {
          r.error = e.what();
        }
        if (options.monitor && r.message && r.message->type == io::StreamMessageType::kImage) {
          options.monitor->count_in();
        }
        queue.push(std::move(r));
      }
    } catch (...) {
      receiver_failure = std::current_exception();
    }
  });
  struct Joiner {
    std::atomic<bool>& stop;
    std::thread& t;
    ~Joiner() {
      stop = true;
      if (t.joinable()) t.join();
    }
  } joiner{stop_receiving, receiver};

  LiveSummary summary;
  json stray_errors = json::array();
  int64_t n_control_not_forwarded = 0;  // headers and ends the downstream did not take
  std::map<int64_t, std::unique_ptr<SeriesState>> open;
  int64_t n_closed = 0;
  auto close_series = [&](std::map<int64_t, std::unique_ptr<SeriesState>>::iterator it,
                          const std::string& status, const std::string& closed_by) {
    SeriesState& s = *it->second;
    s.close(status, closed_by, options, metadata);
    if (options.monitor) options.monitor->end_series(status);
    summary.series_folders.push_back(s.folder());
    summary.n_frames += s.counts().n_frames;
    summary.n_kept += s.counts().n_kept;
    summary.n_veto += s.counts().n_veto;
    ++summary.n_series;
    if (status != "interrupted") ++n_closed;
    log_message(LogLevel::kInfo, concat("series ", s.series_id(), " ", status,
                                        closed_by == "end_message" ? "" : " (" + closed_by + ")",
                                        ": ",
                                        s.counts().n_frames, " frame(s), ", s.counts().n_kept,
                                        " kept, ", s.counts().n_veto, " vetoed -> ",
                                        s.folder().string()));
    open.erase(it);
  };
  // The stand-in header of a series whose header this consumer did not receive: the geometry of
  // LiveOptions::headerless_geometry, so that its images are preprocessed around the same beam
  // centre as the consumer's that has the header, and have geometry for the spot evidence.
  auto stand_in = [&](const io::StreamMessage& m) -> std::optional<io::StreamSeriesHeader> {
    if (!options.headerless_geometry) return std::nullopt;
    const DetectorGeometry& g = *options.headerless_geometry;
    io::StreamSeriesHeader h;
    h.series_id = m.series_id;
    DetectorMetadata& md = h.metadata;
    auto set = [](std::optional<double>& field, double value) {
      if (std::isfinite(value) && value > 0) field = value;
    };
    set(md.wavelength_angstrom, g.wavelength_angstrom);
    set(md.distance_mm, g.distance_mm);
    set(md.pixel_size_mm, g.pixel_size_mm);
    md.beam_center_fast_px = g.beam_center_fast_px;
    md.beam_center_slow_px = g.beam_center_slow_px;
    md.detector = "stand-in header (--geometry)";
    return h;
  };
  auto series_for = [&](const io::StreamMessage& m) -> SeriesState& {
    auto it = open.find(m.series_id);
    if (it == open.end()) {
      it = open.emplace(m.series_id,
                        std::make_unique<SeriesState>(options.out, m.series_id, m.protocol,
                                                      std::nullopt, options.fan_out, stand_in(m)))
               .first;
      if (options.write_reports) it->second->start_report();
      if (options.monitor) options.monitor->begin_series(std::to_string(m.series_id));
    }
    return *it->second;
  };

  // Thumbnails of a triaged frame for its series' report (a few per decision) and for the
  // monitor's latest kept frame (about once a second): the message is decoded again, only then.
  constexpr int kExamplesPerDecision = 8;
  auto capture_examples = [&](SeriesState& s, const Received& r, const FrameResult& result,
                              const json& row) {
    if (!result.ok()) return;
    const DecisionKind kind = decision_kind(decision_from_row(row));
    const bool for_report = s.wants_example(kind, kExamplesPerDecision);
    const bool for_monitor =
        options.monitor && row["decision"] == "keep" && options.monitor->wants_thumbnail();
    if (!for_report && !for_monitor) return;
    try {
      const auto png = make_thumbnail_png(
          io::decode_stream_image(r.parts, s.decode_header(), concat("message ", r.index)),
          metadata.preprocess);
      if (for_report) {
        const auto p = row.find("p");
        const double p_blank = p != row.end() && p->is_object() && p->contains("blank") &&
                                       (*p)["blank"].is_number()
                                   ? (*p)["blank"].get<double>()
                                   : std::numeric_limits<double>::quiet_NaN();
        std::string caption = concat("series ", s.series_id(), " frame ", r.message->frame);
        if (std::isfinite(p_blank)) caption += concat(", p(blank) ", std::round(p_blank * 100) / 100);
        s.add_example(kind, {png, caption});
      }
      if (for_monitor) {
        options.monitor->set_last_kept(png, {{"series", s.series_id()}, {"frame", r.message->frame}});
      }
    } catch (const Error& e) {
      log_message(LogLevel::kWarning, concat("no thumbnail for series ", s.series_id(), " frame ",
                                             r.message->frame, ": ", e.what()));
    }
  };

  // Triages a batch of image messages of one series (all with pixels) in arrival order.
  auto triage_batch = [&](SeriesState& s, std::vector<Received>& batch) {
    if (batch.empty()) return;
    std::vector<FrameAddress> addresses;
    addresses.reserve(batch.size());
    for (const Received& r : batch) {
      addresses.push_back(
          {fs::path(concat("series ", s.series_id(), " frame ", r.message->frame)), 0});
    }
    const io::StreamSeriesHeader* header = s.decode_header();
    const FrameLoader load = [&](int64_t k) {
      const Received& r = batch[static_cast<size_t>(k)];
      return io::decode_stream_image(r.parts, header,
                                     concat("message ", r.index, " (series ", s.series_id(),
                                            " frame ", r.message->frame, ")"));
    };
    const TriageStats stats = run_triage(
        addresses, load, classifier, options.triage, [&](const FrameResult& result) {
          const Received& r = batch[static_cast<size_t>(result.index)];
          const json row =
              s.add(result, r.message->frame, decide_triage(result, metadata), metadata, false);
          if (options.monitor) options.monitor->add(row);
          capture_examples(s, r, result, row);
          if (forwarder && row["decision"] == "keep") {
            s.count_forward(forwarder->send(attach_result(r.parts, row)));
          }
          if (options.write_kept && row["decision"] == "keep") {
            s.write_kept(r.parts, r.message->frame,
                         concat("message ", r.index, " (series ", s.series_id(), " frame ",
                                r.message->frame, ")"));
          }
        });
    s.add_stats(stats);
    batch.clear();
  };

  auto handle = [&](Received r) {
    if (!r.message) {
      ++summary.n_stray_messages;
      if (stray_errors.size() < 20) stray_errors.push_back(r.error);
      log_message(LogLevel::kWarning, concat("skipped a stray message: ", r.error));
      return;
    }
    const io::StreamMessage& m = *r.message;
    if (options.fan_out) {
      // A detector sends its series one after another, and each consumer receives its share in
      // the order sent: a message of another series means this consumer's part of every open
      // series is over (their end message, if any, went to another consumer).
      for (auto it = open.begin(); it != open.end();) {
        auto next = std::next(it);
        if (it->first != m.series_id) close_series(it, "incomplete", "next_series");
        it = next;
      }
    }
    switch (m.type) {
      case io::StreamMessageType::kSeriesStart: {
        if (auto it = open.find(m.series_id); it != open.end()) {
          close_series(it, "incomplete", "header_again");
        }
        if (forwarder && !forwarder->send(r.parts)) ++n_control_not_forwarded;
        auto opened = open.emplace(
            m.series_id, std::make_unique<SeriesState>(options.out, m.series_id, m.protocol,
                                                       m.header, options.fan_out));
        if (options.write_reports) opened.first->second->start_report();
        if (options.monitor) options.monitor->begin_series(std::to_string(m.series_id));
        break;
      }
      case io::StreamMessageType::kSeriesEnd: {
        auto it = open.find(m.series_id);
        if (it == open.end()) {  // an end without header or images: an empty series
          series_for(m);
          it = open.find(m.series_id);
        }
        it->second->mark_end();
        close_series(it, "complete", "end_message");
        if (forwarder && !forwarder->send(r.parts)) ++n_control_not_forwarded;
        break;
      }
      case io::StreamMessageType::kImage: {
        SeriesState& s = series_for(m);
        if (r.untriaged) {
          FrameResult result;
          result.address = {fs::path(concat("series ", m.series_id, " frame ", m.frame)), 0};
          const json row = s.add(result, m.frame, TriageDecision{}, metadata, true);
          if (options.monitor) options.monitor->add(row);
          if (forwarder) s.count_forward(false);  // its pixels were not held: cannot be sent
          if (options.write_kept) {
            s.write_kept({}, m.frame, concat("message ", r.index, " (series ", m.series_id,
                                              " frame ", m.frame, ")"));
          }
          break;
        }
        std::vector<Received> batch;
        batch.push_back(std::move(r));
        // Batch the images of this series already waiting (never waits for more).
        while (static_cast<int64_t>(batch.size()) < options.triage.batch_size &&
               queue.front_is_image_of(m.series_id)) {
          auto next = queue.pop(std::chrono::milliseconds(0));
          if (!next) break;
          batch.push_back(std::move(*next));
        }
        triage_batch(s, batch);
        break;
      }
    }
  };

  bool stopping = false;
  while (true) {
    if (receiver_failure) std::rethrow_exception(receiver_failure);
    if (!stopping && ((options.stop_requested && options.stop_requested()) ||
                      (options.max_series > 0 && n_closed >= options.max_series))) {
      stopping = true;
      stop_receiving = true;
      if (receiver.joinable()) receiver.join();
    }
    auto r = queue.pop(std::chrono::milliseconds(100));
    if (r) {
      handle(std::move(*r));
    } else if (stopping) {
      break;  // drained
    }
    const auto now = Clock::now();
    for (auto it = open.begin(); it != open.end();) {
      auto next = std::next(it);
      if (seconds_between(it->second->last_activity(), now) >= options.series_timeout_s) {
        close_series(it, "incomplete", "timeout");
      }
      it = next;
    }
  }
  while (!open.empty()) close_series(open.begin(), "interrupted", "stop");
  summary.n_messages = n_messages;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  json top = {{"endpoint", options.endpoint},
              {"fan_out", options.fan_out},
              {"host", std::string(host)},
              {"pid", static_cast<int64_t>(getpid())},
              {"n_messages", summary.n_messages},
              {"n_stray_messages", summary.n_stray_messages},
              {"forward", options.forward_endpoint.empty() ? json(nullptr)
                                                           : json(options.forward_endpoint)},
              {"n_control_not_forwarded", n_control_not_forwarded},
              {"stray_errors", stray_errors},
              {"n_series", summary.n_series},
              {"n_frames", summary.n_frames},
              {"n_kept", summary.n_kept},
              {"n_veto", summary.n_veto},
              {"series_folders", json::array()},
              {"version", kVersion},
              {"git_hash", kGitHash}};
  for (const auto& f : summary.series_folders) top["series_folders"].push_back(f.filename().string());
  write_file_atomically(options.out / "stream_summary.json", top.dump(2) + "\n");
  return summary;
}

// ---- replay --------------------------------------------------------------------------------------

namespace {

// Counts the peers that completed the ZeroMQ handshake with a socket. Created before the socket
// binds, so that no handshake happens before the monitor listens (a consumer that is already
// retrying its connect completes one within milliseconds of the bind).
class HandshakeCounter {
 public:
  HandshakeCounter(zmq::context_t& context, zmq::socket_t& socket) : socket_(socket) {
    const std::string endpoint = concat("inproc://difftriage-replay-monitor-", &socket);
    DT_CHECK(zmq_socket_monitor(socket.handle(), endpoint.c_str(),
                                ZMQ_EVENT_HANDSHAKE_SUCCEEDED) == 0,
             Error, "cannot monitor the replay socket: ", zmq_strerror(zmq_errno()));
    monitor_ = zmq::socket_t(context, zmq::socket_type::pair);
    monitor_.connect(endpoint);
  }
  ~HandshakeCounter() { zmq_socket_monitor(socket_.handle(), nullptr, 0); }

  // Waits until `n` peers have connected; Error after `timeout_s`.
  void wait(int n, double timeout_s, const std::string& endpoint) {
    const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
    while (connected_ < n) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      DT_CHECK(left.count() > 0, Error, "replay: ", connected_, " of ", n,
               " consumer(s) connected to ", endpoint, " within ", timeout_s, " s");
      zmq::pollitem_t item{monitor_.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, std::min(left, std::chrono::milliseconds(100))) == 0) continue;
      std::vector<zmq::message_t> event;
      if (zmq::recv_multipart(monitor_, std::back_inserter(event), zmq::recv_flags::dontwait)) {
        ++connected_;
      }
    }
  }

 private:
  zmq::socket_t& socket_;
  zmq::socket_t monitor_;
  int connected_ = 0;
};

// The frame as the DECTRIS protocol can carry it: the only per-pixel mask of a stream is the
// all-ones value of unsigned pixels (2^bits - 1), which a consumer masks. So masked pixels are
// sent as that marker, and a frame whose unmasked pixels use the marker value as a real count
// (an 8-bit PGM at 255) is widened to the next type, where it is no marker: the consumer then
// decodes the file's counts and mask.
AnyImage to_stream_pixels(AnyImage image) {
  auto widen = [](const auto& from, auto to) {
    using To = typename decltype(to)::value_type;
    To marker = std::is_same_v<To, int32_t> ? To(-1) : std::numeric_limits<To>::max();
    decltype(to) out(from.n_slow(), from.n_fast());
    for (int64_t i = 0; i < from.size(); ++i) {
      const bool masked = from.has_mask() && from.mask()[static_cast<size_t>(i)] != 0;
      out.data()[i] = masked ? marker : static_cast<To>(from.data()[i]);
    }
    out.metadata() = from.metadata();
    return AnyImage(std::move(out));
  };
  return std::visit(
      [&](auto& img) -> AnyImage {
        using T = typename std::decay_t<decltype(img)>::value_type;
        if constexpr (std::is_same_v<T, float>) {
          return std::move(img);
        } else {
          const T marker = std::is_same_v<T, int32_t> ? T(-1) : std::numeric_limits<T>::max();
          bool collides = false;
          for (int64_t i = 0; i < img.size() && !collides; ++i) {
            const bool masked = img.has_mask() && img.mask()[static_cast<size_t>(i)] != 0;
            collides = !masked && (std::is_same_v<T, int32_t> ? img.data()[i] < 0
                                                               : img.data()[i] == marker);
          }
          if constexpr (std::is_same_v<T, uint8_t>) {
            if (collides) return widen(img, Image<uint16_t>());
          } else if constexpr (std::is_same_v<T, uint16_t>) {
            if (collides) return widen(img, Image<int32_t>());
          }
          if (img.has_mask()) {
            for (int64_t i = 0; i < img.size(); ++i) {
              if (img.mask()[static_cast<size_t>(i)] != 0) img.data()[i] = marker;
            }
          }
          return std::move(img);
        }
      },
      image);
}

bool is_dump(const std::string& input) {
  const std::string ext = fs::path(input).extension().string();
  return ext == ".msgpack" && fs::is_regular_file(input);
}

}  // namespace

ReplaySummary replay_series(const std::vector<std::string>& inputs, const ReplayOptions& options) {
  DT_CHECK(!inputs.empty(), ConfigError, "replay: no input");
  DT_CHECK(!options.endpoint.empty(), ConfigError, "ReplayOptions::endpoint is empty");
  DT_CHECK(options.rate_hz >= 0 && std::isfinite(options.rate_hz), ConfigError,
           "ReplayOptions::rate_hz must be >= 0, got ", options.rate_hz);
  DT_CHECK(options.timeout_s > 0, ConfigError, "ReplayOptions::timeout_s must be > 0, got ",
           options.timeout_s);
  DT_CHECK(options.series_id >= 0, ConfigError, "ReplayOptions::series_id must be >= 0, got ",
           options.series_id);
  // Everything is checked and read before the socket binds: a bad input fails at once.
  std::vector<io::MessageParts> dumps;
  std::vector<std::string> frame_inputs;
  for (const auto& input : inputs) {
    if (is_dump(input)) {
      dumps.push_back(io::read_message_dump(input));
      io::parse_stream_message(dumps.back(), input);  // a FormatError naming the dump if not one
    } else {
      frame_inputs.push_back(input);
    }
  }
  const std::vector<FrameAddress> frames =
      frame_inputs.empty() ? std::vector<FrameAddress>{} : expand_inputs(frame_inputs);

  zmq::context_t context(1);
  zmq::socket_t socket(context, zmq::socket_type::push);
  set_int_option(socket, ZMQ_LINGER, static_cast<int>(std::min(options.timeout_s * 1e3, 2e9)));
  std::optional<HandshakeCounter> handshakes;
  if (options.min_consumers > 0) handshakes.emplace(context, socket);
  try {
    socket.bind(options.endpoint);
  } catch (const zmq::error_t& e) {
    throw ConfigError(concat("replay: cannot bind ", options.endpoint, ": ", e.what()));
  }
  if (handshakes) handshakes->wait(options.min_consumers, options.timeout_s, options.endpoint);
  ReplaySummary summary;
  const auto t0 = Clock::now();
  auto send = [&](const io::MessageParts& parts, bool image) {
    if (image && options.rate_hz > 0) {
      std::this_thread::sleep_until(t0 + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(
                                                 static_cast<double>(summary.n_images) / options.rate_hz)));
    }
    for (size_t i = 0; i < parts.size(); ++i) {
      socket.send(zmq::buffer(parts[i]),
                  i + 1 < parts.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
    ++summary.n_messages;
    summary.n_images += image ? 1 : 0;
  };

  // Recorded dumps, as recorded; an end for every series opened that the dumps do not end.
  std::map<int64_t, io::StreamProtocol> unended;
  for (const auto& parts : dumps) {
    const io::StreamMessage m = io::parse_stream_message(parts, "dump");
    if (m.type == io::StreamMessageType::kSeriesEnd) {
      unended.erase(m.series_id);
    } else {
      unended[m.series_id] = m.protocol;
    }
    send(parts, m.type == io::StreamMessageType::kImage);
  }
  if (options.send_end) {
    for (const auto& [series, protocol] : unended) send(io::encode_stream_end(protocol, series), false);
  }

  if (!frames.empty()) {
    bool started = false;
    int64_t image_id = 0;
    for (const FrameAddress& address : frames) {
      AnyImage image;
      try {
        io::ReadOptions read;
        read.frame = address.frame;
        image = to_stream_pixels(io::read_image(address.path, read));
      } catch (const Error& e) {
        ++summary.n_unreadable;
        summary.unreadable.push_back(
            {{"path", address.path.string()}, {"frame", address.frame}, {"error", e.what()}});
        continue;
      }
      if (!started) {
        io::StreamSeriesHeader header;
        header.series_id = options.series_id;
        header.metadata = metadata(image);
        const auto [n_slow, n_fast] = extents(image);
        send(io::encode_stream_start(options.protocol, header, n_fast, n_slow,
                                     static_cast<int64_t>(frames.size())),
             false);
        started = true;
      }
      send(io::encode_stream_image(options.protocol, options.series_id, image_id++, image,
                                   options.encoding),
           true);
    }
    if (started && options.send_end) {
      send(io::encode_stream_end(options.protocol, options.series_id), false);
    }
  }
  return summary;  // the socket's linger (timeout_s) lets queued messages go out on close
}

}  // namespace difftriage::stream
