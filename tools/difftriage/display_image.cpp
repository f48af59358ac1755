#include "display_image.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "difftriage/core/pixel_stats.h"

namespace difftriage::cli {

Image<uint8_t> to_display_u8(const AnyImage& image) {
  if (const auto* u8 = std::get_if<Image<uint8_t>>(&image)) return *u8;
  const Image<float> f = to_float(image);
  std::vector<double> values;
  values.reserve(static_cast<size_t>(f.size()));
  const auto view = f.view();
  for (int64_t i = 0; i < f.size(); ++i)
    if (!view.is_masked(i)) values.push_back(f.data()[i]);
  Image<uint8_t> out(f.n_slow(), f.n_fast());
  out.metadata() = f.metadata();
  if (values.empty()) return out;
  const double lo = percentile_inplace(values, 1.0);
  const double hi = std::max(lo + 1e-6, percentile_inplace(values, 99.5));
  for (int64_t i = 0; i < f.size(); ++i) {
    if (view.is_masked(i)) continue;
    const double t = (f.data()[i] - lo) / (hi - lo);
    out.data()[i] = static_cast<uint8_t>(std::lround(std::clamp(t, 0.0, 1.0) * 255.0));
  }
  return out;
}

}  // namespace difftriage::cli
