/// The evaluation runner of a trained model (DESIGN.md "Learning"): inference over a labelled
/// dataset (batched, decoding on worker threads), then the honest metrics of metrics.h per head.
/// Compiled into difftriage_ml (it runs LibTorch), but this header does not include Torch.
///
///   auto ds = difftriage::dataset::load_dataset("sim/test");
///   auto preds = difftriage::evaluate::predict_dataset("runs/a/model", ds);
///   auto report = difftriage::evaluate::evaluate_predictions(preds);
///   std::cout << difftriage::evaluate::format_model_eval(report);
///   difftriage::evaluate::plot_model_eval("eval/", report, preds);
///
/// Truth per frame (as the training data module derives it):
/// - the six labels from multiclasses.txt; a quality-only frame knows only `blank`
///   (blank or noxtal ⇒ blank = 1);
/// - quality from categories1.txt;
/// - has crystal: labels blank == 0, else quality ∈ {weak, good, strong};
/// - mosaic1 is evaluated on frames with a crystal, mosaic2 on multilattice frames (labels).
/// Inference runs through models::Classifier (the path `classify` uses), so every frame gets the
/// probabilities `classify` gives it. Hit probability (the veto score): models::score_hit
/// (hit_score.h), the function `classify` decides with: 1 − p of a binary `blank` head, else
/// 1 − p(blank) of the labels head, else 1 − p(blank) − p(noxtal) of the quality head.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "difftriage/dataset/dataset.h"
#include "difftriage/evaluate/metrics.h"
#include "difftriage/features/evidence_stage.h"
#include "difftriage/models/classifier.h"
#include "difftriage/models/model_info.h"

namespace difftriage::evaluate {

/// Options of predict_dataset / evaluate_predictions.
struct ModelEvalOptions {
  int64_t batch_size = 32;  ///< frames per forward pass (≥ 1)
  int n_threads = 2;        ///< Torch intra-op threads (≥ 1)
  int n_workers = 2;        ///< decoding + preprocessing threads (≥ 0; 0 = inline)
  VetoOptions veto;         ///< keep ≥ 99.9 % of the crystal frames by default
  /// Called by predict_dataset after each batch with (frames done, frames), on the calling
  /// thread; for a progress display.
  std::function<void(int64_t n_done, int64_t n_frames)> on_progress = {};
  /// The spot-evidence stage (features/evidence_stage.h) run beside the model on every frame, as
  /// classify runs it; null: the model alone.
  std::shared_ptr<const features::EvidenceStage> evidence;
};

/// One frame: model outputs and truth. Empty vectors for heads the model lacks.
struct FramePrediction {
  std::string file;            ///< as in the label file
  std::filesystem::path path;  ///< image file
  std::string error;           ///< read/decode error; outputs are empty then
  std::vector<float> quality_probabilities;  ///< 5 (softmax)
  int quality = -1;                          ///< argmax, -1 without quality head
  std::vector<float> label_probabilities;    ///< 6 (sigmoids)
  std::vector<uint8_t> label_predictions;    ///< p ≥ threshold of the label, per label
  std::vector<float> mosaic;                 ///< 2 (mosaic1, mosaic2) in [0, 1]
  std::optional<float> log_bright_spots;     ///< spots head: log10(1 + count) estimate
  std::map<std::string, float> binary;       ///< binary head → probability
  double hit_probability = 0;                ///< models::score_hit's p_hit; NaN without one
  std::vector<float> trunk_features;         ///< models::Prediction's (familiarity fits)
  std::optional<double> familiarity_distance;  ///< models::Prediction's
  bool unfamiliar = false;                   ///< models::Prediction's: classify keeps it
  // Truth (unset when the label files do not tell).
  std::array<uint8_t, 6> truth_labels{};
  std::array<uint8_t, 6> truth_label_known{};
  std::optional<int> truth_quality;
  std::optional<std::array<double, 2>> truth_mosaic;
  std::optional<bool> truth_has_crystal;
  /// Bright spots in the simulator's truth (dataset/sidecar.h); unset without a sidecar.
  std::optional<int64_t> truth_bright_spots;
  /// The sidecar's d_min (Å); unset without a sidecar or a bright reflection.
  std::optional<double> truth_d_min_angstrom;
  /// The sidecar's split_visible (a split crystal whose split shows); unset without one.
  std::optional<bool> truth_split_visible;
  /// The spot evidence (with an evidence stage). With a geometry its cell decision replaces the
  /// labels head's photo1/photo2 in label_probabilities and label_predictions, as in classify.
  std::optional<features::FrameEvidenceResult> evidence;
  bool ok() const noexcept { return error.empty(); }
};

/// Predictions of a model over a dataset, in sample order.
struct ModelPredictions {
  models::ModelMetadata metadata;
  /// How hit_probability was computed: models::describe(models::hit_source(metadata)).
  std::string hit_score;
  std::vector<FramePrediction> frames;
  double seconds = 0;       ///< wall time of decoding + inference
  double frames_per_s = 0;  ///< frames / seconds
};

/// Loads the checkpoint `model` as a models::Classifier and predicts every sample of `dataset`
/// with it (io::read_image frame 0, Classifier::prepare on n_workers threads, Classifier::infer
/// in batches of batch_size). A frame that cannot be read or decoded gets `error` set; the run
/// goes on. Truth comes from the label files, and the bright-spot count from the frame's
/// simulator sidecar when there is one (FormatError naming a sidecar that exists but is
/// malformed). Sets at::set_num_threads(n_threads). `seconds` includes loading the model.
/// @throws ModelError for a missing or corrupt checkpoint (naming the file); ConfigError naming
/// the option (batch_size, n_threads, n_workers) for bad options.
[[nodiscard]] ModelPredictions predict_dataset(const std::filesystem::path& model,
                                               const dataset::Dataset& dataset,
                                               const ModelEvalOptions& options = {});
/// The same with an already loaded classifier (e.g. the one calibrate then saves); `seconds`
/// starts at the call. The classifier is only read; at::set_num_threads is process-wide.
[[nodiscard]] ModelPredictions predict_dataset(const models::Classifier& classifier,
                                               const dataset::Dataset& dataset,
                                               const ModelEvalOptions& options = {});

/// Metrics of a model over a dataset. Only frames that were predicted (ok()) and carry the
/// relevant truth count.
struct ModelEvalReport {
  int64_t n_frames = 0;
  int64_t n_errors = 0;
  std::string hit_score;
  /// Per label of the labels head ("blank", ...) and per binary head ("<name> (head)"), at the
  /// model's thresholds, with ROC/PR curves. Only labels with at least one known truth.
  std::vector<std::pair<std::string, BinaryMetrics>> labels;
  /// p_hit against "has crystal" at threshold 1 − threshold(blank) (0.5 from quality).
  std::optional<BinaryMetrics> hit;
  std::optional<VetoPoint> veto;  ///< veto operating point of p_hit
  /// The same with "frames with diffraction" = crystal frames with at least one bright spot in
  /// the simulator's truth (blanks as above). Only when every crystal frame has a sidecar: a
  /// crystal frame without a bright spot has no usable diffraction, and the frame-level target
  /// "never veto usable diffraction" is measured on the frames that have some.
  std::optional<VetoPoint> veto_visible;
  std::optional<MulticlassMetrics> quality;
  std::optional<RegressionMetrics> mosaic1;  ///< frames with a crystal
  std::optional<RegressionMetrics> mosaic2;  ///< multilattice frames
  /// spots head: log10(1 + bright spots) against the sidecar's count, frames with a sidecar.
  std::optional<RegressionMetrics> bright_spots;
  /// With the spot evidence: the presets' cell decision among crystal frames (blanks excluded),
  /// on all of them and on the good/strong ones (≥ 100 bright reflections in the sidecar, or
  /// the quality label good/strong without one), at p ≥ 0.5.
  std::vector<std::pair<std::string, BinaryMetrics>> cells;
  /// With the spot evidence: d_min against the sidecar's, on good/strong frames with both.
  std::optional<RegressionMetrics> d_min;
  /// With the spot evidence: classify's keep/veto (model and spot guard) on this set.
  struct GuardedVeto {
    int64_t n_blank = 0, n_blank_vetoed = 0, n_blank_kept_by_guard = 0;
    /// Blanks the model and the guard would veto but the familiarity keeps (models::Prediction
    /// unfamiliar), and every frame with has-crystal truth flagged unfamiliar.
    int64_t n_blank_kept_unfamiliar = 0, n_unfamiliar = 0;
    int64_t n_visible = 0, n_visible_vetoed = 0;  ///< crystal frames with a bright reflection
    int64_t n_crystal = 0, n_crystal_vetoed = 0;  ///< all crystal frames
  };
  std::optional<GuardedVeto> guarded_veto;
};

/// Evaluates predictions. Pure. @throws ConfigError for an invalid veto keep fraction.
[[nodiscard]] ModelEvalReport evaluate_predictions(const ModelPredictions& predictions,
                                                   const ModelEvalOptions& options = {});

/// metrics.json: {"n_frames", "n_errors", "hit_score", "labels": {name: BinaryMetrics},
/// "hit": BinaryMetrics|null, "veto": VetoPoint|null, "veto_visible": VetoPoint|null,
/// "quality": MulticlassMetrics|null,
/// "mosaic1": RegressionMetrics|null, "mosaic2": ..., "bright_spots": ... (log10(1 + count))}.
/// NaN → null.
[[nodiscard]] nlohmann::json to_json(const ModelEvalReport& report);
/// One predictions.jsonl object: {"file", "path", "error", "quality_probabilities", "quality",
/// "label_probabilities", "labels" (predicted 0/1), "mosaic", "bright_spots" (spots head:
/// 10^estimate − 1), "binary", "p_hit",
/// "truth": {"labels" (null per unknown label), "quality", "mosaic", "has_crystal",
/// "bright_spots" (null without a sidecar)}}.
[[nodiscard]] nlohmann::json to_json(const FramePrediction& frame,
                                     const models::ModelMetadata& metadata);

/// The stdout tables: binary table (accuracy beside chance), quality, mosaic, veto line.
[[nodiscard]] std::string format_model_eval(const ModelEvalReport& report);

/// Writes PNG figures into `out`: roc_<label>.png and pr_<label>.png (labels with both classes,
/// and "hit"), confusion_quality.png (row-normalised 5×5), confusion_<label>.png (2×2,
/// row-normalised), mosaic1_scatter.png / mosaic2_scatter.png (predicted vs true, each frame a
/// small cross, with the identity line). @throws IoError if gnuplot fails (see report/charts.h).
void plot_model_eval(const std::filesystem::path& out, const ModelEvalReport& report,
                     const ModelPredictions& predictions);

}  // namespace difftriage::evaluate
