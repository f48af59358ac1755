#include "difftriage/core/image.h"

#include <gtest/gtest.h>

namespace difftriage {
namespace {

TEST(Image, IsRowMajorSlowByFast) {
  Image<uint16_t> img(2, 3);
  img(1, 2) = 42;
  EXPECT_EQ(img.n_slow(), 2);
  EXPECT_EQ(img.n_fast(), 3);
  EXPECT_EQ(img.data()[1 * 3 + 2], 42);
  EXPECT_EQ(img.view()(1, 2), 42);
  EXPECT_EQ(Image<uint16_t>::pixel_type(), PixelType::kUint16);
}

TEST(Image, RejectsNegativeAndHugeExtents) {
  EXPECT_THROW(Image<uint8_t>(-1, 5), ConfigError);
  EXPECT_THROW(Image<uint8_t>(kMaxImageExtent + 1, 1), ConfigError);
  EXPECT_THROW(Image<uint8_t>(kMaxImageExtent, kMaxImageExtent), ConfigError);
  EXPECT_NO_THROW(Image<uint8_t>(0, 0));
}

TEST(Image, MaskMustMatchThePixelCount) {
  Image<int32_t> img(2, 2);
  EXPECT_THROW(img.set_mask({1, 0}), ConfigError);
  img.set_mask({1, 0, 0, 1});
  EXPECT_EQ(img.n_masked(), 2);
  EXPECT_TRUE(img.view().is_masked(3));
  EXPECT_FALSE(img.view().is_masked(1));
}

TEST(AnyImage, ReportsTypeExtentsAndConvertsToFloat) {
  Image<int32_t> img(2, 3, -5);
  img.metadata().wavelength_angstrom = 1.3;
  img.set_mask({0, 0, 0, 0, 0, 1});
  AnyImage any = img;
  EXPECT_EQ(pixel_type(any), PixelType::kInt32);
  EXPECT_EQ(extents(any), std::make_pair(int64_t{2}, int64_t{3}));
  EXPECT_EQ(metadata(any).wavelength_angstrom, 1.3);
  const Image<float> f = to_float(any);
  EXPECT_FLOAT_EQ(f(1, 2), -5.0f);
  EXPECT_EQ(f.n_masked(), 1);
  EXPECT_EQ(f.metadata().wavelength_angstrom, 1.3);
  EXPECT_STREQ(pixel_type_name(PixelType::kFloat32), "float32");
}

}  // namespace
}  // namespace difftriage
