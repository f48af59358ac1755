#include "local_background.h"

#include <algorithm>
#include <cmath>

namespace difftriage::features::detail {

LocalBackground compute_local_background(const ImageView<float>& image, int outer_radius_px,
                                         int inner_radius_px, int64_t border_px) {
  const int64_t ns = image.n_slow(), nf = image.n_fast();
  LocalBackground bg;
  bg.mean.assign(static_cast<size_t>(ns * nf), 0.0f);
  bg.sd.assign(static_cast<size_t>(ns * nf), 0.0f);
  bg.valid.assign(static_cast<size_t>(ns * nf), 0);
  if (ns == 0 || nf == 0) return bg;
  const LocalStatistics stats(image, outer_radius_px, inner_radius_px);
  const int64_t border = std::max<int64_t>(0, border_px);
  for (int64_t s = border; s < ns - border; ++s) {
    for (int64_t f = border; f < nf - border; ++f) {
      const int64_t i = s * nf + f;
      double mean = 0, sd = 0;
      if (image.is_masked(i) || !stats.at(s, f, &mean, &sd)) continue;
      bg.mean[static_cast<size_t>(i)] = static_cast<float>(mean);
      bg.sd[static_cast<size_t>(i)] = static_cast<float>(sd);
      bg.valid[static_cast<size_t>(i)] = 1;
    }
  }
  return bg;
}

LocalStatistics::LocalStatistics(const ImageView<float>& image, int outer_radius_px,
                                 int inner_radius_px)
    : ns_(image.n_slow()),
      nf_(image.n_fast()),
      n1_(image.n_fast() + 1),
      r_(outer_radius_px),
      r_in_(inner_radius_px),
      masked_(image.mask() != nullptr) {
  const auto size = static_cast<size_t>((ns_ + 1) * n1_);
  sum_.assign(size, 0.0);
  sum2_.assign(size, 0.0);
  if (masked_) count_.assign(size, 0.0);
  const float* v = image.data();
  for (int64_t s = 0; s < ns_; ++s) {
    double row = 0, row2 = 0, rown = 0;
    const size_t above = static_cast<size_t>(s * n1_), here = static_cast<size_t>((s + 1) * n1_);
    for (int64_t f = 0; f < nf_; ++f) {
      const int64_t i = s * nf_ + f;
      if (!masked_ || !image.is_masked(i)) {
        const double x = v[i];
        row += x;
        row2 += x * x;
        rown += 1;
      }
      const auto k = static_cast<size_t>(f + 1);
      sum_[here + k] = sum_[above + k] + row;
      sum2_[here + k] = sum2_[above + k] + row2;
      if (masked_) count_[here + k] = count_[above + k] + rown;
    }
  }
}

LocalStatistics::Window LocalStatistics::window(int64_t s, int64_t f) const {
  Window w;
  w.s0 = std::max<int64_t>(0, s - r_), w.s1 = std::min(ns_, s + r_ + 1);
  w.f0 = std::max<int64_t>(0, f - r_), w.f1 = std::min(nf_, f + r_ + 1);
  w.t0 = std::max<int64_t>(0, s - r_in_), w.t1 = std::min(ns_, s + r_in_ + 1);
  w.g0 = std::max<int64_t>(0, f - r_in_), w.g1 = std::min(nf_, f + r_in_ + 1);
  const int64_t outer = (w.s1 - w.s0) * (w.f1 - w.f0), inner = (w.t1 - w.t0) * (w.g1 - w.g0);
  w.n = masked_ ? ring(count_, w) : static_cast<double>(outer - inner);
  return w;
}

bool LocalStatistics::mean_at(int64_t s, int64_t f, double* mean) const {
  const Window w = window(s, f);
  if (w.n < 2) return false;
  *mean = ring(sum_, w) / w.n;
  return true;
}

bool LocalStatistics::at(int64_t s, int64_t f, double* mean, double* sd) const {
  const Window w = window(s, f);
  if (w.n < 2) return false;
  const double m = ring(sum_, w) / w.n;
  *mean = m;
  *sd = std::sqrt(std::max(0.0, ring(sum2_, w) / w.n - m * m));
  return true;
}

}  // namespace difftriage::features::detail
