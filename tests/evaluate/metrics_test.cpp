// Metrics against values computed by hand (and, where noted, sklearn's documented examples).
#include "difftriage/evaluate/metrics.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "difftriage/core/error.h"

namespace difftriage::evaluate {
namespace {

constexpr double kEps = 1e-12;

TEST(BinaryMetrics, SklearnDocumentedExample) {
  // sklearn docs: roc_auc_score -> 0.75, average_precision_score -> 0.8333...
  const std::vector<double> scores = {0.1, 0.4, 0.35, 0.8};
  const std::vector<uint8_t> truth = {0, 0, 1, 1};
  EXPECT_NEAR(roc_auc(scores, truth), 0.75, kEps);
  EXPECT_NEAR(average_precision(scores, truth), 5.0 / 6.0, kEps);
}

TEST(BinaryMetrics, TiesCountHalfInAucAndEnterTogetherInAveragePrecision) {
  // Positives score 0.5 and 0.9; negatives 0.5, 0.2, 0.5.
  const std::vector<double> scores = {0.5, 0.5, 0.2, 0.9, 0.5};
  const std::vector<uint8_t> truth = {1, 0, 0, 1, 0};
  const auto m = evaluate_binary(scores, truth, {0.5, true});
  // Pairs: 0.5 vs {0.5, 0.2, 0.5} = 0.5 + 1 + 0.5; 0.9 vs all = 3  ->  5 / 6.
  EXPECT_NEAR(m.roc_auc, 5.0 / 6.0, kEps);
  // Steps: t=0.9 R=0.5 P=1; t=0.5 R=1 P=2/4; t=0.2 R=1 -> 0.5·1 + 0.5·0.5 = 0.75.
  EXPECT_NEAR(m.pr_auc, 0.75, kEps);
  // score >= 0.5 is positive: tp 2, fp 2, tn 1, fn 0.
  EXPECT_EQ(m.confusion.tp, 2);
  EXPECT_EQ(m.confusion.fp, 2);
  EXPECT_EQ(m.confusion.tn, 1);
  EXPECT_EQ(m.confusion.fn, 0);
  EXPECT_EQ(m.n, 5);
  EXPECT_EQ(m.n_positive, 2);
  EXPECT_NEAR(m.accuracy, 0.6, kEps);
  EXPECT_NEAR(m.majority_accuracy, 0.6, kEps);
  EXPECT_EQ(m.majority_class, 0);
  EXPECT_NEAR(m.positive_fraction, 0.4, kEps);
  EXPECT_NEAR(m.precision, 0.5, kEps);
  EXPECT_NEAR(m.recall, 1.0, kEps);
  EXPECT_NEAR(m.specificity, 1.0 / 3.0, kEps);
  EXPECT_NEAR(m.balanced_accuracy, 2.0 / 3.0, kEps);
  EXPECT_NEAR(m.f1, 2.0 / 3.0, kEps);  // 2·2 / (2·2 + 2 + 0)

  ASSERT_EQ(m.roc.thresholds.size(), 4u);
  EXPECT_TRUE(std::isinf(m.roc.thresholds[0]));
  const std::vector<double> fpr = {0, 0, 2.0 / 3.0, 1}, tpr = {0, 0.5, 1, 1};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(m.roc.fpr[i], fpr[i], kEps) << i;
    EXPECT_NEAR(m.roc.tpr[i], tpr[i], kEps) << i;
  }
  ASSERT_EQ(m.pr.thresholds.size(), 3u);
  EXPECT_DOUBLE_EQ(m.pr.thresholds[1], 0.5);
  EXPECT_NEAR(m.pr.precision[1], 0.5, kEps);
  EXPECT_NEAR(m.pr.recall[0], 0.5, kEps);
}

TEST(BinaryMetrics, AllTiedScoresGiveChanceAuc) {
  const std::vector<double> scores(6, 3.0);
  const std::vector<uint8_t> truth = {1, 0, 0, 1, 0, 0};
  const auto m = evaluate_binary(scores, truth, {10.0, false});
  EXPECT_NEAR(m.roc_auc, 0.5, kEps);
  EXPECT_NEAR(m.pr_auc, 1.0 / 3.0, kEps);  // one step: recall 1 at precision 2/6
  EXPECT_TRUE(m.roc.thresholds.empty());
  // Nothing predicted positive: precision undefined, recall 0, F1 0 (not NaN: fn > 0).
  EXPECT_TRUE(std::isnan(m.precision));
  EXPECT_NEAR(m.recall, 0.0, kEps);
  EXPECT_NEAR(m.f1, 0.0, kEps);
  EXPECT_NEAR(m.balanced_accuracy, 0.5, kEps);  // always-majority sits at exactly 0.5
  EXPECT_NEAR(m.accuracy, 4.0 / 6.0, kEps);     // ...while plain accuracy looks fine
}

TEST(BinaryMetrics, OneClassGivesNaNNotFakeNumbers) {
  const std::vector<double> scores = {0.2, 0.7, 0.9};
  const auto pos = evaluate_binary(scores, {1, 1, 1}, {0.5, true});
  EXPECT_TRUE(std::isnan(pos.roc_auc));
  EXPECT_TRUE(std::isnan(pos.specificity));
  EXPECT_NEAR(pos.pr_auc, 1.0, kEps);  // every ranking is perfect without negatives
  EXPECT_NEAR(pos.balanced_accuracy, 2.0 / 3.0, kEps);  // recall of the only class
  EXPECT_EQ(pos.majority_class, 1);

  const auto neg = evaluate_binary(scores, {0, 0, 0}, {0.95, true});
  EXPECT_TRUE(std::isnan(neg.roc_auc));
  EXPECT_TRUE(std::isnan(neg.pr_auc));
  EXPECT_TRUE(std::isnan(neg.recall));
  EXPECT_TRUE(std::isnan(neg.precision));  // nothing >= 0.95
  EXPECT_TRUE(std::isnan(neg.f1));         // 2tp + fp + fn = 0
  EXPECT_NEAR(neg.specificity, 1.0, kEps);

  const auto j = to_json(neg);
  EXPECT_TRUE(j["roc_auc"].is_null());
  EXPECT_TRUE(j["pr_auc"].is_null());
  EXPECT_TRUE(j["f1"].is_null());
  EXPECT_EQ(j["specificity"], 1.0);
  EXPECT_TRUE(j["roc"]["thresholds"][0].is_null());  // +inf start point
  EXPECT_TRUE(j["roc"]["tpr"][1].is_null());          // no positives: rate undefined
  EXPECT_EQ(j.dump().find("NaN"), std::string::npos);

  const auto empty = evaluate_binary({}, {});
  EXPECT_EQ(empty.n, 0);
  EXPECT_TRUE(std::isnan(empty.accuracy));
  EXPECT_TRUE(std::isnan(empty.majority_accuracy));
  EXPECT_TRUE(std::isnan(empty.balanced_accuracy));
}

TEST(BinaryMetrics, BadInputsThrowConfigErrorNamingTheIndex) {
  EXPECT_THROW((void)evaluate_binary({0.1, 0.2}, {1}), ConfigError);
  try {
    (void)evaluate_binary({0.1, 0.2}, {1, 2});
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("truth[1]"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)roc_auc({std::numeric_limits<double>::quiet_NaN()}, {1}), ConfigError);
  EXPECT_THROW(
      (void)evaluate_binary({0.1}, {1}, {std::numeric_limits<double>::quiet_NaN(), true}),
      ConfigError);
}

TEST(MulticlassMetrics, HandComputedConfusionAndAverages) {
  const std::vector<std::string> names = {"a", "b", "c", "d"};  // d never occurs
  const std::vector<int> truth = {0, 0, 0, 1, 1, 2};
  const std::vector<int> pred = {0, 0, 1, 1, 0, 2};
  const auto m = evaluate_multiclass(truth, pred, names);
  EXPECT_EQ(m.n, 6);
  const std::vector<int64_t> confusion = {2, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0};
  EXPECT_EQ(m.confusion, confusion);
  EXPECT_NEAR(m.accuracy, 4.0 / 6.0, kEps);
  EXPECT_NEAR(m.majority_accuracy, 0.5, kEps);
  EXPECT_EQ(m.majority_class, "a");
  // Recalls a 2/3, b 1/2, c 1 (d absent, left out).
  EXPECT_NEAR(m.balanced_accuracy, (2.0 / 3.0 + 0.5 + 1.0) / 3.0, kEps);
  // F1 a 2·2/(3+3), b 2·1/(2+2), c 1; d undefined and left out.
  EXPECT_NEAR(m.macro_f1, (2.0 / 3.0 + 0.5 + 1.0) / 3.0, kEps);
  EXPECT_NEAR(m.per_class[0].precision, 2.0 / 3.0, kEps);
  EXPECT_NEAR(m.per_class[1].precision, 0.5, kEps);
  EXPECT_TRUE(std::isnan(m.per_class[3].precision));
  EXPECT_TRUE(std::isnan(m.per_class[3].recall));
  EXPECT_TRUE(std::isnan(m.per_class[3].f1));
  const auto j = to_json(m);
  EXPECT_EQ(j["confusion"][0], nlohmann::json({2, 1, 0, 0}));
  EXPECT_TRUE(j["per_class"][3]["f1"].is_null());

  EXPECT_THROW((void)evaluate_multiclass({0, 4}, {0, 0}, names), ConfigError);
  EXPECT_THROW((void)evaluate_multiclass({0}, {0}, {"only"}), ConfigError);
}

TEST(MulticlassMetrics, ClassPredictedButAbsentFromTruthCountsZeroInMacroF1) {
  const auto m = evaluate_multiclass({0, 0}, {0, 1}, {"x", "y"});
  EXPECT_NEAR(m.per_class[1].f1, 0.0, kEps);  // 0 / (0 + 1)
  EXPECT_NEAR(m.macro_f1, (2.0 / 3.0 + 0.0) / 2.0, kEps);
  EXPECT_NEAR(m.balanced_accuracy, 0.5, kEps);  // only x is present: its recall
}

TEST(RegressionMetrics, HandComputedErrorsAndR2) {
  const std::vector<double> truth = {1, 2, 3, 4}, pred = {1.5, 2, 2, 5};
  const auto m = evaluate_regression(truth, pred);
  EXPECT_EQ(m.n, 4);
  EXPECT_NEAR(m.mae, 0.625, kEps);
  EXPECT_NEAR(m.rmse, 0.75, kEps);            // sqrt(2.25 / 4)
  EXPECT_NEAR(m.r2, 1.0 - 2.25 / 5.0, kEps);  // SS_tot = 2.25 + 0.25 + 0.25 + 2.25
  EXPECT_NEAR(m.truth_mean, 2.5, kEps);
  EXPECT_NEAR(m.baseline_mae, 1.0, kEps);
  EXPECT_NEAR(m.baseline_rmse, std::sqrt(1.25), kEps);

  const auto sub = evaluate_regression(truth, pred, {1, 1, 0, 0});
  EXPECT_EQ(sub.n, 2);
  EXPECT_NEAR(sub.mae, 0.25, kEps);
  EXPECT_NEAR(sub.r2, 1.0 - 0.25 / 0.5, kEps);

  const auto flat = evaluate_regression({0.3, 0.3, 0.3}, {0.1, 0.3, 0.5});
  EXPECT_TRUE(std::isnan(flat.r2));
  EXPECT_TRUE(to_json(flat)["r2"].is_null());
  const auto none = evaluate_regression(truth, pred, {0, 0, 0, 0});
  EXPECT_EQ(none.n, 0);
  EXPECT_TRUE(std::isnan(none.mae));

  EXPECT_THROW((void)evaluate_regression({1, 2}, {1}), ConfigError);
  EXPECT_THROW((void)evaluate_regression({1, 2}, {1, 2}, {1}), ConfigError);
  // A non-finite value outside the mask does not count.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(evaluate_regression({1, nan}, {1, 1}, {1, 0}).n, 1);
  EXPECT_THROW((void)evaluate_regression({1, nan}, {1, 1}), ConfigError);
}

TEST(VetoPoint, HighestThresholdKeepingTheTargetShare) {
  //                 positives ............  negatives .......
  const std::vector<double> scores = {10, 20, 30, 30, 5, 1, 10, 12, 3};
  const std::vector<uint8_t> truth = {1, 1, 1, 1, 1, 0, 0, 0, 0};
  // keep 80 % of 5 -> 4 positives: the 4th highest positive score is 10.
  auto v = find_veto_point(scores, truth, {0.8});
  EXPECT_DOUBLE_EQ(v.threshold, 10.0);
  EXPECT_EQ(v.n_positive_kept, 4);
  EXPECT_NEAR(v.kept_fraction, 0.8, kEps);
  // Negatives below 10: 1 and 3; the negative scoring exactly 10 is kept (ties keep).
  EXPECT_EQ(v.n_negative_rejected, 2);
  EXPECT_NEAR(v.rejected_fraction, 0.5, kEps);

  // 99.9 % of 5 rounds up to all 5: threshold = lowest positive.
  v = find_veto_point(scores, truth);
  EXPECT_DOUBLE_EQ(v.threshold, 5.0);
  EXPECT_EQ(v.n_positive_kept, 5);
  EXPECT_EQ(v.n_negative_rejected, 2);
}

TEST(VetoPoint, TiedPositivesAreAllKeptAndToleranceAvoidsOffByOne) {
  auto v = find_veto_point({7, 7, 7, 2, 6}, {1, 1, 1, 1, 0}, {0.5});
  EXPECT_DOUBLE_EQ(v.threshold, 7.0);
  EXPECT_EQ(v.n_positive_kept, 3);  // k = 2, but all three tied at 7 pass
  EXPECT_EQ(v.n_negative_rejected, 1);

  std::vector<double> scores;
  std::vector<uint8_t> truth;
  for (int i = 1; i <= 1000; ++i) {
    scores.push_back(i);
    truth.push_back(1);
  }
  v = find_veto_point(scores, truth, {0.999});  // 0.999 · 1000 = 999, not 1000
  EXPECT_DOUBLE_EQ(v.threshold, 2.0);
  EXPECT_EQ(v.n_positive_kept, 999);
  EXPECT_TRUE(std::isnan(v.rejected_fraction));  // no negatives
}

TEST(VetoPoint, UndefinedWithoutPositivesAndValidatesOptions) {
  const auto v = find_veto_point({1, 2}, {0, 0});
  EXPECT_TRUE(std::isnan(v.threshold));
  EXPECT_TRUE(std::isnan(v.rejected_fraction));
  EXPECT_TRUE(to_json(v)["threshold"].is_null());
  EXPECT_THROW((void)find_veto_point({1}, {1}, {0.0}), ConfigError);
  EXPECT_THROW((void)find_veto_point({1}, {1}, {1.5}), ConfigError);
}

TEST(TextTables, AccuracyIsPrintedBesideChance) {
  const auto m = evaluate_binary({0.5, 0.5, 0.2, 0.9, 0.5}, {1, 0, 0, 1, 0});
  const std::string table = format_binary_table({{"hit", m}});
  EXPECT_NE(table.find("chance"), std::string::npos);
  EXPECT_NE(table.find("60.0%"), std::string::npos);  // accuracy and chance both 60 %
  EXPECT_NE(table.find("0.833"), std::string::npos);  // ROC-AUC
  const auto one = evaluate_binary({0.1}, {0});
  EXPECT_NE(format_binary_table({{"x", one}}).find("n/a"), std::string::npos);
  const auto mc = evaluate_multiclass({0, 1}, {0, 0}, {"blank", "good"});
  const std::string text = format_multiclass("quality", mc);
  EXPECT_NE(text.find("chance 50.0% (always blank)"), std::string::npos) << text;
  EXPECT_NE(format_regression_table({{"mosaic1", evaluate_regression({1, 2}, {1, 2})}})
                .find("base RMSE"),
            std::string::npos);
  EXPECT_NE(format_veto("veto", find_veto_point({1, 0}, {1, 0})).find("rejects 1 of 1"),
            std::string::npos);
}

}  // namespace
}  // namespace difftriage::evaluate
