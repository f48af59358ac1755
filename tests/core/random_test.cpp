// core/random.h: the one SplitMix64, pinned to its published reference values.
#include <gtest/gtest.h>

#include <cstdint>

#include "difftriage/core/random.h"

namespace difftriage {
namespace {

TEST(Random, SplitMix64MatchesTheReferenceSequence) {
  // The first outputs of SplitMix64 seeded with 0 (Vigna's splitmix64.c reference).
  uint64_t state = 0;
  EXPECT_EQ(splitmix64_next(state), 0xE220A8397B1DCDAFULL);
  EXPECT_EQ(splitmix64_next(state), 0x6E789E6AA1B965F4ULL);
  EXPECT_EQ(splitmix64_next(state), 0x06C45D188009454FULL);
  EXPECT_EQ(splitmix64_next(state), 0xF88BB8A8724C81ECULL);
  EXPECT_EQ(state, 4 * kSplitMix64Increment);
}

TEST(Random, SplitMix64MixesSeedsAndIsConstexpr) {
  static_assert(splitmix64(0) == 0xE220A8397B1DCDAFULL);
  EXPECT_EQ(splitmix64(1), 0x910A2DEC89025CC1ULL);
  EXPECT_EQ(splitmix64(42), 0xBDD732262FEB6E95ULL);
  uint64_t state = 12345;
  EXPECT_EQ(splitmix64_next(state), 0x22118258A9D111A0ULL);
  EXPECT_EQ(splitmix64_next(state), 0x346EDCE5F713F8EDULL);
  EXPECT_EQ(splitmix64_next(state), 0x1E9A57BC80E6721DULL);
}

TEST(Random, UnitDoubleUsesTheTop53Bits) {
  EXPECT_EQ(unit_double(0), 0.0);
  EXPECT_EQ(unit_double(~uint64_t{0}), 1.0 - 0x1.0p-53);
  EXPECT_EQ(unit_double(uint64_t{1} << 63), 0.5);
  EXPECT_EQ(unit_double(0x7FF), 0.0);  // the low 11 bits are dropped
  EXPECT_DOUBLE_EQ(unit_double(0x22118258A9D111A0ULL), 0.1330796686614273);
}

}  // namespace
}  // namespace difftriage
