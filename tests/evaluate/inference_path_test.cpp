// One inference path and one hit score (issue 15, points 2 and 3): for the same frames, classify
// (stream::run_triage + decide_triage), evaluate (predict_dataset), calibrate (calibrate_veto)
// and explain (explain_model) see the same probabilities and the same p_hit, and calibrate's
// hit threshold means in classify what it meant on the calibration set. Three tiny random
// models: the usual heads (quality, labels, mosaic), a quality-only model (evaluate used to score
// it while classify kept every frame) and a model with a labels head AND a binary blank head
// (evaluate used the labels head, classify the blank head).
//
// Exact equality where the frames go through Classifier::infer in the same batches; within
// 1e-6 across batch sizes (the batched convolutions may round differently).
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "difftriage/dataset/dataset.h"
#include "difftriage/evaluate/calibrate.h"
#include "difftriage/evaluate/model_eval.h"
#include "difftriage/explain/explain.h"
#include "difftriage/io/image_io.h"
#include "difftriage/models/checkpoint.h"
#include "difftriage/models/classifier.h"
#include "difftriage/models/hit_score.h"
#include "difftriage/models/network.h"
#include "difftriage/models/tensor.h"
#include "difftriage/stream/pipeline.h"
#include "difftriage/stream/triage.h"
#include "stream/stream_test_support.h"
#include "support/test_support.h"

namespace difftriage {
namespace {
namespace fs = std::filesystem;

constexpr int kFrames = 12;

class InferencePath : public ::testing::TestWithParam<std::vector<std::string>> {
 protected:
  static void SetUpTestSuite() {
    torch::set_num_threads(1);
    tmp_ = new testing::TempDir();
    paths_ = testing::write_pgm_frames(tmp_->path() / "data", kFrames);
    // Even frames hold a crystal, odd ones are blank: calibrate needs both.
    std::string rows;
    for (int i = 0; i < kFrames; ++i) {
      rows += paths_[static_cast<size_t>(i)].filename().string() +
              (i % 2 == 0 ? " good 0.1 0.2\n" : " blank 0 0\n");
    }
    testing::write_text(tmp_->path() / "data" / dataset::kQualityFileName, rows);
  }
  static void TearDownTestSuite() {
    delete tmp_;
    tmp_ = nullptr;
  }

  fs::path model_dir() const {
    std::string name = "model";
    for (const auto& h : GetParam()) name += "_" + h;
    const auto dir = tmp_->path() / name;
    if (!fs::exists(dir)) testing::write_tiny_model(dir, 7, GetParam());
    return dir;
  }

  static std::vector<stream::FrameResult> classify(
      const std::shared_ptr<const models::Classifier>& clf, int64_t batch_size) {
    std::vector<stream::FrameAddress> frames;
    for (const auto& p : paths_) frames.push_back({p, 0});
    stream::TriageOptions o;
    o.batch_size = batch_size;
    o.n_decode_threads = 2;
    o.n_infer_workers = 2;
    o.n_torch_threads = 1;
    std::vector<stream::FrameResult> results;
    (void)stream::run_triage(frames, clf, o,
                             [&](const stream::FrameResult& r) { results.push_back(r); });
    return results;
  }

  static evaluate::ModelPredictions evaluate_with(const models::Classifier& clf,
                                                  int64_t batch_size) {
    evaluate::ModelEvalOptions o;
    o.batch_size = batch_size;
    o.n_threads = 1;
    o.n_workers = 2;
    return evaluate::predict_dataset(clf, dataset::load_dataset(tmp_->path() / "data"), o);
  }

  static testing::TempDir* tmp_;
  static std::vector<fs::path> paths_;
};
testing::TempDir* InferencePath::tmp_ = nullptr;
std::vector<fs::path> InferencePath::paths_;

// Every probability of `p` against evaluate's frame `f`: exactly, or within `tolerance`.
void expect_same(const models::Prediction& p, const evaluate::FramePrediction& f,
                 double tolerance, const std::string& what) {
  ASSERT_TRUE(f.ok()) << what << ": " << f.error;
  auto same = [&](const std::vector<float>& a, const std::vector<float>& b, const char* name) {
    ASSERT_EQ(a.size(), b.size()) << what << " " << name;
    for (size_t k = 0; k < a.size(); ++k) {
      if (tolerance == 0) {
        EXPECT_EQ(a[k], b[k]) << what << " " << name << "[" << k << "]";
      } else {
        EXPECT_NEAR(a[k], b[k], tolerance) << what << " " << name << "[" << k << "]";
      }
    }
  };
  same(p.quality_probabilities, f.quality_probabilities, "quality");
  same(p.label_probabilities, f.label_probabilities, "labels");
  same(p.mosaic, f.mosaic, "mosaic");
  ASSERT_EQ(p.binary.size(), f.binary.size()) << what;
  for (const auto& [name, prob] : p.binary) {
    same({prob}, {f.binary.at(name)}, name.c_str());
  }
}

TEST_P(InferencePath, ClassifyEvaluateCalibrateAndExplainSeeTheSameNumbers) {
  const auto dir = model_dir();
  const auto clf = std::make_shared<const models::Classifier>(models::Classifier::load(dir));
  const auto& meta = clf->metadata();
  // Every model here can score hits: quality-only models too.
  ASSERT_NE(models::hit_source(meta), models::HitSource::kNone);

  const auto classified = classify(clf, 4);
  const auto evaluated = evaluate_with(*clf, 4);
  ASSERT_EQ(classified.size(), static_cast<size_t>(kFrames));
  ASSERT_EQ(evaluated.frames.size(), static_cast<size_t>(kFrames));
  EXPECT_EQ(evaluated.hit_score, models::describe(models::hit_source(meta)));
  for (size_t i = 0; i < classified.size(); ++i) {
    ASSERT_TRUE(classified[i].ok()) << classified[i].error;
    // Same batches of 4 through Classifier::infer: bit for bit.
    expect_same(*classified[i].prediction, evaluated.frames[i], 0, "frame " + std::to_string(i));
    // The p_hit classify decides on is the one evaluate (and so calibrate) measures.
    const auto d = stream::decide_triage(classified[i], meta);
    ASSERT_TRUE(d.p_hit.has_value()) << i;
    EXPECT_EQ(*d.p_hit, evaluated.frames[i].hit_probability) << i;
    for (const auto& flag : d.flags) EXPECT_NE(flag, "no_blank_output") << i;
  }

  // Explain: its inputs and predictions come from the same Classifier, one image per batch.
  explain::ExplainOptions eo;
  eo.plots = false;
  eo.gradient_input = false;
  const auto summary =
      explain::explain_model(dir, paths_, dir.string() + "_explain", std::nullopt, eo);
  ASSERT_EQ(summary.predictions.size(), static_cast<size_t>(kFrames));
  const auto evaluated_one = evaluate_with(*clf, 1);
  for (size_t i = 0; i < summary.predictions.size(); ++i) {
    const std::string what = "explain frame " + std::to_string(i);
    expect_same(summary.predictions[i], evaluated_one.frames[i], 0, what);  // both batch 1
    expect_same(summary.predictions[i], evaluated.frames[i], 1e-6, what);   // batch 1 vs 4
    EXPECT_EQ(models::score_hit({summary.predictions[i]}, meta).p_hit.value(),
              evaluated_one.frames[i].hit_probability);
  }

  // Grad-CAM differentiates the Classifier's own network on the Classifier's prepared input:
  // with gradients on, the forward pass gives the probabilities infer() gives.
  {
    auto net = clf->loaded_model().model;
    const std::vector<models::PreparedFrame> one{clf->prepare(io::read_image(paths_[0]))};
    const auto expected = clf->infer(one).at(0);
    torch::AutoGradMode grad_on(true);
    const auto probs = models::to_probabilities(
        net->forward(models::to_input_tensor(one, clf->input_size()).requires_grad_(true)));
    if (!expected.label_probabilities.empty()) {
      const auto t = probs.at(models::kLabelsHead).detach().contiguous();
      for (size_t k = 0; k < expected.label_probabilities.size(); ++k) {
        EXPECT_EQ(t.data_ptr<float>()[k], expected.label_probabilities[k]) << k;
      }
    }
    if (!expected.quality_probabilities.empty()) {
      const auto t = probs.at(models::kQualityHead).detach().contiguous();
      for (size_t k = 0; k < expected.quality_probabilities.size(); ++k) {
        EXPECT_EQ(t.data_ptr<float>()[k], expected.quality_probabilities[k]) << k;
      }
    }
  }
}

TEST_P(InferencePath, CalibratedThresholdMeansTheSameInClassify) {
  const auto dir = model_dir();
  const auto clf = std::make_shared<const models::Classifier>(models::Classifier::load(dir));
  const auto preds = evaluate_with(*clf, 5);
  // 6 crystal frames: below the size rule, on purpose; a random model's crystal frames score
  // about 0.6, so the default band (= the veto point) would put the threshold above 1.
  evaluate::VetoCalibrationOptions tiny;
  tiny.min_crystal_frames = 0;
  tiny.band = 0.05;
  const auto c = evaluate::calibrate_veto(preds, tiny);
  EXPECT_EQ(c.n_skipped, 0);
  auto meta = clf->metadata();
  evaluate::apply_veto_calibration(meta, c, {{"data", "test"}});
  EXPECT_EQ(meta.hit_threshold(), c.hit_threshold);

  // classify with the calibrated thresholds does to each frame what calibrate said it would.
  int64_t n_crystal_vetoed = 0, n_crystal_uncertain = 0, n_blank_vetoed = 0,
          n_blank_uncertain = 0;
  const auto classified = classify(clf, 5);
  ASSERT_EQ(classified.size(), static_cast<size_t>(kFrames));
  for (size_t i = 0; i < classified.size(); ++i) {
    const auto d = stream::decide_triage(classified[i], meta);
    ASSERT_TRUE(d.p_hit.has_value()) << "frame " << i << " flags no_blank_output";
    EXPECT_EQ(*d.p_hit, preds.frames[i].hit_probability) << i;
    const bool crystal = i % 2 == 0;
    (crystal ? n_crystal_vetoed : n_blank_vetoed) += d.veto;
    (crystal ? n_crystal_uncertain : n_blank_uncertain) += d.uncertain;
  }
  EXPECT_EQ(n_crystal_vetoed, c.n_crystal_vetoed);
  EXPECT_EQ(n_crystal_vetoed, 0);  // keep_fraction 1: every crystal frame is kept
  EXPECT_EQ(n_crystal_uncertain, c.n_crystal_uncertain);
  EXPECT_EQ(n_blank_vetoed, c.n_blank_vetoed);
  EXPECT_EQ(n_blank_uncertain, c.n_blank_uncertain);
}

INSTANTIATE_TEST_SUITE_P(
    Heads, InferencePath,
    ::testing::Values(std::vector<std::string>{"quality", "labels", "mosaic"},
                      std::vector<std::string>{"quality"},
                      std::vector<std::string>{"quality", "labels", "blank"}),
    [](const ::testing::TestParamInfo<std::vector<std::string>>& heads) {
      std::string name;
      for (const auto& h : heads.param) name += (name.empty() ? "" : "_") + h;
      return name;
    });

}  // namespace
}  // namespace difftriage
