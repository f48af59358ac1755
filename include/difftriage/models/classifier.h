/// Classify frames with a saved model, without including LibTorch (pimpl).
///
///   auto clf = difftriage::models::Classifier::load("models/default");
///   difftriage::models::Prediction p = clf.classify(frame);
///   if (p.label_decisions[0] == difftriage::models::Decision::kNo) { /* not blank: a hit */ }
#pragma once

#include <filesystem>
#include <memory>
#include <vector>

#include "difftriage/core/image.h"
#include "difftriage/models/model_info.h"

namespace difftriage::models {

/// A loaded model with its preprocessing and thresholds. Movable, not copyable. classify() is
/// const and thread-safe (inference mode; the model is never mutated), so one Classifier can be
/// shared by stream threads (e.g. as shared_ptr<const Classifier>).
class Classifier {
 public:
  /// @throws ModelError naming the file (see load_checkpoint).
  static Classifier load(const std::filesystem::path& path);

  Classifier(Classifier&&) noexcept;
  Classifier& operator=(Classifier&&) noexcept;
  ~Classifier();

  const ModelMetadata& metadata() const noexcept;
  /// One prediction per frame (preprocessed with the model's options, one batch).
  /// @throws ConfigError for an empty frame.
  std::vector<Prediction> classify(const std::vector<AnyImage>& frames) const;
  Prediction classify(const AnyImage& frame) const;

 private:
  struct Impl;
  explicit Classifier(std::unique_ptr<Impl> impl);
  std::vector<Prediction> classify_pointers(const std::vector<const AnyImage*>& frames) const;
  std::unique_ptr<Impl> impl_;
};

}  // namespace difftriage::models
