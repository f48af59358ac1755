#include "difftriage/features/lattice.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <utility>

#include "difftriage/core/error.h"
#include "difftriage/features/ice.h"

namespace difftriage::features {
namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  DT_CHECK(in.good(), IoError, "cannot read cell file ", file.string());
  std::ostringstream text;
  text << in.rdbuf();
  DT_CHECK(!in.bad(), IoError, "cannot read cell file ", file.string());
  return text.str();
}

// CrystFEL unit cell file: "key = value [unit]" lines after the version line; ';' starts a
// comment.
CandidateCell parse_crystfel_cell(const std::string& text, const std::filesystem::path& file) {
  CandidateCell c;
  c.name = file.stem().string();
  std::istringstream in(text);
  std::string line;
  int line_no = 0;
  std::set<std::string> seen;
  const std::string where = file.string();
  while (std::getline(in, line)) {
    ++line_no;
    const auto semi = line.find(';');
    if (semi != std::string::npos) line = line.substr(0, semi);
    line = trim(line);
    if (line.empty() || line.rfind("CrystFEL unit cell file", 0) == 0) continue;
    const auto eq = line.find('=');
    DT_CHECK(eq != std::string::npos, ConfigError, where, " line ", line_no,
             ": expected 'key = value', got '", line, "'");
    const std::string key = trim(line.substr(0, eq));
    std::istringstream value(trim(line.substr(eq + 1)));
    std::string word, unit;
    value >> word >> unit;
    seen.insert(key);
    if (key == "centering") {
      c.centering = parse_centering(word, where + " line " + std::to_string(line_no));
      continue;
    }
    if (key == "lattice_type" || key == "unique_axis") continue;
    double* target = nullptr;
    bool length = true;
    if (key == "a") target = &c.cell.a_angstrom;
    else if (key == "b") target = &c.cell.b_angstrom;
    else if (key == "c") target = &c.cell.c_angstrom;
    else if (key == "al") target = &c.cell.alpha_deg, length = false;
    else if (key == "be") target = &c.cell.beta_deg, length = false;
    else if (key == "ga") target = &c.cell.gamma_deg, length = false;
    DT_CHECK(target != nullptr, ConfigError, where, " line ", line_no, ": unknown key '", key,
             "' (known: lattice_type, centering, unique_axis, a, b, c, al, be, ga)");
    double v = 0;
    try {
      size_t used = 0;
      v = std::stod(word, &used);
      DT_CHECK(used == word.size(), ConfigError, "trailing characters");
    } catch (const std::exception&) {
      throw ConfigError(where + " line " + std::to_string(line_no) + ": '" + key +
                        "' needs a number, got '" + word + "'");
    }
    if (length) {
      DT_CHECK(unit == "A" || unit == "nm" || unit.empty(), ConfigError, where, " line ", line_no,
               ": unit of '", key, "' must be A or nm, got '", unit, "'");
      *target = unit == "nm" ? 10.0 * v : v;
    } else {
      DT_CHECK(unit == "deg" || unit.empty(), ConfigError, where, " line ", line_no,
               ": unit of '", key, "' must be deg, got '", unit, "'");
      *target = v;
    }
  }
  for (const char* key : {"a", "b", "c", "al", "be", "ga"}) {
    DT_CHECK(seen.count(key) != 0, ConfigError, where, ": the cell lacks '", key, "'");
  }
  try {
    validate_cell(c.cell);
  } catch (const ConfigError& e) {
    throw ConfigError(where + ": " + e.what());
  }
  return c;
}

std::vector<CandidateCell> parse_json_cells(const std::string& text,
                                            const std::filesystem::path& file) {
  const std::string where = file.string();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(where + ": not JSON: " + e.what());
  }
  DT_CHECK(j.is_array() && !j.empty(), ConfigError, where,
           ": expected a non-empty JSON list of cells");
  std::vector<CandidateCell> cells;
  for (size_t k = 0; k < j.size(); ++k) {
    const auto& e = j[k];
    const std::string at = where + " entry " + std::to_string(k);
    DT_CHECK(e.is_object(), ConfigError, at, ": expected an object");
    for (const auto& item : e.items()) {
      static const std::set<std::string> known = {"name",      "a_angstrom", "b_angstrom",
                                                  "c_angstrom", "alpha_deg", "beta_deg",
                                                  "gamma_deg", "centering"};
      DT_CHECK(known.count(item.key()) != 0, ConfigError, at, ": unknown key '", item.key(), "'");
    }
    CandidateCell c;
    DT_CHECK(e.contains("name") && e["name"].is_string() && !e["name"].get<std::string>().empty(),
             ConfigError, at, ": 'name' must be a non-empty string");
    c.name = e["name"].get<std::string>();
    auto number = [&](const char* key, double* out, bool required) {
      if (!e.contains(key)) {
        DT_CHECK(!required, ConfigError, at, " (", c.name, "): missing '", key, "'");
        return;
      }
      DT_CHECK(e[key].is_number(), ConfigError, at, " (", c.name, "): '", key,
               "' must be a number");
      *out = e[key].get<double>();
    };
    number("a_angstrom", &c.cell.a_angstrom, true);
    number("b_angstrom", &c.cell.b_angstrom, true);
    number("c_angstrom", &c.cell.c_angstrom, true);
    number("alpha_deg", &c.cell.alpha_deg, true);
    number("beta_deg", &c.cell.beta_deg, true);
    number("gamma_deg", &c.cell.gamma_deg, true);
    if (e.contains("centering")) {
      DT_CHECK(e["centering"].is_string(), ConfigError, at, " (", c.name,
               "): 'centering' must be a string");
      c.centering = parse_centering(e["centering"].get<std::string>(), at);
    }
    try {
      validate_cell(c.cell);
    } catch (const ConfigError& err) {
      throw ConfigError(at + " (" + c.name + "): " + err.what());
    }
    cells.push_back(std::move(c));
  }
  return cells;
}

// Least-squares quadratic through (x, y), evaluated at x (x rescaled to [−1, 1]).
std::vector<double> quadratic_baseline(const std::vector<double>& x, const std::vector<double>& y) {
  const double lo = x.front(), hi = x.back();
  double m[3][4] = {};
  for (size_t i = 0; i < x.size(); ++i) {
    const double t = (2.0 * x[i] - lo - hi) / (hi - lo);
    const double p[3] = {1.0, t, t * t};
    for (int r = 0; r < 3; ++r) {
      for (int c = 0; c < 3; ++c) m[r][c] += p[r] * p[c];
      m[r][3] += p[r] * y[i];
    }
  }
  for (int col = 0; col < 3; ++col) {  // Gauss-Jordan with partial pivoting
    int piv = col;
    for (int r = col + 1; r < 3; ++r) {
      if (std::abs(m[r][col]) > std::abs(m[piv][col])) piv = r;
    }
    for (int c = 0; c < 4; ++c) std::swap(m[col][c], m[piv][c]);
    if (std::abs(m[col][col]) < 1e-300) return std::vector<double>(x.size(), 0.0);
    for (int r = 0; r < 3; ++r) {
      if (r == col) continue;
      const double f = m[r][col] / m[col][col];
      for (int c = 0; c < 4; ++c) m[r][c] -= f * m[col][c];
    }
  }
  const double a0 = m[0][3] / m[0][0], a1 = m[1][3] / m[1][1], a2 = m[2][3] / m[2][2];
  std::vector<double> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double t = (2.0 * x[i] - lo - hi) / (hi - lo);
    out[i] = a0 + a1 * t + a2 * t * t;
  }
  return out;
}

double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  const auto n = static_cast<double>(a.size());
  double ma = 0, mb = 0;
  for (size_t i = 0; i < a.size(); ++i) ma += a[i], mb += b[i];
  ma /= n;
  mb /= n;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return saa > 0 && sbb > 0 ? sab / std::sqrt(saa * sbb) : 0.0;
}

}  // namespace

const char* centering_name(Centering centering) noexcept {
  switch (centering) {
    case Centering::kP: return "P";
    case Centering::kA: return "A";
    case Centering::kB: return "B";
    case Centering::kC: return "C";
    case Centering::kI: return "I";
    case Centering::kF: return "F";
    case Centering::kR: return "R";
  }
  return "?";
}

Centering parse_centering(const std::string& letter, const std::string& source) {
  static const std::pair<const char*, Centering> kWords[] = {
      {"P", Centering::kP}, {"H", Centering::kP}, {"A", Centering::kA}, {"B", Centering::kB},
      {"C", Centering::kC}, {"I", Centering::kI}, {"F", Centering::kF}, {"R", Centering::kR}};
  for (const auto& [word, value] : kWords) {
    if (letter == word) return value;
  }
  throw ConfigError(source + ": unknown centering '" + letter + "' (P, A, B, C, I, F, R, H)");
}

bool is_allowed(Centering centering, int h, int k, int l) noexcept {
  auto even = [](int v) { return v % 2 == 0; };
  switch (centering) {
    case Centering::kP: return true;
    case Centering::kA: return even(k + l);
    case Centering::kB: return even(h + l);
    case Centering::kC: return even(h + k);
    case Centering::kI: return even(h + k + l);
    case Centering::kF: return even(h + k) && even(k + l);
    case Centering::kR: return (-h + k + l) % 3 == 0;
  }
  return true;
}

std::vector<CandidateCell> preset_candidate_cells() {
  return {{"photo1", UnitCell{281.0, 281.0, 165.0, 90.0, 90.0, 120.0}, Centering::kP},
          {"photo2", UnitCell{117.0, 223.0, 310.0, 90.0, 90.0, 90.0}, Centering::kP}};
}

std::vector<CandidateCell> read_candidate_cells(const std::filesystem::path& file) {
  const std::string text = read_text(file);
  const std::string start = trim(text.substr(0, std::min<size_t>(text.size(), 64)));
  if (!start.empty() && (start[0] == '[' || start[0] == '{')) return parse_json_cells(text, file);
  DT_CHECK(start.rfind("CrystFEL unit cell file", 0) == 0, ConfigError, file.string(),
           ": neither a CrystFEL unit cell file (first line 'CrystFEL unit cell file version "
           "1.0') nor a JSON list of cells");
  return {parse_crystfel_cell(text, file)};
}

std::vector<CandidateCell> load_candidate_cells(const std::vector<std::filesystem::path>& files) {
  std::vector<CandidateCell> cells = preset_candidate_cells();
  for (const auto& file : files) {
    for (auto& c : read_candidate_cells(file)) {
      for (const auto& have : cells) {
        DT_CHECK(have.name != c.name, ConfigError, file.string(), ": a candidate named '", c.name,
                 "' is already given (presets photo1 and photo2 are always candidates)");
      }
      cells.push_back(std::move(c));
    }
  }
  return cells;
}

void validate(const LatticeOptions& o) {
  DT_CHECK(o.min_length_per_angstrom > 0 && o.max_length_per_angstrom > o.min_length_per_angstrom,
           ConfigError, "lattice: need 0 < min_length_per_angstrom < max_length_per_angstrom");
  DT_CHECK(o.n_bins >= 4, ConfigError, "lattice: n_bins must be >= 4, got ", o.n_bins);
  DT_CHECK(o.d_min_quantile >= 0 && o.d_min_quantile <= 1, ConfigError,
           "lattice: d_min_quantile must be in [0, 1], got ", o.d_min_quantile);
  DT_CHECK(o.d_min_min_peaks >= 1, ConfigError, "lattice: d_min_min_peaks must be >= 1");
}

std::vector<double> length_bin_centres(const LatticeOptions& o) {
  std::vector<double> c(static_cast<size_t>(o.n_bins));
  const double w = (o.max_length_per_angstrom - o.min_length_per_angstrom) / o.n_bins;
  for (int i = 0; i < o.n_bins; ++i) {
    c[static_cast<size_t>(i)] = o.min_length_per_angstrom + (i + 0.5) * w;
  }
  return c;
}

namespace {

// The role of a peak at |q| = inv_d (Å⁻¹) with this SNR (see PeakRole).
PeakRole role_at(double inv_d, double snr, const LatticeOptions& o) {
  if (inv_d <= 0 || 1.0 / inv_d > o.max_bragg_d_angstrom) return PeakRole::kNearBeam;
  for (double d_ice : kIceRingsAngstrom) {
    if (std::abs(inv_d - 1.0 / d_ice) < o.ice_ring_half_width_per_angstrom) {
      return PeakRole::kIceRing;
    }
  }
  return snr >= o.bragg_min_snr ? PeakRole::kBragg : PeakRole::kWeak;
}

}  // namespace

PeakRole peak_role(const Peak& peak, const DetectorGeometry& geometry,
                   const LatticeOptions& options) {
  const Vec3 v =
      geometry.scattering_vector_per_angstrom(peak.fast_px - 0.5, peak.slow_px - 0.5);
  return role_at(norm(v), peak.snr, options);
}

LatticeEvidence measure_lattice(const std::vector<Peak>& peaks, const DetectorGeometry& geometry,
                                const LatticeOptions& o, const ResolutionModel* resolution) {
  validate(o);
  LatticeEvidence e;
  e.n_peaks = static_cast<int64_t>(peaks.size());
  e.pair_length_counts.assign(static_cast<size_t>(o.n_bins), 0.0);
  std::vector<Vec3> q;
  q.reserve(peaks.size());
  std::vector<double> bragg_d;
  std::vector<std::pair<double, double>> d_snr;  // Bragg and weak peaks, for `resolution`
  for (const Peak& p : peaks) {
    // Peaks are in pixel-edge coordinates; the geometry takes pixel indices (centre at k).
    const Vec3 v = geometry.scattering_vector_per_angstrom(p.fast_px - 0.5, p.slow_px - 0.5);
    q.push_back(v);
    const double inv_d = norm(v);
    const PeakRole role = role_at(inv_d, p.snr, o);
    if (role == PeakRole::kNearBeam || role == PeakRole::kIceRing) continue;
    if (role == PeakRole::kBragg) ++e.n_bragg_peaks;
    if (resolution != nullptr) {
      d_snr.emplace_back(1.0 / inv_d, p.snr);
    } else if (p.snr >= o.d_min_min_snr) {
      bragg_d.push_back(1.0 / inv_d);
    }
  }
  if (resolution != nullptr) {
    e.d_min_angstrom = predict_d_min(std::move(d_snr), *resolution);
  } else if (static_cast<int64_t>(bragg_d.size()) >= o.d_min_min_peaks) {
    std::sort(bragg_d.begin(), bragg_d.end());
    const auto k = static_cast<size_t>(
        std::floor(o.d_min_quantile * static_cast<double>(bragg_d.size() - 1) + 0.5));
    e.d_min_angstrom = bragg_d[k];
  }
  if (q.size() < 2) return e;
  // Grid over (qx, qy) with cells of the longest length: partners lie in the 3 × 3 cells around.
  const double cell = o.max_length_per_angstrom;
  double x0 = q[0].x, y0 = q[0].y, x1 = x0, y1 = y0;
  for (const Vec3& v : q) {
    x0 = std::min(x0, v.x), x1 = std::max(x1, v.x);
    y0 = std::min(y0, v.y), y1 = std::max(y1, v.y);
  }
  const auto nx = static_cast<int64_t>((x1 - x0) / cell) + 1;
  const auto ny = static_cast<int64_t>((y1 - y0) / cell) + 1;
  std::vector<int64_t> start(static_cast<size_t>(nx * ny + 1), 0), order(q.size());
  std::vector<int64_t> bucket(q.size());
  for (size_t i = 0; i < q.size(); ++i) {
    const auto gx = static_cast<int64_t>((q[i].x - x0) / cell);
    const auto gy = static_cast<int64_t>((q[i].y - y0) / cell);
    bucket[i] = gy * nx + gx;
    ++start[static_cast<size_t>(bucket[i] + 1)];
  }
  for (size_t b = 1; b < start.size(); ++b) start[b] += start[b - 1];
  std::vector<int64_t> fill(start.begin(), start.end() - 1);
  for (size_t i = 0; i < q.size(); ++i) {
    int64_t& slot = fill[static_cast<size_t>(bucket[i])];
    order[static_cast<size_t>(slot++)] = static_cast<int64_t>(i);
  }
  const double bin_w = (o.max_length_per_angstrom - o.min_length_per_angstrom) / o.n_bins;
  for (size_t i = 0; i < q.size(); ++i) {
    const int64_t gx = bucket[i] % nx, gy = bucket[i] / nx;
    for (int64_t yy = std::max<int64_t>(0, gy - 1); yy <= std::min(ny - 1, gy + 1); ++yy) {
      for (int64_t xx = std::max<int64_t>(0, gx - 1); xx <= std::min(nx - 1, gx + 1); ++xx) {
        const int64_t b = yy * nx + xx;
        const int64_t k0 = start[static_cast<size_t>(b)], k1 = start[static_cast<size_t>(b + 1)];
        for (int64_t k = k0; k < k1; ++k) {
          const auto j = static_cast<size_t>(order[static_cast<size_t>(k)]);
          if (j <= i) continue;  // each pair once
          const double len = norm(q[i] - q[j]);
          if (len < o.min_length_per_angstrom || len >= o.max_length_per_angstrom) continue;
          const auto bin = static_cast<size_t>((len - o.min_length_per_angstrom) / bin_w);
          if (bin < e.pair_length_counts.size()) e.pair_length_counts[bin] += 1.0;
        }
      }
    }
  }
  return e;
}

CellMatcher::CellMatcher(std::vector<CandidateCell> cells, LatticeOptions options,
                         double tolerance_per_angstrom)
    : cells_(std::move(cells)), options_(options) {
  validate(options_);
  DT_CHECK(!cells_.empty(), ConfigError, "cell matcher: no candidate cells");
  DT_CHECK(tolerance_per_angstrom > 0, ConfigError,
           "cell matcher: tolerance must be > 0 Å⁻¹, got ", tolerance_per_angstrom);
  const std::vector<double> centres = length_bin_centres(options_);
  const double max_len = options_.max_length_per_angstrom + 4 * tolerance_per_angstrom;
  for (const CandidateCell& c : cells_) {
    validate_cell(c.cell);
    const Mat3 b = reciprocal_basis(c.cell);
    // |h| ≤ |g|·a since h = g·a (a the real-space edge vector).
    const int hm = static_cast<int>(std::ceil(max_len * c.cell.a_angstrom));
    const int km = static_cast<int>(std::ceil(max_len * c.cell.b_angstrom));
    const int lm = static_cast<int>(std::ceil(max_len * c.cell.c_angstrom));
    std::vector<double> density(centres.size(), 0.0);
    for (int h = -hm; h <= hm; ++h) {
      for (int k = -km; k <= km; ++k) {
        for (int l = -lm; l <= lm; ++l) {
          if ((h == 0 && k == 0 && l == 0) || !is_allowed(c.centering, h, k, l)) continue;
          const double len = norm(b * Vec3{double(h), double(k), double(l)});
          if (len >= max_len) continue;
          for (size_t i = 0; i < centres.size(); ++i) {
            const double z = (centres[i] - len) / tolerance_per_angstrom;
            if (std::abs(z) < 4) density[i] += std::exp(-0.5 * z * z);
          }
        }
      }
    }
    // Pairs of peaks on a detector sample lengths in about two dimensions: weight by 1/length.
    for (size_t i = 0; i < centres.size(); ++i) density[i] /= centres[i];
    predicted_.push_back(std::move(density));
  }
}

std::vector<double> CellMatcher::excess(const LatticeEvidence& evidence) const {
  const auto& h = evidence.pair_length_counts;
  if (h.size() != static_cast<size_t>(options_.n_bins)) return {};
  double total = 0;
  for (double v : h) total += v;
  if (total <= 0) return {};
  const std::vector<double> centres = length_bin_centres(options_);
  const std::vector<double> base = quadratic_baseline(centres, h);
  std::vector<double> out(h.size());
  for (size_t i = 0; i < h.size(); ++i) {
    out[i] = (h[i] - base[i]) / std::sqrt(std::max(base[i], 1.0));
  }
  return out;
}

std::vector<double> CellMatcher::scores(const LatticeEvidence& evidence) const {
  std::vector<double> out(cells_.size(), 0.0);
  const std::vector<double> ex = excess(evidence);
  if (ex.empty()) return out;
  for (size_t c = 0; c < cells_.size(); ++c) out[c] = pearson(ex, predicted_[c]);
  return out;
}

}  // namespace difftriage::features
