/// The CBF "byte-offset" compression (x-CBF_BYTE_OFFSET), the codec of PILATUS and EIGER CBF
/// files, exposed for tests and benchmarks; `read_image` uses it for CBF frames.
///
///   std::vector<int32_t> pixels(n_fast * n_slow);
///   difftriage::io::decode_byte_offset(data, n_data, pixels.data(), pixels.size(), "x.cbf");
///
/// The stream is a sequence of differences from the previous pixel (the first from 0), each the
/// shortest of: one signed byte; the byte 0x80 then a signed 16-bit little-endian value; 0x80,
/// 0x8000 then a signed 32-bit value; 0x80, 0x8000, 0x80000000 then a signed 64-bit value
/// (CBFlib's cbf_byte_offset.c, Bernstein's description in the imgCIF dictionary).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace difftriage::io {

/// Decodes `n_values` pixels of a byte-offset stream of `n_bytes` bytes into `out` (room for
/// `n_values` int32). Bytes after the last pixel are ignored (CBF pads the binary section).
/// @returns the number of input bytes the `n_values` pixels took.
/// @throws FormatError naming `name` if the stream ends before `n_values` pixels, or if a pixel
///         value leaves the int32 range (a corrupt stream: real detectors count in int32).
/// Thread-safe (no shared state); a pure function of its arguments.
size_t decode_byte_offset(const uint8_t* data, size_t n_bytes, int32_t* out, int64_t n_values,
                          const std::string& name);

}  // namespace difftriage::io
