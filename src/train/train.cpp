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
#include "difftriage/core/log.h"
#include "difftriage/dataset/split.h"
#include "difftriage/evaluate/metrics.h"
#include "difftriage/models/checkpoint.h"
#include "difftriage/report/charts.h"
#include "difftriage/train/data.h"
#include "difftriage/version.h"

namespace difftriage::train {
namespace fs = std::filesystem;
namespace {

// Learning rate of 1-based `epoch` (see TrainOptions::schedule). A function of the epoch alone,
// so a resumed run continues the same curve.
double epoch_learning_rate(const TrainOptions& o, int epoch) {
  if (o.schedule != "cosine") return o.lr;
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

int label_index(const std::string& name) {
  for (size_t j = 0; j < models::kLabelNames.size(); ++j) {
    if (name == models::kLabelNames[j]) return static_cast<int>(j);
  }
  return -1;
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
      for (const char* n : models::kLabelNames) keys.emplace_back(n);
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

std::string resolve_device(const std::string& requested) {
  if (requested == "cpu") return "cpu";
  DT_CHECK(requested == "auto" || requested == "cuda", ConfigError,
           "--device: expected auto, cpu or cuda, got '", requested, "'");
  const bool available = torch::cuda::is_available();
  if (requested == "auto") return available ? "cuda" : "cpu";
  DT_CHECK(available, ConfigError,
           "--device cuda: this LibTorch sees no usable CUDA device (Debian's libtorch-dev is "
           "CPU-only; README 'Training on a GPU' says how to build against a CUDA LibTorch). "
           "Use --device cpu or auto");
  return "cuda";
}

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

TrainResult train_model(const TrainOptions& o, const ProgressCallback& progress) {
  validate(o);
  const auto t_start = Clock::now();
  const auto& heads = o.model.heads;

  // ---- data ----
  std::vector<FrameRecord> train_records, val_records;
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
  DT_CHECK(!train_records.empty(), FormatError, "--data: no training frame left after the split");
  if (has_head(heads, models::kSpotsHead)) {
    DT_CHECK(attach_bright_spots(train_records) > 0, FormatError,
             "--heads spots: no training frame has a simulator sidecar (NAME.json with "
             "stats.n_bright beside the image) to learn the bright-spot count from");
    attach_bright_spots(val_records);
  }

  // ---- model ----
  const torch::Device device(resolve_device(o.device));
  at::set_num_threads(o.n_threads);
  torch::manual_seed(o.seed);
  models::ModelMetadata meta = o.model;
  for (const char* n : models::kLabelNames) meta.thresholds.emplace(n, 0.5);
  auto net = models::make_network(meta);
  TrainResult result;
  result.n_train = static_cast<int64_t>(train_records.size());
  result.n_val = static_cast<int64_t>(val_records.size());
  if (!o.init.empty()) {
    const auto report = models::init_from_checkpoint(net, o.init);
    DT_CHECK(!report.copied.empty(), ModelError, "--init ", o.init.string(),
             ": no parameter matches the new model (other architecture?)");
    result.transferred = report.copied;
  }
  result.device = device.is_cpu() ? "cpu" : "cuda";
  net->to(device);
  DT_CHECK(o.freeze_blocks <= net->n_blocks(), ConfigError, "--freeze-blocks ", o.freeze_blocks,
           " exceeds the ", net->n_blocks(), " blocks of ", meta.architecture.name);

  const fs::path last_dir = o.out / "last";
  const fs::path best_dir = o.out / "model";
  const fs::path state_file = last_dir / "state.json";
  int start_epoch = 0, best_epoch = 0, since_best = 0;
  double best_loss = std::numeric_limits<double>::infinity();
  std::vector<EpochMetrics> history;
  nlohmann::json resumed_state;
  if (o.resume) {
    DT_CHECK(fs::exists(state_file), ConfigError, "--resume: ", state_file.string(),
             " not found (no finished epoch in ", o.out.string(), ")");
    resumed_state = nlohmann::json::parse(read_file(state_file));
    const auto& saved = resumed_state.at("options");
    DT_CHECK(saved.at("heads") == nlohmann::json(heads) &&
                 saved.at("architecture") == models::to_json(meta).at("architecture"),
             ConfigError, "--resume: the run in ", o.out.string(),
             " has other --arch/--heads than given");
    DT_CHECK(saved.at("seed").get<uint64_t>() == o.seed, ConfigError,
             "--resume: the run used --seed ", saved.at("seed").dump(), ", not ", o.seed);
    auto loaded = models::load_checkpoint(last_dir);
    const auto report = models::copy_matching_parameters(net, loaded.model);
    DT_CHECK(report.missing.empty() && report.shape_mismatch.empty(), ModelError,
             last_dir.string(), ": checkpoint does not match the model");
    meta.preprocess = loaded.metadata.preprocess;
    start_epoch = resumed_state.at("epoch").get<int>();
    best_epoch = resumed_state.at("best_epoch").get<int>();
    since_best = resumed_state.at("since_best").get<int>();
    best_loss = resumed_state.at("best_loss").is_number()
                    ? resumed_state.at("best_loss").get<double>()
                    : std::numeric_limits<double>::infinity();
    for (const auto& e : resumed_state.at("history")) history.push_back(epoch_from_json(e));
    if (resumed_state.contains("transferred")) {
      result.transferred = resumed_state.at("transferred").get<std::vector<std::string>>();
    }
  }
  if (o.freeze_blocks > 0) net->freeze_blocks(o.freeze_blocks);
  std::vector<torch::Tensor> trainable;
  for (const auto& p : net->parameters()) {
    if (p.requires_grad()) trainable.push_back(p);
  }
  DT_CHECK(!trainable.empty(), ConfigError, "--freeze-blocks: nothing left to train");
  torch::optim::Adam optimizer(trainable,
                               torch::optim::AdamOptions(o.lr).weight_decay(o.weight_decay));
  if (o.resume) {
    torch::serialize::InputArchive archive;
    const auto file = last_dir / "optimizer.pt";
    try {
      archive.load_from(file.string(), device);
      optimizer.load(archive);
    } catch (const c10::Error& e) {
      throw ModelError(file.string() + ": cannot load the optimizer state: " + e.what_without_backtrace());
    }
  }

  const models::Preprocessor pre(meta.preprocess);
  const Balance balance = parse_balance(o.balance, "--balance");
  models::LossOptions loss_options;
  if (balance == Balance::kPosWeight) {
    for (const auto& [h, w] : compute_pos_weights(train_records, heads)) {
      if (h == models::kLabelsHead) {
        loss_options.labels_pos_weight =
            torch::tensor(std::vector<float>(w.begin(), w.end())).to(device);
      } else {
        loss_options.binary_pos_weight[h] = w[0];
      }
    }
  }
  std::unique_ptr<TensorCache> train_cache, val_cache;
  if (o.cache && TensorCache::bytes_needed(train_records.size() + val_records.size(),
                                           pre.input_size()) <= o.cache_max_bytes) {
    train_cache = std::make_unique<TensorCache>(train_records.size(), pre.input_size());
    val_cache = std::make_unique<TensorCache>(val_records.size(), pre.input_size());
    result.cache_used = true;
  }

  fs::create_directories(o.out);
  nlohmann::json provenance = {{"command", o.command},
                               {"data", to_json(o).at("data")},
                               {"val", o.val.string()},
                               {"val_fraction", o.val.empty() ? o.val_fraction : 0.0},
                               {"seed", o.seed},
                               {"epochs", o.epochs},
                               {"batch", o.batch_size},
                               {"lr", o.lr},
                               {"schedule", o.schedule},
                               {"balance", o.balance},
                               {"augment", o.augment},
                               {"init", o.init.string()},
                               {"freeze_blocks", o.freeze_blocks},
                               {"threads", o.n_threads},
                               {"device", result.device},
                               {"n_train", result.n_train},
                               {"n_val", result.n_val},
                               {"version", kVersion},
                               {"git_hash", kGitHash}};

  // ---- epochs ----
  const int64_t n_train_batches =
      (result.n_train + o.batch_size - 1) / o.batch_size;
  const int64_t n_val_batches = (result.n_val + o.batch_size - 1) / o.batch_size;
  const int64_t batches_per_epoch = n_train_batches + n_val_batches;
  int64_t batches_done_run = 0;
  const auto t_run = Clock::now();
  const int64_t batches_planned =
      static_cast<int64_t>(std::max(o.epochs - start_epoch, 0)) * batches_per_epoch;
  auto eta = [&]() {
    if (batches_done_run == 0) return kNaN;
    return seconds_since(t_run) / static_cast<double>(batches_done_run) *
           static_cast<double>(std::max<int64_t>(batches_planned - batches_done_run, 0));
  };

  AugmentOptions aug;
  aug.gain_max = o.augment_gain;
  aug.offset_max = o.augment_offset;
  std::vector<std::string> csv_lines;
  for (int epoch = start_epoch + 1; epoch <= o.epochs; ++epoch) {
    if (o.patience > 0 && since_best >= o.patience) {
      result.stopped_early = true;
      break;
    }
    const auto t_epoch = Clock::now();
    torch::manual_seed(derive_seed(o.seed, static_cast<uint64_t>(epoch), 0xD0));
    const auto order =
        balance == Balance::kSampler
            ? balanced_order(train_records, derive_seed(o.seed, static_cast<uint64_t>(epoch), 1))
            : shuffled_order(train_records.size(),
                             derive_seed(o.seed, static_cast<uint64_t>(epoch), 2));
    LoaderOptions lo;
    lo.batch_size = o.batch_size;
    lo.n_workers = o.n_workers;
    lo.heads = heads;
    lo.augment = o.augment;
    lo.augment_options = aug;
    lo.augment_seed = derive_seed(o.seed, static_cast<uint64_t>(epoch), 3);
    lo.cache = train_cache.get();
    BatchLoader loader(train_records, pre, order, lo);
    net->train();
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
      move_batch(*batch, device);
      optimizer.zero_grad();
      const auto out = net->forward(batch->x);
      const auto losses = models::compute_losses(out, batch->targets, loss_options);
      losses.total.backward();
      optimizer.step();
      const double loss = losses.total.item<double>();
      DT_CHECK(std::isfinite(loss), ModelError, "training diverged: loss ", loss, " in epoch ",
               epoch, " batch ", k + 1, " (try a lower --lr)");
      const auto b = batch->x.size(0);
      total += loss * static_cast<double>(b);
      n += b;
      for (const auto& [h, l] : losses.per_head) {
        const auto nv = static_cast<double>(losses.n_valid.at(h));
        head_sum[h] += l.item<double>() * nv;
        head_n[h] += nv;
      }
      ++k;
      ++batches_done_run;
      if (progress) {
        TrainProgress p;
        p.phase = TrainProgress::Phase::kTrain;
        p.epoch = epoch;
        p.n_epochs = o.epochs;
        p.batch = k;
        p.n_batches = loader.n_batches();
        p.loss = total / static_cast<double>(n);
        p.frames_per_s = static_cast<double>(n) / std::max(seconds_since(t_epoch), 1e-9);
        p.elapsed_s = seconds_since(t_start);
        p.eta_s = eta();
        progress(p);
      }
    }
    const double train_seconds = seconds_since(t_epoch);
    m.train_loss = total / static_cast<double>(std::max<int64_t>(n, 1));
    for (const auto& [h, s] : head_sum) m.train_head_loss[h] = head_n[h] > 0 ? s / head_n[h] : kNaN;
    m.train_frames = n;
    m.train_frames_per_s = static_cast<double>(n) / std::max(train_seconds, 1e-9);

    const auto v = run_validation(
        net, val_records, pre, loss_options, o, val_cache.get(), device,
        [&](int64_t b, int64_t nb, double loss) {
          ++batches_done_run;
          if (!progress) return;
          TrainProgress p;
          p.phase = TrainProgress::Phase::kValidate;
          p.epoch = epoch;
          p.n_epochs = o.epochs;
          p.batch = b;
          p.n_batches = nb;
          p.loss = loss;
          p.elapsed_s = seconds_since(t_start);
          p.eta_s = eta();
          progress(p);
        });
    fill_val_metrics(m, v, val_records, heads);
    m.seconds = seconds_since(t_epoch);
    history.push_back(m);

    // Best = lowest validation loss; without validation data every epoch is the best so far.
    const bool improved = val_records.empty() || v.loss < best_loss;
    if (improved) {
      best_loss = val_records.empty() ? kNaN : v.loss;
      best_epoch = epoch;
      since_best = 0;
      auto best_meta = meta;
      best_meta.provenance = provenance;
      best_meta.provenance["best_epoch"] = epoch;
      best_meta.metrics = metrics_json(m, result.n_val);
      save_from_device(best_dir, net, best_meta, device);
      if (val_records.empty()) best_loss = std::numeric_limits<double>::infinity();
    } else {
      ++since_best;
    }
    // Last checkpoint + optimizer + state, for --resume.
    auto last_meta = meta;
    last_meta.provenance = provenance;
    last_meta.provenance["epoch"] = epoch;
    save_from_device(last_dir, net, last_meta, device);
    save_optimizer(last_dir / "optimizer.pt", optimizer);
    nlohmann::json hist = nlohmann::json::array();
    for (const auto& e : history) hist.push_back(epoch_json(e));
    nlohmann::json state = {
        {"epoch", epoch},
        {"best_epoch", best_epoch},
        {"best_loss", evaluate::json_number(best_loss)},
        {"since_best", since_best},
        {"options", to_json(o)},
        {"history", hist},
        {"transferred", result.transferred},
        {"rng", "every random stream is derived from (seed, epoch); nothing else to restore"}};
    write_file_atomically(state_file, state.dump(1) + "\n");
    std::string csv = metrics_csv_header(heads);
    for (const auto& e : history) csv += metrics_csv_row(e, heads);
    write_file_atomically(o.out / "metrics.csv", csv);
    ++result.epochs_run;
    result.last_epoch = epoch;
    net->train();
    if (progress) {
      TrainProgress p;
      p.phase = TrainProgress::Phase::kEpochDone;
      p.epoch = epoch;
      p.n_epochs = o.epochs;
      p.batch = k;
      p.n_batches = k;
      p.loss = m.train_loss;
      p.frames_per_s = m.train_frames_per_s;
      p.elapsed_s = seconds_since(t_start);
      p.eta_s = eta();
      p.metrics = &history.back();
      progress(p);
    }
  }
  if (o.patience > 0 && since_best >= o.patience && result.last_epoch < o.epochs) {
    result.stopped_early = true;
  }
  DT_CHECK(best_epoch > 0, ConfigError, "--epochs ", o.epochs, ": the run in ", o.out.string(),
           " has already finished ", start_epoch, " epochs; raise --epochs to continue");

  // ---- thresholds tuned on the validation set with the best weights ----
  auto best = models::load_checkpoint(best_dir);
  if (o.tune_thresholds && !val_records.empty()) {
    auto best_net = models::make_network(best.metadata);
    models::copy_matching_parameters(best_net, best.model);
    best_net->to(device);
    const auto v = run_validation(best_net, val_records, pre, loss_options, o, val_cache.get(),
                                  device, nullptr);
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
    save_checkpoint(best_dir, best.model, best.metadata);
  }
  result.thresholds = best.metadata.thresholds;
  result.metadata_json = models::to_json(best.metadata);
  result.best_checkpoint = best_dir;
  result.best_epoch = best_epoch;
  result.best_val_loss = val_records.empty() ? kNaN : best_loss;
  result.history = history;
  if (o.plots) {
    try {
      write_plots(o.out, history, heads);
    } catch (const Error& e) {
      log_message(LogLevel::kWarning, std::string("training curves not drawn: ") + e.what());
    }
  }
  return result;
}

}  // namespace difftriage::train
