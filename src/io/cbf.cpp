// CBF (Crystallographic Binary File, imgCIF): a CIF text header, then a MIME-like binary section
//
//   --CIF-BINARY-FORMAT-SECTION--
//   Content-Type: application/octet-stream;
//        conversions="x-CBF_BYTE_OFFSET"
//   X-Binary-Size: 6224017                       (compressed bytes after the 4-byte magic)
//   X-Binary-Element-Type: "signed 32-bit integer"
//   X-Binary-Size-Fastest-Dimension: 2463
//   X-Binary-Size-Second-Dimension: 2527
//   <blank line> 0C 1A 04 D5 <byte-offset data> <padding> --CIF-BINARY-FORMAT-SECTION----
//
// Two header flavours are read (Bernstein & Hammersley, International Tables G, 2.3/3.7):
//  - miniCBF (PILATUS/EIGER): `_array_data.header_contents` holds DECTRIS "PILATUS_1.2" lines
//    `# Key value unit`: Pixel_size (m), Wavelength (Å), Detector_distance (m), Beam_xy (pixels,
//    fast slow, from the first pixel's corner as dxtbx's FormatCBFMiniPilatus reads it),
//    Exposure_time (s), Count_cutoff (counts), Detector.
//  - full imgCIF: CIF items and loops. We read _diffrn_radiation_wavelength.wavelength (Å),
//    _diffrn_measurement.sample_detector_distance (mm), _array_element_size.size (m),
//    _array_intensities.overload, _diffrn_scan_frame.integration_time (s), _diffrn_detector.type,
//    and derive the beam centre from the detector axes (_axis, _array_structure_list[_axis],
//    _diffrn_scan_frame_axis) when the detector chain has translations only (or rotations at
//    0°): the position of pixel (0, 0) and the fast/slow pixel vectors give where the beam (the
//    lab z axis) meets the detector plane, in pixels from pixel (0, 0) as dxtbx's FormatCBFFull
//    takes get_pixel_coordinates_fs(0, 0) for the panel origin. Otherwise the beam centre (and
//    anything else missing) stays unset. When both flavours are present (DLS I03 full CBFs),
//    the imgCIF values win, as in dxtbx; the PILATUS lines fill the gaps.
//  - The PILATUS 12M of DLS I23 is marked DetectorSurface::kCylinder: its header describes a
//    flat detector, but its modules sit on a cylinder (no flat DetectorGeometry).
//
// Pixels -1 (gap between modules) and -2 (bad or excluded pixel) keep their value and are
// masked. Only one binary section (frame 0) and only x-CBF_BYTE_OFFSET are read; other
// conversions (x-CBF_PACKED, x-CBF_NONE, ...) are a FormatError naming the conversion.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "difftriage/core/vec3.h"
#include "difftriage/io/byte_offset.h"
#include "format_registry.h"
#include "header_text.h"

namespace difftriage::io::detail {
namespace {

using ::difftriage::detail::concat;

constexpr std::string_view kCbfMagicText = "###CBF";
constexpr std::string_view kBinaryMarker = "--CIF-BINARY-FORMAT-SECTION--";
constexpr std::array<uint8_t, 4> kBinaryMagic = {0x0c, 0x1a, 0x04, 0xd5};
// The MIME header of a binary section is a dozen short lines; beyond this the magic is missing.
constexpr size_t kMaxMimeHeader = 64 * 1024;

size_t find_bytes(const uint8_t* bytes, size_t n_bytes, size_t from, const uint8_t* needle,
                  size_t n_needle) {
  if (from > n_bytes) return std::string_view::npos;
  const uint8_t* end = bytes + n_bytes;
  const uint8_t* it = std::search(bytes + from, end, needle, needle + n_needle);
  return it == end ? std::string_view::npos : static_cast<size_t>(it - bytes);
}

// ---- MIME header of the binary section --------------------------------------------------------

// Lower-case "key" -> value; continuation lines (leading blanks) extend the previous value.
std::map<std::string, std::string> parse_mime(std::string_view text) {
  std::map<std::string, std::string> fields;
  std::string last;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (trim(line).empty()) continue;
    if ((line.front() == ' ' || line.front() == '\t') && !last.empty()) {
      fields[last] += concat(" ", trim(line));
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    last = to_lower(trim(line.substr(0, colon)));
    fields[last] = std::string(trim(line.substr(colon + 1)));
  }
  return fields;
}

std::string unquote(std::string_view text) {
  text = trim(text);
  if (text.size() >= 2 && (text.front() == '"' || text.front() == '\'') &&
      text.back() == text.front()) {
    text = text.substr(1, text.size() - 2);
  }
  return std::string(text);
}

// The conversions="..." parameter of Content-Type ("x-CBF_BYTE_OFFSET"); empty when absent.
std::string mime_conversions(const std::map<std::string, std::string>& mime) {
  const auto it = mime.find("content-type");
  if (it == mime.end()) return {};
  const std::string lower = to_lower(it->second);
  const size_t at = lower.find("conversions=");
  if (at == std::string::npos) return {};
  std::string_view rest = std::string_view(it->second).substr(at + std::strlen("conversions="));
  const size_t stop = rest.find(';');
  return unquote(rest.substr(0, stop));
}

std::optional<int64_t> mime_int(const std::map<std::string, std::string>& mime, const char* key) {
  const auto it = mime.find(key);
  return it != mime.end() ? parse_int(unquote(it->second)) : std::nullopt;
}

// ---- a small CIF reader (enough for the imgCIF header items) ---------------------------------

struct CifToken {
  std::string_view text;
  bool bare = true;  // not quoted, not a text field: may be a tag, loop_ or data_
};

std::vector<CifToken> tokenize_cif(std::string_view text) {
  std::vector<CifToken> tokens;
  size_t pos = 0;
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (pos < text.size()) {
    const char c = text[pos];
    const bool line_start = pos == 0 || text[pos - 1] == '\n';
    if (is_space(c)) {
      ++pos;
    } else if (c == ';' && line_start) {  // text field: up to a line starting with ';'
      size_t end = text.find("\n;", pos + 1);
      if (end == std::string_view::npos) end = text.size();
      tokens.push_back({text.substr(pos + 1, end - pos - 1), false});
      pos = end == text.size() ? end : end + 2;
    } else if (c == '#') {
      while (pos < text.size() && text[pos] != '\n') ++pos;
    } else if (c == '\'' || c == '"') {  // closes at the same quote followed by a blank
      size_t end = pos + 1;
      while (end < text.size() && !(text[end] == c && (end + 1 == text.size() ||
                                                       is_space(text[end + 1])))) {
        ++end;
      }
      tokens.push_back({text.substr(pos + 1, end - pos - 1), false});
      pos = end + 1;
    } else {
      size_t end = pos;
      while (end < text.size() && !is_space(text[end])) ++end;
      tokens.push_back({text.substr(pos, end - pos), true});
      pos = end;
    }
  }
  return tokens;
}

// Tag (lower case) -> its column of values; a non-loop item is a column of one.
using CifColumns = std::map<std::string, std::vector<std::string>, std::less<>>;

bool is_keyword(const CifToken& t) {
  if (!t.bare) return false;
  const std::string lower = to_lower(t.text.substr(0, 5));
  return !t.text.empty() && (t.text.front() == '_' || lower == "loop_" || lower == "data_" ||
                             lower == "save_");
}

CifColumns parse_cif(std::string_view text) {
  const std::vector<CifToken> tokens = tokenize_cif(text);
  CifColumns columns;
  size_t i = 0;
  while (i < tokens.size()) {
    const CifToken& t = tokens[i];
    if (t.bare && to_lower(t.text) == "loop_") {
      std::vector<std::string> tags;
      ++i;
      while (i < tokens.size() && tokens[i].bare && !tokens[i].text.empty() &&
             tokens[i].text.front() == '_') {
        tags.push_back(to_lower(tokens[i].text));
        ++i;
      }
      size_t k = 0;
      while (i < tokens.size() && !is_keyword(tokens[i]) && !tags.empty()) {
        columns[tags[k % tags.size()]].emplace_back(tokens[i].text);
        ++k;
        ++i;
      }
    } else if (t.bare && !t.text.empty() && t.text.front() == '_') {
      std::vector<std::string>& column = columns[to_lower(t.text)];
      column.clear();
      if (i + 1 < tokens.size() && !is_keyword(tokens[i + 1])) {
        column.emplace_back(tokens[i + 1].text);
        ++i;
      }
      ++i;
    } else {
      ++i;  // data_ block names, stray values
    }
  }
  return columns;
}

const std::vector<std::string>* column(const CifColumns& cif, std::string_view tag) {
  const auto it = cif.find(tag);
  return it != cif.end() ? &it->second : nullptr;
}

// Value of `tag` in the first row (CIF's '.' and '?' mean "not given").
std::optional<std::string> first_value(const CifColumns& cif, std::string_view tag) {
  const auto* values = column(cif, tag);
  if (values == nullptr || values->empty() || (*values)[0] == "." || (*values)[0] == "?") {
    return std::nullopt;
  }
  return (*values)[0];
}

std::optional<double> first_number(const CifColumns& cif, std::string_view tag) {
  const auto value = first_value(cif, tag);
  return value ? parse_double(*value) : std::nullopt;
}

// Value of `tag` in the row whose `key_tag` equals `key` (same loop).
std::optional<std::string> lookup(const CifColumns& cif, std::string_view key_tag,
                                  std::string_view key, std::string_view tag) {
  const auto* keys = column(cif, key_tag);
  const auto* values = column(cif, tag);
  if (keys == nullptr || values == nullptr) return std::nullopt;
  for (size_t r = 0; r < keys->size() && r < values->size(); ++r) {
    if ((*keys)[r] == key) return (*values)[r];
  }
  return std::nullopt;
}

std::optional<double> lookup_number(const CifColumns& cif, std::string_view key_tag,
                                    std::string_view key, std::string_view tag) {
  const auto value = lookup(cif, key_tag, key, tag);
  return value ? parse_double(*value) : std::nullopt;
}

struct AxisPixels {
  std::string axis;
  double start_mm = 0;      // displacement of pixel 0 along the axis
  double increment_mm = 0;  // signed step per pixel
};

// The axis (and its displacement start and step) behind array dimension `index` (1 or 2).
std::optional<AxisPixels> array_axis(const CifColumns& cif, const std::string& index) {
  const auto set = lookup(cif, "_array_structure_list.index", index,
                          "_array_structure_list.axis_set_id");
  if (!set) return std::nullopt;
  AxisPixels out;
  out.axis = lookup(cif, "_array_structure_list_axis.axis_set_id", *set,
                    "_array_structure_list_axis.axis_id")
                 .value_or(*set);
  out.start_mm = lookup_number(cif, "_array_structure_list_axis.axis_set_id", *set,
                               "_array_structure_list_axis.displacement")
                     .value_or(0.0);
  const auto increment = lookup_number(cif, "_array_structure_list_axis.axis_set_id", *set,
                                       "_array_structure_list_axis.displacement_increment");
  if (!increment || *increment == 0) return std::nullopt;
  out.increment_mm = *increment;
  const auto direction =
      lookup(cif, "_array_structure_list.index", index, "_array_structure_list.direction");
  if (direction && to_lower(*direction) == "decreasing") out.increment_mm = -out.increment_mm;
  return out;
}

std::optional<Vec3> axis_vector(const CifColumns& cif, const std::string& axis,
                                const char* prefix) {
  std::array<double, 3> v{};
  for (int k = 0; k < 3; ++k) {
    const auto x = lookup_number(cif, "_axis.id", axis, concat("_axis.", prefix, "[", k + 1, "]"));
    if (!x) {
      if (std::string_view(prefix) == "offset") {
        v[k] = 0;  // offsets are optional ('.')
        continue;
      }
      return std::nullopt;
    }
    v[k] = *x;
  }
  return Vec3{v[0], v[1], v[2]};
}

// Fills the beam centre of `md` (where the beam, the lab z axis, meets the detector, in pixels
// from pixel (0, 0)) and, when the header gave no distance, the perpendicular sample-detector
// distance. Leaves them unset unless the detector geometry is simple enough; returns whether it
// filled them. DetectorGeometry (core) is then built from the metadata like any format's.
bool derive_beam(const CifColumns& cif, DetectorMetadata& md) {
  const auto fast = array_axis(cif, "1");
  const auto slow = array_axis(cif, "2");
  if (!fast || !slow) return false;
  const auto fast_dir = axis_vector(cif, fast->axis, "vector");
  const auto slow_dir = axis_vector(cif, slow->axis, "vector");
  if (!fast_dir || !slow_dir) return false;

  // Walk from the fast axis down its depends_on chain, adding each translation.
  Vec3 origin;
  std::string axis = fast->axis;
  for (int depth = 0; depth < 16 && axis != "." && axis != "?"; ++depth) {
    const auto type = lookup(cif, "_axis.id", axis, "_axis.type");
    const auto vector = axis_vector(cif, axis, "vector");
    const auto offset = axis_vector(cif, axis, "offset");
    if (!type || !vector || !offset) return false;
    double displacement = 0;
    if (axis == fast->axis) {
      displacement = fast->start_mm;
    } else if (axis == slow->axis) {
      displacement = slow->start_mm;
    } else {
      displacement =
          lookup_number(cif, "_diffrn_scan_frame_axis.axis_id", axis,
                        "_diffrn_scan_frame_axis.displacement")
              .value_or(lookup_number(cif, "_diffrn_scan_axis.axis_id", axis,
                                      "_diffrn_scan_axis.displacement_start")
                            .value_or(0.0));
    }
    if (to_lower(*type) == "rotation") {
      const double angle = lookup_number(cif, "_diffrn_scan_frame_axis.axis_id", axis,
                                         "_diffrn_scan_frame_axis.angle")
                               .value_or(0.0);
      if (angle != 0) return false;  // a tilted detector: not derived here
      displacement = 0;
    } else if (to_lower(*type) != "translation") {
      return false;
    }
    origin = origin + (*offset + displacement * *vector);
    axis = lookup(cif, "_axis.id", axis, "_axis.depends_on").value_or(".");
  }
  if (axis != "." && axis != "?") return false;  // a cycle or a very deep chain

  const Vec3 f = fast->increment_mm * *fast_dir;
  const Vec3 s = slow->increment_mm * *slow_dir;
  // origin + a f + b s has zero x and y: a 2x2 system.
  const double det = f.x * s.y - f.y * s.x;
  if (std::abs(det) < 1e-12) return false;
  const double fast_px = (-origin.x * s.y + origin.y * s.x) / det;
  const double slow_px = (-f.x * origin.y + f.y * origin.x) / det;
  // Perpendicular distance: |origin . n| with n the normal f x s.
  const Vec3 n = cross(f, s);
  const double distance_mm = std::abs(dot(origin, n)) / norm(n);
  if (!std::isfinite(fast_px) || !std::isfinite(slow_px) || !std::isfinite(distance_mm)) {
    return false;
  }
  md.beam_center_fast_px = fast_px;
  md.beam_center_slow_px = slow_px;
  if (!md.distance_mm) md.distance_mm = distance_mm;
  return true;
}

// ---- PILATUS_1.2 header lines ----------------------------------------------------------------

struct PilatusHeader {
  std::optional<double> pixel_size_mm, wavelength_angstrom, distance_mm, exposure_s, cutoff;
  std::optional<double> beam_fast_px, beam_slow_px;
  std::string detector;
};

// Metres unless the unit says mm.
std::optional<double> length_mm(std::string_view rest) {
  rest = trim(rest);
  const size_t space = rest.find_first_of(" \t");
  const auto value = parse_double(rest.substr(0, space));
  if (!value) return std::nullopt;
  const std::string_view unit =
      space == std::string_view::npos ? std::string_view() : trim(rest.substr(space));
  return unit.substr(0, 2) == "mm" ? *value : *value * 1000.0;
}

std::optional<double> first_field(std::string_view rest) {
  rest = trim(rest);
  return parse_double(rest.substr(0, rest.find_first_of(" \t")));
}

PilatusHeader parse_pilatus(std::string_view text) {
  PilatusHeader h;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = trim(text.substr(start, end - start));
    start = end + 1;
    if (line.empty() || line.front() != '#') continue;
    line = trim(line.substr(1));
    const size_t key_end = line.find_first_of(" \t:");
    if (key_end == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, key_end);
    std::string_view rest = line.substr(key_end);
    if (!rest.empty() && rest.front() == ':') rest.remove_prefix(1);
    rest = trim(rest);
    if (key == "Pixel_size") {
      h.pixel_size_mm = length_mm(rest);
    } else if (key == "Wavelength") {
      h.wavelength_angstrom = first_field(rest);
    } else if (key == "Detector_distance") {
      h.distance_mm = length_mm(rest);
    } else if (key == "Exposure_time") {
      h.exposure_s = first_field(rest);
    } else if (key == "Count_cutoff") {
      h.cutoff = first_field(rest);
    } else if (key == "Detector") {
      h.detector = std::string(rest);
    } else if (key == "Beam_xy") {  // "(1229.30, 1200.48) pixels"
      const size_t open = rest.find('('), comma = rest.find(','), close = rest.find(')');
      if (open != std::string_view::npos && comma != std::string_view::npos &&
          close != std::string_view::npos && open < comma && comma < close) {
        const auto x = parse_double(rest.substr(open + 1, comma - open - 1));
        const auto y = parse_double(rest.substr(comma + 1, close - comma - 1));
        if (x && y) {
          h.beam_fast_px = x;
          h.beam_slow_px = y;
        }
      }
    }
  }
  return h;
}

DetectorMetadata read_metadata(std::string_view header_text) {
  const PilatusHeader pilatus = parse_pilatus(header_text);
  const CifColumns cif = parse_cif(header_text);
  const bool imgcif = column(cif, "_axis.id") != nullptr ||
                      column(cif, "_array_structure_list.index") != nullptr ||
                      column(cif, "_diffrn_radiation_wavelength.wavelength") != nullptr;
  DetectorMetadata md;
  if (imgcif) {
    md.wavelength_angstrom = first_number(cif, "_diffrn_radiation_wavelength.wavelength");
    md.distance_mm = first_number(cif, "_diffrn_measurement.sample_detector_distance");
    if (const auto size_m = first_number(cif, "_array_element_size.size")) {
      md.pixel_size_mm = *size_m * 1000.0;
    }
    md.saturation_value = first_number(cif, "_array_intensities.overload");
    md.exposure_s = first_number(cif, "_diffrn_scan_frame.integration_time");
    derive_beam(cif, md);
  }
  if (!md.wavelength_angstrom) md.wavelength_angstrom = pilatus.wavelength_angstrom;
  if (!md.distance_mm) md.distance_mm = pilatus.distance_mm;
  if (!md.pixel_size_mm) md.pixel_size_mm = pilatus.pixel_size_mm;
  if (!md.saturation_value) md.saturation_value = pilatus.cutoff;
  if (!md.exposure_s) md.exposure_s = pilatus.exposure_s;
  if (!md.beam_center_fast_px || !md.beam_center_slow_px) {
    md.beam_center_fast_px = pilatus.beam_fast_px;
    md.beam_center_slow_px = pilatus.beam_slow_px;
  }
  md.detector = pilatus.detector;
  if (md.detector.empty()) md.detector = first_value(cif, "_diffrn_detector.type").value_or("");
  // The DLS I23 PILATUS 12M (the only one built, S/N 120-0100) is 24 rows of modules on a
  // cylinder around the sample, but its miniCBF header reads like a flat detector's (Beam_xy,
  // one Detector_distance). dxtbx recognises it by that name (FormatCBFMiniPilatusDLS12M) and
  // builds one panel per module; here it has no flat geometry.
  if (to_lower(md.detector).find("pilatus 12m") != std::string::npos) {
    md.surface = DetectorSurface::kCylinder;
  }
  md.detector += md.detector.empty() ? "" : " ";
  md.detector += imgcif ? "(imgCIF)" : "(miniCBF)";
  return md;
}

// Array dimensions from the imgCIF structure list, for binary sections without the
// X-Binary-Size-*-Dimension fields.
std::optional<int64_t> cif_dimension(const CifColumns& cif, const char* precedence) {
  const auto value = lookup(cif, "_array_structure_list.precedence", precedence,
                            "_array_structure_list.dimension");
  return value ? parse_int(*value) : std::nullopt;
}

}  // namespace

int probe_cbf(const uint8_t* head, size_t n_bytes) noexcept {
  if (n_bytes < kCbfMagicText.size()) return kProbeNo;
  return std::memcmp(head, kCbfMagicText.data(), kCbfMagicText.size()) == 0 ? kProbeStrong
                                                                            : kProbeNo;
}

AnyImage decode_cbf(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                    const ReadOptions& options) {
  check_single_frame(name, options);
  const auto* marker = reinterpret_cast<const uint8_t*>(kBinaryMarker.data());
  const size_t at_marker = find_bytes(bytes, n_bytes, 0, marker, kBinaryMarker.size());
  if (at_marker == std::string_view::npos) {
    throw_format_error(name, "CBF has no binary section (no ", kBinaryMarker, " line)");
  }
  const size_t mime_end = std::min(n_bytes, at_marker + kMaxMimeHeader);
  const size_t at_magic =
      find_bytes(bytes, mime_end, at_marker, kBinaryMagic.data(), kBinaryMagic.size());
  if (at_magic == std::string_view::npos) {
    throw_format_error(name, "CBF binary section at byte ", at_marker,
                       " has no start-of-data bytes 0C 1A 04 D5 (truncated or corrupt)");
  }
  const std::string_view mime_text(reinterpret_cast<const char*>(bytes) + at_marker,
                                   at_magic - at_marker);
  const auto mime = parse_mime(mime_text);

  const std::string conversions = mime_conversions(mime);
  if (to_lower(conversions) != "x-cbf_byte_offset") {
    throw_format_error(name, "CBF compression '", conversions.empty() ? "(none given)" : conversions,
                       "' is not supported (only x-CBF_BYTE_OFFSET is)");
  }
  if (const auto it = mime.find("content-transfer-encoding");
      it != mime.end() && to_lower(trim(it->second)) != "binary") {
    throw_format_error(name, "CBF Content-Transfer-Encoding '", it->second,
                       "' is not supported (only BINARY is)");
  }
  if (const auto it = mime.find("x-binary-element-type"); it != mime.end()) {
    const std::string type = to_lower(unquote(it->second));
    const bool ok = type == "signed 32-bit integer" || type == "unsigned 32-bit integer" ||
                    type == "signed 16-bit integer" || type == "unsigned 16-bit integer" ||
                    type == "signed 8-bit integer" || type == "unsigned 8-bit integer";
    if (!ok) {
      throw_format_error(name, "CBF X-Binary-Element-Type ", it->second,
                         " is not supported (8/16/32-bit integers are)");
    }
  }
  if (const auto it = mime.find("x-binary-element-byte-order");
      it != mime.end() && to_lower(trim(it->second)) != "little_endian") {
    throw_format_error(name, "CBF X-Binary-Element-Byte-Order ", it->second,
                       " is not supported (only LITTLE_ENDIAN is)");
  }

  const std::string_view header_text(reinterpret_cast<const char*>(bytes), at_marker);
  std::optional<int64_t> n_fast = mime_int(mime, "x-binary-size-fastest-dimension");
  std::optional<int64_t> n_slow = mime_int(mime, "x-binary-size-second-dimension");
  if (!n_fast || !n_slow) {
    const CifColumns cif = parse_cif(header_text);
    n_fast = cif_dimension(cif, "1");
    n_slow = cif_dimension(cif, "2");
  }
  if (!n_fast || !n_slow) {
    throw_format_error(name, "CBF binary section gives no X-Binary-Size-Fastest-Dimension / "
                             "X-Binary-Size-Second-Dimension and the header no array dimensions");
  }
  if (const auto n_third = mime_int(mime, "x-binary-size-third-dimension");
      n_third && *n_third != 1) {
    throw_format_error(name, "CBF X-Binary-Size-Third-Dimension ", *n_third,
                       " is not supported (2-D frames only)");
  }
  check_extents(name, "CBF", *n_slow, *n_fast);
  const int64_t n_pixels = *n_slow * *n_fast;
  if (const auto n_elements = mime_int(mime, "x-binary-number-of-elements");
      n_elements && *n_elements != n_pixels) {
    throw_format_error(name, "CBF X-Binary-Number-of-Elements ", *n_elements, " is not ",
                       *n_fast, " x ", *n_slow, " (fast x slow) = ", n_pixels);
  }

  const size_t data_start = at_magic + kBinaryMagic.size();
  size_t n_data = n_bytes - data_start;
  if (const auto size = mime_int(mime, "x-binary-size"); size && *size >= 0) {
    n_data = static_cast<size_t>(std::min<uint64_t>(n_data, static_cast<uint64_t>(*size)));
  }
  // Every pixel takes at least one byte: refuse before allocating for a lying header.
  if (static_cast<uint64_t>(n_pixels) > n_data) {
    throw_format_error(name, "truncated CBF: ", n_pixels, " pixels cannot fit in the ", n_data,
                       " bytes of byte-offset data");
  }

  Image<int32_t> image(*n_slow, *n_fast);
  decode_byte_offset(bytes + data_start, n_data, image.data(), n_pixels, name);
  std::vector<uint8_t> mask(static_cast<size_t>(n_pixels));
  const int32_t* pixels = image.data();
  for (int64_t i = 0; i < n_pixels; ++i) {
    mask[i] = static_cast<uint8_t>(pixels[i] == -1 || pixels[i] == -2);
  }
  image.set_mask(std::move(mask));
  image.metadata() = read_metadata(header_text);
  return image;
}

}  // namespace difftriage::io::detail
