// dataset::measure_dataset and score_realism: realism classes, percentiles and trends (see
// realism.h).
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>

#include <nlohmann/json.hpp>

#include "difftriage/dataset/realism.h"
#include "difftriage/dataset/sidecar.h"
#include "difftriage/io/image_io.h"

namespace difftriage::dataset {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool is_crystal_quality(const std::optional<Quality>& q) {
  return q && (*q == Quality::kWeak || *q == Quality::kGood || *q == Quality::kStrong);
}

// The realism classes a frame belongs to (see the row definitions below).
std::vector<std::string> realism_classes(const RealismSample& s) {
  std::vector<std::string> out;
  if (s.crystal && !s.ice && is_crystal_quality(s.quality)) {
    out.push_back(std::string(quality_name(*s.quality)) + " (no ice)");
  }
  if (s.crystal && !s.ice) out.push_back("crystal (no ice)");
  const bool blank_quality = s.quality && *s.quality == Quality::kBlank;
  if (!s.crystal && !s.ice && !blank_quality) out.push_back("solvent only");
  if (s.ice && !s.badice) out.push_back("ice");
  if (s.badice) out.push_back("badice");
  if (s.ice && !s.crystal) out.push_back("ice, no crystal");
  if (blank_quality) out.push_back("blank");
  return out;
}

RealismSample describe(const Sample& sample) {
  RealismSample r;
  r.quality = sample.quality;
  if (sample.labels) {
    const auto& l = *sample.labels;
    r.crystal = l[static_cast<size_t>(label_index("blank"))] == 0;
    r.ice = l[static_cast<size_t>(label_index("ice"))] != 0;
    r.badice = l[static_cast<size_t>(label_index("badice"))] != 0;
  } else {
    r.crystal = is_crystal_quality(sample.quality);
  }
  if (r.crystal) r.mosaic1 = sample.mosaic1;
  return r;
}

using Extract = std::function<double(const RealismFrame&)>;

struct MeasureDef {
  const char* name;
  Extract value;
  std::vector<std::string> classes;
};

const std::vector<MeasureDef>& measure_defs() {
  static const std::vector<MeasureDef> defs = [] {
    const std::vector<std::string> quality = {"weak (no ice)", "good (no ice)", "strong (no ice)"};
    return std::vector<MeasureDef>{
        {"mean_spot_area_px", [](const RealismFrame& m) { return m.mean_spot_area_px; }, quality},
        {"single_pixel_share", [](const RealismFrame& m) { return m.single_pixel_share; }, quality},
        {"saturated_spot_area_px", [](const RealismFrame& m) { return m.saturated_spot_area_px; },
         quality},
        {"saturated_single_share", [](const RealismFrame& m) { return m.saturated_single_share; },
         quality},
        {"spots_above_185",
         [](const RealismFrame& m) { return static_cast<double>(m.n_spots); }, quality},
        {"spot_d95_angstrom", [](const RealismFrame& m) { return m.spot_d95_angstrom; }, quality},
        {"solvent_ring_d_angstrom", [](const RealismFrame& m) { return m.solvent_ring_d_angstrom; },
         {"solvent only"}},
        {"solvent_ring_fwhm_inv_angstrom",
         [](const RealismFrame& m) { return m.solvent_ring_fwhm_inv_angstrom; }, {"solvent only"}},
        {"ice_ring_sigma_px", [](const RealismFrame& m) { return m.ice_ring_sigma_px; },
         {"ice", "badice"}},
        {"ice_ring_saturated_share",
         [](const RealismFrame& m) { return m.ice_ring_saturated_share; }, {"ice", "badice"}},
        {"spots_above_185",
         [](const RealismFrame& m) { return static_cast<double>(m.n_spots); }, {"ice, no crystal"}},
        {"noise_sigma", [](const RealismFrame& m) { return m.noise_sigma; }, {"blank"}},
    };
  }();
  return defs;
}

struct TrendDef {
  const char* name;
  Extract value;
};

const std::vector<TrendDef>& trend_defs() {
  static const std::vector<TrendDef> defs = {
      {"spearman(mosaic1, mean_elongation)",
       [](const RealismFrame& m) { return m.mean_elongation; }},
      {"spearman(mosaic1, mean_spot_area_px)",
       [](const RealismFrame& m) { return m.mean_spot_area_px; }},
  };
  return defs;
}

std::vector<double> values_of(const std::vector<RealismSample>& samples, const std::string& cls,
                              const Extract& value) {
  std::vector<double> out;
  for (const RealismSample& s : samples) {
    const auto classes = realism_classes(s);
    if (std::find(classes.begin(), classes.end(), cls) == classes.end()) continue;
    const double v = value(s.measures);
    if (std::isfinite(v)) out.push_back(v);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Linear-interpolated percentile of sorted values.
double quantile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return kNaN;
  const double pos = p / 100.0 * static_cast<double>(sorted.size() - 1);
  const auto i = static_cast<size_t>(pos);
  if (i + 1 >= sorted.size()) return sorted.back();
  return sorted[i] + (pos - static_cast<double>(i)) * (sorted[i + 1] - sorted[i]);
}

struct Pairs {
  std::vector<double> x, y;
};

// (mosaic1, value) of crystal frames without ice, all together or of one regime.
Pairs trend_pairs(const std::vector<RealismSample>& samples, const Extract& value,
                  const std::string* regime) {
  Pairs p;
  for (const RealismSample& s : samples) {
    if (!s.crystal || s.ice || !s.mosaic1) continue;
    if (regime && s.mosaic_regime != *regime) continue;
    const double v = value(s.measures);
    if (!std::isfinite(v)) continue;
    p.x.push_back(*s.mosaic1);
    p.y.push_back(v);
  }
  return p;
}

std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    const double avg = 0.5 * static_cast<double>(i + j) + 1.0;
    for (size_t k = i; k <= j; ++k) r[order[k]] = avg;
    i = j + 1;
  }
  return r;
}

nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

}  // namespace

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size() || x.size() < 3) return kNaN;
  const std::vector<double> rx = ranks(x), ry = ranks(y);
  const double n = static_cast<double>(x.size());
  double mx = 0, my = 0;
  for (size_t i = 0; i < rx.size(); ++i) mx += rx[i], my += ry[i];
  mx /= n, my /= n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < rx.size(); ++i) {
    sxy += (rx[i] - mx) * (ry[i] - my);
    sxx += (rx[i] - mx) * (rx[i] - mx);
    syy += (ry[i] - my) * (ry[i] - my);
  }
  if (sxx <= 0 || syy <= 0) return 0.0;  // a constant side: no monotone relation
  return sxy / std::sqrt(sxx * syy);
}

std::vector<RealismSample> measure_dataset(const Dataset& dataset,
                                           const std::optional<DetectorGeometry>& fallback_geometry,
                                           int max_per_class) {
  std::map<std::string, int> taken;
  std::vector<RealismSample> out;
  for (const Sample& sample : dataset.samples) {
    RealismSample r = describe(sample);
    const std::vector<std::string> classes = realism_classes(r);
    const bool wanted = std::any_of(classes.begin(), classes.end(), [&](const std::string& c) {
      return taken[c] < max_per_class;
    });
    if (!wanted) continue;
    for (const std::string& c : classes) ++taken[c];
    std::optional<DetectorGeometry> geometry = fallback_geometry;
    if (const auto truth = read_sidecar_truth(sample.path)) {
      if (truth->geometry) geometry = truth->geometry;
      r.mosaic_regime = truth->mosaic_regime;
    }
    const Image<float> frame = to_float(io::read_image(sample.path));
    if (geometry) geometry = geometry->with_frame_size(frame.n_fast(), frame.n_slow());
    r.measures = measure_realism(frame.view(), geometry);
    out.push_back(std::move(r));
  }
  return out;
}

RealismReport score_realism(const std::vector<RealismSample>& ours,
                            const std::vector<RealismSample>& reference) {
  RealismReport report;
  for (const MeasureDef& def : measure_defs()) {
    for (const std::string& cls : def.classes) {
      const std::vector<double> a = values_of(ours, cls, def.value);
      const std::vector<double> b = values_of(reference, cls, def.value);
      if (a.empty() || b.empty()) continue;
      RealismRow row;
      row.measure = def.name;
      row.cls = cls;
      row.n_ours = static_cast<int64_t>(a.size());
      row.n_reference = static_cast<int64_t>(b.size());
      row.ours_p10 = quantile(a, 10), row.ours_p50 = quantile(a, 50), row.ours_p90 = quantile(a, 90);
      row.reference = quantile(b, 50);
      double at_or_below = 0;
      for (double v : a) at_or_below += v < row.reference ? 1.0 : v == row.reference ? 0.5 : 0.0;
      row.percentile = 100.0 * at_or_below / static_cast<double>(a.size());
      row.in_range = row.reference >= row.ours_p10 && row.reference <= row.ours_p90;
      report.rows.push_back(std::move(row));
    }
  }
  for (const TrendDef& def : trend_defs()) {
    const Pairs b = trend_pairs(reference, def.value, nullptr);
    const Pairs a = trend_pairs(ours, def.value, nullptr);
    const double rho_b = spearman(b.x, b.y);
    if (!std::isfinite(rho_b) || a.x.size() < 3) continue;
    RealismRow row;
    row.measure = def.name;
    row.cls = "crystal (no ice)";
    row.trend = true;
    row.n_ours = static_cast<int64_t>(a.x.size());
    row.n_reference = static_cast<int64_t>(b.x.size());
    row.reference = rho_b;
    row.ours_p50 = spearman(a.x, a.y);
    row.percentile = kNaN;
    std::vector<std::string> regimes;
    for (const RealismSample& s : ours) {
      if (!s.crystal || s.ice || !s.mosaic1) continue;
      if (std::find(regimes.begin(), regimes.end(), s.mosaic_regime) == regimes.end()) {
        regimes.push_back(s.mosaic_regime);
      }
    }
    std::sort(regimes.begin(), regimes.end());
    row.ours_p10 = row.ours_p90 = row.ours_p50;
    for (const std::string& regime : regimes) {
      const Pairs p = trend_pairs(ours, def.value, &regime);
      const double rho = spearman(p.x, p.y);
      row.regimes.push_back({regime.empty() ? "unknown" : regime, rho, static_cast<int64_t>(p.x.size())});
      if (!std::isfinite(rho)) continue;
      row.ours_p10 = std::min(row.ours_p10, rho);
      row.ours_p90 = std::max(row.ours_p90, rho);
    }
    row.in_range = row.reference >= row.ours_p10 && row.reference <= row.ours_p90;
    report.rows.push_back(std::move(row));
  }
  for (const RealismRow& row : report.rows) {
    if (row.in_range) ++report.n_in_range;
    else report.flagged.push_back(row.measure + " / " + row.cls);
  }
  return report;
}

nlohmann::json to_json(const RealismReport& report) {
  nlohmann::json rows = nlohmann::json::array();
  for (const RealismRow& r : report.rows) {
    nlohmann::json regimes = nlohmann::json::array();
    for (const auto& g : r.regimes) regimes.push_back({{"name", g.name}, {"rho", number(g.rho)}, {"n", g.n}});
    rows.push_back({{"measure", r.measure},
                    {"class", r.cls},
                    {"trend", r.trend},
                    {"n_ours", r.n_ours},
                    {"n_reference", r.n_reference},
                    {"ours_p10", number(r.ours_p10)},
                    {"ours_p50", number(r.ours_p50)},
                    {"ours_p90", number(r.ours_p90)},
                    {"reference", number(r.reference)},
                    {"percentile", number(r.percentile)},
                    {"regimes", regimes},
                    {"in_range", r.in_range}});
  }
  return {{"rows", rows},
          {"n_rows", report.rows.size()},
          {"n_in_range", report.n_in_range},
          {"flagged", report.flagged}};
}

}  // namespace difftriage::dataset
