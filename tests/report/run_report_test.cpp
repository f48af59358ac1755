// The run reports and the live monitor (issue 21): report.html of classify (through the CLI),
// `difftriage report DIR`, a 100k-frame report's size, the evaluate report, RunMonitor and its
// HTTP server, and — where Debian's chromium is installed — both pages in headless Chromium.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "difftriage/core/error.h"
#include "difftriage/evaluate/eval_report.h"
#include "difftriage/io/image_io.h"
#include "difftriage/report/html.h"
#include "difftriage/stream/monitor.h"
#include "difftriage/stream/run_report.h"
#include "stream/stream_test_support.h"
#include "support/test_support.h"

extern char** environ;

namespace difftriage {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using testing::read_bytes;
using testing::run_cli;
using testing::TempDir;

fs::path checker() { return testing::source_dir() / "tests" / "report" / "check_report.py"; }

// Runs tests/report/check_report.py (Python's own HTML parser, Pillow for the images).
int check_report(const fs::path& report, const fs::path& summary = {}) {
  std::string cmd = "/usr/bin/python3 '" + checker().string() + "' '" + report.string() + "'";
  if (!summary.empty()) cmd += " '" + summary.string() + "'";
  return std::system(cmd.c_str());
}

std::string value_of(const std::string& html, const std::string& key) {
  const std::regex re("data-count=\"" + key + "\">([^<]*)<");
  std::smatch m;
  return std::regex_search(html, m, re) ? m[1].str() : "(missing)";
}

json row(const std::string& decision, const std::vector<std::string>& flags, double p_ice,
         int badice, const char* quality = "good") {
  json labels = {{"blank", 0}, {"photo1", 1}, {"photo2", 0}, {"multilattice", 0},
                 {"ice", p_ice > 0.5 ? 1 : 0}, {"badice", badice}};
  json p = {{"blank", 0.1}, {"photo1", 0.8}, {"photo2", 0.1}, {"multilattice", 0.1},
            {"ice", p_ice}, {"badice", badice ? 0.9 : 0.05}};
  const bool error = std::find(flags.begin(), flags.end(), "unreadable") != flags.end();
  return {{"path", "f.pgm"},       {"frame", 0},
          {"p", error ? json() : p}, {"labels", error ? json() : labels},
          {"quality", error ? json() : json(quality)},
          {"decision", decision},  {"flags", flags},
          {"error", error ? json("f.pgm: truncated") : json()}};
}

TEST(RunTimeline, CountsExactlyAndStaysBounded) {
  stream::RunTimeline t;
  for (int i = 0; i < 1000; ++i) {
    if (i % 10 == 0) {
      t.add(row("veto", {}, 0.1, 0));
    } else if (i % 10 == 1) {
      t.add(row("keep", {"unreadable"}, 0.1, 0));
    } else if (i % 10 == 2) {
      t.add(row("keep", {"uncertain"}, 0.9, 0));
    } else {
      t.add(row("keep", {}, 0.1, i == 503 ? 1 : 0));
    }
  }
  EXPECT_EQ(t.counts().n_frames, 1000);
  EXPECT_EQ(t.counts().n_veto, 100);
  EXPECT_EQ(t.counts().n_unreadable, 100);
  EXPECT_EQ(t.counts().n_uncertain, 100);
  EXPECT_EQ(t.n_badice(), 1);
  EXPECT_EQ(t.last_badice_index(), 503);
  const json j = t.to_json();
  ASSERT_LE(j["bins"]["n_frames"].size(), static_cast<size_t>(stream::RunTimeline::kMaxBins));
  int64_t sum = 0;
  for (const auto& n : j["bins"]["n_frames"]) sum += n.get<int64_t>();
  EXPECT_EQ(sum, 1000);
  EXPECT_EQ(j["frames_per_bin"], 4);  // 1000 frames in at most 256 bins: 4 per bin
  // Every bin: 9 readable of 10 frames, 8 of them kept → hit rate 8/9 when a bin holds 4 frames
  // aligned at a multiple of 10 is not guaranteed; the run's rate is exact.
  EXPECT_DOUBLE_EQ(t.counts().hit_rate(), 800.0 / 900.0);
  EXPECT_EQ(j["quality"]["good"], 900);
  EXPECT_EQ(j["labels"]["photo1"], 900);
  const std::string charts = t.charts_html(10.0);
  EXPECT_EQ(std::count(charts.begin(), charts.end(), '<') > 100, true);
  size_t n_svg = 0;
  for (size_t at = charts.find("<svg"); at != std::string::npos; at = charts.find("<svg", at + 1)) ++n_svg;
  EXPECT_EQ(n_svg, 7u);  // no cell called on these rows: no crystal-form chart
  EXPECT_EQ(j["d_min_angstrom"]["none"], 1000);

  // Rows with the spot evidence: the resolution bins and the cells called present.
  stream::RunTimeline e;
  for (const double d : {1.2, 2.2, 2.4, 7.5}) {
    json r = row("keep", {}, 0.1, 0);
    r["d_min_angstrom"] = d;
    r["cell"] = {{"p", {{"photo1", 0.9}, {"thermolysin", 0.7}}},
                 {"names", {"photo1", "thermolysin"}}};
    e.add(r);
  }
  const json je = e.to_json();
  EXPECT_EQ(je["d_min_angstrom"]["< 1.5"], 1);
  EXPECT_EQ(je["d_min_angstrom"]["2-2.5"], 2);
  EXPECT_EQ(je["d_min_angstrom"][">= 6"], 1);
  EXPECT_EQ(je["d_min_angstrom"]["none"], 0);
  EXPECT_EQ(je["cells"]["thermolysin"], 4);
  const std::string charts_e = e.charts_html(1.0);
  EXPECT_NE(charts_e.find("Crystal forms from the spot evidence"), std::string::npos);
  EXPECT_NE(charts_e.find("Resolution the Bragg peaks reach"), std::string::npos);
}

TEST(ReportHtml, DataUrisEscapingAndSvg) {
  EXPECT_EQ(report::png_data_uri({'f', 'o', 'o'}), "data:image/png;base64,Zm9v");
  EXPECT_EQ(report::html_escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
  report::LineChart bad{"t", "x", "y", {"a"}, {{1, 2}}, {{1}}};
  EXPECT_THROW((void)report::render_svg(bad), ConfigError);
  report::LineChart gap{"t", "x", "y", {"a"}, {{1, 2, 3, 4}}, {{1, 2, std::nan(""), 4}}};
  const std::string svg = report::render_svg(gap);
  EXPECT_NE(svg.find("<polyline"), std::string::npos);
  EXPECT_NE(svg.find("<circle"), std::string::npos);  // the lone point after the gap
  report::LineChart empty{"t", "x", "y", {"a"}, {{}}, {{}}};
  EXPECT_NE(report::render_svg(empty).find("no data"), std::string::npos);
}

TEST(Thumbnail, ModelPreprocessingWithSpotsRinged) {
  Image<uint8_t> frame(64, 64, 10);
  for (int s = 0; s < 64; ++s) {
    for (int f = 0; f < 64; ++f) frame(s, f) = static_cast<uint8_t>(10 + (s * 7 + f * 13) % 5);
  }
  frame(20, 30) = 250;
  frame(40, 12) = 240;
  models::PreprocessOptions pre;
  pre.input_size = 32;
  const auto png = stream::make_thumbnail_png(AnyImage(frame), pre, 128);
  const AnyImage back = io::decode_image(png.data(), png.size(), "thumbnail");
  const auto [n_slow, n_fast] = extents(back);
  EXPECT_EQ(n_fast, 32);  // the model's input side (32 < 128: not reduced)
  EXPECT_EQ(n_slow, 32);
  EXPECT_THROW((void)stream::make_thumbnail_png(AnyImage(frame), pre, 8), ConfigError);
}

// A tiny model and 10 frames + one corrupt file, classified through the CLI.
struct ClassifiedRun {
  TempDir tmp;
  fs::path out;
  ClassifiedRun() {
    testing::write_tiny_model(tmp / "model");
    testing::write_pgm_frames(tmp / "frames", 10);
    testing::write_text(tmp / "frames" / "zz_corrupt.pgm", "P5\n64 64\n255\nshort");
    out = tmp / "cls";
    const auto r = run_cli({"classify", (tmp / "frames").string(), "--out", out.string(),
                            "--model", (tmp / "model").string(), "--quiet"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
};

TEST(ClassifyReport, ReportIsPartOfTheSetAndMatchesSummary) {
  ClassifiedRun run;
  ASSERT_TRUE(fs::exists(run.out / "report.html"));
  EXPECT_FALSE(fs::exists(run.out / ".partial"));
  const json summary = json::parse(read_bytes(run.out / "summary.json"));
  const std::string html = read_bytes(run.out / "report.html");
  EXPECT_EQ(value_of(html, "n_frames"), "11");
  EXPECT_EQ(value_of(html, "n_unreadable"), "1");
  EXPECT_EQ(value_of(html, "n_kept"), std::to_string(summary["n_kept"].get<int64_t>()));
  EXPECT_NE(html.find("zz_corrupt.pgm"), std::string::npos);  // the unreadable frame's row
  EXPECT_NE(html.find("difftriage classify"), std::string::npos);  // the exact command
  EXPECT_NE(html.find("data:image/png;base64,"), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(check_report(run.out / "report.html", run.out / "summary.json"), 0);

  // `difftriage report DIR` makes the same page again from the folder's files.
  fs::remove(run.out / "report.html");
  const auto r = run_cli({"report", run.out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("report.html"), std::string::npos);
  const std::string again = read_bytes(run.out / "report.html");
  EXPECT_EQ(value_of(again, "n_frames"), "11");
  EXPECT_EQ(check_report(run.out / "report.html", run.out / "summary.json"), 0);

  // A folder with no run is refused, naming it.
  const auto bad = run_cli({"report", (run.tmp / "frames").string()});
  EXPECT_EQ(bad.exit_code, 3);
  EXPECT_NE(bad.err.find("no run to report"), std::string::npos) << bad.err;
}

TEST(ClassifyReport, HundredThousandFramesStayUnderFiveMegabytes) {
  TempDir tmp;
  const auto frames = testing::write_pgm_frames(tmp / "frames", 4);
  std::string rows;
  stream::TriageCounts counts;
  for (int i = 0; i < 100000; ++i) {
    const bool unreadable = i % 1000 == 7;
    json r = row(i % 3 == 0 && !unreadable ? "veto" : "keep",
                 unreadable ? std::vector<std::string>{"unreadable"} : std::vector<std::string>{},
                 (i / 5000) % 2 ? 0.8 : 0.1, i % 7919 == 1 ? 1 : 0);
    r["path"] = frames[static_cast<size_t>(i % 4)].string();
    counts.add(stream::decision_from_row(r));
    rows += r.dump() + "\n";
  }
  testing::write_text(tmp / "run" / "results.jsonl", rows);
  json summary = counts.to_json();
  summary["elapsed_s"] = 100.0;
  models::PreprocessOptions pre;
  pre.input_size = 64;
  summary["model_info"] = json::object();  // no model: thumbnails from options.preprocess
  testing::write_text(tmp / "run" / "summary.json", summary.dump());
  stream::TriageReportOptions o;
  o.preprocess = pre;
  o.max_listed_errors = 50;
  const fs::path report = stream::write_triage_report(tmp / "run", o);
  const auto size = fs::file_size(report);
  EXPECT_LT(size, 5u * 1024 * 1024);
  const std::string html = read_bytes(report);
  EXPECT_EQ(value_of(html, "n_frames"), "100000");
  EXPECT_EQ(value_of(html, "n_unreadable"), "100");
  EXPECT_NE(html.find("… and 50 more"), std::string::npos);  // beyond 50: counted, not listed
  EXPECT_EQ(check_report(report, tmp / "run" / "summary.json"), 0);
  std::printf("100000-frame report: %llu bytes\n", static_cast<unsigned long long>(size));
}

TEST(EvaluateReport, TablesBesideChanceBaselinesAndFigures) {
  TempDir tmp;
  const json metrics = {
      {"dataset", "data/test"},
      {"model", "models/x"},
      {"labels",
       {{"ice", {{"accuracy", 0.9}, {"majority_accuracy", 0.6}, {"roc_auc", 0.95}}},
        {"blank", {{"accuracy", 0.8}, {"majority_accuracy", 0.5}, {"roc_auc", 0.85}}}}},
      {"hit", {{"balanced_accuracy", 0.88}, {"confusion", {{"tp", 7}, {"fp", 1}, {"tn", 2}, {"fn", 0}}}}},
      {"veto", {{"threshold", 0.2}, {"keep_fraction_target", 0.99}, {"n_positive_kept", 41}}},
      {"classical_baseline",
       {{"hit_finder", {{"metrics", {{"balanced_accuracy", 0.7}}}, {"veto", {{"threshold", 4}}}}}}}};
  testing::write_text(tmp / "metrics.json", metrics.dump());
  Image<uint8_t> img(20, 30, 128);
  io::write_png(tmp / "roc_ice.png", img.view());
  const auto r = run_cli({"report", tmp.path().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string html = read_bytes(tmp / "report.html");
  // Each accuracy right beside its chance level; the ice row holds both.
  EXPECT_NE(html.find("<th>accuracy</th><th>chance</th>"), std::string::npos);
  EXPECT_NE(html.find("<th class=\"l\">ice</th><td>–</td><td>–</td><td>–</td><td>0.9</td><td>0.6</td>"),
            std::string::npos);
  // The model and the baseline side by side; the veto points of both.
  EXPECT_NE(html.find("<th class=\"l\">baseline: hit (n_spots)</th>"), std::string::npos);
  EXPECT_NE(html.find("<td>0.7</td>"), std::string::npos);
  EXPECT_NE(html.find("<th class=\"l\">model: hit (p_hit)</th>"), std::string::npos);
  EXPECT_NE(html.find("<td>41</td>"), std::string::npos);
  EXPECT_NE(html.find("<th class=\"l\">baseline: veto (n_spots)</th><td>–</td><td>4</td>"),
            std::string::npos);
  EXPECT_NE(html.find("roc_ice.png"), std::string::npos);
  EXPECT_EQ(check_report(tmp / "report.html"), 0);
}

std::string http_get(int port, const std::string& path, int* status = nullptr) {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(5, 0);
  auto res = c.Get(path.c_str());
  if (!res) return "(no response)";
  if (status) *status = res->status;
  return res->body;
}

TEST(Monitor, StatusJsonCarriesTheCountersAndTheAlarm) {
  auto monitor = std::make_shared<stream::RunMonitor>("stream");
  stream::MonitorServer server(monitor, stream::parse_monitor_address("127.0.0.1:0"));
  ASSERT_GT(server.port(), 0);
  int status = 0;
  json s = json::parse(http_get(server.port(), "/status.json", &status));
  EXPECT_EQ(status, 200);
  EXPECT_TRUE(s["series"].is_null());
  EXPECT_EQ(s["badice_alarm"], false);
  EXPECT_TRUE(s["last_kept"].is_null());
  for (const char* k : {"run", "current_series", "frames_per_s_in", "frames_per_s_out",
                        "n_frames_in", "elapsed_s", "n_series"}) {
    EXPECT_TRUE(s.contains(k)) << k;
  }
  monitor->begin_series("7");
  monitor->count_in(3);
  monitor->add(row("keep", {}, 0.1, 0));
  monitor->add(row("veto", {}, 0.1, 0));
  monitor->add(row("keep", {}, 0.9, 1));  // badice
  s = json::parse(http_get(server.port(), "/status.json"));
  EXPECT_EQ(s["series"], "7");
  EXPECT_EQ(s["current_series"]["n_frames"], 3);
  EXPECT_EQ(s["current_series"]["n_veto"], 1);
  EXPECT_EQ(s["run"]["n_frames"], 3);
  EXPECT_EQ(s["n_frames_in"], 3);
  EXPECT_EQ(s["badice_alarm"], true);
  for (int i = 0; i < 100; ++i) monitor->add(row("keep", {}, 0.1, 0));
  s = json::parse(http_get(server.port(), "/status.json"));
  EXPECT_EQ(s["badice_alarm"], false);  // the badice frame left the last 100
  EXPECT_EQ(s["n_badice"], 1);
  monitor->begin_series("8");
  s = json::parse(http_get(server.port(), "/status.json"));
  EXPECT_EQ(s["current_series"]["n_frames"], 0);
  EXPECT_EQ(s["run"]["n_frames"], 103);
  http_get(server.port(), "/last_kept.png", &status);
  EXPECT_EQ(status, 404);
  monitor->set_last_kept({0x89, 'P', 'N', 'G'}, {{"series", 8}, {"frame", 4}});
  EXPECT_EQ(http_get(server.port(), "/last_kept.png", &status).substr(1, 3), "PNG");
  EXPECT_EQ(status, 200);
  s = json::parse(http_get(server.port(), "/status.json"));
  EXPECT_EQ(s["last_kept"], (json{{"series", 8}, {"frame", 4}}));
  EXPECT_NE(http_get(server.port(), "/charts").find("<svg"), std::string::npos);
  EXPECT_NE(http_get(server.port(), "/").find("/status.json"), std::string::npos);
}

TEST(Monitor, AddressesParseAndBadOnesAreRefused) {
  auto a = stream::parse_monitor_address("8080");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 8080);
  a = stream::parse_monitor_address("0.0.0.0:9");
  EXPECT_EQ(a.host, "0.0.0.0");
  EXPECT_EQ(a.port, 9);
  a = stream::parse_monitor_address("[::1]:80");
  EXPECT_EQ(a.host, "::1");
  for (const char* bad : {"", "x", ":80", "80000", "host:", "1.2.3.4:-1"}) {
    EXPECT_THROW((void)stream::parse_monitor_address(bad), ConfigError) << bad;
  }
  // A port in use is refused, naming it.
  auto monitor = std::make_shared<stream::RunMonitor>("stream");
  stream::MonitorServer first(monitor, stream::parse_monitor_address("127.0.0.1:0"));
  try {
    stream::MonitorServer second(monitor, {"127.0.0.1", first.port()});
    ADD_FAILURE() << "a second server bound the same port";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(first.port())), std::string::npos);
  }
}

// ---- headless Chromium -------------------------------------------------------------------------

std::string chromium() {
  for (const char* c : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (fs::exists(c)) return c;
  }
  return "";
}

// Runs Chromium headless (the flags, a fresh profile) on `url`: the DOM after scripts
// ran for `budget_ms` of virtual time, and a screenshot of window_w × window_h into `png`.
std::string chromium_dom(const std::string& url, const fs::path& profile, int budget_ms) {
  const std::string cmd = chromium() +
                          " --headless --no-sandbox --disable-gpu --no-first-run "
                          "--disable-background-networking --disable-component-update "
                          "--disable-sync --user-data-dir='" + profile.string() +
                          "' --virtual-time-budget=" + std::to_string(budget_ms) +
                          " --dump-dom '" + url + "' 2>/dev/null";
  std::string dom;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return dom;
  char buf[65536];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) dom.append(buf, n);
  pclose(p);
  return dom;
}

void chromium_screenshot(const std::string& url, const fs::path& profile, const fs::path& png,
                         int w, int h) {
  const std::string cmd = chromium() +
                          " --headless --no-sandbox --disable-gpu --no-first-run "
                          "--disable-background-networking --disable-component-update "
                          "--disable-sync --user-data-dir='" + profile.string() +
                          "' --virtual-time-budget=3000 --hide-scrollbars --window-size=" +
                          std::to_string(w) + "," + std::to_string(h) + " --screenshot='" +
                          png.string() + "' '" + url + "' >/dev/null 2>&1";
  (void)std::system(cmd.c_str());
}

// A non-blank PNG of w × h: decodes, right size, and not one colour.
void expect_screenshot(const fs::path& png, int w, int h) {
  ASSERT_TRUE(fs::exists(png)) << png;
  const std::string bytes = read_bytes(png);
  const AnyImage img = io::decode_image(reinterpret_cast<const uint8_t*>(bytes.data()),
                                        bytes.size(), png.string());
  const auto [n_slow, n_fast] = extents(img);
  EXPECT_EQ(n_fast, w);
  EXPECT_EQ(n_slow, h);
  const Image<float> f = to_float(img);
  const auto [lo, hi] = std::minmax_element(f.data(), f.data() + f.size());
  EXPECT_GT(*hi - *lo, 50.0f) << "blank screenshot";
}

TEST(Chromium, ReportFromDiskShowsTheCounts) {
  if (chromium().empty()) {
    GTEST_SKIP() << "Debian's chromium is not installed (scripts/install-deps installs it)";
  }
  ClassifiedRun run;
  const json summary = json::parse(read_bytes(run.out / "summary.json"));
  const std::string url = "file://" + fs::absolute(run.out / "report.html").string();
  const std::string dom = chromium_dom(url, run.tmp / "profile", 1000);
  ASSERT_NE(dom.find("</html>"), std::string::npos) << "chromium printed no DOM";
  for (const char* k : {"n_frames", "n_kept", "n_veto", "n_unreadable"}) {
    EXPECT_EQ(value_of(dom, k), std::to_string(summary[k].get<int64_t>())) << k;
  }
  chromium_screenshot(url, run.tmp / "profile2", run.tmp / "report.png", 1000, 800);
  expect_screenshot(run.tmp / "report.png", 1000, 800);
}

pid_t spawn(const std::vector<std::string>& args, const fs::path& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  posix_spawn(&pid, args[0].c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

// A port nobody listens on now (bound to 0, read back, closed).
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

// `difftriage stream --monitor` on a replayed series of 12 frames (series 5). Two series are
// expected and one is sent, so after it the numbers stand still while they are read; the
// destructor stops the stream with SIGTERM (exit 0 expected).
struct LiveRun {
  TempDir tmp;
  int port = -1;
  pid_t stream = -1;
  json status;
  LiveRun() {
    testing::write_tiny_model(tmp / "model");
    testing::write_pgm_frames(tmp / "frames", 12);
    port = free_port();
    const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(free_port());
    const char* env_cli = std::getenv("DT_CLI");
    const std::string cli = env_cli != nullptr ? env_cli : DT_TEST_CLI;
    stream = spawn({cli, "stream", "--connect", endpoint, "--out", (tmp / "live").string(),
                    "--model", (tmp / "model").string(), "--max-series", "2", "--monitor",
                    "127.0.0.1:" + std::to_string(port)},
                   tmp / "stream.log");
    const auto r = run_cli({"replay", (tmp / "frames").string(), "--bind", endpoint,
                            "--series-id", "5", "--consumers", "1", "--timeout", "60"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    for (int i = 0; i < 600 && r.exit_code == 0; ++i) {
      int code = 0;
      const std::string body = http_get(port, "/status.json", &code);
      if (code == 200) {
        status = json::parse(body);
        if (status["series_status"] == "complete") break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  // Stops the stream; its exit status.
  int stop() {
    if (stream <= 0) return -1;
    kill(stream, SIGTERM);
    int wstatus = 0;
    waitpid(stream, &wstatus, 0);
    stream = -1;
    return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  }
  ~LiveRun() { stop(); }
  std::string log() const { return read_bytes(tmp / "stream.log"); }
};

TEST(LiveMonitor, StatusJsonOfAReplayedStreamAndTheSeriesReport) {
  LiveRun live;
  const json& s = live.status;
  ASSERT_EQ(s["series_status"], "complete") << s.dump() << live.log();
  EXPECT_EQ(s["series"], "5");
  EXPECT_EQ(s["current_series"]["n_frames"], 12);
  EXPECT_EQ(s["run"]["n_frames"], 12);
  EXPECT_EQ(s["n_frames_in"], 12);
  EXPECT_EQ(s["current_series"]["n_kept"].get<int64_t>() + s["current_series"]["n_veto"].get<int64_t>(), 12);
  if (s["current_series"]["n_kept"].get<int64_t>() > 0) {
    EXPECT_EQ(s["last_kept"]["series"], 5);  // a thumbnail of a kept frame was taken
    int code = 0;
    EXPECT_EQ(http_get(live.port, "/last_kept.png", &code).substr(1, 3), "PNG");
  }
  EXPECT_EQ(live.stop(), 0) << live.log();
  const fs::path series = live.tmp / "live" / "series_5";
  const json summary = json::parse(read_bytes(series / "summary.json"));
  EXPECT_EQ(summary["n_frames"], 12);
  const std::string html = read_bytes(series / "report.html");
  EXPECT_EQ(value_of(html, "n_frames"), "12");
  EXPECT_NE(html.find("data:image/png;base64,"), std::string::npos);  // examples made live
  EXPECT_NE(html.find("difftriage stream"), std::string::npos);      // the stream's command
  EXPECT_EQ(check_report(series / "report.html", series / "summary.json"), 0);
  // `difftriage report` on the stream folder makes each series' report again (no pixels on
  // disk: no example strips then, said on the page).
  const auto r = run_cli({"report", (live.tmp / "live").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("series_5"), std::string::npos);
  EXPECT_EQ(check_report(series / "report.html", series / "summary.json"), 0);
}

TEST(LiveMonitor, HelpDocumentsTheFlagsAndABadAddressIsAUsageError) {
  auto r = run_cli({"report", "--help"});
  ASSERT_EQ(r.exit_code, 0);
  for (const char* flag : {"--examples", "--thumbnail", "metrics.json", "series_"}) {
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  }
  r = run_cli({"stream", "--help"});
  for (const char* flag : {"--monitor", "/status.json", "127.0.0.1", "report.html"}) {
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  }
  r = run_cli({"stream", "--connect", "tcp://127.0.0.1:1", "--out", "/nonexistent/x", "--monitor",
               "localhost:http"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--monitor"), std::string::npos) << r.err;
}

TEST(Chromium, LiveMonitorOfAReplayedStreamShowsStatusJson) {
  if (chromium().empty()) {
    GTEST_SKIP() << "Debian's chromium is not installed (scripts/install-deps installs it)";
  }
  LiveRun live;
  const json& s = live.status;
  ASSERT_EQ(s["series_status"], "complete") << s.dump() << live.log();
  const std::string url = "http://127.0.0.1:" + std::to_string(live.port) + "/";
  const std::string dom = chromium_dom(url, live.tmp / "profile", 3000);
  for (const char* group : {"run", "current_series"}) {
    for (const char* k : {"n_frames", "n_kept", "n_veto", "n_unreadable"}) {
      const std::regex re(std::string("id=\"") + group + "\\." + k + "\">([^<]*)<");
      std::smatch m;
      ASSERT_TRUE(std::regex_search(dom, m, re)) << group << "." << k << "\n" << dom.substr(0, 2000);
      EXPECT_EQ(m[1].str(), std::to_string(s[group][k].get<int64_t>())) << group << "." << k;
    }
  }
  EXPECT_NE(dom.find("id=\"series\">5<"), std::string::npos);
  EXPECT_NE(dom.find("<svg"), std::string::npos);  // the charts came in
  chromium_screenshot(url, live.tmp / "profile2", live.tmp / "monitor.png", 1000, 800);
  expect_screenshot(live.tmp / "monitor.png", 1000, 800);
  EXPECT_EQ(live.stop(), 0) << live.log();
}

// `difftriage classify --watch` with --monitor on a folder of 12 frames (already there: they
// settle and are taken together); the numbers stand still once the 12 are triaged; the destructor
// stops the watch with SIGTERM (exit 0 expected).
struct WatchRun {
  TempDir tmp;
  int port = -1;
  pid_t watch = -1;
  json status;
  WatchRun() {
    testing::write_tiny_model(tmp / "model");
    testing::write_pgm_frames(tmp / "frames", 12);
    port = free_port();
    const char* env_cli = std::getenv("DT_CLI");
    const std::string cli = env_cli != nullptr ? env_cli : DT_TEST_CLI;
    watch = spawn({cli, "classify", "--watch", (tmp / "frames").string(), "--out",
                   (tmp / "cls").string(), "--model", (tmp / "model").string(), "--settle-s",
                   "0.5", "--monitor", "127.0.0.1:" + std::to_string(port)},
                  tmp / "watch.log");
    for (int i = 0; i < 600; ++i) {
      int code = 0;
      const std::string body = http_get(port, "/status.json", &code);
      if (code == 200) {
        status = json::parse(body);
        if (status["run"]["n_frames"] == 12) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  int stop() {
    if (watch <= 0) return -1;
    kill(watch, SIGTERM);
    int wstatus = 0;
    waitpid(watch, &wstatus, 0);
    watch = -1;
    return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  }
  ~WatchRun() { stop(); }
  std::string log() const { return read_bytes(tmp / "watch.log"); }
};

TEST(Chromium, LiveMonitorOfAWatchedFolderShowsStatusJson) {
  if (chromium().empty()) {
    GTEST_SKIP() << "Debian's chromium is not installed (scripts/install-deps installs it)";
  }
  WatchRun run;
  const json& s = run.status;
  ASSERT_EQ(s["run"]["n_frames"], 12) << s.dump() << run.log();
  EXPECT_EQ(s["series"], (run.tmp / "frames").string());
  EXPECT_EQ(s["command"], "classify --watch");
  const std::string url = "http://127.0.0.1:" + std::to_string(run.port) + "/";
  const std::string dom = chromium_dom(url, run.tmp / "profile", 3000);
  for (const char* group : {"run", "current_series"}) {
    for (const char* k : {"n_frames", "n_kept", "n_veto", "n_unreadable"}) {
      const std::regex re(std::string("id=\"") + group + "\\." + k + "\">([^<]*)<");
      std::smatch m;
      ASSERT_TRUE(std::regex_search(dom, m, re)) << group << "." << k << "\n" << dom.substr(0, 2000);
      EXPECT_EQ(m[1].str(), std::to_string(s[group][k].get<int64_t>())) << group << "." << k;
    }
  }
  EXPECT_NE(dom.find("id=\"series\">" + (run.tmp / "frames").string() + "<"), std::string::npos);
  EXPECT_EQ(run.stop(), 0) << run.log();
  const json summary = json::parse(read_bytes(run.tmp / "cls" / "summary.json"));
  EXPECT_EQ(summary["n_frames"], 12);
  EXPECT_EQ(summary["watch"]["stopped_by"], "stop_requested");
}

}  // namespace
}  // namespace difftriage
