/// Conversions between difftriage frames and LibTorch tensors. This header includes Torch; keep
/// it out of headers that do not need it.
///
///   torch::Tensor x = difftriage::models::image_to_tensor(frame.view());  // [1,1,H,W] float32
#pragma once

#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "difftriage/core/image.h"
#include "difftriage/models/classifier.h"

namespace difftriage::models {

/// Copies a frame into a new contiguous tensor of shape [1, 1, n_slow, n_fast], dtype float32,
/// on the CPU. Masked pixels become `masked_value`. Thread-safe.
template <typename T>
torch::Tensor image_to_tensor(const ImageView<T>& image, float masked_value = 0.0f);

/// Copies a [H, W] or [1, 1, H, W] float32 CPU tensor back into a float frame.
/// @throws ConfigError if the shape or dtype does not fit.
Image<float> tensor_to_image(const torch::Tensor& tensor);

/// The network input of prepared frames (Classifier::prepare): a new contiguous
/// [N, 1, side, side] float32 CPU tensor, frame i in row i, values copied unchanged. Classifier
/// feeds its forward pass with it; explain's Grad-CAM uses it to see the same input.
/// @throws ConfigError if a frame's side differs from `side` or its pixel count from side².
torch::Tensor to_input_tensor(const std::vector<PreparedFrame>& frames, int64_t side);

}  // namespace difftriage::models
