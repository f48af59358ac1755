#include "difftriage/simulate/geometry.h"

#include <algorithm>
#include <limits>

#include "difftriage/core/error.h"

namespace difftriage::simulate {

Mat3 transpose(const Mat3& a) {
  Mat3 r;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) r.m[i][j] = a.m[j][i];
  return r;
}

Mat3 rotation_about_axis(const Vec3& axis, double angle_rad) {
  // Rodrigues: R = cos·I + sin·[k]× + (1 − cos)·k kᵀ.
  const Vec3 k = normalized(axis);
  const double c = std::cos(angle_rad), s = std::sin(angle_rad), t = 1.0 - c;
  Mat3 r;
  r.m = {{{c + t * k.x * k.x, t * k.x * k.y - s * k.z, t * k.x * k.z + s * k.y},
          {t * k.x * k.y + s * k.z, c + t * k.y * k.y, t * k.y * k.z - s * k.x},
          {t * k.x * k.z - s * k.y, t * k.y * k.z + s * k.x, c + t * k.z * k.z}}};
  return r;
}

double misorientation_deg(const Mat3& a, const Mat3& b) {
  const Mat3 r = transpose(a) * b;
  // trace(R) = 1 + 2 cos(angle)
  const double c = std::clamp((r.m[0][0] + r.m[1][1] + r.m[2][2] - 1.0) / 2.0, -1.0, 1.0);
  return std::acos(c) * 180.0 / M_PI;
}

void validate_geometry(const Geometry& g) {
  DT_CHECK(g.wavelength_angstrom > 0.0 && std::isfinite(g.wavelength_angstrom), ConfigError,
           "wavelength_angstrom must be > 0, got ", g.wavelength_angstrom);
  DT_CHECK(g.distance_mm > 0.0 && std::isfinite(g.distance_mm), ConfigError,
           "distance_mm must be > 0, got ", g.distance_mm);
  DT_CHECK(g.pixel_size_mm > 0.0 && std::isfinite(g.pixel_size_mm), ConfigError,
           "pixel_size_mm must be > 0, got ", g.pixel_size_mm);
  DT_CHECK(g.n_fast > 0 && g.n_slow > 0 && g.n_fast <= 8192 && g.n_slow <= 8192, ConfigError,
           "detector size must be 1..8192 pixels per axis, got ", g.n_fast, " x ", g.n_slow);
  DT_CHECK(std::isfinite(g.beam_center_fast_px) && std::isfinite(g.beam_center_slow_px),
           ConfigError, "beam centre must be finite");
}

Vec3 pixel_scattering_vector(const Geometry& g, double fast, double slow) {
  const Vec3 s1 = normalized(pixel_position_mm(g, fast, slow));
  return (1.0 / g.wavelength_angstrom) * (s1 - kBeamDirection);
}

double pixel_resolution_angstrom(const Geometry& g, double fast, double slow) {
  const double q = norm(pixel_scattering_vector(g, fast, slow));
  return q > 0.0 ? 1.0 / q : std::numeric_limits<double>::infinity();
}

std::optional<double> two_theta_rad(const Geometry& g, double d_angstrom) {
  const double s = g.wavelength_angstrom / (2.0 * d_angstrom);  // sin θ
  if (!(d_angstrom > 0.0) || s > 1.0) return std::nullopt;
  return 2.0 * std::asin(s);
}

std::optional<double> radius_px_for_resolution(const Geometry& g, double d_angstrom) {
  const auto tt = two_theta_rad(g, d_angstrom);
  if (!tt || *tt >= M_PI / 2.0) return std::nullopt;
  return g.distance_mm * std::tan(*tt) / g.pixel_size_mm;
}

double resolution_at_radius_angstrom(const Geometry& g, double radius_px) {
  const double tt = std::atan2(radius_px * g.pixel_size_mm, g.distance_mm);
  const double s = std::sin(tt / 2.0);
  return s > 0.0 ? g.wavelength_angstrom / (2.0 * s) : std::numeric_limits<double>::infinity();
}

double corner_resolution_angstrom(const Geometry& g) {
  double r_max = 0.0;
  for (double f : {0.0, static_cast<double>(g.n_fast)}) {
    for (double s : {0.0, static_cast<double>(g.n_slow)}) {
      r_max = std::max(r_max, std::hypot(f - g.beam_center_fast_px, s - g.beam_center_slow_px));
    }
  }
  return resolution_at_radius_angstrom(g, r_max);
}

std::optional<std::array<double, 2>> project_ray_px(const Geometry& g, const Vec3& s1) {
  if (!(s1.z > 1e-12)) return std::nullopt;
  const double t = g.distance_mm / s1.z;
  return std::array<double, 2>{t * s1.x / g.pixel_size_mm + g.beam_center_fast_px - 0.5,
                               t * s1.y / g.pixel_size_mm + g.beam_center_slow_px - 0.5};
}

}  // namespace difftriage::simulate
