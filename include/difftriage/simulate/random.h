/// Portable, seeded random numbers for the simulator.
///
/// The std:: distributions are implementation-defined (libstdc++ and libc++ give different
/// numbers for the same engine state), so the simulator draws only raw 64-bit words from
/// std::mt19937_64 (whose output sequence the standard fixes) and builds its own uniform, normal,
/// exponential and Poisson samplers on top. Same seed ⇒ same numbers on every platform. Seeds
/// are mixed, and FastRng generates, with core's SplitMix64 (core/random.h).
///
///   difftriage::simulate::Rng rng(difftriage::simulate::derive_seed(42, 17, kStreamNoise));
///   double photons = rng.poisson(12.5);
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <random>

#include "difftriage/core/random.h"

namespace difftriage::simulate {

/// Random streams of one frame; each gets its own seed so that, e.g., changing the noise model
/// does not change the crystal orientation of the same frame.
enum class RngStream : uint64_t { kScene = 1, kStructure = 2, kNoise = 3, kIceGrains = 4 };

/// Seed of stream `stream` of image `index` under run seed `seed`:
/// splitmix64(splitmix64(splitmix64(seed) ^ index) ^ stream).
constexpr uint64_t derive_seed(uint64_t seed, uint64_t index, RngStream stream) noexcept {
  return splitmix64(splitmix64(splitmix64(seed) ^ index) ^ static_cast<uint64_t>(stream));
}

/// Seeded random source. Not thread-safe: one per thread / per frame.
class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}

  /// Raw 64-bit word.
  uint64_t next() noexcept { return engine_(); }
  /// Uniform in [0, 1).
  double uniform() noexcept { return unit_double(engine_()); }
  /// Uniform in [lo, hi).
  double uniform(double lo, double hi) noexcept { return lo + (hi - lo) * uniform(); }
  /// Log-uniform in [lo, hi) (both > 0): scale parameters spread evenly over decades.
  double log_uniform(double lo, double hi) noexcept {
    return std::exp(uniform(std::log(lo), std::log(hi)));
  }
  /// Uniform integer in [0, n) (0 < n < 2^53), from a 53-bit uniform double.
  uint64_t uniform_index(uint64_t n) noexcept {
    const auto k = static_cast<uint64_t>(uniform() * static_cast<double>(n));
    return k < n ? k : n - 1;
  }
  /// True with probability p.
  bool bernoulli(double p) noexcept { return uniform() < p; }

  /// Standard normal by the Box–Muller transform (the second value is cached).
  double normal() noexcept {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    // u1 in (0, 1] so that log(u1) is finite.
    const double u1 = 1.0 - uniform();
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double phi = 6.283185307179586 * u2;
    spare_ = r * std::sin(phi);
    has_spare_ = true;
    return r * std::cos(phi);
  }
  /// Normal with mean `mean` and standard deviation `sigma`.
  double normal(double mean, double sigma) noexcept { return mean + sigma * normal(); }
  /// Exponential with mean 1, by inversion: -log(U).
  double exponential() noexcept { return -std::log(1.0 - uniform()); }

  /// Poisson with mean `mean` (≥ 0). Below kPoissonNormalCutoff: Knuth's multiplication method
  /// (exact; ~mean uniforms). At or above: the normal approximation with continuity correction,
  /// round(mean + sqrt(mean)·Z), clamped at 0 — its relative error in the variance is O(1/mean)
  /// and invisible beside detector read noise at these counts.
  double poisson(double mean) noexcept {
    if (!(mean > 0.0)) return 0.0;
    if (mean < kPoissonNormalCutoff) {
      const double limit = std::exp(-mean);
      double product = uniform();
      int k = 0;
      while (product > limit) {
        ++k;
        product *= uniform();
      }
      return k;
    }
    const double x = std::floor(mean + std::sqrt(mean) * normal() + 0.5);
    return x < 0.0 ? 0.0 : x;
  }

  /// Mean above which poisson() switches to the normal approximation.
  static constexpr double kPoissonNormalCutoff = 12.0;

 private:
  std::mt19937_64 engine_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

namespace detail {
/// Tables of the 256-layer normal ziggurat (Marsaglia & Tsang 2000, in Doornik's 2005 ZIGNOR
/// form): x[i] layer edges, ratio[i] = x[i+1]/x[i]. Built once, on first use, thread-safely.
struct ZigguratTables {
  double x[257];
  double ratio[256];
};
/// The process-wide tables (computed with std::exp/log/sqrt on first call).
const ZigguratTables& ziggurat_tables() noexcept;
/// The rare ziggurat cases (wedges and the tail beyond x[1]), continuing from layer `layer` and
/// signed uniform `u` ∈ [−1, 1) drawn by the fast path; draws further words from `state`.
double ziggurat_slow(uint64_t& state, int layer, double u) noexcept;
/// 1/k for k in [1, kInverseTableSize) (entry 0 unused), for FastRng::poisson.
inline constexpr int kInverseTableSize = 64;
constexpr std::array<double, kInverseTableSize> make_inverse_table() {
  std::array<double, kInverseTableSize> t{};
  for (int k = 1; k < kInverseTableSize; ++k) t[static_cast<size_t>(k)] = 1.0 / k;
  return t;
}
inline constexpr std::array<double, kInverseTableSize> kInverse = make_inverse_table();
}  // namespace detail

/// Fast seeded source for bulk per-pixel detector noise. The SplitMix64 generator (Steele, Lea &
/// Flood 2014; one add and two multiplies per 64-bit word, passes BigCrush) with a ziggurat
/// normal (≈ 99 % of draws: one word, a compare, a multiply) and a Poisson by CDF inversion
/// (one uniform and one exp per draw). Integer arithmetic and IEEE doubles only, so the same seed
/// gives the same numbers on every platform (the ziggurat tables and the rare slow paths use
/// std::exp/std::log, as Rng does). Not thread-safe: one per thread / per image row.
class FastRng {
 public:
  explicit FastRng(uint64_t seed) noexcept : state_(seed), zig_(&detail::ziggurat_tables()) {}

  /// Raw 64-bit word.
  uint64_t next() noexcept { return splitmix64_next(state_); }
  /// Uniform in [0, 1).
  double uniform() noexcept { return unit_double(next()); }

  /// Standard normal (256-layer ziggurat). Layer from the low 8 bits, the signed uniform from the
  /// top 53 bits of the same word (disjoint bits, so independent).
  double normal() noexcept {
    const uint64_t w = next();
    const int layer = static_cast<int>(w & 0xFF);
    const double u = static_cast<double>(static_cast<int64_t>(w) >> 11) * 0x1.0p-52;  // [−1, 1)
    if (std::fabs(u) < zig_->ratio[layer]) return u * zig_->x[layer];
    return detail::ziggurat_slow(state_, layer, u);
  }

  /// Poisson with mean `mean` (0 ≤ mean ≤ 50 for exactness; callers switch to a normal above
  /// Rng::kPoissonNormalCutoff) by sequential inversion of the CDF: one uniform, one exp and
  /// ~mean multiply-adds. Returns 0 for mean ≤ 0.
  double poisson(double mean) noexcept {
    if (!(mean > 0.0)) return 0.0;
    const double u = uniform();
    double p = std::exp(-mean), cdf = p;
    int k = 0;
    while (u >= cdf && k < 1000) {
      ++k;
      // p_k = p_{k−1}·mean/k with 1/k from a table: a divide in this serial chain cost more
      // than the rest of a pixel's noise.
      p *= mean * (k < detail::kInverseTableSize ? detail::kInverse[static_cast<size_t>(k)] : 1.0 / k);
      // Rounding can leave the summed CDF a hair below 1: stop once the terms vanish.
      if (p < 1e-300 && cdf > 0.5) break;
      cdf += p;
    }
    return k;
  }

 private:
  uint64_t state_;
  const detail::ZigguratTables* zig_;
};

}  // namespace difftriage::simulate
