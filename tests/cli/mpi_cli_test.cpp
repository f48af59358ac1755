// `mpirun -n 2 difftriage classify|simulate` against one process, byte for byte, and a rank that
// dies (README "Running on a cluster"). Loopback only: OpenMPI's shared-memory transport between
// the two ranks of this machine, no network. Skipped (exit 77) only when mpirun is missing or
// difftriage was built without MPI.
//
// The classify inputs (13 frames, --batch 2, so rank 0 takes frames 0-7 and rank 1 frames 8-12):
//   position 0      a_corrupt.pgm          unreadable (kept, flagged), alone in its batch
//   positions 1-5   fake_00001..5.pgm      simulated frames
//   positions 6-12  stack.cxi //0..6       one CXI stack, split between the ranks after //1
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "difftriage/io/image_io.h"
#include "difftriage/io/stack_writer.h"
#include "support/test_support.h"

namespace difftriage {
namespace {
namespace fs = std::filesystem;
using testing::read_bytes;
using testing::read_lines;
using testing::TempDir;

struct Shell {
  int exit_code = -1;
  std::string out;
};

// Runs `command` with sh, stdout and stderr together.
Shell run_shell(const std::string& command, const fs::path& log) {
  const int status = std::system((command + " >" + log.string() + " 2>&1 </dev/null").c_str());
  Shell r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_bytes(log);
  return r;
}

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

// mpirun for a loopback-only box: two ranks on this node (--oversubscribe: even on one core),
// no binding (a CI container may restrict the cpuset), shared memory between the ranks without
// the ptrace-based single copy (refused in containers), out-of-band traffic on lo only.
std::string mpirun(int n_ranks) {
  std::string cmd = std::string(DT_MPIEXEC) + " -n " + std::to_string(n_ranks) +
                    " --oversubscribe --bind-to none --mca btl self,vader"
                    " --mca btl_vader_single_copy_mechanism none --mca oob_tcp_if_include lo";
  if (geteuid() == 0) cmd += " --allow-run-as-root";
  return cmd + " ";
}

std::string cli() { return quoted(testing::cli_path()) + " "; }

bool mpi_available(std::string* why) {
  if (!DT_WITH_MPI) {
    *why = "difftriage was built without MPI (DIFFTRIAGE_WITH_MPI off or libopenmpi-dev missing)";
    return false;
  }
  if (::access(DT_MPIEXEC, X_OK) != 0) {
    *why = std::string("mpirun not found at ") + DT_MPIEXEC + " (Debian: openmpi-bin)";
    return false;
  }
  return true;
}

#define DT_REQUIRE_MPI()                              \
  do {                                                \
    std::string why;                                  \
    if (!mpi_available(&why)) GTEST_SKIP() << why;    \
  } while (0)

class MpiCli : public ::testing::Test {
 protected:
  // The classify inputs (see the top of the file), made once for the suite.
  static void SetUpTestSuite() {
    std::string why;
    if (!mpi_available(&why)) return;
    dir_ = new TempDir();
    const fs::path in = *dir_ / "in";
    const auto sim = testing::run_cli({"simulate", "--out", in.string(), "--count", "5", "--seed",
                                       "11", "--no-sidecar", "--quiet"});
    ASSERT_EQ(sim.exit_code, 0) << sim.err;
    fs::remove(in / "run.json");
    fs::remove(in / "multiclasses.txt");
    fs::remove(in / "categories1.txt");
    io::FrameStackWriter stack(in / "stack.cxi");
    for (int k = 0; k < 7; ++k) {
      const std::string name = "fake_0000" + std::to_string(1 + (k * 3) % 5) + ".pgm";
      stack.append(io::read_image(in / name), {in / name, 0});
    }
    stack.finish();
    testing::write_text(in / "a_corrupt.pgm", "P5\n512 512\n255\nnot the pixels");
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static fs::path in() { return *dir_ / "in"; }
  static std::string classify_args(const fs::path& out) {
    return "classify " + quoted(in()) + " --out " + quoted(out) + " --model " +
           quoted(testing::source_dir() / "models" / "default") +
           " --batch 2 --threads 1 --quiet";
  }
  static TempDir* dir_;
};
TempDir* MpiCli::dir_ = nullptr;

nlohmann::json read_json(const fs::path& p) { return nlohmann::json::parse(read_bytes(p)); }

TEST_F(MpiCli, ClassifyOnTwoRanksGivesTheBytesOfOneProcess) {
  DT_REQUIRE_MPI();
  TempDir t;
  const auto one = run_shell(cli() + classify_args(t / "one") + " --hits-cxi " +
                                 quoted(t / "one.cxi"),
                             t / "one.log");
  ASSERT_EQ(one.exit_code, 0) << one.out;
  const auto two = run_shell(mpirun(2) + cli() + classify_args(t / "two") + " --hits-cxi " +
                                 quoted(t / "two.cxi"),
                             t / "two.log");
  ASSERT_EQ(two.exit_code, 0) << two.out;

  // The inputs are what the test says: 13 rows, the corrupt frame first, the stack split.
  const auto rows = read_lines(t / "one" / "results.jsonl");
  ASSERT_EQ(rows.size(), 13u);
  EXPECT_FALSE(nlohmann::json::parse(rows[0])["error"].is_null());
  EXPECT_EQ(nlohmann::json::parse(rows[8])["frame"], 2);  // rank 1's first frame: stack //2
  EXPECT_NE(nlohmann::json::parse(rows[8])["path"].get<std::string>().find("stack.cxi"),
            std::string::npos);

  EXPECT_EQ(read_bytes(t / "one" / "results.jsonl"), read_bytes(t / "two" / "results.jsonl"));
  EXPECT_EQ(read_bytes(t / "one" / "hits.lst"), read_bytes(t / "two" / "hits.lst"));
  EXPECT_FALSE(read_bytes(t / "two" / "hits.lst").empty());
  const auto s1 = read_json(t / "one" / "summary.json");
  const auto s2 = read_json(t / "two" / "summary.json");
  for (const char* key : {"n_frames", "n_kept", "n_veto", "n_uncertain", "n_unreadable",
                          "n_untriaged", "hit_rate", "not_in_event_list", "skipped_inputs",
                          "model", "model_info", "settings"}) {
    EXPECT_EQ(s1[key], s2[key]) << key;
  }
  EXPECT_EQ(s2["n_unreadable"], 1);
  EXPECT_EQ(s2["hits_cxi"]["n_written"], s1["hits_cxi"]["n_written"]);
  EXPECT_EQ(s2["hits_cxi"]["n_unreadable"], 1);
  EXPECT_TRUE(fs::is_regular_file(t / "two.cxi"));
  // Per-rank figures; none in a single-process summary.
  EXPECT_FALSE(s1.contains("world_size"));
  EXPECT_FALSE(s1.contains("ranks"));
  EXPECT_EQ(s2["world_size"], 2);
  ASSERT_EQ(s2["ranks"].size(), 2u);
  EXPECT_EQ(s2["ranks"][0]["rank"], 0);
  EXPECT_EQ(s2["ranks"][0]["first_frame"], 0);
  EXPECT_EQ(s2["ranks"][0]["n_frames"], 8);
  EXPECT_EQ(s2["ranks"][1]["first_frame"], 8);
  EXPECT_EQ(s2["ranks"][1]["n_frames"], 5);
  // The whole set, and nothing of the ranks' parts left.
  EXPECT_TRUE(fs::is_regular_file(t / "two" / "report.html"));
  EXPECT_EQ(read_json(t / "two" / "run.json")["options"]["mpi_world_size"], 2);
  EXPECT_FALSE(fs::exists(t / "two" / ".partial"));
}

TEST_F(MpiCli, SimulateOnTwoRanksGivesTheBytesOfOneProcess) {
  DT_REQUIRE_MPI();
  TempDir t;
  const std::string args =
      "simulate --count 5 --seed 4 --output-size 64 --full-size 128 --full-frame --quiet --out ";
  const auto one = run_shell(cli() + args + quoted(t / "one"), t / "one.log");
  ASSERT_EQ(one.exit_code, 0) << one.out;
  const auto two = run_shell(mpirun(2) + cli() + args + quoted(t / "two"), t / "two.log");
  ASSERT_EQ(two.exit_code, 0) << two.out;
  std::map<std::string, std::string> files1, files2;
  for (const auto& e : fs::directory_iterator(t / "one")) {
    files1[e.path().filename().string()] = read_bytes(e.path());
  }
  for (const auto& e : fs::directory_iterator(t / "two")) {
    files2[e.path().filename().string()] = read_bytes(e.path());
  }
  // 5 frames x (pgm, tif, json) + 2 label files + run.json
  ASSERT_EQ(files1.size(), 18u);
  ASSERT_EQ(files2.size(), files1.size());
  for (const auto& [name, bytes] : files1) {
    if (name == "run.json") continue;  // provenance: time, folder, threads, mpi_world_size
    EXPECT_EQ(files2[name], bytes) << name;
  }
  EXPECT_EQ(read_lines(t / "two" / "multiclasses.txt").size(), 5u);
  EXPECT_EQ(read_json(t / "two" / "run.json")["options"]["mpi_world_size"], 2);
}

TEST_F(MpiCli, KilledRankFailsTheRunAndKeepsItsRows) {
  DT_REQUIRE_MPI();
  TempDir t;
  // Rank 1 flushes its first 2 rows (a batch), then dies by SIGKILL.
  const auto r = run_shell("DIFFTRIAGE_TEST_RANK_FAILURE=1:2:kill " + mpirun(2) + cli() +
                               classify_args(t / "out"),
                           t / "log");
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("rank 1"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(t / "out" / "summary.json"));  // never a set that claims completion
  EXPECT_FALSE(fs::exists(t / "out" / "results.jsonl"));
  const auto rows = read_lines(t / "out" / ".partial" / "rank-0001" / ".partial" /
                               "results.jsonl");
  ASSERT_EQ(rows.size(), 2u) << r.out;
  EXPECT_EQ(nlohmann::json::parse(rows[0])["frame"], 2);  // stack //2, input frame 8
}

TEST_F(MpiCli, RankErrorEndsTheJobNamingTheRank) {
  DT_REQUIRE_MPI();
  TempDir t;
  const auto r = run_shell("DIFFTRIAGE_TEST_RANK_FAILURE=1:2:error " + mpirun(2) + cli() +
                               classify_args(t / "out"),
                           t / "log");
  EXPECT_EQ(r.exit_code, 3) << r.out;  // an IoError: data/IO
  EXPECT_NE(r.out.find("difftriage: rank 1 of 2"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(t / "out" / "summary.json"));
  EXPECT_EQ(read_lines(t / "out" / ".partial" / "rank-0001" / ".partial" / "results.jsonl")
                .size(),
            2u);
}

// More ranks than --batch windows: rank 1 gets no frame, and its empty part merges.
TEST_F(MpiCli, ARankWithoutFramesStillMakesOneSet) {
  DT_REQUIRE_MPI();
  TempDir t;
  const auto r = run_shell(mpirun(2) + cli() + "classify " + quoted(in() / "fake_00002.pgm") +
                               " --out " + quoted(t / "out") + " --model " +
                               quoted(testing::source_dir() / "models" / "default") +
                               " --quiet",
                           t / "log");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(read_lines(t / "out" / "results.jsonl").size(), 1u);
  const auto s = read_json(t / "out" / "summary.json");
  EXPECT_EQ(s["n_frames"], 1);
  ASSERT_EQ(s["ranks"].size(), 2u);
  EXPECT_EQ(s["ranks"][0]["n_frames"], 1);
  EXPECT_EQ(s["ranks"][1]["n_frames"], 0);
}

TEST_F(MpiCli, ResumeIsRefusedUnderMpirun) {
  DT_REQUIRE_MPI();
  TempDir t;
  const auto r = run_shell(mpirun(2) + cli() + classify_args(t / "out") + " --resume",
                           t / "log");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("--resume does not run under mpirun"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace difftriage
