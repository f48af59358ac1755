/// Tensor-level explanation of a TriageNet: filters, dead-map statistics, Grad-CAM and
/// gradient × input. This header includes LibTorch (via network.h); explain.h is the
/// Torch-free, file-level API built on it.
///
///   auto net = difftriage::models::load_checkpoint("runs/a/model").model;
///   torch::Tensor x = pre.preprocess_batch(frames);                  // [N,1,S,S] float32
///   difftriage::explain::DeadMapAccumulator dead(*net);
///   dead.add(x);
///   auto report = dead.report(1e-6, 0.99);
///   torch::Tensor cam = difftriage::explain::grad_cam(net, x.slice(0, 0, 1), "labels", 4);
///
/// None of these functions is safe to call concurrently on the same model (Grad-CAM runs a
/// backward pass through it); different models may be explained concurrently.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "difftriage/core/image.h"
#include "difftriage/explain/explain.h"
#include "difftriage/models/network.h"

namespace difftriage::explain {

/// The first filters of one conv layer, ready to draw.
struct LayerFilters {
  std::string name;            ///< dotted parameter prefix, e.g. "block2.conv1"
  std::vector<int64_t> shape;  ///< weight shape [out, in, kh, kw]
  /// One kh × kw image per shown filter: the mean over input channels, min–max normalised to
  /// 0..255 over all shown filters of the layer (one scale per layer, so relative strengths
  /// stay visible).
  std::vector<Image<uint8_t>> images;
};

/// The first `n_filters` filters of every Conv2d of the trunk, in forward order. Thread-safe for
/// a model nobody modifies. @throws ConfigError if n_filters < 1.
std::vector<LayerFilters> first_filters(models::TriageNetImpl& model, int n_filters);

/// Min–max normalises one [H,W] float map (any strides) to 0..255 (a constant map → 0).
Image<uint8_t> to_gray8(const torch::Tensor& map);

/// Accumulates per-channel activation statistics of every block over batches of images.
/// Not thread-safe.
class DeadMapAccumulator {
 public:
  /// `model` must outlive the accumulator; it is run in eval mode without gradients.
  explicit DeadMapAccumulator(models::TriageNetImpl& model);
  /// Adds a batch x: [N,1,S,S] float32 (network input); puts the model in eval mode and runs
  /// it without gradients. @throws ConfigError for a bad shape.
  void add(const torch::Tensor& x, double epsilon);
  /// Adds already computed block outputs (as TriageNetImpl::forward_blocks returns them,
  /// [N,C_b,H_b,W_b] each). @throws ConfigError if the blocks differ from earlier batches.
  void add_blocks(const std::vector<torch::Tensor>& blocks, double epsilon);
  /// The statistics so far. `source` is stored in the report.
  DeadMapReport report(double epsilon, double dead_image_fraction,
                       const std::string& source = "images") const;

 private:
  models::TriageNetImpl* model_;
  int64_t n_images_ = 0;
  std::vector<std::vector<int64_t>> dead_counts_;  // per block, per channel
  std::vector<std::vector<double>> sums_;          // per block, per channel: Σ per-image means
};

/// Grad-CAM (Selvaraju et al. 2017) of one output of one head for one image, at block
/// `block_index` (-1 = last block): weights α_c = spatial mean of ∂score/∂A_c, map =
/// ReLU(Σ_c α_c A_c), bilinearly upsampled to the input size and divided by its maximum.
/// The score is the head's logit for quality/labels/binary heads and the sigmoid output for
/// mosaic. x: [1,1,S,S] float32. Returns [S,S] float32 in [0,1] (all 0 when the map is 0).
/// The model is left in eval mode; its parameters' gradients are not touched.
/// @throws ConfigError for an unknown head, an output index out of range or a bad shape.
torch::Tensor grad_cam(models::TriageNet& model, const torch::Tensor& x, const std::string& head,
                       int64_t output, int64_t block_index = -1);

/// Grad-CAM of every output of every head with one forward pass. Returns (name, [S,S] map) with
/// names "head/output" using `metadata` label names (e.g. "labels/ice", "quality/good",
/// "mosaic/mosaic1", "ice/ice").
std::vector<std::pair<std::string, torch::Tensor>> grad_cam_all(
    models::TriageNet& model, const torch::Tensor& x, const models::ModelMetadata& metadata,
    int64_t block_index = -1);

/// |gradient × input| of one head output w.r.t. the input. x: [1,1,S,S] float32 → [S,S]
/// float32 ≥ 0 (not normalised). @throws ConfigError as grad_cam.
torch::Tensor gradient_times_input(models::TriageNet& model, const torch::Tensor& x,
                                   const std::string& head, int64_t output);

/// |gradient × input| of every output of every head, one forward pass; names as grad_cam_all.
/// Pixel-resolution attribution (Grad-CAM is as coarse as the last block, e.g. 8×8 cells).
std::vector<std::pair<std::string, torch::Tensor>> gradient_times_input_all(
    models::TriageNet& model, const torch::Tensor& x, const models::ModelMetadata& metadata);

/// Overlay of a [S,S] map in [0,1] on the [S,S] input (grey, min–max normalised): RGB,
/// interleaved, S·S·3 bytes; colour = jet(map) blended with weight 0.6·map.
std::vector<uint8_t> overlay_rgb(const torch::Tensor& input, const torch::Tensor& map);

}  // namespace difftriage::explain
