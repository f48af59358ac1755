#include "synthetic/bslz4_encoder.h"

#include <lz4.h>

#include <algorithm>

namespace difftriage::io::testing {

std::vector<uint8_t> shuffle_block_reference(const uint8_t* in, size_t n, size_t elem_size) {
  std::vector<uint8_t> out(n * elem_size, 0);
  for (size_t e = 0; e < n; ++e) {
    for (size_t r = 0; r < 8 * elem_size; ++r) {
      const int bit = (in[e * elem_size + r / 8] >> (r % 8)) & 1;
      const size_t at = r * n + e;
      out[at / 8] = static_cast<uint8_t>(out[at / 8] | (bit << (at % 8)));
    }
  }
  return out;
}

void put_be32(std::vector<uint8_t>* out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out->push_back(static_cast<uint8_t>(v >> s));
}
void put_be64(std::vector<uint8_t>* out, uint64_t v) {
  for (int s = 56; s >= 0; s -= 8) out->push_back(static_cast<uint8_t>(v >> s));
}

std::vector<uint8_t> lz4_compress(const uint8_t* in, size_t n) {
  std::vector<uint8_t> out(static_cast<size_t>(LZ4_compressBound(static_cast<int>(n))));
  const int m =
      LZ4_compress_default(reinterpret_cast<const char*>(in), reinterpret_cast<char*>(out.data()),
                           static_cast<int>(n), static_cast<int>(out.size()));
  out.resize(static_cast<size_t>(m));
  return out;
}

std::vector<uint8_t> encode_bslz4(const std::vector<uint8_t>& plain, size_t elem_size,
                                  size_t block_elements, bool lz4) {
  const size_t n = plain.size() / elem_size;
  std::vector<uint8_t> out;
  if (lz4) {
    put_be64(&out, plain.size());
    put_be32(&out, static_cast<uint32_t>(block_elements * elem_size));
  }
  size_t done = 0;
  // Whole blocks, then one last block cut down to a multiple of 8 elements; the n % 8 elements
  // left over are stored raw, as the filter does.
  while (n - done >= 8) {
    size_t count = std::min(block_elements, n - done);
    count -= count % 8;
    const std::vector<uint8_t> shuffled =
        shuffle_block_reference(plain.data() + done * elem_size, count, elem_size);
    if (lz4) {
      const std::vector<uint8_t> packed = lz4_compress(shuffled.data(), shuffled.size());
      put_be32(&out, static_cast<uint32_t>(packed.size()));
      out.insert(out.end(), packed.begin(), packed.end());
    } else {
      out.insert(out.end(), shuffled.begin(), shuffled.end());
    }
    done += count;
  }
  out.insert(out.end(), plain.begin() + static_cast<std::ptrdiff_t>(done * elem_size), plain.end());
  return out;
}

}  // namespace difftriage::io::testing
