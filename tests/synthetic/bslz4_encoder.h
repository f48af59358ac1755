/// A reference bitshuffle/LZ4 encoder (the HDF5 filter 32008 and DECTRIS Stream V2 "bslz4"
/// framing), written from the format's definition, independently of difftriage's decoder in
/// src/io/bitshuffle_lz4.cpp. Slow (bit by bit) and meant for tests, fuzz seeds and benchmarks.
///
///   std::vector<uint8_t> chunk = encode_bslz4(plain_u16_le, 2, 1024);  // one EIGER frame chunk
///
/// All functions are pure and safe to call concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace difftriage::io::testing {

/// Bitshuffles one block of `n` elements (n % 8 == 0) of `elem_size` bytes straight from the
/// format's definition (bit r of element e goes to bit r * n + e), bit by bit.
std::vector<uint8_t> shuffle_block_reference(const uint8_t* in, size_t n, size_t elem_size);
/// Big-endian integers appended to `out`.
void put_be32(std::vector<uint8_t>* out, uint32_t v);
void put_be64(std::vector<uint8_t>* out, uint64_t v);
/// One LZ4 block (liblz4's LZ4_compress_default).
std::vector<uint8_t> lz4_compress(const uint8_t* in, size_t n);
/// Bitshuffle + LZ4 in the HDF5 filter's framing (u64 BE size, u32 BE block bytes, per block u32
/// BE size + LZ4 block, then the n % 8 trailing elements raw); with `lz4` false, plain blocked
/// bitshuffle (no header). Built with shuffle_block_reference.
std::vector<uint8_t> encode_bslz4(const std::vector<uint8_t>& plain, size_t elem_size,
                                  size_t block_elements, bool lz4 = true);

}  // namespace difftriage::io::testing
