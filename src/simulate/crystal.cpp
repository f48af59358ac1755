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
