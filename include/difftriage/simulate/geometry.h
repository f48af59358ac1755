/// Beam and flat-detector geometry: which scattering vector and resolution every pixel sees, and
/// where a diffracted ray lands.
///
/// Frame of reference (DIALS-like lab frame): the beam travels along +z, the detector plane is
/// perpendicular to it at z = distance_mm, its fast axis is +x and its slow axis +y. Pixel (fast,
/// slow) has its centre at x = (fast + 0.5 − beam_center_fast_px)·pixel_size_mm, likewise y; the
/// beam centre is counted in pixels from the first pixel's outer corner, as DIALS/CrystFEL do.
/// Reciprocal-space vectors are in Å⁻¹ without the 2π (|q| = 2 sin θ / λ = 1/d).
///
///   difftriage::simulate::Geometry g;  // defaults: 1.3 Å, 150 mm, 0.172 mm, 1024², centred
///   double d = difftriage::simulate::pixel_resolution_angstrom(g, 1000.0, 512.0);
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <optional>

namespace difftriage::simulate {

/// A 3-vector (lab frame; mm or Å⁻¹ depending on use).
struct Vec3 {
  double x = 0.0, y = 0.0, z = 0.0;
};
inline Vec3 operator+(const Vec3& a, const Vec3& b) { return {a.x + b.x, a.y + b.y, a.z + b.z}; }
inline Vec3 operator-(const Vec3& a, const Vec3& b) { return {a.x - b.x, a.y - b.y, a.z - b.z}; }
inline Vec3 operator*(double s, const Vec3& a) { return {s * a.x, s * a.y, s * a.z}; }
inline double dot(const Vec3& a, const Vec3& b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
inline Vec3 cross(const Vec3& a, const Vec3& b) {
  return {a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x};
}
inline double norm(const Vec3& a) { return std::sqrt(dot(a, a)); }
inline Vec3 normalized(const Vec3& a) { return (1.0 / norm(a)) * a; }

/// A 3×3 matrix, row-major: m[row][col].
struct Mat3 {
  std::array<std::array<double, 3>, 3> m{{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}};
  /// Identity.
  static Mat3 identity() { return Mat3{}; }
  /// Matrix whose columns are a, b, c.
  static Mat3 from_columns(const Vec3& a, const Vec3& b, const Vec3& c) {
    Mat3 r;
    r.m = {{{a.x, b.x, c.x}, {a.y, b.y, c.y}, {a.z, b.z, c.z}}};
    return r;
  }
  /// Column j as a vector.
  Vec3 column(int j) const { return {m[0][j], m[1][j], m[2][j]}; }
};
inline Vec3 operator*(const Mat3& a, const Vec3& v) {
  return {a.m[0][0] * v.x + a.m[0][1] * v.y + a.m[0][2] * v.z,
          a.m[1][0] * v.x + a.m[1][1] * v.y + a.m[1][2] * v.z,
          a.m[2][0] * v.x + a.m[2][1] * v.y + a.m[2][2] * v.z};
}
inline Mat3 operator*(const Mat3& a, const Mat3& b) {
  Mat3 r;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      r.m[i][j] = a.m[i][0] * b.m[0][j] + a.m[i][1] * b.m[1][j] + a.m[i][2] * b.m[2][j];
  return r;
}
/// Transpose (= inverse for a rotation).
Mat3 transpose(const Mat3& a);
/// Rotation by `angle_rad` about unit vector `axis` (Rodrigues' formula, right-handed).
Mat3 rotation_about_axis(const Vec3& axis, double angle_rad);
/// Angle of the rotation R_a^T·R_b in degrees (misorientation between two orientations).
double misorientation_deg(const Mat3& a, const Mat3& b);

/// Beam and detector of one frame. Lengths in mm, wavelength in Å, beam centre in pixels.
struct Geometry {
  double wavelength_angstrom = 1.3;  ///< λ, > 0
  double distance_mm = 150.0;        ///< sample–detector distance along the beam, > 0
  double pixel_size_mm = 0.172;      ///< square pixels, > 0
  int32_t n_fast = 1024;             ///< detector columns
  int32_t n_slow = 1024;             ///< detector rows
  double beam_center_fast_px = 512.0;  ///< where the direct beam hits, pixels from the corner
  double beam_center_slow_px = 512.0;
};

/// Checks that the geometry is physical.
/// @throws ConfigError naming the field ("wavelength_angstrom must be > 0, got -1").
void validate_geometry(const Geometry& geometry);

/// Unit vector of the incident beam (+z).
inline constexpr Vec3 kBeamDirection{0.0, 0.0, 1.0};

/// Lab position (mm) of the centre of pixel (fast, slow) (fractional pixels allowed).
inline Vec3 pixel_position_mm(const Geometry& g, double fast, double slow) {
  return {(fast + 0.5 - g.beam_center_fast_px) * g.pixel_size_mm,
          (slow + 0.5 - g.beam_center_slow_px) * g.pixel_size_mm, g.distance_mm};
}

/// Scattering vector q = (s1 − s0)/λ (Å⁻¹) seen by pixel (fast, slow); |q| = 2 sin θ / λ.
Vec3 pixel_scattering_vector(const Geometry& g, double fast, double slow);

/// Resolution d = λ / (2 sin θ) (Å) of pixel (fast, slow); +infinity at the beam centre.
double pixel_resolution_angstrom(const Geometry& g, double fast, double slow);

/// Scattering angle 2θ (rad) for resolution d (Å) by Bragg's law; nullopt if λ > 2d.
std::optional<double> two_theta_rad(const Geometry& g, double d_angstrom);

/// Distance (pixels) from the beam centre at which resolution d lands on the flat detector:
/// r = distance·tan 2θ / pixel_size. nullopt if unreachable (λ > 2d or 2θ ≥ 90°).
std::optional<double> radius_px_for_resolution(const Geometry& g, double d_angstrom);

/// Resolution (Å) at radius `radius_px` from the beam centre (inverse of the above).
double resolution_at_radius_angstrom(const Geometry& g, double radius_px);

/// Best (smallest) resolution (Å) any detector pixel reaches: the farthest corner.
double corner_resolution_angstrom(const Geometry& g);

/// Where a ray along direction `s1` (any length, z > 0) hits the detector, as fractional pixel
/// coordinates {fast, slow} of the convention above (pixel centres at integers). nullopt if the
/// ray goes backwards or parallel to the detector.
std::optional<std::array<double, 2>> project_ray_px(const Geometry& g, const Vec3& s1);

}  // namespace difftriage::simulate
