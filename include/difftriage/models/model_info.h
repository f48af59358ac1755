/// What a difftriage model is, without LibTorch: architecture hyperparameters, heads,
/// preprocessing, label names, decision thresholds and provenance — the JSON sidecar of a
/// checkpoint. Tools that only read or print model metadata include this header alone.
///
///   auto meta = difftriage::models::read_model_metadata("models/default/model.json");
///   std::cout << meta.architecture.name << " heads:";
///   for (const auto& h : meta.heads) std::cout << ' ' << h;
///
/// All functions here are pure and thread-safe. Sidecar layout (format_version 1):
/// ```json
/// { "format_version": 1,
///   "architecture": {"name": "compact", "widths": [16,32,64,96], "stem_pool": 1,
///                    "head_hidden": 64, "global_pool": "avgmax"},
///   "heads": ["quality", "labels", "mosaic", "ice"],
///   "preprocess": {"mode": "bin-max", "input_size": 128, "transform": "log1p",
///                  "normalization": "per-frame", "mean": 0, "std": 1, "mask_negative": true},
///   "label_names": ["blank","photo1","photo2","multilattice","ice","badice"],
///   "quality_names": ["blank","noxtal","weak","good","strong"],
///   "thresholds": {"blank": 0.5, ...}, "uncertainty_band": 0.1,
///   "weights": {"file": "model.pt", "bytes": 123, "fnv1a64": "0123abcd..."},
///   "provenance": {...free JSON...}, "metrics": {...free JSON...} }
/// ```
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "difftriage/core/labels.h"

namespace difftriage::models {

/// Version of the checkpoint sidecar this library writes and the only one it reads.
inline constexpr int kCheckpointFormatVersion = 1;

// The `labels` head outputs follow kLabelNames and the `quality` logits kQualityNames, the label
// vocabulary of difftriage/core/labels.h.
/// Head names that are not single labels.
inline constexpr const char* kQualityHead = "quality";  ///< [N,5] logits, softmax
inline constexpr const char* kLabelsHead = "labels";    ///< [N,6] logits, sigmoids
inline constexpr const char* kMosaicHead = "mosaic";    ///< [N,2] in [0,1] (sigmoid applied)
/// [N,1] log10(1 + bright-spot count), linear: the number of reflections above the simulator's
/// bright-spot threshold (`stats.n_bright`), the count the quality classes are cut from. Trained
/// only on frames with a sidecar; an auxiliary output for quality.
inline constexpr const char* kSpotsHead = "spots";

/// Number of outputs of head `name`: 5 (quality), 6 (labels), 2 (mosaic) or 1 (spots, or a
/// binary head named by one of kLabelNames). @throws ConfigError naming option `heads` for an
/// unknown name.
int head_output_size(const std::string& name);
/// The bright-spot count a spots-head output stands for: 10^output − 1, at least 0.
double bright_spots_from_head(double output) noexcept;

/// Network hyperparameters. `name` is "vgg16" or "compact"; the other fields have per-architecture
/// defaults from default_architecture(). Plain value type.
struct ArchitectureConfig {
  std::string name = "compact";
  /// Output channels per trunk block. vgg16: 5 entries (64,128,256,512,512); compact: any
  /// number ≥ 1 (default 16,32,64,96).
  std::vector<int64_t> widths = {16, 32, 64, 96};
  /// compact only: max-pool factor of the stem (1 = none, 2, 4): peak-preserving binning of
  /// the input tensor before any convolution. The compact default is 1 because its default
  /// preprocessing already bins 512² frames 4×4 by max (fused with decoding, which is much
  /// cheaper than pooling a float tensor); set 4 to feed full 512² tensors. vgg16: must be 1.
  int64_t stem_pool = 1;
  /// compact only, needs an even stem_pool ≥ 2: channels of a learned stem, a convolution of
  /// kernel 2·stem_pool, stride stem_pool, padding stem_pool/2 (+ BatchNorm + ReLU, no bias) of
  /// the full-resolution input whose maps
  /// are concatenated with the max-pooled input. It sees every pixel of each patch, so it can
  /// tell spot shapes (mosaic lunes, split spots of a multilattice) that max pooling loses; 0 =
  /// none (max pooling only).
  int64_t stem_conv = 0;
  /// Hidden units of each head's MLP (Linear → ReLU → Linear).
  int64_t head_hidden = 64;
  /// Global pooling of the last block: "avg" (vgg16 default) or "avgmax" (average and max
  /// concatenated, compact default: Bragg spots are sparse, the max keeps their evidence).
  std::string global_pool = "avgmax";
  /// Dropout before each head's last layer during training (0 = none).
  double dropout = 0.0;
};

/// Defaults for "vgg16" or "compact". @throws ConfigError naming option `architecture`.
ArchitectureConfig default_architecture(const std::string& name);
/// @throws ConfigError naming the option at fault (architecture, widths, stem_pool, ...).
void validate(const ArchitectureConfig& config);

/// How a frame is reduced to the network input (see Preprocessor in preprocess.h).
enum class InputMode {
  kBinMean,  ///< "bin-mean": centred square, then mean pooling to input_size²
  kBinMax,   ///< "bin-max": centred square, then max pooling (keeps 1–4 px Bragg spots)
  kCrop,     ///< "crop": full-resolution centred input_size² crop (padded with background)
};
/// Pixel intensity transform, applied after pooling.
enum class IntensityTransform { kLinear, kSqrt, kLog1p };
/// Normalisation, applied after the transform.
enum class Normalization {
  kNone,      ///< "none"
  kFixed,     ///< "fixed": (x - mean) / std with the stored constants (e.g. training-set stats)
  kPerFrame,  ///< "per-frame": each frame standardised by its own mean and std (std floored)
};

/// Preprocessing options; part of the model and saved with it, so inference repeats training.
struct PreprocessOptions {
  InputMode mode = InputMode::kBinMax;
  /// Side of the square network input in pixels (1 .. 8192).
  int64_t input_size = 512;
  IntensityTransform transform = IntensityTransform::kLog1p;
  Normalization normalization = Normalization::kPerFrame;
  /// Constants for Normalization::kFixed (after the transform). std must be > 0.
  double mean = 0.0;
  double std = 1.0;
  /// Treat negative pixel values (and NaN) as masked: Pilatus/Eiger gaps are written as -1/-2.
  bool mask_negative = true;
};

/// Recommended preprocessing for an architecture: vgg16 → bin-max to 512 (the study's input);
/// compact → bin-max to 128 (4×4 max binning of a 512² frame: 1–4 px spots survive as ≥ 1 px).
/// Both log1p + per-frame standardisation. @throws ConfigError naming option `architecture`.
PreprocessOptions default_preprocess(const std::string& architecture);

/// "bin-mean", "bin-max", "crop" (and the same for the other enums).
const char* input_mode_name(InputMode mode) noexcept;
const char* transform_name(IntensityTransform transform) noexcept;
const char* normalization_name(Normalization normalization) noexcept;
/// Parses the names above. @throws ConfigError naming `option` and the accepted values.
InputMode parse_input_mode(const std::string& word, const std::string& option = "input_mode");
IntensityTransform parse_transform(const std::string& word,
                                   const std::string& option = "transform");
Normalization parse_normalization(const std::string& word,
                                  const std::string& option = "normalization");
/// @throws ConfigError naming the option at fault.
void validate(const PreprocessOptions& options);

/// Everything in a checkpoint's JSON sidecar. Plain value type (copyable, not synchronised).
struct ModelMetadata {
  int format_version = kCheckpointFormatVersion;
  ArchitectureConfig architecture;
  /// Heads of the trunk, in output order: any of "quality", "labels", "mosaic", or a label name.
  std::vector<std::string> heads = {kLabelsHead};
  PreprocessOptions preprocess;
  std::vector<std::string> label_names{kLabelNames.begin(), kLabelNames.end()};
  std::vector<std::string> quality_names{kQualityNames.begin(), kQualityNames.end()};
  /// Decision threshold per label (probability); labels not listed use 0.5.
  std::map<std::string, double> thresholds;
  /// A probability within ±uncertainty_band of its threshold is "uncertain" (fail-open: keep).
  double uncertainty_band = 0.1;
  /// Free JSON: dataset, seed, epochs, git hash, ... (written by the training loop).
  nlohmann::json provenance = nlohmann::json::object();
  /// Free JSON: validation metrics.
  nlohmann::json metrics = nlohmann::json::object();
  /// The spot evidence's fitted numbers (features::SpotEvidenceCalibration's JSON, written by
  /// `difftriage calibrate`); null: the built-in defaults.
  nlohmann::json spot_evidence = nullptr;
  /// How far a frame may lie from the calibration frames before the triage calls it
  /// "unfamiliar" (familiarity.h's JSON, written by `difftriage calibrate`); null: never.
  nlohmann::json familiarity = nullptr;

  /// Threshold for `label` (0.5 unless set).
  double threshold(const std::string& label) const;
  /// Threshold of the hit probability p_hit = 1 − p(blank) for the keep/veto decision:
  /// thresholds["hit"] when set (a veto operating point chosen apart from the blank label's
  /// balanced-accuracy threshold), else 1 − threshold("blank").
  double hit_threshold() const;
};

/// Checks what the model applies: every threshold (thresholds.NAME, "hit" included) and
/// uncertainty_band in [0, 1]; label_names and quality_names without duplicates or empty names,
/// and exactly as many as the labels (6) and quality (5) heads have outputs when the model has
/// those heads. metadata_from_json (so every command that loads a model) and save_checkpoint
/// call it. @throws ConfigError naming the key, e.g. "thresholds.hit".
void validate(const ModelMetadata& metadata);

/// The two files of a checkpoint. Layout: a path ending in ".pt" or ".json" names
/// `stem.pt` + `stem.json` side by side; any other path is a directory holding `model.pt` +
/// `model.json` (the default model ships as `models/default/`).
struct CheckpointFiles {
  std::filesystem::path weights;  ///< LibTorch archive of flat dotted parameter/buffer names
  std::filesystem::path sidecar;  ///< JSON metadata (ModelMetadata + weights size/checksum)
};
/// Resolves `path` as above. Pure (touches no file), thread-safe.
CheckpointFiles checkpoint_files(const std::filesystem::path& path);

/// Metadata for a new model: default_architecture(architecture), default_preprocess(architecture)
/// and `heads`. @throws ConfigError naming `architecture` or `heads`.
ModelMetadata default_metadata(const std::string& architecture, std::vector<std::string> heads);

/// JSON conversion of the sidecar (without the "weights" entry, which save_checkpoint adds).
nlohmann::json to_json(const ModelMetadata& metadata);
/// @throws ModelError (naming `source`, e.g. the file) for a wrong format version, unknown
/// architecture or heads, or missing/ill-typed fields.
ModelMetadata metadata_from_json(const nlohmann::json& json, const std::string& source = "json");
/// Reads a sidecar (`model.json`, or a checkpoint directory / `.pt` path whose sidecar is found
/// as in load_checkpoint). @throws ModelError naming the file.
ModelMetadata read_model_metadata(const std::filesystem::path& path);

/// Decision for one label from its probability.
enum class Decision { kNo, kYes, kUncertain };
/// kUncertain when |p - threshold| < band, else kYes if p ≥ threshold, else kNo.
Decision decide(double probability, double threshold, double band) noexcept;

/// The result of classifying one frame (see classifier.h). Empty vectors for absent heads.
struct Prediction {
  std::vector<float> quality_probabilities;  ///< 5 softmax probabilities (quality head)
  int quality = -1;                          ///< argmax class index, -1 without quality head
  std::vector<float> label_probabilities;    ///< 6 sigmoids (labels head)
  std::vector<Decision> label_decisions;     ///< per label, thresholds + uncertainty band
  std::vector<float> mosaic;                 ///< 2 values in [0,1] (mosaic head)
  /// The spots head's output, log10(1 + bright-spot count) as estimated; unset without it.
  std::optional<float> log_bright_spots;
  /// Estimated bright-spot count, 10^spots − 1 ≥ 0 (spots head); unset without it.
  std::optional<double> bright_spots;
  std::map<std::string, float> binary;       ///< binary head name → probability
  bool uncertain = false;                    ///< any decision is kUncertain
  /// The pooled trunk features the heads read (network.h features()), feature_size() values.
  std::vector<float> trunk_features;
  /// familiarity.h's distance to the calibration frames; unset when the model has none.
  std::optional<double> familiarity_distance;
  /// familiarity_distance above the model's familiarity threshold: nothing like this frame was
  /// seen in calibration, so the triage keeps it (flag "unfamiliar").
  bool unfamiliar = false;
};

/// FNV-1a 64-bit hash of `bytes` as 16 lowercase hex digits (the sidecar's weights checksum).
/// Thread-safe.
std::string fnv1a64_hex(const std::string& bytes) noexcept;

}  // namespace difftriage::models
