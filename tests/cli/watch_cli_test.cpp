// `difftriage classify --watch DIR` as a process: a writer (this test) drops frame files into the
// folder over time — one written slowly in pieces, a corrupt one, a subfolder, a non-frame file —
// and the watch's rows equal classify's on the same files, every entry accounted for; it stops
// cleanly on --watch-idle-s and on SIGINT (draining, closing the set); its --monitor serves
// /status.json on 127.0.0.1. Settle and idle intervals are generous conditions, never asserted.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "background_cli.h"
#include "support/test_support.h"


namespace difftriage::testing {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

void sleep_s(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

json read_json(const fs::path& p) { return json::parse(read_bytes(p)); }

// results.jsonl rows by "path //frame".
std::map<std::string, json> rows_by_frame(const fs::path& results) {
  std::map<std::string, json> rows;
  for (const auto& line : read_lines(results)) {
    json row = json::parse(line);
    rows[row["path"].get<std::string>() + " //" + std::to_string(row["frame"].get<int64_t>())] =
        row;
  }
  return rows;
}

// The simulated frame files of `dir` (sorted), without its labels and sidecars.
std::vector<fs::path> frame_files(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || e.path().extension() == ".json" || name == "multiclasses.txt" ||
        name == "categories1.txt") {
      continue;
    }
    files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// GET http://127.0.0.1:PORT/PATH (HTTP/1.0, no library): the body, "" on failure.
std::string http_get(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return {};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size())) {
      char buf[4096];
      for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) response.append(buf, n);
    }
  }
  close(fd);
  const auto body = response.find("\r\n\r\n");
  return body == std::string::npos ? std::string() : response.substr(body + 4);
}

bool has_skipped(const json& summary, const std::string& name, const std::string& reason_part) {
  for (const auto& s : summary["skipped_inputs"]) {
    if (fs::path(s["path"].get<std::string>()).filename() == name &&
        s["reason"].get<std::string>().find(reason_part) != std::string::npos) {
      return true;
    }
  }
  return false;
}

TEST(WatchCli, RowsEqualClassifyOnTheSameFilesAndEveryFileIsAccounted) {
  TempDir tmp;
  const fs::path sim = tmp / "sim", in = tmp / "in", watched = tmp / "w", once = tmp / "c";
  auto r = run_cli({"simulate", "--out", sim.string(), "--count", "5", "--seed", "21", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto frames = frame_files(sim);
  ASSERT_EQ(frames.size(), 5u);
  fs::create_directories(in);
  write_text(in / "README.txt", "notes of the run, not a frame\n");

  BackgroundCli watch({"classify", "--watch", in.string(), "--out", watched.string(),
                      "--settle-s", "2", "--watch-idle-s", "8", "--batch", "1", "--quiet"},
                     tmp.path());
  // The writer: the first frame in three pieces with pauses well under --settle-s (it must not
  // be read half-written), the others whole, one at a time; then a corrupt file and a subfolder.
  {
    const std::string bytes = read_bytes(frames[0]);
    const fs::path slow = in / frames[0].filename();
    std::ofstream out(slow, std::ios::binary);
    const size_t third = bytes.size() / 3;
    out.write(bytes.data(), static_cast<std::streamsize>(third));
    out.flush();
    sleep_s(0.3);
    out.write(bytes.data() + third, static_cast<std::streamsize>(third));
    out.flush();
    sleep_s(0.3);
    out.write(bytes.data() + 2 * third, static_cast<std::streamsize>(bytes.size() - 2 * third));
  }
  for (size_t k = 1; k < frames.size(); ++k) {
    sleep_s(0.3);
    fs::copy_file(frames[k], in / frames[k].filename());
  }
  write_text(in / "zz_corrupt.cbf", "this is not a diffraction image\n");
  write_text(in / "sub" / "inner.cbf", "a file in a subfolder: not watched\n");

  ASSERT_EQ(watch.wait(), 0) << watch.err();
  EXPECT_NE(watch.out().find("(stopped: idle): 6 file(s) taken"), std::string::npos)
      << watch.out();

  // classify on the same files, once they are all there. --batch 1 on both sides: the batch a
  // frame shares a forward pass with changes its probabilities by float rounding only
  // (pipeline.h), and the watch batches frames as their files settle; with one frame per pass
  // the rows must be equal to the last bit.
  r = run_cli({"classify", in.string(), "--out", once.string(), "--batch", "1", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto watch_rows = rows_by_frame(watched / "results.jsonl");
  const auto classify_rows = rows_by_frame(once / "results.jsonl");
  ASSERT_EQ(watch_rows.size(), frames.size() + 1);  // every file in = one row
  EXPECT_EQ(read_lines(watched / "results.jsonl").size(), watch_rows.size());
  EXPECT_EQ(watch_rows, classify_rows);
  const json& corrupt = watch_rows.at((in / "zz_corrupt.cbf").string() + " //0");
  EXPECT_FALSE(corrupt["error"].is_null());
  EXPECT_EQ(corrupt["decision"], "keep");
  const json& slow = watch_rows.at((in / frames[0].filename()).string() + " //0");
  EXPECT_TRUE(slow["error"].is_null()) << slow.dump();

  const json s = read_json(watched / "summary.json");
  const json c = read_json(once / "summary.json");
  for (const char* k : {"n_frames", "n_kept", "n_veto", "n_uncertain", "n_unreadable",
                        "n_untriaged"}) {
    EXPECT_EQ(s[k], c[k]) << k;
  }
  EXPECT_EQ(s["n_frames"], 6);
  EXPECT_EQ(s["n_unreadable"], 1);
  EXPECT_EQ(s["watch"]["stopped_by"], "idle");
  EXPECT_EQ(s["watch"]["n_files"], 6);
  EXPECT_TRUE(has_skipped(s, "README.txt", "not a frame file")) << s["skipped_inputs"].dump();
  EXPECT_TRUE(has_skipped(s, "sub", "a folder")) << s["skipped_inputs"].dump();
  EXPECT_EQ(s["skipped_inputs"].size(), 2u) << s["skipped_inputs"].dump();
  EXPECT_EQ(read_lines(watched / "hits.lst").size(), s["n_kept"].get<size_t>());
  EXPECT_EQ(read_bytes(watched / "hits.lst"), read_bytes(once / "hits.lst"));
  EXPECT_NE(read_bytes(watched / "report.html").find("<html"), std::string::npos);
  EXPECT_TRUE(fs::exists(watched / "run.json"));
  EXPECT_FALSE(fs::exists(watched / ".partial"));
}

TEST(WatchCli, SigintDrainsClosesTheSetAndTheMonitorServesStatus) {
  TempDir tmp;
  const fs::path sim = tmp / "sim", in = tmp / "in", watched = tmp / "w";
  auto r = run_cli({"simulate", "--out", sim.string(), "--count", "2", "--seed", "22", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto frames = frame_files(sim);
  ASSERT_EQ(frames.size(), 2u);
  fs::create_directories(in);
  BackgroundCli watch({"classify", "--watch", in.string(), "--out", watched.string(),
                      "--settle-s", "3", "--monitor", "127.0.0.1:0", "--batch", "4"},
                     tmp.path());
  int port = 0;
  const std::string marker = "live monitor at http://127.0.0.1:";
  for (int k = 0; k < 1200 && port == 0; ++k) {
    const std::string err = watch.err();
    const auto pos = err.find(marker);
    if (pos != std::string::npos) port = std::atoi(err.c_str() + pos + marker.size());
    if (port == 0) sleep_s(0.1);
  }
  ASSERT_GT(port, 0) << watch.err();
  for (const auto& f : frames) fs::copy_file(f, in / f.filename());
  // Rows reach .partial/results.jsonl after each batch of files (not only every --batch rows).
  const fs::path partial = watched / ".partial" / "results.jsonl";
  for (int k = 0; k < 1800 && read_lines(partial).size() < 2; ++k) sleep_s(0.1);
  ASSERT_EQ(read_lines(partial).size(), 2u) << watch.err();

  const std::string body = http_get(port, "/status.json");
  ASSERT_FALSE(body.empty());
  const json status = json::parse(body);
  EXPECT_EQ(status["command"], "classify --watch");
  EXPECT_EQ(status["series"], in.string());
  EXPECT_EQ(status["n_frames_in"], 2);
  EXPECT_EQ(status["run"]["n_frames"], 2);
  EXPECT_EQ(status["current_series"]["n_frames"], 2);
  bool kept_readable = false;
  for (const auto& line : read_lines(partial)) {
    const json row = json::parse(line);
    kept_readable = kept_readable || (row["decision"] == "keep" && row["error"].is_null());
  }
  if (kept_readable) {  // the first kept frame always gets a thumbnail
    ASSERT_TRUE(status["last_kept"].is_object()) << status.dump();
    EXPECT_EQ(fs::path(status["last_kept"]["path"].get<std::string>()).parent_path(), in);
    EXPECT_EQ(status["last_kept"]["frame"], 0);
  } else {
    EXPECT_TRUE(status["last_kept"].is_null()) << status.dump();
  }
  EXPECT_NE(http_get(port, "/").find("/status.json"), std::string::npos);

  // A file being written when the watch is interrupted: never read, accounted for.
  write_text(in / "late.cbf", "half a fr");
  watch.signal(SIGINT);
  ASSERT_EQ(watch.wait(), 0) << watch.err();
  EXPECT_NE(watch.out().find("(stopped: signal): 2 file(s) taken"), std::string::npos)
      << watch.out();
  const json s = read_json(watched / "summary.json");
  EXPECT_EQ(s["n_frames"], 2);
  EXPECT_EQ(s["watch"]["stopped_by"], "stop_requested");
  EXPECT_TRUE(has_skipped(s, "late.cbf", "still changing when the watch stopped"))
      << s["skipped_inputs"].dump();
  EXPECT_EQ(read_lines(watched / "results.jsonl").size(), 2u);
  EXPECT_TRUE(fs::exists(watched / "report.html"));
  EXPECT_FALSE(fs::exists(watched / ".partial"));
}

TEST(WatchCli, BadOptionsAreUsageErrors) {
  TempDir tmp;
  fs::create_directories(tmp / "in");
  auto r = run_cli({"classify", "--watch", (tmp / "missing").string(), "--out",
                    (tmp / "o").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("missing"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp / "o" / "summary.json"));
  r = run_cli({"classify", (tmp / "in").string(), "--watch", (tmp / "in").string(), "--out",
               (tmp / "o").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--watch"), std::string::npos) << r.err;
  r = run_cli({"classify", (tmp / "in").string(), "--settle-s", "2", "--out", (tmp / "o").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_cli({"classify", (tmp / "in").string(), "--monitor", "0", "--out", (tmp / "o").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_cli({"classify", "--watch", (tmp / "in").string(), "--resume", "--out",
               (tmp / "o").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_cli({"classify", "--watch", (tmp / "in").string(), "--monitor", "nohost:", "--out",
               (tmp / "o").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--monitor"), std::string::npos) << r.err;
  r = run_cli({"classify", "--out", (tmp / "o").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_cli({"classify", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag : {"--watch", "--settle-s", "--watch-idle-s", "--monitor"}) {
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace difftriage::testing
