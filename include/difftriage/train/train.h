/// The training loop (DESIGN.md "Learning"): Adam, batches, class balance, augmentation,
/// transfer (init + frozen blocks), early stopping on the validation loss, resumable runs,
/// per-epoch CSV and curves, best checkpoint with provenance and validation metrics.
/// This header does not include LibTorch.
///
///   difftriage::train::TrainOptions o;
///   o.data = {"sim/train"};
///   o.out = "runs/a";
///   o.model = difftriage::models::default_metadata("compact", {"quality", "labels", "mosaic"});
///   o.epochs = 20;
///   o.progress = [](const difftriage::train::TrainProgress& p) { /* draw a bar */ };
///   auto result = difftriage::train::train_model(o);   // runs/a/model/{model.pt,model.json}
///
/// Run folder: `out/model/` best checkpoint (lowest validation loss; the last epoch when there
/// is no validation data), `out/last/` the last epoch's checkpoint + `optimizer.pt` +
/// `state.json` (for resume), `out/metrics.csv`, `out/curves_*.png`.
///
/// Data-parallel training (TrainOptions::distributed; README "Data-parallel training"): every
/// rank runs train_model with the same options and its own `distributed.rank`. A step averages
/// the gradients of world_size·grad_accumulation micro-batches of batch_size frames; micro-batch
/// m of a step holds the next batch_size frames of the epoch's order (the same order on every
/// rank) and runs on rank m / grad_accumulation, which reads only those images. The gradients
/// are all-reduced (summed, each rank's divided by the step's micro-batch count) before each Adam
/// step, so 2 ranks × batch B train the same weights as 1 rank with grad_accumulation 2 × batch
/// B, up to float rounding. BatchNorm normalises each micro-batch by its own statistics (as on
/// one rank with accumulation); its running statistics are averaged over the ranks after each
/// epoch. Every rank validates on the whole validation set (rank 0's loss decides); rank 0 alone
/// writes the run folder. Resume: every rank loads `out/last` (a shared file system).
///
/// Determinism: network initialisation uses torch::manual_seed(seed); the epoch order, the
/// balanced sampler and every augmentation are drawn from derive_seed(seed, epoch, position),
/// and the Torch generator (dropout) is reseeded with derive_seed(seed, epoch) at the start of
/// each epoch, so nothing depends on decoding threads or their timing. Bit-identical weights are
/// expected for the same options, the same n_threads, the same LibTorch build and the same CPU
/// (kernels and reduction order depend on the thread count and SIMD path); across thread counts
/// or machines, runs agree only to floating-point rounding. Resume restores weights, BatchNorm
/// statistics, Adam state (moments and step), the epoch counter and the early-stopping state,
/// and since every random stream is a function of (seed, epoch), a resumed run reproduces the
/// uninterrupted one bit for bit under the same conditions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "difftriage/models/model_info.h"
#include "difftriage/train/options.h"

namespace difftriage::train {

struct EpochMetrics;

/// Progress of train_model, reported on the calling thread (the callback must not throw
/// across a batch it does not own; an exception it throws aborts training and propagates).
struct TrainProgress {
  enum class Phase { kTrain, kValidate, kEpochDone };
  Phase phase = Phase::kTrain;
  int epoch = 0;     ///< 1-based
  int n_epochs = 0;
  int64_t batch = 0;  ///< batches done in this phase
  int64_t n_batches = 0;
  double loss = 0;            ///< running mean loss of the phase (train or validation)
  double frames_per_s = 0;    ///< of the phase so far
  double elapsed_s = 0;       ///< since train_model started
  double eta_s = 0;           ///< estimate for the remaining epochs (NaN when unknown)
  const EpochMetrics* metrics = nullptr;  ///< the finished epoch (kEpochDone only)
};
using ProgressCallback = std::function<void(const TrainProgress&)>;

/// Metrics of one epoch (a metrics.csv row). NaN where undefined (no validation data, a label
/// without both classes, ...).
struct EpochMetrics {
  int epoch = 0;
  double train_loss = 0;
  std::map<std::string, double> train_head_loss;
  double val_loss = 0;
  std::map<std::string, double> val_head_loss;
  /// Per label of the labels head and per binary head (threshold 0.5), on known elements.
  std::map<std::string, double> val_accuracy;
  std::map<std::string, double> val_balanced_accuracy;
  double val_quality_accuracy = 0;
  double val_mosaic1_mae = 0;  ///< on frames with a crystal
  double val_mosaic2_mae = 0;  ///< on multilattice frames
  double lr = 0;
  double seconds = 0;
  int64_t train_frames = 0;
  double train_frames_per_s = 0;
};

/// What train_model did.
struct TrainResult {
  std::filesystem::path best_checkpoint;  ///< out/model
  int best_epoch = 0;
  double best_val_loss = 0;  ///< NaN without validation data
  int epochs_run = 0;        ///< epochs trained by this call (after a resume: the new ones)
  int last_epoch = 0;
  bool stopped_early = false;
  bool cache_used = false;
  Device device = Device::kCpu;  ///< where the network trained: kCpu or kCuda (device resolved)
  int64_t n_train = 0;
  int64_t n_val = 0;
  std::vector<EpochMetrics> history;  ///< every epoch of the run, resumed ones included
  std::map<std::string, double> thresholds;  ///< decision thresholds stored in the checkpoint
  std::vector<std::string> transferred;  ///< parameters copied from `init`
  nlohmann::json metadata_json;          ///< sidecar of the best checkpoint
};

/// Trains a model as described by `options`. Not thread-safe with respect to other Torch work
/// in the process: it sets at::set_num_threads(options.n_threads) and the global Torch seed.
/// @throws ConfigError naming the option field (e.g. "epochs") for bad options or
/// a run folder that cannot be resumed (no `last/state.json`, different heads); IoError /
/// FormatError for unreadable or malformed data or images (naming the file); ModelError for a
/// bad `init` or resume checkpoint.
TrainResult train_model(const TrainOptions& options,
                        const ProgressCallback& progress = nullptr);

/// Resolves TrainOptions::device: kAuto → kCuda when this LibTorch build sees a CUDA device,
/// else kCpu; kCpu → kCpu; kCuda → kCuda. @throws ConfigError for kCuda without a usable CUDA
/// device (saying that Debian's LibTorch is CPU-only) and for a value outside the enum.
Device resolve_device(Device requested);

/// Whether this build can run data-parallel training over `backend`: gloo where the Gloo
/// headers (libgloo-dev) were found at configure time; nccl only in a CUDA LibTorch built with
/// NCCL (never with Debian's CPU-only libtorch-dev). train_model throws ConfigError otherwise.
bool dist_backend_available(DistBackend backend) noexcept;

/// Threshold in [0.02, 0.98] (step 0.01) maximising balanced accuracy of `scores` against
/// `truth` (0/1); 0.5 when a class is absent. Ties: the threshold closest to 0.5. Pure.
double tune_threshold(const std::vector<double>& scores, const std::vector<uint8_t>& truth);

/// The metrics.csv header for `heads` and one row (NaN written as empty cells).
std::string metrics_csv_header(const std::vector<std::string>& heads);
std::string metrics_csv_row(const EpochMetrics& metrics, const std::vector<std::string>& heads);

}  // namespace difftriage::train
