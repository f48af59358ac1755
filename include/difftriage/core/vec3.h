/// Small fixed-size linear algebra for the lab frame: a 3-vector and a 3×3 matrix, with the few
/// operations the detector geometry and the simulator's crystal orientations need. Plain value
/// types; every function is pure and thread-safe.
///
///   difftriage::Vec3 s1 = difftriage::normalized({3.0, 4.0, 100.0});
///   difftriage::Mat3 r = difftriage::rotation_about_axis({0, 0, 1}, M_PI / 2);
///   difftriage::Vec3 v = r * s1;
#pragma once

#include <array>
#include <cmath>

namespace difftriage {

/// A 3-vector (lab frame; mm or Å⁻¹ depending on use).
struct Vec3 {
  double x = 0.0, y = 0.0, z = 0.0;
};
inline Vec3 operator+(const Vec3& a, const Vec3& b) { return {a.x + b.x, a.y + b.y, a.z + b.z}; }
inline Vec3 operator-(const Vec3& a, const Vec3& b) { return {a.x - b.x, a.y - b.y, a.z - b.z}; }
inline Vec3 operator*(double s, const Vec3& a) { return {s * a.x, s * a.y, s * a.z}; }
/// Scalar product.
inline double dot(const Vec3& a, const Vec3& b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
/// Vector product a × b (right-handed).
inline Vec3 cross(const Vec3& a, const Vec3& b) {
  return {a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x};
}
/// Euclidean length.
inline double norm(const Vec3& a) { return std::sqrt(dot(a, a)); }
/// `a` scaled to unit length (non-finite for the zero vector).
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

}  // namespace difftriage
