// Data-parallel training (`difftriage train --distributed`, c10d's ProcessGroupGloo) with ranks
// started as separate processes on 127.0.0.1: 2 ranks × batch B against 1 rank accumulating the
// same two micro-batches per step, resume, mpirun, bad launcher variables, and ranks that die or
// hang. Tiny simulated data, fixed seeds, every wait bounded; assertions on values, not timings.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "difftriage/core/error.h"
#include "difftriage/models/checkpoint.h"
#include "difftriage/simulate/generate_dataset.h"
#include "difftriage/train/options.h"
#include "difftriage/train/train.h"
#include "support/test_support.h"

namespace difftriage {
namespace {
namespace fs = std::filesystem;

// The equality the README states: every weight of 2 ranks × batch B within this of 1 rank with
// --grad-accumulation 2 × batch B (float32; the sums differ only in rounding, and with a power
// of two micro-batches per step they are the same bits: observed difference 0).
constexpr double kWeightTolerance = 1e-5;

// A process of the CLI with its own environment (the launcher's variables) and output files.
class Rank {
 public:
  Rank(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
       const fs::path& dir, const std::string& stem)
      : out_(dir / (stem + ".out")), err_(dir / (stem + ".err")) {
    const std::string exe = testing::cli_path().string();
    std::vector<std::string> words{exe};
    words.insert(words.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    // This process's environment (OPENBLAS_CORETYPE and the like change the kernels, so the
    // ranks must see what mpirun's see) without any launcher's variables, and then `env`.
    std::vector<std::string> env_words;
    for (char** e = environ; *e; ++e) {
      const std::string word = *e;
      const std::string name = word.substr(0, word.find('='));
      const bool launcher = name == "RANK" || name == "WORLD_SIZE" || name == "MASTER_ADDR" ||
                            name == "MASTER_PORT" || name == "GLOO_SOCKET_IFNAME" ||
                            name.rfind("OMPI_", 0) == 0 || name.rfind("PMI_", 0) == 0;
      if (!launcher) env_words.push_back(word);
    }
    for (const auto& [k, v] : env) env_words.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& w : env_words) envp.push_back(w.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    const std::string out = out_.string(), err = err_.string();
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EXPECT_EQ(posix_spawn(&pid_, exe.c_str(), &actions, nullptr, argv.data(), envp.data()), 0);
    posix_spawn_file_actions_destroy(&actions);
  }
  Rank(const Rank&) = delete;
  Rank& operator=(const Rank&) = delete;
  ~Rank() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  void signal(int s) const { kill(pid_, s); }
  /// Exit status, waiting at most `limit_s` seconds (then -1; the destructor kills it).
  int wait(double limit_s = 90) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(limit_s);
    while (std::chrono::steady_clock::now() < until) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }
  /// Waits (at most `limit_s`) until stderr contains `text`.
  bool wait_for_err(const std::string& text, double limit_s = 60) const {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(limit_s);
    while (std::chrono::steady_clock::now() < until) {
      if (err().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  std::string err() const { return testing::read_bytes(err_); }
  std::string out() const { return testing::read_bytes(out_); }

 private:
  fs::path out_, err_;
  pid_t pid_ = -1;
};

// 20 simulated 128² frames with labels (made once).
struct Data {
  testing::TempDir tmp;
  fs::path sim;
  Data() {
    sim = tmp / "sim";
    simulate::GenerateDatasetOptions options;
    options.out_dir = sim;
    options.n_frames = 20;
    options.simulate.scene.output_size = 128;
    options.simulate.scene.full_size = 256;
    options.simulate.mix = simulate::balanced_mix();
    options.simulate.seed = 21;
    (void)simulate::generate_dataset(options);
  }
};
const fs::path& data() {
  static Data d;
  return d.sim;
}

// A small compact network on 64² inputs, batch 4: with a quarter of the 20 frames held out for
// validation the epoch's steps hold 8, 8 and a short last one, so the last step's micro-batch
// count differs from the others.
std::vector<std::string> train_args(const fs::path& out, int epochs) {
  return {"train", "--data", data().string(), "--out", out.string(), "--input-size", "64",
          "--widths", "8,16,32", "--batch", "4", "--epochs", std::to_string(epochs),
          "--val-fraction", "0.25", "--seed", "5", "--threads", "1", "--workers", "1",
          "--no-plots", "--quiet"};
}

std::vector<std::string> with(std::vector<std::string> args,
                              const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// `args` with the value of `flag` replaced.
std::vector<std::string> replaced(std::vector<std::string> args, const std::string& flag,
                                  const std::string& value) {
  const auto it = std::find(args.begin(), args.end(), flag);
  EXPECT_TRUE(it != args.end() && it + 1 != args.end()) << flag;
  *(it + 1) = value;
  return args;
}

// Each run its own free port (testing::free_tcp_port), so that tests run in parallel do not meet.
std::map<std::string, std::string> rank_env(int rank, int world, int port) {
  return {{"RANK", std::to_string(rank)},
          {"WORLD_SIZE", std::to_string(world)},
          {"MASTER_ADDR", "127.0.0.1"},
          {"MASTER_PORT", std::to_string(port)}};
}

// Runs `args` on 2 ranks (torchrun-style variables) and expects both to succeed.
void run_two_ranks(const std::vector<std::string>& args, int port, const fs::path& dir) {
  const auto a = with(args, {"--distributed", "--dist-timeout", "30"});
  Rank r0(a, rank_env(0, 2, port), dir, "rank0");
  Rank r1(a, rank_env(1, 2, port), dir, "rank1");
  const int c1 = r1.wait();
  const int c0 = r0.wait();
  ASSERT_EQ(c0, 0) << r0.err();
  ASSERT_EQ(c1, 0) << r1.err();
  // Rank 0 reports the result; rank 1 prints no result or progress (c10d may log warnings).
  EXPECT_NE(r0.out().find("best epoch"), std::string::npos) << r0.out();
  EXPECT_EQ(r1.out(), "");
  EXPECT_EQ(r1.err().find("epoch"), std::string::npos) << r1.err();
}

std::map<std::string, torch::Tensor> parameters_of(const fs::path& checkpoint) {
  auto loaded = models::load_checkpoint(checkpoint);
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : loaded.model->named_parameters()) out[p.key()] = p.value().clone();
  return out;
}
std::map<std::string, torch::Tensor> buffers_of(const fs::path& checkpoint) {
  auto loaded = models::load_checkpoint(checkpoint);
  std::map<std::string, torch::Tensor> out;
  for (const auto& b : loaded.model->named_buffers()) out[b.key()] = b.value().clone();
  return out;
}

double max_difference(const std::map<std::string, torch::Tensor>& a,
                      const std::map<std::string, torch::Tensor>& b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0;
  for (const auto& [name, t] : a) {
    d = std::max(d, (t.to(torch::kFloat64) - b.at(name).to(torch::kFloat64))
                        .abs()
                        .max()
                        .item<double>());
  }
  return d;
}

nlohmann::json json_of(const fs::path& file) {
  return nlohmann::json::parse(testing::read_bytes(file));
}

TEST(DistributedTrain, TwoRanksTrainWhatOneRankAccumulatingTheirMicroBatchesTrains) {
  testing::TempDir tmp;
  {
    // One rank, two micro-batches of 4 per step, each through BatchNorm on its own.
    Rank acc(with(train_args(tmp / "acc", 2), {"--grad-accumulation", "2"}), {}, tmp.path(),
             "acc");
    // Control: one rank, batch 8 (BatchNorm over all 8 at once): must differ, or the
    // comparison below could not fail.
    Rank joint(replaced(train_args(tmp / "joint", 2), "--batch", "8"), {}, tmp.path(), "joint");
    // Two ranks × batch 4 over the same frames.
    run_two_ranks(train_args(tmp / "ddp", 2), testing::free_tcp_port(), tmp.path());
    ASSERT_EQ(acc.wait(), 0) << acc.err();
    ASSERT_EQ(joint.wait(), 0) << joint.err();
  }

  const auto acc = parameters_of(tmp / "acc" / "last");
  const auto ddp = parameters_of(tmp / "ddp" / "last");
  EXPECT_LE(max_difference(acc, ddp), kWeightTolerance);
  EXPECT_GT(max_difference(acc, parameters_of(tmp / "joint" / "last")), 100 * kWeightTolerance);
  // The ranks' averaged BatchNorm statistics are finite and not the initial ones.
  for (const auto& [name, t] : buffers_of(tmp / "ddp" / "last")) {
    EXPECT_TRUE(torch::isfinite(t).all().item<bool>()) << name;
    if (name.find("running_var") != std::string::npos) {
      EXPECT_FALSE(torch::equal(t, torch::ones_like(t))) << name;
    }
  }
  // Every training frame is counted once per epoch over the ranks, and the epochs' training
  // losses agree (sums of the same micro-batch losses in another order).
  const auto acc_state = json_of(tmp / "acc" / "last" / "state.json");
  const auto ddp_state = json_of(tmp / "ddp" / "last" / "state.json");
  const auto run = json_of(tmp / "ddp" / "run.json");
  const int64_t n_train = run["options"]["result"]["n_train"].get<int64_t>();
  EXPECT_EQ(n_train, 15);  // 20 frames, a quarter held out
  ASSERT_EQ(ddp_state["history"].size(), 2u);
  for (size_t e = 0; e < 2; ++e) {
    EXPECT_EQ(ddp_state["history"][e]["train_frames"].get<int64_t>(), n_train);
    EXPECT_NEAR(ddp_state["history"][e]["train_loss"].get<double>(),
                acc_state["history"][e]["train_loss"].get<double>(), 1e-6);
  }
  // Rank 0 wrote the run folder, with how the run was formed.
  const auto meta = json_of(tmp / "ddp" / "model" / "model.json");
  EXPECT_EQ(meta["provenance"]["world_size"], 2);
  EXPECT_EQ(meta["provenance"]["dist_backend"], "gloo");
  EXPECT_EQ(run["options"]["distributed"]["world_size"], 2);
  EXPECT_EQ(json_of(tmp / "acc" / "model" / "model.json")["provenance"]["grad_accumulation"], 2);

  // Resume under --distributed: 1 epoch, then resumed to 2 on both ranks (each loads
  // ddp_resumed/last) = the uninterrupted 2-epoch run, weights and statistics bit for bit.
  run_two_ranks(train_args(tmp / "resumed", 1), testing::free_tcp_port(), tmp.path());
  run_two_ranks(with(train_args(tmp / "resumed", 2), {"--resume"}), testing::free_tcp_port(),
                tmp.path());
  const auto x = parameters_of(tmp / "resumed" / "last");
  for (const auto& [name, t] : ddp) EXPECT_TRUE(torch::equal(t, x.at(name))) << name;
  const auto bx = buffers_of(tmp / "resumed" / "last");
  for (const auto& [name, t] : buffers_of(tmp / "ddp" / "last")) {
    EXPECT_TRUE(torch::equal(t, bx.at(name))) << name;
  }
  EXPECT_EQ(json_of(tmp / "resumed" / "last" / "state.json")["history"].size(), 2u);
}

TEST(DistributedTrain, MpirunRanksTrainWhatTorchrunStyleRanksTrain) {
  const char* path = std::getenv("PATH");
  std::string mpirun;
  std::string dirs = path ? path : "";
  for (size_t b = 0; b <= dirs.size();) {
    const size_t e = std::min(dirs.find(':', b), dirs.size());
    const fs::path p = fs::path(dirs.substr(b, e - b)) / "mpirun";
    if (e > b && fs::exists(p)) {
      mpirun = p.string();
      break;
    }
    b = e + 1;
  }
  if (mpirun.empty()) GTEST_SKIP() << "mpirun not found on PATH (Debian: openmpi-bin)";
  testing::TempDir tmp;
  run_two_ranks(train_args(tmp / "env", 1), testing::free_tcp_port(), tmp.path());
  // OMPI_COMM_WORLD_RANK/SIZE give the ranks; MASTER_ADDR defaults to 127.0.0.1.
  const std::string port = std::to_string(testing::free_tcp_port());
  std::vector<std::string> args = {"-n", "2", "--allow-run-as-root", "--oversubscribe",
                                   "-x", "MASTER_PORT=" + port, testing::cli_path().string()};
  args = with(args, with(train_args(tmp / "mpi", 1), {"--distributed", "--dist-timeout", "30"}));
  // mpirun is not the CLI: start it through the same spawn helper with its path as argv[0].
  std::vector<std::string> words{mpirun};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  ASSERT_EQ(posix_spawn(&pid, mpirun.c_str(), nullptr, nullptr, argv.data(), environ), 0);
  int status = -1;
  for (int k = 0; k < 90 * 50; ++k) {
    if (waitpid(pid, &status, WNOHANG) == pid) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "mpirun failed or timed out";
  const auto a = parameters_of(tmp / "env" / "last");
  const auto b = parameters_of(tmp / "mpi" / "last");
  for (const auto& [name, t] : a) EXPECT_TRUE(torch::equal(t, b.at(name))) << name;
}

TEST(DistributedTrain, BadLauncherVariablesAreClearErrors) {
  testing::TempDir tmp;
  const auto args = with(train_args(tmp / "bad", 1), {"--distributed"});
  struct Case {
    std::map<std::string, std::string> env;
    std::string says;
  };
  // (Each variable's checks: LibraryReadsTheLauncherVariablesGiven; here, that the CLI
  // reports them with exit code 2 before writing anything.)
  const std::vector<Case> cases = {
      {{}, "set RANK, WORLD_SIZE"},
      {{{"RANK", "x"}, {"WORLD_SIZE", "2"}}, "RANK='x' is not a non-negative integer"},
      {{{"OMPI_COMM_WORLD_RANK", "1"}}, "OMPI_COMM_WORLD_SIZE is not set"},
  };
  for (const auto& c : cases) {
    Rank r(args, c.env, tmp.path(), "bad");
    EXPECT_EQ(r.wait(30), 2) << c.says;
    EXPECT_NE(r.err().find(c.says), std::string::npos) << r.err();
  }
  EXPECT_FALSE(fs::exists(tmp / "bad" / "run.json"));
  // NCCL is refused where this LibTorch lacks it (Debian's is CPU-only).
  if (!train::dist_backend_available(train::DistBackend::kNccl)) {
    Rank r(with(args, {"--dist-backend", "nccl"}), rank_env(0, 1, testing::free_tcp_port()), tmp.path(), "nccl");
    EXPECT_EQ(r.wait(30), 2);
    EXPECT_NE(r.err().find("--dist-backend nccl: this LibTorch build has no NCCL"),
              std::string::npos)
        << r.err();
  }
  {
    // Ranks given different flags stop when they meet, before training (exit 2 on both).
    const int port = testing::free_tcp_port();
    Rank r0(args, rank_env(0, 2, port), tmp.path(), "differ0");
    Rank r1(replaced(args, "--batch", "5"), rank_env(1, 2, port), tmp.path(), "differ1");
    EXPECT_EQ(r0.wait(60), 2);
    EXPECT_EQ(r1.wait(60), 2);
    EXPECT_NE(r0.err().find("the ranks disagree on the --batch (from 4 to 5)"), std::string::npos)
        << r0.err();
  }
  // The flags of the launcher's variables only make sense with --distributed.
  const auto r = testing::run_cli(with(train_args(tmp / "bad", 1), {"--dist-timeout", "5"}));
  EXPECT_EQ(r.exit_code, 2) << r.err;
}

TEST(DistributedTrain, LibraryReadsTheLauncherVariablesGiven) {
  std::map<std::string, std::string> env = {{"OMPI_COMM_WORLD_RANK", "3"},
                                            {"OMPI_COMM_WORLD_SIZE", "4"}};
  auto lookup = [&](const std::string& n) -> std::optional<std::string> {
    const auto it = env.find(n);
    return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  auto d = train::distributed_from_environment(lookup);
  EXPECT_TRUE(d.enabled);
  EXPECT_EQ(d.rank, 3);
  EXPECT_EQ(d.world_size, 4);
  EXPECT_EQ(d.master_addr, "127.0.0.1");
  EXPECT_EQ(d.master_port, train::kDefaultMasterPort);
  env = {{"PMI_RANK", "0"}, {"PMI_SIZE", "3"}, {"MASTER_ADDR", "10.0.0.1"}};
  d = train::distributed_from_environment(lookup);
  EXPECT_EQ(d.world_size, 3);
  EXPECT_EQ(d.master_addr, "10.0.0.1");
  // torchrun-style variables win over mpirun's.
  env = {{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "node7"}, {"MASTER_PORT", "4000"},
         {"OMPI_COMM_WORLD_RANK", "0"}, {"OMPI_COMM_WORLD_SIZE", "8"},
         {"GLOO_SOCKET_IFNAME", "ib0"}};
  d = train::distributed_from_environment(lookup);
  EXPECT_EQ(d.rank, 1);
  EXPECT_EQ(d.world_size, 2);
  EXPECT_EQ(d.master_addr, "node7");
  EXPECT_EQ(d.master_port, 4000);
  EXPECT_EQ(d.interface, "ib0");
  // Each missing or malformed variable is named.
  const std::vector<std::pair<std::map<std::string, std::string>, std::string>> bad = {
      {{}, "set RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT"},
      {{{"RANK", "x"}, {"WORLD_SIZE", "2"}}, "RANK='x' is not a non-negative integer"},
      {{{"RANK", "1"}, {"WORLD_SIZE", " 2"}}, "WORLD_SIZE=' 2' is not a non-negative integer"},
      {{{"RANK", "-1"}, {"WORLD_SIZE", "2"}}, "RANK='-1' is not a non-negative integer"},
      {{{"RANK", "0"}}, "WORLD_SIZE is not set"},
      {{{"WORLD_SIZE", "2"}}, "RANK is not set"},
      {{{"RANK", "0"}, {"WORLD_SIZE", "0"}}, "WORLD_SIZE=0 is out of range"},
      {{{"RANK", "2"}, {"WORLD_SIZE", "2"}}, "RANK=2 is not below WORLD_SIZE=2"},
      {{{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "29750"}}, "MASTER_ADDR"},
      {{{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}}, "MASTER_PORT"},
      {{{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "70000"}},
       "MASTER_PORT=70000 is out of range 1..65535"},
      {{{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "a b"}, {"MASTER_PORT", "1"}},
       "MASTER_ADDR='a b'"},
      {{{"OMPI_COMM_WORLD_RANK", "1"}}, "OMPI_COMM_WORLD_SIZE is not set"},
      {{{"PMI_SIZE", "2"}}, "PMI_RANK is not set"},
      {{{"OMPI_COMM_WORLD_RANK", "1"}, {"OMPI_COMM_WORLD_SIZE", "2"}, {"MASTER_PORT", "0"}},
       "MASTER_PORT=0 is out of range"},
  };
  for (const auto& [vars, says] : bad) {
    env = vars;
    try {
      (void)train::distributed_from_environment(lookup);
      ADD_FAILURE() << "accepted: " << says;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  }
  // Options: accumulation and the timeout are checked.
  train::TrainOptions o;
  o.data = {"x"};
  o.out = "y";
  o.grad_accumulation = 0;
  EXPECT_THROW(train::validate(o), ConfigError);
  o.grad_accumulation = 2;
  o.distributed.enabled = true;
  o.distributed.timeout_s = 0;
  EXPECT_THROW(train::validate(o), ConfigError);
}

TEST(DistributedTrain, ARankThatDiesOrHangsFailsTheOthersWithinTheTimeout) {
  testing::TempDir tmp;
  // Long enough never to finish here; the progress lines show training has begun.
  auto args = train_args(tmp / "long", 100000);
  args.erase(std::find(args.begin(), args.end(), "--quiet"));
  args = with(args, {"--distributed", "--dist-timeout", "2"});
  {
    // Killed: its sockets close and rank 0 fails at once (exit 3, naming what failed).
    const int port = testing::free_tcp_port();
    Rank r0(args, rank_env(0, 2, port), tmp.path(), "die0");
    Rank r1(args, rank_env(1, 2, port), tmp.path(), "die1");
    ASSERT_TRUE(r0.wait_for_err("epoch 1/100000")) << r0.err();
    r1.signal(SIGKILL);
    EXPECT_EQ(r0.wait(30), 3);
    EXPECT_NE(r0.err().find("another rank has died, hangs or is unreachable"), std::string::npos)
        << r0.err();
  }
  {
    // Stopped (a hung rank): rank 0 fails after --dist-timeout.
    const int port = testing::free_tcp_port();
    Rank r0(args, rank_env(0, 2, port), tmp.path(), "hang0");
    Rank r1(args, rank_env(1, 2, port), tmp.path(), "hang1");
    ASSERT_TRUE(r0.wait_for_err("epoch 1/100000")) << r0.err();
    r1.signal(SIGSTOP);
    EXPECT_EQ(r0.wait(30), 3);
    EXPECT_NE(r0.err().find("Timed out"), std::string::npos) << r0.err();
    r1.signal(SIGKILL);
  }
  {
    // A rank that never comes: the rendezvous gives up after --dist-timeout.
    Rank r0(replaced(args, "--dist-timeout", "1"), rank_env(0, 2, testing::free_tcp_port()), tmp.path(), "alone");
    EXPECT_EQ(r0.wait(30), 3);
    EXPECT_NE(r0.err().find("not every rank joined within --dist-timeout (1 s)"),
              std::string::npos)
        << r0.err();
  }
}

}  // namespace
}  // namespace difftriage
