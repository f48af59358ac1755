// PNG writing through libpng into memory; files are then written atomically.
#include <csetjmp>
#include <new>
#include <string>
#include <vector>

#include "difftriage/core/atomic_file.h"
#include "format_registry.h"
#include "png_support.h"

namespace difftriage::io {
namespace detail {
namespace {

struct PngSink {
  std::vector<uint8_t>* bytes;
  bool out_of_memory;
};

void write_to_memory(png_structp png, png_bytep data, size_t n) {
  auto* sink = static_cast<PngSink*>(png_get_io_ptr(png));
  try {
    sink->bytes->insert(sink->bytes->end(), data, data + n);
  } catch (...) {
    sink->out_of_memory = true;
  }
  // png_error longjmps: call it only after the catch block has ended.
  if (sink->out_of_memory) png_error(png, "out of memory");
}

void flush_nothing(png_structp /*png*/) {}

struct PngWriteGuard {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngWriteGuard() { png_destroy_write_struct(&png, info != nullptr ? &info : nullptr); }
};

struct PngLayout {
  uint32_t width;
  uint32_t height;
  int bit_depth;
  int color_type;
};

// Only trivially destructible locals: the longjmp from png_record_error skips no destructor.
bool write_png_stream(png_structp png, png_infop info, const PngLayout* layout, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_IHDR(png, info, layout->width, layout->height, layout->bit_depth, layout->color_type,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  if (layout->bit_depth == 16 && host_is_little_endian()) png_set_swap(png);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  return true;
}

// Encodes `n_slow` rows of `row_bytes` bytes each. Throws IoError prefixed with `what`.
std::vector<uint8_t> encode(const uint8_t* pixels, int64_t n_slow, int64_t n_fast, size_t row_bytes,
                            int bit_depth, int color_type, const std::string& what) {
  PngErrorContext errors;
  PngWriteGuard guard;
  guard.png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, &errors, png_record_error, png_ignore_warning);
  if (guard.png != nullptr) guard.info = png_create_info_struct(guard.png);
  if (guard.info == nullptr) throw IoError(what + ": cannot start libpng (out of memory?)");

  std::vector<uint8_t> bytes;
  PngSink sink{&bytes, false};
  png_set_write_fn(guard.png, &sink, write_to_memory, flush_nothing);
  std::vector<png_bytep> rows(static_cast<size_t>(n_slow));
  for (int64_t slow = 0; slow < n_slow; ++slow) {
    // libpng takes non-const row pointers but only reads them when writing.
    rows[static_cast<size_t>(slow)] = const_cast<png_bytep>(pixels + slow * row_bytes);
  }
  const PngLayout layout{static_cast<uint32_t>(n_fast), static_cast<uint32_t>(n_slow), bit_depth,
                         color_type};
  if (!write_png_stream(guard.png, guard.info, &layout, rows.data())) {
    throw IoError(what + ": PNG encoding failed: " + errors.message);
  }
  return bytes;
}

void write_bytes(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
  write_file_atomically(
      path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

}  // namespace
}  // namespace detail

std::vector<uint8_t> encode_png(const uint8_t* pixels, int64_t n_slow, int64_t n_fast,
                                int n_channels) {
  DT_CHECK(n_channels == 1 || n_channels == 3, ConfigError,
           "encode_png: n_channels must be 1 (gray) or 3 (RGB), got ", n_channels);
  DT_CHECK(n_slow > 0 && n_fast > 0 && n_slow <= kMaxImageExtent && n_fast <= kMaxImageExtent,
           ConfigError, "encode_png: image size ", n_fast, " x ", n_slow,
           " (fast x slow) is out of range");
  DT_CHECK(pixels != nullptr, ConfigError, "encode_png: pixels is null");
  const int color_type = n_channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB;
  return detail::encode(pixels, n_slow, n_fast, static_cast<size_t>(n_fast * n_channels), 8,
                        color_type, "encode_png");
}

void write_png(const std::filesystem::path& path, const ImageView<uint8_t>& image) {
  detail::check_writable(path.string(), image.n_slow(), image.n_fast());
  const std::vector<uint8_t> bytes = detail::encode(
      image.data(), image.n_slow(), image.n_fast(), static_cast<size_t>(image.n_fast()), 8,
      PNG_COLOR_TYPE_GRAY, "cannot write " + path.string());
  detail::write_bytes(path, bytes);
}

void write_png(const std::filesystem::path& path, const ImageView<uint16_t>& image) {
  detail::check_writable(path.string(), image.n_slow(), image.n_fast());
  const std::vector<uint8_t> bytes =
      detail::encode(reinterpret_cast<const uint8_t*>(image.data()), image.n_slow(), image.n_fast(),
                     static_cast<size_t>(image.n_fast()) * 2, 16, PNG_COLOR_TYPE_GRAY,
                     "cannot write " + path.string());
  detail::write_bytes(path, bytes);
}

}  // namespace difftriage::io
