// core/labels.h: the one label vocabulary.
#include <gtest/gtest.h>

#include <string>

#include "difftriage/core/labels.h"

namespace difftriage {
namespace {

TEST(Labels, QualityNamesRoundTripInEnumOrder) {
  ASSERT_EQ(kNumQualities, 5u);
  for (size_t i = 0; i < kNumQualities; ++i) {
    const auto q = static_cast<Quality>(i);
    EXPECT_STREQ(quality_name(q), kQualityNames[i]);
    EXPECT_EQ(parse_quality(kQualityNames[i]), q);
  }
  EXPECT_STREQ(quality_name(Quality::kNoxtal), "noxtal");
  EXPECT_STREQ(quality_name(static_cast<Quality>(7)), "unknown");
  EXPECT_FALSE(parse_quality("Good").has_value());
  EXPECT_FALSE(parse_quality("").has_value());
}

TEST(Labels, LabelIndicesFollowTheFileColumns) {
  ASSERT_EQ(kNumLabels, 6u);
  EXPECT_STREQ(kLabelNames[static_cast<size_t>(Label::kBlank)], "blank");
  EXPECT_STREQ(kLabelNames[static_cast<size_t>(Label::kMultilattice)], "multilattice");
  EXPECT_STREQ(kLabelNames[static_cast<size_t>(Label::kBadice)], "badice");
}

TEST(Labels, CrystalClassesAreWeakGoodStrong) {
  EXPECT_FALSE(has_crystal(Quality::kBlank));
  EXPECT_FALSE(has_crystal(Quality::kNoxtal));
  EXPECT_TRUE(has_crystal(Quality::kWeak));
  EXPECT_TRUE(has_crystal(Quality::kGood));
  EXPECT_TRUE(has_crystal(Quality::kStrong));
}

}  // namespace
}  // namespace difftriage
