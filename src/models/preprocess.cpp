// Fused frame preprocessing: region → mask fill → pooling → transform → normalisation.
// This sits in the real-time budget (≥ 400 frames/s for 512² frames including the network), so
// it touches every input pixel once, templated on the pixel type, writing straight into the
// tensor's memory.
#include "difftriage/models/preprocess.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <variant>

#include "difftriage/core/parallel.h"

namespace difftriage::models {
namespace {

struct Region {
  int64_t row0 = 0, col0 = 0;  // first row/column of the square (may be < 0 for crop padding)
  int64_t side = 0;
};

// Centre of the region in pixel coordinates: beam centre when known (DIALS/CrystFEL count from
// the first pixel's corner, so pixel index = coordinate - 0.5), else the frame centre.
void region_centre(const DetectorMetadata* meta, int64_t n_slow, int64_t n_fast, double* cs,
                   double* cf) {
  *cs = 0.5 * static_cast<double>(n_slow);
  *cf = 0.5 * static_cast<double>(n_fast);
  if (meta != nullptr && meta->beam_center_slow_px && meta->beam_center_fast_px &&
      std::isfinite(*meta->beam_center_slow_px) && std::isfinite(*meta->beam_center_fast_px)) {
    *cs = *meta->beam_center_slow_px;
    *cf = *meta->beam_center_fast_px;
  }
}

int64_t place(double centre, int64_t side, int64_t extent) {
  if (side > extent) return (extent - side) / 2;  // centred padding (crop of a small frame)
  const auto start = static_cast<int64_t>(std::llround(centre - 0.5 * static_cast<double>(side)));
  return std::clamp<int64_t>(start, 0, extent - side);
}

template <typename T>
inline bool bad_value(T v, bool mask_negative) {
  if constexpr (std::is_unsigned_v<T>) {
    (void)v;
    (void)mask_negative;
    return false;
  } else if constexpr (std::is_floating_point_v<T>) {
    return mask_negative && !(v >= 0);  // negative or NaN
  } else {
    return mask_negative && v < 0;
  }
}

template <typename T>
bool any_masked(const ImageView<T>& img, const Region& r, bool mask_negative) {
  const int64_t r0 = std::max<int64_t>(r.row0, 0), r1 = std::min(r.row0 + r.side, img.n_slow());
  const int64_t c0 = std::max<int64_t>(r.col0, 0), c1 = std::min(r.col0 + r.side, img.n_fast());
  const bool check_values = !std::is_unsigned_v<T> && mask_negative;
  if (img.mask() == nullptr && !check_values) return false;
  for (int64_t s = r0; s < r1; ++s) {
    const int64_t base = s * img.n_fast();
    if (img.mask() != nullptr) {
      // An OR over the row (vectorised) rather than a test per byte: unmasked frames, the
      // common case, are scanned whole.
      const uint8_t* m = img.mask() + base;
      uint8_t any = 0;
      for (int64_t f = c0; f < c1; ++f) any |= m[f];
      if (any != 0) return true;
    }
    if (check_values) {
      for (int64_t f = c0; f < c1; ++f)
        if (bad_value(img.data()[base + f], mask_negative)) return true;
    }
  }
  return false;
}

// Median of the unmasked pixels of the region: a histogram for 8/16-bit pixels (exact, O(n)),
// a strided sample of ≤ 65536 pixels with nth_element otherwise.
template <typename T>
float background_value(const ImageView<T>& img, const Region& r, bool mask_negative) {
  const int64_t r0 = std::max<int64_t>(r.row0, 0), r1 = std::min(r.row0 + r.side, img.n_slow());
  const int64_t c0 = std::max<int64_t>(r.col0, 0), c1 = std::min(r.col0 + r.side, img.n_fast());
  const uint8_t* mask = img.mask();
  if constexpr (std::is_same_v<T, uint8_t> || std::is_same_v<T, uint16_t>) {
    std::vector<int64_t> hist(size_t{1} << (8 * sizeof(T)), 0);
    int64_t n = 0;
    for (int64_t s = r0; s < r1; ++s)
      for (int64_t f = c0; f < c1; ++f) {
        const int64_t i = s * img.n_fast() + f;
        if (mask != nullptr && mask[i] != 0) continue;
        ++hist[img.data()[i]];
        ++n;
      }
    if (n == 0) return 0.0f;
    int64_t seen = 0;
    for (size_t v = 0; v < hist.size(); ++v) {
      seen += hist[v];
      if (2 * seen > n) return static_cast<float>(v);
    }
    return 0.0f;
  } else {
    const int64_t n_region = (r1 - r0) * (c1 - c0);
    const int64_t stride = std::max<int64_t>(1, n_region / 65536);
    std::vector<float> sample;
    sample.reserve(static_cast<size_t>(std::min<int64_t>(n_region, 65536) + 1));
    // Every stride-th pixel of the region in row-major order (k = 0, stride, 2·stride, ...),
    // visited directly rather than by testing k % stride at every pixel.
    const int64_t width = c1 - c0;
    for (int64_t k = 0; k < n_region; k += stride) {
      const int64_t i = (r0 + k / width) * img.n_fast() + c0 + k % width;
      if ((mask != nullptr && mask[i] != 0) || bad_value(img.data()[i], mask_negative)) continue;
      sample.push_back(static_cast<float>(img.data()[i]));
    }
    if (sample.empty()) return 0.0f;
    auto mid = sample.begin() + static_cast<std::ptrdiff_t>(sample.size() / 2);
    std::nth_element(sample.begin(), mid, sample.end());
    return *mid;
  }
}

// Fast path for the common case (no masked pixel, S divides L, e.g. 512 → 128): for each
// output row, reduce the k input rows vertically into a row buffer (contiguous, vectorised, in
// the pixel type for max), then reduce k neighbours horizontally.
template <typename T>
void pool_integer_unmasked(const ImageView<T>& img, const Region& r, int64_t S, int64_t k,
                           bool use_max, float* out) {
  const int64_t L = r.side, nf = img.n_fast();
  std::vector<T> vmax(static_cast<size_t>(L));
  std::vector<float> vsum(static_cast<size_t>(L));
  const float inv = 1.0f / static_cast<float>(k * k);
  for (int64_t i = 0; i < S; ++i) {
    const T* row = img.data() + (r.row0 + i * k) * nf + r.col0;
    float* dst = out + i * S;
    if (use_max) {
      std::copy(row, row + L, vmax.begin());
      for (int64_t q = 1; q < k; ++q) {
        const T* p = row + q * nf;
        for (int64_t c = 0; c < L; ++c) vmax[c] = std::max(vmax[c], p[c]);
      }
      for (int64_t j = 0; j < S; ++j) {
        T m = vmax[j * k];
        for (int64_t q = 1; q < k; ++q) m = std::max(m, vmax[j * k + q]);
        dst[j] = static_cast<float>(m);
      }
    } else {
      for (int64_t c = 0; c < L; ++c) vsum[c] = static_cast<float>(row[c]);
      for (int64_t q = 1; q < k; ++q) {
        const T* p = row + q * nf;
        for (int64_t c = 0; c < L; ++c) vsum[c] += static_cast<float>(p[c]);
      }
      for (int64_t j = 0; j < S; ++j) {
        float acc = 0.0f;
        for (int64_t q = 0; q < k; ++q) acc += vsum[j * k + q];
        dst[j] = acc * inv;
      }
    }
  }
}

// How many of p[0..n) equal v: one simple reduction, which vectorises.
// Counted in 16-bit lanes (8 per SSE register instead of 4) over runs of 65535, which cannot
// overflow them.
template <typename T>
int64_t count_equal(const T* p, int64_t n, T v) {
  int64_t total = 0;
  for (int64_t start = 0; start < n; start += 65535) {
    const int64_t end = std::min<int64_t>(n, start + 65535);
    uint16_t count = 0;
    for (int64_t c = start; c < end; ++c) count = static_cast<uint16_t>(count + (p[c] == v ? 1 : 0));
    total += count;
  }
  return total;
}

// Bin-max for integer pixels, L > S (any L, not only multiples of S), in one pass over the
// region: the rows of output row i (those with rr·S/L == i, a contiguous band) are reduced
// vertically into a row buffer in the pixel type (contiguous, vectorised), then each column bin
// (columns with c·S/L == j, contiguous) horizontally. With `check`, masked pixels (mask byte
// non-zero, or bad_value) are left out of the maximum and remembered per bin; such a bin then
// takes max(its maximum, fill). That is exactly pool_region<true>'s max over the bin with masked
// pixels replaced by fill: the conversion to float is monotonic, so the max of the converted
// values is the converted max, and a left-out pixel contributes `lowest`, which never exceeds
// fill. For 8/16-bit pixels the fill (the median of the unmasked pixels, background_value) is
// computed in the same pass from a histogram (`fill` is ignored); otherwise it is given.
template <typename T>
void pool_max_banded(const ImageView<T>& img, const Region& r, int64_t S, bool check,
                     bool mask_negative, float fill, float* out) {
  static_assert(std::is_integral_v<T>, "bin-max banding needs integer pixels");
  constexpr bool kHistogram = std::is_same_v<T, uint8_t> || std::is_same_v<T, uint16_t>;
  const int64_t L = r.side, nf = img.n_fast();
  const T lowest = std::numeric_limits<T>::lowest();
  const uint8_t* mask = img.mask();
  std::vector<int64_t> col_start(static_cast<size_t>(S + 1));
  for (int64_t j = 0; j <= S; ++j) col_start[static_cast<size_t>(j)] = (j * L + S - 1) / S;
  std::vector<T> vmax(static_cast<size_t>(L));
  std::vector<uint8_t> vmasked(check ? static_cast<size_t>(L) : 0);
  std::vector<T> wrow(check && kHistogram ? static_cast<size_t>(L) : 0);
  std::vector<uint8_t> bin_masked(check ? static_cast<size_t>(S * S) : 0);
  // The fill is the median of the unmasked pixels. On detector frames it is a count of 0..3,
  // so the pass counts only those values (vectorised, no histogram); a higher median is found by
  // background_value's histogram afterwards.
  constexpr int kSmall = 4;
  int64_t n_unmasked = 0, n_small[kSmall] = {0, 0, 0, 0};
  for (int64_t i = 0; i < S; ++i) {
    const int64_t rs = (i * L + S - 1) / S, re = ((i + 1) * L + S - 1) / S;
    std::fill(vmax.begin(), vmax.end(), lowest);
    if (check) std::fill(vmasked.begin(), vmasked.end(), uint8_t{0});
    for (int64_t rr = rs; rr < re; ++rr) {
      const int64_t base = (r.row0 + rr) * nf + r.col0;
      const T* p = img.data() + base;
      T* vm = vmax.data();
      if (!check) {
        for (int64_t c = 0; c < L; ++c) vm[c] = std::max(vm[c], p[c]);
        continue;
      }
      const uint8_t* m = mask != nullptr ? mask + base : nullptr;
      uint8_t* vk = vmasked.data();
      if (std::is_unsigned_v<T> && m != nullptr) {
        // Branch-free loops of one kind each, so that they vectorise (GCC gives up on a select
        // between a load and a constant, and on mixed reductions): a masked pixel contributes 0
        // (lowest) to the maximum and the all-ones value to the row copy `w` in which the
        // unmasked pixels equal to 0..3 are counted for the fill (see below).
        T* w = wrow.data();
        for (int64_t c = 0; c < L; ++c) {
          const T keep = static_cast<T>(T{0} - static_cast<T>(m[c] == 0));
          vm[c] = std::max(vm[c], static_cast<T>(p[c] & keep));
        }
        for (int64_t c = 0; c < L; ++c) vk[c] |= m[c];
        if constexpr (kHistogram) {
          for (int64_t c = 0; c < L; ++c) {
            const T keep = static_cast<T>(T{0} - static_cast<T>(m[c] == 0));
            w[c] = static_cast<T>(p[c] | static_cast<T>(~keep));
          }
          n_unmasked += count_equal<uint8_t>(m, L, 0);
          for (int q = 0; q < kSmall; ++q) n_small[q] += count_equal<T>(w, L, static_cast<T>(q));
        }
      } else {
        for (int64_t c = 0; c < L; ++c) {
          const bool bad = (m != nullptr && m[c] != 0) || bad_value(p[c], mask_negative);
          vm[c] = std::max(vm[c], bad ? lowest : p[c]);
          vk[c] |= static_cast<uint8_t>(bad);
        }
        if constexpr (kHistogram) {
          for (int64_t c = 0; c < L; ++c) {  // no mask: every pixel counts
            n_unmasked += 1;
            if (p[c] < kSmall) n_small[p[c]] += 1;
          }
        }
      }
    }
    float* dst = out + i * S;
    for (int64_t j = 0; j < S; ++j) {
      const int64_t cs = col_start[static_cast<size_t>(j)], ce = col_start[static_cast<size_t>(j + 1)];
      T best = vmax[static_cast<size_t>(cs)];
      for (int64_t c = cs + 1; c < ce; ++c) best = std::max(best, vmax[static_cast<size_t>(c)]);
      dst[j] = static_cast<float>(best);
      if (check) {
        uint8_t any = 0;
        for (int64_t c = cs; c < ce; ++c) any |= vmasked[static_cast<size_t>(c)];
        bin_masked[static_cast<size_t>(i * S + j)] = any != 0 ? 1 : 0;
      }
    }
  }
  if (!check) return;
  if constexpr (kHistogram) {
    // The median of background_value: the smallest value v with 2·(unmasked pixels ≤ v) > n.
    fill = 0.0f;
    int64_t seen = 0;
    bool found = n_unmasked == 0;
    for (int v = 0; v < kSmall && !found; ++v) {
      seen += n_small[v];
      if (2 * seen > n_unmasked) {
        fill = static_cast<float>(v);
        found = true;
      }
    }
    if (!found) fill = background_value(img, r, mask_negative);
  }
  for (int64_t k = 0; k < S * S; ++k) {
    if (bin_masked[static_cast<size_t>(k)] != 0) out[k] = std::max(out[k], fill);
  }
}

// Pools the region into out[S*S]. kCheck: masked pixels are replaced by `fill`.
template <bool kCheck, typename T>
void pool_region(const ImageView<T>& img, const Region& r, int64_t S, bool use_max, float fill,
                 bool mask_negative, float* out) {
  const int64_t L = r.side, nf = img.n_fast();
  const T* data = img.data();
  const uint8_t* mask = img.mask();
  auto value = [&](int64_t i) -> float {
    if constexpr (kCheck) {
      if ((mask != nullptr && mask[i] != 0) || bad_value(data[i], mask_negative)) return fill;
    }
    return static_cast<float>(data[i]);
  };
  if (L <= S) {  // identity (L == S) or nearest-neighbour upsampling
    for (int64_t i = 0; i < S; ++i) {
      const int64_t s = r.row0 + i * L / S;
      float* dst = out + i * S;
      const int64_t base = s * nf + r.col0;
      if (L == S) {
        for (int64_t j = 0; j < S; ++j) dst[j] = value(base + j);
      } else {
        for (int64_t j = 0; j < S; ++j) dst[j] = value(base + j * L / S);
      }
    }
    return;
  }
  const float init = use_max ? -std::numeric_limits<float>::infinity() : 0.0f;
  std::fill(out, out + S * S, init);
  const bool integer_factor = L % S == 0;
  const int64_t k = L / S;
  std::vector<int32_t> col_bin;
  std::vector<float> col_count(static_cast<size_t>(S), 0.0f);
  if (!integer_factor) {
    col_bin.resize(static_cast<size_t>(L));
    for (int64_t c = 0; c < L; ++c) {
      col_bin[static_cast<size_t>(c)] = static_cast<int32_t>(c * S / L);
      col_count[static_cast<size_t>(c * S / L)] += 1.0f;
    }
  }
  std::vector<float> row_count(static_cast<size_t>(S), 0.0f);
  for (int64_t rr = 0; rr < L; ++rr) {
    const int64_t i = rr * S / L;
    row_count[static_cast<size_t>(i)] += 1.0f;
    float* dst = out + i * S;
    const int64_t base = (r.row0 + rr) * nf + r.col0;
    if (integer_factor) {
      for (int64_t j = 0; j < S; ++j) {
        const int64_t b = base + j * k;
        float acc = dst[j];
        if (use_max) {
          for (int64_t q = 0; q < k; ++q) acc = std::max(acc, value(b + q));
        } else {
          for (int64_t q = 0; q < k; ++q) acc += value(b + q);
        }
        dst[j] = acc;
      }
    } else if (use_max) {
      for (int64_t c = 0; c < L; ++c) {
        float& d = dst[col_bin[static_cast<size_t>(c)]];
        d = std::max(d, value(base + c));
      }
    } else {
      for (int64_t c = 0; c < L; ++c) dst[col_bin[static_cast<size_t>(c)]] += value(base + c);
    }
  }
  if (!use_max) {
    for (int64_t i = 0; i < S; ++i) {
      float* dst = out + i * S;
      for (int64_t j = 0; j < S; ++j) {
        const float n = row_count[static_cast<size_t>(i)] *
                        (integer_factor ? static_cast<float>(k) : col_count[static_cast<size_t>(j)]);
        dst[j] /= n;
      }
    }
  }
}

template <typename T>
void crop_region(const ImageView<T>& img, const Region& r, int64_t S, bool check, float fill,
                 bool mask_negative, float* out) {
  const T* data = img.data();
  const uint8_t* mask = img.mask();
  for (int64_t i = 0; i < S; ++i) {
    const int64_t s = r.row0 + i;
    float* dst = out + i * S;
    if (s < 0 || s >= img.n_slow()) {
      std::fill(dst, dst + S, fill);
      continue;
    }
    for (int64_t j = 0; j < S; ++j) {
      const int64_t f = r.col0 + j;
      if (f < 0 || f >= img.n_fast()) {
        dst[j] = fill;
        continue;
      }
      const int64_t idx = s * img.n_fast() + f;
      const bool masked =
          check && ((mask != nullptr && mask[idx] != 0) || bad_value(data[idx], mask_negative));
      dst[j] = masked ? fill : static_cast<float>(data[idx]);
    }
  }
}

// The intensity transform of every integer 0..65535, for frames whose preprocessed values are
// raw 8/16-bit counts (bin-max, crop, identity): one table load per value instead of a log1p or
// sqrt call (which dominated preprocessing of full 512² inputs). Built once, on first use; the
// entries are computed by the very expression of the per-value loop, so results are identical.
const float* transform_table(IntensityTransform t) {
  auto make = [](IntensityTransform which) {
    std::vector<float> table(65536);
    for (size_t v = 0; v < table.size(); ++v) {
      const float x = static_cast<float>(v);
      table[v] = which == IntensityTransform::kLog1p ? std::log1p(std::max(x, 0.0f))
                                                     : std::sqrt(std::max(x, 0.0f));
    }
    return table;
  };
  if (t == IntensityTransform::kLog1p) {
    static const std::vector<float> log1p_table = make(IntensityTransform::kLog1p);
    return log1p_table.data();
  }
  if (t == IntensityTransform::kSqrt) {
    static const std::vector<float> sqrt_table = make(IntensityTransform::kSqrt);
    return sqrt_table.data();
  }
  return nullptr;
}

// `table`: non-null when every out[i] is an integer in 0..65535 (see transform_table).
void transform_and_normalise(const PreprocessOptions& o, float* out, int64_t n,
                             const float* table) {
  if (table != nullptr) {
    for (int64_t i = 0; i < n; ++i) out[i] = table[static_cast<uint32_t>(out[i])];
  } else {
    switch (o.transform) {
      case IntensityTransform::kLinear:
        break;
      case IntensityTransform::kSqrt:
        for (int64_t i = 0; i < n; ++i) out[i] = std::sqrt(std::max(out[i], 0.0f));
        break;
      case IntensityTransform::kLog1p:
        for (int64_t i = 0; i < n; ++i) out[i] = std::log1p(std::max(out[i], 0.0f));
        break;
    }
  }
  float shift = 0.0f, scale = 1.0f;
  if (o.normalization == Normalization::kFixed) {
    shift = static_cast<float>(o.mean);
    scale = static_cast<float>(1.0 / o.std);
  } else if (o.normalization == Normalization::kPerFrame) {
    // Four interleaved accumulators: independent dependency chains (and SIMD lanes), about 4x
    // faster than one on 512² inputs; the order of the double additions changes only their
    // last bits, far below the float precision of the result.
    double acc[4] = {0, 0, 0, 0}, acc2[4] = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
      for (int k = 0; k < 4; ++k) {
        const double v = out[i + k];
        acc[k] += v;
        acc2[k] += v * v;
      }
    }
    for (int k = 0; i < n; ++i, ++k) {
      const double v = out[i];
      acc[k] += v;
      acc2[k] += v * v;
    }
    const double sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    const double sum2 = (acc2[0] + acc2[1]) + (acc2[2] + acc2[3]);
    const double mean = sum / static_cast<double>(n);
    const double var = std::max(0.0, sum2 / static_cast<double>(n) - mean * mean);
    const double sd = std::sqrt(var);
    shift = static_cast<float>(mean);
    scale = sd < 1e-6 ? 1.0f : static_cast<float>(1.0 / sd);
  } else {
    return;
  }
  for (int64_t i = 0; i < n; ++i) out[i] = (out[i] - shift) * scale;
}

}  // namespace

Preprocessor::Preprocessor(PreprocessOptions options) : options_(options) { validate(options_); }

template <typename T>
void Preprocessor::preprocess_into(const ImageView<T>& img, float* out) const {
  DT_CHECK(!img.empty(), ConfigError, "preprocess: empty frame (", img.n_slow(), " x ",
           img.n_fast(), ")");
  const int64_t S = options_.input_size;
  double cs = 0, cf = 0;
  region_centre(img.metadata(), img.n_slow(), img.n_fast(), &cs, &cf);
  Region r;
  r.side = options_.mode == InputMode::kCrop ? S : std::min(img.n_slow(), img.n_fast());
  r.row0 = place(cs, r.side, img.n_slow());
  r.col0 = place(cf, r.side, img.n_fast());
  const bool masked = any_masked(img, r, options_.mask_negative);
  const bool padded = options_.mode == InputMode::kCrop &&
                      (r.side > img.n_slow() || r.side > img.n_fast());
  constexpr bool kSmallCounts = std::is_same_v<T, uint8_t> || std::is_same_v<T, uint16_t>;
  if constexpr (std::is_integral_v<T>) {
    if (options_.mode == InputMode::kBinMax && r.side > S) {
      // Detector frames (EIGER 4M-16M) pooled to the network input: the banded pass. 8/16-bit
      // frames get their fill from the same pass.
      const float fill =
          masked && !kSmallCounts ? background_value(img, r, options_.mask_negative) : 0.0f;
      pool_max_banded(img, r, S, masked, options_.mask_negative, fill, out);
      transform_and_normalise(options_, out, S * S,
                              kSmallCounts ? transform_table(options_.transform) : nullptr);
      return;
    }
  }
  const float fill = (masked || padded) ? background_value(img, r, options_.mask_negative) : 0.0f;
  if (options_.mode == InputMode::kCrop) {
    crop_region(img, r, S, masked, fill, options_.mask_negative, out);
  } else {
    const bool use_max = options_.mode == InputMode::kBinMax;
    if (!masked && r.side > S && r.side % S == 0) {
      pool_integer_unmasked(img, r, S, r.side / S, use_max, out);
    } else if (masked) {
      pool_region<true>(img, r, S, use_max, fill, options_.mask_negative, out);
    } else {
      pool_region<false>(img, r, S, use_max, fill, options_.mask_negative, out);
    }
  }
  // 8/16-bit counts stay integers unless bin-mean averages them (fill values are medians of
  // such counts, integers too): the transform can be a table lookup.
  const bool integer_values = (std::is_same_v<T, uint8_t> || std::is_same_v<T, uint16_t>) &&
                              (options_.mode != InputMode::kBinMean || r.side <= S);
  transform_and_normalise(options_, out, S * S,
                          integer_values ? transform_table(options_.transform) : nullptr);
}

template void Preprocessor::preprocess_into(const ImageView<uint8_t>&, float*) const;
template void Preprocessor::preprocess_into(const ImageView<uint16_t>&, float*) const;
template void Preprocessor::preprocess_into(const ImageView<int32_t>&, float*) const;
template void Preprocessor::preprocess_into(const ImageView<float>&, float*) const;

void Preprocessor::preprocess_into(const AnyImage& frame, float* out) const {
  std::visit([&](const auto& img) { preprocess_into(img.view(), out); }, frame);
}

torch::Tensor Preprocessor::preprocess(const AnyImage& frame) const {
  const int64_t S = options_.input_size;
  auto t = torch::empty({1, S, S}, torch::kFloat32);
  preprocess_into(frame, t.data_ptr<float>());
  return t;
}

torch::Tensor Preprocessor::preprocess_batch(const std::vector<const AnyImage*>& frames) const {
  const int64_t S = options_.input_size, n = static_cast<int64_t>(frames.size());
  for (const auto* f : frames) DT_CHECK(f != nullptr, ConfigError, "preprocess_batch: null frame");
  auto t = torch::empty({n, 1, S, S}, torch::kFloat32);
  float* base = t.data_ptr<float>();
  // Frames are independent: hand them out to at::get_num_threads() workers. (Not
  // at::parallel_for: its OpenMP body is inlined into this file, which is not built with
  // -fopenmp, so it would run serially.) The first exception is rethrown here.
  parallel_for(n, at::get_num_threads(), [&](int64_t i) {
    preprocess_into(*frames[static_cast<size_t>(i)], base + i * S * S);
  });
  return t;
}

torch::Tensor Preprocessor::preprocess_batch(const std::vector<AnyImage>& frames) const {
  std::vector<const AnyImage*> ptrs;
  ptrs.reserve(frames.size());
  for (const auto& f : frames) ptrs.push_back(&f);
  return preprocess_batch(ptrs);
}

}  // namespace difftriage::models
