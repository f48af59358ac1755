/// Options of a training run (train.h), without LibTorch. Field names map one-to-one onto the
/// `difftriage train` flags and onto run.json (to_json). Option values that are words on the
/// command line and in JSON are enums here, parsed once at the edge (parse_schedule, ...).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
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

/// Collective backend of data-parallel training (c10d process groups).
enum class DistBackend {
  kGloo,  ///< "gloo": CPU tensors over TCP (Debian's LibTorch has it; needs libgloo-dev headers)
  kNccl,  ///< "nccl": CUDA tensors; only in a CUDA LibTorch built with NCCL
};

/// The TCP port rank 0's rendezvous store listens on when the launcher sets no MASTER_PORT
/// (torch.distributed's default).
inline constexpr int kDefaultMasterPort = 29500;

/// Data-parallel training (train.h, "Data-parallel training"): one process per rank, the
/// gradients all-reduced (averaged) after each step. Plain value type.
struct DistributedOptions {
  bool enabled = false;  ///< --distributed
  int rank = 0;          ///< 0..world_size-1 (RANK or OMPI_COMM_WORLD_RANK)
  int world_size = 1;    ///< ≥ 1 (WORLD_SIZE or OMPI_COMM_WORLD_SIZE)
  /// Host of rank 0's rendezvous store (MASTER_ADDR). A loopback address (127.x, localhost)
  /// makes every rank's Gloo pairs bind to 127.0.0.1.
  std::string master_addr = "127.0.0.1";
  int master_port = kDefaultMasterPort;  ///< MASTER_PORT, 1..65535
  /// Network interface of the Gloo pairs (GLOO_SOCKET_IFNAME); empty: 127.0.0.1 for a loopback
  /// master_addr, else the interface of this host's name.
  std::string interface;
  DistBackend backend = DistBackend::kGloo;  ///< --dist-backend
  /// --dist-timeout: how long a rank waits for the others (rendezvous, and each collective)
  /// before failing. A rank that dies is noticed at once (its sockets close); one that hangs,
  /// after this long.
  double timeout_s = 300;
};

/// Resolves the rank, world size and rendezvous address from a launcher's environment,
/// read through `lookup` (name → value, nullopt when unset; the CLI passes getenv): torchrun
/// style RANK + WORLD_SIZE + MASTER_ADDR + MASTER_PORT (all four required), or, when RANK is
/// unset, OpenMPI's OMPI_COMM_WORLD_RANK + OMPI_COMM_WORLD_SIZE (else MPICH's PMI_RANK +
/// PMI_SIZE) with MASTER_ADDR defaulting to 127.0.0.1 and MASTER_PORT to kDefaultMasterPort;
/// GLOO_SOCKET_IFNAME optional. Other fields
/// are kept from `base`; `enabled` is set.
/// @throws ConfigError naming the variable that is missing or malformed.
DistributedOptions distributed_from_environment(
    const std::function<std::optional<std::string>(const std::string&)>& lookup,
    DistributedOptions base = {});

/// "constant", "cosine" (and the same for the other enums); "?" for a value outside the enum.
const char* schedule_name(Schedule schedule) noexcept;
const char* device_name(Device device) noexcept;
const char* balance_name(Balance balance) noexcept;
const char* dist_backend_name(DistBackend backend) noexcept;
/// Parses the names above. @throws ConfigError naming `option` and the accepted values.
Schedule parse_schedule(const std::string& word, const std::string& option = "schedule");
Device parse_device(const std::string& word, const std::string& option = "device");
Balance parse_balance(const std::string& word, const std::string& option = "balance");
DistBackend parse_dist_backend(const std::string& word,
                               const std::string& option = "distributed.backend");

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
  int64_t batch_size = 32;     ///< --batch ≥ 1 (per rank under data parallelism)
  /// --grad-accumulation K ≥ 1: each optimizer step averages the gradients of K batches, each
  /// run through the network (and its BatchNorm) on its own. A step covers K·batch_size frames
  /// (times world_size when distributed).
  int grad_accumulation = 1;
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
  DistributedOptions distributed;  ///< --distributed (rank and world from the environment)
  std::string command;           ///< the command line, for provenance
};

/// Resolved options as JSON (run.json, provenance).
nlohmann::json to_json(const TrainOptions& options);

/// Checks the options. @throws ConfigError naming the field at fault.
void validate(const TrainOptions& options);

}  // namespace difftriage::train
