// Tensor-level explanations: filters, dead-map statistics, Grad-CAM, gradient × input.
#include "difftriage/explain/attribution.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/utils.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "difftriage/core/error.h"

namespace difftriage::explain {
namespace {

// The score whose gradient Grad-CAM follows: the head's pre-activation output (a logit) for
// quality/labels/binary heads, the sigmoid output for mosaic (forward_heads applies it).
torch::Tensor head_score(const models::HeadOutputs& out, const std::string& head, int64_t output) {
  const auto it = out.find(head);
  DT_CHECK(it != out.end(), ConfigError, "explain: the model has no head '", head, "'");
  const auto n = it->second.size(1);
  DT_CHECK(output >= 0 && output < n, ConfigError, "explain: output ", output, " of head '", head,
           "' out of 0..", n - 1);
  return it->second.select(1, output).sum();
}

// Same pooling as TriageNetImpl::features, from the last block's output.
torch::Tensor pool(models::TriageNetImpl& model, const torch::Tensor& h) {
  if (model.architecture().global_pool == "avgmax") {
    return torch::cat({h.mean({2, 3}), h.amax({2, 3})}, 1);
  }
  return h.mean({2, 3});
}

struct CamForward {
  std::vector<torch::Tensor> blocks;
  models::HeadOutputs heads;
};

CamForward cam_forward(models::TriageNet& model, const torch::Tensor& x) {
  DT_CHECK(x.dim() == 4 && x.size(0) == 1 && x.size(1) == 1, ConfigError,
           "explain: input must be [1,1,S,S], got ", x.sizes());
  model->eval();
  // The input requires grad so that the graph exists even when every block is frozen.
  auto xin = x.detach().to(torch::kFloat32).clone().requires_grad_(true);
  CamForward f;
  f.blocks = model->forward_blocks(xin);
  f.heads = model->forward_heads(pool(*model, f.blocks.back()));
  return f;
}

torch::Tensor cam_from(const torch::Tensor& activation, const torch::Tensor& gradient,
                       int64_t size) {
  const auto a = activation.detach().to(torch::kFloat32).contiguous();
  const auto g = gradient.detach().to(torch::kFloat32).contiguous();
  const auto alpha = g.mean({2, 3}, /*keepdim=*/true);           // [1,C,1,1]
  auto cam = torch::relu((alpha * a).sum(1, /*keepdim=*/true));  // [1,1,h,w]
  const std::vector<int64_t> out_size = {size, size};
  cam = at::upsample_bilinear2d(cam, at::IntArrayRef(out_size), false, c10::nullopt, c10::nullopt)
            .clamp_min(0.0)[0][0]
            .contiguous();
  const double mx = cam.max().item<double>();
  if (mx > 0 && std::isfinite(mx)) cam = cam / mx;
  return cam;
}

size_t block_slot(const CamForward& f, int64_t block_index) {
  const auto n = static_cast<int64_t>(f.blocks.size());
  const int64_t b = block_index < 0 ? n - 1 : block_index;
  DT_CHECK(b >= 0 && b < n, ConfigError, "explain: block index ", block_index, " out of 0..",
           n - 1);
  return static_cast<size_t>(b);
}

std::string output_name(const models::ModelMetadata& meta, const std::string& head, int64_t k) {
  const auto idx = static_cast<size_t>(k);
  if (head == models::kQualityHead && idx < meta.quality_names.size())
    return meta.quality_names[idx];
  if (head == models::kLabelsHead && idx < meta.label_names.size()) return meta.label_names[idx];
  if (head == models::kMosaicHead) return "mosaic" + std::to_string(k + 1);
  if (models::head_output_size(head) == 1) return head;
  return std::to_string(k);
}

}  // namespace

Image<uint8_t> to_gray8(const torch::Tensor& map) {
  const auto m = map.detach().to(torch::kFloat32).contiguous();
  DT_CHECK(m.dim() == 2, ConfigError, "to_gray8: map must be [H,W], got ", m.sizes());
  const int64_t h = m.size(0), w = m.size(1);
  Image<uint8_t> img(h, w);
  const float* p = m.data_ptr<float>();
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  for (int64_t i = 0; i < h * w; ++i) {
    if (!std::isfinite(p[i])) continue;
    lo = std::min(lo, p[i]);
    hi = std::max(hi, p[i]);
  }
  const float range = hi > lo ? hi - lo : 0.0f;
  for (int64_t i = 0; i < h * w; ++i) {
    const float v = range > 0 && std::isfinite(p[i]) ? (p[i] - lo) / range : 0.0f;
    img.data()[i] = static_cast<uint8_t>(std::lround(255.0f * std::clamp(v, 0.0f, 1.0f)));
  }
  return img;
}

std::vector<LayerFilters> first_filters(models::TriageNetImpl& model, int n_filters) {
  DT_CHECK(n_filters >= 1, ConfigError, "n_filters must be >= 1, got ", n_filters);
  std::vector<LayerFilters> layers;
  torch::NoGradGuard no_grad;
  // Conv weights are the only 4-D parameters of a TriageNet (BN and Linear are 1-D/2-D);
  // named_parameters lists them in registration (= forward) order.
  for (const auto& item : model.named_parameters(/*recurse=*/true)) {
    const auto& w = item.value();
    const std::string& key = item.key();
    if (w.dim() != 4 || key.size() < 7 || key.compare(key.size() - 7, 7, ".weight") != 0) continue;
    LayerFilters lf;
    lf.name = key.substr(0, key.size() - 7);
    lf.shape = w.sizes().vec();
    const int64_t n = std::min<int64_t>(n_filters, w.size(0));
    // Mean over input channels: for the first layer (1 input channel) the filter itself; for
    // deeper layers a summary (the study plotted single channels; the mean is less arbitrary).
    auto shown = w.slice(0, 0, n).to(torch::kFloat32).mean(1);  // [n,kh,kw]
    const float lo = shown.min().item<float>(), hi = shown.max().item<float>();
    auto scaled = hi > lo ? (shown - lo) / (hi - lo) : torch::zeros_like(shown);
    scaled = (scaled * 255.0).round().clamp(0, 255).to(torch::kUInt8).contiguous();
    for (int64_t k = 0; k < n; ++k) {
      Image<uint8_t> img(scaled.size(1), scaled.size(2));
      std::copy_n(scaled[k].data_ptr<uint8_t>(), img.size(), img.data());
      lf.images.push_back(std::move(img));
    }
    layers.push_back(std::move(lf));
  }
  return layers;
}

DeadMapAccumulator::DeadMapAccumulator(models::TriageNetImpl& model) : model_(&model) {}

void DeadMapAccumulator::add(const torch::Tensor& x, double epsilon) {
  DT_CHECK(x.dim() == 4 && x.size(1) == 1, ConfigError, "dead maps: input must be [N,1,S,S], got ",
           x.sizes());
  torch::NoGradGuard no_grad;
  model_->eval();
  add_blocks(model_->forward_blocks(x.to(torch::kFloat32)), epsilon);
}

void DeadMapAccumulator::add_blocks(const std::vector<torch::Tensor>& blocks, double epsilon) {
  if (dead_counts_.empty()) {
    dead_counts_.resize(blocks.size());
    sums_.resize(blocks.size());
    for (size_t b = 0; b < blocks.size(); ++b) {
      dead_counts_[b].assign(static_cast<size_t>(blocks[b].size(1)), 0);
      sums_[b].assign(static_cast<size_t>(blocks[b].size(1)), 0.0);
    }
  }
  DT_CHECK(blocks.size() == dead_counts_.size(), ConfigError, "dead maps: got ", blocks.size(),
           " blocks, expected ", dead_counts_.size());
  if (blocks.empty()) return;
  const int64_t n = blocks[0].size(0);
  for (size_t b = 0; b < blocks.size(); ++b) {
    const auto t = blocks[b].detach().to(torch::kFloat32);
    DT_CHECK(t.dim() == 4 && t.size(1) == static_cast<int64_t>(sums_[b].size()), ConfigError,
             "dead maps: block ", b + 1, " has shape ", t.sizes());
    const auto dead = (t.amax({2, 3}) <= epsilon).sum(0).to(torch::kInt64).contiguous();  // [C]
    const auto mean = t.mean({2, 3}).sum(0).to(torch::kFloat64).contiguous();             // [C]
    const auto* pd = dead.data_ptr<int64_t>();
    const auto* pm = mean.data_ptr<double>();
    for (size_t c = 0; c < sums_[b].size(); ++c) {
      dead_counts_[b][c] += pd[c];
      sums_[b][c] += pm[c];
    }
  }
  n_images_ += n;
}

DeadMapReport DeadMapAccumulator::report(double epsilon, double dead_image_fraction,
                                         const std::string& source) const {
  DeadMapReport r;
  r.n_images = n_images_;
  r.epsilon = epsilon;
  r.dead_image_fraction = dead_image_fraction;
  r.source = source;
  const auto names = model_->block_names();
  for (size_t b = 0; b < dead_counts_.size(); ++b) {
    BlockDeadMaps bm;
    bm.block = b < names.size() ? names[b] : "block" + std::to_string(b + 1);
    bm.n_channels = static_cast<int64_t>(dead_counts_[b].size());
    double total = 0;
    for (size_t c = 0; c < dead_counts_[b].size(); ++c) {
      const double on =
          n_images_ > 0 ? static_cast<double>(dead_counts_[b][c]) / static_cast<double>(n_images_)
                        : 0.0;
      const double mean = n_images_ > 0 ? sums_[b][c] / static_cast<double>(n_images_) : 0.0;
      bm.dead_on_fraction.push_back(on);
      bm.mean_activation.push_back(mean);
      total += mean;
      // A small tolerance so that "99 % of 100 images" means 99 images, not 99.0000001.
      if (n_images_ > 0 && on >= dead_image_fraction - 1e-12) ++bm.n_dead;
    }
    bm.dead_fraction = bm.n_channels > 0
                           ? static_cast<double>(bm.n_dead) / static_cast<double>(bm.n_channels)
                           : 0.0;
    bm.mean_activation_all = bm.n_channels > 0 ? total / static_cast<double>(bm.n_channels) : 0.0;
    r.blocks.push_back(std::move(bm));
  }
  return r;
}

torch::Tensor grad_cam(models::TriageNet& model, const torch::Tensor& x, const std::string& head,
                       int64_t output, int64_t block_index) {
  torch::AutoGradMode grad_on(true);
  auto f = cam_forward(model, x);
  const auto b = block_slot(f, block_index);
  const auto score = head_score(f.heads, head, output);
  const auto g = torch::autograd::grad({score}, {f.blocks[b]})[0];
  return cam_from(f.blocks[b], g, x.size(3));
}

std::vector<std::pair<std::string, torch::Tensor>> grad_cam_all(
    models::TriageNet& model, const torch::Tensor& x, const models::ModelMetadata& metadata,
    int64_t block_index) {
  torch::AutoGradMode grad_on(true);
  auto f = cam_forward(model, x);
  const auto b = block_slot(f, block_index);
  std::vector<std::pair<std::string, torch::Tensor>> maps;
  for (const auto& head : model->heads()) {
    const int64_t n = f.heads.at(head).size(1);
    for (int64_t k = 0; k < n; ++k) {
      const auto score = head_score(f.heads, head, k);
      const auto g = torch::autograd::grad({score}, {f.blocks[b]}, {}, /*retain_graph=*/true)[0];
      maps.emplace_back(head + "/" + output_name(metadata, head, k),
                        cam_from(f.blocks[b], g, x.size(3)));
    }
  }
  return maps;
}

torch::Tensor gradient_times_input(models::TriageNet& model, const torch::Tensor& x,
                                   const std::string& head, int64_t output) {
  DT_CHECK(x.dim() == 4 && x.size(0) == 1 && x.size(1) == 1, ConfigError,
           "explain: input must be [1,1,S,S], got ", x.sizes());
  torch::AutoGradMode grad_on(true);
  model->eval();
  auto xin = x.detach().to(torch::kFloat32).clone().requires_grad_(true);
  const auto score = head_score(model->forward(xin), head, output);
  const auto g = torch::autograd::grad({score}, {xin})[0];
  return (g * xin).detach().abs()[0][0].contiguous();
}

std::vector<std::pair<std::string, torch::Tensor>> gradient_times_input_all(
    models::TriageNet& model, const torch::Tensor& x, const models::ModelMetadata& metadata) {
  DT_CHECK(x.dim() == 4 && x.size(0) == 1 && x.size(1) == 1, ConfigError,
           "explain: input must be [1,1,S,S], got ", x.sizes());
  torch::AutoGradMode grad_on(true);
  model->eval();
  auto xin = x.detach().to(torch::kFloat32).clone().requires_grad_(true);
  const auto out = model->forward(xin);
  std::vector<std::pair<std::string, torch::Tensor>> maps;
  for (const auto& head : model->heads()) {
    const int64_t n = out.at(head).size(1);
    for (int64_t k = 0; k < n; ++k) {
      const auto g =
          torch::autograd::grad({head_score(out, head, k)}, {xin}, {}, /*retain_graph=*/true)[0];
      maps.emplace_back(head + "/" + output_name(metadata, head, k),
                        (g * xin).detach().abs()[0][0].contiguous());
    }
  }
  return maps;
}

std::vector<uint8_t> overlay_rgb(const torch::Tensor& input, const torch::Tensor& map) {
  const auto grey = to_gray8(input);
  const auto m = map.detach().to(torch::kFloat32).contiguous();
  DT_CHECK(m.dim() == 2 && m.size(0) == grey.n_slow() && m.size(1) == grey.n_fast(), ConfigError,
           "overlay: map ", m.sizes(), " does not match input ", input.sizes());
  const float* pm = m.data_ptr<float>();
  std::vector<uint8_t> rgb(static_cast<size_t>(grey.size()) * 3);
  auto ramp = [](float v) { return std::clamp(1.5f - std::fabs(v), 0.0f, 1.0f); };
  for (int64_t i = 0; i < grey.size(); ++i) {
    const float v = std::isfinite(pm[i]) ? std::clamp(pm[i], 0.0f, 1.0f) : 0.0f;
    const float jet[3] = {ramp(4 * v - 3), ramp(4 * v - 2), ramp(4 * v - 1)};  // jet colour map
    const float a = 0.6f * v;  // weak attribution leaves the frame visible
    const float g = grey.data()[i] / 255.0f;
    for (int c = 0; c < 3; ++c) {
      rgb[static_cast<size_t>(3 * i + c)] =
          static_cast<uint8_t>(std::lround(255.0f * ((1 - a) * g + a * jet[c])));
    }
  }
  return rgb;
}

}  // namespace difftriage::explain
