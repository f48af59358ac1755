// difftriage train --data DIR [--data DIR2 ...] --out RUN ... — trains a model. The work is in
// difftriage::train (train.h); this file parses flags, draws the progress bar on stderr and
// writes run.json.
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <iterator>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cli_common.h"
#include "commands.h"
#include "difftriage/core/error.h"
#include "difftriage/models/model_info.h"
#include "difftriage/train/train.h"

namespace difftriage::cli {
namespace {

struct TrainArgs {
  train::TrainOptions options;
  std::vector<std::string> data;
  std::string val, out, init;
  std::string arch = "compact";
  std::string heads = "quality,labels,mosaic";
  std::string input_mode, transform, normalization;
  int64_t input_size = 0;
  std::vector<int64_t> widths;
  int64_t stem_pool = 0;
  int64_t stem_conv = -1;
  double dropout = -1;
  bool no_augment = false;
  bool augment = false;
  int64_t cache_max_mb = 4096;
  // Words of the enum options, parsed in run_train (defaults: TrainOptions').
  std::string schedule = train::schedule_name(train::TrainOptions{}.schedule);
  std::string device = train::device_name(train::TrainOptions{}.device);
  std::string balance = train::balance_name(train::TrainOptions{}.balance);
  bool quiet = false;
  bool distributed = false;
  std::string dist_backend = train::dist_backend_name(train::DistributedOptions{}.backend);
  double dist_timeout_s = train::DistributedOptions{}.timeout_s;
  std::string command;
};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// The flag of each TrainOptions field that library messages name.
constexpr std::pair<const char*, const char*> kFieldFlags[] = {
    {"data", "--data"},
    {"val_fraction", "--val-fraction"},
    {"val", "--val"},
    {"out", "--out"},
    {"model.heads", "--heads"},
    {"model", "--arch/--heads/--input-*"},
    {"epochs", "--epochs"},
    {"batch_size", "--batch"},
    {"lr", "--lr"},
    {"schedule", "--schedule"},
    {"weight_decay", "--weight-decay"},
    {"seed", "--seed"},
    {"n_threads", "--threads"},
    {"n_workers", "--workers"},
    {"device", "--device"},
    {"balance", "--balance"},
    {"augment_gain", "--augment-gain"},
    {"augment_offset", "--augment-offset"},
    {"init", "--init"},
    {"freeze_blocks", "--freeze-blocks"},
    {"patience", "--patience"},
    {"resume", "--resume"},
    {"grad_accumulation", "--grad-accumulation"},
    {"distributed.backend", "--dist-backend"},
    {"distributed.timeout_s", "--dist-timeout"},
    {"distributed", "--distributed"},
};

// A message that opens with a field gets its flag: "batch_size must be ..." becomes "--batch:
// batch_size must be ...", and "data: no training frame ..." becomes "--data: no training
// frame ...". Other messages are unchanged.
std::string name_flag(const std::string& message) {
  for (const auto& [field, flag] : kFieldFlags) {
    const size_t n = std::char_traits<char>::length(field);
    if (message.compare(0, n, field) != 0) continue;
    if (message.size() > n && message[n] == ':') return flag + message.substr(n);
    if (message.size() > n && message[n] == ' ') return std::string(flag) + ": " + message;
  }
  return message;
}

// Runs `work`, adding the flag to a training error that names an option field.
template <typename Work>
auto with_flags_named(Work work) {
  try {
    return work();
  } catch (const ConfigError& e) {
    throw ConfigError(name_flag(e.what()));
  } catch (const FormatError& e) {
    throw FormatError(name_flag(e.what()));
  } catch (const ModelError& e) {
    throw ModelError(name_flag(e.what()));
  }
}

std::string format_duration(double s) {
  if (!std::isfinite(s)) return "?";
  const long t = std::lround(s);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  return buf;
}

/// Progress on stderr: a redrawn bar on a terminal (≤ 10 redraws/s), else one line per second;
/// one summary line per epoch either way.
class ProgressPrinter {
 public:
  explicit ProgressPrinter(std::vector<std::string> heads)
      : tty_(isatty(fileno(stderr)) != 0), heads_(std::move(heads)) {}

  void operator()(const train::TrainProgress& p) {
    using Phase = train::TrainProgress::Phase;
    const auto now = std::chrono::steady_clock::now();
    if (p.phase == Phase::kEpochDone) {
      if (tty_) std::fprintf(stderr, "\r\033[K");
      const auto& m = *p.metrics;
      std::string line = "epoch " + std::to_string(p.epoch) + "/" + std::to_string(p.n_epochs) +
                         "  train loss " + num(m.train_loss) + "  val loss " + num(m.val_loss);
      double bacc = 0;
      int n = 0;
      for (const auto& [k, v] : m.val_balanced_accuracy) {
        if (std::isfinite(v)) {
          bacc += v;
          ++n;
        }
      }
      if (n) line += "  val mean bal.acc " + num(bacc / n);
      if (std::isfinite(m.val_quality_accuracy)) line += "  quality acc " + num(m.val_quality_accuracy);
      if (std::isfinite(m.val_mosaic1_mae)) line += "  mosaic1 MAE " + num(m.val_mosaic1_mae);
      line += "  " + num(m.train_frames_per_s) + " frames/s  " + format_duration(m.seconds) +
              "  ETA " + format_duration(p.eta_s);
      std::fprintf(stderr, "%s\n", line.c_str());
      return;
    }
    const double since = std::chrono::duration<double>(now - last_).count();
    const bool last_batch = p.batch == p.n_batches;
    if (since < (tty_ ? 0.1 : 1.0) && !(tty_ && last_batch)) return;
    last_ = now;
    const double frac = p.n_batches ? static_cast<double>(p.batch) / p.n_batches : 0.0;
    const int width = 24, filled = static_cast<int>(frac * width);
    std::string bar(static_cast<size_t>(filled), '#');
    bar += std::string(static_cast<size_t>(width - filled), '.');
    char buf[256];
    std::snprintf(buf, sizeof buf, "epoch %d/%d %s [%s] %lld/%lld loss %.4f%s ETA %s", p.epoch,
                  p.n_epochs, p.phase == Phase::kTrain ? "train" : "val  ", bar.c_str(),
                  static_cast<long long>(p.batch), static_cast<long long>(p.n_batches), p.loss,
                  p.phase == Phase::kTrain
                      ? (" " + num(p.frames_per_s) + " frames/s").c_str()
                      : "",
                  format_duration(p.eta_s).c_str());
    if (tty_) std::fprintf(stderr, "\r\033[K%s", buf);
    else std::fprintf(stderr, "%s\n", buf);
  }

 private:
  static std::string num(double v) {
    if (!std::isfinite(v)) return "n/a";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v);
    return buf;
  }
  bool tty_;
  std::vector<std::string> heads_;
  std::chrono::steady_clock::time_point last_{};
};

void run_train(TrainArgs& a) {
  auto& o = a.options;
  for (const auto& d : a.data) o.data.emplace_back(d);
  o.val = a.val;
  o.out = a.out;
  o.init = a.init;
  o.augment = !a.no_augment;
  o.cache_max_bytes = static_cast<uint64_t>(a.cache_max_mb) << 20;
  o.command = a.command;
  o.schedule = train::parse_schedule(a.schedule, "--schedule");
  o.device = train::parse_device(a.device, "--device");
  o.balance = train::parse_balance(a.balance, "--balance");
  const auto heads = split_list(a.heads);
  DT_CHECK(!heads.empty(), ConfigError, "--heads: give at least one head");
  try {
    o.model = models::default_metadata(a.arch, heads);
  } catch (const ConfigError& e) {
    throw ConfigError(std::string("--arch/--heads: ") + e.what());
  }
  if (!a.widths.empty()) o.model.architecture.widths = a.widths;
  if (a.stem_pool > 0) o.model.architecture.stem_pool = a.stem_pool;
  if (a.stem_conv >= 0) o.model.architecture.stem_conv = a.stem_conv;
  if (a.dropout >= 0) o.model.architecture.dropout = a.dropout;
  auto& pp = o.model.preprocess;
  if (!a.input_mode.empty()) pp.mode = models::parse_input_mode(a.input_mode, "--input-mode");
  if (!a.transform.empty()) pp.transform = models::parse_transform(a.transform, "--transform");
  if (!a.normalization.empty()) {
    pp.normalization = models::parse_normalization(a.normalization, "--normalization");
  }
  if (a.input_size > 0) pp.input_size = a.input_size;
  if (a.distributed) {
    // The launcher's environment (torchrun style or mpirun), read here: the library never reads
    // the environment.
    train::DistributedOptions d;
    d.backend = train::parse_dist_backend(a.dist_backend, "--dist-backend");
    d.timeout_s = a.dist_timeout_s;
    o.distributed = train::distributed_from_environment(
        [](const std::string& name) -> std::optional<std::string> {
          const char* v = std::getenv(name.c_str());
          return v ? std::optional<std::string>(v) : std::nullopt;
        },
        d);
    // A write to a rank that has died must fail as an error Gloo reports (exit 3, naming the
    // collective), not kill this rank with SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
    DT_CHECK(train::dist_backend_available(d.backend), ConfigError, "--dist-backend ",
             a.dist_backend,
             d.backend == train::DistBackend::kNccl
                 ? ": this LibTorch build has no NCCL (Debian's libtorch-dev is CPU-only, "
                   "without CUDA or NCCL); use --dist-backend gloo"
                 : ": this difftriage was built without the Gloo headers (install libgloo-dev, "
                   "reconfigure and rebuild)");
  }
  with_flags_named([&] { train::validate(o); });

  // Rank 0 alone writes the run folder and reports progress; the other ranks only train.
  const bool writer = !o.distributed.enabled || o.distributed.rank == 0;
  if (writer) {
    make_output_dir(o.out);
    write_run_json(o.out, "train", train::to_json(o));
  }
  std::unique_ptr<ProgressPrinter> printer;
  train::ProgressCallback cb;
  if (!a.quiet && writer) {
    printer = std::make_unique<ProgressPrinter>(heads);
    cb = [&](const train::TrainProgress& p) { (*printer)(p); };
  }
  const auto r = with_flags_named([&] { return train::train_model(o, cb); });
  if (!writer) return;

  auto run = train::to_json(o);
  run["result"] = {{"best_epoch", r.best_epoch},
                   {"best_val_loss", std::isfinite(r.best_val_loss)
                                         ? nlohmann::json(r.best_val_loss)
                                         : nlohmann::json()},
                   {"epochs_run", r.epochs_run},
                   {"last_epoch", r.last_epoch},
                   {"stopped_early", r.stopped_early},
                   {"cache_used", r.cache_used},
                   {"device", train::device_name(r.device)},
                   {"n_train", r.n_train},
                   {"n_val", r.n_val},
                   {"n_transferred", r.transferred.size()},
                   {"thresholds", r.thresholds}};
  write_run_json(o.out, "train", run);
  std::printf("best epoch %d (val loss %s), %d epoch(s) run on %s%s; model: %s\n", r.best_epoch,
              std::isfinite(r.best_val_loss) ? std::to_string(r.best_val_loss).c_str() : "n/a",
              r.epochs_run, train::device_name(r.device), r.stopped_early ? ", stopped early" : "",
              r.best_checkpoint.string().c_str());
}

}  // namespace

void register_train(CLI::App& root) {
  auto a = std::make_shared<TrainArgs>();
  CLI::App* cmd = root.add_subcommand(
      "train",
      "Train a model on one or more labelled dataset folders: RUN/model (best checkpoint), "
      "RUN/last (resume state), RUN/metrics.csv, RUN/curves_*.png, RUN/run.json");
  auto& o = a->options;
  cmd->add_option("--data", a->data,
                  "Training dataset folder; repeat for several (label types may differ: "
                  "missing label types are masked out of their head's loss)")
      ->required();
  cmd->add_option("--val", a->val, "Validation dataset folder (default: split off --val-fraction)");
  cmd->add_option("--val-fraction", o.val_fraction,
                  "Without --val: stratified share of each training folder used for validation "
                  "(0 = none; then the last epoch is kept)")
      ->capture_default_str();
  cmd->add_option("--out", a->out, "Run folder (created if missing)")->required();
  cmd->add_option("--arch", a->arch, "Network: compact or vgg16")->capture_default_str();
  cmd->add_option("--heads", a->heads,
                  "Comma-separated heads: quality, labels, mosaic, spots (log10 of the "
                  "bright-spot count, learned from simulator sidecars), and/or binary heads "
                  "named by a label (blank, photo1, photo2, multilattice, ice, badice)")
      ->capture_default_str();
  cmd->add_option("--widths", a->widths,
                  "Channels per trunk block, comma-separated (default: the architecture's)")
      ->delimiter(',');
  cmd->add_option("--stem-pool", a->stem_pool,
                  "compact: max-pool factor applied inside the network before block 1 (default "
                  "1; use 4 with --input-size 512 to give the network full-resolution frames)");
  cmd->add_option("--stem-conv", a->stem_conv,
                  "compact, with --stem-pool > 1: channels of a learned patch stem beside the "
                  "max pool (sees spot shapes that pooling loses; default 0 = none)");
  cmd->add_option("--dropout", a->dropout, "Dropout before each head's last layer (default 0)");
  cmd->add_option("--input-mode", a->input_mode,
                  "bin-max | bin-mean | crop (default: bin-max)");
  cmd->add_option("--input-size", a->input_size,
                  "Side of the square network input in pixels (default: compact 128, vgg16 512)");
  cmd->add_option("--transform", a->transform, "log1p | sqrt | linear (default: log1p)");
  cmd->add_option("--normalization", a->normalization,
                  "per-frame | fixed | none (default: per-frame)");
  cmd->add_option("--epochs", o.epochs, "Epochs in total (a resumed run included)")
      ->capture_default_str();
  cmd->add_option("--batch", o.batch_size,
                  "Batch size (per rank with --distributed; per micro-batch with "
                  "--grad-accumulation)")
      ->capture_default_str();
  cmd->add_option("--grad-accumulation", o.grad_accumulation,
                  "Average the gradients of K batches, each run through the network and its "
                  "BatchNorm on its own, per optimizer step (1 rank with K = 2 trains what 2 "
                  "ranks with --distributed do)")
      ->capture_default_str();
  cmd->add_option("--lr", o.lr, "Adam learning rate")->capture_default_str();
  cmd->add_option("--schedule", a->schedule,
                  "Learning-rate schedule: constant, or cosine (from --lr down to 2 % of it over "
                  "--epochs)")
      ->capture_default_str();
  cmd->add_option("--weight-decay", o.weight_decay, "Adam weight decay (L2)")
      ->capture_default_str();
  cmd->add_option("--seed", o.seed, "Seed of initialisation, order, sampler and augmentation")
      ->capture_default_str();
  cmd->add_option("--threads", o.n_threads,
                  "Torch compute threads (results are bit-reproducible for a fixed count)")
      ->capture_default_str();
  cmd->add_option("--workers", o.n_workers, "Image decoding threads (0 = inline)")
      ->capture_default_str();
  cmd->add_option("--device", a->device,
                  "Where the network trains: auto (a CUDA GPU when this LibTorch build sees one, "
                  "else the CPU), cpu or cuda. Decoding and the input cache stay on the CPU")
      ->capture_default_str();
  cmd->add_option("--balance", a->balance,
                  "Class balance: pos-weight (BCE positive weights from label frequencies), "
                  "sampler (balanced sampling with replacement) or none")
      ->capture_default_str();
  cmd->add_flag("--augment", a->augment,
                "Augment: flips and 90-degree rotations about the beam centre, gain/offset "
                "jitter (the default)");
  cmd->add_flag("--no-augment", a->no_augment, "Do not augment");
  cmd->add_option("--augment-gain", o.augment_gain,
                  "Largest multiplicative intensity jitter (>= 1)")
      ->capture_default_str();
  cmd->add_option("--augment-offset", o.augment_offset,
                  "Largest additive intensity jitter (normalised units)")
      ->capture_default_str();
  cmd->add_option("--init", a->init,
                  "Initialise from this checkpoint (parameters with matching name and shape)");
  cmd->add_option("--freeze-blocks", o.freeze_blocks,
                  "Freeze the first K trunk blocks (with --init)")
      ->capture_default_str();
  cmd->add_option("--patience", o.patience,
                  "Early stopping: stop after P epochs without a lower validation loss (0 = off)")
      ->capture_default_str();
  cmd->add_flag("--resume", o.resume,
                "Continue the run in --out from its last epoch (give the same flags; --epochs "
                "may be raised)");
  cmd->add_flag("--cache", o.cache,
                "Keep preprocessed inputs in memory after the first epoch (if they fit "
                "--cache-max-mb)");
  cmd->add_option("--cache-max-mb", a->cache_max_mb, "Memory limit of --cache in MiB")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30))
      ->capture_default_str();
  cmd->add_flag("--tune-thresholds", o.tune_thresholds,
                "Tune each label's decision threshold on the validation set (max balanced "
                "accuracy) instead of 0.5");
  cmd->add_flag_callback("--no-plots", [&o = a->options] { o.plots = false; },
                         "Do not draw curves_*.png (no gnuplot needed)");
  cmd->add_flag("--quiet", a->quiet, "No progress on stderr");
  cmd->add_flag("--distributed", a->distributed,
                "Data-parallel training, one process per rank: rank and world from RANK, "
                "WORLD_SIZE, MASTER_ADDR, MASTER_PORT (torchrun style) or, under mpirun, "
                "OMPI_COMM_WORLD_RANK/SIZE or PMI_RANK/SIZE (MASTER_ADDR default 127.0.0.1, "
                "MASTER_PORT 29500). Each rank reads its share of each step, gradients are "
                "averaged over the ranks, rank 0 writes --out. Give every rank the same flags");
  cmd->add_option("--dist-backend", a->dist_backend,
                  "Collective backend with --distributed: gloo (CPU) or nccl (only in a CUDA "
                  "LibTorch built with NCCL; Debian's is CPU-only)")
      ->capture_default_str()
      ->needs("--distributed");
  cmd->add_option("--dist-timeout", a->dist_timeout_s,
                  "With --distributed: seconds a rank waits for the others (rendezvous, each "
                  "all-reduce) before failing; a rank that dies is noticed at once")
      ->capture_default_str()
      ->needs("--distributed");
  cmd->get_option("--augment")->excludes("--no-augment");
  cmd->callback([a, cmd] {
    a->command = command_line(*cmd);
    run_train(*a);
  });
}

}  // namespace difftriage::cli
