/// Private to the HDF5 reader (hdf5_*.cpp): one frame's bytes and its chunk filters. Reading a
/// frame (a hyperslab through H5Dread when HDF5 can decode every filter, else the raw chunk),
/// decoding EIGER's bitshuffle/LZ4 chunks, and building the image.
#pragma once

#include <hdf5.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "difftriage/core/image.h"
#include "hdf5_links.h"

namespace difftriage::io::detail::hdf5 {

/// Pixel type as stored.
enum class Sample { kU8, kU16, kU32, kI8, kI16, kI32, kF32, kF64 };

/// How the bytes of a RawFrame are encoded.
enum class Codec { kPixels, kRawChunk, kBitshuffleLz4, kBitshuffle, kLz4 };

/// A frame as read from the file: either its pixels (native order) or the raw chunk holding it.
struct RawFrame {
  Codec codec = Codec::kPixels;
  Sample sample = Sample::kU16;
  std::vector<uint8_t> bytes;
  size_t chunk_elements = 0;  // elements of the decoded chunk (codec != kPixels)
  size_t frame_offset = 0;    // first element of the frame within the decoded chunk
  size_t block_elements = 0;  // kBitshuffle: bitshuffle block size (0 = default)
  bool swap_bytes = false;    // the raw chunk is in the other byte order than this machine
  int64_t n_slow = 0, n_fast = 0;
  std::string where;  // "<file>: dataset <label>, frame <k>" for errors while decoding
};

/// Reads frame `frame` of `dataset` (shape `stack`; `where` opens every error message). Call
/// under hdf5_mutex(). @throws FormatError for an unsupported pixel type or filter, chunks that
/// do not hold whole frames, or a chunk that is missing or implausibly large.
RawFrame read_frame_bytes(hid_t dataset, const std::string& where, const Stack& stack,
                          int64_t frame);

/// Pixels of the frame in native order: kPixels as read, otherwise the decoded chunk's slice.
/// CPU work, run outside the HDF5 mutex. @throws FormatError for a corrupt chunk.
std::vector<uint8_t> decode_frame_bytes(RawFrame& raw);

/// decode_frame_bytes + to_image, decoding straight into the frame's pixels where the pixel
/// type allows (one full frame per chunk, native order): no intermediate copy of the frame.
/// Same results, same errors. CPU work, run outside the HDF5 mutex.
AnyImage decode_image(RawFrame& raw, bool eiger_invalid, std::vector<uint8_t>* mask);

/// Builds the frame. With `eiger_invalid`, the all-ones value of an unsigned type (EIGER's
/// invalid/gap pixel, 2^bits - 1) is masked; uint32 values above INT32_MAX become -1 (and
/// masked). Masked pixels are set in `*mask` (allocated on the first one).
AnyImage to_image(const RawFrame& raw, const std::vector<uint8_t>& pixels, bool eiger_invalid,
                  std::vector<uint8_t>* mask);

}  // namespace difftriage::io::detail::hdf5
