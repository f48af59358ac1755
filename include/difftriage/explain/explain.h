/// What a trained triage network looks at: first-layer filters, feature maps per block, dead
/// (never-active) channels per block over a dataset, Grad-CAM per head and label, and the
/// Grad-CAM mass summed per resolution shell with the hexagonal-ice d-spacings marked. This
/// header does not include LibTorch (the tensor-level functions are in attribution.h).
///
///   difftriage::explain::ExplainOptions options;
///   options.geometry = difftriage::read_geometry_json("geometry.json");  // else: frame metadata
///   auto summary = difftriage::explain::explain_model("runs/a/model", {"f1.cbf"}, "out/explain",
///                                                     "sim/val", options);
///   // out/explain/index.html shows every figure; summary.dead_maps holds the numbers.
///
/// Conventions (docs/explain.md explains each picture):
///  - A channel is "dead on an image" when its maximum over the block's output map is ≤
///    `dead_epsilon`. Block outputs are taken after the block's last ReLU (and, for vgg16, after
///    its max pool, which does not change the maximum). A channel is "dead" when it is dead on
///    ≥ `dead_image_fraction` (default 99 %) of the images.
///  - Filters with more than one input channel are shown as the mean over input channels.
///  - Resolution shells: equal-width bins of 1/d (reciprocal resolution) when the geometry is
///    known, else equal-width bins of the radius in ORIGINAL frame pixels from the beam centre.
#pragma once

#include <cstdint>
#include <functional>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "difftriage/core/detector_geometry.h"
#include "difftriage/core/image.h"
#include "difftriage/features/evidence_stage.h"
#include "difftriage/models/model_info.h"

namespace difftriage::explain {

/// Where the network input's pixels lie on the original frame: the preprocessing region
/// (a square of side `region_side_px` at rows/cols `region_row0`/`region_col0`, resampled to
/// `input_size`²) and the beam centre, all in original-frame pixels, corner origin (pixel k
/// spans [k, k+1)). Plain value type.
struct InputMapping {
  int64_t input_size = 0;     ///< S: the network input is S × S
  double region_row0 = 0;     ///< first frame row of the region (may be < 0 when padded)
  double region_col0 = 0;     ///< first frame column of the region
  double region_side_px = 0;  ///< side of the square region, frame pixels
  double center_slow_px = 0;  ///< beam centre, slow axis, frame pixels (corner origin)
  double center_fast_px = 0;  ///< beam centre, fast axis, frame pixels (corner origin)

  /// Distance in original-frame pixels from the beam centre to the centre of input pixel
  /// (row, col).
  double radius_px(int64_t row, int64_t col) const noexcept;
};

/// The mapping the model's preprocessing uses for a frame of n_slow × n_fast pixels: the same
/// centred region as models::Preprocessor (beam centre from `metadata` when it has one, else the
/// frame centre). Pure, thread-safe. @throws ConfigError if the frame is empty.
InputMapping input_mapping(const models::PreprocessOptions& preprocess, int64_t n_slow,
                           int64_t n_fast, const DetectorMetadata* metadata = nullptr);

/// A saliency map summed per resolution shell.
struct ShellProfile {
  /// True when the shells are resolution shells (geometry known); false: radius shells.
  bool has_resolution = false;
  /// Shell centre, original-frame pixels (NaN where its resolution cannot reach the detector).
  std::vector<double> radius_px;
  std::vector<double> inverse_d;      ///< shell centre in 1/Å (has_resolution only)
  std::vector<double> d_angstrom;     ///< 1 / inverse_d (has_resolution only; inf at 0)
  std::vector<double> mass;           ///< sum of the map over the shell's input pixels
  std::vector<double> mass_fraction;  ///< mass / total mass (0 when the total is 0)
  std::vector<int64_t> n_pixels;      ///< input pixels per shell
  /// mass / n_pixels (0 for an empty shell): the map's density, free of the shell-area growth
  /// with radius that `mass` carries.
  std::vector<double> mean_per_pixel;

  /// Index of the shell with the largest mass (-1 if empty).
  int64_t peak_shell() const noexcept;
};

/// Sums `map` (input_size² floats, row-major, e.g. a Grad-CAM map or |gradient × input|) in
/// `n_shells` shells covering radius 0 to the farthest input pixel. With `geometry` (of the
/// ORIGINAL frame) the shells are equal-width in 1/d (d from
/// DetectorGeometry::resolution_at_radius_angstrom of the radius from the mapping's centre),
/// else in radius. Pure, thread-safe.
/// @throws ConfigError if map is null, n_shells < 1, or the geometry is unphysical.
ShellProfile shell_profile(const float* map, const InputMapping& mapping,
                           const std::optional<DetectorGeometry>& geometry, int n_shells = 48);

/// Dead-channel statistics of one trunk block over a set of images.
struct BlockDeadMaps {
  std::string block;  ///< "block1", ...
  int64_t n_channels = 0;
  int64_t n_dead = 0;                    ///< channels dead on ≥ dead_image_fraction of images
  double dead_fraction = 0;              ///< n_dead / n_channels
  std::vector<double> mean_activation;   ///< per channel, mean over images and positions
  std::vector<double> dead_on_fraction;  ///< per channel, fraction of images it is dead on
  double mean_activation_all = 0;        ///< mean of mean_activation
};

/// Dead maps of every block.
struct DeadMapReport {
  int64_t n_images = 0;               ///< images the statistics ran over
  double epsilon = 0;                 ///< dead_epsilon used
  double dead_image_fraction = 0;     ///< threshold used
  std::string source;                 ///< dataset folder, or "images" when computed on explicit images
  std::vector<BlockDeadMaps> blocks;  ///< one per trunk block, in order
};

/// JSON of the report (field names as in the structs).
nlohmann::json to_json(const DeadMapReport& report);

/// Options of explain_model. Defaults reproduce the study's figures.
struct ExplainOptions {
  int n_filters = 5;           ///< first filters (output channels) shown per conv layer
  int n_feature_maps = 64;     ///< first maps shown per block (8 columns)
  double dead_epsilon = 1e-6;  ///< activation ≤ this counts as zero
  double dead_image_fraction = 0.99;
  int64_t max_dataset_images = 0;  ///< images of the dataset used for dead maps; 0 = all
  int batch_size = 8;              ///< images per forward pass for the dead-map statistics
  /// Geometry of the ORIGINAL frames (before the model's crop/binning), e.g. from
  /// read_geometry_json, for frames whose metadata has none (wavelength, distance and pixel
  /// size of a flat detector; beam centre from the metadata, else the frame centre), or for
  /// every frame with `geometry_override`: it places the resolution shells (and the spot
  /// evidence's q); a size in it must match each frame's. No geometry: radius shells in pixels.
  std::optional<DetectorGeometry> geometry;
  /// Use `geometry` for every frame, replacing its metadata's (the CLI's --geometry-override).
  bool geometry_override = false;
  /// With `geometry`: take each frame's beam centre (its metadata, else the frame centre)
  /// instead of the geometry's. For a geometry that knows no beam centre (the CLI's
  /// --wavelength/--distance/--pixel-size).
  bool geometry_beam_center_from_frame = false;
  int n_shells = 48;
  bool grad_cam = true;  ///< Grad-CAM overlays and shell profiles
  /// Block whose output Grad-CAM uses, 1-based ("block2" = 2); 0 = the last block. Earlier
  /// blocks give finer but less class-specific maps.
  int cam_block = 0;
  /// Also |gradient × input| shell profiles (pixel resolution; one backward pass per output).
  bool gradient_input = true;
  bool plots = true;  ///< draw the gnuplot figures (false: JSON + overlays only)
  /// The spot evidence per image (features/evidence_stage.h): its peaks at full resolution
  /// drawn over the frame by role, the pair-length histogram beside each candidate cell's
  /// predicted lengths, p per candidate, d_min, in evidence.json and a section of index.html.
  /// Measured with the geometry the shells use, else the simulator's sidecar beside the image.
  /// Null: not shown.
  std::shared_ptr<const features::EvidenceStage> evidence;
  /// Called after each batch of the dataset's dead-map pass with (images done, images in all).
  std::function<void(int64_t n_done, int64_t n_images)> on_progress = {};
};

/// Every file written by explain_model (relative to the output folder) and the numbers.
struct ExplainSummary {
  std::vector<std::string> files;  ///< relative paths, in the order written
  DeadMapReport dead_maps;         ///< the numbers behind dead_maps.json
  /// Per image (in input order), per "head/output" name, its shell profile.
  std::vector<std::vector<std::pair<std::string, ShellProfile>>> shell_profiles;
  /// Same for |gradient × input| (empty when ExplainOptions::gradient_input is false).
  std::vector<std::vector<std::pair<std::string, ShellProfile>>> gradient_input_profiles;
  /// Per image (in input order), the models::Classifier's prediction: the same preprocessing and
  /// probabilities as classify/evaluate, from a batch of one (the forward pass Grad-CAM
  /// differentiates).
  std::vector<models::Prediction> predictions;
  /// Per image (in input order) its spot evidence with peaks (empty without
  /// ExplainOptions::evidence).
  std::vector<features::FrameEvidenceResult> evidence;
};

/// Loads the checkpoint `model` as a models::Classifier (the inference path classify and
/// evaluate use: same preprocessing, same network), and writes into `out` (created if missing): filter grids,
/// feature-map grids and the network input per image, dead_maps.json + charts (over `data`
/// when given, else over `images`), Grad-CAM overlays (RGB PNG) per image/head/output,
/// saliency-per-shell charts (Grad-CAM and |gradient × input|) and shells.json, and index.html
/// linking them all. Logs progress through the log sink; never prints.
/// @throws ModelError naming the checkpoint; IoError/FormatError naming an image or `data`;
/// ConfigError naming the option at fault (n_filters, n_feature_maps, cam_block, dead_epsilon,
/// dead_image_fraction, batch_size, n_shells, geometry and its field; images must not be empty;
/// a geometry size that is not a frame's);
/// IoError if gnuplot or writing fails.
ExplainSummary explain_model(const std::filesystem::path& model,
                             const std::vector<std::filesystem::path>& images,
                             const std::filesystem::path& out,
                             const std::optional<std::filesystem::path>& data,
                             const ExplainOptions& options = {});

}  // namespace difftriage::explain
