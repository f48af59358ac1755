#include "difftriage/dataset/stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "dataset_fixtures.h"

namespace difftriage::dataset {
namespace {

using test::make_sample;
using Labels = std::array<uint8_t, kNumLabels>;

constexpr size_t kBlank = 0, kPhoto1 = 1, kPhoto2 = 2, kMulti = 3, kIce = 4, kBadice = 5,
                 kMosaic1 = 6, kMosaic2 = 7;

double corr(const DatasetStats& stats, size_t a, size_t b) { return stats.correlation[a * 8 + b]; }

// Four multilabel samples (one also with a quality) and three quality-only samples:
//          blank photo1 photo2 multi ice badice mosaic1 mosaic2  quality
//   s1       1     0      0      0    0    0      0.0     0.0    blank
//   s2       0     1      0      0    1    0      0.2     0.0
//   s3       0     0      1      1    0    0      0.4     0.3
//   s4       0     1      0      0    0    0      0.6     0.0
//   q1..q3   quality good, good, weak
Dataset crafted() {
  Dataset ds;
  ds.samples.push_back(make_sample("s1", Labels{1, 0, 0, 0, 0, 0}, Quality::kBlank, 0.0, 0.0));
  ds.samples.push_back(make_sample("s2", Labels{0, 1, 0, 0, 1, 0}, std::nullopt, 0.2, 0.0));
  ds.samples.push_back(make_sample("s3", Labels{0, 0, 1, 1, 0, 0}, std::nullopt, 0.4, 0.3));
  ds.samples.push_back(make_sample("s4", Labels{0, 1, 0, 0, 0, 0}, std::nullopt, 0.6, 0.0));
  ds.samples.push_back(make_sample("q1", std::nullopt, Quality::kGood, 0.1));
  ds.samples.push_back(make_sample("q2", std::nullopt, Quality::kGood, 0.1));
  ds.samples.push_back(make_sample("q3", std::nullopt, Quality::kWeak, 0.1));
  return ds;
}

TEST(Stats, CountsAndMajorityBaselines) {
  const DatasetStats stats = compute_stats(crafted());
  EXPECT_EQ(stats.n_samples, 7);
  EXPECT_EQ(stats.n_multilabel, 4);
  EXPECT_EQ(stats.n_quality, 4);
  ASSERT_EQ(stats.columns.size(), 8u);
  const int64_t positives[8] = {1, 2, 1, 1, 1, 0, 3, 1};
  const double accuracy[8] = {0.75, 0.5, 0.75, 0.75, 0.75, 1.0, 0.75, 0.75};
  const char* majority[8] = {"0", "0", "0", "0", "0", "0", "1", "0"};
  for (size_t c = 0; c < 8; ++c) {
    EXPECT_EQ(stats.columns[c].name, kStatColumns[c]);
    EXPECT_EQ(stats.columns[c].n_samples, 4);
    EXPECT_EQ(stats.columns[c].n_positive, positives[c]) << kStatColumns[c];
    EXPECT_DOUBLE_EQ(stats.columns[c].majority_accuracy, accuracy[c]) << kStatColumns[c];
    EXPECT_EQ(stats.columns[c].majority_class, majority[c]) << kStatColumns[c];
  }
  const std::array<int64_t, kNumQualities> counts = {1, 0, 1, 2, 0};
  EXPECT_EQ(stats.quality_counts, counts);
  EXPECT_DOUBLE_EQ(stats.quality_majority_accuracy, 0.5);
  EXPECT_EQ(stats.quality_majority_class, "good");
}

TEST(Stats, PearsonCorrelationByHand) {
  const DatasetStats stats = compute_stats(crafted());
  ASSERT_EQ(stats.correlation.size(), 64u);
  // blank = (1,0,0,0), photo1 = (0,1,0,1): deviations (.75,-.25,-.25,-.25) and (-.5,.5,-.5,.5);
  // sum of products -0.5, sums of squares 0.75 and 1 → r = -0.5 / sqrt(0.75).
  EXPECT_NEAR(corr(stats, kBlank, kPhoto1), -0.5 / std::sqrt(0.75), 1e-12);
  EXPECT_NEAR(corr(stats, kPhoto1, kBlank), -0.5 / std::sqrt(0.75), 1e-12);
  // mosaic1 = (0,.2,.4,.6): deviations (-.3,-.1,.1,.3), squares 0.2; with blank the products sum
  // to -0.3 → r = -0.3 / sqrt(0.75 × 0.2).
  EXPECT_NEAR(corr(stats, kBlank, kMosaic1), -0.3 / std::sqrt(0.75 * 0.2), 1e-12);
  // photo2 and multilattice are the same column; mosaic2 is photo2 scaled by 0.3.
  EXPECT_NEAR(corr(stats, kPhoto2, kMulti), 1.0, 1e-12);
  EXPECT_NEAR(corr(stats, kPhoto2, kMosaic2), 1.0, 1e-12);
  // photo1 with ice: (0,1,0,1) vs (0,1,0,0): products .5·.75 ... = 0.5, squares 1 and 0.75.
  EXPECT_NEAR(corr(stats, kPhoto1, kIce), 0.5 / std::sqrt(0.75), 1e-12);
  EXPECT_EQ(corr(stats, kMosaic1, kMosaic1), 1.0);
  // badice is constant: no variance, no coefficient — not even on the diagonal.
  for (size_t c = 0; c < 8; ++c) {
    EXPECT_TRUE(std::isnan(corr(stats, kBadice, c))) << c;
    EXPECT_TRUE(std::isnan(corr(stats, c, kBadice))) << c;
  }
}

TEST(Stats, CombinationsMostCommonFirst) {
  Dataset ds = crafted();
  ds.samples.push_back(make_sample("s5", Labels{0, 1, 0, 0, 0, 0}, std::nullopt, 0.5));
  ds.samples.push_back(make_sample("s6", Labels{0, 0, 0, 0, 0, 0}, std::nullopt, 0.5));
  const DatasetStats stats = compute_stats(ds);
  const std::vector<std::pair<std::string, int64_t>> expected = {
      {"photo1", 2}, {"blank", 1}, {"none", 1}, {"photo1+ice", 1}, {"photo2+multilattice", 1}};
  EXPECT_EQ(stats.combinations, expected);
}

TEST(Stats, QualityOnlyDatasetHasNoColumns) {
  Dataset ds;
  ds.samples.push_back(make_sample("q1", std::nullopt, Quality::kStrong, 0.3));
  const DatasetStats stats = compute_stats(ds);
  EXPECT_TRUE(stats.columns.empty());
  EXPECT_TRUE(stats.correlation.empty());
  EXPECT_TRUE(stats.combinations.empty());
  EXPECT_EQ(stats.quality_majority_class, "strong");
  EXPECT_DOUBLE_EQ(stats.quality_majority_accuracy, 1.0);
  const nlohmann::json j = to_json(stats);
  EXPECT_TRUE(j["columns"].empty());
  EXPECT_TRUE(j["correlation"]["matrix"].empty());

  const DatasetStats none = compute_stats(Dataset{});
  EXPECT_EQ(none.n_samples, 0);
  EXPECT_EQ(none.quality_majority_class, "");
}

TEST(Stats, JsonHoldsEverythingWithNullForNaN) {
  const nlohmann::json j = to_json(compute_stats(crafted()));
  EXPECT_EQ(j["n_samples"], 7);
  EXPECT_EQ(j["n_multilabel"], 4);
  EXPECT_EQ(j["n_quality"], 4);
  ASSERT_EQ(j["columns"].size(), 8u);
  EXPECT_EQ(j["columns"][0]["name"], "blank");
  EXPECT_EQ(j["columns"][0]["n_positive"], 1);
  EXPECT_DOUBLE_EQ(j["columns"][0]["positive_fraction"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(j["columns"][0]["majority_accuracy"].get<double>(), 0.75);
  EXPECT_EQ(j["columns"][6]["majority_class"], "1");
  ASSERT_EQ(j["correlation"]["columns"].size(), 8u);
  EXPECT_EQ(j["correlation"]["columns"][7], "mosaic2");
  ASSERT_EQ(j["correlation"]["matrix"].size(), 8u);
  EXPECT_TRUE(j["correlation"]["matrix"][5][5].is_null());
  EXPECT_TRUE(j["correlation"]["matrix"][0][5].is_null());
  EXPECT_NEAR(j["correlation"]["matrix"][0][1].get<double>(), -0.5 / std::sqrt(0.75), 1e-12);
  EXPECT_EQ(j["quality"]["counts"]["good"], 2);
  EXPECT_EQ(j["quality"]["counts"]["noxtal"], 0);
  EXPECT_EQ(j["quality"]["majority_class"], "good");
  EXPECT_DOUBLE_EQ(j["quality"]["majority_accuracy"].get<double>(), 0.5);
  ASSERT_EQ(j["combinations"].size(), 4u);
  EXPECT_EQ(j["combinations"][0]["labels"], "blank");
  EXPECT_EQ(j["combinations"][0]["count"], 1);
  // Serialisable (no NaN leaks into the text).
  EXPECT_EQ(j.dump().find("NaN"), std::string::npos);
  EXPECT_NE(j.dump().find("null"), std::string::npos);
}

TEST(Stats, DescribeLabelsUsesTheStudyGridTitles) {
  EXPECT_EQ(describe_labels(make_sample("a", Labels{0, 0, 1, 1, 1, 0})), "photo2 multi ice");
  EXPECT_EQ(describe_labels(make_sample("a", Labels{1, 0, 0, 0, 1, 1}, Quality::kBlank)),
            "blank ice badice blank");
  EXPECT_EQ(describe_labels(make_sample("a", std::nullopt, Quality::kGood)), "good");
  EXPECT_EQ(describe_labels(make_sample("a", Labels{0, 1, 0, 0, 0, 0}, Quality::kStrong)),
            "photo1 strong");
  EXPECT_EQ(describe_labels(make_sample("a", Labels{})), "none");
}

}  // namespace
}  // namespace difftriage::dataset
