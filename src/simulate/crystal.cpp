#include "difftriage/simulate/crystal.h"

#include <algorithm>
#include <cmath>

#include "difftriage/core/error.h"

namespace difftriage::simulate {
namespace {
constexpr double kDeg = M_PI / 180.0;
}  // namespace

const char* space_group_name(SpaceGroup group) noexcept {
  switch (group) {
    case SpaceGroup::kP63: return "P63";
    case SpaceGroup::kP212121: return "P212121";
    case SpaceGroup::kP1: break;
  }
  return "P1";
}

const char* crystal_kind_name(CrystalKind kind) noexcept {
  switch (kind) {
    case CrystalKind::kPhotosystem1: return "photo1";
    case CrystalKind::kPhotosystem2: return "photo2";
    case CrystalKind::kCustom: break;
  }
  return "custom";
}

CrystalPreset crystal_preset(const std::string& name) {
  if (name == "photo1" || name == "psi" || name == "PSI") {
    return {CrystalKind::kPhotosystem1, {281.0, 281.0, 165.0, 90.0, 90.0, 120.0}, SpaceGroup::kP63};
  }
  if (name == "photo2" || name == "psii" || name == "PSII") {
    return {CrystalKind::kPhotosystem2, {117.0, 223.0, 310.0, 90.0, 90.0, 90.0},
            SpaceGroup::kP212121};
  }
  throw ConfigError("unknown crystal preset '" + name + "' (known: photo1, photo2)");
}

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

Mat3 random_rotation(Rng& rng) {
  // Shoemake: q = (sqrt(1−u1) sin 2πu2, sqrt(1−u1) cos 2πu2, sqrt(u1) sin 2πu3, sqrt(u1) cos 2πu3)
  const double u1 = rng.uniform(), u2 = rng.uniform(), u3 = rng.uniform();
  const double s1 = std::sqrt(1.0 - u1), s2 = std::sqrt(u1);
  const double x = s1 * std::sin(2 * M_PI * u2), y = s1 * std::cos(2 * M_PI * u2);
  const double z = s2 * std::sin(2 * M_PI * u3), w = s2 * std::cos(2 * M_PI * u3);
  Mat3 r;
  r.m = {{{1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)},
          {2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)},
          {2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)}}};
  return r;
}

Mat3 random_rotation_by(Rng& rng, double angle_deg) {
  // Uniform axis on the sphere: z = 2u − 1, φ = 2πu'.
  const double z = 2.0 * rng.uniform() - 1.0, phi = 2.0 * M_PI * rng.uniform();
  const double r = std::sqrt(std::max(0.0, 1.0 - z * z));
  return rotation_about_axis(Vec3{r * std::cos(phi), r * std::sin(phi), z}, angle_deg * kDeg);
}

double misorientation_deg(const Mat3& a, const Mat3& b) {
  const Mat3 r = transpose(a) * b;
  // trace(R) = 1 + 2 cos(angle)
  const double c = std::clamp((r.m[0][0] + r.m[1][1] + r.m[2][2] - 1.0) / 2.0, -1.0, 1.0);
  return std::acos(c) * 180.0 / M_PI;
}

bool is_systematically_absent(SpaceGroup group, int h, int k, int l) noexcept {
  switch (group) {
    case SpaceGroup::kP63:  // 6₃ along c: 00l present only for l = 2n
      return h == 0 && k == 0 && (l % 2) != 0;
    case SpaceGroup::kP212121:  // 2₁ along a, b, c
      return (k == 0 && l == 0 && (h % 2) != 0) || (h == 0 && l == 0 && (k % 2) != 0) ||
             (h == 0 && k == 0 && (l % 2) != 0);
    case SpaceGroup::kP1: break;
  }
  return false;
}

double wilson_intensity(uint64_t structure_seed, int h, int k, int l) noexcept {
  // Friedel's law |F(hkl)| = |F(−h−k−l)|: hash the representative with the first non-zero
  // index positive.
  if (h < 0 || (h == 0 && (k < 0 || (k == 0 && l < 0)))) {
    h = -h, k = -k, l = -l;
  }
  uint64_t x = splitmix64(structure_seed ^ 0x5EEDF00DULL);
  x = splitmix64(x ^ static_cast<uint64_t>(static_cast<uint32_t>(h)));
  x = splitmix64(x ^ (static_cast<uint64_t>(static_cast<uint32_t>(k)) << 21));
  x = splitmix64(x ^ (static_cast<uint64_t>(static_cast<uint32_t>(l)) << 42));
  // Acentric Wilson: P(I) = exp(−I/⟨I⟩)/⟨I⟩ → I = −log(U).
  return -std::log(1.0 - unit_double(x));
}

}  // namespace difftriage::simulate
