#include "local_background.h"

#include <algorithm>
#include <cmath>

namespace difftriage::features::detail {
namespace {

/// Summed-area table with one row and column of zeros in front: at(s, f) = sum over
/// [0, s) × [0, f).
class SummedArea {
 public:
  SummedArea(int64_t n_slow, int64_t n_fast)
      : n_fast1_(n_fast + 1), table_(static_cast<size_t>((n_slow + 1) * (n_fast + 1)), 0.0) {}
  double& at(int64_t s, int64_t f) { return table_[static_cast<size_t>(s * n_fast1_ + f)]; }
  double at(int64_t s, int64_t f) const { return table_[static_cast<size_t>(s * n_fast1_ + f)]; }
  /// Sum over rows [s0, s1) and columns [f0, f1).
  double box(int64_t s0, int64_t s1, int64_t f0, int64_t f1) const {
    return at(s1, f1) - at(s0, f1) - at(s1, f0) + at(s0, f0);
  }

 private:
  int64_t n_fast1_;
  std::vector<double> table_;
};

}  // namespace

LocalBackground compute_local_background(const ImageView<float>& image, int outer_radius_px,
                                         int inner_radius_px, int64_t border_px) {
  const int64_t ns = image.n_slow(), nf = image.n_fast();
  LocalBackground bg;
  bg.mean.assign(static_cast<size_t>(ns * nf), 0.0f);
  bg.sd.assign(static_cast<size_t>(ns * nf), 0.0f);
  bg.valid.assign(static_cast<size_t>(ns * nf), 0);
  if (ns == 0 || nf == 0) return bg;
  SummedArea sum(ns, nf), sum2(ns, nf), count(ns, nf);
  for (int64_t s = 0; s < ns; ++s) {
    double row = 0, row2 = 0, rown = 0;
    for (int64_t f = 0; f < nf; ++f) {
      const int64_t i = s * nf + f;
      if (!image.is_masked(i)) {
        const double v = image.data()[i];
        row += v;
        row2 += v * v;
        rown += 1;
      }
      sum.at(s + 1, f + 1) = sum.at(s, f + 1) + row;
      sum2.at(s + 1, f + 1) = sum2.at(s, f + 1) + row2;
      count.at(s + 1, f + 1) = count.at(s, f + 1) + rown;
    }
  }
  const int r = outer_radius_px, r_in = inner_radius_px;
  const int64_t border = std::max<int64_t>(0, border_px);
  for (int64_t s = border; s < ns - border; ++s) {
    const int64_t s0 = std::max<int64_t>(0, s - r), s1 = std::min(ns, s + r + 1);
    const int64_t t0 = std::max<int64_t>(0, s - r_in), t1 = std::min(ns, s + r_in + 1);
    for (int64_t f = border; f < nf - border; ++f) {
      const int64_t i = s * nf + f;
      if (image.is_masked(i)) continue;
      const int64_t f0 = std::max<int64_t>(0, f - r), f1 = std::min(nf, f + r + 1);
      const int64_t g0 = std::max<int64_t>(0, f - r_in), g1 = std::min(nf, f + r_in + 1);
      const double n = count.box(s0, s1, f0, f1) - count.box(t0, t1, g0, g1);
      if (n < 2) continue;
      const double mean = (sum.box(s0, s1, f0, f1) - sum.box(t0, t1, g0, g1)) / n;
      const double var = std::max(
          0.0, (sum2.box(s0, s1, f0, f1) - sum2.box(t0, t1, g0, g1)) / n - mean * mean);
      bg.mean[static_cast<size_t>(i)] = static_cast<float>(mean);
      bg.sd[static_cast<size_t>(i)] = static_cast<float>(std::sqrt(var));
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

bool LocalStatistics::mean_at(int64_t s, int64_t f, double* mean) const {
  const int64_t s0 = std::max<int64_t>(0, s - r_), s1 = std::min(ns_, s + r_ + 1);
  const int64_t f0 = std::max<int64_t>(0, f - r_), f1 = std::min(nf_, f + r_ + 1);
  const int64_t t0 = std::max<int64_t>(0, s - r_in_), t1 = std::min(ns_, s + r_in_ + 1);
  const int64_t g0 = std::max<int64_t>(0, f - r_in_), g1 = std::min(nf_, f + r_in_ + 1);
  const double n = masked_ ? box(count_, s0, s1, f0, f1) - box(count_, t0, t1, g0, g1)
                           : static_cast<double>((s1 - s0) * (f1 - f0) - (t1 - t0) * (g1 - g0));
  if (n < 2) return false;
  *mean = (box(sum_, s0, s1, f0, f1) - box(sum_, t0, t1, g0, g1)) / n;
  return true;
}

bool LocalStatistics::at(int64_t s, int64_t f, double* mean, double* sd) const {
  const int64_t s0 = std::max<int64_t>(0, s - r_), s1 = std::min(ns_, s + r_ + 1);
  const int64_t f0 = std::max<int64_t>(0, f - r_), f1 = std::min(nf_, f + r_ + 1);
  const int64_t t0 = std::max<int64_t>(0, s - r_in_), t1 = std::min(ns_, s + r_in_ + 1);
  const int64_t g0 = std::max<int64_t>(0, f - r_in_), g1 = std::min(nf_, f + r_in_ + 1);
  const double n = masked_ ? box(count_, s0, s1, f0, f1) - box(count_, t0, t1, g0, g1)
                           : static_cast<double>((s1 - s0) * (f1 - f0) - (t1 - t0) * (g1 - g0));
  if (n < 2) return false;
  const double m = (box(sum_, s0, s1, f0, f1) - box(sum_, t0, t1, g0, g1)) / n;
  const double var =
      std::max(0.0, (box(sum2_, s0, s1, f0, f1) - box(sum2_, t0, t1, g0, g1)) / n - m * m);
  *mean = m;
  *sd = std::sqrt(var);
  return true;
}

}  // namespace difftriage::features::detail
