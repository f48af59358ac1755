// The triage run report (include/difftriage/stream/run_report.h): aggregates along the run,
// thumbnails through the model's preprocessing, and the self-contained report.html.
#include "difftriage/stream/run_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "difftriage/core/atomic_file.h"
#include "difftriage/core/error.h"
#include "difftriage/core/json_text.h"
#include "difftriage/core/labels.h"
#include "difftriage/features/spots.h"
#include "difftriage/io/image_io.h"
#include "difftriage/models/preprocess.h"
#include "difftriage/report/html.h"

namespace difftriage::stream {
namespace fs = std::filesystem;
using nlohmann::json;
using report::html_escape;

namespace {

// d_min bins of the report: [0, 1.5), [1.5, 2), ..., [6, ∞), then "none".
constexpr std::array<double, 6> kDminBinEdges = {1.5, 2.0, 2.5, 3.0, 4.0, 6.0};

std::string d_min_bin_name(size_t k) {
  static const char* const kNames[] = {"< 1.5", "1.5-2", "2-2.5", "2.5-3",
                                       "3-4",   "4-6",   ">= 6",  "none"};
  return kNames[k];
}

}  // namespace

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string fmt(double v, const char* f = "%.3g") {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

double number_or_nan(const json& j, const char* key) {
  if (!j.is_object()) return kNaN;
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : kNaN;
}

// Rings of radius r around (cx, cy) in an RGB image, red, one pixel wide.
void draw_ring(std::vector<uint8_t>& rgb, int64_t w, int64_t h, double cx, double cy, double r) {
  const int n_steps = std::max(16, static_cast<int>(8 * r));
  for (int k = 0; k < n_steps; ++k) {
    const double a = 2 * M_PI * k / n_steps;
    const auto x = static_cast<int64_t>(std::lround(cx + r * std::cos(a)));
    const auto y = static_cast<int64_t>(std::lround(cy + r * std::sin(a)));
    if (x < 0 || y < 0 || x >= w || y >= h) continue;
    uint8_t* p = &rgb[static_cast<size_t>(3 * (y * w + x))];
    p[0] = 255, p[1] = 30, p[2] = 30;
  }
}

// A row's p_hit as the model card defines it cannot be recovered from the row in general (it
// depends on the heads); the caption shows p(blank) when the row has it.
std::string row_caption(const json& row) {
  std::string c;
  if (row.contains("series") && row["series"].is_number_integer()) {
    c = "series " + std::to_string(row["series"].get<int64_t>()) + " ";
  } else if (row.contains("path") && row["path"].is_string()) {
    c = fs::path(row["path"].get<std::string>()).filename().string() + " ";
  }
  if (row.contains("frame") && row["frame"].is_number_integer()) {
    c += "frame " + std::to_string(row["frame"].get<int64_t>());
  }
  const double p_blank = row.contains("p") ? number_or_nan(row["p"], "blank") : kNaN;
  if (std::isfinite(p_blank)) c += ", p(blank) " + fmt(p_blank, "%.2f");
  if (row.contains("quality") && row["quality"].is_string()) {
    c += ", " + row["quality"].get<std::string>();
  }
  return c;
}

struct Candidate {
  std::string path;
  int64_t frame = 0;
  std::string caption;
};

// `n` of `all` at even spacing along the run (all of them when there are no more than n).
std::vector<Candidate> spread(const std::vector<Candidate>& all, int n) {
  std::vector<Candidate> out;
  if (n <= 0 || all.empty()) return out;
  const size_t k = std::min(all.size(), static_cast<size_t>(n));
  for (size_t i = 0; i < k; ++i) out.push_back(all[i * all.size() / k]);
  return out;
}

std::optional<models::PreprocessOptions> find_preprocess(const json& summary) {
  if (summary.contains("model_info") && summary["model_info"].is_object()) {
    try {
      return models::metadata_from_json(summary["model_info"], "summary.json model_info")
          .preprocess;
    } catch (const Error&) {
    }
  }
  if (summary.contains("model") && summary["model"].is_string()) {
    try {
      return models::read_model_metadata(summary["model"].get<std::string>()).preprocess;
    } catch (const Error&) {
    }
  }
  return std::nullopt;
}

std::string counts_table(const TriageCounts& c, const json& summary) {
  // The numbers come from summary.json itself (the test compares them exactly), the rows'
  // recount beside them shows that the folder is consistent.
  std::string s = "<table id=\"counts\"><tr><th class=\"l\">counter</th><th>summary.json</th>"
                  "<th>rows of results.jsonl</th></tr>";
  const json recount = c.to_json();
  for (const char* key : {"n_frames", "n_kept", "n_veto", "n_uncertain", "n_unreadable",
                          "n_untriaged", "hit_rate"}) {
    const bool rate = std::string(key) == "hit_rate";
    std::string given = "n/a";
    if (summary.contains(key) && summary[key].is_number()) {
      given = rate ? fmt(summary[key].get<double>(), "%.6g")
                   : std::to_string(summary[key].get<int64_t>());
    }
    const std::string mine =
        rate ? fmt(recount[key].get<double>(), "%.6g") : std::to_string(recount[key].get<int64_t>());
    s += std::string("<tr><td class=\"l\">") + key + "</td><td data-count=\"" + key + "\">" +
         given + "</td><td>" + mine + "</td></tr>";
  }
  return s + "</table>\n";
}

std::string command_text(const json& run) {
  if (!run.is_object()) return "";
  if (run.contains("command_line") && run["command_line"].is_string()) {
    return run["command_line"].get<std::string>();
  }
  std::string c = "difftriage " + run.value("command", std::string("?"));
  if (run.contains("options") && run["options"].is_object()) {
    for (const auto& [key, value] : run["options"].items()) {
      if (value.is_null() || (value.is_boolean() && !value.get<bool>())) continue;
      if (key == "inputs" && value.is_array()) {
        for (const auto& v : value) c += " " + (v.is_string() ? v.get<std::string>() : v.dump());
        continue;
      }
      c += " --" + key;
      if (value.is_boolean()) continue;
      c += " " + (value.is_string() ? value.get<std::string>() : value.dump());
    }
  }
  return c;
}

std::string model_card(const json& summary) {
  std::string s = "<table>";
  auto row = [&](const std::string& k, const std::string& v) {
    s += "<tr><th class=\"l\">" + html_escape(k) + "</th><td class=\"l\">" + v + "</td></tr>";
  };
  if (summary.contains("model")) {
    row("model", "<code>" + html_escape(summary["model"].is_string()
                                             ? summary["model"].get<std::string>()
                                             : summary["model"].dump()) +
                     "</code>");
  }
  if (summary.contains("model_info") && summary["model_info"].is_object()) {
    for (const auto& [key, value] : summary["model_info"].items()) {
      std::string text = value.dump();
      if (text.size() > 600) text = text.substr(0, 600) + " …";
      row(key, "<code>" + html_escape(text) + "</code>");
    }
  }
  for (const char* key : {"status", "series", "protocol", "frames_per_s", "elapsed_s", "version",
                          "git_hash"}) {
    if (summary.contains(key) && !summary[key].is_null()) {
      row(key, html_escape(summary[key].is_string() ? summary[key].get<std::string>()
                                                    : summary[key].dump()));
    }
  }
  return s + "</table>\n";
}

}  // namespace

DecisionKind decision_kind(const TriageDecision& d) noexcept {
  if (d.veto) return DecisionKind::kVeto;
  if (d.unreadable) return DecisionKind::kUnreadable;
  if (d.untriaged) return DecisionKind::kUntriaged;
  if (d.uncertain) return DecisionKind::kUncertain;
  return DecisionKind::kHit;
}

std::vector<uint8_t> make_thumbnail_png(const AnyImage& frame,
                                        const models::PreprocessOptions& preprocess,
                                        int max_side_px, int n_spots) {
  DT_CHECK(max_side_px >= 16, ConfigError, "thumbnail side must be >= 16 px, got ", max_side_px);
  const models::Preprocessor pre(preprocess);
  const int64_t side = pre.input_size();
  Image<float> input(side, side, 0.0f);
  pre.preprocess_into(frame, input.data());
  // Display range: 1st to 99.9th percentile, so a few hot pixels do not turn the frame black.
  std::vector<float> sorted(input.data(), input.data() + input.size());
  const auto at = [&](double q) {
    const auto k = static_cast<size_t>(q * static_cast<double>(sorted.size() - 1));
    std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(k), sorted.end());
    return static_cast<double>(sorted[k]);
  };
  const double lo = at(0.01);
  double hi = at(0.999);
  if (!(hi > lo)) hi = lo + 1.0;
  // The brightest spots of the classical finder on what the model saw.
  features::SpotFinderOptions so;
  so.min_excess = 0.05 * (hi - lo);  // the input's units depend on the model's transform
  std::vector<features::Spot> spots = features::find_spots(input.view(), so);
  std::sort(spots.begin(), spots.end(),
            [](const features::Spot& a, const features::Spot& b) { return a.peak > b.peak; });
  if (static_cast<int>(spots.size()) > n_spots) spots.resize(static_cast<size_t>(std::max(0, n_spots)));
  // Max-pool to the thumbnail (bright spots survive the reduction).
  const int64_t factor = (side + max_side_px - 1) / max_side_px;
  const int64_t n = (side + factor - 1) / factor;
  std::vector<uint8_t> rgb(static_cast<size_t>(3 * n * n), 0);
  std::vector<float> pooled(static_cast<size_t>(n * n), -std::numeric_limits<float>::infinity());
  for (int64_t s = 0; s < side; ++s) {
    for (int64_t f = 0; f < side; ++f) {
      float& cell = pooled[static_cast<size_t>((s / factor) * n + f / factor)];
      cell = std::max(cell, input.data()[s * side + f]);
    }
  }
  for (size_t i = 0; i < pooled.size(); ++i) {
    const double v = std::clamp((pooled[i] - lo) / (hi - lo), 0.0, 1.0);
    const auto g = static_cast<uint8_t>(std::lround(255.0 * v));
    rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = g;
  }
  const double ring_px = std::max(3.0, 0.04 * static_cast<double>(n));
  for (const auto& sp : spots) {
    draw_ring(rgb, n, n, sp.fast_px / static_cast<double>(factor) - 0.5,
              sp.slow_px / static_cast<double>(factor) - 0.5, ring_px);
  }
  return io::encode_png(rgb.data(), n, n, 3);
}

void RunTimeline::add(const json& row, double t_s) {
  const TriageDecision d = decision_from_row(row);
  counts_.add(d);
  const int64_t index = n_rows_++;
  if (!std::isfinite(t_s)) ++n_without_time_;
  if (index / bin_width_ >= kMaxBins) {  // full: merge neighbours, each bin covers twice as much
    std::vector<Bin> merged;
    for (size_t i = 0; i < bins_.size(); i += 2) {
      Bin b = bins_[i];
      if (i + 1 < bins_.size()) {
        const Bin& o = bins_[i + 1];
        b.n += o.n, b.n_readable += o.n_readable, b.n_kept_readable += o.n_kept_readable;
        b.n_ice += o.n_ice, b.n_badice += o.n_badice, b.n_p += o.n_p;
        b.sum_p_ice += o.sum_p_ice, b.sum_p_badice += o.sum_p_badice;
        if (std::isfinite(o.t_last)) b.t_last = o.t_last;
        if (!std::isfinite(b.t_first)) b.t_first = o.t_first;
      }
      merged.push_back(b);
    }
    bins_ = std::move(merged);
    bin_width_ *= 2;
  }
  const auto b_index = static_cast<size_t>(index / bin_width_);
  if (b_index >= bins_.size()) {
    Bin b;
    b.first = static_cast<int64_t>(b_index) * bin_width_;
    bins_.push_back(b);
  }
  Bin& b = bins_[b_index];
  ++b.n;
  if (!d.unreadable) {
    ++b.n_readable;
    if (d.keep()) ++b.n_kept_readable;
  }
  if (std::isfinite(t_s)) {
    if (!std::isfinite(b.t_first)) b.t_first = t_s;
    b.t_last = t_s;
  }
  const json* p = row.contains("p") && row["p"].is_object() ? &row["p"] : nullptr;
  if (p != nullptr && std::isfinite(number_or_nan(*p, "ice"))) {
    ++b.n_p;
    b.sum_p_ice += number_or_nan(*p, "ice");
    const double bad = number_or_nan(*p, "badice");
    b.sum_p_badice += std::isfinite(bad) ? bad : 0.0;
  }
  if (row.contains("labels") && row["labels"].is_object()) {
    for (size_t k = 0; k < kNumLabels; ++k) {
      const auto it = row["labels"].find(kLabelNames[k]);
      if (it != row["labels"].end() && it->is_number() && it->get<double>() > 0.5) {
        ++label_counts_[k];
        if (k == static_cast<size_t>(Label::kIce)) ++b.n_ice;
        if (k == static_cast<size_t>(Label::kBadice)) {
          ++b.n_badice;
          last_badice_index_ = index;
        }
      }
    }
  }
  if (row.contains("quality") && row["quality"].is_string()) {
    const std::string q = row["quality"].get<std::string>();
    for (size_t k = 0; k < kNumQualities; ++k) {
      if (q == kQualityNames[k]) ++quality_counts_[k];
    }
  }
  const auto d_min = row.find("d_min_angstrom");
  if (d_min != row.end() && d_min->is_number()) {
    size_t k = 0;
    while (k < kDminBinEdges.size() && d_min->get<double>() >= kDminBinEdges[k]) ++k;
    ++d_min_counts_[k];
  } else {
    ++d_min_counts_.back();
  }
  const auto cell = row.find("cell");
  if (cell != row.end() && cell->is_object() && cell->contains("names") &&
      (*cell)["names"].is_array()) {
    for (const auto& name : (*cell)["names"]) {
      if (name.is_string()) ++cell_counts_[name.get<std::string>()];
    }
  }
}

json RunTimeline::to_json() const {
  json bins = {{"first_frame", json::array()}, {"n_frames", json::array()},
               {"hit_rate", json::array()},    {"p_ice", json::array()},
               {"p_badice", json::array()},    {"t_s", json::array()}};
  for (const Bin& b : bins_) {
    bins["first_frame"].push_back(b.first);
    bins["n_frames"].push_back(b.n);
    bins["hit_rate"].push_back(b.n_readable > 0 ? json(static_cast<double>(b.n_kept_readable) /
                                                       static_cast<double>(b.n_readable))
                                                 : json(nullptr));
    bins["p_ice"].push_back(b.n_p > 0 ? json(b.sum_p_ice / static_cast<double>(b.n_p)) : json(nullptr));
    bins["p_badice"].push_back(b.n_p > 0 ? json(b.sum_p_badice / static_cast<double>(b.n_p))
                                         : json(nullptr));
    bins["t_s"].push_back(std::isfinite(b.t_first) ? json(0.5 * (b.t_first + b.t_last))
                                                    : json(nullptr));
  }
  json quality = json::object(), labels = json::object();
  for (size_t k = 0; k < kNumQualities; ++k) quality[kQualityNames[k]] = quality_counts_[k];
  for (size_t k = 0; k < kNumLabels; ++k) labels[kLabelNames[k]] = label_counts_[k];
  json d_min = json::object();
  for (size_t k = 0; k < d_min_counts_.size(); ++k) d_min[d_min_bin_name(k)] = d_min_counts_[k];
  return {{"counts", counts_.to_json()}, {"quality", quality}, {"labels", labels},
          {"d_min_angstrom", d_min}, {"cells", cell_counts_},
          {"frames_per_bin", bin_width_}, {"bins", bins}};
}

std::string RunTimeline::charts_html(double elapsed_s) const {
  const TriageCounts& c = counts_;
  const int64_t n_hit = c.n_kept - c.n_uncertain - c.n_unreadable - c.n_untriaged;
  report::BarChart decisions{"Decisions", "", "frames",
                             {kDecisionNames.begin(), kDecisionNames.end()},
                             {static_cast<double>(n_hit), static_cast<double>(c.n_veto),
                              static_cast<double>(c.n_uncertain),
                              static_cast<double>(c.n_unreadable),
                              static_cast<double>(c.n_untriaged)}};
  // Rolling means over about 1/16 of the run (at least one bin), so that a short run's
  // bins of one or two frames do not draw a comb: numerator and denominator summed over the
  // window, so a bin counts by its frames.
  const int n_bins = static_cast<int>(bins_.size());
  const int half = std::max(0, n_bins / 32);
  auto rolling = [&](auto num, auto den) {
    std::vector<double> out;
    for (int i = 0; i < n_bins; ++i) {
      double a = 0, b = 0;
      for (int j = std::max(0, i - half); j <= std::min(n_bins - 1, i + half); ++j) {
        a += num(bins_[static_cast<size_t>(j)]);
        b += den(bins_[static_cast<size_t>(j)]);
      }
      out.push_back(b > 0 ? a / b : kNaN);
    }
    return out;
  };
  const auto hit = rolling([](const Bin& b) { return static_cast<double>(b.n_kept_readable); },
                           [](const Bin& b) { return static_cast<double>(b.n_readable); });
  const auto ice = rolling([](const Bin& b) { return static_cast<double>(b.n_ice); },
                           [](const Bin& b) { return static_cast<double>(b.n); });
  const auto badice = rolling([](const Bin& b) { return static_cast<double>(b.n_badice); },
                              [](const Bin& b) { return static_cast<double>(b.n); });
  std::vector<double> x_frame, x_time;
  const bool real_time = n_rows_ > 0 && n_without_time_ == 0;
  for (const Bin& b : bins_) {
    const double centre = static_cast<double>(b.first) + 0.5 * static_cast<double>(b.n);
    x_frame.push_back(centre);
    x_time.push_back(real_time ? 0.5 * (b.t_first + b.t_last)
                     : elapsed_s > 0 && n_rows_ > 0
                         ? centre * elapsed_s / static_cast<double>(n_rows_)
                         : kNaN);
  }
  const int64_t window = bin_width_ * (2 * half + 1);
  const std::string per = "rolling over " + std::to_string(window) + " frame" + (window > 1 ? "s" : "");
  report::LineChart hit_frames{"Hit rate along the run (" + per + ")", "frame index",
                               "hit rate", {"hit rate"}, {x_frame}, {hit}};
  report::LineChart hit_time{"Hit rate against time (" + per + ")",
                             real_time ? "seconds since the run started"
                                       : "seconds (at the run's mean rate)",
                             "hit rate", {"hit rate"}, {x_time}, {hit}};
  report::LineChart ice_chart{"Ice and badice along the run (" + per + ")",
                              "frame index", "fraction of frames",
                              {"ice", "badice"}, {x_frame, x_frame}, {ice, badice}};
  report::BarChart quality{"Quality classes", "", "frames", {}, {}};
  for (size_t k = 0; k < kNumQualities; ++k) {
    quality.categories.emplace_back(kQualityNames[k]);
    quality.values.push_back(static_cast<double>(quality_counts_[k]));
  }
  report::BarChart forms{"Crystal forms, multilattice and ice (labels)", "", "frames", {}, {}};
  for (size_t k = 1; k < kNumLabels; ++k) {
    forms.categories.emplace_back(kLabelNames[k]);
    forms.values.push_back(static_cast<double>(label_counts_[k]));
  }
  report::BarChart resolution{"Resolution the Bragg peaks reach (d_min, Å)", "", "frames", {}, {}};
  for (size_t k = 0; k < d_min_counts_.size(); ++k) {
    resolution.categories.emplace_back(d_min_bin_name(k));
    resolution.values.push_back(static_cast<double>(d_min_counts_[k]));
  }
  report::BarChart cells{"Crystal forms from the spot evidence (cell.names)", "", "frames", {}, {}};
  for (const auto& [name, n] : cell_counts_) {
    cells.categories.push_back(name);
    cells.values.push_back(static_cast<double>(n));
  }
  std::string s = "<div class=\"charts\">";
  s += report::render_svg(decisions);
  s += report::render_svg(hit_frames);
  s += report::render_svg(hit_time);
  s += report::render_svg(ice_chart);
  s += report::render_svg(quality);
  s += report::render_svg(forms);
  s += report::render_svg(resolution);
  if (!cells.categories.empty()) s += report::render_svg(cells);
  return s + "</div>\n";
}

struct TriageReportBuilder::Candidates {
  std::map<DecisionKind, std::vector<Candidate>> by_kind;
};

TriageReportBuilder::TriageReportBuilder(TriageReportOptions options)
    : options_(std::move(options)), candidates_(std::make_unique<Candidates>()) {}
TriageReportBuilder::~TriageReportBuilder() = default;

void TriageReportBuilder::add(const json& row) {
  timeline_.add(row);
  const DecisionKind kind = decision_kind(decision_from_row(row));
  Candidate cand;
  if (row.contains("path") && row["path"].is_string()) cand.path = row["path"].get<std::string>();
  if (row.contains("frame") && row["frame"].is_number_integer()) cand.frame = row["frame"].get<int64_t>();
  if (kind == DecisionKind::kUnreadable) {
    ++n_errors_;
    if (n_errors_ <= options_.max_listed_errors) {
      const std::string err = row.contains("error") && row["error"].is_string()
                                  ? row["error"].get<std::string>()
                                  : std::string("(no message)");
      errors_ += "<tr><td class=\"l\">" + html_escape(row_caption(row)) + "</td><td class=\"l\">" +
                 html_escape(err) + "</td></tr>";
    }
    return;  // no pixels to show
  }
  // Frames on disk only (a stream's rows have no path: their examples come made).
  if (cand.path.empty()) return;
  cand.caption = row_caption(row);
  candidates_->by_kind[kind].push_back(std::move(cand));
}

std::string render_triage_report(const fs::path& results, const json& summary, const json& run,
                                 const TriageReportOptions& options) {
  std::ifstream in(results, std::ios::binary);
  DT_CHECK(in.good(), IoError, "cannot read ", results.string());
  TriageReportBuilder builder(options);
  int64_t line_no = 0;
  std::string line;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    try {
      builder.add(json::parse(line));
    } catch (const std::exception& e) {
      throw FormatError(results.string() + " line " + std::to_string(line_no) + ": " + e.what());
    }
  }
  DT_CHECK(!in.bad(), IoError, "cannot read ", results.string());
  return builder.render(summary, run);
}

std::string TriageReportBuilder::render(const json& summary, const json& run) const {
  const TriageReportOptions& options = options_;
  const RunTimeline& timeline = timeline_;
  auto& candidates = candidates_->by_kind;
  const std::string& errors = errors_;
  const int64_t n_errors = n_errors_;
  const std::optional<models::PreprocessOptions> pre =
      options.preprocess ? options.preprocess : find_preprocess(summary);
  std::string strips;
  for (size_t k = 0; k < kDecisionNames.size(); ++k) {
    const auto kind = static_cast<DecisionKind>(k);
    if (kind == DecisionKind::kUnreadable || options.n_examples <= 0) continue;
    std::string figs;
    const auto given = options.examples.find(kind);
    if (given != options.examples.end() && !given->second.empty()) {
      for (size_t i = 0; i < given->second.size() && static_cast<int>(i) < options.n_examples; ++i) {
        const auto& ex = given->second[i];
        figs += "<figure><img src=\"" + report::png_data_uri(ex.png) + "\" alt=\"" +
                html_escape(ex.caption) + "\"><figcaption>" + html_escape(ex.caption) +
                "</figcaption></figure>";
      }
    } else {
      for (const Candidate& c : spread(candidates[kind], options.n_examples)) {
        std::string why;
        if (c.path.empty()) {
          why = "pixels not on disk";
        } else if (!pre) {
          why = "the model's preprocessing is unknown";
        } else {
          try {
            io::ReadOptions ro;
            ro.frame = c.frame;
            const auto png = make_thumbnail_png(io::read_image(c.path, ro), *pre,
                                                options.thumbnail_side_px);
            figs += "<figure><img src=\"" + report::png_data_uri(png) + "\" alt=\"" +
                    html_escape(c.caption) + "\"><figcaption>" + html_escape(c.caption) +
                    "</figcaption></figure>";
            continue;
          } catch (const std::exception& e) {
            why = e.what();
          }
        }
        figs += "<figure><figcaption>" + html_escape(c.caption) + ": no thumbnail (" +
                html_escape(why) + ")</figcaption></figure>";
      }
    }
    if (figs.empty()) continue;
    strips += "<h3>" + std::string(kDecisionNames[k]) + "</h3><div class=\"strip\">" + figs +
              "</div>\n";
  }

  std::string body;
  const std::string command = command_text(run);
  if (!command.empty()) body += "<p>Command: <code id=\"command\">" + html_escape(command) + "</code></p>\n";
  body += "<h2>Counts</h2>\n" + counts_table(timeline.counts(), summary);
  body += "<h2>Along the run</h2>\n" + timeline.charts_html(number_or_nan(summary, "elapsed_s"));
  body += "<p class=\"muted\">Hit rate = kept readable frames / readable frames. Rows carry no "
          "clock: the time axis of a finished run assumes its mean rate.</p>\n";
  body += "<h2>Example frames</h2>\n<p class=\"muted\">As the model sees them (its own "
          "preprocessing), the 10 brightest spots of the classical spot finder ringed in red; at "
          "most " + std::to_string(options.n_examples) + " per decision, spread along the run.</p>\n" +
          (strips.empty() ? std::string("<p>No frames to show.</p>\n") : strips);
  body += "<h2>Unreadable frames (" + std::to_string(n_errors) + ")</h2>\n";
  if (n_errors > 0) {
    body += "<table id=\"unreadable\"><tr><th class=\"l\">frame</th><th class=\"l\">error</th></tr>" +
            errors + "</table>\n";
    if (n_errors > options.max_listed_errors) {
      body += "<p>… and " + std::to_string(n_errors - options.max_listed_errors) +
              " more (see results.jsonl).</p>\n";
    }
  } else {
    body += "<p>None.</p>\n";
  }
  body += "<h2>Model and run</h2>\n" + model_card(summary);
  if (run.is_object()) {
    body += "<details><summary>run.json</summary><pre>" + html_escape(run.dump(2)) +
            "</pre></details>\n";
  }
  std::string title = "difftriage run report";
  if (summary.contains("series") && summary["series"].is_number_integer()) {
    title += ": series " + std::to_string(summary["series"].get<int64_t>());
  } else if (run.is_object() && run.contains("command") && run["command"].is_string()) {
    title += ": " + run["command"].get<std::string>();
  }
  return report::html_page(title, body);
}

fs::path write_triage_report(const fs::path& folder, const TriageReportOptions& options) {
  const fs::path summary_path = folder / "summary.json";
  json summary, run;
  try {
    summary = json::parse(read_file(summary_path));
  } catch (const json::exception& e) {
    throw FormatError(summary_path.string() + ": " + e.what());
  }
  // A stream series' command is its stream folder's run.json.
  fs::path run_path = folder / "run.json";
  if (!fs::exists(run_path) && summary.contains("series")) {
    run_path = fs::absolute(folder).parent_path() / "run.json";
  }
  if (fs::exists(run_path)) {
    try {
      run = json::parse(read_file(run_path));
    } catch (const json::exception& e) {
      throw FormatError(run_path.string() + ": " + e.what());
    }
  }
  const fs::path out = folder / "report.html";
  write_file_atomically(out, render_triage_report(folder / "results.jsonl", summary, run, options));
  return out;
}

}  // namespace difftriage::stream
