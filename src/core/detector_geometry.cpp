#include "difftriage/core/detector_geometry.h"

#include <fstream>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "difftriage/core/atomic_file.h"
#include "difftriage/core/error.h"

namespace difftriage {

void DetectorGeometry::validate() const {
  DT_CHECK(wavelength_angstrom > 0.0 && std::isfinite(wavelength_angstrom), ConfigError,
           "wavelength_angstrom must be > 0, got ", wavelength_angstrom);
  DT_CHECK(distance_mm > 0.0 && std::isfinite(distance_mm), ConfigError,
           "distance_mm must be > 0, got ", distance_mm);
  DT_CHECK(pixel_size_mm > 0.0 && std::isfinite(pixel_size_mm), ConfigError,
           "pixel_size_mm must be > 0, got ", pixel_size_mm);
  DT_CHECK(std::isfinite(beam_center_fast_px), ConfigError,
           "beam_center_fast_px must be finite, got ", beam_center_fast_px);
  DT_CHECK(std::isfinite(beam_center_slow_px), ConfigError,
           "beam_center_slow_px must be finite, got ", beam_center_slow_px);
  DT_CHECK(n_fast >= 0 && n_fast <= kMaxImageExtent, ConfigError, "n_fast must be in 0..",
           kMaxImageExtent, " (0 = not known), got ", n_fast);
  DT_CHECK(n_slow >= 0 && n_slow <= kMaxImageExtent, ConfigError, "n_slow must be in 0..",
           kMaxImageExtent, " (0 = not known), got ", n_slow);
  DT_CHECK((n_fast == 0) == (n_slow == 0), ConfigError,
           "n_fast and n_slow must both be known or both be 0, got ", n_fast, " x ", n_slow);
}

DetectorGeometry DetectorGeometry::binned(int32_t factor) const {
  DT_CHECK(factor >= 1 && n_fast % factor == 0 && n_slow % factor == 0, ConfigError,
           "bin factor ", factor, " does not divide the detector ", n_fast, " x ", n_slow);
  DetectorGeometry g = *this;
  g.pixel_size_mm *= factor;
  g.n_fast /= factor;
  g.n_slow /= factor;
  g.beam_center_fast_px /= factor;
  g.beam_center_slow_px /= factor;
  return g;
}

DetectorGeometry DetectorGeometry::with_frame_size(int64_t frame_n_fast,
                                                   int64_t frame_n_slow) const {
  DT_CHECK(frame_n_fast > 0 && frame_n_slow > 0 && frame_n_fast <= kMaxImageExtent &&
               frame_n_slow <= kMaxImageExtent,
           ConfigError, "frame size ", frame_n_fast, " x ", frame_n_slow,
           " (fast x slow) is out of range");
  DetectorGeometry g = *this;
  if (!has_size()) {
    g.n_fast = static_cast<int32_t>(frame_n_fast);
    g.n_slow = static_cast<int32_t>(frame_n_slow);
    return g;
  }
  DT_CHECK(n_fast == frame_n_fast && n_slow == frame_n_slow, ConfigError,
           "the geometry's n_fast x n_slow (", n_fast, " x ", n_slow, ") is not the frame's (",
           frame_n_fast, " x ", frame_n_slow, ")");
  return g;
}

double DetectorGeometry::radius_px(double fast, double slow) const noexcept {
  return std::hypot(fast + 0.5 - beam_center_fast_px, slow + 0.5 - beam_center_slow_px);
}

Vec3 DetectorGeometry::scattering_vector_per_angstrom(double fast, double slow) const noexcept {
  const Vec3 s1 = normalized(pixel_position_mm(fast, slow));
  return (1.0 / wavelength_angstrom) * (s1 - kBeamDirection);
}

double DetectorGeometry::two_theta_rad(double fast, double slow) const noexcept {
  const Vec3 p = pixel_position_mm(fast, slow);
  return std::atan2(std::hypot(p.x, p.y), p.z);
}

double DetectorGeometry::resolution_angstrom(double fast, double slow) const noexcept {
  const double q = norm(scattering_vector_per_angstrom(fast, slow));
  return q > 0.0 ? 1.0 / q : std::numeric_limits<double>::infinity();
}

std::optional<double> DetectorGeometry::two_theta_rad_for_resolution(
    double d_angstrom) const noexcept {
  const double s = wavelength_angstrom / (2.0 * d_angstrom);  // sin θ (Bragg)
  if (!(d_angstrom > 0.0) || s > 1.0) return std::nullopt;
  return 2.0 * std::asin(s);
}

std::optional<double> DetectorGeometry::radius_px_for_resolution(double d_angstrom) const noexcept {
  const auto tt = two_theta_rad_for_resolution(d_angstrom);
  if (!tt || *tt >= M_PI / 2.0) return std::nullopt;  // never reaches a flat detector
  return distance_mm * std::tan(*tt) / pixel_size_mm;
}

double DetectorGeometry::two_theta_rad_at_radius(double radius_px) const noexcept {
  return std::atan2(radius_px * pixel_size_mm, distance_mm);
}

double DetectorGeometry::resolution_at_radius_angstrom(double radius_px) const noexcept {
  const double s = std::sin(two_theta_rad_at_radius(radius_px) / 2.0);  // sin θ
  return s > 0.0 ? wavelength_angstrom / (2.0 * s) : std::numeric_limits<double>::infinity();
}

double DetectorGeometry::corner_radius_px() const {
  DT_CHECK(has_size(), ConfigError,
           "corner resolution: the detector size (n_fast, n_slow) is not known");
  double r_max = 0.0;
  for (double f : {0.0, static_cast<double>(n_fast)}) {
    for (double s : {0.0, static_cast<double>(n_slow)}) {
      r_max = std::max(r_max, std::hypot(f - beam_center_fast_px, s - beam_center_slow_px));
    }
  }
  return r_max;
}

double DetectorGeometry::edge_radius_px() const {
  DT_CHECK(has_size(), ConfigError,
           "edge resolution: the detector size (n_fast, n_slow) is not known");
  const double r =
      std::min({beam_center_fast_px, static_cast<double>(n_fast) - beam_center_fast_px,
                beam_center_slow_px, static_cast<double>(n_slow) - beam_center_slow_px});
  return std::max(0.0, r);
}

double DetectorGeometry::corner_resolution_angstrom() const {
  return resolution_at_radius_angstrom(corner_radius_px());
}

double DetectorGeometry::edge_resolution_angstrom() const {
  return resolution_at_radius_angstrom(edge_radius_px());
}

std::optional<std::array<double, 2>> DetectorGeometry::project_ray_px(
    const Vec3& s1) const noexcept {
  if (!(s1.z > 1e-12)) return std::nullopt;
  const double t = distance_mm / s1.z;
  return std::array<double, 2>{t * s1.x / pixel_size_mm + beam_center_fast_px - 0.5,
                               t * s1.y / pixel_size_mm + beam_center_slow_px - 0.5};
}

GeometryLookup geometry_from_metadata(const DetectorMetadata& md, int64_t n_fast, int64_t n_slow) {
  GeometryLookup out;
  if (md.surface != DetectorSurface::kFlat) {
    out.why_not = detail::concat("the detector is not flat (", detector_surface_name(md.surface),
                                 md.detector.empty() ? "" : ": ", md.detector, ")");
    return out;
  }
  std::string missing;
  const auto need = [&](const std::optional<double>& v, const char* name) {
    if (!v) missing += detail::concat(missing.empty() ? "" : ", ", name);
  };
  need(md.wavelength_angstrom, "wavelength_angstrom");
  need(md.distance_mm, "distance_mm");
  need(md.pixel_size_mm, "pixel_size_mm");
  need(md.beam_center_fast_px, "beam_center_fast_px");
  need(md.beam_center_slow_px, "beam_center_slow_px");
  if (!missing.empty()) {
    out.why_not = "metadata lacks " + missing;
    return out;
  }
  if (!(n_fast > 0 && n_slow > 0 && n_fast <= kMaxImageExtent && n_slow <= kMaxImageExtent)) {
    out.why_not = detail::concat("frame size ", n_fast, " x ", n_slow, " is out of range");
    return out;
  }
  DetectorGeometry g;
  g.wavelength_angstrom = *md.wavelength_angstrom;
  g.distance_mm = *md.distance_mm;
  g.pixel_size_mm = *md.pixel_size_mm;
  g.beam_center_fast_px = *md.beam_center_fast_px;
  g.beam_center_slow_px = *md.beam_center_slow_px;
  g.n_fast = static_cast<int32_t>(n_fast);
  g.n_slow = static_cast<int32_t>(n_slow);
  try {
    g.validate();
  } catch (const ConfigError& e) {
    out.why_not = std::string("metadata ") + e.what();
    return out;
  }
  out.geometry = g;
  return out;
}

namespace {

bool is_known_key(const std::string& key) {
  return std::find_if(kGeometryJsonKeys.begin(), kGeometryJsonKeys.end(),
                      [&](const char* k) { return key == k; }) != kGeometryJsonKeys.end();
}

}  // namespace

DetectorGeometry geometry_from_json(const std::string& text, const std::string& source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError("geometry file " + source + " is not valid JSON: " + e.what());
  }
  DT_CHECK(j.is_object(), ConfigError, "geometry file ", source,
           " must hold a JSON object with the keys wavelength_angstrom, distance_mm, "
           "pixel_size_mm, beam_center_fast_px, beam_center_slow_px (n_fast, n_slow optional)");
  for (const auto& item : j.items()) {
    DT_CHECK(is_known_key(item.key()), ConfigError, "geometry file ", source, ": unknown key '",
             item.key(),
             "' (the keys are wavelength_angstrom, distance_mm, pixel_size_mm, "
             "beam_center_fast_px, beam_center_slow_px and optionally n_fast, n_slow)");
  }
  const auto number = [&](const char* key) {
    const auto it = j.find(key);
    DT_CHECK(it != j.end(), ConfigError, "geometry file ", source, ": missing key '", key, "'");
    DT_CHECK(it->is_number(), ConfigError, "geometry file ", source, ": '", key,
             "' must be a number, got ", it->dump());
    return it->get<double>();
  };
  const auto size = [&](const char* key) -> int32_t {
    const auto it = j.find(key);
    if (it == j.end()) return 0;
    DT_CHECK(
        it->is_number_integer() && it->get<int64_t>() >= 1 && it->get<int64_t>() <= kMaxImageExtent,
        ConfigError, "geometry file ", source, ": '", key, "' must be an integer in 1..",
        kMaxImageExtent, ", got ", it->dump());
    return static_cast<int32_t>(it->get<int64_t>());
  };
  DetectorGeometry g;
  g.wavelength_angstrom = number("wavelength_angstrom");
  g.distance_mm = number("distance_mm");
  g.pixel_size_mm = number("pixel_size_mm");
  g.beam_center_fast_px = number("beam_center_fast_px");
  g.beam_center_slow_px = number("beam_center_slow_px");
  g.n_fast = size("n_fast");
  g.n_slow = size("n_slow");
  DT_CHECK((g.n_fast == 0) == (g.n_slow == 0), ConfigError, "geometry file ", source, ": '",
           g.n_fast == 0 ? "n_slow" : "n_fast", "' is given without '",
           g.n_fast == 0 ? "n_fast" : "n_slow", "' (give both or neither)");
  try {
    g.validate();
  } catch (const ConfigError& e) {
    throw ConfigError("geometry file " + source + ": " + e.what());
  }
  return g;
}

DetectorGeometry read_geometry_json(const std::filesystem::path& file) {
  return geometry_from_json(read_file(file), file.string());
}

nlohmann::json geometry_to_json(const DetectorGeometry& g) {
  nlohmann::json j = {{"wavelength_angstrom", g.wavelength_angstrom},
                      {"distance_mm", g.distance_mm},
                      {"pixel_size_mm", g.pixel_size_mm},
                      {"beam_center_fast_px", g.beam_center_fast_px},
                      {"beam_center_slow_px", g.beam_center_slow_px}};
  if (g.has_size()) {
    j["n_fast"] = g.n_fast;
    j["n_slow"] = g.n_slow;
  }
  return j;
}

DetectorGeometry geometry_from_sidecar_json(const nlohmann::json& g, const std::string& source) {
  DT_CHECK(g.is_object(), FormatError, source, ": the sidecar's geometry is not an object");
  const auto bin = g.find("bin_factor");
  DT_CHECK(bin != g.end() && bin->is_number_integer() && bin->get<int64_t>() >= 1 &&
               bin->get<int64_t>() <= 64,
           FormatError, source, ": the sidecar's geometry.bin_factor must be an integer in [1, 64]");
  nlohmann::json keys = nlohmann::json::object();
  for (const char* key : kGeometryJsonKeys) {
    if (const auto it = g.find(key); it != g.end()) keys[key] = *it;
  }
  try {
    return geometry_from_json(keys.dump(), source).binned(static_cast<int32_t>(bin->get<int64_t>()));
  } catch (const ConfigError& e) {
    throw FormatError(source + ": the sidecar's geometry: " + e.what());
  }
}

std::optional<DetectorGeometry> read_sidecar_geometry(const std::filesystem::path& image) {
  std::filesystem::path path = image;
  path.replace_extension(".json");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  DT_CHECK(in.good(), IoError, "cannot read sidecar ", path.string());
  // Only the top-level `geometry` object is kept: a sidecar also lists every bright spot, and
  // building those into a document cost more than the frame's own spot evidence.
  bool in_geometry = false;
  const nlohmann::json::parser_callback_t keep_geometry =
      [&in_geometry](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
        if (depth == 1 && event == nlohmann::json::parse_event_t::key) {
          in_geometry = parsed == "geometry";
          return in_geometry;
        }
        return depth == 0 || in_geometry;
      };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in, keep_geometry);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(path.string() + ": not JSON: " + e.what());
  }
  if (!j.is_object()) return std::nullopt;
  const auto g = j.find("geometry");
  if (g == j.end()) return std::nullopt;
  return geometry_from_sidecar_json(*g, path.string());
}

}  // namespace difftriage
