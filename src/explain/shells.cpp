// Resolution shells on the network input, and the dead-map JSON: the Torch-free half of the
// explain module.
#include <algorithm>
#include <cmath>
#include <limits>

#include "difftriage/core/error.h"
#include "difftriage/explain/explain.h"

namespace difftriage::explain {
namespace {

// Same placement rule as the Preprocessor (src/models/preprocess.cpp): a square of `side`
// centred on `centre`, shifted to stay inside the frame, or centred padding when larger.
double place(double centre, int64_t side, int64_t extent) {
  if (side > extent) return static_cast<double>((extent - side) / 2);
  const auto start = static_cast<int64_t>(std::llround(centre - 0.5 * static_cast<double>(side)));
  return static_cast<double>(std::clamp<int64_t>(start, 0, extent - side));
}

}  // namespace

double InputMapping::radius_px(int64_t row, int64_t col) const noexcept {
  const double scale = region_side_px / static_cast<double>(input_size);
  const double s = region_row0 + (static_cast<double>(row) + 0.5) * scale;
  const double f = region_col0 + (static_cast<double>(col) + 0.5) * scale;
  return std::hypot(s - center_slow_px, f - center_fast_px);
}

InputMapping input_mapping(const models::PreprocessOptions& preprocess, int64_t n_slow,
                           int64_t n_fast, const DetectorMetadata* metadata) {
  DT_CHECK(n_slow > 0 && n_fast > 0, ConfigError, "input_mapping: empty frame (", n_slow, " x ",
           n_fast, ")");
  InputMapping m;
  m.input_size = preprocess.input_size;
  m.center_slow_px = 0.5 * static_cast<double>(n_slow);
  m.center_fast_px = 0.5 * static_cast<double>(n_fast);
  if (metadata != nullptr && metadata->beam_center_slow_px && metadata->beam_center_fast_px &&
      std::isfinite(*metadata->beam_center_slow_px) &&
      std::isfinite(*metadata->beam_center_fast_px)) {
    m.center_slow_px = *metadata->beam_center_slow_px;
    m.center_fast_px = *metadata->beam_center_fast_px;
  }
  const int64_t side = preprocess.mode == models::InputMode::kCrop ? preprocess.input_size
                                                                   : std::min(n_slow, n_fast);
  m.region_side_px = static_cast<double>(side);
  m.region_row0 = place(m.center_slow_px, side, n_slow);
  m.region_col0 = place(m.center_fast_px, side, n_fast);
  return m;
}

int64_t ShellProfile::peak_shell() const noexcept {
  if (mass.empty()) return -1;
  return static_cast<int64_t>(std::max_element(mass.begin(), mass.end()) - mass.begin());
}

ShellProfile shell_profile(const float* map, const InputMapping& mapping,
                           const std::optional<DetectorGeometry>& geometry, int n_shells) {
  DT_CHECK(map != nullptr, ConfigError, "shell_profile: null map");
  DT_CHECK(n_shells >= 1, ConfigError, "n_shells must be >= 1, got ", n_shells);
  DT_CHECK(mapping.input_size > 0 && mapping.region_side_px > 0, ConfigError,
           "shell_profile: empty input mapping");
  if (geometry) {
    try {
      geometry->validate();
    } catch (const ConfigError& e) {
      throw ConfigError(std::string("shell_profile: geometry: ") + e.what());
    }
  }
  const int64_t S = mapping.input_size;
  // Coordinate per input pixel: radius (px) or 1/d (1/Å). 1/d grows monotonically with radius,
  // and equal steps in 1/d are the crystallographer's shells (equal steps in |q|).
  std::vector<double> coord(static_cast<size_t>(S * S));
  double max_coord = 0;
  for (int64_t r = 0; r < S; ++r) {
    for (int64_t c = 0; c < S; ++c) {
      const double radius = mapping.radius_px(r, c);
      double v = radius;
      if (geometry) {
        const double d = geometry->resolution_at_radius_angstrom(radius);
        v = std::isfinite(d) && d > 0 ? 1.0 / d : 0.0;
      }
      coord[static_cast<size_t>(r * S + c)] = v;
      max_coord = std::max(max_coord, v);
    }
  }
  if (!(max_coord > 0)) max_coord = 1.0;
  const double width = max_coord / n_shells;
  ShellProfile p;
  p.has_resolution = geometry.has_value();
  p.mass.assign(static_cast<size_t>(n_shells), 0.0);
  p.n_pixels.assign(static_cast<size_t>(n_shells), 0);
  double total = 0;
  for (size_t i = 0; i < coord.size(); ++i) {
    const auto k = std::min<int64_t>(static_cast<int64_t>(coord[i] / width), n_shells - 1);
    const double v = std::isfinite(map[i]) ? static_cast<double>(map[i]) : 0.0;
    p.mass[static_cast<size_t>(k)] += v;
    p.n_pixels[static_cast<size_t>(k)] += 1;
    total += v;
  }
  for (int k = 0; k < n_shells; ++k) {
    const double centre = (k + 0.5) * width;
    const auto ks = static_cast<size_t>(k);
    p.mass_fraction.push_back(total > 0 ? p.mass[ks] / total : 0.0);
    p.mean_per_pixel.push_back(p.n_pixels[ks] > 0 ? p.mass[ks] / static_cast<double>(p.n_pixels[ks])
                                                  : 0.0);
    if (geometry) {
      p.inverse_d.push_back(centre);
      p.d_angstrom.push_back(1.0 / centre);
      // Radius of that resolution, for readers who think in pixels.
      const auto radius = geometry->radius_px_for_resolution(1.0 / centre);
      p.radius_px.push_back(radius ? *radius : std::numeric_limits<double>::quiet_NaN());
    } else {
      p.radius_px.push_back(centre);
    }
  }
  return p;
}

nlohmann::json to_json(const DeadMapReport& report) {
  nlohmann::json j;
  j["n_images"] = report.n_images;
  j["epsilon"] = report.epsilon;
  j["dead_image_fraction"] = report.dead_image_fraction;
  j["source"] = report.source;
  j["definition"] =
      "a channel is dead on an image when its max over the block output map (after ReLU) is <= "
      "epsilon; dead when dead on >= dead_image_fraction of the images";
  auto blocks = nlohmann::json::array();
  for (const auto& b : report.blocks) {
    blocks.push_back({{"block", b.block},
                      {"n_channels", b.n_channels},
                      {"n_dead", b.n_dead},
                      {"dead_fraction", b.dead_fraction},
                      {"mean_activation_all", b.mean_activation_all},
                      {"mean_activation", b.mean_activation},
                      {"dead_on_fraction", b.dead_on_fraction}});
  }
  j["blocks"] = std::move(blocks);
  return j;
}

}  // namespace difftriage::explain
