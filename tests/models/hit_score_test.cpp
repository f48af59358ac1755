// The one hit-score rule (models::score_hit): which output gives p_hit, and its value.
#include "difftriage/models/hit_score.h"

#include <gtest/gtest.h>

#include <string>

namespace difftriage::models {
namespace {

Prediction with_labels(float p_blank) {
  Prediction p;
  p.label_probabilities = {p_blank, 0.7f, 0.1f, 0.2f, 0.3f, 0.05f};
  return p;
}

TEST(HitScore, FollowsTheDocumentedPrecedence) {
  ModelMetadata meta;
  meta.heads = {"quality", "labels", "blank"};
  Prediction p = with_labels(0.25f);
  p.quality_probabilities = {0.1f, 0.2f, 0.4f, 0.2f, 0.1f};
  p.binary["blank"] = 0.75f;

  // 1. A binary blank head wins over the labels head (results.jsonl's p.blank shows it too).
  auto s = score_hit({p}, meta);
  ASSERT_TRUE(s.p_hit.has_value());
  EXPECT_EQ(*s.p_hit, 1.0 - 0.75f);
  EXPECT_EQ(s.source, HitSource::kBlankOutput);
  EXPECT_STREQ(s.evidence, "1 - p of the blank head");
  EXPECT_EQ(hit_source(meta), HitSource::kBlankOutput);

  // 2. Then the labels head's blank output.
  p.binary.clear();
  meta.heads = {"quality", "labels"};
  s = score_hit({p}, meta);
  EXPECT_EQ(*s.p_hit, 1.0 - 0.25f);
  EXPECT_EQ(s.source, HitSource::kLabelsBlank);
  EXPECT_STREQ(s.evidence, "1 - p(blank) of the labels head");
  EXPECT_EQ(hit_source(meta), HitSource::kLabelsBlank);

  // 3. Then the quality head: 1 - p(blank) - p(noxtal), computed in double.
  p.label_probabilities.clear();
  meta.heads = {"quality"};
  s = score_hit({p}, meta);
  EXPECT_EQ(*s.p_hit, 1.0 - static_cast<double>(0.1f) - static_cast<double>(0.2f));
  EXPECT_EQ(s.source, HitSource::kQualityClasses);
  EXPECT_STREQ(s.evidence, "1 - p(blank) - p(noxtal) of the quality head");
  EXPECT_EQ(hit_source(meta), HitSource::kQualityClasses);

  // 4. Nothing that answers "blank?": no p_hit.
  p.quality_probabilities.clear();
  p.mosaic = {0.5f, 0.5f};
  meta.heads = {"mosaic"};
  s = score_hit({p}, meta);
  EXPECT_FALSE(s.p_hit.has_value());
  EXPECT_EQ(s.source, HitSource::kNone);
  EXPECT_STREQ(s.evidence, "");
  EXPECT_EQ(hit_source(meta), HitSource::kNone);
}

TEST(HitScore, FindsBlankAndNoxtalByNameAndClampsTheQualityScore) {
  ModelMetadata meta;
  meta.label_names = {"photo1", "blank", "photo2", "multilattice", "ice", "badice"};
  meta.quality_names = {"strong", "good", "weak", "noxtal", "blank"};
  Prediction p = with_labels(0.9f);  // index 1 holds "blank" for this model: 0.7
  EXPECT_EQ(*score_hit({p}, meta).p_hit, 1.0 - 0.7f);

  p.label_probabilities.clear();
  p.quality_probabilities = {0.0f, 0.0f, 0.0f, 0.6f, 0.4000001f};  // sums past 1 by rounding
  const auto s = score_hit({p}, meta);
  EXPECT_EQ(s.source, HitSource::kQualityClasses);
  EXPECT_EQ(*s.p_hit, 0.0);  // clamped, never negative

  // Without "blank" among the label names the labels head gives no evidence.
  meta.label_names = {"a", "b", "c", "d", "e", "f"};
  meta.heads = {"labels"};
  p.quality_probabilities.clear();
  p.label_probabilities = {0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f};
  EXPECT_FALSE(score_hit({p}, meta).p_hit.has_value());
  EXPECT_EQ(hit_source(meta), HitSource::kNone);
}

}  // namespace
}  // namespace difftriage::models
