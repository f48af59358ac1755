// The training loop. See train.h for the run folder layout and the determinism contract.
#include "difftriage/train/train.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/optim/adam.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/utils.h>

#include "difftriage/core/atomic_file.h"
#include "difftriage/core/error.h"
#include "difftriage/core/json_text.h"
#include "difftriage/core/log.h"
#include "difftriage/dataset/split.h"
#include "difftriage/evaluate/metrics.h"
#include "difftriage/models/checkpoint.h"
#include "difftriage/report/charts.h"
#include "difftriage/train/data.h"
#include "difftriage/version.h"
#include "distributed.h"

namespace difftriage::train {
namespace fs = std::filesystem;
namespace {

// Learning rate of 1-based `epoch` (see TrainOptions::schedule). A function of the epoch alone,
// so a resumed run continues the same curve.
double epoch_learning_rate(const TrainOptions& o, int epoch) {
  if (o.schedule != Schedule::kCosine) return o.lr;
  constexpr double kFloor = 0.02;
  const double pi = 3.14159265358979323846;
  const double phase = static_cast<double>(epoch - 1) / static_cast<double>(o.epochs);
  return o.lr * (kFloor + (1.0 - kFloor) * 0.5 * (1.0 + std::cos(pi * phase)));
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}


bool has_head(const std::vector<std::string>& heads, const char* name) {
  return std::find(heads.begin(), heads.end(), name) != heads.end();
}

// Keys of the per-label validation accuracies: the label names of the labels head, and
// "<name>_head" for binary heads.
std::vector<std::string> accuracy_keys(const std::vector<std::string>& heads) {
  std::vector<std::string> keys;
  for (const auto& h : heads) {
    if (h == models::kLabelsHead) {
      for (const char* n : kLabelNames) keys.emplace_back(n);
    } else if (label_index(h) >= 0) {
      keys.push_back(h + "_head");
    }
  }
  return keys;
}

std::string csv_number(double v) {
  if (!std::isfinite(v)) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

double get_or_nan(const std::map<std::string, double>& m, const std::string& key) {
  const auto it = m.find(key);
  return it == m.end() ? kNaN : it->second;
}

nlohmann::json map_json(const std::map<std::string, double>& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : m) j[k] = evaluate::json_number(v);
  return j;
}
double num(const nlohmann::json& j) { return j.is_number() ? j.get<double>() : kNaN; }
std::map<std::string, double> map_from(const nlohmann::json& j) {
  std::map<std::string, double> m;
  for (auto it = j.begin(); it != j.end(); ++it) m[it.key()] = num(it.value());
  return m;
}

nlohmann::json epoch_json(const EpochMetrics& m) {
  return {{"epoch", m.epoch},
          {"train_loss", evaluate::json_number(m.train_loss)},
          {"train_head_loss", map_json(m.train_head_loss)},
          {"val_loss", evaluate::json_number(m.val_loss)},
          {"val_head_loss", map_json(m.val_head_loss)},
          {"val_accuracy", map_json(m.val_accuracy)},
          {"val_balanced_accuracy", map_json(m.val_balanced_accuracy)},
          {"val_quality_accuracy", evaluate::json_number(m.val_quality_accuracy)},
          {"val_mosaic1_mae", evaluate::json_number(m.val_mosaic1_mae)},
          {"val_mosaic2_mae", evaluate::json_number(m.val_mosaic2_mae)},
          {"lr", m.lr},
          {"seconds", m.seconds},
          {"train_frames", m.train_frames},
          {"train_frames_per_s", evaluate::json_number(m.train_frames_per_s)}};
}

EpochMetrics epoch_from_json(const nlohmann::json& j) {
  EpochMetrics m;
  m.epoch = j.at("epoch").get<int>();
  m.train_loss = num(j.at("train_loss"));
  m.train_head_loss = map_from(j.at("train_head_loss"));
  m.val_loss = num(j.at("val_loss"));
  m.val_head_loss = map_from(j.at("val_head_loss"));
  m.val_accuracy = map_from(j.at("val_accuracy"));
  m.val_balanced_accuracy = map_from(j.at("val_balanced_accuracy"));
  m.val_quality_accuracy = num(j.at("val_quality_accuracy"));
  m.val_mosaic1_mae = num(j.at("val_mosaic1_mae"));
  m.val_mosaic2_mae = num(j.at("val_mosaic2_mae"));
  m.lr = num(j.at("lr"));
  m.seconds = num(j.at("seconds"));
  m.train_frames = j.at("train_frames").get<int64_t>();
  m.train_frames_per_s = num(j.at("train_frames_per_s"));
  return m;
}

// Probabilities of a validation pass, in record order, and its losses.
struct ValPass {
  double loss = kNaN;
  std::map<std::string, double> head_loss;
  std::map<std::string, torch::Tensor> probs;  // head → [N,k] float32
};

// A batch's input and targets on `device` (a no-op on the CPU).
void move_batch(Batch& batch, const torch::Device& device) {
  if (device.is_cpu()) return;
  batch.x = batch.x.to(device, /*non_blocking=*/false);
  for (auto& [head, t] : batch.targets) {
    if (t.target.defined()) t.target = t.target.to(device);
    if (t.mask.defined()) t.mask = t.mask.to(device);
  }
}

// Saves `net` (on any device) as a checkpoint of CPU tensors, so that it loads on a machine
// without the training device.
void save_from_device(const fs::path& dir, const models::TriageNet& net,
                      const models::ModelMetadata& meta, const torch::Device& device) {
  if (device.is_cpu()) {
    models::save_checkpoint(dir, net, meta);
    return;
  }
  auto cpu = models::make_network(meta);
  const auto report = models::copy_matching_parameters(cpu, net);
  DT_CHECK(report.missing.empty() && report.shape_mismatch.empty(), ModelError,
           "cannot copy the network from ", device.str(), " to the CPU for saving");
  models::save_checkpoint(dir, cpu, meta);
}

ValPass run_validation(models::TriageNet& net, const std::vector<FrameRecord>& records,
                       const models::Preprocessor& pre, const models::LossOptions& loss_options,
                       const TrainOptions& o, TensorCache* cache, const torch::Device& device,
                       const std::function<void(int64_t, int64_t, double)>& on_batch) {
  ValPass v;
  if (records.empty()) return v;
  std::vector<size_t> order(records.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  LoaderOptions lo;
  lo.batch_size = o.batch_size;
  lo.n_workers = o.n_workers;
  lo.heads = o.model.heads;
  lo.cache = cache;
  BatchLoader loader(records, pre, order, lo);
  net->eval();
  torch::NoGradGuard no_grad;
  std::map<std::string, std::vector<torch::Tensor>> parts;
  std::map<std::string, double> head_sum, head_n;
  double total = 0;
  int64_t n = 0, k = 0;
  while (auto batch = loader.next()) {
    move_batch(*batch, device);
    const auto out = net->forward(batch->x);
    const auto losses = models::compute_losses(out, batch->targets, loss_options);
    const auto b = batch->x.size(0);
    total += losses.total.item<double>() * static_cast<double>(b);
    n += b;
    for (const auto& [h, l] : losses.per_head) {
      const auto nv = static_cast<double>(losses.n_valid.at(h));
      head_sum[h] += l.item<double>() * nv;
      head_n[h] += nv;
    }
    for (const auto& [h, p] : models::to_probabilities(out)) parts[h].push_back(p.to(torch::kCPU));
    if (on_batch) on_batch(++k, loader.n_batches(), total / static_cast<double>(n));
  }
  v.loss = total / static_cast<double>(std::max<int64_t>(n, 1));
  for (const auto& [h, s] : head_sum) v.head_loss[h] = head_n[h] > 0 ? s / head_n[h] : kNaN;
  for (auto& [h, list] : parts) v.probs[h] = torch::cat(list, 0).contiguous();
  return v;
}

// Scores and truth of label key `key` (see accuracy_keys) over the records that know it.
void label_scores(const ValPass& v, const std::vector<FrameRecord>& records,
                  const std::string& key, std::vector<double>& scores,
                  std::vector<uint8_t>& truth) {
  scores.clear();
  truth.clear();
  torch::Tensor p;
  int j = -1, col = 0;
  if (key.size() > 5 && key.compare(key.size() - 5, 5, "_head") == 0) {
    const std::string head = key.substr(0, key.size() - 5);
    j = label_index(head);
    p = v.probs.at(head);
  } else {
    j = label_index(key);
    col = j;
    p = v.probs.at(models::kLabelsHead);
  }
  const auto acc = p.accessor<float, 2>();
  for (size_t i = 0; i < records.size(); ++i) {
    if (!records[i].label_mask[j]) continue;
    scores.push_back(acc[static_cast<int64_t>(i)][col]);
    truth.push_back(records[i].labels[j] > 0.5f ? 1 : 0);
  }
}

void fill_val_metrics(EpochMetrics& m, const ValPass& v, const std::vector<FrameRecord>& records,
                      const std::vector<std::string>& heads) {
  m.val_loss = v.loss;
  m.val_head_loss = v.head_loss;
  m.val_quality_accuracy = kNaN;
  m.val_mosaic1_mae = kNaN;
  m.val_mosaic2_mae = kNaN;
  if (records.empty()) return;
  std::vector<double> scores;
  std::vector<uint8_t> truth;
  for (const auto& key : accuracy_keys(heads)) {
    label_scores(v, records, key, scores, truth);
    evaluate::BinaryOptions bo;
    bo.with_curves = false;
    const auto b = evaluate::evaluate_binary(scores, truth, bo);
    m.val_accuracy[key] = b.accuracy;
    m.val_balanced_accuracy[key] = b.balanced_accuracy;
  }
  if (has_head(heads, models::kQualityHead)) {
    const auto pred = v.probs.at(models::kQualityHead).argmax(1);
    const auto acc = pred.accessor<int64_t, 1>();
    int64_t n = 0, right = 0;
    for (size_t i = 0; i < records.size(); ++i) {
      if (records[i].quality < 0) continue;
      ++n;
      right += acc[static_cast<int64_t>(i)] == records[i].quality;
    }
    m.val_quality_accuracy = n ? static_cast<double>(right) / static_cast<double>(n) : kNaN;
  }
  if (has_head(heads, models::kMosaicHead)) {
    const auto acc = v.probs.at(models::kMosaicHead).accessor<float, 2>();
    double s1 = 0, s2 = 0;
    int64_t n1 = 0, n2 = 0;
    for (size_t i = 0; i < records.size(); ++i) {
      const auto& r = records[i];
      if (!r.has_mosaic) continue;
      const auto ii = static_cast<int64_t>(i);
      if (r.has_crystal.value_or(false)) {
        s1 += std::abs(acc[ii][0] - r.mosaic[0]);
        ++n1;
      }
      if (r.mosaic2_known) {
        s2 += std::abs(acc[ii][1] - r.mosaic[1]);
        ++n2;
      }
    }
    m.val_mosaic1_mae = n1 ? s1 / static_cast<double>(n1) : kNaN;
    m.val_mosaic2_mae = n2 ? s2 / static_cast<double>(n2) : kNaN;
  }
}

void save_optimizer(const fs::path& file, torch::optim::Adam& opt) {
  write_atomically(file, [&](const fs::path& tmp) {
    torch::serialize::OutputArchive archive;
    opt.save(archive);
    archive.save_to(tmp.string());
  });
}

void write_plots(const fs::path& out, const std::vector<EpochMetrics>& history,
                 const std::vector<std::string>& heads) {
  std::vector<double> epochs;
  for (const auto& m : history) epochs.push_back(m.epoch);
  auto series = [&](auto get) {
    std::vector<double> ys;
    for (const auto& m : history) ys.push_back(get(m));
    return ys;
  };
  auto any_finite = [](const std::vector<double>& ys) {
    return std::any_of(ys.begin(), ys.end(), [](double y) { return std::isfinite(y); });
  };
  report::LineChart loss{"Training and validation loss", "epoch", "loss", {}, {}, {}, false};
  auto add = [&](report::LineChart& c, const std::string& name, std::vector<double> ys) {
    if (!any_finite(ys)) return;
    c.series_names.push_back(name);
    c.xs.push_back(epochs);
    c.ys.push_back(std::move(ys));
  };
  add(loss, "train", series([](const EpochMetrics& m) { return m.train_loss; }));
  add(loss, "validation", series([](const EpochMetrics& m) { return m.val_loss; }));
  for (const auto& h : heads) {
    add(loss, "train " + h,
        series([&](const EpochMetrics& m) { return get_or_nan(m.train_head_loss, h); }));
    add(loss, "val " + h,
        series([&](const EpochMetrics& m) { return get_or_nan(m.val_head_loss, h); }));
  }
  if (!loss.xs.empty()) report::plot_lines(out / "curves_loss.png", loss);

  report::LineChart acc{"Validation balanced accuracy per label (chance 0.5), quality accuracy",
                        "epoch", "balanced accuracy / accuracy", {}, {}, {}, false};
  for (const auto& key : accuracy_keys(heads)) {
    add(acc, key,
        series([&](const EpochMetrics& m) { return get_or_nan(m.val_balanced_accuracy, key); }));
  }
  add(acc, "quality (accuracy)",
      series([](const EpochMetrics& m) { return m.val_quality_accuracy; }));
  if (!acc.xs.empty()) report::plot_lines(out / "curves_accuracy.png", acc);

  report::LineChart mae{"Validation mosaic MAE", "epoch", "MAE", {}, {}, {}, false};
  add(mae, "mosaic1 (crystal frames)",
      series([](const EpochMetrics& m) { return m.val_mosaic1_mae; }));
  add(mae, "mosaic2 (multilattice frames)",
      series([](const EpochMetrics& m) { return m.val_mosaic2_mae; }));
  if (!mae.xs.empty()) report::plot_lines(out / "curves_mosaic.png", mae);
}

nlohmann::json metrics_json(const EpochMetrics& m, int64_t n_val) {
  auto j = epoch_json(m);
  j["n_val"] = n_val;
  j.erase("train_frames");
  j.erase("train_frames_per_s");
  j.erase("seconds");
  return j;
}

}  // namespace

Device resolve_device(Device requested) {
  if (requested == Device::kCpu) return Device::kCpu;
  DT_CHECK(requested == Device::kAuto || requested == Device::kCuda, ConfigError,
           "device: not a known value (", static_cast<int>(requested), ")");
  const bool available = torch::cuda::is_available();
  if (requested == Device::kAuto) return available ? Device::kCuda : Device::kCpu;
  DT_CHECK(available, ConfigError,
           "device cuda: this LibTorch sees no usable CUDA device (Debian's libtorch-dev is "
           "CPU-only; README 'Training on a GPU' says how to build against a CUDA LibTorch). "
           "Use device cpu or auto");
  return Device::kCuda;
}

bool dist_backend_available(DistBackend backend) noexcept { return detail::has_backend(backend); }

double tune_threshold(const std::vector<double>& scores, const std::vector<uint8_t>& truth) {
  int64_t pos = 0, neg = 0;
  for (auto t : truth) (t ? pos : neg)++;
  if (pos == 0 || neg == 0) return 0.5;
  double best_t = 0.5, best_b = -1;
  for (int k = 2; k <= 98; ++k) {
    const double t = k / 100.0;
    int64_t tp = 0, tn = 0;
    for (size_t i = 0; i < scores.size(); ++i) {
      const bool p = scores[i] >= t;
      tp += p && truth[i];
      tn += !p && !truth[i];
    }
    const double b = 0.5 * (static_cast<double>(tp) / static_cast<double>(pos) +
                            static_cast<double>(tn) / static_cast<double>(neg));
    if (b > best_b + 1e-12 ||
        (std::abs(b - best_b) <= 1e-12 && std::abs(t - 0.5) < std::abs(best_t - 0.5))) {
      best_b = b;
      best_t = t;
    }
  }
  return best_t;
}

std::string metrics_csv_header(const std::vector<std::string>& heads) {
  std::string s = "epoch,train_loss";
  for (const auto& h : heads) s += ",train_loss_" + h;
  s += ",val_loss";
  for (const auto& h : heads) s += ",val_loss_" + h;
  for (const auto& k : accuracy_keys(heads)) s += ",val_acc_" + k + ",val_bacc_" + k;
  s += ",val_quality_acc,val_mosaic1_mae,val_mosaic2_mae,lr,seconds,train_frames_per_s\n";
  return s;
}

std::string metrics_csv_row(const EpochMetrics& m, const std::vector<std::string>& heads) {
  std::string s = std::to_string(m.epoch) + "," + csv_number(m.train_loss);
  for (const auto& h : heads) s += "," + csv_number(get_or_nan(m.train_head_loss, h));
  s += "," + csv_number(m.val_loss);
  for (const auto& h : heads) s += "," + csv_number(get_or_nan(m.val_head_loss, h));
  for (const auto& k : accuracy_keys(heads)) {
    s += "," + csv_number(get_or_nan(m.val_accuracy, k)) + "," +
         csv_number(get_or_nan(m.val_balanced_accuracy, k));
  }
  s += "," + csv_number(m.val_quality_accuracy) + "," + csv_number(m.val_mosaic1_mae) + "," +
       csv_number(m.val_mosaic2_mae) + "," + csv_number(m.lr) + "," + csv_number(m.seconds) +
       "," + csv_number(m.train_frames_per_s) + "\n";
  return s;
}

namespace {

// ---- the steps of train_model ---------------------------------------------------------------

// The frames of a run.
struct RunData {
  std::vector<FrameRecord> train, val;
};

// Loads the training and validation records: `val`, or a stratified split of each training
// folder (seed `seed`); for a spots head, the bright-spot counts of the simulator sidecars.
RunData prepare_data(const TrainOptions& o) {
  const auto& heads = o.model.heads;
  RunData data;
  std::vector<FrameRecord>& train_records = data.train;
  std::vector<FrameRecord>& val_records = data.val;
  if (!o.val.empty()) {
    train_records = load_records(o.data);
    val_records = load_records({o.val});
  } else {
    for (const auto& folder : o.data) {
      const auto ds = dataset::load_dataset(folder);
      DT_CHECK(!ds.samples.empty(), FormatError, folder.string(),
               ": the label files list no images");
      const auto records = make_records(ds);
      if (o.val_fraction > 0) {
        dataset::SplitOptions so;
        so.fractions = {1.0 - o.val_fraction, o.val_fraction};
        so.names = {"train", "val"};
        so.seed = o.seed;
        const auto split = dataset::split_dataset(ds, so);
        for (size_t i : split.parts[0]) train_records.push_back(records[i]);
        for (size_t i : split.parts[1]) val_records.push_back(records[i]);
      } else {
        train_records.insert(train_records.end(), records.begin(), records.end());
      }
    }
  }
  DT_CHECK(!train_records.empty(), FormatError, "data: no training frame left after the split");
  if (has_head(heads, models::kSpotsHead)) {
    DT_CHECK(attach_bright_spots(train_records) > 0, FormatError,
             "model.heads has spots, but no training frame has a simulator sidecar (NAME.json "
             "with stats.n_bright beside the image) to learn the bright-spot count from");
    attach_bright_spots(val_records);
  }
  return data;
}

// The network being trained, on its device, and the metadata it is saved with.
struct RunModel {
  torch::Device device{torch::kCPU};
  models::ModelMetadata meta;
  models::TriageNet net{nullptr};
};

// Sets the Torch threads and seed, builds the network of `o.model` (parameters copied from
// `o.init` when given) and moves it to the resolved device; fills result.transferred and
// result.device.
RunModel build_model(const TrainOptions& o, TrainResult& result) {
  RunModel model;
  model.device = torch::Device(resolve_device(o.device) == Device::kCuda ? torch::kCUDA
                                                                           : torch::kCPU);
  at::set_num_threads(o.n_threads);
  torch::manual_seed(o.seed);
  model.meta = o.model;
  for (const char* n : kLabelNames) model.meta.thresholds.emplace(n, 0.5);
  model.net = models::make_network(model.meta);
  if (!o.init.empty()) {
    const auto report = models::init_from_checkpoint(model.net, o.init);
    DT_CHECK(!report.copied.empty(), ModelError, "init ", o.init.string(),
             ": no parameter matches the new model (other architecture?)");
    result.transferred = report.copied;
  }
  result.device = model.device.is_cpu() ? Device::kCpu : Device::kCuda;
  model.net->to(model.device);
  DT_CHECK(o.freeze_blocks <= model.net->n_blocks(), ConfigError, "freeze_blocks ",
           o.freeze_blocks, " exceeds the ", model.net->n_blocks(), " blocks of ",
           model.meta.architecture.name);
  return model;
}

// The run folder: out/last (resume state), out/model (best checkpoint).
struct RunPaths {
  fs::path last_dir, best_dir, state_file;
};

RunPaths run_paths(const fs::path& out) {
  return {out / "last", out / "model", out / "last" / "state.json"};
}

// Where a run stands: the last finished epoch, the early-stopping state and the history.
struct RunState {
  int start_epoch = 0, best_epoch = 0, since_best = 0;
  double best_loss = std::numeric_limits<double>::infinity();
  std::vector<EpochMetrics> history;
};

// A fresh state; with `o.resume`, the state of the run in `o.out` after checking that it is
// this run (heads, architecture, seed), its last weights loaded into `model`.
RunState resume_state(const TrainOptions& o, const RunPaths& paths, RunModel& model,
                      TrainResult& result) {
  RunState state;
  if (!o.resume) return state;
  const auto& heads = o.model.heads;
  DT_CHECK(fs::exists(paths.state_file), ConfigError, "resume: ", paths.state_file.string(),
           " not found (no finished epoch in ", o.out.string(), ")");
  const nlohmann::json resumed_state = nlohmann::json::parse(read_file(paths.state_file));
  const auto& saved = resumed_state.at("options");
  DT_CHECK(saved.at("heads") == nlohmann::json(heads) &&
               saved.at("architecture") == models::to_json(model.meta).at("architecture"),
           ConfigError, "resume: the run in ", o.out.string(),
           " has another model architecture or heads than given");
  DT_CHECK(saved.at("seed").get<uint64_t>() == o.seed, ConfigError,
           "resume: the run used seed ", saved.at("seed").dump(), ", not ", o.seed);
  auto loaded = models::load_checkpoint(paths.last_dir);
  const auto report = models::copy_matching_parameters(model.net, loaded.model);
  DT_CHECK(report.missing.empty() && report.shape_mismatch.empty(), ModelError,
           paths.last_dir.string(), ": checkpoint does not match the model");
  model.meta.preprocess = loaded.metadata.preprocess;
  state.start_epoch = resumed_state.at("epoch").get<int>();
  state.best_epoch = resumed_state.at("best_epoch").get<int>();
  state.since_best = resumed_state.at("since_best").get<int>();
  state.best_loss = resumed_state.at("best_loss").is_number()
                        ? resumed_state.at("best_loss").get<double>()
                        : std::numeric_limits<double>::infinity();
  for (const auto& e : resumed_state.at("history")) state.history.push_back(epoch_from_json(e));
  if (resumed_state.contains("transferred")) {
    result.transferred = resumed_state.at("transferred").get<std::vector<std::string>>();
  }
  return state;
}

// Freezes the first `o.freeze_blocks` trunk blocks and makes Adam over the rest; when resuming,
// with the Adam state (moments and step) of the last epoch.
std::unique_ptr<torch::optim::Adam> make_optimizer(const TrainOptions& o, const RunPaths& paths,
                                                   RunModel& model) {
  if (o.freeze_blocks > 0) model.net->freeze_blocks(o.freeze_blocks);
  std::vector<torch::Tensor> trainable;
  for (const auto& p : model.net->parameters()) {
    if (p.requires_grad()) trainable.push_back(p);
  }
  DT_CHECK(!trainable.empty(), ConfigError, "freeze_blocks: nothing left to train");
  auto optimizer = std::make_unique<torch::optim::Adam>(
      trainable, torch::optim::AdamOptions(o.lr).weight_decay(o.weight_decay));
  if (o.resume) {
    torch::serialize::InputArchive archive;
    const auto file = paths.last_dir / "optimizer.pt";
    try {
      archive.load_from(file.string(), model.device);
      optimizer->load(archive);
    } catch (const c10::Error& e) {
      throw ModelError(file.string() + ": cannot load the optimizer state: " + e.what_without_backtrace());
    }
  }
  return optimizer;
}

// Loss options of the run: with Balance::kPosWeight, positive weights from the training labels.
models::LossOptions make_loss_options(const TrainOptions& o,
                                      const std::vector<FrameRecord>& train_records,
                                      const torch::Device& device) {
  models::LossOptions loss_options;
  if (o.balance == Balance::kPosWeight) {
    for (const auto& [h, w] : compute_pos_weights(train_records, o.model.heads)) {
      if (h == models::kLabelsHead) {
        loss_options.labels_pos_weight =
            torch::tensor(std::vector<float>(w.begin(), w.end())).to(device);
      } else {
        loss_options.binary_pos_weight[h] = w[0];
      }
    }
  }
  return loss_options;
}

// Preprocessed inputs kept in memory (with `o.cache`, when they fit `o.cache_max_bytes`).
struct RunCaches {
  std::unique_ptr<TensorCache> train, val;
};

RunCaches make_caches(const TrainOptions& o, const RunData& data,
                      const models::Preprocessor& pre, TrainResult& result) {
  RunCaches caches;
  if (o.cache && TensorCache::bytes_needed(data.train.size() + data.val.size(),
                                           pre.input_size()) <= o.cache_max_bytes) {
    caches.train = std::make_unique<TensorCache>(data.train.size(), pre.input_size());
    caches.val = std::make_unique<TensorCache>(data.val.size(), pre.input_size());
    result.cache_used = true;
  }
  return caches;
}

// What every checkpoint of the run records about how it was trained.
nlohmann::json make_provenance(const TrainOptions& o, const TrainResult& result) {
  return {{"command", o.command},
          {"data", to_json(o).at("data")},
          {"val", o.val.string()},
          {"val_fraction", o.val.empty() ? o.val_fraction : 0.0},
          {"seed", o.seed},
          {"epochs", o.epochs},
          {"batch", o.batch_size},
          {"lr", o.lr},
          {"schedule", schedule_name(o.schedule)},
          {"balance", balance_name(o.balance)},
          {"augment", o.augment},
          {"init", o.init.string()},
          {"freeze_blocks", o.freeze_blocks},
          {"threads", o.n_threads},
          {"device", device_name(result.device)},
          {"n_train", result.n_train},
          {"n_val", result.n_val},
          {"version", kVersion},
          {"git_hash", kGitHash}};
}

// The provenance of a run, with how its steps were formed when that is not the default.
nlohmann::json make_run_provenance(const TrainOptions& o, const TrainResult& result,
                                   int world_size) {
  auto p = make_provenance(o, result);
  if (o.grad_accumulation != 1) p["grad_accumulation"] = o.grad_accumulation;
  if (o.distributed.enabled) {
    p["world_size"] = world_size;
    p["dist_backend"] = dist_backend_name(o.distributed.backend);
  }
  return p;
}

// Progress reports of a run, with the ETA from the batches done so far in this call.
class RunProgress {
 public:
  RunProgress(const ProgressCallback& callback, Clock::time_point t_start, int n_epochs,
              int64_t batches_planned)
      : callback_(callback),
        t_start_(t_start),
        n_epochs_(n_epochs),
        batches_planned_(batches_planned) {}

  // Counts one batch (training or validation) towards the ETA.
  void count_batch() { ++batches_done_; }
  bool active() const { return static_cast<bool>(callback_); }
  // Reports `p` with n_epochs, elapsed_s and eta_s filled in.
  void report(TrainProgress p) const {
    p.n_epochs = n_epochs_;
    p.elapsed_s = seconds_since(t_start_);
    p.eta_s = eta();
    callback_(p);
  }

 private:
  double eta() const {
    if (batches_done_ == 0) return kNaN;
    return seconds_since(t_run_) / static_cast<double>(batches_done_) *
           static_cast<double>(std::max<int64_t>(batches_planned_ - batches_done_, 0));
  }

  const ProgressCallback& callback_;
  Clock::time_point t_start_;
  Clock::time_point t_run_ = Clock::now();
  int n_epochs_;
  int64_t batches_planned_;
  int64_t batches_done_ = 0;
};

// What stays the same from epoch to epoch.
struct EpochInputs {
  const TrainOptions& o;
  const RunData& data;
  const models::Preprocessor& pre;
  const models::LossOptions& loss_options;
  const RunCaches& caches;
};

// The epoch's order of the training records (drawn from (seed, epoch)).
std::vector<size_t> epoch_order(const TrainOptions& o, const std::vector<FrameRecord>& records,
                                int epoch) {
  return o.balance == Balance::kSampler
             ? balanced_order(records, derive_seed(o.seed, static_cast<uint64_t>(epoch), 1))
             : shuffled_order(records.size(),
                              derive_seed(o.seed, static_cast<uint64_t>(epoch), 2));
}

// The training loader's options of `epoch`.
LoaderOptions epoch_loader_options(const EpochInputs& in, int epoch) {
  const TrainOptions& o = in.o;
  AugmentOptions aug;
  aug.gain_max = o.augment_gain;
  aug.offset_max = o.augment_offset;
  LoaderOptions lo;
  lo.batch_size = o.batch_size;
  lo.n_workers = o.n_workers;
  lo.heads = o.model.heads;
  lo.augment = o.augment;
  lo.augment_options = aug;
  lo.augment_seed = derive_seed(o.seed, static_cast<uint64_t>(epoch), 3);
  lo.cache = in.caches.train.get();
  return lo;
}

// One pass over the training records in the epoch's order (drawn from (seed, epoch), like the
// augmentation and the Torch generator): Adam steps at the epoch's learning rate. Returns the
// epoch's training metrics; `t_epoch` is when the epoch started. (One process, one batch a
// step; train_epoch_parallel below for accumulation and data parallelism.)
EpochMetrics train_epoch(int epoch, Clock::time_point t_epoch, const EpochInputs& in,
                         RunModel& model, torch::optim::Adam& optimizer, RunProgress& progress) {
  const TrainOptions& o = in.o;
  const auto& train_records = in.data.train;
  torch::manual_seed(derive_seed(o.seed, static_cast<uint64_t>(epoch), 0xD0));
  const auto order = epoch_order(o, train_records, epoch);
  BatchLoader loader(train_records, in.pre, order, epoch_loader_options(in, epoch));
  model.net->train();
  EpochMetrics m;
  m.epoch = epoch;
  m.lr = epoch_learning_rate(o, epoch);
  for (auto& group : optimizer.param_groups()) {
    static_cast<torch::optim::AdamOptions&>(group.options()).lr(m.lr);
  }
  double total = 0;
  std::map<std::string, double> head_sum, head_n;
  int64_t n = 0, k = 0;
  while (auto batch = loader.next()) {
    move_batch(*batch, model.device);
    optimizer.zero_grad();
    const auto out = model.net->forward(batch->x);
    const auto losses = models::compute_losses(out, batch->targets, in.loss_options);
    losses.total.backward();
    optimizer.step();
    const double loss = losses.total.item<double>();
    DT_CHECK(std::isfinite(loss), ModelError, "training diverged: loss ", loss, " in epoch ",
             epoch, " batch ", k + 1, " (try a lower lr)");
    const auto b = batch->x.size(0);
    total += loss * static_cast<double>(b);
    n += b;
    for (const auto& [h, l] : losses.per_head) {
      const auto nv = static_cast<double>(losses.n_valid.at(h));
      head_sum[h] += l.item<double>() * nv;
      head_n[h] += nv;
    }
    ++k;
    progress.count_batch();
    if (progress.active()) {
      TrainProgress p;
      p.phase = TrainProgress::Phase::kTrain;
      p.epoch = epoch;
      p.batch = k;
      p.n_batches = loader.n_batches();
      p.loss = total / static_cast<double>(n);
      p.frames_per_s = static_cast<double>(n) / std::max(seconds_since(t_epoch), 1e-9);
      progress.report(p);
    }
  }
  const double train_seconds = seconds_since(t_epoch);
  m.train_loss = total / static_cast<double>(std::max<int64_t>(n, 1));
  for (const auto& [h, s] : head_sum) m.train_head_loss[h] = head_n[h] > 0 ? s / head_n[h] : kNaN;
  m.train_frames = n;
  m.train_frames_per_s = static_cast<double>(n) / std::max(train_seconds, 1e-9);
  return m;
}

// ---- data parallelism and gradient accumulation ---------------------------------------------
//
// An optimizer step averages the gradients of M = world_size·K micro-batches of batch_size (B)
// frames (K = grad_accumulation). Micro-batch m of step s holds the epoch positions
// [s·M·B + m·B, s·M·B + (m+1)·B) (the last step may be short) and belongs to rank m / K. So
// 2 ranks × K=1 and 1 rank × K=2 see the same micro-batches in the same steps, each micro-batch
// runs through the network (and its BatchNorm) on its own, and the averaged gradient is the
// same: (g0 + g1)/2 on one rank, g0/2 + g1/2 summed over two (equal bits when M is a power of
// two). Every random draw of a micro-batch (augmentation: its epoch position; dropout: the Torch
// generator reseeded from its global index) is the same wherever it runs.
struct StepPlan {
  int64_t batch = 1, per_rank = 1, world = 1, rank = 0, n_positions = 0;

  int64_t step_frames() const { return batch * per_rank * world; }
  int64_t n_steps() const { return (n_positions + step_frames() - 1) / step_frames(); }
  int64_t frames_in_step(int64_t s) const {
    return std::min(step_frames(), n_positions - s * step_frames());
  }
  // Non-empty micro-batches of step s over all ranks.
  int64_t n_micro(int64_t s) const { return (frames_in_step(s) + batch - 1) / batch; }
  // This rank's micro-batches of step s (the first is rank·K).
  int64_t n_mine(int64_t s) const {
    return std::clamp<int64_t>(n_micro(s) - rank * per_rank, 0, per_rank);
  }
  // This rank's epoch positions, in the order its loader yields them.
  std::vector<uint64_t> positions() const {
    std::vector<uint64_t> out;
    for (int64_t s = 0; s < n_steps(); ++s) {
      const int64_t begin = s * step_frames() + rank * per_rank * batch;
      const int64_t end =
          std::min(begin + per_rank * batch, s * step_frames() + frames_in_step(s));
      for (int64_t j = begin; j < end; ++j) out.push_back(static_cast<uint64_t>(j));
    }
    return out;
  }
};

StepPlan make_step_plan(const TrainOptions& o, const detail::ProcessGroup* group,
                        int64_t n_positions) {
  StepPlan plan;
  plan.batch = o.batch_size;
  plan.per_rank = o.grad_accumulation;
  plan.world = group ? group->world_size() : 1;
  plan.rank = group ? group->rank() : 0;
  plan.n_positions = n_positions;
  return plan;
}

// Stream of derive_seed(seed, epoch, ·) for the Torch generator before micro-batch k of an
// epoch (beside 0xD0, 1, 2, 3 used above).
constexpr uint64_t kMicroBatchStream = uint64_t{1} << 32;

// The gradients of `params` (zeros where undefined) divided by `divisor`, summed over the ranks.
void average_gradients(const std::vector<torch::Tensor>& params, int64_t divisor,
                       detail::ProcessGroup* group) {
  torch::NoGradGuard no_grad;
  for (const auto& p : params) {
    if (!p.grad().defined()) const_cast<torch::Tensor&>(p).mutable_grad() = torch::zeros_like(p);
    p.grad().div_(static_cast<double>(divisor));
  }
  if (!group || group->world_size() == 1) return;
  std::vector<torch::Tensor> flat;
  flat.reserve(params.size());
  for (const auto& p : params) flat.push_back(p.grad().reshape({-1}));
  auto all = torch::cat(flat);
  group->all_reduce_sum(all, "the all-reduce of the gradients");
  int64_t offset = 0;
  for (const auto& p : params) {
    const int64_t n = p.numel();
    p.grad().copy_(all.slice(0, offset, offset + n).view_as(p.grad()));
    offset += n;
  }
}

// One epoch of data-parallel training and/or gradient accumulation (see StepPlan): this rank
// reads only its micro-batches. Returns the epoch's training metrics over all ranks.
EpochMetrics train_epoch_parallel(int epoch, Clock::time_point t_epoch, const EpochInputs& in,
                                  RunModel& model, torch::optim::Adam& optimizer,
                                  detail::ProcessGroup* group, RunProgress& progress) {
  const TrainOptions& o = in.o;
  const auto& train_records = in.data.train;
  const auto order = epoch_order(o, train_records, epoch);
  const StepPlan plan = make_step_plan(o, group, static_cast<int64_t>(order.size()));
  auto positions = plan.positions();
  std::vector<size_t> mine;
  mine.reserve(positions.size());
  for (auto j : positions) mine.push_back(order[j]);
  auto lo = epoch_loader_options(in, epoch);
  lo.augment_positions = std::move(positions);
  BatchLoader loader(train_records, in.pre, std::move(mine), std::move(lo));
  model.net->train();
  EpochMetrics m;
  m.epoch = epoch;
  m.lr = epoch_learning_rate(o, epoch);
  for (auto& g : optimizer.param_groups()) {
    static_cast<torch::optim::AdamOptions&>(g.options()).lr(m.lr);
  }
  const auto& params = optimizer.param_groups().at(0).params();
  double total = 0;
  std::vector<double> head_sum(o.model.heads.size()), head_n(o.model.heads.size()),
      head_seen(o.model.heads.size());
  int64_t n = 0;
  const int64_t micro_per_step = plan.per_rank * plan.world;
  for (int64_t s = 0; s < plan.n_steps(); ++s) {
    optimizer.zero_grad();
    for (int64_t c = 0; c < plan.n_mine(s); ++c) {
      auto batch = loader.next();
      DT_CHECK(batch.has_value(), ModelError, "internal: the loader of rank ", plan.rank,
               " ran out of micro-batches in step ", s + 1);
      move_batch(*batch, model.device);
      const auto k = static_cast<uint64_t>(s * micro_per_step + plan.rank * plan.per_rank + c);
      torch::manual_seed(derive_seed(o.seed, static_cast<uint64_t>(epoch), kMicroBatchStream + k));
      const auto out = model.net->forward(batch->x);
      const auto losses = models::compute_losses(out, batch->targets, in.loss_options);
      losses.total.backward();
      const double loss = losses.total.item<double>();
      DT_CHECK(std::isfinite(loss), ModelError, "training diverged: loss ", loss, " in epoch ",
               epoch, " step ", s + 1, " (rank ", plan.rank, "; try a lower lr)");
      const auto b = batch->x.size(0);
      total += loss * static_cast<double>(b);
      n += b;
      for (size_t h = 0; h < o.model.heads.size(); ++h) {
        const auto it = losses.per_head.find(o.model.heads[h]);
        if (it == losses.per_head.end()) continue;
        const auto nv = static_cast<double>(losses.n_valid.at(o.model.heads[h]));
        head_sum[h] += it->second.item<double>() * nv;
        head_n[h] += nv;
        head_seen[h] = 1;
      }
    }
    average_gradients(params, plan.n_micro(s), group);
    optimizer.step();
    progress.count_batch();
    if (progress.active()) {
      TrainProgress p;
      p.phase = TrainProgress::Phase::kTrain;
      p.epoch = epoch;
      p.batch = s + 1;
      p.n_batches = plan.n_steps();
      p.loss = total / static_cast<double>(std::max<int64_t>(n, 1));
      // This rank's rate times the ranks (they run in step); the epoch line has the exact one.
      p.frames_per_s = static_cast<double>(n * plan.world) / std::max(seconds_since(t_epoch), 1e-9);
      progress.report(p);
    }
  }
  // The epoch's loss sums over the ranks.
  std::vector<double> sums{total, static_cast<double>(n)};
  for (size_t h = 0; h < head_sum.size(); ++h) {
    sums.push_back(head_sum[h]);
    sums.push_back(head_n[h]);
    sums.push_back(head_seen[h]);
  }
  if (group && group->world_size() > 1) {
    auto t = torch::tensor(sums, torch::kFloat64);
    group->all_reduce_sum(t, "the all-reduce of the epoch's training loss");
    const auto* d = t.data_ptr<double>();
    sums.assign(d, d + t.numel());
  }
  const double train_seconds = seconds_since(t_epoch);
  const auto n_all = static_cast<int64_t>(sums[1]);
  m.train_loss = sums[0] / static_cast<double>(std::max<int64_t>(n_all, 1));
  for (size_t h = 0; h < head_sum.size(); ++h) {
    if (sums[2 + 3 * h + 2] == 0) continue;
    const double hn = sums[2 + 3 * h + 1];
    m.train_head_loss[o.model.heads[h]] = hn > 0 ? sums[2 + 3 * h] / hn : kNaN;
  }
  m.train_frames = n_all;
  m.train_frames_per_s = static_cast<double>(n_all) / std::max(train_seconds, 1e-9);
  return m;
}

// BatchNorm running statistics after an epoch of data parallelism: each rank's statistics
// followed only its own micro-batches; the floating-point buffers become their mean over the
// ranks (so every rank validates and rank 0 saves the same model), integer buffers
// (num_batches_tracked) rank 0's.
void average_buffers(models::TriageNet& net, detail::ProcessGroup& group) {
  torch::NoGradGuard no_grad;
  for (auto& b : net->buffers()) {
    auto t = b.detach();
    if (t.is_floating_point()) {
      group.all_reduce_sum(t, "the all-reduce of the BatchNorm statistics");
      t.div_(static_cast<double>(group.world_size()));
    } else {
      group.broadcast(t, 0, "the broadcast of the BatchNorm batch counters");
    }
  }
}

// Before the first step: every rank must train the same run (else the collectives would
// mismatch or hang), and starts from rank 0's weights and statistics.
void join_ranks(const TrainOptions& o, const RunData& data, const RunState& state,
                RunModel& model, detail::ProcessGroup& group) {
  int64_t n_numel = 0;
  for (const auto& p : model.net->parameters()) n_numel += p.numel();
  const std::vector<std::pair<const char*, int64_t>> fields = {
      {"number of training frames", static_cast<int64_t>(data.train.size())},
      {"number of validation frames", static_cast<int64_t>(data.val.size())},
      {"--batch", o.batch_size},
      {"--grad-accumulation", o.grad_accumulation},
      {"--seed", static_cast<int64_t>(o.seed)},
      {"--epochs", o.epochs},
      {"epochs already run (--resume)", state.start_epoch},
      {"network parameter count", n_numel},
      {"--freeze-blocks", o.freeze_blocks},
      {"--augment", o.augment ? 1 : 0}};
  std::vector<int64_t> values;
  for (const auto& f : fields) values.push_back(f.second);
  auto lo = torch::tensor(values, torch::kInt64);
  auto hi = lo.clone();
  group.all_reduce_min(lo, "the check that every rank runs the same training");
  group.all_reduce_max(hi, "the check that every rank runs the same training");
  for (size_t i = 0; i < fields.size(); ++i) {
    const auto a = lo[static_cast<int64_t>(i)].item<int64_t>();
    const auto b = hi[static_cast<int64_t>(i)].item<int64_t>();
    DT_CHECK(a == b, ConfigError, "distributed: the ranks disagree on the ", fields[i].first,
             " (from ", a, " to ", b, "): every rank must be given the same flags and data");
  }
  torch::NoGradGuard no_grad;
  for (auto& p : model.net->parameters()) {
    auto t = p.detach();
    group.broadcast(t, 0, "the broadcast of rank 0's initial weights");
  }
  for (auto& b : model.net->buffers()) {
    auto t = b.detach();
    group.broadcast(t, 0, "the broadcast of rank 0's initial BatchNorm statistics");
  }
}

// Validates after an epoch: losses and metrics on the validation records into `m`.
void validate_epoch(int epoch, const EpochInputs& in, RunModel& model, RunProgress& progress,
                    EpochMetrics& m) {
  const auto v = run_validation(
      model.net, in.data.val, in.pre, in.loss_options, in.o, in.caches.val.get(), model.device,
      [&](int64_t b, int64_t nb, double loss) {
        progress.count_batch();
        if (!progress.active()) return;
        TrainProgress p;
        p.phase = TrainProgress::Phase::kValidate;
        p.epoch = epoch;
        p.batch = b;
        p.n_batches = nb;
        p.loss = loss;
        progress.report(p);
      });
  fill_val_metrics(m, v, in.data.val, in.o.model.heads);
}

// Records the finished epoch (the last of state.history): the best checkpoint when the
// validation loss is the lowest so far, the last checkpoint with the optimizer and state.json
// for resume, and metrics.csv. Updates the early-stopping state. Writes nothing unless `writer`
// (rank 0 of a data-parallel run; other ranks only keep the state).
void checkpoint_epoch(const TrainOptions& o, const RunPaths& paths, const RunModel& model,
                      torch::optim::Adam& optimizer, const nlohmann::json& provenance,
                      const TrainResult& result, bool has_val, bool writer, RunState& state) {
  const auto& heads = o.model.heads;
  const EpochMetrics& m = state.history.back();
  const int epoch = m.epoch;
  // Best = lowest validation loss; without validation data every epoch is the best so far.
  const bool improved = !has_val || m.val_loss < state.best_loss;
  if (improved) {
    state.best_loss = !has_val ? kNaN : m.val_loss;
    state.best_epoch = epoch;
    state.since_best = 0;
    auto best_meta = model.meta;
    best_meta.provenance = provenance;
    best_meta.provenance["best_epoch"] = epoch;
    best_meta.metrics = metrics_json(m, result.n_val);
    if (writer) save_from_device(paths.best_dir, model.net, best_meta, model.device);
    if (!has_val) state.best_loss = std::numeric_limits<double>::infinity();
  } else {
    ++state.since_best;
  }
  if (!writer) return;
  // Last checkpoint + optimizer + state, for resume.
  auto last_meta = model.meta;
  last_meta.provenance = provenance;
  last_meta.provenance["epoch"] = epoch;
  save_from_device(paths.last_dir, model.net, last_meta, model.device);
  save_optimizer(paths.last_dir / "optimizer.pt", optimizer);
  nlohmann::json hist = nlohmann::json::array();
  for (const auto& e : state.history) hist.push_back(epoch_json(e));
  nlohmann::json saved = {
      {"epoch", epoch},
      {"best_epoch", state.best_epoch},
      {"best_loss", evaluate::json_number(state.best_loss)},
      {"since_best", state.since_best},
      {"options", to_json(o)},
      {"history", hist},
      {"transferred", result.transferred},
      {"rng", "every random stream is derived from (seed, epoch); nothing else to restore"}};
  write_file_atomically(paths.state_file, dump_json(saved, 1) + "\n");
  std::string csv = metrics_csv_header(heads);
  for (const auto& e : state.history) csv += metrics_csv_row(e, heads);
  write_file_atomically(o.out / "metrics.csv", csv);
}

// After the epochs: the decision thresholds tuned on the validation set with the best weights
// (with `o.tune_thresholds`), the result's summary and the curves.
void finish_run(const TrainOptions& o, const RunPaths& paths, const EpochInputs& in,
                const RunModel& model, const RunState& state, TrainResult& result) {
  const auto& heads = o.model.heads;
  const auto& val_records = in.data.val;
  auto best = models::load_checkpoint(paths.best_dir);
  if (o.tune_thresholds && !val_records.empty()) {
    auto best_net = models::make_network(best.metadata);
    models::copy_matching_parameters(best_net, best.model);
    best_net->to(model.device);
    const auto v = run_validation(best_net, val_records, in.pre, in.loss_options, o,
                                  in.caches.val.get(), model.device, nullptr);
    std::vector<double> scores;
    std::vector<uint8_t> truth;
    for (const auto& key : accuracy_keys(heads)) {
      const bool binary_head = key.size() > 5 && key.compare(key.size() - 5, 5, "_head") == 0;
      const std::string label = binary_head ? key.substr(0, key.size() - 5) : key;
      if (binary_head && has_head(heads, models::kLabelsHead)) continue;
      label_scores(v, val_records, key, scores, truth);
      best.metadata.thresholds[label] = tune_threshold(scores, truth);
    }
    best.metadata.provenance["thresholds_tuned_on"] = "validation set, max balanced accuracy";
    save_checkpoint(paths.best_dir, best.model, best.metadata);
  }
  result.thresholds = best.metadata.thresholds;
  result.metadata_json = models::to_json(best.metadata);
  result.best_checkpoint = paths.best_dir;
  result.best_epoch = state.best_epoch;
  result.best_val_loss = val_records.empty() ? kNaN : state.best_loss;
  result.history = state.history;
  if (o.plots) {
    try {
      write_plots(o.out, state.history, heads);
    } catch (const Error& e) {
      log_message(LogLevel::kWarning, std::string("training curves not drawn: ") + e.what());
    }
  }
}

}  // namespace

TrainResult train_model(const TrainOptions& o, const ProgressCallback& progress) {
  validate(o);
  const auto t_start = Clock::now();
  // Data parallelism: join the group first, so that a bad address or a missing rank shows at
  // once. Rank 0 is the writer (checkpoints, metrics, curves); every rank reads its own shard.
  std::unique_ptr<detail::ProcessGroup> group;
  if (o.distributed.enabled) group = std::make_unique<detail::ProcessGroup>(o.distributed);
  const bool writer = !group || group->rank() == 0;
  const int world_size = group ? group->world_size() : 1;
  const bool parallel = world_size > 1 || o.grad_accumulation > 1;
  const RunData data = prepare_data(o);
  TrainResult result;
  result.n_train = static_cast<int64_t>(data.train.size());
  result.n_val = static_cast<int64_t>(data.val.size());
  RunModel model = build_model(o, result);
  const RunPaths paths = run_paths(o.out);
  RunState state = resume_state(o, paths, model, result);
  const auto optimizer = make_optimizer(o, paths, model);
  const models::Preprocessor pre(model.meta.preprocess);
  const models::LossOptions loss_options = make_loss_options(o, data.train, model.device);
  const RunCaches caches = make_caches(o, data, pre, result);
  if (writer) fs::create_directories(o.out);
  const nlohmann::json provenance = make_run_provenance(o, result, world_size);
  const EpochInputs in{o, data, pre, loss_options, caches};
  if (group && world_size > 1) join_ranks(o, data, state, model, *group);

  const int64_t n_train_batches =
      parallel ? make_step_plan(o, group.get(), result.n_train).n_steps()
               : (result.n_train + o.batch_size - 1) / o.batch_size;
  const int64_t n_val_batches = (result.n_val + o.batch_size - 1) / o.batch_size;
  RunProgress run_progress(
      progress, t_start, o.epochs,
      static_cast<int64_t>(std::max(o.epochs - state.start_epoch, 0)) *
          (n_train_batches + n_val_batches));
  for (int epoch = state.start_epoch + 1; epoch <= o.epochs; ++epoch) {
    if (o.patience > 0 && state.since_best >= o.patience) {
      result.stopped_early = true;
      break;
    }
    const auto t_epoch = Clock::now();
    EpochMetrics m =
        parallel ? train_epoch_parallel(epoch, t_epoch, in, model, *optimizer, group.get(),
                                        run_progress)
                 : train_epoch(epoch, t_epoch, in, model, *optimizer, run_progress);
    if (group && world_size > 1) average_buffers(model.net, *group);
    validate_epoch(epoch, in, model, run_progress, m);
    if (group && world_size > 1) {
      // The ranks hold the same model, so their validation losses agree up to the thread count's
      // rounding; rank 0's decides the best epoch and early stopping on every rank.
      auto v = torch::tensor({m.val_loss}, torch::kFloat64);
      group->broadcast(v, 0, "the broadcast of the validation loss");
      m.val_loss = v.item<double>();
    }
    m.seconds = seconds_since(t_epoch);
    state.history.push_back(m);
    checkpoint_epoch(o, paths, model, *optimizer, provenance, result, !data.val.empty(), writer,
                     state);
    ++result.epochs_run;
    result.last_epoch = epoch;
    model.net->train();
    if (run_progress.active()) {
      TrainProgress p;
      p.phase = TrainProgress::Phase::kEpochDone;
      p.epoch = epoch;
      p.batch = n_train_batches;  // every training batch of the epoch was done
      p.n_batches = n_train_batches;
      p.loss = m.train_loss;
      p.frames_per_s = m.train_frames_per_s;
      p.metrics = &state.history.back();
      run_progress.report(p);
    }
  }
  if (o.patience > 0 && state.since_best >= o.patience && result.last_epoch < o.epochs) {
    result.stopped_early = true;
  }
  DT_CHECK(state.best_epoch > 0, ConfigError, "epochs ", o.epochs, ": the run in ",
           o.out.string(), " has already finished ", state.start_epoch,
           " epochs; raise epochs to continue");
  // Every rank has finished its epochs (and rank 0 its checkpoints) before any rank reports
  // success.
  if (group && world_size > 1) group->barrier("the barrier after the last epoch");
  if (!writer) {
    result.best_checkpoint = paths.best_dir;
    result.best_epoch = state.best_epoch;
    result.best_val_loss = data.val.empty() ? kNaN : state.best_loss;
    result.history = state.history;
    result.thresholds = model.meta.thresholds;
    return result;
  }
  finish_run(o, paths, in, model, state, result);
  return result;
}

}  // namespace difftriage::train
