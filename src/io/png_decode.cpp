// PNG reading through libpng. Grayscale 8- and 16-bit images decode exactly to uint8 / uint16.
// Other layouts are converted to one gray channel, keeping the bit depth: alpha (and tRNS) is
// dropped, 1/2/4-bit gray is expanded to 8 bits (0..255, libpng's scaling), palette and RGB(A)
// become luminance with libpng's default Rec. 709 weights.
#include <csetjmp>
#include <cstring>
#include <memory>
#include <vector>

#include "format_registry.h"
#include "png_support.h"

namespace difftriage::io::detail {
namespace {

constexpr uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
// Largest ancillary chunk (text, ICC profile) libpng may allocate: a corrupt length field must
// not cost gigabytes.
constexpr png_alloc_size_t kMaxPngChunkBytes = 16u << 20;
// Deflate cannot do better than about 1032:1 (a 258-byte match in a couple of bits); with margin,
// a file this many times smaller than its raw pixels cannot hold them, whatever IHDR says.
constexpr uint64_t kMaxDeflateRatio = 1100;

struct PngSource {
  const uint8_t* bytes;
  size_t n_bytes;
  size_t position;
};

void read_from_memory(png_structp png, png_bytep out, size_t n) {
  auto* source = static_cast<PngSource*>(png_get_io_ptr(png));
  if (n > source->n_bytes - source->position) png_error(png, "truncated file (unexpected end)");
  std::memcpy(out, source->bytes + source->position, n);
  source->position += n;
}

struct PngHeader {
  uint32_t width = 0;
  uint32_t height = 0;
  int bit_depth = 0;            // after the transformations below
  int channels = 0;             // after the transformations below
  int color_type = 0;           // as stored in the file
  int file_bits_per_pixel = 0;  // as stored in the file
};

// Phase 1: reads the header and sets up the conversions. Only trivially destructible locals live
// here, so the longjmp from png_record_error skips no destructor. Returns false on a libpng error.
bool read_header(png_structp png, png_infop info, PngHeader* header) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_info(png, info);
  const int color_type = png_get_color_type(png, info);
  const int bit_depth = png_get_bit_depth(png, info);
  header->file_bits_per_pixel = bit_depth * png_get_channels(png, info);
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if ((color_type & PNG_COLOR_MASK_COLOR) != 0) {
    png_set_rgb_to_gray_fixed(png, PNG_ERROR_ACTION_NONE, -1, -1);
  }
  png_set_strip_alpha(png);
  if (bit_depth == 16 && host_is_little_endian()) png_set_swap(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  header->width = png_get_image_width(png, info);
  header->height = png_get_image_height(png, info);
  header->bit_depth = png_get_bit_depth(png, info);
  header->channels = png_get_channels(png, info);
  header->color_type = color_type;
  return true;
}

// Phase 2: decodes every row and checks the trailer (IEND); same setjmp discipline.
bool read_rows(png_structp png, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_image(png, rows);
  png_read_end(png, nullptr);
  return true;
}

struct PngReadGuard {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngReadGuard() { png_destroy_read_struct(&png, info != nullptr ? &info : nullptr, nullptr); }
};

template <typename T>
Image<T> decode_rows(png_structp png, const PngHeader& header, const PngErrorContext& errors,
                     const std::string& name) {
  Image<T> image(header.height, header.width);
  std::vector<png_bytep> rows(header.height);
  for (uint32_t slow = 0; slow < header.height; ++slow) {
    rows[slow] = reinterpret_cast<png_bytep>(image.data() + int64_t{slow} * header.width);
  }
  if (!read_rows(png, rows.data())) throw_format_error(name, "bad PNG data: ", errors.message);
  return image;
}

}  // namespace

int probe_png(const uint8_t* head, size_t n_bytes) noexcept {
  if (n_bytes < sizeof kPngSignature) return kProbeNo;
  return std::memcmp(head, kPngSignature, sizeof kPngSignature) == 0 ? kProbeStrong : kProbeNo;
}

AnyImage decode_png(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                    const ReadOptions& options) {
  check_single_frame(name, options);
  PngErrorContext errors;
  PngReadGuard guard;
  guard.png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, &errors, png_record_error, png_ignore_warning);
  if (guard.png == nullptr) throw_format_error(name, "cannot start libpng (out of memory?)");
  guard.info = png_create_info_struct(guard.png);
  if (guard.info == nullptr) throw_format_error(name, "cannot start libpng (out of memory?)");

  PngSource source{bytes, n_bytes, 0};
  png_set_read_fn(guard.png, &source, read_from_memory);
  // Our own extent check below gives the uniform message; libpng's defaults (1e6) would cut in
  // first with a different one.
  png_set_user_limits(guard.png, 0x7fffffff, 0x7fffffff);
  png_set_chunk_malloc_max(guard.png, kMaxPngChunkBytes);

  PngHeader header;
  if (!read_header(guard.png, guard.info, &header)) {
    throw_format_error(name, "bad PNG header: ", errors.message);
  }
  check_extents(name, "PNG", header.height, header.width);
  const uint64_t min_raw_bytes = uint64_t{header.width} * header.height *
                                 static_cast<uint64_t>(header.file_bits_per_pixel) / 8;
  if (min_raw_bytes / kMaxDeflateRatio > n_bytes) {
    throw_format_error(name, "truncated PNG: ", header.width, " x ", header.height,
                       " pixels cannot be compressed into a file of ", n_bytes, " bytes");
  }
  if (header.channels != 1 || (header.bit_depth != 8 && header.bit_depth != 16)) {
    throw_format_error(name, "unsupported PNG layout (colour type ", header.color_type, ", ",
                       header.channels, " channel(s) of ", header.bit_depth,
                       " bits after conversion)");
  }
  if (header.bit_depth == 16) return decode_rows<uint16_t>(guard.png, header, errors, name);
  return decode_rows<uint8_t>(guard.png, header, errors, name);
}

}  // namespace difftriage::io::detail
