/// The triage networks: one trunk ("vgg16" or "compact") organised in named blocks, global
/// pooling, and any combination of heads. This header includes LibTorch.
///
///   auto meta = difftriage::models::default_metadata("compact", {"quality", "labels", "ice"});
///   difftriage::models::TriageNet net(meta.architecture, meta.heads);
///   auto out = net->forward(x);                  // x: [N,1,128,128] float32
///   out.at("labels");                            // [N,6] logits
///
/// Trunks (blocks are named block1, block2, … so transfer can freeze the first k and
/// explanation can hook each block's output; parameter names look like "block3.conv2.weight"):
///  - vgg16: the study's 13 3×3 conv layers (padding 1) + ReLU in 5 blocks of 2,2,3,3,3 convs
///    with widths 64,128,256,512,512, each block ending in a 2×2 max pool; grayscale input.
///    No BatchNorm (as in the study). Unlike the study's Flatten + Dense, the last block is
///    globally average-pooled, so the network works at any input size ≥ 32² and its heads see
///    512 features.
///  - compact: designed for CPU real time on diffraction frames. Optional stem max pool
///    (stem_pool, peak-preserving), optionally beside a learned patch stem (stem_conv), then per block a 3×3 stride-2 conv + BatchNorm + ReLU,
///    and from the third block on one more 3×3 conv + BN + ReLU at the same resolution. Default
///    widths 16,32,64,96 on a 128² input (the 4×4 max-binned 512² frame, see
///    default_preprocess): 128² → 64² → 32² → 16² → 8². The last block is pooled by global
///    average AND global max, concatenated (2·96 = 192 features): Bragg spots are sparse and
///    the max keeps their evidence.
/// Heads (each Linear → ReLU → [Dropout] → Linear on the pooled features):
///  quality [N,5] logits (softmax), labels [N,6] logits (sigmoids, order of kLabelNames),
///  mosaic [N,2] in [0,1] (sigmoid applied in forward), spots [N,1] log10(1 + bright spots)
///  (linear), binary heads named by a label [N,1] logits (sigmoid). All float32.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "difftriage/models/model_info.h"

namespace difftriage::models {

/// Head name → output tensor (see network.h top comment for shapes). float32.
using HeadOutputs = std::map<std::string, torch::Tensor>;

/// Trunk + heads. Not thread-safe for training; concurrent forward() calls in eval mode under
/// torch::InferenceMode / NoGradGuard are safe (nothing is mutated).
class TriageNetImpl : public torch::nn::Module {
 public:
  /// @throws ConfigError naming the option at fault (architecture fields, heads).
  TriageNetImpl(ArchitectureConfig architecture, std::vector<std::string> heads);

  /// x: [N,1,H,W] float32 → head outputs. H, W ≥ 32 (vgg16) or ≥ 2^(blocks) · stem_pool.
  HeadOutputs forward(const torch::Tensor& x);
  /// Output of every trunk block, in order ([N,C_b,H_b,W_b] float32, channels-last strides —
  /// call .contiguous() before reading raw memory): for feature maps, dead-map statistics and
  /// Grad-CAM.
  std::vector<torch::Tensor> forward_blocks(const torch::Tensor& x);
  /// Globally pooled trunk features [N, feature_size()] float32.
  torch::Tensor features(const torch::Tensor& x);
  /// Heads applied to pooled features [N, feature_size()].
  HeadOutputs forward_heads(const torch::Tensor& features);

  int64_t n_blocks() const noexcept { return static_cast<int64_t>(blocks_.size()); }
  /// Block `i` (0-based; its name is "block{i+1}"). @throws ConfigError if out of range.
  torch::nn::Sequential block(int64_t i) const;
  /// "block1", "block2", ...
  std::vector<std::string> block_names() const;
  int64_t feature_size() const noexcept { return feature_size_; }
  const ArchitectureConfig& architecture() const noexcept { return architecture_; }
  const std::vector<std::string>& heads() const noexcept { return head_names_; }

  /// Sets requires_grad = false on the parameters of the first `k` blocks and keeps those
  /// blocks (their BatchNorm statistics) in eval mode even when train() is called. k = 0
  /// unfreezes everything. @throws ConfigError if k is outside 0..n_blocks().
  void freeze_blocks(int64_t k);
  int64_t n_frozen_blocks() const noexcept { return n_frozen_; }
  /// Module::train, except that frozen blocks stay in eval mode.
  void train(bool on = true) override;

 private:
  ArchitectureConfig architecture_;
  std::vector<std::string> head_names_;
  // Input → first block's input: channels-last, max-pooled (stem_pool > 1) and, with a learned
  // stem, concatenated with its maps.
  torch::Tensor stem(const torch::Tensor& x);

  torch::nn::Sequential stem_{nullptr};  // stem max pool (compact, stem_pool > 1), no params
  torch::nn::Sequential stem_conv_{nullptr};  // learned stem (stem_conv > 0)
  std::vector<torch::nn::Sequential> blocks_;
  std::vector<torch::nn::Sequential> head_modules_;
  int64_t feature_size_ = 0;
  int64_t n_frozen_ = 0;
};
TORCH_MODULE(TriageNet);

/// A network for `metadata.architecture` and `metadata.heads`, freshly initialised (seeded
/// by torch::manual_seed, so not safe to call concurrently if reproducibility matters).
/// @throws ConfigError.
TriageNet make_network(const ModelMetadata& metadata);

/// Same as model->freeze_blocks(k). Not thread-safe with respect to `model`.
void freeze_blocks(TriageNet& model, int64_t k);

/// Softmax of quality, sigmoid of labels and binary heads, mosaic unchanged, spots clamped to
/// ≥ 0 (a log10(1 + count) estimate, not a probability). Thread-safe.
HeadOutputs to_probabilities(const HeadOutputs& outputs);

/// Number of trainable + frozen parameters (not buffers). Thread-safe for a model not being
/// modified.
int64_t count_parameters(TriageNetImpl& model);

/// Floating-point operations (2 × multiply-adds of convs and linears; pooling, BN, ReLU not
/// counted) of one forward pass for an input_size² single-channel input, heads included.
/// Analytic, thread-safe. @throws ConfigError for an invalid architecture or head.
double estimate_flops(const ArchitectureConfig& architecture,
                      const std::vector<std::string>& heads, int64_t input_size);

/// Which targets a batch carries, per head. `target` shapes: quality [N] int64 class index;
/// labels [N,6] float 0/1; mosaic [N,2] float in [0,1]; binary heads [N] or [N,1] float 0/1.
/// `mask` is 1 (float or bool) where the sample has this label type, 0 where it is missing:
/// shape [N] (per sample) or the target's shape (per element, e.g. mosaic2 only where
/// multilattice). An undefined mask means every element is valid.
struct HeadTarget {
  torch::Tensor target;
  torch::Tensor mask;
};
/// Head name → targets. A head of the model without an entry contributes 0.
using Targets = std::map<std::string, HeadTarget>;

/// Loss of the mosaic head, on its sigmoid outputs.
enum class MosaicLoss {
  kMse,  ///< "mse": squared error
  kL1,   ///< "l1": absolute error
};
/// "mse", "l1"; "?" for a value outside the enum.
const char* mosaic_loss_name(MosaicLoss loss) noexcept;
/// Parses the names above. @throws ConfigError naming `option` and the accepted values.
MosaicLoss parse_mosaic_loss(const std::string& word, const std::string& option = "mosaic_loss");

/// Loss options.
struct LossOptions {
  /// [6] float positive weights of the labels BCE (undefined = none).
  torch::Tensor labels_pos_weight;
  /// Positive weight per binary head (absent = 1).
  std::map<std::string, double> binary_pos_weight;
  /// Loss of the mosaic head.
  MosaicLoss mosaic_loss = MosaicLoss::kMse;
  /// Weight of each head in the total (absent = 1).
  std::map<std::string, double> head_weights;
};

/// Losses of one batch. Each head's loss is the mean over its valid (unmasked) elements:
/// sum(mask · loss) / max(sum(mask), 1), so a head without a valid element contributes exactly 0
/// (never NaN) and a masked sample's target value has no effect.
struct LossResult {
  /// Scalar float32, Σ weight · head loss (a constant 0 without grad_fn if no head had targets).
  torch::Tensor total;
  std::map<std::string, torch::Tensor> per_head;  ///< scalar float32 per head with targets
  std::map<std::string, int64_t> n_valid;         ///< valid elements per head
};

/// Masked multi-head loss: quality cross-entropy, labels / binary BCE-with-logits, mosaic MSE or
/// L1 on the sigmoid outputs. Thread-safe (pure). @throws ConfigError for a target whose shape
/// does not fit its head, or a `mosaic_loss` outside the enum (option named).
LossResult compute_losses(const HeadOutputs& outputs, const Targets& targets,
                          const LossOptions& options = {});

}  // namespace difftriage::models
