#include "difftriage/core/vec3.h"

namespace difftriage {

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

}  // namespace difftriage
