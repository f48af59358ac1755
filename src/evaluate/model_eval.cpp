// Evaluation runner of a trained model (compiled into difftriage_ml; see model_eval.h).
#include "difftriage/evaluate/model_eval.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include "difftriage/core/ordered_pipeline.h"
#include "difftriage/core/error.h"
#include "difftriage/dataset/sidecar.h"
#include "difftriage/simulate/scene.h"
#include "difftriage/io/image_io.h"
#include "difftriage/models/classifier.h"
#include "difftriage/models/hit_score.h"
#include "difftriage/report/charts.h"

namespace difftriage::evaluate {
namespace fs = std::filesystem;
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool has_head(const std::vector<std::string>& heads, const std::string& name) {
  return std::find(heads.begin(), heads.end(), name) != heads.end();
}

void fill_truth(FramePrediction& f, const dataset::Sample& s) {
  if (s.labels) {
    for (size_t j = 0; j < 6; ++j) {
      f.truth_labels[j] = (*s.labels)[j];
      f.truth_label_known[j] = 1;
    }
    f.truth_has_crystal = (*s.labels)[0] == 0;
  }
  if (s.quality) {
    f.truth_quality = static_cast<int>(*s.quality);
    const bool crystal = has_crystal(*s.quality);
    if (!f.truth_has_crystal) f.truth_has_crystal = crystal;
    if (!s.labels) {
      f.truth_labels[0] = crystal ? 0 : 1;
      f.truth_label_known[0] = 1;
    }
  }
  if (s.labels || s.quality) f.truth_mosaic = std::array<double, 2>{s.mosaic1, s.mosaic2};
  if (const auto sidecar = dataset::read_sidecar_truth(s.path)) {
    f.truth_bright_spots = sidecar->bright_spots;
    f.truth_d_min_angstrom = sidecar->d_min_angstrom;
    f.truth_split_visible = sidecar->split_visible;
  }
}

// With a geometry, the spot evidence's cell decision is the presets' photo1/photo2 answer, as
// classify's results row has it (stream/triage.h).
void apply_cell_decision(FramePrediction& f) {
  if (!f.evidence || !f.evidence->evidence.has_geometry) return;
  const auto& names = *f.evidence->cell_names;
  const auto& p = f.evidence->evidence.cell_probabilities;
  for (size_t k = 0; k < names.size() && k < p.size(); ++k) {
    const int j = label_index(names[k]);
    if (j < 0 || static_cast<size_t>(j) >= f.label_probabilities.size()) continue;
    f.label_probabilities[static_cast<size_t>(j)] = static_cast<float>(p[k]);
    if (static_cast<size_t>(j) < f.label_predictions.size()) {
      f.label_predictions[static_cast<size_t>(j)] = p[k] >= 0.5 ? 1 : 0;
    }
  }
}

// Frames [begin, end) of the dataset, read and prepared by the Classifier on a worker thread.
// A frame that fails keeps an all-zero input (so every batch has batch_size rows, as the
// forward pass always had) and its error; its outputs are discarded.
struct InputBatch {
  std::vector<models::PreparedFrame> frames;
  std::vector<std::optional<features::FrameEvidenceResult>> evidence;  // per row
  std::vector<std::string> errors;  // per row, empty if ok
};

// The Classifier's outputs for one frame, in evaluate's per-frame record.
void fill_outputs(FramePrediction& f, const models::Prediction& p,
                  const models::ModelMetadata& meta) {
  f.quality_probabilities = p.quality_probabilities;
  f.quality = p.quality;
  f.label_probabilities = p.label_probabilities;
  for (size_t j = 0; j < f.label_probabilities.size() && j < kLabelNames.size(); ++j) {
    f.label_predictions.push_back(
        f.label_probabilities[j] >= meta.threshold(kLabelNames[j]) ? 1 : 0);
  }
  f.mosaic = p.mosaic;
  f.log_bright_spots = p.log_bright_spots;
  f.trunk_features = p.trunk_features;
  f.familiarity_distance = p.familiarity_distance;
  f.unfamiliar = p.unfamiliar;
  f.binary = p.binary;
  f.hit_probability = models::score_hit({p}, meta).p_hit.value_or(kNaN);
}

void validate(const ModelEvalOptions& options) {
  DT_CHECK(options.batch_size >= 1, ConfigError, "batch_size must be >= 1, got ",
           options.batch_size);
  DT_CHECK(options.n_threads >= 1, ConfigError, "n_threads must be >= 1, got ",
           options.n_threads);
  DT_CHECK(options.n_workers >= 0, ConfigError, "n_workers must be >= 0, got ",
           options.n_workers);
}

// predict_dataset after the options were checked; `t0` is when the run started (the load).
ModelPredictions run_predictions(const models::Classifier& classifier, const dataset::Dataset& ds,
                                 const ModelEvalOptions& options,
                                 std::chrono::steady_clock::time_point t0) {
  at::set_num_threads(options.n_threads);
  ModelPredictions result;
  result.metadata = classifier.metadata();
  const auto& meta = result.metadata;
  result.hit_score = models::describe(models::hit_source(meta));

  const int64_t s = classifier.input_size();
  const auto n = static_cast<int64_t>(ds.samples.size());
  const int64_t bs = options.batch_size;
  const int64_t n_batches = (n + bs - 1) / bs;
  detail::OrderedPipeline<InputBatch> pipeline(
      n_batches, options.n_workers, 4, [&](int64_t k) {
        const int64_t begin = k * bs, end = std::min(n, begin + bs);
        InputBatch b;
        b.frames.resize(static_cast<size_t>(end - begin));
        b.errors.resize(static_cast<size_t>(end - begin));
        b.evidence.resize(static_cast<size_t>(end - begin));
        for (int64_t i = begin; i < end; ++i) {
          auto& frame = b.frames[static_cast<size_t>(i - begin)];
          try {
            const auto& path = ds.samples[static_cast<size_t>(i)].path;
            const AnyImage image = io::read_image(path);
            frame = classifier.prepare(image);
            if (options.evidence) {
              b.evidence[static_cast<size_t>(i - begin)] = options.evidence->measure(image, path);
            }
          } catch (const Error& e) {
            b.errors[static_cast<size_t>(i - begin)] = e.what();
            frame.side = s;
            frame.pixels.assign(static_cast<size_t>(s * s), 0.0f);
          }
        }
        return b;
      });

  result.frames.resize(static_cast<size_t>(n));
  int64_t row0 = 0;
  while (auto batch = pipeline.next()) {
    const auto predictions = classifier.infer(batch->frames);
    for (size_t r = 0; r < predictions.size(); ++r) {
      auto& f = result.frames[static_cast<size_t>(row0) + r];
      const auto& sample = ds.samples[static_cast<size_t>(row0) + r];
      f.file = sample.file;
      f.path = sample.path;
      fill_truth(f, sample);
      f.error = batch->errors[r];
      f.hit_probability = kNaN;
      if (f.ok()) {
        fill_outputs(f, predictions[r], meta);
        f.evidence = std::move(batch->evidence[r]);
        apply_cell_decision(f);
      }
    }
    row0 += static_cast<int64_t>(predictions.size());
    if (options.on_progress) options.on_progress(row0, n);
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  result.frames_per_s = static_cast<double>(n) / std::max(result.seconds, 1e-9);
  return result;
}

// Good or strong: ≥ 100 bright reflections in the sidecar, else the quality label.
bool good_or_strong(const FramePrediction& f) {
  if (f.truth_bright_spots) return *f.truth_bright_spots >= simulate::kGoodMinBrightSpots;
  return f.truth_quality && (*f.truth_quality == static_cast<int>(Quality::kGood) ||
                             *f.truth_quality == static_cast<int>(Quality::kStrong));
}

void add_evidence_metrics(ModelEvalReport& report, const ModelPredictions& preds) {
  const auto& meta = preds.metadata;
  bool any = false;
  for (const auto& f : preds.frames) any = any || (f.ok() && f.evidence.has_value());
  if (!any) return;
  for (const bool strong_only : {false, true}) {
    for (const char* name : {"photo1", "photo2"}) {
      const auto j = static_cast<size_t>(label_index(name));
      std::vector<double> scores;
      std::vector<uint8_t> truth;
      for (const auto& f : preds.frames) {
        if (!f.ok() || !f.evidence || !f.evidence->evidence.has_geometry) continue;
        if (!f.truth_has_crystal || !*f.truth_has_crystal || !f.truth_label_known[j]) continue;
        if (strong_only && !good_or_strong(f)) continue;
        scores.push_back(f.label_probabilities[j]);
        truth.push_back(f.truth_labels[j]);
      }
      if (truth.empty()) continue;
      BinaryOptions bo;
      bo.threshold = 0.5;
      report.cells.emplace_back(std::string(name) + (strong_only ? " | good/strong" : " | crystal"),
                                evaluate_binary(scores, truth, bo));
    }
  }
  std::vector<double> t, p;
  ModelEvalReport::GuardedVeto g;
  for (const auto& f : preds.frames) {
    if (!f.ok() || !f.evidence) continue;
    const auto& e = f.evidence->evidence;
    if (f.truth_d_min_angstrom && e.lattice.d_min_angstrom && good_or_strong(f)) {
      t.push_back(*f.truth_d_min_angstrom);
      p.push_back(*e.lattice.d_min_angstrom);
    }
    if (!f.truth_has_crystal || !std::isfinite(f.hit_probability)) continue;
    const bool model_vetoes = models::decide_hit(f.hit_probability, meta) == models::Decision::kNo;
    const bool vetoed = model_vetoes && !e.guard_keeps && !f.unfamiliar;
    g.n_unfamiliar += f.unfamiliar;
    if (!*f.truth_has_crystal) {
      ++g.n_blank;
      g.n_blank_vetoed += vetoed;
      g.n_blank_kept_by_guard += model_vetoes && e.guard_keeps;
      g.n_blank_kept_unfamiliar += model_vetoes && !e.guard_keeps && f.unfamiliar;
    } else {
      ++g.n_crystal;
      g.n_crystal_vetoed += vetoed;
      if (f.truth_bright_spots.value_or(1) > 0) {
        ++g.n_visible;
        g.n_visible_vetoed += vetoed;
      }
    }
  }
  if (!t.empty()) report.d_min = evaluate_regression(t, p);
  if (g.n_blank + g.n_crystal > 0) report.guarded_veto = g;
}

}  // namespace

ModelPredictions predict_dataset(const fs::path& model, const dataset::Dataset& ds,
                                 const ModelEvalOptions& options) {
  validate(options);
  const auto t0 = std::chrono::steady_clock::now();
  const auto classifier = models::Classifier::load(model);
  return run_predictions(classifier, ds, options, t0);
}

ModelPredictions predict_dataset(const models::Classifier& classifier,
                                 const dataset::Dataset& ds, const ModelEvalOptions& options) {
  validate(options);
  return run_predictions(classifier, ds, options, std::chrono::steady_clock::now());
}

ModelEvalReport evaluate_predictions(const ModelPredictions& preds,
                                     const ModelEvalOptions& options) {
  ModelEvalReport report;
  report.n_frames = static_cast<int64_t>(preds.frames.size());
  report.hit_score = preds.hit_score;
  const auto& meta = preds.metadata;
  for (const auto& f : preds.frames) report.n_errors += f.ok() ? 0 : 1;
  std::vector<double> scores;
  std::vector<uint8_t> truth;
  auto add_binary = [&](const std::string& name, double threshold) {
    if (truth.empty()) return;
    BinaryOptions bo;
    bo.threshold = threshold;
    report.labels.emplace_back(name, evaluate_binary(scores, truth, bo));
  };
  for (const auto& h : meta.heads) {
    if (h == models::kLabelsHead) {
      for (size_t j = 0; j < 6; ++j) {
        scores.clear();
        truth.clear();
        for (const auto& f : preds.frames) {
          if (!f.ok() || !f.truth_label_known[j]) continue;
          scores.push_back(f.label_probabilities[j]);
          truth.push_back(f.truth_labels[j]);
        }
        add_binary(kLabelNames[j], meta.threshold(kLabelNames[j]));
      }
    } else if (h != models::kQualityHead && h != models::kMosaicHead) {
      const int index = label_index(h);
      if (index < 0) continue;
      const auto j = static_cast<size_t>(index);
      scores.clear();
      truth.clear();
      for (const auto& f : preds.frames) {
        if (!f.ok() || !f.truth_label_known[j]) continue;
        scores.push_back(f.binary.at(h));
        truth.push_back(f.truth_labels[j]);
      }
      add_binary(h + " (head)", meta.threshold(h));
    }
  }
  // Hit / veto.
  scores.clear();
  truth.clear();
  std::vector<std::optional<int64_t>> bright;
  for (const auto& f : preds.frames) {
    if (!f.ok() || !f.truth_has_crystal || !std::isfinite(f.hit_probability)) continue;
    scores.push_back(f.hit_probability);
    truth.push_back(*f.truth_has_crystal ? 1 : 0);
    bright.push_back(f.truth_bright_spots);
  }
  if (!truth.empty()) {
    BinaryOptions bo;
    // "hit" is what classify keeps: the same decision (models::decide_hit, hit threshold and
    // uncertainty band), so a frame classify keeps flagged uncertain counts as predicted hit.
    // The veto point measured on this set is reported apart, as `veto`.
    bo.threshold = meta.hit_threshold();
    bo.is_positive = [&meta](double p) {
      return models::decide_hit(p, meta) != models::Decision::kNo;
    };
    report.hit = evaluate_binary(scores, truth, bo);
    report.veto = find_veto_point(scores, truth, options.veto);
    report.veto_visible = find_visible_veto_point(scores, truth, bright, options.veto);
  }
  // Quality.
  if (has_head(meta.heads, models::kQualityHead)) {
    std::vector<int> t, p;
    for (const auto& f : preds.frames) {
      if (!f.ok() || !f.truth_quality) continue;
      t.push_back(*f.truth_quality);
      p.push_back(f.quality);
    }
    if (!t.empty()) report.quality = evaluate_multiclass(t, p, meta.quality_names);
  }
  // Mosaic.
  if (has_head(meta.heads, models::kMosaicHead)) {
    std::vector<double> t1, p1, t2, p2;
    for (const auto& f : preds.frames) {
      if (!f.ok() || !f.truth_mosaic) continue;
      if (f.truth_has_crystal.value_or(false)) {
        t1.push_back((*f.truth_mosaic)[0]);
        p1.push_back(f.mosaic[0]);
      }
      if (f.truth_label_known[3] && f.truth_labels[3]) {
        t2.push_back((*f.truth_mosaic)[1]);
        p2.push_back(f.mosaic[1]);
      }
    }
    if (!t1.empty()) report.mosaic1 = evaluate_regression(t1, p1);
    if (!t2.empty()) report.mosaic2 = evaluate_regression(t2, p2);
  }
  if (has_head(meta.heads, models::kSpotsHead)) {
    std::vector<double> t, p;
    for (const auto& f : preds.frames) {
      if (!f.ok() || !f.truth_bright_spots || !f.log_bright_spots) continue;
      t.push_back(std::log10(1.0 + static_cast<double>(*f.truth_bright_spots)));
      p.push_back(*f.log_bright_spots);
    }
    if (!t.empty()) report.bright_spots = evaluate_regression(t, p);
  }
  add_evidence_metrics(report, preds);
  return report;
}

nlohmann::json to_json(const ModelEvalReport& r) {
  nlohmann::json labels = nlohmann::json::object();
  for (const auto& [name, m] : r.labels) labels[name] = to_json(m);
  nlohmann::json cells = nlohmann::json::object();
  for (const auto& [name, m] : r.cells) cells[name] = to_json(m);
  nlohmann::json guarded;
  if (const auto& g = r.guarded_veto) {
    guarded = {{"n_blank", g->n_blank},
               {"n_blank_vetoed", g->n_blank_vetoed},
               {"n_blank_kept_by_guard", g->n_blank_kept_by_guard},
               {"n_blank_kept_unfamiliar", g->n_blank_kept_unfamiliar},
               {"n_unfamiliar", g->n_unfamiliar},
               {"n_visible", g->n_visible},
               {"n_visible_vetoed", g->n_visible_vetoed},
               {"n_crystal", g->n_crystal},
               {"n_crystal_vetoed", g->n_crystal_vetoed}};
  }
  return {{"n_frames", r.n_frames},
          {"n_errors", r.n_errors},
          {"hit_score", r.hit_score},
          {"labels", labels},
          {"hit", r.hit ? to_json(*r.hit) : nlohmann::json()},
          {"veto", r.veto ? to_json(*r.veto) : nlohmann::json()},
          {"veto_visible", r.veto_visible ? to_json(*r.veto_visible) : nlohmann::json()},
          {"quality", r.quality ? to_json(*r.quality) : nlohmann::json()},
          {"mosaic1", r.mosaic1 ? to_json(*r.mosaic1) : nlohmann::json()},
          {"mosaic2", r.mosaic2 ? to_json(*r.mosaic2) : nlohmann::json()},
          {"bright_spots", r.bright_spots ? to_json(*r.bright_spots) : nlohmann::json()},
          {"cells", cells},
          {"d_min", r.d_min ? to_json(*r.d_min) : nlohmann::json()},
          {"guarded_veto", guarded}};
}

nlohmann::json to_json(const FramePrediction& f, const models::ModelMetadata& meta) {
  nlohmann::json j = {{"file", f.file}, {"path", f.path.string()}};
  j["error"] = f.ok() ? nlohmann::json() : nlohmann::json(f.error);
  if (!f.quality_probabilities.empty()) {
    j["quality_probabilities"] = f.quality_probabilities;
    j["quality"] = meta.quality_names.at(static_cast<size_t>(f.quality));
  }
  if (!f.label_probabilities.empty()) {
    j["label_probabilities"] = f.label_probabilities;
    j["labels"] = f.label_predictions;
  }
  if (!f.mosaic.empty()) j["mosaic"] = f.mosaic;
  if (f.log_bright_spots) {
    j["bright_spots"] = models::bright_spots_from_head(*f.log_bright_spots);
  }
  if (!f.binary.empty()) j["binary"] = f.binary;
  j["p_hit"] = json_number(f.hit_probability);
  nlohmann::json truth_labels = nlohmann::json::array();
  for (size_t k = 0; k < 6; ++k) {
    truth_labels.push_back(f.truth_label_known[k] ? nlohmann::json(int{f.truth_labels[k]})
                                                  : nlohmann::json());
  }
  j["truth"] = {
      {"labels", truth_labels},
      {"quality", f.truth_quality ? nlohmann::json(meta.quality_names.at(
                                        static_cast<size_t>(*f.truth_quality)))
                                  : nlohmann::json()},
      {"mosaic", f.truth_mosaic ? nlohmann::json(*f.truth_mosaic) : nlohmann::json()},
      {"has_crystal", f.truth_has_crystal ? nlohmann::json(*f.truth_has_crystal)
                                          : nlohmann::json()},
      {"bright_spots", f.truth_bright_spots ? nlohmann::json(*f.truth_bright_spots)
                                            : nlohmann::json()}};
  return j;
}

std::string format_model_eval(const ModelEvalReport& r) {
  std::string s = "frames: " + std::to_string(r.n_frames) +
                  " (errors: " + std::to_string(r.n_errors) + ")\n";
  auto rows = r.labels;
  if (r.hit) rows.emplace_back("hit (p_hit)", *r.hit);
  if (!rows.empty()) s += "\n" + format_binary_table(rows);
  if (r.quality) s += "\n" + format_multiclass("quality", *r.quality);
  std::vector<std::pair<std::string, RegressionMetrics>> reg;
  if (r.mosaic1) reg.emplace_back("mosaic1 (crystal frames)", *r.mosaic1);
  if (r.mosaic2) reg.emplace_back("mosaic2 (multilattice frames)", *r.mosaic2);
  if (r.bright_spots) reg.emplace_back("log10(1 + bright spots)", *r.bright_spots);
  if (!reg.empty()) s += "\n" + format_regression_table(reg);
  if (r.veto) {
    s += "\nhit score: " + r.hit_score + "\n";
    s += format_veto("veto (p_hit)", *r.veto);
  }
  if (r.veto_visible) {
    s += format_veto("veto (p_hit), hits = crystal frames with >= 1 bright spot",
                     *r.veto_visible);
  }
  if (!r.cells.empty()) {
    s += "\ncrystal form from the spot evidence (among crystal frames, p >= 0.5):\n" +
         format_binary_table(r.cells);
  }
  if (r.d_min) {
    s += "\n" + format_regression_table({{"d_min_angstrom (good/strong frames)", *r.d_min}});
  }
  if (const auto& g = r.guarded_veto) {
    char line[400];
    std::snprintf(line, sizeof line,
                  "\nclassify's decision (model + spot guard): %lld of %lld blank frames vetoed "
                  "(%lld kept by the guard, %lld as unfamiliar); %lld of %lld crystal frames with "
                  "a bright spot vetoed; %lld of %lld crystal frames vetoed; %lld frame(s) "
                  "unfamiliar\n",
                  static_cast<long long>(g->n_blank_vetoed), static_cast<long long>(g->n_blank),
                  static_cast<long long>(g->n_blank_kept_by_guard),
                  static_cast<long long>(g->n_blank_kept_unfamiliar),
                  static_cast<long long>(g->n_visible_vetoed),
                  static_cast<long long>(g->n_visible),
                  static_cast<long long>(g->n_crystal_vetoed),
                  static_cast<long long>(g->n_crystal), static_cast<long long>(g->n_unfamiliar));
    s += line;
  }
  return s;
}

namespace {

std::string file_safe(const std::string& name) {
  std::string out;
  for (char c : name) out += (std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out;
}

void plot_curves(const fs::path& out, const std::string& name, const BinaryMetrics& m) {
  if (m.n_positive == 0 || m.n_negative == 0) return;
  char buf[64];
  std::snprintf(buf, sizeof buf, " (AUC %.3f)", m.roc_auc);
  report::LineChart roc{"ROC: " + name, "false-positive rate", "true-positive rate (recall)",
                        {name + buf, "chance"}, {m.roc.fpr, {0.0, 1.0}}, {m.roc.tpr, {0.0, 1.0}},
                        false};
  report::plot_lines(out / ("roc_" + file_safe(name) + ".png"), roc);
  std::snprintf(buf, sizeof buf, " (AP %.3f)", m.pr_auc);
  char chance[64];
  std::snprintf(chance, sizeof chance, "chance (%.3f)", m.positive_fraction);
  report::LineChart pr{"Precision-recall: " + name, "recall", "precision",
                       {name + buf, chance},
                       {m.pr.recall, {0.0, 1.0}},
                       {m.pr.precision, {m.positive_fraction, m.positive_fraction}},
                       false};
  report::plot_lines(out / ("pr_" + file_safe(name) + ".png"), pr);
}

// Row-normalised confusion matrix (truth rows) as a heatmap on [0, 1].
void plot_confusion(const fs::path& file, const std::string& title,
                    const std::vector<std::string>& names, const std::vector<int64_t>& counts) {
  const size_t k = names.size();
  std::vector<double> values(k * k, kNaN);
  for (size_t t = 0; t < k; ++t) {
    int64_t row = 0;
    for (size_t p = 0; p < k; ++p) row += counts[t * k + p];
    for (size_t p = 0; p < k; ++p) {
      if (row > 0) values[t * k + p] = static_cast<double>(counts[t * k + p]) / row;
    }
  }
  std::vector<std::string> rows, cols;
  for (const auto& n : names) {
    rows.push_back("true " + n);
    cols.push_back("pred " + n);
  }
  report::Heatmap h{title + " (row-normalised)", rows, cols, values, 0.0, 1.0};
  report::plot_heatmap(file, h);
}

void plot_scatter(const fs::path& file, const std::string& title,
                  const std::vector<double>& truth, const std::vector<double>& pred,
                  const RegressionMetrics& m) {
  if (truth.empty()) return;
  // charts.h draws lines; each frame becomes a small "+" (two segments separated by NaN gaps).
  constexpr double d = 0.006;
  std::vector<double> xs, ys;
  for (size_t i = 0; i < truth.size(); ++i) {
    const double x = truth[i], y = pred[i];
    xs.insert(xs.end(), {x - d, x + d, kNaN, x, x, kNaN});
    ys.insert(ys.end(), {y, y, kNaN, y - d, y + d, kNaN});
  }
  char buf[96];
  std::snprintf(buf, sizeof buf, "frames (n %lld, MAE %.3f, R2 %.3f)",
                static_cast<long long>(m.n), m.mae, m.r2);
  report::LineChart c{title, "true", "predicted", {buf, "identity"}, {xs, {0.0, 1.0}},
                      {ys, {0.0, 1.0}}, false};
  report::plot_lines(file, c);
}

}  // namespace

void plot_model_eval(const fs::path& out, const ModelEvalReport& report,
                     const ModelPredictions& preds) {
  fs::create_directories(out);
  for (const auto& [name, m] : report.labels) {
    plot_curves(out, name, m);
    if (m.n > 0) {
      const auto& c = m.confusion;
      plot_confusion(out / ("confusion_" + file_safe(name) + ".png"), "Confusion: " + name,
                     {"0", "1"}, {c.tn, c.fp, c.fn, c.tp});
    }
  }
  if (report.hit) plot_curves(out, "hit", *report.hit);
  if (report.quality && report.quality->n > 0) {
    plot_confusion(out / "confusion_quality.png", "Quality confusion",
                   report.quality->class_names, report.quality->confusion);
  }
  for (int k = 0; k < 2; ++k) {
    const auto& m = k == 0 ? report.mosaic1 : report.mosaic2;
    if (!m) continue;
    std::vector<double> t, p;
    for (const auto& f : preds.frames) {
      if (!f.ok() || !f.truth_mosaic || f.mosaic.empty()) continue;
      const bool use = k == 0 ? f.truth_has_crystal.value_or(false)
                              : (f.truth_label_known[3] && f.truth_labels[3]);
      if (!use) continue;
      t.push_back((*f.truth_mosaic)[static_cast<size_t>(k)]);
      p.push_back(f.mosaic[static_cast<size_t>(k)]);
    }
    plot_scatter(out / (k == 0 ? "mosaic1_scatter.png" : "mosaic2_scatter.png"),
                 k == 0 ? "mosaic1: predicted vs true (crystal frames)"
                        : "mosaic2: predicted vs true (multilattice frames)",
                 t, p, *m);
  }
}

}  // namespace difftriage::evaluate
