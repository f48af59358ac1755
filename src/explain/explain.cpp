// explain_model: loads a checkpoint, computes every explanation and writes the figures and the
// index.html that shows them.
#include "difftriage/explain/explain.h"

#include <torch/utils.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <system_error>

#include "difftriage/core/atomic_file.h"
#include "difftriage/core/error.h"
#include "difftriage/core/json_text.h"
#include "difftriage/core/log.h"
#include "difftriage/dataset/dataset.h"
#include "difftriage/explain/attribution.h"
#include "difftriage/explain/spot_overlay.h"
#include "difftriage/features/ice.h"
#include "difftriage/io/image_io.h"
#include "difftriage/models/checkpoint.h"
#include "difftriage/models/classifier.h"
#include "difftriage/models/hit_score.h"
#include "difftriage/models/tensor.h"
#include "difftriage/report/charts.h"
#include "difftriage/report/html.h"

namespace difftriage::explain {
namespace {

namespace fs = std::filesystem;

std::string sanitize(const std::string& s) {
  std::string r;
  for (char c : s) r += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return r;
}

// One escaping for every page of the project (report/html.h).
using report::html_escape;

std::string fmt(double v, const char* f = "%.3g") {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

void make_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  DT_CHECK(!ec, IoError, dir.string(), ": cannot create folder: ", ec.message());
}

void validate(const ExplainOptions& o) {
  DT_CHECK(o.n_filters >= 1, ConfigError, "n_filters must be >= 1, got ", o.n_filters);
  DT_CHECK(o.n_feature_maps >= 1, ConfigError, "n_feature_maps must be >= 1, got ",
           o.n_feature_maps);
  DT_CHECK(o.dead_epsilon >= 0 && std::isfinite(o.dead_epsilon), ConfigError,
           "dead_epsilon must be finite and >= 0, got ", o.dead_epsilon);
  DT_CHECK(o.dead_image_fraction > 0 && o.dead_image_fraction <= 1, ConfigError,
           "dead_image_fraction must be in (0,1], got ", o.dead_image_fraction);
  DT_CHECK(o.batch_size >= 1, ConfigError, "batch_size must be >= 1, got ", o.batch_size);
  DT_CHECK(o.n_shells >= 1, ConfigError, "n_shells must be >= 1, got ", o.n_shells);
  DT_CHECK(o.max_dataset_images >= 0, ConfigError, "max_dataset_images must be >= 0");
  DT_CHECK(o.cam_block >= 0, ConfigError, "cam_block must be >= 0 (0 = last block), got ",
           o.cam_block);
  if (o.geometry) {
    try {
      o.geometry->validate();
    } catch (const ConfigError& e) {
      throw ConfigError(std::string("geometry: ") + e.what());
    }
  }
}

// The geometry of one frame's shells (see ExplainOptions::geometry): its metadata's, else (or
// with geometry_override) the explicit one. An explicit geometry's beam centre becomes the
// mapping's centre (the shells' origin) unless the frame's is asked for; the
// region the model saw stays where the preprocessor put it.
std::optional<DetectorGeometry> frame_geometry(const ExplainOptions& o, const DetectorMetadata& m,
                                               int64_t n_fast, int64_t n_slow,
                                               InputMapping& mapping) {
  DetectorMetadata md = m;
  md.beam_center_fast_px = mapping.center_fast_px;
  md.beam_center_slow_px = mapping.center_slow_px;
  std::optional<DetectorGeometry> own = geometry_from_metadata(md, n_fast, n_slow).geometry;
  if (own && !o.geometry_override) return own;
  if (o.geometry) {
    DetectorGeometry g = o.geometry->with_frame_size(n_fast, n_slow);
    if (o.geometry_beam_center_from_frame) {
      g.beam_center_fast_px = mapping.center_fast_px;
      g.beam_center_slow_px = mapping.center_slow_px;
    } else {
      mapping.center_fast_px = g.beam_center_fast_px;
      mapping.center_slow_px = g.beam_center_slow_px;
    }
    return g;
  }
  return own;
}

void write_rgb_png(const fs::path& file, const std::vector<uint8_t>& rgb, int64_t h, int64_t w) {
  const auto bytes = io::encode_png(rgb.data(), h, w, 3);
  write_file_atomically(
      file, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

struct Figure {
  std::string file;
  std::string caption;
};

class Page {
 public:
  void heading(const std::string& h, const std::string& intro) {
    body_ << "<h2>" << html_escape(h) << "</h2>\n<p>" << intro << "</p>\n";
  }
  void subheading(const std::string& h) { body_ << "<h3>" << html_escape(h) << "</h3>\n"; }
  void figures(const std::vector<Figure>& figs, int width_px) {
    body_ << "<div class=\"row\">\n";
    for (const auto& f : figs) {
      body_ << "<figure><a href=\"" << html_escape(f.file) << "\"><img src=\""
            << html_escape(f.file) << "\" style=\"max-width:" << width_px << "px\"></a><figcaption>"
            << html_escape(f.caption) << "</figcaption></figure>\n";
    }
    body_ << "</div>\n";
  }
  void raw(const std::string& html) { body_ << html; }
  std::string body() const { return body_.str(); }
  std::string html(const std::string& title) const {
    return "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + html_escape(title) +
           "</title>\n<style>body{font-family:sans-serif;margin:2em;max-width:1400px}"
           "figure{display:inline-block;margin:0.5em;vertical-align:top}"
           "figcaption{font-size:0.85em;max-width:420px}img{image-rendering:pixelated}"
           "table{border-collapse:collapse}td,th{border:1px solid #999;padding:0.2em 0.6em;"
           "text-align:right}</style></head><body>\n<h1>" +
           html_escape(title) + "</h1>\n" + body_.str() + "</body></html>\n";
  }

 private:
  std::ostringstream body_;
};

report::LineChart shell_chart(const std::string& title, const std::string& what,
                              const std::vector<std::pair<std::string, const ShellProfile*>>& ps) {
  const bool res = ps.front().second->has_resolution;
  report::LineChart chart{title,
                          res ? "1/d (1/Angstrom); vertical lines: hexagonal ice rings"
                              : "radius from the beam centre (original frame pixels)",
                          "fraction of " + what + " mass",
                          {},
                          {},
                          {},
                          false};
  double ymax = 0;
  for (const auto& [name, p] : ps) {
    chart.series_names.push_back(name);
    chart.xs.push_back(res ? p->inverse_d : p->radius_px);
    chart.ys.push_back(p->mass_fraction);
    for (double v : p->mass_fraction) ymax = std::max(ymax, v);
  }
  if (res) {
    const auto& x = ps.front().second->inverse_d;
    const double xmax = x.back() + (x.size() > 1 ? x[1] - x[0] : 0) / 2;
    std::vector<double> xs, ys;
    for (double d : features::kIceRingsAngstrom) {
      if (1.0 / d > xmax) continue;
      xs.insert(xs.end(), {1.0 / d, 1.0 / d, 1.0 / d});
      ys.insert(ys.end(), {0.0, ymax > 0 ? ymax : 1.0, std::nan("")});
    }
    if (!xs.empty()) {
      chart.series_names.push_back("ice Ih (3.90 ... 1.88 A)");
      chart.xs.push_back(xs);
      chart.ys.push_back(ys);
    }
  }
  return chart;
}

// One line for the page: p_hit with its evidence, the quality class and the labels at or above
// their thresholds.
std::string prediction_text(const models::Prediction& p, const models::ModelMetadata& meta) {
  const auto hit = models::score_hit({p}, meta);
  std::string text = "Prediction: ";
  text += hit.p_hit ? "p_hit " + fmt(*hit.p_hit, "%.4f") + " (" + hit.evidence + ")"
                    : std::string("no hit score");
  if (p.quality >= 0 && static_cast<size_t>(p.quality) < meta.quality_names.size()) {
    text += "; quality " + meta.quality_names[static_cast<size_t>(p.quality)];
  }
  std::string labels;
  for (size_t k = 0; k < p.label_probabilities.size() && k < meta.label_names.size(); ++k) {
    if (p.label_probabilities[k] < meta.threshold(meta.label_names[k])) continue;
    labels += (labels.empty() ? "" : ", ") + meta.label_names[k] + " " +
              fmt(p.label_probabilities[k], "%.3f");
  }
  if (!p.label_probabilities.empty()) text += "; labels " + (labels.empty() ? "none" : labels);
  return text;
}

nlohmann::json profile_json(const ShellProfile& p) {
  return {{"has_resolution", p.has_resolution},
          {"radius_px", p.radius_px},
          {"inverse_d", p.inverse_d},
          {"d_angstrom", p.d_angstrom},
          {"mass", p.mass},
          {"mass_fraction", p.mass_fraction},
          {"n_pixels", p.n_pixels},
          {"mean_per_pixel", p.mean_per_pixel}};
}

nlohmann::json evidence_to_json(const fs::path& image, const features::FrameEvidenceResult& r,
                                const std::optional<DetectorGeometry>& geometry) {
  const features::FrameEvidence& e = r.evidence;
  return {{"image", image.string()},
          {"geometry", geometry ? geometry_to_json(*geometry) : nlohmann::json(nullptr)},
          {"no_geometry_reason", e.has_geometry ? nlohmann::json(nullptr)
                                                : nlohmann::json(e.no_geometry_reason)},
          {"binning", r.binning},
          {"n_peaks", e.lattice.n_peaks},
          {"n_bragg_peaks", e.lattice.n_bragg_peaks},
          {"guard_keeps", e.guard_keeps},
          {"d_min_angstrom", e.lattice.d_min_angstrom ? nlohmann::json(*e.lattice.d_min_angstrom)
                                                      : nlohmann::json(nullptr)},
          {"pair_length_counts", e.lattice.pair_length_counts},
          {"cell", features::cell_json(r)}};
}

// One image's part of the spot-evidence section: the peak picture, the pair-length chart and
// the table of candidates.
std::string evidence_section(const fs::path& out, const std::string& dir, size_t index,
                             const fs::path& image, const AnyImage& frame,
                             const features::FrameEvidenceResult& r,
                             const std::optional<DetectorGeometry>& geometry,
                             const features::CellMatcher& matcher, bool plots,
                             const report::ChartOptions& chart_opts,
                             std::vector<std::string>& files) {
  const features::FrameEvidence& e = r.evidence;
  Page sec;
  sec.raw("<h3>Image " + std::to_string(index + 1) + ": " + html_escape(image.string()) +
          "</h3>\n");
  std::string facts = std::to_string(e.lattice.n_peaks) + " peaks, " +
                      std::to_string(e.lattice.n_bragg_peaks) + " Bragg peaks (" +
                      (e.guard_keeps ? "the veto guard keeps this frame" : "too few for the guard") +
                      "); d<sub>min</sub> " +
                      (e.lattice.d_min_angstrom ? fmt(*e.lattice.d_min_angstrom) + " &Aring;"
                                                : std::string("none")) +
                      "; peaks found at binning " + std::to_string(r.binning) + ". ";
  if (geometry) {
    facts += "Geometry: " + fmt(geometry->wavelength_angstrom) + " &Aring;, " +
             fmt(geometry->distance_mm) + " mm, " + fmt(geometry->pixel_size_mm) +
             " mm pixels, beam centre (" + fmt(geometry->beam_center_fast_px, "%.1f") + ", " +
             fmt(geometry->beam_center_slow_px, "%.1f") + ").";
  } else {
    facts += "No geometry (" + html_escape(e.no_geometry_reason) +
             "): no cell match and no d<sub>min</sub>; the veto guard still counts peaks.";
  }
  sec.raw("<p>" + facts + "</p>\n");
  const std::string pic_file = dir + "/peaks.png";
  const RgbPicture pic = draw_peaks(frame, e.peaks, r.binning, geometry, matcher.options());
  write_rgb_png(out / pic_file, pic.rgb, pic.n_slow, pic.n_fast);
  files.push_back(pic_file);
  std::vector<Figure> figs{{pic_file, "peaks by role (red Bragg, yellow weak, cyan ice ring, "
                                      "grey near the beam)"}};
  const std::vector<double> excess = matcher.excess(e.lattice);
  if (e.has_geometry) {
    std::string table = "<table><tr><th>candidate</th><th>r</th><th>p</th><th>called</th></tr>";
    for (size_t k = 0; k < r.cell_names->size() && k < e.cell_probabilities.size(); ++k) {
      table += "<tr><td>" + html_escape((*r.cell_names)[k]) + "</td><td>" +
               fmt(e.cell_scores[k], "%.3f") + "</td><td>" +
               fmt(e.cell_probabilities[k], "%.3f") + "</td><td>" +
               (e.cell_probabilities[k] >= 0.5 ? "yes" : "no") + "</td></tr>";
    }
    sec.raw(table + "</table>\n");
  }
  if (plots && e.has_geometry && !excess.empty()) {
    report::LineChart chart;
    chart.title = "pair lengths |q_i - q_j|, image " + std::to_string(index + 1);
    chart.x_label = "pair length (1/Angstrom)";
    chart.y_label = "excess over baseline (sigma); candidates scaled";
    const std::vector<double> x = features::length_bin_centres(matcher.options());
    chart.series_names.push_back("observed excess");
    chart.xs.push_back(x);
    chart.ys.push_back(excess);
    const double top = std::max(1.0, *std::max_element(excess.begin(), excess.end()));
    for (size_t k = 0; k < matcher.cells().size(); ++k) {
      const auto& pred = matcher.predicted(k);
      const double pmax = std::max(1e-12, *std::max_element(pred.begin(), pred.end()));
      std::vector<double> y(pred.size());
      for (size_t b = 0; b < pred.size(); ++b) y[b] = pred[b] / pmax * top;
      chart.series_names.push_back(matcher.cells()[k].name + " (r " +
                                   fmt(e.cell_scores.at(k), "%.2f") + ")");
      chart.xs.push_back(x);
      chart.ys.push_back(std::move(y));
    }
    const std::string chart_file = dir + "/pair_lengths.png";
    report::plot_lines(out / chart_file, chart, {chart_opts.gnuplot, 1000, 600});
    files.push_back(chart_file);
    figs.push_back({chart_file, "pair-length excess and the candidates' predicted lengths"});
  }
  sec.figures(figs, 600);
  return sec.body();
}

}  // namespace

ExplainSummary explain_model(const fs::path& model, const std::vector<fs::path>& images,
                             const fs::path& out, const std::optional<fs::path>& data,
                             const ExplainOptions& options) {
  validate(options);
  DT_CHECK(!images.empty(), ConfigError, "images: at least one image is required");
  // The one inference path: the Classifier prepares the inputs and gives the probabilities;
  // the gradients below run through its own network on those same inputs.
  const auto classifier = models::Classifier::load(model);
  auto net = classifier.loaded_model().model;
  const auto& meta = classifier.metadata();
  DT_CHECK(options.cam_block <= net->n_blocks(), ConfigError, "cam_block ", options.cam_block,
           " out of 0..", net->n_blocks(), " for ", model.string());
  net->eval();
  std::vector<AnyImage> frames;
  for (const auto& p : images) frames.push_back(io::read_image(p));
  make_dir(out);

  ExplainSummary summary;
  const report::ChartOptions chart_opts;
  Page page;
  page.raw("<p>Model: <code>" + html_escape(model.string()) + "</code> (" +
           html_escape(meta.architecture.name) + ", heads:");
  for (const auto& h : meta.heads) page.raw(" " + html_escape(h));
  page.raw("; input " + std::to_string(meta.preprocess.input_size) + "&sup2; " +
           models::input_mode_name(meta.preprocess.mode) +
           "). See docs/explain.md for how to read each picture.</p>\n");

  // ---- 1. filters ---------------------------------------------------------------------------
  if (options.plots) make_dir(out / "filters");
  const auto layers = first_filters(*net, options.n_filters);
  page.heading("First filters of every conv layer",
               "The first filters (output channels) of each convolution, the mean over input "
               "channels when a filter has several, min&ndash;max normalised over the filters "
               "shown (black = most negative weight, white = most positive). Smooth or "
               "uniform filters in deep layers are normal; all-grey filters mean the layer's "
               "weights are (near) zero.");
  std::vector<Figure> filter_figs;
  for (const auto& l : layers) {
    const std::string file = "filters/" + sanitize(l.name) + ".png";
    const std::string title = l.name + " weight " + shape_text(l.shape);
    if (options.plots) {
      report::ImageGrid grid;
      grid.title = title;
      for (size_t k = 0; k < l.images.size(); ++k) {
        grid.images.push_back(l.images[k].view());
        grid.titles.push_back("filter " + std::to_string(k));
      }
      grid.n_columns = static_cast<int>(l.images.size());
      report::plot_image_grid(out / file, grid, {chart_opts.gnuplot, 900, 300});
      summary.files.push_back(file);
    }
    filter_figs.push_back({file, title});
  }
  if (options.plots) page.figures(filter_figs, 450);

  // ---- 2. inputs and feature maps, Grad-CAM, shells -------------------------------------------
  const int64_t S = classifier.input_size();
  std::vector<torch::Tensor> inputs;  // [1,1,S,S] each
  for (const auto& f : frames) {
    const std::vector<models::PreparedFrame> one{classifier.prepare(f)};
    inputs.push_back(models::to_input_tensor(one, S));
    // A batch of one: the very forward pass Grad-CAM differentiates below.
    summary.predictions.push_back(classifier.infer(one).at(0));
  }
  page.heading("Feature maps per block",
               "For each image: the network input (after the model's preprocessing), then the "
               "first maps of each block's output (after ReLU), each map min&ndash;max "
               "normalised on its own. A black map is constant on this image (zero when the "
               "channel is dead on it).");
  nlohmann::json shells_json = nlohmann::json::array();
  nlohmann::json evidence_json = nlohmann::json::array();
  std::vector<std::string> cam_sections, evidence_sections;
  for (size_t i = 0; i < frames.size(); ++i) {
    const std::string dir = "image" + std::to_string(i + 1);
    make_dir(out / dir);
    log_message(LogLevel::kInfo, "explain: " + images[i].string());
    page.subheading("Image " + std::to_string(i + 1) + ": " + images[i].string());
    page.raw("<p>" + html_escape(prediction_text(summary.predictions[i], meta)) + "</p>\n");
    const auto input8 = to_gray8(inputs[i][0][0]);
    io::write_png(out / dir / "input.png", input8.view());
    summary.files.push_back(dir + "/input.png");
    std::vector<Figure> figs{{dir + "/input.png", "network input " + std::to_string(S) + "x" +
                                                      std::to_string(S) + " (min-max grey)"}};
    if (options.plots) {
      std::vector<torch::Tensor> blocks;
      {
        torch::NoGradGuard no_grad;
        blocks = net->forward_blocks(inputs[i]);
      }
      const auto names = net->block_names();
      for (size_t b = 0; b < blocks.size(); ++b) {
        const auto t = blocks[b][0].contiguous();  // [C,h,w]
        const int64_t n = std::min<int64_t>(options.n_feature_maps, t.size(0));
        std::vector<Image<uint8_t>> maps;
        report::ImageGrid grid;
        grid.title = names[b] + " output [" + std::to_string(t.size(0)) + "," +
                     std::to_string(t.size(1)) + "," + std::to_string(t.size(2)) + "], first " +
                     std::to_string(n) + " maps";
        for (int64_t c = 0; c < n; ++c) maps.push_back(to_gray8(t[c]));
        for (int64_t c = 0; c < n; ++c) {
          grid.images.push_back(maps[static_cast<size_t>(c)].view());
          grid.titles.push_back(std::to_string(c));
        }
        grid.n_columns = 8;
        const std::string file = dir + "/maps_" + names[b] + ".png";
        report::plot_image_grid(out / file, grid, {chart_opts.gnuplot, 1000, 1100});
        summary.files.push_back(file);
        figs.push_back({file, grid.title});
      }
    }
    page.figures(figs, 420);

    const auto& fm = metadata(frames[i]);
    const auto [n_slow, n_fast] = extents(frames[i]);
    auto mapping = input_mapping(meta.preprocess, n_slow, n_fast, &fm);
    std::optional<DetectorGeometry> geometry;
    try {
      geometry = frame_geometry(options, fm, n_fast, n_slow, mapping);
    } catch (const ConfigError& e) {
      throw ConfigError(images[i].string() + ": " + e.what());
    }
    if (options.evidence) {
      // The shells' geometry, else the simulator's sidecar beside the image.
      GeometryLookup lookup;
      if (geometry) {
        lookup.geometry = geometry;
      } else {
        features::GeometrySource sidecar_only;
        lookup = features::resolve_geometry(sidecar_only, frames[i], images[i]);
      }
      auto r = options.evidence->measure(frames[i], lookup, /*keep_peaks=*/true);
      evidence_sections.push_back(
          evidence_section(out, dir, i, images[i], frames[i], r, lookup.geometry,
                           options.evidence->spot_evidence().matcher(), options.plots,
                           chart_opts, summary.files));
      evidence_json.push_back(evidence_to_json(images[i], r, lookup.geometry));
      summary.evidence.push_back(std::move(r));
    }

    if (!options.grad_cam) continue;
    // Grad-CAM of every head/output, its overlay and its shell profile.
    const auto cams = grad_cam_all(net, inputs[i], meta, options.cam_block - 1);
    std::vector<std::pair<std::string, ShellProfile>> profiles;
    std::vector<Figure> cam_figs, shell_figs;
    nlohmann::json img_json = {{"image", images[i].string()},
                               {"profiles", nlohmann::json::object()}};
    for (const auto& [name, cam] : cams) {
      const std::string file = dir + "/gradcam_" + sanitize(name) + ".png";
      write_rgb_png(out / file, overlay_rgb(inputs[i][0][0], cam), S, S);
      summary.files.push_back(file);
      cam_figs.push_back({file, name});
      const auto c = cam.contiguous();
      profiles.emplace_back(
          name, shell_profile(c.data_ptr<float>(), mapping, geometry, options.n_shells));
      img_json["profiles"][name] = profile_json(profiles.back().second);
    }
    std::vector<std::pair<std::string, ShellProfile>> gxi_profiles;
    if (options.gradient_input) {
      nlohmann::json gj = nlohmann::json::object();
      for (const auto& [name, g] : gradient_times_input_all(net, inputs[i], meta)) {
        gxi_profiles.emplace_back(
            name, shell_profile(g.data_ptr<float>(), mapping, geometry, options.n_shells));
        gj[name] = profile_json(gxi_profiles.back().second);
      }
      img_json["gradient_input_profiles"] = std::move(gj);
    }
    if (options.plots) {
      const std::string kind = geometry ? "resolution" : "radius";
      for (const auto& head : net->heads()) {
        for (int which = 0; which < 2; ++which) {
          const auto& source = which == 0 ? profiles : gxi_profiles;
          std::vector<std::pair<std::string, const ShellProfile*>> ps;
          for (const auto& [name, p] : source)
            if (name.compare(0, head.size() + 1, head + "/") == 0) ps.emplace_back(name, &p);
          if (ps.empty()) continue;
          const std::string what = which == 0 ? "Grad-CAM" : "|gradient x input|";
          const std::string file =
              dir + (which == 0 ? "/shells_" : "/shells_gxi_") + sanitize(head) + ".png";
          report::plot_lines(out / file,
                             shell_chart(what + " mass per " + kind + " shell, head " + head +
                                             ", image " + std::to_string(i + 1),
                                         what, ps),
                             {chart_opts.gnuplot, 1000, 600});
          summary.files.push_back(file);
          shell_figs.push_back({file, what + ", head " + head});
        }
      }
    }
    Page sec;
    sec.raw("<h3>Image " + std::to_string(i + 1) + ": " + html_escape(images[i].string()) +
            "</h3>\n");
    sec.figures(cam_figs, 256);
    if (!shell_figs.empty()) {
      sec.raw(std::string("<p>Shells: ") +
              (geometry ? "resolution shells, equal steps of 1/d, geometry " +
                              fmt(geometry->wavelength_angstrom) + " &Aring;, " +
                              fmt(geometry->distance_mm) + " mm, " + fmt(geometry->pixel_size_mm) +
                              " mm pixels"
                        : std::string("no geometry (the frames carry no complete flat-detector "
                                      "metadata and none was given): shells of equal radius in "
                                      "original frame pixels")) +
              ".</p>\n");
      sec.figures(shell_figs, 600);
    }
    cam_sections.push_back(sec.body());
    shells_json.push_back(std::move(img_json));
    summary.shell_profiles.push_back(std::move(profiles));
    summary.gradient_input_profiles.push_back(std::move(gxi_profiles));
  }

  // ---- 3. dead maps -----------------------------------------------------------------------------
  DeadMapAccumulator acc(*net);
  std::string source = "images";
  if (data) {
    const auto ds = dataset::load_dataset(*data);
    DT_CHECK(!ds.samples.empty(), FormatError, data->string(), ": the label files list no images");
    size_t n = ds.samples.size();
    if (options.max_dataset_images > 0)
      n = std::min<size_t>(n, static_cast<size_t>(options.max_dataset_images));
    log_message(LogLevel::kInfo,
                "explain: dead maps over " + std::to_string(n) + " images of " + data->string());
    std::vector<models::PreparedFrame> batch;
    for (size_t k = 0; k < n; ++k) {
      batch.push_back(classifier.prepare(io::read_image(ds.samples[k].path)));
      if (batch.size() == static_cast<size_t>(options.batch_size) || k + 1 == n) {
        acc.add(models::to_input_tensor(batch, S), options.dead_epsilon);
        batch.clear();
        if (options.on_progress) options.on_progress(static_cast<int64_t>(k + 1), static_cast<int64_t>(n));
      }
    }
    source = data->string();
  } else {
    for (const auto& x : inputs) acc.add(x, options.dead_epsilon);
  }
  summary.dead_maps = acc.report(options.dead_epsilon, options.dead_image_fraction, source);
  const auto& dm = summary.dead_maps;
  write_file_atomically(out / "dead_maps.json", dump_json(to_json(dm), 2) + "\n");
  summary.files.push_back("dead_maps.json");
  page.heading(
      "Dead feature maps",
      "A channel is <em>dead on an image</em> when its maximum over the block's output "
      "map (after ReLU) is &le; " +
          fmt(dm.epsilon) +
          "; it is <em>dead</em> when dead "
          "on &ge; " +
          fmt(100 * dm.dead_image_fraction) + " % of the " + std::to_string(dm.n_images) +
          " images (" + html_escape(dm.source) +
          "). 100 % dead means the block passes nothing on: everything after it sees "
          "constants. Per-channel numbers are in <a href=\"dead_maps.json\">dead_maps.json</a>.");
  std::ostringstream table;
  table << "<table><tr><th>block</th><th>channels</th><th>dead</th><th>dead %</th>"
           "<th>mean activation</th></tr>\n";
  report::BarChart dead_chart{
      "Dead channels per block (" + std::to_string(dm.n_images) + " images)",
      "block",
      "dead channels (%)",
      {},
      {}};
  report::BarChart mean_chart{
      "Mean activation per block (mean over channels)", "block", "mean activation", {}, {}};
  for (const auto& b : dm.blocks) {
    table << "<tr><td>" << b.block << "</td><td>" << b.n_channels << "</td><td>" << b.n_dead
          << "</td><td>" << fmt(100 * b.dead_fraction, "%.1f") << "</td><td>"
          << fmt(b.mean_activation_all, "%.4g") << "</td></tr>\n";
    dead_chart.categories.push_back(b.block);
    dead_chart.values.push_back(std::round(1000 * b.dead_fraction) / 10);
    mean_chart.categories.push_back(b.block);
    mean_chart.values.push_back(std::round(1e4 * b.mean_activation_all) / 1e4);
  }
  table << "</table>\n";
  page.raw(table.str());
  if (options.plots && !dm.blocks.empty()) {
    report::plot_bar_chart(out / "dead_maps.png", dead_chart, {chart_opts.gnuplot, 900, 500});
    report::plot_bar_chart(out / "mean_activation.png", mean_chart, {chart_opts.gnuplot, 900, 500});
    summary.files.push_back("dead_maps.png");
    summary.files.push_back("mean_activation.png");
    page.figures({{"dead_maps.png", "percentage of dead channels per block"},
                  {"mean_activation.png", "mean activation per block"}},
                 600);
  }

  // ---- 4. Grad-CAM section --------------------------------------------------------------------
  if (options.grad_cam) {
    page.heading(
        "Grad-CAM per head and output, and its mass per resolution shell",
        "Grad-CAM at " +
            (options.cam_block == 0 ? std::string("the last block")
                                    : "block" + std::to_string(options.cam_block)) +
            ": each channel weighted by the mean gradient of the output's "
            "score (logit; sigmoid output for mosaic), summed, ReLU, upsampled to the input and "
            "scaled to its maximum. Colour (blue &rarr; red) shows where the evidence FOR that "
            "output lies, over the grey input. The shell charts sum the map over rings of equal "
            "resolution: an ice head that looks at ice should peak at the vertical ice-ring lines; "
            "a multilattice head that looks at spots should spread over the shells where spots "
            "are. Grad-CAM is only as fine as the last block (e.g. 8&times;8 cells for compact on "
            "128&sup2;), too coarse to separate neighbouring rings, so the same profile is also "
            "drawn for |gradient &times; input| (pixel resolution, shells_gxi_*.png). Mass grows "
            "with shell area; shells.json also holds the mean per pixel. Numbers in <a "
            "href=\"shells.json\">shells.json</a>.");
    for (const auto& s : cam_sections) page.raw(s);
    write_file_atomically(out / "shells.json", dump_json(shells_json, 1) + "\n");
    summary.files.push_back("shells.json");
  }

  // ---- 5. spot evidence -------------------------------------------------------------------
  if (options.evidence) {
    page.heading(
        "What the spots say: peaks, cells and resolution",
        "The triage's spot evidence, measured on the native frame (max-binned to at most " +
            std::to_string(features::kMaxEvidenceSidePx) +
            " pixels a side first): every peak found, circled by its role &mdash; red: Bragg "
            "peak (SNR &ge; the guard's threshold, off the ice rings and the beam centre; the "
            "veto guard and d<sub>min</sub> count these), yellow: weaker peak, cyan: on an ice "
            "ring, grey: near the beam. The chart is the histogram of the lengths |q<sub>i</sub> "
            "&minus; q<sub>j</sub>| between peaks (reciprocal-lattice vectors, whatever the "
            "crystal's orientation) as its excess over a smooth baseline, beside each candidate "
            "cell's predicted lengths: r is their correlation, p the calibrated probability that "
            "a lattice of that cell is on the frame. Numbers in <a "
            "href=\"evidence.json\">evidence.json</a>.");
    for (const auto& s : evidence_sections) page.raw(s);
    write_file_atomically(out / "evidence.json", dump_json(evidence_json, 1) + "\n");
    summary.files.push_back("evidence.json");
  }

  write_file_atomically(out / "index.html", page.html("difftriage explain"));
  summary.files.push_back("index.html");
  return summary;
}

}  // namespace difftriage::explain
