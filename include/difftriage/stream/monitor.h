/// The live monitor of a long-running triage (`stream --monitor [HOST:]PORT`): a RunMonitor
/// holds the run's counters (the one component a command attaches: it feeds rows in, the server
/// reads snapshots out), and a MonitorServer serves them over HTTP (Debian's cpp-httplib).
///
///   auto monitor = std::make_shared<stream::RunMonitor>("stream");
///   stream::MonitorServer server(monitor, {"127.0.0.1", 8080});  // http://127.0.0.1:8080/
///   monitor->begin_series("7");
///   monitor->count_in();          // a frame arrived (any thread)
///   monitor->add(row);            // its results.jsonl row once triaged
///
/// Pages: `/` the live page (counters, the charts of the report, the latest kept frame's
/// thumbnail, an alarm banner while badice is seen; it polls the endpoints below every second
/// and keeps polling through errors), `/status.json` (RunMonitor::status), `/charts` (the
/// current series' charts as an HTML fragment of inline SVG, drawn on the server thread from a
/// copy of the aggregates), `/last_kept.png`.
///
/// The triage never waits for a browser: its calls take the monitor's mutex for O(1) work (a
/// bin merge is O(RunTimeline::kMaxBins) once per doubling); the server copies what it needs
/// under that mutex and renders outside it; a slow or vanished client only holds one of the
/// server's own threads, for at most its 5 s read/write timeouts.
///
/// To attach another command (e.g. `classify --watch`): make a RunMonitor, start a
/// MonitorServer with it, call begin_series() for each unit of work (a watched file or batch),
/// count_in() when a frame is found and add() with each row its writer records.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "difftriage/stream/run_report.h"

namespace difftriage::stream {

/// A run's live counters. Thread-safe: every method may be called from any thread.
class RunMonitor {
 public:
  /// `command`: what runs ("stream"), shown on the page.
  explicit RunMonitor(std::string command);

  /// Starts a new current series named `series` (its counters start at zero; the run's go on).
  void begin_series(const std::string& series);
  /// Marks the current series closed with `status` ("complete", "incomplete", ...).
  void end_series(const std::string& status);
  /// `n` frames arrived (frames_per_s_in).
  void count_in(int64_t n = 1);
  /// One triaged frame's results.jsonl row (frames_per_s_out, counters, charts).
  /// @throws FormatError for a row without a valid decision.
  void add(const nlohmann::json& row);
  /// True when no thumbnail was set in the last `interval_s` seconds: the caller makes one for
  /// its next kept frame only then, so thumbnails cost the triage at most one per interval.
  bool wants_thumbnail(double interval_s = 1.0) const;
  /// The latest kept frame's thumbnail (PNG) and where it came from (`{"series", "frame"}` or
  /// `{"path", "frame"}`).
  void set_last_kept(std::vector<uint8_t> png, nlohmann::json where);

  /// `/status.json`: {"command", "elapsed_s", "series" (current, null before the first),
  /// "series_status" ("open" or how it closed), "n_series", "run" and "current_series" (each
  /// TriageCounts::to_json: n_frames, n_kept, n_veto, n_uncertain, n_unreadable, n_untriaged,
  /// hit_rate), "n_frames_in", "frames_per_s_in", "frames_per_s_out" (over the last ~5 s, the
  /// whole run before that), "badice_alarm" (a frame labelled badice among the current series'
  /// last 100 frames), "n_badice" (current series), "last_kept" (null or as set_last_kept)}.
  nlohmann::json status() const;
  /// The current series' charts (RunTimeline::charts_html with real arrival times).
  std::string charts_html() const;
  /// The latest kept thumbnail (empty before one was set).
  std::vector<uint8_t> last_kept_png() const;

 private:
  using Clock = std::chrono::steady_clock;
  mutable std::mutex mutex_;
  std::string command_;
  Clock::time_point start_;
  std::string series_, series_status_ = "open";
  bool has_series_ = false;
  int64_t n_series_ = 0, n_in_ = 0;
  TriageCounts run_counts_;
  RunTimeline current_;
  std::vector<uint8_t> last_png_;
  nlohmann::json last_where_;
  Clock::time_point last_png_time_;
  bool has_png_ = false;
  // (seconds since start, n_in, n_out) samples of status() for the rates.
  mutable std::deque<std::array<double, 3>> samples_;
};

/// Where the server listens: `--monitor [HOST:]PORT`.
struct MonitorAddress {
  std::string host = "127.0.0.1";  ///< loopback unless asked otherwise
  int port = 0;                    ///< 0: any free port (see MonitorServer::port)
};
/// Parses "PORT" or "HOST:PORT" (PORT 0..65535; HOST non-empty, "[::1]" for IPv6).
/// @throws ConfigError naming `option` and the text.
MonitorAddress parse_monitor_address(const std::string& text,
                                     const std::string& option = "--monitor");

/// The HTTP server of a RunMonitor, on its own threads from construction to destruction.
/// Not copyable; its methods are thread-safe.
class MonitorServer {
 public:
  /// Binds `address` and starts serving. @throws ConfigError naming the address when it cannot
  /// be bound (in use, no such host).
  MonitorServer(std::shared_ptr<const RunMonitor> monitor, const MonitorAddress& address);
  /// Stops the server and joins its threads.
  ~MonitorServer();
  MonitorServer(const MonitorServer&) = delete;
  MonitorServer& operator=(const MonitorServer&) = delete;

  /// The bound port (the chosen one when the address asked for 0).
  int port() const noexcept { return port_; }
  /// "http://HOST:PORT/".
  std::string url() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string host_;
  int port_ = 0;
};

/// The live page's HTML (what `/` serves): self-contained, polls /status.json and /charts.
std::string monitor_page_html();

}  // namespace difftriage::stream
