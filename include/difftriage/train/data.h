/// Training data: labelled frames from one or several dataset folders, their targets per head,
/// geometry-respecting augmentation, class balance, and a batch loader that decodes and
/// preprocesses on worker threads. This header includes LibTorch (batches are tensors).
///
///   auto records = difftriage::train::load_records({"sim/try2", "sim/try1"});
///   difftriage::train::LoaderOptions lo;                 // batch 32, 2 workers
///   difftriage::train::BatchLoader loader(records, preprocessor, order, lo);
///   while (auto batch = loader.next()) { net->forward(batch->x); ... }
///
/// Label types (DESIGN.md "Labels"): a sample may carry the six multilabels (multiclasses.txt),
/// the quality class (categories1.txt), or both. A head's target is masked out (per sample or per
/// element) where the sample does not carry its label type, so a multilabel set and a
/// quality-only set train one model together. One label is derived across types: a quality-only
/// sample's `blank` label is known exactly (blank or noxtal ⇒ blank = 1, weak/good/strong ⇒ 0,
/// the study's merge rule), so its `blank` element is valid and its other five are masked.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "difftriage/dataset/dataset.h"
#include "difftriage/models/network.h"
#include "difftriage/models/preprocess.h"
#include "difftriage/train/options.h"

namespace difftriage::train {

/// One labelled frame, its targets resolved. Plain value type.
struct FrameRecord {
  std::string file;            ///< as in the label file
  std::filesystem::path path;  ///< image file
  std::string source;          ///< dataset folder it came from
  std::array<float, 6> labels{};       ///< 0/1 per label (kLabelNames order)
  std::array<uint8_t, 6> label_mask{};  ///< 1 where the label is known
  int quality = -1;                     ///< class index 0..4, -1 when unknown
  std::array<float, 2> mosaic{};        ///< mosaic1, mosaic2 in [0,1]
  bool has_mosaic = false;              ///< the sample has a label row (mosaic values known)
  /// mosaic2 (the split between sub-lattices) is trained only here: on multilattice frames
  /// (labels row: multilattice = 1; quality-only row: mosaic2 > 0). Elsewhere it is 0 by
  /// definition, and training it towards 0 there pulls the prediction for an uncertain
  /// multilattice frame towards 0 as well.
  bool mosaic2_known = false;
  /// Frame has a crystal (not blank): from labels (blank == 0) or quality (weak/good/strong).
  std::optional<bool> has_crystal;
  /// Target of the `spots` head: log10(1 + stats.n_bright) from the frame's simulator sidecar;
  /// unset for frames without one (see attach_bright_spots).
  std::optional<float> log_bright_spots;
};

/// Options of load_records.
struct RecordOptions {
  /// Derive the `blank` label of quality-only samples from their quality (see header).
  bool derive_blank_from_quality = true;
};

/// Records of one loaded dataset, in sample order. Pure.
std::vector<FrameRecord> make_records(const dataset::Dataset& dataset,
                                      const RecordOptions& options = {});
/// Loads each folder (dataset::load_dataset) and concatenates their records in folder order.
/// @throws IoError / FormatError as load_dataset (naming the folder and row); FormatError if a
/// folder lists no image.
std::vector<FrameRecord> load_records(const std::vector<std::filesystem::path>& folders,
                                      const RecordOptions& options = {});

/// Sets `log_bright_spots` of every record whose image has a simulator sidecar
/// (dataset::read_sidecar_truth); records without one are left unset. Returns how many were set.
/// @throws FormatError / IoError naming a sidecar that exists but cannot be read.
size_t attach_bright_spots(std::vector<FrameRecord>& records);

/// Geometry-respecting augmentation of a preprocessed S×S input. Assumption: the preprocessor
/// centres its square on the beam centre (or the frame centre when the detector metadata has
/// none; shifted inwards near an edge), so a flip or 90° rotation of the tensor about its centre
/// is a flip/rotation about the beam — diffraction patterns are symmetric in distribution under
/// these (Friedel pairs, random crystal orientation), and resolution rings map onto themselves.
/// Only square inputs are produced, so rotations keep the shape.
struct AugmentOptions {
  bool flips = true;      ///< mirror rows and/or columns
  bool rotations = true;  ///< rotate by 90°, 180°, 270°
  /// Intensity jitter on the preprocessed (transformed, normalised) values: x ← g·x + o with
  /// log g uniform in [−log gain_max, log gain_max] and o uniform in [−offset_max, offset_max].
  /// With per-frame normalisation this mimics contrast/exposure variation only approximately.
  double gain_max = 1.2;
  double offset_max = 0.1;
};

/// Applies the augmentation drawn from `seed` to `data` (S×S float32, row-major) in place.
/// Pure function of (data, side, options, seed); thread-safe.
void augment_in_place(float* data, int64_t side, const AugmentOptions& options, uint64_t seed);

/// Positive weights from label frequencies of `records`: "labels" → 6 weights, and one per
/// binary head in `heads`. A label without a positive or negative gets weight 1. Pure.
std::map<std::string, std::vector<double>> compute_pos_weights(
    const std::vector<FrameRecord>& records, const std::vector<std::string>& heads);

/// A uniform random permutation of 0..n-1 drawn from `seed` (own Fisher–Yates over
/// std::mt19937_64 with unbiased bounded draws: same on every platform).
std::vector<size_t> shuffled_order(size_t n, uint64_t seed);
/// n draws with replacement, weights 1 / class frequency (see Balance::kSampler). Pure.
std::vector<size_t> balanced_order(const std::vector<FrameRecord>& records, uint64_t seed);

/// SplitMix64-style mix of a seed with up to two stream numbers (epoch, position): the seeds of
/// everything random in training, so results do not depend on thread timing.
uint64_t derive_seed(uint64_t seed, uint64_t a, uint64_t b = 0) noexcept;

/// Preprocessed inputs kept in memory across epochs (unaugmented). Thread-safe.
class TensorCache {
 public:
  /// A cache for `n_records` inputs of side²·4 bytes each.
  TensorCache(size_t n_records, int64_t side);
  TensorCache(const TensorCache&) = delete;
  TensorCache& operator=(const TensorCache&) = delete;
  ~TensorCache();
  /// Copies input `index` into `out` (side² floats) if cached. Thread-safe.
  bool get(size_t index, float* out) const;
  /// Stores input `index` (side² floats). Thread-safe; a second put of an index is ignored.
  void put(size_t index, const float* data);
  /// Bytes a cache of `n_records` inputs of `side`² would hold.
  static uint64_t bytes_needed(size_t n_records, int64_t side) noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// One batch: inputs and the targets of every head (see models::HeadTarget for shapes).
struct Batch {
  torch::Tensor x;           ///< [B,1,S,S] float32
  models::Targets targets;   ///< per head of LoaderOptions::heads
  std::vector<size_t> indices;  ///< record index of each row
};

/// Options of BatchLoader.
struct LoaderOptions {
  int64_t batch_size = 32;
  /// Decoding/preprocessing threads (0 = on the consumer thread). Batches come out in the same
  /// order with the same content whatever the count.
  int n_workers = 2;
  /// Batches prepared ahead of the consumer (the bounded queue).
  int prefetch_batches = 4;
  /// Heads whose targets are built (names as in models::ModelMetadata::heads).
  std::vector<std::string> heads;
  /// Augment (training) or not (validation, evaluation).
  bool augment = false;
  AugmentOptions augment_options;
  /// Seed of the augmentation: row j of the epoch (position in `order`) uses
  /// derive_seed(augment_seed, j).
  uint64_t augment_seed = 0;
  /// The epoch position j of each row of `order` for the augmentation seed, when `order` is one
  /// rank's share of the epoch (data-parallel training), so a frame gets the augmentation it
  /// would get in the whole epoch's order. Empty: the row's index in `order`. Else the same
  /// length as `order`.
  std::vector<uint64_t> augment_positions;
  /// Optional cache of preprocessed inputs (not owned; must outlive the loader).
  TensorCache* cache = nullptr;
};

/// Batches of records[order[...]] in order, decoded (io::read_image, frame 0) and preprocessed
/// on worker threads. Not thread-safe: one consumer thread calls next().
class BatchLoader {
 public:
  /// `records` and `preprocessor` must outlive the loader. @throws ConfigError for a batch size
  /// < 1 or an index out of range.
  BatchLoader(const std::vector<FrameRecord>& records, const models::Preprocessor& preprocessor,
              std::vector<size_t> order, LoaderOptions options);
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;
  ~BatchLoader();
  /// The next batch, nullopt at the end. @throws IoError / FormatError naming the image that
  /// could not be read or decoded.
  std::optional<Batch> next();
  int64_t n_batches() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Targets of the rows `indices` of `records` for `heads` (the loader's target builder).
/// Shapes: quality target [B] int64 + mask [B]; labels [B,6] float + mask [B,6]; mosaic [B,2]
/// float + mask [B,2] (mosaic1: has_mosaic; mosaic2: mosaic2_known); spots and binary heads
/// [B] float + mask [B] (spots: log_bright_spots). Pure.
models::Targets make_targets(const std::vector<FrameRecord>& records,
                             const std::vector<size_t>& indices,
                             const std::vector<std::string>& heads);

}  // namespace difftriage::train
