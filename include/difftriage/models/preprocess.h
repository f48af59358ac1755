/// Frame → network input. The preprocessing is part of the model (PreprocessOptions is saved in
/// the checkpoint sidecar), so inference repeats training exactly.
///
///   difftriage::models::Preprocessor pre(meta.preprocess);
///   torch::Tensor x = pre.preprocess_batch(frames);   // [N,1,S,S] float32, S = input_size
///
/// Steps, fused into one pass over the pixels (no per-pixel virtual calls, no temporaries):
///  1. Region: bin-mean / bin-max take the largest square (side min(n_slow, n_fast)) centred on
///     the beam centre when DetectorMetadata has one (shifted to stay inside the frame), else on
///     the frame centre; crop takes an input_size² square centred the same way, padded with the
///     background value where it leaves the frame.
///  2. Masked pixels (mask byte non-zero; with mask_negative also values < 0 and NaN, the
///     detector-gap markers) take the background value = median of the unmasked pixels of the
///     region, so gaps do not look like features. Computed only when a pixel is masked.
///  3. Pooling on raw counts (what a coarser detector would measure): the square of side L is
///     split into input_size × input_size bins (bin of row r is r·S/L, so bin sizes differ by at
///     most one pixel when S does not divide L); bin-mean averages a bin, bin-max keeps its
///     brightest pixel — a 1–4 px Bragg spot survives bin-max, mean pooling dilutes it. When
///     L < S the region is upsampled by nearest neighbour.
///  4. Intensity transform: linear, sqrt(max(x,0)) or log1p(max(x,0)).
///  5. Normalisation: none; fixed (x − mean)/std with stored constants; or per-frame: each frame
///     standardised by its own mean and standard deviation (std < 1e-6 → 1). Per-frame makes the
///     model independent of detector gain and exposure, at the price of absolute intensity.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "difftriage/core/image.h"
#include "difftriage/models/model_info.h"

namespace difftriage::models {

/// Turns frames of any pixel type and size into network inputs. Immutable after construction:
/// all methods are const and thread-safe.
class Preprocessor {
 public:
  /// @throws ConfigError naming the option at fault.
  explicit Preprocessor(PreprocessOptions options = {});

  const PreprocessOptions& options() const noexcept { return options_; }
  /// Side S of the output square.
  int64_t input_size() const noexcept { return options_.input_size; }

  /// Writes one frame's S×S float32 input, row-major, to `out` (S·S floats). Thread-safe.
  /// @throws ConfigError if the frame is empty.
  void preprocess_into(const AnyImage& frame, float* out) const;
  template <typename T>
  void preprocess_into(const ImageView<T>& frame, float* out) const;

  /// One frame → [1,S,S] float32 CPU tensor.
  torch::Tensor preprocess(const AnyImage& frame) const;
  /// Frames → [N,1,S,S] float32 CPU tensor; frames are processed in parallel by
  /// at::get_num_threads() short-lived worker threads. @throws the first frame's error.
  torch::Tensor preprocess_batch(const std::vector<AnyImage>& frames) const;
  /// Same, for frames owned elsewhere (no pointer may be null).
  torch::Tensor preprocess_batch(const std::vector<const AnyImage*>& frames) const;

 private:
  PreprocessOptions options_;
};

}  // namespace difftriage::models
