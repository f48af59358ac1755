/// Reading and writing frames. The reader is chosen by content (magic bytes), never by the file
/// extension: each registered format has a cheap `probe` over the first bytes and the most
/// specific match wins (dxtbx's `understand()` idea).
///
///   difftriage::AnyImage frame = difftriage::io::read_image("fake_00002.pgm");
///   difftriage::io::write_png("copy.png", std::get<difftriage::Image<uint8_t>>(frame));
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "difftriage/core/image.h"

namespace difftriage::io {

/// How many leading bytes `probe_format` looks at at most.
inline constexpr size_t kProbeBytes = 4096;

/// Formats the readers know. More arrive with the detector readers.
enum class ImageFormat { kUnknown, kPgm, kPng, kTiff };

/// Short name: "pgm", "png", "tiff", "unknown".
const char* format_name(ImageFormat format) noexcept;

/// Identifies the format from the first bytes of a file (up to kProbeBytes). Never throws.
ImageFormat probe_format(const uint8_t* head, size_t n_bytes) noexcept;

/// Options for reading.
struct ReadOptions {
  /// Frame index within a multi-frame file (0-based, CrystFEL's `//N`). Single-frame formats
  /// accept only 0.
  int64_t frame = 0;
};

/// Reads one frame from a file, choosing the reader by content.
/// @throws IoError if the file cannot be opened or read.
/// @throws FormatError naming the file (and frame) if the content is unknown, truncated,
///         inconsistent or has absurd dimensions (beyond kMaxImageExtent / kMaxImagePixels).
AnyImage read_image(const std::filesystem::path& path, const ReadOptions& options = {});

/// Decodes one frame from bytes already in memory; `name` is used in error messages.
/// Same errors as read_image. Thread-safe.
AnyImage decode_image(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                      const ReadOptions& options = {});

/// Encodings for PGM output.
struct PgmWriteOptions {
  bool binary = true;  ///< P5 when true, P2 (ASCII) when false
};

/// Writes an 8- or 16-bit PGM (16-bit P5 is big-endian, maxval 65535; 8-bit maxval 255).
/// Written atomically. @throws IoError naming the file on failure.
void write_pgm(const std::filesystem::path& path, const ImageView<uint8_t>& image,
               const PgmWriteOptions& options = {});
void write_pgm(const std::filesystem::path& path, const ImageView<uint16_t>& image,
               const PgmWriteOptions& options = {});

/// Writes an 8- or 16-bit grayscale PNG (libpng). Written atomically.
void write_png(const std::filesystem::path& path, const ImageView<uint8_t>& image);
void write_png(const std::filesystem::path& path, const ImageView<uint16_t>& image);

/// Writes a single-strip or striped grayscale TIFF (libtiff) with the frame's own pixel type
/// (uint8, uint16, int32 or float32). Written atomically.
void write_tiff(const std::filesystem::path& path, const AnyImage& image);

/// Encodes an 8-bit grayscale or 8-bit RGB (n_channels = 3, interleaved) PNG into memory.
std::vector<uint8_t> encode_png(const uint8_t* pixels, int64_t n_slow, int64_t n_fast,
                                int n_channels);

}  // namespace difftriage::io
