// TIFF writing through libtiff into memory: uncompressed, one sample per pixel, the frame's own
// pixel type, strips of about 64 KiB; the file is then written atomically.
#include <algorithm>
#include <cstring>
#include <string>
#include <variant>
#include <vector>

#include "difftriage/core/atomic_file.h"
#include "format_registry.h"
#include "tiff_support.h"

namespace difftriage::io {
namespace detail {
namespace {

// Strip size recommended by the TIFF 6.0 spec ("about 8K", larger is fine for modern readers).
constexpr uint64_t kStripBytes = 64 * 1024;

template <typename T>
uint16_t sample_format_of() {
  if constexpr (std::is_same_v<T, float>)
    return SAMPLEFORMAT_IEEEFP;
  else if constexpr (std::is_signed_v<T>)
    return SAMPLEFORMAT_INT;
  else
    return SAMPLEFORMAT_UINT;
}

template <typename T>
std::vector<uint8_t> encode_tiff(const ImageView<T>& image, const std::string& path) {
  TiffErrors errors;
  TiffSink sink;
  const auto fail = [&](const char* step) {
    throw IoError(::difftriage::detail::concat("cannot write ", path, ": TIFF ", step, " failed",
                                               errors.any() ? ": " + errors.text : ""));
  };
  {
    TiffHandle tif = open_tiff_writer(&sink, path, &errors);
    if (tif == nullptr) fail("open");
    const uint64_t row_bytes = static_cast<uint64_t>(image.n_fast()) * sizeof(T);
    const uint64_t n_rows = static_cast<uint64_t>(image.n_slow());
    const uint64_t strip_rows = std::clamp<uint64_t>(kStripBytes / row_bytes, 1, n_rows);
    const bool tags_ok =
        TIFFSetField(tif.get(), TIFFTAG_IMAGEWIDTH, static_cast<uint32_t>(image.n_fast())) &&
        TIFFSetField(tif.get(), TIFFTAG_IMAGELENGTH, static_cast<uint32_t>(image.n_slow())) &&
        TIFFSetField(tif.get(), TIFFTAG_BITSPERSAMPLE, static_cast<uint16_t>(8 * sizeof(T))) &&
        TIFFSetField(tif.get(), TIFFTAG_SAMPLESPERPIXEL, uint16_t{1}) &&
        TIFFSetField(tif.get(), TIFFTAG_SAMPLEFORMAT, sample_format_of<T>()) &&
        TIFFSetField(tif.get(), TIFFTAG_PHOTOMETRIC, uint16_t{PHOTOMETRIC_MINISBLACK}) &&
        TIFFSetField(tif.get(), TIFFTAG_PLANARCONFIG, uint16_t{PLANARCONFIG_CONTIG}) &&
        TIFFSetField(tif.get(), TIFFTAG_COMPRESSION, uint16_t{COMPRESSION_NONE}) &&
        TIFFSetField(tif.get(), TIFFTAG_ROWSPERSTRIP, static_cast<uint32_t>(strip_rows));
    if (!tags_ok) fail("tag setup");
    // libtiff may modify the buffer it is given (byte swapping, predictors): hand it a copy.
    std::vector<uint8_t> strip(static_cast<size_t>(strip_rows * row_bytes));
    const auto* pixels = reinterpret_cast<const uint8_t*>(image.data());
    for (uint64_t first_row = 0, index = 0; first_row < n_rows; first_row += strip_rows, ++index) {
      const uint64_t n_bytes = std::min(strip_rows, n_rows - first_row) * row_bytes;
      std::memcpy(strip.data(), pixels + first_row * row_bytes, static_cast<size_t>(n_bytes));
      if (TIFFWriteEncodedStrip(tif.get(), static_cast<uint32_t>(index), strip.data(),
                                static_cast<tmsize_t>(n_bytes)) < 0) {
        fail("strip write");
      }
    }
    if (TIFFWriteDirectory(tif.get()) != 1) fail("directory write");
  }  // closed here, before the bytes are used
  if (errors.any()) fail("close");
  return std::move(sink.bytes);
}

template <typename T>
void write_tiff_file(const std::filesystem::path& path, const Image<T>& image) {
  check_writable(path.string(), image.n_slow(), image.n_fast());
  const std::vector<uint8_t> bytes = encode_tiff(image.view(), path.string());
  write_file_atomically(
      path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

}  // namespace
}  // namespace detail

void write_tiff(const std::filesystem::path& path, const AnyImage& image) {
  std::visit([&](const auto& typed) { detail::write_tiff_file(path, typed); }, image);
}

}  // namespace difftriage::io
