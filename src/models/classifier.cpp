// The Classifier: the one inference path (preprocessing + forward pass + thresholds) that
// classify, evaluate, calibrate and explain share.
#include "difftriage/models/classifier.h"

#include <torch/utils.h>

#include <algorithm>
#include <map>

#include "difftriage/core/error.h"
#include "difftriage/models/checkpoint.h"
#include "difftriage/models/familiarity.h"
#include "difftriage/models/preprocess.h"
#include "difftriage/models/tensor.h"

namespace difftriage::models {

struct Classifier::Impl {
  LoadedModel loaded;
  Preprocessor preprocessor;
  std::optional<Familiarity> familiarity;  // parsed once from metadata.familiarity
};

Classifier::Classifier(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Classifier::Classifier(Classifier&&) noexcept = default;
Classifier& Classifier::operator=(Classifier&&) noexcept = default;
Classifier::~Classifier() = default;

Classifier Classifier::load(const std::filesystem::path& path) {
  auto loaded = load_checkpoint(path);
  Preprocessor pre(loaded.metadata.preprocess);
  std::optional<Familiarity> familiarity;
  if (!loaded.metadata.familiarity.is_null()) {
    familiarity = familiarity_from_json(loaded.metadata.familiarity,
                                        path.string());
  }
  return Classifier(std::make_unique<Impl>(
      Impl{std::move(loaded), std::move(pre), std::move(familiarity)}));
}

const ModelMetadata& Classifier::metadata() const noexcept { return impl_->loaded.metadata; }

const LoadedModel& Classifier::loaded_model() const noexcept { return impl_->loaded; }

void Classifier::save(const std::filesystem::path& path, const ModelMetadata& metadata) const {
  save_checkpoint(path, impl_->loaded.model, metadata);
}

std::vector<Prediction> Classifier::classify(const std::vector<AnyImage>& frames) const {
  std::vector<const AnyImage*> pointers;
  pointers.reserve(frames.size());
  for (const auto& f : frames) pointers.push_back(&f);
  return classify_pointers(pointers);
}

namespace {

// Probabilities of a batch → one Prediction per row, with the model's thresholds; `features`
// [n, D] the pooled trunk features the heads read, measured against `familiarity` when set.
std::vector<Prediction> to_predictions(const HeadOutputs& probs, const torch::Tensor& features,
                                       int64_t n, const ModelMetadata& meta,
                                       const std::optional<Familiarity>& familiarity) {
  std::vector<Prediction> predictions(static_cast<size_t>(n));
  const torch::Tensor f = features.to(torch::kFloat32).contiguous();
  for (int64_t i = 0; i < n; ++i) {
    Prediction& p = predictions[static_cast<size_t>(i)];
    const float* d = f.data_ptr<float>() + i * f.size(1);
    p.trunk_features.assign(d, d + f.size(1));
    if (familiarity) {
      p.familiarity_distance = familiarity->distance(p.trunk_features);
      p.unfamiliar = *p.familiarity_distance > familiarity->threshold;
    }
  }
  std::map<std::string, torch::Tensor> rows;
  for (const auto& [name, t] : probs) rows[name] = t.contiguous();
  auto row = [](const torch::Tensor& t, int64_t i) {
    const float* d = t.data_ptr<float>() + i * t.size(1);
    return std::vector<float>(d, d + t.size(1));
  };
  for (int64_t i = 0; i < n; ++i) {
    Prediction& p = predictions[static_cast<size_t>(i)];
    for (const auto& [name, t] : rows) {
      if (name == kQualityHead) {
        p.quality_probabilities = row(t, i);
        p.quality = static_cast<int>(
            std::max_element(p.quality_probabilities.begin(), p.quality_probabilities.end()) -
            p.quality_probabilities.begin());
      } else if (name == kLabelsHead) {
        p.label_probabilities = row(t, i);
        for (size_t k = 0; k < p.label_probabilities.size(); ++k) {
          const std::string label =
              k < meta.label_names.size() ? meta.label_names[k] : kLabelNames[k];
          p.label_decisions.push_back(
              decide(p.label_probabilities[k], meta.threshold(label), meta.uncertainty_band));
          p.uncertain = p.uncertain || p.label_decisions.back() == Decision::kUncertain;
        }
      } else if (name == kMosaicHead) {
        p.mosaic = row(t, i);
      } else if (name == kSpotsHead) {
        p.log_bright_spots = row(t, i).at(0);
        p.bright_spots = bright_spots_from_head(*p.log_bright_spots);
      } else {
        const float prob = row(t, i).at(0);
        p.binary[name] = prob;
        p.uncertain = p.uncertain || decide(prob, meta.threshold(name), meta.uncertainty_band) ==
                                         Decision::kUncertain;
      }
    }
  }
  return predictions;
}

}  // namespace

std::vector<Prediction> Classifier::classify_pointers(
    const std::vector<const AnyImage*>& frames) const {
  if (frames.empty()) return {};
  HeadOutputs probs;
  torch::Tensor features;
  {
    torch::InferenceMode guard;
    features = impl_->loaded.model->features(impl_->preprocessor.preprocess_batch(frames));
    probs = to_probabilities(impl_->loaded.model->forward_heads(features));
  }
  return to_predictions(probs, features, static_cast<int64_t>(frames.size()),
                        impl_->loaded.metadata, impl_->familiarity);
}

int64_t Classifier::input_size() const noexcept { return impl_->preprocessor.input_size(); }

PreparedFrame Classifier::prepare(const AnyImage& frame) const {
  PreparedFrame prepared;
  prepared.side = impl_->preprocessor.input_size();
  prepared.pixels.resize(static_cast<size_t>(prepared.side * prepared.side));
  impl_->preprocessor.preprocess_into(frame, prepared.pixels.data());
  return prepared;
}

std::vector<Prediction> Classifier::infer(const std::vector<PreparedFrame>& frames) const {
  if (frames.empty()) return {};
  const int64_t n = static_cast<int64_t>(frames.size());
  HeadOutputs probs;
  torch::Tensor features;
  try {
    torch::InferenceMode guard;
    features = impl_->loaded.model->features(to_input_tensor(frames, input_size()));
    probs = to_probabilities(impl_->loaded.model->forward_heads(features));
  } catch (const c10::Error& e) {
    throw ModelError(detail::concat("infer: forward pass failed: ", e.what_without_backtrace()));
  }
  return to_predictions(probs, features, n, impl_->loaded.metadata, impl_->familiarity);
}

Prediction Classifier::classify(const AnyImage& frame) const {
  return classify_pointers({&frame}).front();
}

}  // namespace difftriage::models
