// TIFF reading through libtiff over the bytes in memory. Single-sample (grayscale) images of
// 8/16/32-bit unsigned, 8/16/32-bit signed and 32-bit IEEE float samples, in strips or tiles, with
// any compression libtiff was built with. Each directory (page) is a frame.
//   uint8 -> uint8, uint16 -> uint16, float32 -> float32, int8/int16/int32 -> int32;
//   uint32 -> int32 with values above INT32_MAX mapped to -1, the CBF/DIALS "invalid pixel"
//   marker (EIGER writes 0xFFFFFFFF for dead pixels).
// Photometric interpretation MinIsBlack or MinIsWhite is accepted and samples are returned raw.
#include <algorithm>
#include <cstring>
#include <vector>

#include "format_registry.h"
#include "tiff_support.h"

namespace difftriage::io::detail {
namespace {

// Frames beyond this are rejected without walking the directory chain.
constexpr int64_t kMaxTiffFrame = int64_t{1} << 20;

enum class TiffSamples { kUint8, kUint16, kUint32, kInt8, kInt16, kInt32, kFloat32 };

struct TiffLayout {
  int64_t n_fast = 0;
  int64_t n_slow = 0;
  TiffSamples samples = TiffSamples::kUint8;
  size_t bytes_per_sample = 1;
  bool tiled = false;
  bool compressed = false;
};

// Reads a uint16 tag with libtiff's default when absent.
uint16_t get_u16(TIFF* tif, ttag_t tag, uint16_t fallback) {
  uint16_t value = fallback;
  if (TIFFGetFieldDefaulted(tif, tag, &value) != 1) value = fallback;
  return value;
}

// Picks the frame's pixel type, rejecting layouts we do not read.
TiffSamples sample_kind(uint16_t sample_format, uint16_t bits, const std::string& name) {
  if (sample_format == SAMPLEFORMAT_UINT) {
    if (bits == 8) return TiffSamples::kUint8;
    if (bits == 16) return TiffSamples::kUint16;
    if (bits == 32) return TiffSamples::kUint32;
  } else if (sample_format == SAMPLEFORMAT_INT) {
    if (bits == 8) return TiffSamples::kInt8;
    if (bits == 16) return TiffSamples::kInt16;
    if (bits == 32) return TiffSamples::kInt32;
  } else if (sample_format == SAMPLEFORMAT_IEEEFP) {
    if (bits == 32) return TiffSamples::kFloat32;
  }
  const char* kind = sample_format == SAMPLEFORMAT_UINT     ? "unsigned integer"
                     : sample_format == SAMPLEFORMAT_INT    ? "signed integer"
                     : sample_format == SAMPLEFORMAT_IEEEFP ? "floating-point"
                                                            : "unknown-format";
  throw_format_error(name, "unsupported TIFF samples: ", bits, "-bit ", kind, " (sample format ",
                     sample_format,
                     "); readable are 8/16/32-bit unsigned or signed integers and "
                     "32-bit floats");
}

TiffLayout read_layout(TIFF* tif, const std::string& name) {
  uint32_t width = 0, height = 0;
  if (TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &width) != 1 ||
      TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &height) != 1) {
    throw_format_error(name, "TIFF directory has no image width or length");
  }
  const uint16_t samples_per_pixel = get_u16(tif, TIFFTAG_SAMPLESPERPIXEL, 1);
  if (samples_per_pixel != 1) {
    throw_format_error(name, "TIFF has ", samples_per_pixel,
                       " samples per pixel; only single-sample (grayscale) images are read");
  }
  uint16_t photometric = PHOTOMETRIC_MINISBLACK;
  if (TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photometric) == 1 &&
      photometric != PHOTOMETRIC_MINISBLACK && photometric != PHOTOMETRIC_MINISWHITE) {
    throw_format_error(name, "unsupported TIFF photometric interpretation ", photometric,
                       "; only grayscale (MinIsBlack/MinIsWhite) images are read");
  }
  uint32_t depth = 1;
  if (TIFFGetField(tif, TIFFTAG_IMAGEDEPTH, &depth) == 1 && depth > 1) {
    throw_format_error(name, "TIFF is a volume (image depth ", depth,
                       "); only 2-D images are read");
  }
  TiffLayout layout;
  const uint16_t bits = get_u16(tif, TIFFTAG_BITSPERSAMPLE, 1);
  layout.samples = sample_kind(get_u16(tif, TIFFTAG_SAMPLEFORMAT, SAMPLEFORMAT_UINT), bits, name);
  layout.bytes_per_sample = bits / 8u;
  layout.n_fast = width;
  layout.n_slow = height;
  layout.tiled = TIFFIsTiled(tif) != 0;
  check_extents(name, "TIFF", layout.n_slow, layout.n_fast);
  const uint16_t compression = get_u16(tif, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
  if (TIFFIsCODECConfigured(compression) == 0) {
    throw_format_error(name, "TIFF compression scheme ", compression,
                       " is not available in this libtiff");
  }
  layout.compressed = compression != COMPRESSION_NONE;
  return layout;
}

[[noreturn]] void fail_data(const std::string& name, const TiffErrors& errors, const char* where,
                            uint64_t index, const char* problem) {
  throw_format_error(name, "bad TIFF data in ", where, " ", index, ": ",
                     errors.any() ? errors.text : std::string(problem));
}

void read_strips(TIFF* tif, const TiffLayout& layout, uint8_t* dst, const TiffErrors& errors,
                 const std::string& name) {
  const uint64_t row_bytes = static_cast<uint64_t>(layout.n_fast) * layout.bytes_per_sample;
  if (TIFFScanlineSize64(tif) != row_bytes) {
    throw_format_error(name, "TIFF scanline size ", TIFFScanlineSize64(tif), " does not match ",
                       layout.n_fast, " pixels of ", layout.bytes_per_sample, " byte(s)");
  }
  uint32_t rows_per_strip = 0;
  TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &rows_per_strip);
  const uint64_t n_rows = static_cast<uint64_t>(layout.n_slow);
  const uint64_t strip_rows =
      (rows_per_strip == 0 || rows_per_strip > n_rows) ? n_rows : rows_per_strip;
  const uint64_t n_strips = (n_rows + strip_rows - 1) / strip_rows;
  if (TIFFNumberOfStrips(tif) < n_strips) {
    throw_format_error(name, "TIFF has ", TIFFNumberOfStrips(tif), " strips, ", layout.n_slow,
                       " rows at ", strip_rows, " rows per strip need ", n_strips);
  }
  for (uint64_t strip = 0; strip < n_strips; ++strip) {
    const uint64_t first_row = strip * strip_rows;
    const uint64_t rows = std::min(strip_rows, n_rows - first_row);
    const auto wanted = static_cast<tmsize_t>(rows * row_bytes);
    const tmsize_t got = TIFFReadEncodedStrip(tif, static_cast<uint32_t>(strip),
                                              dst + first_row * row_bytes, wanted);
    if (got != wanted) fail_data(name, errors, "strip", strip, "short strip");
  }
}

void read_tiles(TIFF* tif, const TiffLayout& layout, uint8_t* dst, const TiffErrors& errors,
                const std::string& name) {
  uint32_t tile_fast = 0, tile_slow = 0;
  TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tile_fast);
  TIFFGetField(tif, TIFFTAG_TILELENGTH, &tile_slow);
  // A tile buffer is allocated before any data is seen: bound it by the image (with room for
  // the usual 256..1024-pixel tiles on small images) so a corrupt tile size cannot cost gigabytes.
  const uint64_t n_pixels = static_cast<uint64_t>(layout.n_slow * layout.n_fast);
  const uint64_t tile_pixels = uint64_t{tile_fast} * tile_slow;
  if (tile_fast == 0 || tile_slow == 0 ||
      tile_pixels > std::max<uint64_t>(4 * n_pixels, 1u << 20)) {
    throw_format_error(name, "TIFF tile size ", tile_fast, " x ", tile_slow, " is invalid for a ",
                       layout.n_fast, " x ", layout.n_slow, " image");
  }
  const uint64_t tile_row_bytes = uint64_t{tile_fast} * layout.bytes_per_sample;
  const uint64_t tile_bytes = tile_row_bytes * tile_slow;
  if (static_cast<uint64_t>(TIFFTileSize64(tif)) != tile_bytes) {
    throw_format_error(name, "TIFF tile size in bytes ", TIFFTileSize64(tif), " does not match ",
                       tile_fast, " x ", tile_slow, " samples");
  }
  std::vector<uint8_t> tile(static_cast<size_t>(tile_bytes));
  const uint64_t row_bytes = static_cast<uint64_t>(layout.n_fast) * layout.bytes_per_sample;
  for (uint32_t slow = 0; slow < layout.n_slow; slow += tile_slow) {
    for (uint32_t fast = 0; fast < layout.n_fast; fast += tile_fast) {
      const uint32_t index = TIFFComputeTile(tif, fast, slow, 0, 0);
      if (index >= TIFFNumberOfTiles(tif)) fail_data(name, errors, "tile", index, "missing tile");
      const tmsize_t got =
          TIFFReadEncodedTile(tif, index, tile.data(), static_cast<tmsize_t>(tile_bytes));
      if (got != static_cast<tmsize_t>(tile_bytes)) {
        fail_data(name, errors, "tile", index, "short tile");
      }
      const uint64_t rows = std::min<uint64_t>(tile_slow, layout.n_slow - slow);
      const uint64_t copy =
          std::min<uint64_t>(tile_fast, layout.n_fast - fast) * layout.bytes_per_sample;
      for (uint64_t r = 0; r < rows; ++r) {
        std::memcpy(dst + (slow + r) * row_bytes + fast * layout.bytes_per_sample,
                    tile.data() + r * tile_row_bytes, static_cast<size_t>(copy));
      }
    }
  }
}

void read_raster(TIFF* tif, const TiffLayout& layout, void* dst, const TiffErrors& errors,
                 const std::string& name) {
  auto* bytes = static_cast<uint8_t*>(dst);
  if (layout.tiled)
    read_tiles(tif, layout, bytes, errors, name);
  else
    read_strips(tif, layout, bytes, errors, name);
}

template <typename T>
Image<T> read_direct(TIFF* tif, const TiffLayout& layout, const TiffErrors& errors,
                     const std::string& name) {
  Image<T> image(layout.n_slow, layout.n_fast);
  read_raster(tif, layout, image.data(), errors, name);
  return image;
}

template <typename Stored>
Image<int32_t> read_widened(TIFF* tif, const TiffLayout& layout, const TiffErrors& errors,
                            const std::string& name) {
  std::vector<Stored> stored(static_cast<size_t>(layout.n_slow * layout.n_fast));
  read_raster(tif, layout, stored.data(), errors, name);
  Image<int32_t> image(layout.n_slow, layout.n_fast);
  int32_t* pixels = image.data();
  for (size_t i = 0; i < stored.size(); ++i) pixels[i] = stored[i];
  return image;
}

// Moves to directory `frame`, or throws naming how many frames the file has.
void select_frame(TIFF* tif, int64_t frame, const std::string& name) {
  if (frame == 0) return;
  if (frame < 0 || frame > kMaxTiffFrame ||
      TIFFSetDirectory(tif, static_cast<tdir_t>(frame)) != 1) {
    const tdir_t n_frames = TIFFNumberOfDirectories(tif);
    throw_format_error(name, "frame ", frame, " out of range, file has ", n_frames,
                       n_frames == 1 ? " frame" : " frames");
  }
}

}  // namespace

int probe_tiff(const uint8_t* head, size_t n_bytes) noexcept {
  if (n_bytes < 4) return kProbeNo;
  // Classic TIFF (42) and BigTIFF (43), little- or big-endian.
  const bool little =
      head[0] == 'I' && head[1] == 'I' && (head[2] == 42 || head[2] == 43) && head[3] == 0;
  const bool big =
      head[0] == 'M' && head[1] == 'M' && head[2] == 0 && (head[3] == 42 || head[3] == 43);
  return (little || big) ? kProbeMagic : kProbeNo;
}

AnyImage decode_tiff(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                     const ReadOptions& options) {
  TiffErrors errors;  // declared before the handle: libtiff may report while closing
  TiffSource source{bytes, n_bytes, 0};
  const TiffHandle tif = open_tiff_reader(&source, name, &errors);
  if (tif == nullptr) {
    throw_format_error(name, "cannot read TIFF: ",
                       errors.any() ? errors.text : std::string("libtiff rejected the header"));
  }
  select_frame(tif.get(), options.frame, name);
  const TiffLayout layout = read_layout(tif.get(), name);
  // Uncompressed pixels must fit in the file: check before allocating the frame.
  const uint64_t raw_bytes =
      static_cast<uint64_t>(layout.n_slow * layout.n_fast) * layout.bytes_per_sample;
  if (!layout.compressed && raw_bytes > n_bytes) {
    throw_format_error(name, "truncated TIFF: ", layout.n_fast, " x ", layout.n_slow,
                       " uncompressed pixels of ", layout.bytes_per_sample, " byte(s) need ",
                       raw_bytes, " bytes, the file has ", n_bytes);
  }
  switch (layout.samples) {
    case TiffSamples::kUint8:
      return read_direct<uint8_t>(tif.get(), layout, errors, name);
    case TiffSamples::kUint16:
      return read_direct<uint16_t>(tif.get(), layout, errors, name);
    case TiffSamples::kInt32:
      return read_direct<int32_t>(tif.get(), layout, errors, name);
    case TiffSamples::kFloat32:
      return read_direct<float>(tif.get(), layout, errors, name);
    case TiffSamples::kInt8:
      return read_widened<int8_t>(tif.get(), layout, errors, name);
    case TiffSamples::kInt16:
      return read_widened<int16_t>(tif.get(), layout, errors, name);
    case TiffSamples::kUint32: {
      // Same bytes as int32: values above INT32_MAX read as negative and become -1.
      Image<int32_t> image = read_direct<int32_t>(tif.get(), layout, errors, name);
      for (int32_t& value : image.pixels()) value = value < 0 ? -1 : value;
      return image;
    }
  }
  throw_format_error(name, "internal error: unhandled TIFF sample kind");
}

int64_t count_tiff(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                   const ReadOptions& /*options*/) {
  TiffErrors errors;
  TiffSource source{bytes, n_bytes, 0};
  const TiffHandle tif = open_tiff_reader(&source, name, &errors);
  if (tif == nullptr) {
    throw_format_error(name, "cannot read TIFF: ",
                       errors.any() ? errors.text : std::string("libtiff rejected the header"));
  }
  // libtiff walks the IFD chain (and stops at a loop); each IFD is a page, i.e. a frame.
  const tdir_t n_frames = TIFFNumberOfDirectories(tif.get());
  if (n_frames == 0) throw_format_error(name, "TIFF without a readable directory (page)");
  return static_cast<int64_t>(n_frames);
}

}  // namespace difftriage::io::detail
