// difftriage explain --model M --images F... --out OUT [--data D] [--geometry G.json] [--cell C]
// — what a network looks at: filters, feature maps, dead maps, Grad-CAM per head/label and its
// mass per resolution shell, and what the spots say (peaks, cells, d_min), with an index.html
// showing everything. The work is in difftriage::explain
// (explain.h); this file parses flags and writes run.json.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli_common.h"
#include "commands.h"
#include "difftriage/core/detector_geometry.h"
#include "difftriage/core/error.h"
#include "difftriage/explain/explain.h"
#include "difftriage/features/evidence_stage.h"
#include "difftriage/models/model_info.h"

namespace difftriage::cli {
namespace {

struct ExplainArgs {
  std::string model;
  std::vector<std::string> images;
  std::string out;
  std::string data;
  features::EvidenceArgs evidence;  // --geometry, --geometry-override, --cell, --no-spot-evidence
  double wavelength_angstrom = 0;
  double distance_mm = 0;
  double pixel_size_mm = 0;
  bool no_plots = false;
  bool no_grad_cam = false;
  bool no_gradient_input = false;
  bool quiet = false;
  explain::ExplainOptions options;
};

void run_explain(ExplainArgs& a) {
  const int n_geometry = (a.wavelength_angstrom > 0) + (a.distance_mm > 0) + (a.pixel_size_mm > 0);
  DT_CHECK(n_geometry == 0 || n_geometry == 3, ConfigError,
           "--wavelength, --distance and --pixel-size must be given together (all > 0)");
  const std::string& geometry_file = a.evidence.geometry_file;
  DT_CHECK(geometry_file.empty() || n_geometry == 0, ConfigError,
           "--geometry and --wavelength/--distance/--pixel-size exclude each other (the file "
           "holds all of them)");
  // The stage checks --geometry-override needs --geometry, reads the cells and the geometry.
  a.options.evidence = features::make_evidence_stage(
      a.evidence, models::read_model_metadata(a.model).spot_evidence);
  a.options.geometry_override = a.evidence.geometry_override;
  if (!geometry_file.empty()) {
    a.options.geometry = read_geometry_json(geometry_file);
  } else if (n_geometry == 3) {
    // No beam centre among these flags: each frame's own (metadata, else the frame centre).
    DetectorGeometry g;
    g.wavelength_angstrom = a.wavelength_angstrom;
    g.distance_mm = a.distance_mm;
    g.pixel_size_mm = a.pixel_size_mm;
    a.options.geometry = g;
    a.options.geometry_beam_center_from_frame = true;
  }
  a.options.plots = !a.no_plots;
  a.options.grad_cam = !a.no_grad_cam;
  a.options.gradient_input = !a.no_gradient_input;
  std::vector<std::filesystem::path> images(a.images.begin(), a.images.end());
  std::optional<std::filesystem::path> data;
  if (!a.data.empty()) data = a.data;
  // Progress of the dataset's dead-map pass (the long part; each image is logged on its own).
  std::optional<ProgressLine> progress;
  a.options.on_progress = [&](int64_t done, int64_t total) {
    if (!progress) progress.emplace("explain: dead maps", "images", total, a.quiet);
    progress->update(done);
  };
  const auto summary = explain::explain_model(a.model, images, a.out, data, a.options);
  a.options.on_progress = {};
  if (progress) progress->finish(summary.dead_maps.n_images);
  const auto& o = a.options;
  write_run_json(a.out, "explain",
                 {{"model", a.model},
                  {"images", a.images},
                  {"data", a.data},
                  {"out", a.out},
                  {"geometry_file", geometry_file},
                  {"geometry", geometry_file.empty() ? nlohmann::json(nullptr)
                                                     : geometry_to_json(*o.geometry)},
                  {"geometry_override", o.geometry_override},
                  {"cell_files", a.evidence.cell_files},
                  {"spot_evidence", o.evidence != nullptr},
                  {"n_filters", o.n_filters},
                  {"n_feature_maps", o.n_feature_maps},
                  {"dead_epsilon", o.dead_epsilon},
                  {"dead_image_fraction", o.dead_image_fraction},
                  {"max_dataset_images", o.max_dataset_images},
                  {"n_shells", o.n_shells},
                  {"cam_block", o.cam_block},
                  {"wavelength_angstrom", a.wavelength_angstrom},
                  {"distance_mm", a.distance_mm},
                  {"pixel_size_mm", a.pixel_size_mm},
                  {"plots", o.plots},
                  {"grad_cam", o.grad_cam},
                  {"gradient_input", o.gradient_input}});
  for (const auto& b : summary.dead_maps.blocks) {
    std::printf("%-8s %4lld/%-4lld channels dead (%5.1f %%), mean activation %.4g\n",
                b.block.c_str(), static_cast<long long>(b.n_dead),
                static_cast<long long>(b.n_channels), 100 * b.dead_fraction, b.mean_activation_all);
  }
  std::printf("wrote %zu files; open %s/index.html\n", summary.files.size() + 1, a.out.c_str());
}

}  // namespace

void register_explain(CLI::App& root) {
  auto a = std::make_shared<ExplainArgs>();
  CLI::App* cmd = root.add_subcommand(
      "explain",
      "Explain a model: first filters, feature maps per block, dead maps over a dataset, Grad-CAM "
      "per head/label and its mass per resolution shell (ice rings marked), and the spot "
      "evidence (peaks by role, pair lengths against each candidate cell, p per cell, d_min), "
      "in OUT/index.html");
  cmd->add_option("--model", a->model, "Checkpoint (folder or .pt/.json path)")->required();
  cmd->add_option("--images", a->images, "Frames to explain (feature maps, Grad-CAM)")
      ->required()
      ->expected(1, -1);
  cmd->add_option("--out", a->out, "Output folder (created if missing)")->required();
  cmd->add_option("--data", a->data,
                  "Dataset folder for the dead-map statistics (default: the --images)");
  cmd->add_option("--max-images", a->options.max_dataset_images,
                  "At most this many dataset images for dead maps (0 = all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--filters", a->options.n_filters, "Filters shown per conv layer")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_option("--maps", a->options.n_feature_maps, "Feature maps shown per block")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_option("--dead-epsilon", a->options.dead_epsilon,
                  "A channel is dead on an image when its max activation is <= this")
      ->capture_default_str();
  cmd->add_option("--dead-fraction", a->options.dead_image_fraction,
                  "... and dead when dead on at least this fraction of the images")
      ->capture_default_str();
  cmd->add_option("--shells", a->options.n_shells, "Resolution shells of the saliency profile")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  // --geometry (for frames without their own; shells and spot evidence), --geometry-override,
  // --cell, --no-spot-evidence: as on classify.
  add_evidence_options(*cmd, a->evidence);
  cmd->add_option("--wavelength", a->wavelength_angstrom,
                  "Wavelength in Angstrom of the original frames (default: frame metadata; "
                  "with --distance and --pixel-size, beam centre from each frame)");
  cmd->add_option("--distance", a->distance_mm,
                  "Sample-detector distance in mm (default: frame metadata)");
  cmd->add_option("--pixel-size", a->pixel_size_mm,
                  "Pixel size in mm of the original frames (default: frame metadata)");
  cmd->add_option("--cam-block", a->options.cam_block,
                  "Block whose output Grad-CAM uses, 1-based (0 = last block)")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
  cmd->add_flag("--no-plots", a->no_plots, "Skip the gnuplot figures");
  cmd->add_flag("--quiet", a->quiet, "No progress on stderr");
  cmd->add_flag("--no-grad-cam", a->no_grad_cam,
                "Skip all attribution (Grad-CAM, gradient x input, shell profiles)");
  cmd->add_flag("--no-gradient-input", a->no_gradient_input,
                "Skip the |gradient x input| shell profiles (one backward pass per output)");
  cmd->callback([a] { run_explain(*a); });
}

}  // namespace difftriage::cli
