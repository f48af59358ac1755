// CBF byte-offset decoding (see include/difftriage/io/byte_offset.h for the coding).
//
// Speed matters: a PILATUS 12M frame is 12.5 M pixels, about one input byte each. The loop is
// split in two: while at least 15 bytes remain (the longest step: 1 + 2 + 4 + 8 escape and
// payload bytes) no step can run off the end, so the bounds are checked once per pixel instead
// of at every escape; the last few pixels go through a checked copy of the same step.
#include "difftriage/io/byte_offset.h"

#include <limits>

#include "difftriage/core/error.h"

namespace difftriage::io {
namespace {

constexpr size_t kLongestStep = 15;

// Little-endian loads of two's complement integers, independent of the host's byte order
// (compilers turn these into single loads on x86 and ARM).
inline int16_t load_i16(const uint8_t* p) noexcept {
  return static_cast<int16_t>(static_cast<uint16_t>(p[0] | (p[1] << 8)));
}
inline int32_t load_i32(const uint8_t* p) noexcept {
  const uint32_t v = static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
                     (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
  return static_cast<int32_t>(v);
}
inline int64_t load_i64(const uint8_t* p) noexcept {
  const uint64_t lo = static_cast<uint32_t>(load_i32(p));
  const uint64_t hi = static_cast<uint32_t>(load_i32(p + 4));
  return static_cast<int64_t>(lo | (hi << 32));
}

// One difference starting at data[pos]; advances pos. With kChecked, returns false when the
// step would read past n_bytes (pos is then unchanged).
template <bool kChecked>
inline bool read_delta(const uint8_t* data, size_t n_bytes, size_t& pos, int64_t& delta) noexcept {
  if (kChecked && pos + 1 > n_bytes) return false;
  const auto d8 = static_cast<int8_t>(data[pos]);
  if (d8 != std::numeric_limits<int8_t>::min()) {
    delta = d8;
    pos += 1;
    return true;
  }
  if (kChecked && pos + 3 > n_bytes) return false;
  const int16_t d16 = load_i16(data + pos + 1);
  if (d16 != std::numeric_limits<int16_t>::min()) {
    delta = d16;
    pos += 3;
    return true;
  }
  if (kChecked && pos + 7 > n_bytes) return false;
  const int32_t d32 = load_i32(data + pos + 3);
  if (d32 != std::numeric_limits<int32_t>::min()) {
    delta = d32;
    pos += 7;
    return true;
  }
  if (kChecked && pos + kLongestStep > n_bytes) return false;
  delta = load_i64(data + pos + 7);
  pos += kLongestStep;
  return true;
}

[[noreturn]] void throw_out_of_range(const std::string& name, int64_t index, int64_t value) {
  throw FormatError(::difftriage::detail::concat(
      name, ": corrupt byte-offset data: pixel ", index, " decodes to ", value,
      ", outside the int32 range"));
}

}  // namespace

size_t decode_byte_offset(const uint8_t* data, size_t n_bytes, int32_t* out, int64_t n_values,
                          const std::string& name) {
  if (n_values <= 0) return 0;
  if (data == nullptr) n_bytes = 0;
  // The running value is kept modulo 2^64 (unsigned: wrapping is defined), then checked to be
  // an int32, so a corrupt 64-bit escape can neither overflow nor slip through truncated.
  uint64_t value = 0;
  size_t pos = 0;
  int64_t i = 0;
  int64_t delta = 0;
  const size_t safe_end = n_bytes >= kLongestStep ? n_bytes - kLongestStep + 1 : 0;
  for (; i < n_values && pos < safe_end; ++i) {
    read_delta<false>(data, n_bytes, pos, delta);
    value += static_cast<uint64_t>(delta);
    const auto v = static_cast<int64_t>(value);
    // One comparison for both bounds: v is an int32 iff v + 2^31 lies in [0, 2^32).
    if (static_cast<uint64_t>(v) + (uint64_t{1} << 31) > std::numeric_limits<uint32_t>::max()) {
      throw_out_of_range(name, i, v);
    }
    out[i] = static_cast<int32_t>(v);
  }
  for (; i < n_values; ++i) {
    if (!read_delta<true>(data, n_bytes, pos, delta)) {
      throw FormatError(::difftriage::detail::concat(
          name, ": truncated byte-offset data: ", n_bytes, " bytes hold only ", i, " of ",
          n_values, " pixels"));
    }
    value += static_cast<uint64_t>(delta);
    const auto v = static_cast<int64_t>(value);
    if (static_cast<uint64_t>(v) + (uint64_t{1} << 31) > std::numeric_limits<uint32_t>::max()) {
      throw_out_of_range(name, i, v);
    }
    out[i] = static_cast<int32_t>(v);
  }
  return pos;
}

}  // namespace difftriage::io
