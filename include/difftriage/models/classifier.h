/// Classify frames with a saved model, without including LibTorch (pimpl).
///
///   auto clf = difftriage::models::Classifier::load("models/default");
///   difftriage::models::Prediction p = clf.classify(frame);
///   if (p.label_decisions[0] == difftriage::models::Decision::kNo) { /* not blank: a hit */ }
///
/// The two stages separately, so that preprocessing (on decode threads) overlaps inference:
///
///   difftriage::models::PreparedFrame x = clf.prepare(frame);    // any thread
///   std::vector<difftriage::models::Prediction> p = clf.infer({std::move(x)});  // one batch
///
/// This is the one inference path: classify (stream), evaluate, calibrate and explain all run
/// frames through a Classifier, so they see the same input and the same probabilities for the
/// same frame (bit for bit in the same batch; a different batch size can move the last bits of
/// float sums, |Δp| < 1e-6). models::score_hit (hit_score.h) turns a Prediction into p_hit.
#pragma once

#include <filesystem>
#include <memory>
#include <vector>

#include "difftriage/core/image.h"
#include "difftriage/models/model_info.h"

namespace difftriage::models {

struct LoadedModel;  // checkpoint.h (LibTorch)

/// One frame preprocessed to the model input (Preprocessor, with the model's options): the
/// side × side float32 plane of the network's [N,1,side,side] input, row-major (slow, fast).
/// Plain value type.
struct PreparedFrame {
  std::vector<float> pixels;  ///< side · side values
  int64_t side = 0;
};

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
  /// The network and metadata this Classifier runs (include checkpoint.h to use them), for
  /// what needs the network itself: explain's gradients, saving a recalibrated copy. The
  /// network is shared, not copied: do not train it or switch it out of eval mode while
  /// another thread classifies with this Classifier.
  const LoadedModel& loaded_model() const noexcept;
  /// Writes this Classifier's network with `metadata` as a checkpoint at `path` (save_checkpoint
  /// of checkpoint.h, without the caller including Torch): a recalibrated copy of the model.
  /// @throws IoError naming the file.
  void save(const std::filesystem::path& path, const ModelMetadata& metadata) const;
  /// One prediction per frame (preprocessed with the model's options, one batch).
  /// @throws ConfigError for an empty frame.
  std::vector<Prediction> classify(const std::vector<AnyImage>& frames) const;
  Prediction classify(const AnyImage& frame) const;

  /// Side of the square model input in pixels (metadata().preprocess.input_size).
  int64_t input_size() const noexcept;
  /// Preprocesses one decoded frame to the model input; no Torch call, so it runs on any
  /// thread alongside infer(). Same numbers as classify() feeds the network. Thread-safe.
  /// @throws ConfigError for an empty frame.
  PreparedFrame prepare(const AnyImage& frame) const;
  /// One batched forward pass over `frames` (at::get_num_threads() intra-op threads): one
  /// prediction per frame, in order; an empty input gives an empty result. Thread-safe, but
  /// concurrent calls share the intra-op thread pool.
  /// @throws ConfigError if a frame's side differs from input_size() or its pixel count from
  /// side²; ModelError if the forward pass fails.
  std::vector<Prediction> infer(const std::vector<PreparedFrame>& frames) const;

 private:
  struct Impl;
  explicit Classifier(std::unique_ptr<Impl> impl);
  std::vector<Prediction> classify_pointers(const std::vector<const AnyImage*>& frames) const;
  std::unique_ptr<Impl> impl_;
};

}  // namespace difftriage::models
