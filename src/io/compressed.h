/// Private to the io module: transparent gzip / bzip2 wrapping of frame files (detector images
/// are often archived as `.cbf.gz`, `.img.bz2`). `decode_image` unwraps one level in memory and
/// probes the inner bytes again; `probe_format` inflates a gzip head to see the inner format.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace difftriage::io::detail {

/// A compression wrapper recognised by its magic bytes.
enum class Wrapper { kNone, kGzip, kBzip2 };

/// kGzip for 1F 8B 08 (deflate), kBzip2 for "BZh" and a block-size digit 1..9, else kNone.
/// Never throws.
Wrapper detect_wrapper(const uint8_t* head, size_t n_bytes) noexcept;

/// "gzip", "bzip2", "none".
const char* wrapper_name(Wrapper wrapper) noexcept;

/// Decompresses a whole gzip or bzip2 file (concatenated members/streams included; bytes after
/// the last one that do not start another are ignored, as gzip(1) does).
/// @throws FormatError naming `name` when the data is corrupt or truncated, or when it would
///         decompress to more than `max_bytes` bytes (a decompression bomb). Thread-safe.
std::vector<uint8_t> decompress(Wrapper wrapper, const uint8_t* bytes, size_t n_bytes,
                                const std::string& name, uint64_t max_bytes);

/// Inflates as much of a gzip head as `n_bytes` allows into `out` (at most `max_out` bytes) and
/// returns how many bytes came out; 0 if the head is not gzip or is corrupt. Never throws.
size_t inflate_head(const uint8_t* head, size_t n_bytes, uint8_t* out, size_t max_out) noexcept;

}  // namespace difftriage::io::detail
