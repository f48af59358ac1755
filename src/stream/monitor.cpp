// The live monitor (include/difftriage/stream/monitor.h): RunMonitor's counters and the
// cpp-httplib server of the live page.
#include "difftriage/stream/monitor.h"

#include <httplib.h>

#include <cstdlib>

#include "difftriage/core/error.h"
#include "difftriage/report/html.h"

namespace difftriage::stream {
using nlohmann::json;

namespace {
// A badice frame among the current series' last this many frames raises the alarm.
constexpr int64_t kAlarmWindowFrames = 100;
// The rates are measured over about this many seconds of status() samples.
constexpr double kRateWindowS = 5.0;
}  // namespace

RunMonitor::RunMonitor(std::string command) : command_(std::move(command)), start_(Clock::now()) {}

void RunMonitor::begin_series(const std::string& series) {
  std::lock_guard<std::mutex> lock(mutex_);
  series_ = series;
  series_status_ = "open";
  has_series_ = true;
  ++n_series_;
  current_ = RunTimeline();
}

void RunMonitor::end_series(const std::string& status) {
  std::lock_guard<std::mutex> lock(mutex_);
  series_status_ = status;
}

void RunMonitor::count_in(int64_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  n_in_ += n;
}

void RunMonitor::add(const json& row) {
  const TriageDecision d = decision_from_row(row);  // outside the lock: parsing the row
  std::lock_guard<std::mutex> lock(mutex_);
  const double t_s = std::chrono::duration<double>(Clock::now() - start_).count();
  run_counts_.add(d);
  current_.add(row, t_s);
}

bool RunMonitor::wants_thumbnail(double interval_s) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return !has_png_ ||
         std::chrono::duration<double>(Clock::now() - last_png_time_).count() >= interval_s;
}

void RunMonitor::set_last_kept(std::vector<uint8_t> png, json where) {
  std::lock_guard<std::mutex> lock(mutex_);
  last_png_ = std::move(png);
  last_where_ = std::move(where);
  last_png_time_ = Clock::now();
  has_png_ = true;
}

json RunMonitor::status() const {
  std::lock_guard<std::mutex> lock(mutex_);
  const double now_s = std::chrono::duration<double>(Clock::now() - start_).count();
  const auto n_out = static_cast<double>(run_counts_.n_frames);
  samples_.push_back({now_s, static_cast<double>(n_in_), n_out});
  while (samples_.size() > 2 && now_s - samples_[1][0] >= kRateWindowS) samples_.pop_front();
  double rate_in = now_s > 0 ? static_cast<double>(n_in_) / now_s : 0.0;
  double rate_out = now_s > 0 ? n_out / now_s : 0.0;
  const auto& first = samples_.front();
  if (now_s - first[0] >= 0.5) {
    rate_in = (static_cast<double>(n_in_) - first[1]) / (now_s - first[0]);
    rate_out = (n_out - first[2]) / (now_s - first[0]);
  }
  const int64_t n_current = current_.counts().n_frames;
  const bool alarm = current_.last_badice_index() >= 0 &&
                     current_.last_badice_index() >= n_current - kAlarmWindowFrames;
  return {{"command", command_},
          {"elapsed_s", now_s},
          {"series", has_series_ ? json(series_) : json(nullptr)},
          {"series_status", has_series_ ? json(series_status_) : json(nullptr)},
          {"n_series", n_series_},
          {"run", run_counts_.to_json()},
          {"current_series", current_.counts().to_json()},
          {"n_frames_in", n_in_},
          {"frames_per_s_in", rate_in},
          {"frames_per_s_out", rate_out},
          {"badice_alarm", alarm},
          {"n_badice", current_.n_badice()},
          {"last_kept", has_png_ ? last_where_ : json(nullptr)}};
}

std::string RunMonitor::charts_html() const {
  RunTimeline copy;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    copy = current_;
  }
  return copy.charts_html();
}

std::vector<uint8_t> RunMonitor::last_kept_png() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return last_png_;
}

MonitorAddress parse_monitor_address(const std::string& text, const std::string& option) {
  MonitorAddress a;
  std::string port = text;
  const auto colon = text.rfind(':');
  if (colon != std::string::npos) {
    a.host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (a.host.size() >= 2 && a.host.front() == '[' && a.host.back() == ']') {
      a.host = a.host.substr(1, a.host.size() - 2);
    }
    DT_CHECK(!a.host.empty(), ConfigError, option, ": empty host in '", text,
             "' (expected [HOST:]PORT)");
  }
  char* end = nullptr;
  const long value = std::strtol(port.c_str(), &end, 10);
  DT_CHECK(!port.empty() && end != nullptr && *end == '\0' && value >= 0 && value <= 65535,
           ConfigError, option, ": '", text, "' is not [HOST:]PORT with PORT in 0..65535");
  a.port = static_cast<int>(value);
  return a;
}

struct MonitorServer::Impl {
  httplib::Server server;
  std::thread thread;
};

MonitorServer::MonitorServer(std::shared_ptr<const RunMonitor> monitor,
                             const MonitorAddress& address)
    : impl_(std::make_unique<Impl>()), host_(address.host) {
  DT_CHECK(monitor != nullptr, ConfigError, "MonitorServer: no monitor");
  auto& s = impl_->server;
  s.set_read_timeout(5, 0);
  s.set_write_timeout(5, 0);
  s.set_keep_alive_max_count(20);
  // cpp-httplib's default sets SO_REUSEPORT, with which a second process binding the same port
  // succeeds and the kernel splits the requests between the two: SO_REUSEADDR only, so a port
  // in use is an error (restarting after a crash still works: no TIME_WAIT wait).
  s.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  const std::string page = monitor_page_html();
  s.Get("/", [page](const httplib::Request&, httplib::Response& res) {
    res.set_content(page, "text/html; charset=utf-8");
  });
  s.Get("/status.json", [monitor](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    res.set_content(monitor->status().dump(), "application/json");
  });
  s.Get("/charts", [monitor](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    res.set_content(monitor->charts_html(), "text/html; charset=utf-8");
  });
  s.Get("/last_kept.png", [monitor](const httplib::Request&, httplib::Response& res) {
    const auto png = monitor->last_kept_png();
    res.set_header("Cache-Control", "no-store");
    if (png.empty()) {
      res.status = 404;
      res.set_content("no kept frame yet", "text/plain");
      return;
    }
    res.set_content(std::string(png.begin(), png.end()), "image/png");
  });
  if (address.port == 0) {
    port_ = s.bind_to_any_port(address.host);
  } else {
    port_ = s.bind_to_port(address.host, address.port) ? address.port : -1;
  }
  DT_CHECK(port_ > 0, ConfigError, "--monitor: cannot listen on ", address.host, ":",
           address.port, " (in use, or no such address)");
  impl_->thread = std::thread([this] { impl_->server.listen_after_bind(); });
  // Serving before returning: a stop() that came before the listening loop started would be
  // lost, and the destructor's join would wait for ever.
  for (int i = 0; i < 5000 && !impl_->server.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

MonitorServer::~MonitorServer() {
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::string MonitorServer::url() const {
  const bool v6 = host_.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_) + "/";
}

std::string monitor_page_html() {
  // Numbers fill elements by id from /status.json; the charts are the server's SVG fragment. A
  // failed poll shows "disconnected" and the page keeps polling.
  const std::string body = R"(<div id="alarm" class="alarm" hidden>BADICE: dangerous ice diffraction in the current series, which can damage the detector</div>
<p><span id="conn" class="muted">connecting…</span> · <span id="command"></span> · running <span id="elapsed_s">0</span> s</p>
<table id="live"><tr><th class="l"></th><th>run</th><th>current series</th></tr>
<tr><td class="l">series</td><td id="n_series"></td><td><span id="series">–</span> (<span id="series_status"></span>)</td></tr>
<tr><td class="l">frames/s in · out</td><td colspan="2"><span id="frames_per_s_in"></span> · <span id="frames_per_s_out"></span></td></tr>
<tr><td class="l">n_frames</td><td id="run.n_frames"></td><td id="current_series.n_frames"></td></tr>
<tr><td class="l">n_kept</td><td id="run.n_kept"></td><td id="current_series.n_kept"></td></tr>
<tr><td class="l">n_veto</td><td id="run.n_veto"></td><td id="current_series.n_veto"></td></tr>
<tr><td class="l">n_uncertain</td><td id="run.n_uncertain"></td><td id="current_series.n_uncertain"></td></tr>
<tr><td class="l">n_unreadable</td><td id="run.n_unreadable"></td><td id="current_series.n_unreadable"></td></tr>
<tr><td class="l">n_untriaged</td><td id="run.n_untriaged"></td><td id="current_series.n_untriaged"></td></tr>
<tr><td class="l">hit_rate</td><td id="run.hit_rate"></td><td id="current_series.hit_rate"></td></tr>
</table>
<h2>Latest kept frame <span id="last_kept" class="muted"></span></h2>
<img id="thumb" alt="latest kept frame" width="128" height="128" hidden>
<h2>Current series</h2>
<div id="charts"></div>
<script>
function fmt(v){return (typeof v==='number'&&!Number.isInteger(v))?v.toFixed(3):String(v);}
function put(id,v){var e=document.getElementById(id);if(e)e.textContent=(v===null||v===undefined)?'–':fmt(v);}
var lastKept='';
async function poll(){
  try{
    var r=await fetch('/status.json',{cache:'no-store'});var s=await r.json();
    ['command','elapsed_s','n_series','series','series_status','frames_per_s_in','frames_per_s_out'].forEach(function(k){put(k,s[k]);});
    ['run','current_series'].forEach(function(g){for(var k in s[g])put(g+'.'+k,s[g][k]);});
    document.getElementById('alarm').hidden=!s.badice_alarm;
    var lk=s.last_kept?JSON.stringify(s.last_kept):'';
    if(lk&&lk!==lastKept){lastKept=lk;var t=document.getElementById('thumb');t.src='/last_kept.png?'+encodeURIComponent(lk);t.hidden=false;put('last_kept',lk);}
    var h=await fetch('/charts',{cache:'no-store'});document.getElementById('charts').innerHTML=await h.text();
    put('conn','live');
  }catch(e){put('conn','disconnected, retrying');}
  setTimeout(poll,1000);
}
poll();
</script>
)";
  return report::html_page("difftriage live monitor", body);
}

}  // namespace difftriage::stream
