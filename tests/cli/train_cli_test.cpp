// Smoke test of `difftriage train` and `difftriage evaluate`: simulate → train one epoch on
// 64² inputs → evaluate; exit codes for bad flags (2) and a missing model (3).
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace difftriage {
namespace {
namespace fs = std::filesystem;
using testing::run_cli;
using testing::TempDir;

TEST(TrainCli, SimulateTrainEvaluate) {
  TempDir tmp;
  const std::string data = (tmp / "sim").string(), run = (tmp / "run").string(),
                    eval = (tmp / "eval").string();
  auto r = run_cli({"simulate", "--out", data, "--count", "16", "--seed", "8", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_cli({"train", "--data", data, "--out", run, "--epochs", "1", "--input-size", "64",
               "--batch", "8", "--val-fraction", "0.25", "--seed", "3", "--threads", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("epoch 1/1"), std::string::npos) << r.err;
  for (const char* f : {"model/model.pt", "model/model.json", "last/optimizer.pt",
                        "last/state.json", "metrics.csv", "run.json", "curves_loss.png"}) {
    EXPECT_TRUE(fs::exists(fs::path(run) / f)) << f;
  }
  const auto meta = nlohmann::json::parse(testing::read_bytes(fs::path(run) / "model/model.json"));
  EXPECT_EQ(meta["preprocess"]["input_size"], 64);
  EXPECT_NE(meta["provenance"]["command"].get<std::string>().find("--epochs 1"),
            std::string::npos);

  r = run_cli({"evaluate", "--model", run + "/model", "--data", data, "--out", eval});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("chance"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("veto"), std::string::npos) << r.out;
  for (const char* f : {"metrics.json", "predictions.jsonl", "run.json", "roc_blank.png",
                        "confusion_quality.png", "mosaic1_scatter.png"}) {
    EXPECT_TRUE(fs::exists(fs::path(eval) / f)) << f;
  }
  const auto metrics = nlohmann::json::parse(testing::read_bytes(fs::path(eval) / "metrics.json"));
  EXPECT_EQ(metrics["n_frames"], 16);
  EXPECT_TRUE(metrics["labels"].contains("blank"));
  EXPECT_TRUE(metrics["quality"].is_object());
  // The classical baselines are evaluated on the same 16 frames and reported beside the model.
  EXPECT_NE(r.out.find("classical baselines"), std::string::npos) << r.out;
  ASSERT_TRUE(metrics.contains("classical_baseline"));
  EXPECT_EQ(metrics["classical_baseline"]["n_scored"], 16);
  std::ifstream jsonl(fs::path(eval) / "predictions.jsonl");
  std::string line;
  int n = 0;
  while (std::getline(jsonl, line)) ++n;
  EXPECT_EQ(n, 16);

  // calibrate: 16 frames cannot support keeping every crystal frame (issue 18: a 20-frame set
  // wrote a hit threshold of 1.998): refused, exit 3, saying why and writing nothing.
  const std::string calibrated = (tmp / "calibrated").string();
  r = run_cli({"calibrate", "--model", run + "/model", "--data", data, "--out", calibrated});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("crystal frames"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(fs::path(calibrated) / "model.json"));
  // With the size rule lowered (a smoke test), the veto point on these frames goes into a copy
  // of the model; the weights stay.
  r = run_cli({"calibrate", "--model", run + "/model", "--data", data, "--out", calibrated,
               "--min-crystal-frames", "1", "--band", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("veto point"), std::string::npos) << r.out;
  EXPECT_EQ(testing::read_bytes(fs::path(calibrated) / "model.pt"),
            testing::read_bytes(fs::path(run) / "model/model.pt"));
  const auto cal = nlohmann::json::parse(testing::read_bytes(fs::path(calibrated) / "model.json"));
  ASSERT_TRUE(cal["thresholds"].contains("hit"));
  const auto& record = cal["provenance"]["veto_calibration"];
  EXPECT_EQ(record["crystal"]["vetoed"], 0);  // --keep-fraction 1 (the default) keeps them all
  EXPECT_EQ(record["crystal"]["n"].get<int>() + record["blank"]["n"].get<int>(), 16);
  EXPECT_DOUBLE_EQ(cal["uncertainty_band"].get<double>(), 0.0);  // --band 0
  // The familiarity of 16 frames: 14 principal directions (frames − 2), 16 frames.
  EXPECT_EQ(cal["familiarity"]["components"].size(), 14u);
  EXPECT_EQ(cal["familiarity"]["n_frames"], 16);
  EXPECT_NE(r.out.find("familiarity: 16 frame(s), 14 components"), std::string::npos) << r.out;
  EXPECT_LE(cal["thresholds"]["hit"].get<double>(), 1.0);
  EXPECT_NE(record["source"]["command"].get<std::string>().find("--data " + data),
            std::string::npos);
  r = run_cli({"calibrate", "--model", run + "/model", "--data", data, "--out", calibrated,
               "--keep-fraction", "2"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_cli({"calibrate", "--model", run + "/model", "--data", data, "--out", calibrated,
               "--band", "-0.5"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_cli({"calibrate", "--model", (tmp / "nothing").string(), "--data", data, "--out",
               calibrated});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  // An unreadable frame is named and left out; the model is still written, the exit code is 3.
  { std::ofstream(fs::path(data) / "fake_00003.pgm", std::ios::trunc) << "P5\n"; }
  const std::string partial = (tmp / "partial").string();
  r = run_cli({"calibrate", "--model", run + "/model", "--data", data, "--out", partial,
               "--min-crystal-frames", "1", "--band", "0"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("fake_00003.pgm"), std::string::npos) << r.err;
  const auto part = nlohmann::json::parse(testing::read_bytes(fs::path(partial) / "model.json"));
  EXPECT_EQ(part["provenance"]["veto_calibration"]["skipped"], 1);
}

// --resume through the CLI: 1 epoch, then --resume --epochs 2, gives the same per-epoch losses
// (metrics.csv) and the same weights as 2 epochs at once; resuming a finished run trains
// nothing; --resume where there is no run is a usage error (exit 2).
TEST(TrainCli, ResumeThroughTheCliReproducesTheUninterruptedRun) {
  TempDir tmp;
  const std::string data = (tmp / "sim").string();
  auto r = run_cli({"simulate", "--out", data, "--count", "12", "--seed", "6", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto train = [&](const std::string& run, const std::string& epochs, bool resume) {
    std::vector<std::string> args = {"train", "--data", data, "--out", run, "--epochs", epochs,
                                     "--input-size", "64", "--batch", "4", "--val-fraction",
                                     "0.25", "--seed", "5", "--threads", "1"};
    if (resume) args.push_back("--resume");
    return run_cli(args);
  };
  const std::string full = (tmp / "full").string(), part = (tmp / "part").string();
  r = train(full, "2", false);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = train(part, "1", false);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = train(part, "2", true);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("epoch 2/2"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("epoch 1/2"), std::string::npos) << "resume re-ran epoch 1: " << r.err;
  // metrics.csv without its last two columns (seconds, train_frames_per_s: timings).
  const auto losses = [](const fs::path& csv) {
    std::vector<std::string> rows;
    for (std::string line : testing::read_lines(csv)) {
      for (int k = 0; k < 2; ++k) line = line.substr(0, line.rfind(','));
      rows.push_back(line);
    }
    return rows;
  };
  const auto full_rows = losses(fs::path(full) / "metrics.csv");
  EXPECT_EQ(full_rows.size(), 3u);  // header + 2 epochs
  EXPECT_EQ(full_rows, losses(fs::path(part) / "metrics.csv"));
  EXPECT_EQ(testing::read_bytes(fs::path(full) / "model" / "model.pt"),
            testing::read_bytes(fs::path(part) / "model" / "model.pt"));
  r = train(part, "2", true);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("epoch 2/2"), std::string::npos) << "a finished run trained again";
  r = train((tmp / "none").string(), "2", true);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find((tmp / "none").string()), std::string::npos) << r.err;
}

// The library names option fields; the CLI puts the flag in front of them.
TEST(TrainCli, ErrorsNameTheFlagBesideTheField) {
  TempDir tmp;
  const std::string out = (tmp / "o").string();
  auto r = run_cli({"train", "--data", "x", "--out", out, "--batch", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--batch: batch_size must be in 1..65536, got 0"), std::string::npos)
      << r.err;
  r = run_cli({"train", "--data", "x", "--out", out, "--schedule", "step"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--schedule: unknown value 'step' (accepted: constant, cosine)"),
            std::string::npos)
      << r.err;
  r = run_cli({"train", "--data", "x", "--out", out, "--freeze-blocks", "1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--freeze-blocks: freeze_blocks needs init"), std::string::npos) << r.err;
  // "model: dropout: ..." (a field, then the message): the flags replace the field.
  r = run_cli({"train", "--data", "x", "--out", out, "--dropout", "2"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--arch/--heads/--input-*: dropout: expected [0, 1), got 2"),
            std::string::npos)
      << r.err;
}

TEST(TrainCli, HelpDocumentsEveryFlag) {
  const auto r = run_cli({"train", "--help"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* flag :
       {"--data", "--val ", "--val-fraction", "--out", "--arch", "--heads", "--widths",
        "--stem-pool", "--stem-conv", "--dropout", "--input-mode", "--input-size", "--transform",
        "--normalization", "--epochs", "--batch", "--lr", "--schedule", "--weight-decay",
        "--seed", "--threads", "--workers", "--device", "--balance", "--augment ",
        "--no-augment", "--augment-gain", "--augment-offset", "--init", "--freeze-blocks",
        "--patience", "--resume", "--cache ", "--cache-max-mb", "--tune-thresholds",
        "--no-plots", "--quiet"}) {
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  }
  // The enum options show their words and defaults.
  for (const char* text : {"constant, or cosine", "auto (a CUDA GPU", "pos-weight (BCE",
                           "=constant", "=auto", "=pos-weight"}) {
    EXPECT_NE(r.out.find(text), std::string::npos) << text << "\n" << r.out;
  }
}

TEST(TrainCli, BadFlagsExitTwoMissingModelExitsThree) {
  TempDir tmp;
  const std::string out = (tmp / "o").string();
  EXPECT_EQ(run_cli({"train", "--out", out}).exit_code, 2);  // no --data
  for (const auto& bad : std::vector<std::vector<std::string>>{
           {"--epochs", "0"}, {"--balance", "bogus"}, {"--heads", "quality,nonsense"},
           {"--arch", "resnet"}, {"--input-mode", "zoom"}, {"--lr", "-1"},
           {"--freeze-blocks", "2"}, {"--schedule", "step"}, {"--device", "gpu"},
           {"--batch", "0"}, {"--threads", "0"}, {"--weight-decay", "-1"}}) {
    std::vector<std::string> args = {"train", "--data", "x", "--out", out};
    args.insert(args.end(), bad.begin(), bad.end());
    const auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, 2) << bad[0] << ": " << r.err;
    EXPECT_NE(r.err.find(bad[0]), std::string::npos) << r.err;
  }
  const std::string data = (tmp / "sim").string();
  ASSERT_EQ(run_cli({"simulate", "--out", data, "--count", "2", "--seed", "1", "--quiet"}).exit_code,
            0);
  const auto r = run_cli(
      {"evaluate", "--model", (tmp / "nomodel").string(), "--data", data, "--out", out});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("nomodel"), std::string::npos) << r.err;
  EXPECT_EQ(run_cli({"train", "--data", (tmp / "nodata").string(), "--out", out}).exit_code, 3);
}

}  // namespace
}  // namespace difftriage
