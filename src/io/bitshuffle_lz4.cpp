// Bitshuffle and LZ4 chunk codecs (see include/difftriage/io/bitshuffle_lz4.h for the formats).
// Written from the format descriptions; the bit transpose is the classic 8x8 one (Hacker's
// Delight 7-3), applied to 8 elements x 8 bit rows at a time.
#include "difftriage/io/bitshuffle_lz4.h"

#include <lz4.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <climits>
#include <cstring>
#include <vector>

#include "difftriage/core/error.h"

namespace difftriage::io {
namespace {

using ::difftriage::detail::concat;

uint64_t read_be64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

uint32_t read_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Transposes the 8x8 bit matrix held in x (byte i = row i, bit j = column j, least significant
// first): afterwards bit j of byte i is what bit i of byte j was.
inline uint64_t transpose_8x8(uint64_t x) {
  uint64_t t = (x ^ (x >> 7)) & 0x00AA00AA00AA00AAULL;
  x = x ^ t ^ (t << 7);
  t = (x ^ (x >> 14)) & 0x0000CCCC0000CCCCULL;
  x = x ^ t ^ (t << 14);
  t = (x ^ (x >> 28)) & 0x00000000F0F0F0F0ULL;
  x = x ^ t ^ (t << 28);
  return x;
}

#if defined(__SSE2__)
// transpose_8x8 on both 64-bit lanes at once.
inline __m128i transpose_8x8_x2(__m128i x) {
  const __m128i m1 = _mm_set1_epi64x(0x00AA00AA00AA00AALL);
  const __m128i m2 = _mm_set1_epi64x(0x0000CCCC0000CCCCLL);
  const __m128i m3 = _mm_set1_epi64x(0x00000000F0F0F0F0LL);
  __m128i t = _mm_and_si128(_mm_xor_si128(x, _mm_srli_epi64(x, 7)), m1);
  x = _mm_xor_si128(_mm_xor_si128(x, t), _mm_slli_epi64(t, 7));
  t = _mm_and_si128(_mm_xor_si128(x, _mm_srli_epi64(x, 14)), m2);
  x = _mm_xor_si128(_mm_xor_si128(x, t), _mm_slli_epi64(t, 14));
  t = _mm_and_si128(_mm_xor_si128(x, _mm_srli_epi64(x, 28)), m3);
  return _mm_xor_si128(_mm_xor_si128(x, t), _mm_slli_epi64(t, 28));
}

// Element byte `byte` of the 128 elements of groups group .. group+15: out[m] holds it for
// elements 16m .. 16m+15 (relative to element 8·group). The 8 bit rows' bytes of a group are
// gathered into one 64-bit lane (row k in byte k) by three rounds of unpacking, then each lane
// is bit-transposed, as in the scalar loop.
inline void unshuffle_16_groups(const uint8_t* rows, size_t n_row_bytes, __m128i out[8]) {
  __m128i r[8];
  for (int k = 0; k < 8; ++k) {
    r[k] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows + static_cast<size_t>(k) * n_row_bytes));
  }
  __m128i a[8];  // pairs of rows: a[2p] groups 0-7, a[2p+1] groups 8-15
  for (int p = 0; p < 4; ++p) {
    a[2 * p] = _mm_unpacklo_epi8(r[2 * p], r[2 * p + 1]);
    a[2 * p + 1] = _mm_unpackhi_epi8(r[2 * p], r[2 * p + 1]);
  }
  __m128i b[8];  // rows 0-3 (b[0..3]) and 4-7 (b[4..7]) of groups 0-3, 4-7, 8-11, 12-15
  for (int h = 0; h < 2; ++h) {
    b[4 * h + 0] = _mm_unpacklo_epi16(a[4 * h + 0], a[4 * h + 2]);
    b[4 * h + 1] = _mm_unpackhi_epi16(a[4 * h + 0], a[4 * h + 2]);
    b[4 * h + 2] = _mm_unpacklo_epi16(a[4 * h + 1], a[4 * h + 3]);
    b[4 * h + 3] = _mm_unpackhi_epi16(a[4 * h + 1], a[4 * h + 3]);
  }
  for (int q = 0; q < 4; ++q) {
    out[2 * q] = transpose_8x8_x2(_mm_unpacklo_epi32(b[q], b[4 + q]));
    out[2 * q + 1] = transpose_8x8_x2(_mm_unpackhi_epi32(b[q], b[4 + q]));
  }
}

// The whole runs of 16 groups of bitunshuffle_block for 1-, 2- and 4-byte elements (EIGER's
// 8/16/32-bit pixels); returns the number of groups done (the rest go through the scalar loop).
size_t bitunshuffle_block_sse2(const uint8_t* in, uint8_t* out, size_t n_row_bytes,
                               size_t elem_size) {
  if (elem_size != 1 && elem_size != 2 && elem_size != 4) return 0;
  const size_t n_done = n_row_bytes - n_row_bytes % 16;
  __m128i v[4][8];
  for (size_t group = 0; group < n_done; group += 16) {
    for (size_t byte = 0; byte < elem_size; ++byte) {
      unshuffle_16_groups(in + 8 * byte * n_row_bytes + group, n_row_bytes, v[byte]);
    }
    auto* dst = reinterpret_cast<__m128i*>(out + 8 * group * elem_size);
    for (int m = 0; m < 8; ++m) {
      if (elem_size == 1) {
        _mm_storeu_si128(dst + m, v[0][m]);
      } else if (elem_size == 2) {
        _mm_storeu_si128(dst + 2 * m, _mm_unpacklo_epi8(v[0][m], v[1][m]));
        _mm_storeu_si128(dst + 2 * m + 1, _mm_unpackhi_epi8(v[0][m], v[1][m]));
      } else {
        const __m128i lo01 = _mm_unpacklo_epi8(v[0][m], v[1][m]);
        const __m128i hi01 = _mm_unpackhi_epi8(v[0][m], v[1][m]);
        const __m128i lo23 = _mm_unpacklo_epi8(v[2][m], v[3][m]);
        const __m128i hi23 = _mm_unpackhi_epi8(v[2][m], v[3][m]);
        _mm_storeu_si128(dst + 4 * m, _mm_unpacklo_epi16(lo01, lo23));
        _mm_storeu_si128(dst + 4 * m + 1, _mm_unpackhi_epi16(lo01, lo23));
        _mm_storeu_si128(dst + 4 * m + 2, _mm_unpacklo_epi16(hi01, hi23));
        _mm_storeu_si128(dst + 4 * m + 3, _mm_unpackhi_epi16(hi01, hi23));
      }
    }
  }
  return n_done;
}
#endif

// Bitshuffle's default block (bshuf_default_block_size): 8192 bytes' worth of elements, a
// multiple of 8, at least 128.
size_t default_block_elements(size_t elem_size) {
  size_t n = 8192 / elem_size;
  n -= n % 8;
  return std::max<size_t>(n, 128);
}

}  // namespace

void bitunshuffle_block(const uint8_t* in, uint8_t* out, size_t n_elements, size_t elem_size) {
  DT_CHECK(n_elements % 8 == 0 && elem_size > 0, ConfigError,
           "bitunshuffle_block: ", n_elements, " elements of ", elem_size,
           " bytes (need a multiple of 8 elements and a non-zero element size)");
  const size_t n_row_bytes = n_elements / 8;  // one bit row: one bit of every element
  size_t first_group = 0;
#if defined(__SSE2__)
  // 16 groups (128 elements) at a time with SSE2 (part of x86-64): about 4x the scalar loop,
  // which was the largest cost of reading a 16M frame after LZ4 (perf, scripts/bench-stream).
  first_group = bitunshuffle_block_sse2(in, out, n_row_bytes, elem_size);
#endif
  for (size_t byte = 0; byte < elem_size; ++byte) {
    // Bit rows 8*byte .. 8*byte+7 hold the bits of element byte `byte`.
    const uint8_t* rows = in + 8 * byte * n_row_bytes;
    for (size_t group = first_group; group < n_row_bytes; ++group) {
      uint64_t x = 0;
      for (size_t bit = 0; bit < 8; ++bit) {
        x |= uint64_t{rows[bit * n_row_bytes + group]} << (8 * bit);
      }
      x = transpose_8x8(x);  // byte k now holds bits 0..7 of element 8*group + k
      uint8_t* dst = out + 8 * group * elem_size + byte;
      for (size_t k = 0; k < 8; ++k) dst[k * elem_size] = static_cast<uint8_t>(x >> (8 * k));
    }
  }
}

void bitunshuffle(const uint8_t* in, uint8_t* out, size_t n_elements, size_t elem_size,
                  size_t block_elements) {
  DT_CHECK(elem_size > 0 && block_elements % 8 == 0, ConfigError, "bitunshuffle: block of ",
           block_elements, " elements of ", elem_size,
           " bytes (need a multiple of 8 and a non-zero element size)");
  if (block_elements == 0) block_elements = default_block_elements(elem_size);
  size_t done = 0;
  while (n_elements - done >= 8) {
    size_t count = std::min(block_elements, n_elements - done);
    count -= count % 8;
    bitunshuffle_block(in + done * elem_size, out + done * elem_size, count, elem_size);
    done += count;
  }
  // Guarded: memcpy with a null pointer is undefined even for 0 bytes (an empty output buffer's
  // data() may be null; found by fuzzing with UBSan).
  if (n_elements > done) {
    std::memcpy(out + done * elem_size, in + done * elem_size, (n_elements - done) * elem_size);
  }
}

void decode_bitshuffle_lz4(const uint8_t* in, size_t n_in, uint8_t* out, size_t n_out,
                           size_t elem_size, const std::string& where) {
  if (elem_size == 0 || n_out % elem_size != 0) {
    throw FormatError(concat(where, ": bitshuffle element size ", elem_size,
                             " does not divide the frame's ", n_out, " bytes"));
  }
  if (n_in < 12) {
    throw FormatError(concat(where, ": bitshuffle/LZ4 data truncated: ", n_in,
                             " bytes, less than its 12-byte header"));
  }
  const uint64_t total = read_be64(in);
  const uint32_t block_bytes = read_be32(in + 8);
  if (total != n_out) {
    throw FormatError(concat(where, ": bitshuffle/LZ4 header gives ", total,
                             " uncompressed bytes, the frame needs ", n_out));
  }
  if (block_bytes == 0 || block_bytes % elem_size != 0 || (block_bytes / elem_size) % 8 != 0 ||
      block_bytes > static_cast<uint32_t>(INT_MAX)) {
    throw FormatError(concat(where, ": bitshuffle/LZ4 block size of ", block_bytes,
                             " bytes is not a multiple of 8 elements of ", elem_size, " bytes"));
  }
  const size_t n_elements = n_out / elem_size;
  const size_t block_elements = block_bytes / elem_size;
  std::vector<uint8_t> shuffled(std::min<size_t>(block_bytes, n_out));
  size_t pos = 12, done = 0, block = 0;
  while (n_elements - done >= 8) {
    size_t count = std::min(block_elements, n_elements - done);
    count -= count % 8;
    const size_t n_plain = count * elem_size;
    if (n_in - pos < 4) {
      throw FormatError(concat(where, ": bitshuffle/LZ4 data truncated at block ", block, " of ",
                               (n_elements + block_elements - 1) / block_elements, " (byte ",
                               pos, " of ", n_in, ")"));
    }
    const uint32_t n_packed = read_be32(in + pos);
    pos += 4;
    if (n_packed > n_in - pos || n_packed > static_cast<uint32_t>(INT_MAX)) {
      throw FormatError(concat(where, ": bitshuffle/LZ4 block ", block, " claims ", n_packed,
                               " bytes, only ", n_in - pos, " remain (data truncated)"));
    }
    const int n_got = LZ4_decompress_safe(reinterpret_cast<const char*>(in + pos),
                                          reinterpret_cast<char*>(shuffled.data()),
                                          static_cast<int>(n_packed), static_cast<int>(n_plain));
    if (n_got != static_cast<int>(n_plain)) {
      throw FormatError(concat(where, ": bitshuffle/LZ4 block ", block, " is corrupt (LZ4 ",
                               n_got < 0 ? "error" : "size mismatch", ": got ", n_got,
                               " bytes, expected ", n_plain, ")"));
    }
    bitunshuffle_block(shuffled.data(), out + done * elem_size, count, elem_size);
    pos += n_packed;
    done += count;
    ++block;
  }
  const size_t n_tail = (n_elements - done) * elem_size;
  if (n_in - pos < n_tail) {
    throw FormatError(concat(where, ": bitshuffle/LZ4 data truncated in its ", n_tail,
                             " trailing unshuffled bytes"));
  }
  if (n_tail > 0) std::memcpy(out + done * elem_size, in + pos, n_tail);  // see bitunshuffle
}

void decode_hdf5_lz4(const uint8_t* in, size_t n_in, uint8_t* out, size_t n_out,
                     const std::string& where) {
  if (n_in < 12) {
    throw FormatError(
        concat(where, ": LZ4 data truncated: ", n_in, " bytes, less than its 12-byte header"));
  }
  const uint64_t total = read_be64(in);
  uint64_t block_bytes = read_be32(in + 8);
  if (total != n_out) {
    throw FormatError(concat(where, ": LZ4 header gives ", total,
                             " uncompressed bytes, the frame needs ", n_out));
  }
  if (block_bytes == 0 || block_bytes > static_cast<uint64_t>(INT_MAX)) {
    throw FormatError(concat(where, ": LZ4 block size of ", block_bytes, " bytes is invalid"));
  }
  block_bytes = std::min<uint64_t>(block_bytes, total);
  size_t pos = 12, done = 0, block = 0;
  while (done < n_out) {
    const size_t n_plain = static_cast<size_t>(std::min<uint64_t>(block_bytes, n_out - done));
    if (n_in - pos < 4) {
      throw FormatError(concat(where, ": LZ4 data truncated at block ", block, " (byte ", pos,
                               " of ", n_in, ")"));
    }
    const uint32_t n_packed = read_be32(in + pos);
    pos += 4;
    if (n_packed > n_in - pos || n_packed > static_cast<uint32_t>(INT_MAX)) {
      throw FormatError(concat(where, ": LZ4 block ", block, " claims ", n_packed, " bytes, only ",
                               n_in - pos, " remain (data truncated)"));
    }
    if (n_packed == n_plain) {
      std::memcpy(out + done, in + pos, n_plain);  // stored: it did not compress
    } else {
      const int n_got = LZ4_decompress_safe(reinterpret_cast<const char*>(in + pos),
                                            reinterpret_cast<char*>(out + done),
                                            static_cast<int>(n_packed), static_cast<int>(n_plain));
      if (n_got != static_cast<int>(n_plain)) {
        throw FormatError(concat(where, ": LZ4 block ", block, " is corrupt (got ", n_got,
                                 " bytes, expected ", n_plain, ")"));
      }
    }
    pos += n_packed;
    done += n_plain;
    ++block;
  }
}

}  // namespace difftriage::io

namespace difftriage::io {
namespace {

void put_be(std::vector<uint8_t>& out, uint64_t v, int n_bytes) {
  for (int i = n_bytes - 1; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// The inverse of bitunshuffle_block: the same 8x8 transposes, gathering instead of scattering.
void bitshuffle_block(const uint8_t* in, uint8_t* out, size_t n_elements, size_t elem_size) {
  const size_t n_row_bytes = n_elements / 8;
  for (size_t byte = 0; byte < elem_size; ++byte) {
    uint8_t* rows = out + 8 * byte * n_row_bytes;
    for (size_t group = 0; group < n_row_bytes; ++group) {
      const uint8_t* src = in + 8 * group * elem_size + byte;
      uint64_t x = 0;
      for (size_t k = 0; k < 8; ++k) x |= uint64_t{src[k * elem_size]} << (8 * k);
      x = transpose_8x8(x);  // byte `bit` now holds bit `bit` of the 8 elements
      for (size_t bit = 0; bit < 8; ++bit) {
        rows[bit * n_row_bytes + group] = static_cast<uint8_t>(x >> (8 * bit));
      }
    }
  }
}

// One LZ4 block of `n` bytes appended to `out` after its u32 BE compressed size. With `allow_raw`
// (the HDF5 LZ4 framing) a block that does not shrink is stored as is, its size equal to `n`.
void append_lz4_block(std::vector<uint8_t>& out, const uint8_t* in, size_t n,
                      bool allow_raw = false) {
  const int bound = LZ4_compressBound(static_cast<int>(n));
  const size_t at = out.size();
  out.resize(at + 4 + static_cast<size_t>(bound));
  const int n_packed = LZ4_compress_default(reinterpret_cast<const char*>(in),
                                            reinterpret_cast<char*>(out.data() + at + 4),
                                            static_cast<int>(n), bound);
  DT_CHECK(n_packed > 0, Error, "LZ4 compression of a ", n, "-byte block failed");
  if (allow_raw && static_cast<size_t>(n_packed) >= n) {
    out.resize(at);
    put_be(out, n, 4);
    out.insert(out.end(), in, in + n);
    return;
  }
  for (int i = 0; i < 4; ++i) {
    out[at + static_cast<size_t>(i)] = static_cast<uint8_t>(static_cast<uint32_t>(n_packed) >> (24 - 8 * i));
  }
  out.resize(at + 4 + static_cast<size_t>(n_packed));
}

}  // namespace

std::vector<uint8_t> encode_bitshuffle_lz4(const uint8_t* in, size_t n_in, size_t elem_size,
                                           size_t block_elements) {
  DT_CHECK(elem_size > 0 && n_in % elem_size == 0 && block_elements % 8 == 0, ConfigError,
           "encode_bitshuffle_lz4: ", n_in, " bytes of ", elem_size,
           "-byte elements in blocks of ", block_elements,
           " (need whole elements and blocks of a multiple of 8)");
  if (block_elements == 0) block_elements = default_block_elements(elem_size);
  const size_t n_elements = n_in / elem_size;
  std::vector<uint8_t> out;
  out.reserve(12 + n_in / 2);
  put_be(out, n_in, 8);
  put_be(out, block_elements * elem_size, 4);
  std::vector<uint8_t> shuffled(block_elements * elem_size);
  size_t done = 0;
  while (n_elements - done >= 8) {
    size_t count = std::min(block_elements, n_elements - done);
    count -= count % 8;
    bitshuffle_block(in + done * elem_size, shuffled.data(), count, elem_size);
    append_lz4_block(out, shuffled.data(), count * elem_size);
    done += count;
  }
  out.insert(out.end(), in + done * elem_size, in + n_in);  // the n % 8 trailing elements, raw
  return out;
}

std::vector<uint8_t> encode_hdf5_lz4(const uint8_t* in, size_t n_in, size_t block_bytes) {
  DT_CHECK(block_bytes > 0 && block_bytes <= (size_t{1} << 30), ConfigError,
           "encode_hdf5_lz4: block of ", block_bytes, " bytes (need 1 .. 2^30)");
  std::vector<uint8_t> out;
  put_be(out, n_in, 8);
  put_be(out, block_bytes, 4);
  for (size_t done = 0; done < n_in; done += block_bytes) {
    append_lz4_block(out, in + done, std::min(block_bytes, n_in - done), true);
  }
  return out;
}

}  // namespace difftriage::io
