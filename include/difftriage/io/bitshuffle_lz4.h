/// The chunk codecs of EIGER data, decoded in-process so that no HDF5 filter plugin is needed:
/// bitshuffle (HDF5 filter 32008, with or without LZ4) and the HDF5 LZ4 filter (32004). Exposed
/// for tests and benchmarks; `read_image` uses them for HDF5 chunks and for DECTRIS Stream V2
/// (CBOR) "bslz4" channels.
///
///   std::vector<uint8_t> pixels(512 * 1028 * 2);
///   difftriage::io::decode_bitshuffle_lz4(chunk, n_chunk, pixels.data(), pixels.size(), 2,
///                                         "data_000001.h5: dataset /entry/data/data, frame 0");
///
/// Formats (kiyo-masui/bitshuffle src/bitshuffle.c and bshuf_h5filter.c; the HDF5 LZ4 filter
/// H5Zlz4.c; all header integers big-endian):
/// - bitshuffle of a block of n elements (n a multiple of 8) of `elem_size` bytes: bit r of
///   element e (r = 8 * byte + bit, bit 0 the least significant, bytes in memory order) is stored
///   at bit position r * n + e of the block, counting bits from the least significant bit of the
///   first byte. A buffer is cut into blocks of `block_elements`; the last, shorter block is
///   rounded down to a multiple of 8 elements and the remaining n % 8 elements are stored
///   unshuffled at the very end.
/// - bitshuffle + LZ4: u64 total uncompressed bytes, u32 block size in bytes, then for each
///   block (as above) a u32 compressed size and one LZ4 block that decompresses to the
///   bitshuffled block; then the n % 8 trailing elements, raw.
/// - HDF5 LZ4: u64 total uncompressed bytes, u32 block size in bytes, then for each block a u32
///   compressed size and an LZ4 block; a block whose compressed size equals its plain size is
///   stored uncompressed.
///
/// Every decoder is a pure function of its arguments and thread-safe; none reads outside
/// [in, in + n_in) or writes outside [out, out + n_out), whatever the input bytes are.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace difftriage::io {

/// HDF5 filter identifiers (registered with The HDF Group).
inline constexpr int kHdf5FilterLz4 = 32004;
inline constexpr int kHdf5FilterBitshuffle = 32008;

/// Un-bitshuffles one block of `n_elements` elements (a multiple of 8) of `elem_size` bytes from
/// `in` to `out` (each `n_elements * elem_size` bytes, not overlapping). Thread-safe.
/// @throws ConfigError if `n_elements` is not a multiple of 8 or `elem_size` is 0.
void bitunshuffle_block(const uint8_t* in, uint8_t* out, size_t n_elements, size_t elem_size);

/// Un-bitshuffles a whole buffer of `n_elements` elements written without compression (filter
/// 32008 with cd_values[4] = 0): blocks of `block_elements` (a multiple of 8; 0 = bitshuffle's
/// default, 8192 bytes' worth but at least 128), the last block rounded down to a multiple of 8,
/// and n_elements % 8 trailing elements copied. Thread-safe.
/// @throws ConfigError if `block_elements` is not a multiple of 8 or `elem_size` is 0.
void bitunshuffle(const uint8_t* in, uint8_t* out, size_t n_elements, size_t elem_size,
                  size_t block_elements);

/// Decodes a bitshuffle + LZ4 buffer (HDF5 filter 32008 with cd_values[4] = 2, and the DECTRIS
/// "bslz4" encoding) of `n_in` bytes into exactly `n_out` bytes (`n_out / elem_size` elements).
/// Bytes after the encoded data are ignored.
/// @throws FormatError starting with `where` when the header disagrees with `n_out` or
///         `elem_size`, the buffer is truncated or an LZ4 block is corrupt.
void decode_bitshuffle_lz4(const uint8_t* in, size_t n_in, uint8_t* out, size_t n_out,
                           size_t elem_size, const std::string& where);

/// Decodes an HDF5 LZ4 filter (32004) buffer of `n_in` bytes into exactly `n_out` bytes.
/// @throws FormatError starting with `where` when the header disagrees with `n_out`, the buffer
///         is truncated or an LZ4 block is corrupt.
void decode_hdf5_lz4(const uint8_t* in, size_t n_in, uint8_t* out, size_t n_out,
                     const std::string& where);

/// Encodes `n_in` bytes of `elem_size`-byte elements as bitshuffle + LZ4 in the framing above
/// (what decode_bitshuffle_lz4 reads; the replay sender's "bslz4" / "bs16-lz4<" blobs), in
/// blocks of `block_elements` (a multiple of 8; 0 = bitshuffle's default). Thread-safe.
/// @throws ConfigError if `n_in` is not whole elements or the block size is not a multiple of 8.
std::vector<uint8_t> encode_bitshuffle_lz4(const uint8_t* in, size_t n_in, size_t elem_size,
                                           size_t block_elements = 0);

/// Encodes `n_in` bytes in the HDF5 LZ4 filter framing (what decode_hdf5_lz4 reads; DECTRIS
/// Stream V2 "lz4"), in blocks of `block_bytes` (default 1 GiB, i.e. one block). Thread-safe.
/// @throws ConfigError if `block_bytes` is 0 or above 2^30.
std::vector<uint8_t> encode_hdf5_lz4(const uint8_t* in, size_t n_in,
                                     size_t block_bytes = size_t{1} << 30);

}  // namespace difftriage::io
