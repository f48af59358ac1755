// The bitshuffle and LZ4 chunk codecs on hand-made data. The expected shuffled layout is built
// here from the format's definition (bit r of element e at bit r * n + e of the block), bit by
// bit, independently of the library's 8x8 transpose; LZ4 blocks come from liblz4's compressor.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "difftriage/core/error.h"
#include "difftriage/io/bitshuffle_lz4.h"
#include "io_test_support.h"

namespace difftriage::io {
namespace {

using testing::expect_error;
using Bytes = std::vector<uint8_t>;

using testing::encode_bslz4;
using testing::lz4_compress;
using testing::put_be32;
using testing::put_be64;
using testing::shuffle_block_reference;

Bytes random_bytes(size_t n, uint32_t seed, int max_value = 255) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, max_value);
  Bytes out(n);
  for (auto& b : out) b = static_cast<uint8_t>(byte(rng));
  return out;
}

TEST(Bitshuffle, SingleBitsLandWhereTheDefinitionSays) {
  // 8 one-byte elements: element 0 = 0x01 (bit 0) and element 7 = 0x80 (bit 7). Bit row 0 holds
  // bit 0 of the elements (element 0 -> its bit 0: byte 0 = 0x01); row 7 holds bit 7 (element 7
  // -> its bit 7: byte 7 = 0x80).
  const Bytes shuffled = {0x01, 0, 0, 0, 0, 0, 0, 0x80};
  Bytes out(8, 0xAA);
  bitunshuffle_block(shuffled.data(), out.data(), 8, 1);
  EXPECT_EQ(out, (Bytes{0x01, 0, 0, 0, 0, 0, 0, 0x80}));
  // Two-byte elements, 8 of them: bit 9 (high byte, bit 1) of element 3 is row 9, bit 3 of its
  // one-byte row: shuffled byte 9 = 0x08.
  Bytes shuffled16(16, 0);
  shuffled16[9] = 0x08;
  Bytes out16(16, 0xAA);
  bitunshuffle_block(shuffled16.data(), out16.data(), 8, 2);
  Bytes expected16(16, 0);
  expected16[3 * 2 + 1] = 0x02;
  EXPECT_EQ(out16, expected16);
}

TEST(Bitshuffle, BlockRoundTripsForEveryElementSize) {
  for (size_t elem_size : {1, 2, 4, 8}) {
    // 128 elements and more take the SIMD path in runs of 128, the rest the scalar loop.
    for (size_t n : {8, 16, 64, 128, 136, 248, 256, 4096, 4104}) {
      const Bytes plain = random_bytes(n * elem_size, static_cast<uint32_t>(n * 10 + elem_size));
      const Bytes shuffled = shuffle_block_reference(plain.data(), n, elem_size);
      Bytes out(plain.size());
      bitunshuffle_block(shuffled.data(), out.data(), n, elem_size);
      EXPECT_EQ(out, plain) << n << " elements of " << elem_size << " bytes";
    }
  }
  Bytes out(24);
  EXPECT_THROW(bitunshuffle_block(out.data(), out.data(), 12, 2), ConfigError);
}

TEST(Bitshuffle, BlockedBufferWithTrailingRemainder) {
  // 8 * 5 + 5 elements in blocks of 16: blocks of 16, 16, 8 (40 rounded down), then 5 raw.
  const size_t n = 45;
  const Bytes plain = random_bytes(n * 2, 7);
  const Bytes encoded = encode_bslz4(plain, 2, 16, /*lz4=*/false);
  ASSERT_EQ(encoded.size(), plain.size());
  // The last 5 elements are stored as they are.
  EXPECT_TRUE(std::equal(plain.end() - 10, plain.end(), encoded.end() - 10));
  Bytes out(plain.size());
  bitunshuffle(encoded.data(), out.data(), n, 2, 16);
  EXPECT_EQ(out, plain);
}

TEST(BitshuffleLz4, DecodesFramedBlocksAndRemainder) {
  for (size_t n : {5, 8, 1000, 4096 * 3 + 13}) {
    for (size_t elem_size : {1, 2, 4}) {
      const Bytes plain = random_bytes(n * elem_size, static_cast<uint32_t>(n + elem_size), 3);
      const size_t block = elem_size == 1 ? 8192 : 4096 / elem_size * 2;
      const Bytes encoded = encode_bslz4(plain, elem_size, block);
      Bytes out(plain.size(), 0xCD);
      decode_bitshuffle_lz4(encoded.data(), encoded.size(), out.data(), out.size(), elem_size,
                            "mem");
      EXPECT_EQ(out, plain) << n << " x " << elem_size;
    }
  }
}

TEST(BitshuffleLz4, RejectsBadHeadersAndTruncation) {
  const Bytes plain = random_bytes(2 * 1000, 3, 7);
  const Bytes encoded = encode_bslz4(plain, 2, 256);
  Bytes out(plain.size());
  auto decode = [&](const Bytes& in, size_t n_out) {
    decode_bitshuffle_lz4(in.data(), in.size(), out.data(), n_out, 2, "chunk.h5: frame 3");
  };
  expect_error<FormatError>([&] { decode(encoded, out.size() - 2); }, "chunk.h5: frame 3",
                            {"uncompressed bytes"});
  Bytes bad_block = encoded;
  bad_block[11] = 6;  // block of 6 bytes = 3 elements: not a multiple of 8
  expect_error<FormatError>([&] { decode(bad_block, out.size()); }, "frame 3", {"block size"});
  for (size_t cut = 0; cut < encoded.size(); ++cut) {
    const Bytes part(encoded.begin(), encoded.begin() + static_cast<std::ptrdiff_t>(cut));
    EXPECT_THROW(decode(part, out.size()), FormatError) << "cut at " << cut;
  }
}

TEST(Hdf5Lz4, DecodesCompressedStoredAndShortBlocks) {
  // Block 0 compresses (zeros), block 1 is incompressible and stored as is (compressed size ==
  // block size), block 2 is the short tail.
  Bytes plain(1024, 0);
  const Bytes noise = random_bytes(1024, 11);
  plain.insert(plain.end(), noise.begin(), noise.end());
  plain.insert(plain.end(), 300, 42);
  Bytes encoded;
  put_be64(&encoded, plain.size());
  put_be32(&encoded, 1024);
  for (size_t at = 0; at < plain.size(); at += 1024) {
    const size_t n = std::min<size_t>(1024, plain.size() - at);
    Bytes packed = lz4_compress(plain.data() + at, n);
    if (packed.size() >= n) packed.assign(plain.begin() + at, plain.begin() + at + n);
    put_be32(&encoded, static_cast<uint32_t>(packed.size()));
    encoded.insert(encoded.end(), packed.begin(), packed.end());
  }
  Bytes out(plain.size());
  decode_hdf5_lz4(encoded.data(), encoded.size(), out.data(), out.size(), "lz4");
  EXPECT_EQ(out, plain);
  for (size_t cut = 0; cut < encoded.size(); cut += 7) {
    EXPECT_THROW(decode_hdf5_lz4(encoded.data(), cut, out.data(), out.size(), "lz4"), FormatError);
  }
  expect_error<FormatError>(
      [&] { decode_hdf5_lz4(encoded.data(), encoded.size(), out.data(), 100, "x.h5"); }, "x.h5",
      {"uncompressed bytes"});
}

}  // namespace
}  // namespace difftriage::io
