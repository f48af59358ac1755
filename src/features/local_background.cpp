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

RowWindowStatistics::RowWindowStatistics(const ImageView<float>& image, int outer_radius_px,
                                         int inner_radius_px)
    : image_(image),
      ns_(image.n_slow()),
      nf_(image.n_fast()),
      r_(outer_radius_px),
      r_in_(inner_radius_px),
      masked_(image.mask() != nullptr),
      col_(static_cast<size_t>(nf_), 0.0),
      col2_(static_cast<size_t>(nf_), 0.0),
      coln_(masked_ ? static_cast<size_t>(nf_) : 0, 0.0) {}

void RowWindowStatistics::add_row(int64_t s, double sign) {
  const float* v = image_.data() + s * nf_;
  double* c1 = col_.data();
  double* c2 = col2_.data();
  if (!masked_) {
    for (int64_t f = 0; f < nf_; ++f) {
      const double x = v[f];
      c1[f] += sign * x;
      c2[f] += sign * x * x;
    }
    return;
  }
  const uint8_t* m = image_.mask() + s * nf_;
  double* cn = coln_.data();
  for (int64_t f = 0; f < nf_; ++f) {
    const double keep = m[f] == 0 ? sign : 0.0;
    const double x = m[f] == 0 ? static_cast<double>(v[f]) : 0.0;
    c1[f] += keep * x;
    c2[f] += keep * x * x;
    cn[f] += keep;
  }
}

void RowWindowStatistics::set_row(int64_t s) {
  s_ = s;
  const int64_t s1 = std::min(ns_, s + r_ + 1), s0 = std::max<int64_t>(0, s - r_);
  for (; next_add_ < s1; ++next_add_) add_row(next_add_, 1.0);
  for (; next_remove_ < s0; ++next_remove_) add_row(next_remove_, -1.0);
}

void RowWindowStatistics::ring(int64_t f, double* sum, double* sum2, double* n) const {
  const int64_t f0 = std::max<int64_t>(0, f - r_), f1 = std::min(nf_, f + r_ + 1);
  double a = 0, a2 = 0, c = 0;
  for (int64_t g = f0; g < f1; ++g) a += col_[static_cast<size_t>(g)];
  if (sum2 != nullptr) {
    for (int64_t g = f0; g < f1; ++g) a2 += col2_[static_cast<size_t>(g)];
  }
  if (masked_) {
    for (int64_t g = f0; g < f1; ++g) c += coln_[static_cast<size_t>(g)];
  } else {
    c = static_cast<double>((f1 - f0) * (std::min(ns_, s_ + r_ + 1) - std::max<int64_t>(0, s_ - r_)));
  }
  const int64_t t0 = std::max<int64_t>(0, s_ - r_in_), t1 = std::min(ns_, s_ + r_in_ + 1);
  const int64_t g0 = std::max<int64_t>(0, f - r_in_), g1 = std::min(nf_, f + r_in_ + 1);
  const float* v = image_.data();
  const uint8_t* m = image_.mask();
  for (int64_t t = t0; t < t1; ++t) {
    for (int64_t g = g0; g < g1; ++g) {
      const int64_t i = t * nf_ + g;
      if (masked_ && m[i] != 0) continue;
      const double x = v[i];
      a -= x;
      a2 -= x * x;
      c -= 1;
    }
  }
  *sum = a, *n = c;
  if (sum2 != nullptr) *sum2 = a2;
}

bool RowWindowStatistics::mean_at(int64_t f, double* mean) const {
  double sum = 0, n = 0;
  ring(f, &sum, nullptr, &n);
  if (n < 2) return false;
  *mean = sum / n;
  return true;
}

bool RowWindowStatistics::at(int64_t f, double* mean, double* sd) const {
  double sum = 0, sum2 = 0, n = 0;
  ring(f, &sum, &sum2, &n);
  if (n < 2) return false;
  const double m = sum / n;
  *mean = m;
  *sd = std::sqrt(std::max(0.0, sum2 / n - m * m));
  return true;
}

}  // namespace difftriage::features::detail
