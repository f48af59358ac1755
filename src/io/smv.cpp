// SMV ("Super Marty View", ADSC and friends): an ASCII header
//
//   {
//   HEADER_BYTES=  512;
//   DIM=2;
//   BYTE_ORDER=little_endian;
//   TYPE=unsigned_short;
//   SIZE1=512;
//   SIZE2=512;
//   ...
//   }
//
// padded (with spaces or NULs) to HEADER_BYTES, then the raster: SIZE2 rows of SIZE1 pixels, so
// SIZE1 is the fast axis. Records end at ';' or at a line end (simtbx writes a DIALS_ORIGIN
// record without ';'); the header ends at a '}' record. Keys are case-sensitive as written.
//
// Beam centre. SMV's BEAM_CENTER_X / BEAM_CENTER_Y mean different things to different writers;
// we follow dxtbx (cctbx/dxtbx src/dxtbx/format/FormatSMV*.py), which picks the convention by
// the variant of the file, and convert to pixels from the first pixel's corner:
//  - ADSC and by default (FormatSMVADSC: detector_factory.simple(beam_centre=(BEAM_CENTER_Y,
//    BEAM_CENTER_X) mm, fast "+x", slow "-y")), the MOSFLM convention in mm:
//      fast_px = BEAM_CENTER_Y / PIXEL_SIZE,  slow_px = BEAM_CENTER_X / PIXEL_SIZE.
//  - JHSim / simtbx simulations, recognised by BEAMLINE=fake (FormatSMVJHSim): the ADXV
//    convention in mm, y measured up from the bottom edge, plus dxtbx's one-pixel shift:
//      fast_px = (BEAM_CENTER_X + PIXEL_SIZE) / PIXEL_SIZE,
//      slow_px = (SIZE2 * PIXEL_SIZE - BEAM_CENTER_Y + PIXEL_SIZE) / PIXEL_SIZE.
//    (The same files' DIALS_ORIGIN / XDS_ORGX records put the beam one pixel lower on both
//    axes; we keep dxtbx's numbers so that difftriage and DIALS agree on these files.)
//  - Stockholm University Timepix (BEAMLINE=TimePix_SU, FormatSMVTimePix_SU): the values are
//    already pixels along fast (X) and slow (Y):  fast_px = BEAM_CENTER_X, slow_px = BEAM_CENTER_Y.
#include <map>
#include <string>
#include <string_view>

#include "format_registry.h"
#include "header_text.h"

namespace difftriage::io::detail {
namespace {

using ::difftriage::detail::concat;

// HEADER_BYTES is looked for in this many leading bytes (it is the first record in practice).
constexpr size_t kHeaderBytesScan = 4096;

using SmvHeader = std::map<std::string, std::string, std::less<>>;

// Records of `text` until a '}' record or a NUL (the padding); later duplicates win, as in
// dxtbx's dictionary.
SmvHeader parse_records(std::string_view text) {
  SmvHeader header;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find_first_of(std::string_view(";\n\0", 3), start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view record = trim(text.substr(start, end - start));
    const bool at_nul = end < text.size() && text[end] == '\0';
    start = end + 1;
    if (record == "}") break;
    const size_t eq = record.find('=');
    if (eq != std::string_view::npos) {
      const std::string_view key = trim(record.substr(0, eq));
      if (!key.empty() && key != "{") {
        header[std::string(key)] = std::string(trim(record.substr(eq + 1)));
      }
    }
    if (at_nul) break;
  }
  return header;
}

const std::string* find(const SmvHeader& header, std::string_view key) {
  const auto it = header.find(key);
  return it != header.end() ? &it->second : nullptr;
}

std::optional<double> number(const SmvHeader& header, std::string_view key) {
  const std::string* value = find(header, key);
  return value != nullptr ? parse_double(*value) : std::nullopt;
}

// A structural integer (HEADER_BYTES, SIZE1, SIZE2): required and well-formed.
int64_t require_int(const SmvHeader& header, std::string_view key, const std::string& name) {
  const std::string* value = find(header, key);
  if (value == nullptr) throw_format_error(name, "SMV header has no ", key, " record");
  const std::optional<int64_t> parsed = parse_int(*value);
  if (!parsed) throw_format_error(name, "SMV ", key, " is not an integer: '", *value, "'");
  return *parsed;
}

enum class SmvType { kUint16, kInt32, kUint32 };

SmvType parse_type(const SmvHeader& header, const std::string& name) {
  const std::string* type = find(header, "TYPE");
  if (type == nullptr) return SmvType::kUint16;  // dxtbx reads every SMV as uint16
  const std::string lower = to_lower(*type);
  if (lower == "unsigned_short") return SmvType::kUint16;
  if (lower == "signed_int" || lower == "signed_long" || lower == "long_int" || lower == "int" ||
      lower == "signed_long_int") {
    return SmvType::kInt32;
  }
  if (lower == "unsigned_int" || lower == "unsigned_long" || lower == "unsigned_long_int") {
    return SmvType::kUint32;
  }
  throw_format_error(name, "SMV TYPE '", *type,
                     "' is not supported (unsigned_short, unsigned_int/unsigned_long, "
                     "signed_int/signed_long/long_int are)");
}

bool parse_big_endian(const SmvHeader& header, const std::string& name) {
  const std::string* order = find(header, "BYTE_ORDER");
  if (order == nullptr) return false;
  const std::string lower = to_lower(*order);
  if (lower == "little_endian") return false;
  if (lower == "big_endian") return true;
  throw_format_error(name, "SMV BYTE_ORDER '", *order, "' is neither little_endian nor big_endian");
}

enum class SmvVariant { kAdsc, kJhSim, kTimepixSu };

SmvVariant detect_variant(const SmvHeader& header) {
  const std::string* beamline = find(header, "BEAMLINE");
  if (beamline != nullptr && *beamline == "fake") return SmvVariant::kJhSim;
  if (beamline != nullptr && to_lower(*beamline) == "timepix_su") return SmvVariant::kTimepixSu;
  return SmvVariant::kAdsc;
}

DetectorMetadata read_metadata(const SmvHeader& header, int64_t n_slow) {
  DetectorMetadata md;
  md.pixel_size_mm = number(header, "PIXEL_SIZE");
  md.distance_mm = number(header, "DISTANCE");
  md.wavelength_angstrom = number(header, "WAVELENGTH");
  md.exposure_s = number(header, "TIME");
  md.saturation_value = number(header, "SATURATED_VALUE");
  if (!md.saturation_value) md.saturation_value = number(header, "CCD_IMAGE_SATURATION");

  const SmvVariant variant = detect_variant(header);
  const std::optional<double> x = number(header, "BEAM_CENTER_X");
  const std::optional<double> y = number(header, "BEAM_CENTER_Y");
  const std::optional<double> pixel = md.pixel_size_mm;
  if (x && y) {
    if (variant == SmvVariant::kTimepixSu) {
      md.beam_center_fast_px = *x;
      md.beam_center_slow_px = *y;
    } else if (pixel && *pixel > 0) {
      if (variant == SmvVariant::kJhSim) {
        md.beam_center_fast_px = (*x + *pixel) / *pixel;
        md.beam_center_slow_px = (static_cast<double>(n_slow) * *pixel - *y + *pixel) / *pixel;
      } else {
        md.beam_center_fast_px = *y / *pixel;
        md.beam_center_slow_px = *x / *pixel;
      }
    }
  }

  const char* variant_name = variant == SmvVariant::kJhSim       ? "SMV JHSim simulation"
                             : variant == SmvVariant::kTimepixSu ? "SMV Timepix (SU)"
                                                                 : "SMV ADSC";
  md.detector = variant_name;
  if (const std::string* beamline = find(header, "BEAMLINE")) {
    md.detector += concat(", beamline ", *beamline);
  }
  if (const std::string* serial = find(header, "DETECTOR_SN")) {
    md.detector += concat(", S/N ", *serial);
  }
  return md;
}

// Raster decoding: explicit byte assembly, so the host's byte order never matters.
template <int kBytes>
uint32_t load(const uint8_t* p, bool big_endian) noexcept {
  uint32_t v = 0;
  for (int k = 0; k < kBytes; ++k) {
    const uint32_t byte = p[big_endian ? k : kBytes - 1 - k];
    v = (v << 8) | byte;
  }
  return v;
}

Image<uint16_t> read_u16(const uint8_t* data, int64_t n_slow, int64_t n_fast, bool big_endian) {
  Image<uint16_t> image(n_slow, n_fast);
  uint16_t* out = image.data();
  for (int64_t i = 0; i < image.size(); ++i) {
    out[i] = static_cast<uint16_t>(load<2>(data + 2 * i, big_endian));
  }
  return image;
}

Image<int32_t> read_32(const uint8_t* data, int64_t n_slow, int64_t n_fast, bool big_endian,
                       bool is_unsigned) {
  Image<int32_t> image(n_slow, n_fast);
  int32_t* out = image.data();
  for (int64_t i = 0; i < image.size(); ++i) {
    const uint32_t v = load<4>(data + 4 * i, big_endian);
    // Unsigned counts beyond int32 become -1, the "invalid pixel" marker (as the TIFF reader).
    out[i] = (is_unsigned && v > 0x7fffffffu) ? -1 : static_cast<int32_t>(v);
  }
  return image;
}

}  // namespace

int probe_smv(const uint8_t* head, size_t n_bytes) noexcept {
  // "{" and optional blanks, then "HEADER_BYTES=" (dxtbx: b"{\nHEADER_BYTES=").
  if (n_bytes < 1 || head[0] != '{') return kProbeNo;
  size_t pos = 1;
  while (pos < n_bytes && (head[pos] == '\n' || head[pos] == '\r' || head[pos] == ' ')) ++pos;
  constexpr std::string_view kKey = "HEADER_BYTES";
  if (n_bytes - pos < kKey.size()) return kProbeNo;
  return std::string_view(reinterpret_cast<const char*>(head + pos), kKey.size()) == kKey
             ? kProbeStrong
             : kProbeNo;
}

AnyImage decode_smv(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                    const ReadOptions& options) {
  check_single_frame(name, options);
  if (probe_smv(bytes, n_bytes) == kProbeNo) {
    throw_format_error(name, "not an SMV file (it must start with '{' and HEADER_BYTES=)");
  }
  const std::string_view text(reinterpret_cast<const char*>(bytes), n_bytes);
  const int64_t header_bytes =
      require_int(parse_records(text.substr(0, kHeaderBytesScan)), "HEADER_BYTES", name);
  if (header_bytes <= 0 || static_cast<uint64_t>(header_bytes) > n_bytes) {
    throw_format_error(name, "SMV HEADER_BYTES=", header_bytes, " does not fit the file of ",
                       n_bytes, " bytes");
  }
  const SmvHeader header = parse_records(text.substr(0, static_cast<size_t>(header_bytes)));
  if (const std::string* dim = find(header, "DIM"); dim != nullptr && parse_int(*dim) != 2) {
    throw_format_error(name, "SMV DIM=", *dim, " is not supported (only 2-D frames are)");
  }
  const int64_t n_fast = require_int(header, "SIZE1", name);
  const int64_t n_slow = require_int(header, "SIZE2", name);
  check_extents(name, "SMV", n_slow, n_fast);
  const SmvType type = parse_type(header, name);
  const bool big_endian = parse_big_endian(header, name);

  const uint64_t bytes_per_pixel = type == SmvType::kUint16 ? 2 : 4;
  const uint64_t n_needed = static_cast<uint64_t>(n_slow * n_fast) * bytes_per_pixel;
  const uint64_t n_available = n_bytes - static_cast<uint64_t>(header_bytes);
  if (n_available < n_needed) {
    throw_format_error(name, "truncated SMV pixel data: SIZE1 x SIZE2 = ", n_fast, " x ", n_slow,
                       " pixels of ", bytes_per_pixel, " bytes need ", n_needed,
                       " bytes after the ", header_bytes, "-byte header, the file has ",
                       n_available);
  }
  const uint8_t* data = bytes + header_bytes;
  DetectorMetadata md = read_metadata(header, n_slow);
  if (type == SmvType::kUint16) {
    Image<uint16_t> image = read_u16(data, n_slow, n_fast, big_endian);
    image.metadata() = std::move(md);
    return image;
  }
  Image<int32_t> image = read_32(data, n_slow, n_fast, big_endian, type == SmvType::kUint32);
  image.metadata() = std::move(md);
  return image;
}

}  // namespace difftriage::io::detail
