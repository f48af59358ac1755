/// Options of a training run (train.h), without LibTorch. Field names map one-to-one onto the
/// `difftriage train` flags and onto run.json (to_json). Option values that are words on the
/// command line and in JSON are enums here, parsed once at the edge (parse_schedule, ...).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "difftriage/models/model_info.h"

namespace difftriage::train {

/// Learning-rate schedule of a run.
enum class Schedule {
  kConstant,  ///< "constant": lr every epoch
  /// "cosine": epoch e of E uses lr·(0.02 + 0.98·½(1 + cos(π(e−1)/E))): full lr first, 2 % of
  /// it in the last epochs.
  kCosine,
};

/// Where the network trains. Decoding, preprocessing and the input cache stay on the CPU; only
/// the network moves.
enum class Device {
  kAuto,  ///< "auto": CUDA when this LibTorch build sees a GPU, else the CPU (resolve_device)
  kCpu,   ///< "cpu"
  kCuda,  ///< "cuda"
};

/// How class imbalance is handled.
enum class Balance {
  kNone,  ///< "none"
  /// "pos-weight": positive weights (negatives / positives over known elements, clamped to
  /// [1/20, 20]) for the labels head and binary heads (see compute_pos_weights, data.h).
  kPosWeight,
  /// "sampler": sample with replacement, each frame weighted 1 / frequency of its class: the
  /// quality class when known, else blank / crystal from the labels (see balanced_order).
  kSampler,
};

/// "constant", "cosine" (and the same for the other enums); "?" for a value outside the enum.
const char* schedule_name(Schedule schedule) noexcept;
const char* device_name(Device device) noexcept;
const char* balance_name(Balance balance) noexcept;
/// Parses the names above. @throws ConfigError naming `option` and the accepted values.
Schedule parse_schedule(const std::string& word, const std::string& option = "schedule");
Device parse_device(const std::string& word, const std::string& option = "device");
Balance parse_balance(const std::string& word, const std::string& option = "balance");

/// Everything a training run needs. Plain value type. Errors name the field at fault
/// ("batch_size must be ..."); the CLI flag of each field is given beside it.
struct TrainOptions {
  /// Training dataset folders (--data, one or more; label types may differ between them).
  std::vector<std::filesystem::path> data;
  /// Validation folder (--val). Empty: `val_fraction` of each training folder is split off,
  /// stratified (dataset::split_dataset with seed `seed`).
  std::filesystem::path val;
  /// --val-fraction in [0, 0.9]; 0 without --val means no validation (best = last epoch).
  double val_fraction = 0.1;
  /// Run folder (--out), created if missing.
  std::filesystem::path out;
  /// The new model: architecture, heads, preprocessing (--arch, --heads, --input-mode,
  /// --input-size, --transform). Thresholds and provenance are filled by training.
  models::ModelMetadata model = models::default_metadata("compact", {"quality", "labels", "mosaic"});
  int epochs = 10;             ///< --epochs ≥ 1 (total, a resumed run included)
  int64_t batch_size = 32;     ///< --batch ≥ 1
  double lr = 1e-3;            ///< --lr, Adam learning rate > 0
  Schedule schedule = Schedule::kConstant;  ///< --schedule constant|cosine
  double weight_decay = 0.0;   ///< --weight-decay ≥ 0 (Adam L2)
  uint64_t seed = 0;           ///< --seed
  int n_threads = 2;           ///< --threads: Torch intra-op threads (≥ 1)
  int n_workers = 2;           ///< --workers: decoding threads (≥ 0)
  Device device = Device::kAuto;          ///< --device auto|cpu|cuda
  Balance balance = Balance::kPosWeight;  ///< --balance pos-weight|sampler|none
  bool augment = true;                 ///< --augment / --no-augment
  double augment_gain = 1.2;           ///< --augment-gain ≥ 1 (see AugmentOptions::gain_max)
  double augment_offset = 0.1;         ///< --augment-offset ≥ 0
  std::filesystem::path init;          ///< --init CKPT: copy matching parameters
  int freeze_blocks = 0;               ///< --freeze-blocks K: freeze the first K trunk blocks
  int patience = 0;  ///< --patience P: stop after P epochs without a lower val loss (0 = off)
  bool resume = false;  ///< --resume: continue the run in `out` from out/last
  bool cache = false;   ///< --cache: keep preprocessed inputs in memory (if they fit)
  uint64_t cache_max_bytes = uint64_t{4} << 30;  ///< --cache-max-mb · 2^20
  bool tune_thresholds = false;  ///< --tune-thresholds: per label, max balanced accuracy on val
  bool plots = true;             ///< --no-plots: no curves_*.png
  std::string command;           ///< the command line, for provenance
};

/// Resolved options as JSON (run.json, provenance).
nlohmann::json to_json(const TrainOptions& options);

/// Checks the options. @throws ConfigError naming the field at fault.
void validate(const TrainOptions& options);

}  // namespace difftriage::train
