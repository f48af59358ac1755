// Stream fan-out through the CLI on 127.0.0.1: one replayed series triaged by one `stream`, and
// by two `stream --fan-out` workers sharing the replay's PUSH socket, then `merge`d — every
// frame accounted for exactly once, the counts and rows of the single worker's run (but the
// worker-specific "worker" key and "no_header" flag); a refused merge (a frame twice) exits 3.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "background_cli.h"
#include "support/test_support.h"

namespace difftriage::testing {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

std::string fanout_endpoint(int offset) {
  // Ports apart from stream_cli_test's (30000 + 4·k + 0..3), different per process.
  return "tcp://127.0.0.1:" + std::to_string(38000 + (getpid() % 2000) * 4 + offset);
}

json read_json(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

std::vector<json> read_rows(const fs::path& p) {
  std::vector<json> rows;
  for (const auto& line : read_lines(p)) rows.push_back(json::parse(line));
  return rows;
}

// A row without what depends on which worker took the frame.
json without_worker_fields(json row) {
  row.erase("worker");
  json flags = json::array();
  for (const auto& f : row["flags"]) {
    if (f != "no_header") flags.push_back(f);
  }
  row["flags"] = flags;
  return row;
}

// Waits for a background stream; SIGTERM after `limit_s` (then its open series are closed as
// interrupted and the test's checks fail, rather than the test hanging).
int wait_or_stop(BackgroundCli& p, int limit_s) {
  int rc = p.wait(limit_s);
  if (rc == -1) {
    p.signal(SIGTERM);
    rc = p.wait(30);
    ADD_FAILURE() << "a stream did not end by itself within " << limit_s << " s";
  }
  return rc;
}

TEST(FanOutCli, TwoWorkersMergedAccountForEveryFrameAsOneWorkerDoes) {
  TempDir tmp;
  const std::string sim = (tmp / "sim").string();
  auto r = run_cli({"simulate", "--out", sim, "--count", "16", "--seed", "23", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // --batch 1: every frame is inferred alone, so its numbers do not depend on which frames
  // shared its batch (they would differ in the last bits otherwise).
  const std::vector<std::string> common = {"--max-series", "1", "--batch", "1", "--threads", "1",
                                           "--quiet"};
  auto stream_args = [&](const std::string& endpoint, const fs::path& out,
                         std::vector<std::string> more) {
    std::vector<std::string> a = {"stream", "--connect", endpoint, "--out", out.string()};
    a.insert(a.end(), common.begin(), common.end());
    a.insert(a.end(), more.begin(), more.end());
    return a;
  };

  // One worker takes the whole series.
  const std::string ep1 = fanout_endpoint(0);
  {
    BackgroundCli single(stream_args(ep1, tmp / "single", {}), tmp.path(), "single");
    r = run_cli({"replay", sim, "--bind", ep1, "--series-id", "4", "--consumers", "1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_EQ(wait_or_stop(single, 120), 0) << single.err();
  }
  // Two fan-out workers share it: PUSH hands each message (the header and the end included)
  // to one of them; the one without the end closes the series 1 s after its last frame.
  const std::string ep2 = fanout_endpoint(1);
  {
    const std::vector<std::string> fan = {"--fan-out", "--series-timeout", "1"};
    BackgroundCli w1(stream_args(ep2, tmp / "w1", fan), tmp.path(), "w1");
    BackgroundCli w2(stream_args(ep2, tmp / "w2", fan), tmp.path(), "w2");
    r = run_cli({"replay", sim, "--bind", ep2, "--series-id", "4", "--consumers", "2"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("sent 18 message(s), 16 image(s)"), std::string::npos) << r.out;
    ASSERT_EQ(wait_or_stop(w1, 120), 0) << w1.err();
    ASSERT_EQ(wait_or_stop(w2, 120), 0) << w2.err();
  }
  const fs::path merged = tmp / "merged";
  r = run_cli({"merge", (tmp / "w1").string(), (tmp / "w2").string(), "--out", merged.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  const json single = read_json(tmp / "single" / "series_4" / "summary.json");
  const json m = read_json(merged / "series_4" / "summary.json");
  ASSERT_EQ(single["n_frames"], 16);
  for (const char* key :
       {"n_frames", "n_kept", "n_veto", "n_uncertain", "n_unreadable", "n_untriaged"}) {
    EXPECT_EQ(m[key], single[key]) << key;
  }
  EXPECT_GT(single["n_veto"].get<int>(), 0);  // else the veto of header-less frames goes untested
  EXPECT_GT(single["n_kept"].get<int>(), 0);
  EXPECT_EQ(m["n_frames"].get<int>(), m["n_kept"].get<int>() + m["n_veto"].get<int>());
  EXPECT_EQ(m["status"], "complete");
  EXPECT_EQ(m["n_images_expected"], 16);
  EXPECT_EQ(m["n_missing"], 0);
  EXPECT_EQ(m["missing_frames"], json::array());
  EXPECT_EQ(m["header_received"], true);
  EXPECT_EQ(m["end_received"], true);
  EXPECT_EQ(m["n_workers"], 2);
  EXPECT_EQ(single["n_images_expected"], 16);
  EXPECT_EQ(single["n_no_header"], 0);
  EXPECT_NE(r.out.find("series 4 complete: 16 frame(s) from 2 worker folder(s)"), std::string::npos)
      << r.out;

  // Each worker: its share, accounted; exactly one got the header, exactly one the end.
  int n_header = 0, n_end = 0;
  int64_t n_rows_workers = 0, n_no_header = 0;
  std::map<int, int64_t> rows_per_worker;
  for (const auto& w : m["workers"]) {
    n_header += w["header_received"].get<bool>();
    n_end += w["end_received"].get<bool>();
    n_rows_workers += w["n_frames"].get<int64_t>();
    n_no_header += w["n_no_header"].get<int64_t>();
    EXPECT_EQ(w["fan_out"], true);
    EXPECT_EQ(w["closed_by"], w["end_received"].get<bool>() ? "end_message" : "timeout");
  }
  EXPECT_EQ(n_header, 1);
  EXPECT_EQ(n_end, 1);
  EXPECT_EQ(n_rows_workers, 16);
  EXPECT_EQ(m["n_no_header"], n_no_header);

  // The rows: sorted by frame, 0..15 once each, both workers took some, equal to the single
  // worker's rows but for the worker-specific fields.
  const auto rows = read_rows(merged / "series_4" / "results.jsonl");
  auto single_rows = read_rows(tmp / "single" / "series_4" / "results.jsonl");
  ASSERT_EQ(rows.size(), 16u);
  std::sort(single_rows.begin(), single_rows.end(),
            [](const json& a, const json& b) { return a["frame"] < b["frame"]; });
  int64_t no_header_rows = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i]["frame"], static_cast<int64_t>(i));
    rows_per_worker[rows[i]["worker"].get<int>()] += 1;
    for (const auto& f : rows[i]["flags"]) no_header_rows += f == "no_header";
    EXPECT_EQ(without_worker_fields(rows[i]), without_worker_fields(single_rows[i])) << "frame " << i;
  }
  EXPECT_EQ(no_header_rows, n_no_header);
  EXPECT_GT(n_no_header, 0);  // the worker without the header triaged frames
  EXPECT_EQ(rows_per_worker.size(), 2u);
  EXPECT_TRUE(fs::exists(merged / "series_4" / "report.html"));
  const json top = read_json(merged / "stream_summary.json");
  EXPECT_EQ(top["n_frames"], 16);
  EXPECT_EQ(top["merged_from"].size(), 2u);
  EXPECT_EQ(top["series_folders"], json::array({"series_4"}));
  EXPECT_FALSE(fs::exists(merged / ".partial"));
  // The refusals are tested on the library (tests/stream/merge_test.cpp); through the CLI,
  // one: the same frames twice (a worker's folder copied), exit 3, naming both files.
  fs::copy(tmp / "w1", tmp / "w1_copy", fs::copy_options::recursive);
  const std::string w1 = (tmp / "w1").string(), w1_copy = (tmp / "w1_copy").string();
  r = run_cli({"merge", w1, w1_copy, "--out", (tmp / "x").string()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("is in " + w1 + "/series_4/results.jsonl:1 and in " + w1_copy +
                       "/series_4/results.jsonl:1"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(tmp / "x"));  // nothing written by a refused merge
}

}  // namespace
}  // namespace difftriage::testing
