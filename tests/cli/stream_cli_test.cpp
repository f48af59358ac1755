// `difftriage stream` and `difftriage replay` as processes on 127.0.0.1: a replayed series ends
// the consumer at --max-series; SIGTERM drains and closes the open series as interrupted; bad
// options and unreadable inputs give their exit codes and messages.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "background_cli.h"
#include "support/test_support.h"


namespace difftriage::testing {
namespace {
namespace fs = std::filesystem;

std::string endpoint_for(int offset) {
  // A port unlikely to be in use, different per process and test.
  return "tcp://127.0.0.1:" + std::to_string(30000 + (getpid() % 2000) * 4 + offset);
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

TEST(StreamCli, ReplayedRecordedSeriesIsTriagedUntilMaxSeries) {
  const fs::path header = shared_fixtures_dir() / "eiger2_16m_roi4m_stream1_header.msgpack";
  const fs::path image = shared_fixtures_dir() / "eiger2_16m_roi4m_stream1_image000044.msgpack";
  DT_REQUIRE_SHARED(header);
  DT_REQUIRE_SHARED(image);
  TempDir tmp;
  const std::string endpoint = endpoint_for(0);
  BackgroundCli stream({"stream", "--connect", endpoint, "--out", (tmp / "live").string(),
                     "--max-series", "1", "--quiet"},
                    tmp.path());
  const CommandResult r = run_cli({"replay", header.string(), image.string(), "--bind", endpoint,
                                   "--consumers", "1", "--timeout", "60"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("sent 3 message(s), 1 image(s)"), std::string::npos) << r.out;
  ASSERT_EQ(stream.wait(), 0) << stream.err();
  EXPECT_NE(stream.out().find("1 series, 1 frame(s): 1 kept, 0 vetoed"), std::string::npos)
      << stream.out();
  const auto s = read_json(tmp / "live" / "series_2619" / "summary.json");
  EXPECT_EQ(s["status"], "complete");
  EXPECT_EQ(s["n_frames"], 1);
  EXPECT_EQ(s["n_kept"], 1);
  // The recorded header's image count: nimages 1 per trigger x ntrigger 80 (frame 43 is one).
  EXPECT_EQ(s["n_images_expected"], 80);
  EXPECT_EQ(s["end_received"], true);
  EXPECT_EQ(s["closed_by"], "end_message");
  EXPECT_TRUE(fs::exists(tmp / "live" / "run.json"));
  EXPECT_TRUE(fs::exists(tmp / "live" / "stream_summary.json"));
}

TEST(StreamCli, SigtermDrainsAndClosesTheOpenSeries) {
  const fs::path header = shared_fixtures_dir() / "eiger2_16m_roi4m_stream1_header.msgpack";
  const fs::path image = shared_fixtures_dir() / "eiger2_16m_roi4m_stream1_image000044.msgpack";
  DT_REQUIRE_SHARED(header);
  TempDir tmp;
  const std::string endpoint = endpoint_for(1);
  BackgroundCli stream({"stream", "--connect", endpoint, "--out", (tmp / "live").string(),
                     "--quiet"},
                    tmp.path());
  // The header and the image twice (frame 43 twice), no end: the series stays open.
  ASSERT_EQ(run_cli({"replay", header.string(), image.string(), image.string(), "--bind",
                     endpoint, "--consumers", "1", "--no-end"})
                .exit_code,
            0);
  const fs::path partial = tmp / "live" / "series_2619" / "results.jsonl.partial";
  for (int k = 0; k < 1200 && read_lines(partial).size() < 2; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(read_lines(partial).size(), 2u);
  stream.signal(SIGTERM);
  EXPECT_EQ(stream.wait(), 0) << stream.err();
  const auto s = read_json(tmp / "live" / "series_2619" / "summary.json");
  EXPECT_EQ(s["status"], "interrupted");
  EXPECT_EQ(s["n_frames"], 2);
  EXPECT_EQ(s["n_frames"].get<int>(), s["n_kept"].get<int>() + s["n_veto"].get<int>());
  EXPECT_FALSE(fs::exists(partial));
  EXPECT_EQ(read_lines(tmp / "live" / "series_2619" / "results.jsonl").size(), 2u);
  EXPECT_NE(stream.out().find("1 series, 2 frame(s)"), std::string::npos) << stream.out();
}

TEST(StreamCli, BadOptionsAndInputsAreReported) {
  TempDir tmp;
  auto r = run_cli({"replay", "x.tiff", "--protocol", "stream3"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--protocol"), std::string::npos) << r.err;
  r = run_cli({"stream", "--connect", "tcp://127.0.0.1:1", "--out", (tmp / "o").string(),
               "--series-timeout", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--series-timeout"), std::string::npos) << r.err;
  r = run_cli({"stream", "--connect", "nonsense://x", "--out", (tmp / "o").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("cannot connect to nonsense://x"), std::string::npos) << r.err;
  // A frame that cannot be read is reported, and nothing readable means exit 3.
  write_text(tmp / "broken.cbf", "not a frame");
  r = run_cli({"replay", (tmp / "broken.cbf").string(), "--bind", endpoint_for(2)});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("broken.cbf"), std::string::npos) << r.err;
  // A dump that is not a DECTRIS message names the file.
  write_text(tmp / "bad.msgpack", std::string("\x91\xa3" "abc", 5));
  r = run_cli({"replay", (tmp / "bad.msgpack").string(), "--bind", endpoint_for(3)});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("bad.msgpack"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace difftriage::testing
