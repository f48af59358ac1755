#include "difftriage/simulate/random.h"

#include <cmath>

namespace difftriage::simulate::detail {
namespace {

// 256 layers: R = x[1] is the start of the tail and V the common area of every layer (Marsaglia &
// Tsang 2000, table for n = 256). Construction as in Doornik (2005), "An improved ziggurat method
// to generate normal random samples": x[0] = V/f(R) is the base strip including the tail.
constexpr double kR = 3.6541528853610088;
constexpr double kV = 0.00492867323399;

ZigguratTables build_tables() {
  ZigguratTables t{};
  double f = std::exp(-0.5 * kR * kR);
  t.x[0] = kV / f;
  t.x[1] = kR;
  t.x[256] = 0.0;
  for (int i = 2; i < 256; ++i) {
    t.x[i] = std::sqrt(-2.0 * std::log(kV / t.x[i - 1] + f));
    f = std::exp(-0.5 * t.x[i] * t.x[i]);
  }
  for (int i = 0; i < 256; ++i) t.ratio[i] = t.x[i + 1] / t.x[i];
  return t;
}

double next_uniform_open(uint64_t& state) {
  // (0, 1]: safe for log.
  return 1.0 - unit_double(splitmix64_next(state));
}

}  // namespace

const ZigguratTables& ziggurat_tables() noexcept {
  static const ZigguratTables tables = build_tables();
  return tables;
}

double ziggurat_slow(uint64_t& state, int layer, double u) noexcept {
  const ZigguratTables& t = ziggurat_tables();
  for (;;) {
    if (layer == 0) {
      // Tail beyond R (Marsaglia 1964): x = −log(U1)/R until −2 log(U2) ≥ x².
      double x, y;
      do {
        x = -std::log(next_uniform_open(state)) / kR;
        y = -std::log(next_uniform_open(state));
      } while (2.0 * y < x * x);
      return u < 0.0 ? -(kR + x) : kR + x;
    }
    // Wedge between layers: accept under the density.
    const double x = u * t.x[layer];
    const double f0 = std::exp(-0.5 * (t.x[layer] * t.x[layer] - x * x));
    const double f1 = std::exp(-0.5 * (t.x[layer + 1] * t.x[layer + 1] - x * x));
    if (f1 + unit_double(splitmix64_next(state)) * (f0 - f1) < 1.0) return x;
    // Rejected: a fresh draw through the fast path.
    const uint64_t w = splitmix64_next(state);
    layer = static_cast<int>(w & 0xFF);
    u = static_cast<double>(static_cast<int64_t>(w) >> 11) * 0x1.0p-52;
    if (std::fabs(u) < t.ratio[layer]) return u * t.x[layer];
  }
}

}  // namespace difftriage::simulate::detail
