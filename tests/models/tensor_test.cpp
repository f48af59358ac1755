#include "difftriage/models/tensor.h"

#include <gtest/gtest.h>
#include <torch/types.h>

namespace difftriage::models {
namespace {

TEST(ImageToTensor, ShapeDtypeAndValuesFollowTheFrame) {
  Image<uint16_t> img(3, 4);
  for (int64_t s = 0; s < 3; ++s)
    for (int64_t f = 0; f < 4; ++f) img(s, f) = static_cast<uint16_t>(100 * s + f);
  const auto t = image_to_tensor(img.view());
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{1, 1, 3, 4}));
  EXPECT_EQ(t.scalar_type(), torch::kFloat32);
  EXPECT_FLOAT_EQ(t[0][0][2][3].item<float>(), 203.0f);
  EXPECT_FLOAT_EQ(t.sum().item<float>(), 4 * (0 + 100 + 200) + 3 * (0 + 1 + 2 + 3));
}

TEST(ImageToTensor, MaskedPixelsTakeTheMaskedValue) {
  Image<int32_t> img(2, 2, 7);
  img.set_mask({0, 1, 0, 0});
  const auto t = image_to_tensor(img.view(), -1.0f);
  EXPECT_FLOAT_EQ(t[0][0][0][1].item<float>(), -1.0f);
  EXPECT_FLOAT_EQ(t[0][0][1][1].item<float>(), 7.0f);
}

TEST(TensorToImage, RoundTripsAndRejectsBadShapes) {
  Image<float> img(5, 6);
  for (int64_t i = 0; i < img.size(); ++i) img.data()[i] = 0.5f * static_cast<float>(i);
  const auto back = tensor_to_image(image_to_tensor(img.view()));
  EXPECT_EQ(back.pixels(), img.pixels());
  EXPECT_THROW(tensor_to_image(torch::zeros({2, 1, 5, 6})), ConfigError);
  EXPECT_THROW(tensor_to_image(torch::zeros({5, 6}, torch::kFloat64)), ConfigError);
}

}  // namespace
}  // namespace difftriage::models
