// The triage pipeline on a tiny random model and small PGM frames: order, determinism across
// threads and batch sizes, fail-open error rows, and the Classifier's prepare/infer split.
#include "difftriage/stream/pipeline.h"

#include <gtest/gtest.h>
#include <torch/utils.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "difftriage/core/error.h"
#include "difftriage/io/image_io.h"
#include "difftriage/models/classifier.h"
#include "difftriage/stream/default_model.h"
#include "difftriage/stream/sinks.h"
#include "difftriage/stream/sources.h"
#include "stream/stream_test_support.h"
#include "support/test_support.h"

namespace difftriage::stream {
namespace {
namespace fs = std::filesystem;

class Pipeline : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    torch::set_num_threads(1);
    tmp_ = new testing::TempDir();
    testing::write_tiny_model(tmp_->path() / "model");
    classifier_ = std::make_shared<const models::Classifier>(
        models::Classifier::load(tmp_->path() / "model"));
    const auto paths = testing::write_pgm_frames(tmp_->path() / "frames", 23);
    for (const auto& p : paths) frames_.push_back({p, 0});
  }
  static void TearDownTestSuite() {
    classifier_.reset();
    frames_.clear();
    delete tmp_;
  }

  static std::vector<FrameResult> run(const std::vector<FrameAddress>& frames,
                                      const TriageOptions& options) {
    std::vector<FrameResult> results;
    const auto stats = run_triage(frames, classifier_, options,
                                  [&](const FrameResult& r) { results.push_back(r); });
    EXPECT_EQ(stats.n_frames, static_cast<int64_t>(frames.size()));
    return results;
  }

  static void expect_same(const std::vector<FrameResult>& a, const std::vector<FrameResult>& b,
                          double tolerance) {
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_EQ(a[i].ok(), b[i].ok()) << i;
      EXPECT_EQ(a[i].address, b[i].address) << i;
      EXPECT_EQ(a[i].error, b[i].error) << i;
      if (!a[i].ok()) continue;
      const auto& p = *a[i].prediction;
      const auto& q = *b[i].prediction;
      ASSERT_EQ(p.label_probabilities.size(), 6u);
      ASSERT_EQ(q.label_probabilities.size(), 6u);
      // Every output the README calls identical: label and quality probabilities, the quality
      // class and both mosaic outputs.
      const auto near = [&](const std::vector<float>& x, const std::vector<float>& y,
                            const char* what) {
        ASSERT_EQ(x.size(), y.size()) << what;
        for (size_t k = 0; k < x.size(); ++k) {
          if (tolerance == 0) {
            EXPECT_EQ(x[k], y[k]) << what << " frame " << i << " output " << k;
          } else {
            EXPECT_NEAR(x[k], y[k], tolerance) << what << " frame " << i << " output " << k;
          }
        }
      };
      near(p.label_probabilities, q.label_probabilities, "labels");
      near(p.quality_probabilities, q.quality_probabilities, "quality");
      near(p.mosaic, q.mosaic, "mosaic");
      EXPECT_EQ(p.quality, q.quality) << i;
    }
  }

  static testing::TempDir* tmp_;
  static std::shared_ptr<const models::Classifier> classifier_;
  static std::vector<FrameAddress> frames_;
};
testing::TempDir* Pipeline::tmp_ = nullptr;
std::shared_ptr<const models::Classifier> Pipeline::classifier_;
std::vector<FrameAddress> Pipeline::frames_;

TEST_F(Pipeline, PrepareThenInferMatchesClassify) {
  std::vector<AnyImage> images;
  std::vector<models::PreparedFrame> prepared;
  for (size_t i = 0; i < 5; ++i) {
    images.push_back(io::read_image(frames_[i].path));
    prepared.push_back(classifier_->prepare(images.back()));
    EXPECT_EQ(prepared.back().side, 32);
    EXPECT_EQ(prepared.back().pixels.size(), 32u * 32u);
  }
  const auto a = classifier_->classify(images);
  const auto b = classifier_->infer(prepared);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].label_probabilities, b[i].label_probabilities) << i;
    EXPECT_EQ(a[i].quality_probabilities, b[i].quality_probabilities) << i;
    EXPECT_EQ(a[i].mosaic, b[i].mosaic) << i;
    EXPECT_EQ(a[i].quality, b[i].quality) << i;
  }
  EXPECT_TRUE(classifier_->infer({}).empty());
  models::PreparedFrame wrong;
  wrong.side = 16;
  wrong.pixels.assign(256, 0.0f);
  EXPECT_THROW(classifier_->infer({wrong}), ConfigError);
}

TEST_F(Pipeline, DeliversInInputOrderWithManyThreadsAndTinyQueues) {
  for (const auto& [threads, workers, queue, batch] :
       std::vector<std::tuple<int, int, int64_t, int64_t>>{
           {3, 1, 1, 4}, {4, 3, 2, 1}, {2, 2, 3, 7}, {1, 1, 1, 32}, {2, 4, 64, 2}}) {
    TriageOptions o;
    o.n_decode_threads = threads;
    o.n_infer_workers = workers;
    o.n_torch_threads = 1;
    o.queue_capacity = queue;
    o.batch_size = batch;
    const auto results = run(frames_, o);
    ASSERT_EQ(results.size(), frames_.size());
    for (size_t i = 0; i < results.size(); ++i) {
      EXPECT_EQ(results[i].index, static_cast<int64_t>(i));
      EXPECT_EQ(results[i].address, frames_[i]);
      EXPECT_TRUE(results[i].ok()) << results[i].error;
    }
  }
}

TEST_F(Pipeline, ResultsDoNotDependOnThreadsOrBatchSize) {
  TriageOptions base;
  base.n_decode_threads = 1;
  base.n_infer_workers = 1;
  base.n_torch_threads = 1;
  base.batch_size = 1;
  const auto reference = run(frames_, base);
  TriageOptions two = base;
  two.n_decode_threads = 2;
  two.n_infer_workers = 2;
  expect_same(reference, run(frames_, two), 0.0);  // more threads: bit-identical
  TriageOptions batch7 = base;
  batch7.batch_size = 7;
  const auto reference7 = run(frames_, batch7);
  expect_same(reference, reference7, 1e-5);  // batched convolutions: rounding only
  batch7.n_infer_workers = 3;
  batch7.n_decode_threads = 2;
  expect_same(reference7, run(frames_, batch7), 0.0);
  TriageOptions torch2 = batch7;
  torch2.n_torch_threads = 2;
  expect_same(reference, run(frames_, torch2), 1e-5);
  torch::set_num_threads(1);
}

// Batches are windows of batch_size input positions, whatever is unreadable: a run over a
// batch-aligned slice of the frames gives the bytes of the whole run for them (what an MPI
// rank's block relies on), while counting batches of readable frames would shift every batch
// after an unreadable frame. With a size-dependent convolution (batch 4 vs a batch of 3), the
// tail of the whole list would then differ from the slice by rounding.
TEST_F(Pipeline, BatchesAreWindowsOfInputPositionsSoAlignedSlicesGiveTheSameBits) {
  const fs::path dir = tmp_->path() / "windows";
  fs::create_directories(dir);
  testing::write_text(dir / "corrupt.pgm", "P5\n8 8\n255\nshort");
  std::vector<FrameAddress> frames(frames_.begin(), frames_.begin() + 9);
  frames[1] = {dir / "corrupt.pgm", 0};  // unreadable, in the first window
  TriageOptions o;
  o.n_decode_threads = 2;
  o.n_infer_workers = 2;
  o.batch_size = 4;
  std::vector<FrameResult> whole;
  const auto stats = run_triage(frames, classifier_, o,
                                [&](const FrameResult& r) { whole.push_back(r); });
  // Windows 0-3 (3 readable), 4-7, 8; batches of 4 readable frames would be 2.
  EXPECT_EQ(stats.n_batches, 3);
  EXPECT_FALSE(whole[1].ok());
  const std::vector<FrameAddress> tail(frames.begin() + 4, frames.end());
  const auto part = run(tail, o);
  expect_same(std::vector<FrameResult>(whole.begin() + 4, whole.end()), part, 0.0);
}

TEST_F(Pipeline, CorruptAndMissingFramesAreErrorRowsExactlyOnceAndKept) {
  const fs::path dir = tmp_->path() / "mixed";
  fs::create_directories(dir);
  testing::write_text(dir / "corrupt.cbf", "not a diffraction image\n");
  testing::write_text(dir / "empty.pgm", "");
  std::vector<FrameAddress> frames = {frames_[0],
                                      {dir / "corrupt.cbf", 0},
                                      frames_[1],
                                      {dir / "missing.pgm", 0},
                                      frames_[2],
                                      {frames_[3].path, 2},  // a PGM has one frame
                                      {dir / "empty.pgm", 0},
                                      frames_[4]};
  TriageOptions o;
  o.n_decode_threads = 3;
  o.n_torch_threads = 1;
  o.batch_size = 2;
  o.queue_capacity = 2;
  const fs::path out = tmp_->path() / "out_mixed";
  TriageFolderWriter writer(out, classifier_->metadata(), {"tiny", o});
  std::vector<FrameResult> results;
  const auto stats = run_triage(frames, classifier_, o, [&](const FrameResult& r) {
    results.push_back(r);
    writer.add(r);
  });
  EXPECT_EQ(stats.n_frames, 8);
  EXPECT_EQ(stats.n_errors, 4);
  ASSERT_EQ(results.size(), frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(results[i].address, frames[i]);
    const bool bad = i == 1 || i == 3 || i == 5 || i == 6;
    EXPECT_EQ(results[i].ok(), !bad) << i << " " << results[i].error;
    if (bad) {
      EXPECT_NE(results[i].error.find(frames[i].path.filename().string()), std::string::npos)
          << results[i].error;
      EXPECT_TRUE(decide_triage(results[i], classifier_->metadata()).keep());
    }
  }
  const auto summary = writer.finish(stats);
  EXPECT_EQ(summary["n_frames"], 8);
  EXPECT_EQ(summary["n_unreadable"], 4);
  EXPECT_EQ(summary["n_kept"].get<int>() + summary["n_veto"].get<int>(), 8);
  const std::string hits = testing::read_bytes(out / "hits.lst");
  for (size_t i : {1, 3, 5, 6}) {
    EXPECT_NE(hits.find(to_event_line(frames[i]) + "\n"), std::string::npos) << i;
  }
}

TEST_F(Pipeline, EmptyInputAndBadOptions) {
  std::vector<FrameResult> results;
  const auto stats = run_triage({}, classifier_, TriageOptions{},
                                [&](const FrameResult& r) { results.push_back(r); });
  EXPECT_EQ(stats.n_frames, 0);
  EXPECT_TRUE(results.empty());
  TriageOptions bad;
  bad.batch_size = 0;
  EXPECT_THROW(run_triage(frames_, classifier_, bad, [](const FrameResult&) {}), ConfigError);
  bad = TriageOptions{};
  bad.n_decode_threads = 0;
  EXPECT_THROW(validate(bad), ConfigError);
  bad = TriageOptions{};
  bad.n_infer_workers = 0;
  EXPECT_THROW(validate(bad), ConfigError);
  EXPECT_THROW(run_triage(frames_, nullptr, TriageOptions{}, [](const FrameResult&) {}),
               ConfigError);
}

TEST_F(Pipeline, ASinkThatThrowsStopsTheRunCleanly) {
  TriageOptions o;
  o.n_torch_threads = 1;
  o.batch_size = 2;
  o.queue_capacity = 1;
  int seen = 0;
  EXPECT_THROW(run_triage(frames_, classifier_, o,
                          [&](const FrameResult&) {
                            if (++seen == 3) throw IoError("disk full");
                          }),
               IoError);
  EXPECT_EQ(seen, 3);
}

TEST(DefaultModel, NoCandidateWithAModelIsAConfigErrorNamingEachPlace) {
  testing::TempDir tmp;
  fs::create_directories(tmp / "empty");
  const std::vector<fs::path> candidates = {tmp / "empty", tmp / "missing"};
  try {
    resolve_model_path({}, candidates);
    ADD_FAILURE() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    for (const auto& c : candidates) {
      EXPECT_NE(std::string(e.what()).find(c.string()), std::string::npos) << e.what();
    }
  }
  testing::write_text(tmp / "missing" / "model.json", "{}");
  EXPECT_EQ(resolve_model_path({}, candidates), tmp / "missing");
  EXPECT_EQ(resolve_model_path("given", candidates), fs::path("given"));
}

TEST(DefaultModel, ExplicitPathWinsAndCandidatesAreAbsolute) {
  EXPECT_EQ(resolve_model_path("my/model"), fs::path("my/model"));
  const auto candidates = default_model_candidates();
  ASSERT_EQ(candidates.size(), 2u);
  EXPECT_EQ(candidates[0], testing::source_dir() / "models" / "default");
  for (const auto& c : candidates) EXPECT_TRUE(c.is_absolute()) << c;
  bool any = false;
  for (const auto& c : candidates) any = any || fs::exists(c / "model.json");
  if (any) {
    EXPECT_NO_THROW(resolve_model_path());
  } else {
    try {
      resolve_model_path();
      ADD_FAILURE() << "expected a ConfigError";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(candidates[0].string()), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace difftriage::stream
