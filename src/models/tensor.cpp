#include "difftriage/models/tensor.h"

#include <algorithm>
#include <cstring>

#include <torch/types.h>

namespace difftriage::models {

template <typename T>
torch::Tensor image_to_tensor(const ImageView<T>& image, float masked_value) {
  torch::Tensor tensor = torch::empty({1, 1, image.n_slow(), image.n_fast()}, torch::kFloat32);
  float* dst = tensor.data_ptr<float>();
  const T* src = image.data();
  for (int64_t i = 0; i < image.size(); ++i) {
    dst[i] = image.is_masked(i) ? masked_value : static_cast<float>(src[i]);
  }
  return tensor;
}

template torch::Tensor image_to_tensor(const ImageView<uint8_t>&, float);
template torch::Tensor image_to_tensor(const ImageView<uint16_t>&, float);
template torch::Tensor image_to_tensor(const ImageView<int32_t>&, float);
template torch::Tensor image_to_tensor(const ImageView<float>&, float);

Image<float> tensor_to_image(const torch::Tensor& tensor) {
  DT_CHECK(tensor.scalar_type() == torch::kFloat32, ConfigError,
           "tensor_to_image: expected float32, got ", tensor.scalar_type());
  DT_CHECK(tensor.device().is_cpu(), ConfigError, "tensor_to_image: tensor is not on the CPU");
  const bool plain = tensor.dim() == 2;
  const bool batched = tensor.dim() == 4 && tensor.size(0) == 1 && tensor.size(1) == 1;
  DT_CHECK(plain || batched, ConfigError, "tensor_to_image: expected [H,W] or [1,1,H,W], got ",
           tensor.sizes());
  const auto contiguous = tensor.contiguous();
  const int64_t h = tensor.size(tensor.dim() - 2), w = tensor.size(tensor.dim() - 1);
  Image<float> image(h, w);
  std::memcpy(image.data(), contiguous.data_ptr<float>(), static_cast<size_t>(h * w) * sizeof(float));
  return image;
}

torch::Tensor to_input_tensor(const std::vector<PreparedFrame>& frames, int64_t side) {
  const auto n = static_cast<int64_t>(frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    DT_CHECK(frames[i].side == side &&
                 frames[i].pixels.size() == static_cast<size_t>(side * side),
             ConfigError, "prepared frame ", i, " is ", frames[i].side, "² with ",
             frames[i].pixels.size(), " values, the model takes ", side, "² inputs");
  }
  auto x = torch::empty({n, 1, side, side}, torch::kFloat32);
  float* dst = x.data_ptr<float>();
  for (const auto& f : frames) dst = std::copy(f.pixels.begin(), f.pixels.end(), dst);
  return x;
}

}  // namespace difftriage::models
