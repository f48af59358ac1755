#include "difftriage/core/unit_cell.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "difftriage/core/error.h"

namespace difftriage {
namespace {
constexpr double kDeg = M_PI / 180.0;
}  // namespace

double cell_volume_angstrom3(const UnitCell& c) {
  const double ca = std::cos(c.alpha_deg * kDeg), cb = std::cos(c.beta_deg * kDeg),
               cg = std::cos(c.gamma_deg * kDeg);
  const double v2 = 1.0 - ca * ca - cb * cb - cg * cg + 2.0 * ca * cb * cg;
  return c.a_angstrom * c.b_angstrom * c.c_angstrom * std::sqrt(v2 > 0.0 ? v2 : 0.0);
}

void validate_cell(const UnitCell& c) {
  for (auto [name, v] : {std::pair{"a", c.a_angstrom}, {"b", c.b_angstrom}, {"c", c.c_angstrom}}) {
    DT_CHECK(v > 2.0 && v <= 2000.0, ConfigError, "cell edge ", name, " must be in (2, 2000] Å, got ",
             v);
  }
  for (auto [name, v] : {std::pair{"alpha", c.alpha_deg}, {"beta", c.beta_deg}, {"gamma", c.gamma_deg}}) {
    DT_CHECK(v > 0.0 && v < 180.0, ConfigError, "cell angle ", name, " must be in (0, 180)°, got ", v);
  }
  DT_CHECK(cell_volume_angstrom3(c) > 1e-3 * c.a_angstrom * c.b_angstrom * c.c_angstrom,
           ConfigError, "cell angles give a degenerate (zero-volume) cell");
}

Mat3 direct_basis(const UnitCell& c) {
  // Standard setting: a ∥ x, b in the xy plane, c completing the right-handed frame.
  const double ca = std::cos(c.alpha_deg * kDeg), cb = std::cos(c.beta_deg * kDeg),
               cg = std::cos(c.gamma_deg * kDeg), sg = std::sin(c.gamma_deg * kDeg);
  const Vec3 a{c.a_angstrom, 0.0, 0.0};
  const Vec3 b{c.b_angstrom * cg, c.b_angstrom * sg, 0.0};
  const double cx = c.c_angstrom * cb;
  const double cy = c.c_angstrom * (ca - cb * cg) / sg;
  const double cz = std::sqrt(std::max(0.0, c.c_angstrom * c.c_angstrom - cx * cx - cy * cy));
  return Mat3::from_columns(a, b, Vec3{cx, cy, cz});
}

Mat3 reciprocal_basis(const UnitCell& cell) {
  // a* = (b × c)/V etc., so that a*·a = 1 and a*·b = 0: B = (A⁻¹)ᵀ.
  const Mat3 A = direct_basis(cell);
  const Vec3 a = A.column(0), b = A.column(1), c = A.column(2);
  const double v = dot(a, cross(b, c));
  return Mat3::from_columns((1.0 / v) * cross(b, c), (1.0 / v) * cross(c, a),
                            (1.0 / v) * cross(a, b));
}

}  // namespace difftriage
