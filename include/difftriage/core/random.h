/// The one seed mixer and base generator of the library: SplitMix64 (Steele, Lea & Flood 2014,
/// "Fast splittable pseudorandom number generators"). Integer arithmetic only, so the same seed
/// gives the same numbers on every platform. Every module derives its seeds with splitmix64() and
/// turns 64-bit words into doubles with unit_double().
///
///   uint64_t stream_seed = difftriage::splitmix64(difftriage::splitmix64(run_seed) ^ index);
///   uint64_t state = stream_seed;
///   double u = difftriage::unit_double(difftriage::splitmix64_next(state));   // [0, 1)
#pragma once

#include <cstdint>

namespace difftriage {

/// The SplitMix64 increment (2^64 / golden ratio, odd).
inline constexpr uint64_t kSplitMix64Increment = 0x9E3779B97F4A7C15ULL;

/// SplitMix64's output function applied to x + kSplitMix64Increment: a bijective 64-bit mixer
/// that turns related seeds (0, 1, 2, ...) into unrelated ones. splitmix64(0) = 0xE220A8397B1DCDAF.
constexpr uint64_t splitmix64(uint64_t x) noexcept {
  x += kSplitMix64Increment;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

/// One step of the SplitMix64 generator: advances `state` by the increment and returns the mixed
/// word, so that successive calls from state s give splitmix64(s), splitmix64(s + inc), ...
constexpr uint64_t splitmix64_next(uint64_t& state) noexcept {
  const uint64_t word = splitmix64(state);
  state += kSplitMix64Increment;
  return word;
}

/// A uniform double in [0, 1) from the top 53 bits of a 64-bit word.
constexpr double unit_double(uint64_t word) noexcept {
  return static_cast<double>(word >> 11) * 0x1.0p-53;
}

}  // namespace difftriage
