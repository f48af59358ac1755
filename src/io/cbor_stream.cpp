// DECTRIS Stream V2 "image" messages (CBOR, RFC 8949), as the detector sends them over ZeroMQ
// and as dectris/documentation stream_v2/test_data stores them, one message per file:
//
//   tag 55799 (self-describe CBOR) {
//     "type": "image", "series_id": 1, "series_unique_id": "...", "image_id": 0,
//     "real_time": [numerator, denominator] (s), "start_time": [...], "stop_time": [...],
//     "data": { "threshold_1": tag 40 [ [514, 1030], tag 69 tag 56500 ["bslz4", 2, bytes] ],
//               "threshold_2": ..., ... } }
//
// Tag 40 is RFC 8746's row-major multi-dimensional array: [dimensions, typed array]; the
// dimensions are (slow, fast). The typed array is an RFC 8746 tag (64 uint8, 69 uint16 LE,
// 70 uint32 LE, 72 sint8, 77 sint16 LE, 78 sint32 LE, 85 float32 LE) around either the raw byte
// string or DECTRIS's compression tag 56500 [algorithm, element size, bytes]; "bslz4" uses the
// HDF5 bitshuffle/LZ4 framing (bitshuffle_lz4.h).
//
// libcbor (0.8) builds the item tree. Before that, a short walk over the bytes checks that every
// declared length fits in what remains: libcbor allocates arrays and maps by their declared size,
// so a corrupt length would otherwise request gigabytes.
#include <cbor.h>

#include <cmath>
#include <cstring>
#include <tuple>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "difftriage/io/bitshuffle_lz4.h"
#include "format_registry.h"
#include "pixel_markers.h"

namespace difftriage::io::detail {
namespace {

using ::difftriage::detail::concat;

constexpr uint64_t kTagSelfDescribe = 55799;
constexpr uint64_t kTagMultiDimArray = 40;
constexpr uint64_t kTagDectrisCompression = 56500;
constexpr size_t kMaxDepth = 64;

// Checks the structure of the first CBOR item in [p, p + n): lengths within bounds, definite
// lengths only (DECTRIS writes no indefinite items), nesting at most kMaxDepth. Bytes after the
// item are ignored. Returns an empty string when fine, else what is wrong.
std::string check_cbor_shape(const uint8_t* p, size_t n) {
  size_t pos = 0;
  std::vector<uint64_t> pending{1};  // items still to read at each nesting level
  while (!pending.empty()) {
    if (pending.back() == 0) {
      pending.pop_back();
      continue;
    }
    --pending.back();
    if (pos >= n) return concat("message truncated at byte ", pos);
    const size_t item_at = pos;
    const uint8_t initial = p[pos++];
    const int major = initial >> 5, info = initial & 31;
    uint64_t value = 0;
    if (info < 24) {
      value = static_cast<uint64_t>(info);
    } else if (info <= 27) {
      const size_t n_len = size_t{1} << (info - 24);
      if (n - pos < n_len) return concat("message truncated at byte ", pos);
      for (size_t i = 0; i < n_len; ++i) value = (value << 8) | p[pos + i];
      pos += n_len;
    } else if (info == 31) {
      return concat("indefinite-length CBOR item at byte ", item_at, " (not supported)");
    } else {
      return concat("invalid CBOR initial byte 0x", std::hex, static_cast<int>(initial),
                    std::dec, " at byte ", item_at);
    }
    switch (major) {
      case 2:
      case 3:
        if (value > n - pos) {
          return concat("string at byte ", item_at, " claims ", value, " bytes, only ", n - pos,
                        " remain (message truncated)");
        }
        pos += static_cast<size_t>(value);
        break;
      case 4:
      case 5: {
        const uint64_t n_items = major == 5 ? value * 2 : value;
        if (value > n - pos || n_items > n - pos) {
          return concat(major == 4 ? "array" : "map", " at byte ", item_at, " claims ", value,
                        " entries, more than the ", n - pos, " bytes that remain");
        }
        pending.push_back(n_items);
        break;
      }
      case 6:
        pending.push_back(1);
        break;
      default:  // 0, 1 integers; 7 simple values and floats
        break;
    }
    if (pending.size() > kMaxDepth + 1) return concat("CBOR nested deeper than ", kMaxDepth);
  }
  return {};
}

struct CborDeleter {
  void operator()(cbor_item_t* item) const noexcept { cbor_decref(&item); }
};
using CborPtr = std::unique_ptr<cbor_item_t, CborDeleter>;

std::optional<std::string_view> as_text(const cbor_item_t* item) {
  if (item == nullptr || !cbor_isa_string(item) || !cbor_string_is_definite(item)) {
    return std::nullopt;
  }
  return std::string_view(reinterpret_cast<const char*>(cbor_string_handle(item)),
                          cbor_string_length(item));
}

std::optional<uint64_t> as_uint(const cbor_item_t* item) {
  if (item == nullptr || !cbor_isa_uint(item)) return std::nullopt;
  return cbor_get_int(item);
}

// The value under text key `key` of a definite map (borrowed), or null.
const cbor_item_t* find_key(const cbor_item_t* map, std::string_view key) {
  const cbor_pair* pairs = cbor_map_handle(map);
  for (size_t i = 0; i < cbor_map_size(map); ++i) {
    if (as_text(pairs[i].key) == key) return pairs[i].value;
  }
  return nullptr;
}

// RFC 8746 typed-array tags this reader accepts (little-endian or byte-sized elements).
enum class Element { kU8, kU16, kU32, kI8, kI16, kI32, kF32 };

std::optional<Element> typed_array_element(uint64_t tag) {
  switch (tag) {
    case 64: return Element::kU8;
    case 69: return Element::kU16;
    case 70: return Element::kU32;
    case 72: return Element::kI8;
    case 77: return Element::kI16;
    case 78: return Element::kI32;
    case 85: return Element::kF32;
    default: return std::nullopt;
  }
}

size_t element_size(Element e) {
  switch (e) {
    case Element::kU8:
    case Element::kI8:
      return 1;
    case Element::kU16:
    case Element::kI16:
      return 2;
    default:
      return 4;
  }
}

template <typename T>
T load_le(const uint8_t* p) {
  // Typed-array tags 69/70/77/78/85 are little-endian; so is every machine difftriage targets.
  static_assert(sizeof(T) <= 8);
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

AnyImage to_image(Element element, const std::vector<uint8_t>& bytes, int64_t n_slow,
                  int64_t n_fast) {
  const int64_t n = n_slow * n_fast;
  const uint8_t* p = bytes.data();
  std::vector<uint8_t> mask;
  auto mark = [&](int64_t i) {
    if (mask.empty()) mask.assign(static_cast<size_t>(n), 0);
    mask[static_cast<size_t>(i)] = 1;
  };
  AnyImage image;
  switch (element) {
    case Element::kU8: {
      Image<uint8_t> img(n_slow, n_fast);
      std::memcpy(img.data(), p, static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) if (img.data()[i] == 0xFF) mark(i);
      image = std::move(img);
      break;
    }
    case Element::kU16: {
      Image<uint16_t> img(n_slow, n_fast);
      std::memcpy(img.data(), p, static_cast<size_t>(n) * 2);
      for (int64_t i = 0; i < n; ++i) if (img.data()[i] == 0xFFFF) mark(i);
      image = std::move(img);
      break;
    }
    case Element::kU32: {
      Image<int32_t> img(n_slow, n_fast);
      for (int64_t i = 0; i < n; ++i) {
        const uint32_t v = load_le<uint32_t>(p + 4 * i);
        img.data()[i] = v > static_cast<uint32_t>(INT32_MAX) ? -1 : static_cast<int32_t>(v);
        if (v > static_cast<uint32_t>(INT32_MAX)) mark(i);
      }
      image = std::move(img);
      break;
    }
    case Element::kI8:
    case Element::kI16:
    case Element::kI32: {
      Image<int32_t> img(n_slow, n_fast);
      for (int64_t i = 0; i < n; ++i) {
        img.data()[i] = element == Element::kI8    ? static_cast<int8_t>(p[i])
                        : element == Element::kI16 ? load_le<int16_t>(p + 2 * i)
                                                   : load_le<int32_t>(p + 4 * i);
      }
      image = std::move(img);
      break;
    }
    case Element::kF32: {
      Image<float> img(n_slow, n_fast);
      std::memcpy(img.data(), p, static_cast<size_t>(n) * 4);
      image = std::move(img);
      break;
    }
  }
  if (!mask.empty()) std::visit([&](auto& img) { img.set_mask(std::move(mask)); }, image);
  return image;
}

// The frame of `element` pixels, written by `write(bytes, n_bytes)` (little-endian pixels)
// straight into the frame where the element's bytes are the frame's (8/16/32-bit unsigned,
// int32, float32; uint32 is fixed up in place), else through a buffer and to_image. Markers
// and conversions as to_image.
AnyImage decode_pixels(Element element, int64_t n_slow, int64_t n_fast, const PixelWriter& write) {
  const int64_t n = n_slow * n_fast;
  auto direct = [&](auto image) {
    using T = typename decltype(image)::value_type;
    write(reinterpret_cast<uint8_t*>(image.data()), static_cast<size_t>(n) * sizeof(T));
    return image;
  };
  std::vector<uint8_t> mask;
  AnyImage image;
  switch (element) {
    case Element::kU8: {
      auto img = direct(Image<uint8_t>(n_slow, n_fast));
      mark_equal<uint8_t>(img.data(), n, 0xFF, &mask);
      image = std::move(img);
      break;
    }
    case Element::kU16: {
      auto img = direct(Image<uint16_t>(n_slow, n_fast));
      mark_equal<uint16_t>(img.data(), n, 0xFFFF, &mask);
      image = std::move(img);
      break;
    }
    case Element::kU32: {
      auto img = direct(Image<int32_t>(n_slow, n_fast));
      clamp_uint32_invalid(img.data(), n, true, &mask);
      image = std::move(img);
      break;
    }
    case Element::kI32:
      return direct(Image<int32_t>(n_slow, n_fast));
    case Element::kF32:
      return direct(Image<float>(n_slow, n_fast));
    default: {
      std::vector<uint8_t> bytes(static_cast<size_t>(n) * element_size(element));
      write(bytes.data(), bytes.size());
      return to_image(element, bytes, n_slow, n_fast);
    }
  }
  if (!mask.empty()) std::visit([&](auto& img) { img.set_mask(std::move(mask)); }, image);
  return image;
}

}  // namespace

int probe_cbor(const uint8_t* head, size_t n_bytes) noexcept {
  // Self-describe tag 55799 (D9 D9 F7) followed by a map: how DECTRIS Stream V2 messages start.
  if (n_bytes < 4 || head[0] != 0xD9 || head[1] != 0xD9 || head[2] != 0xF7) return kProbeNo;
  return (head[3] >> 5) == 5 ? kProbeMagic : kProbeWeak;
}

namespace {

// A parsed image message: the message map and its "data" map of channels (borrowed from it).
struct ImageMessage {
  CborPtr root;
  CborPtr message;
  const cbor_item_t* data = nullptr;
  size_t n_channels = 0;
};

// Checks the shape, parses and finds the channel map; FormatError naming `name` otherwise.
ImageMessage parse_image_message(const uint8_t* bytes, size_t n_bytes, const std::string& name) {
  const std::string shape_problem = check_cbor_shape(bytes, n_bytes);
  if (!shape_problem.empty()) throw_format_error(name, "CBOR: ", shape_problem);
  cbor_load_result result{};
  ImageMessage parsed;
  parsed.root.reset(cbor_load(bytes, n_bytes, &result));
  if (!parsed.root) {
    throw_format_error(name, "CBOR: cannot parse (libcbor error ", static_cast<int>(result.error.code),
                       " at byte ", result.error.position, ")");
  }
  if (cbor_isa_tag(parsed.root.get()) && cbor_tag_value(parsed.root.get()) == kTagSelfDescribe) {
    parsed.message.reset(cbor_tag_item(parsed.root.get()));
  } else {
    parsed.message.reset(cbor_incref(parsed.root.get()));
  }
  const cbor_item_t* message = parsed.message.get();
  if (!cbor_isa_map(message) || !cbor_map_is_definite(message)) {
    throw_format_error(name, "not a DECTRIS Stream V2 message (the top-level CBOR item is not a map)");
  }
  const auto type = as_text(find_key(message, "type"));
  if (!type) throw_format_error(name, "DECTRIS Stream V2 message without a \"type\"");
  if (*type != "image") {
    throw_format_error(name, "DECTRIS Stream V2 message of type '", *type,
                       "'; only 'image' messages hold a frame");
  }
  parsed.data = find_key(message, "data");
  if (parsed.data == nullptr || !cbor_isa_map(parsed.data) || !cbor_map_is_definite(parsed.data)) {
    throw_format_error(name, "image message without a \"data\" map of channels");
  }
  parsed.n_channels = cbor_map_size(parsed.data);
  return parsed;
}

}  // namespace

namespace {

// Decodes one RFC 8746 tag-40 multi-dimensional array [[slow, fast], typed array] (raw bytes or
// DECTRIS tag 56500 "bslz4" / "lz4") into a frame; FormatError starting with `where` otherwise.
AnyImage decode_multi_dim_array(const cbor_item_t* item, const std::string& where) {
  // tag 40 [ [slow, fast], typed array ]
  if (!cbor_isa_tag(item) || cbor_tag_value(item) != kTagMultiDimArray) {
    throw FormatError(concat(where, ": not a tag-40 multi-dimensional array"));
  }
  CborPtr array(cbor_tag_item(item));
  if (!cbor_isa_array(array.get()) || cbor_array_size(array.get()) != 2) {
    throw FormatError(concat(where, ": tag 40 does not hold [dimensions, data]"));
  }
  cbor_item_t** parts = cbor_array_handle(array.get());
  if (!cbor_isa_array(parts[0]) || cbor_array_size(parts[0]) != 2) {
    throw FormatError(concat(where, ": dimensions are not [slow, fast]"));
  }
  const auto n_slow = as_uint(cbor_array_handle(parts[0])[0]);
  const auto n_fast = as_uint(cbor_array_handle(parts[0])[1]);
  if (!n_slow || !n_fast) throw FormatError(concat(where, ": dimensions are not unsigned integers"));
  const int64_t slow = *n_slow > static_cast<uint64_t>(kMaxImageExtent) ? kMaxImageExtent + 1
                                                                        : static_cast<int64_t>(*n_slow);
  const int64_t fast = *n_fast > static_cast<uint64_t>(kMaxImageExtent) ? kMaxImageExtent + 1
                                                                        : static_cast<int64_t>(*n_fast);
  check_extents(where, "tag-40 array", slow, fast);

  if (!cbor_isa_tag(parts[1])) {
    throw FormatError(concat(where, ": data is not an RFC 8746 typed array"));
  }
  const auto element = typed_array_element(cbor_tag_value(parts[1]));
  if (!element) {
    throw FormatError(concat(where, ": typed-array tag ", cbor_tag_value(parts[1]),
                             " is not supported (64, 69, 70, 72, 77, 78 or 85)"));
  }
  const size_t size = element_size(*element);
  const size_t n_out = static_cast<size_t>(slow * fast) * size;
  CborPtr payload(cbor_tag_item(parts[1]));
  auto write = [&](uint8_t* out, size_t n_bytes) {
  (void)n_bytes;  // == n_out
  if (cbor_isa_bytestring(payload.get()) && cbor_bytestring_is_definite(payload.get())) {
    if (cbor_bytestring_length(payload.get()) != n_out) {
      throw FormatError(concat(where, ": holds ", cbor_bytestring_length(payload.get()),
                               " bytes, the frame needs ", n_out));
    }
    std::memcpy(out, cbor_bytestring_handle(payload.get()), n_out);
  } else if (cbor_isa_tag(payload.get()) && cbor_tag_value(payload.get()) == kTagDectrisCompression) {
    CborPtr compressed(cbor_tag_item(payload.get()));
    if (!cbor_isa_array(compressed.get()) || cbor_array_size(compressed.get()) != 3) {
      throw FormatError(concat(where, ": tag 56500 does not hold [algorithm, element size, data]"));
    }
    cbor_item_t** c = cbor_array_handle(compressed.get());
    const auto algorithm = as_text(c[0]);
    const auto elem = as_uint(c[1]);
    if (!algorithm || !elem || !cbor_isa_bytestring(c[2]) || !cbor_bytestring_is_definite(c[2])) {
      throw FormatError(concat(where, ": malformed tag 56500 [algorithm, element size, data]"));
    }
    if (*algorithm == "bslz4") {
      if (*elem != size) {
        throw FormatError(concat(where, ": compression element size ", *elem,
                                 " differs from the typed array's ", size));
      }
      decode_bitshuffle_lz4(cbor_bytestring_handle(c[2]), cbor_bytestring_length(c[2]),
                            out, n_out, size, where);
    } else if (*algorithm == "lz4") {
      // The modifier is unused (DECTRIS writes 0); HDF5 LZ4 filter framing.
      decode_hdf5_lz4(cbor_bytestring_handle(c[2]), cbor_bytestring_length(c[2]), out,
                      n_out, where);
    } else {
      throw FormatError(concat(where, ": compression '", *algorithm,
                               "' is not supported (bslz4 or lz4)"));
    }
  } else {
    throw FormatError(concat(where, ": typed array holds neither bytes nor a tag-56500 "
                                    "compressed block"));
  }
  };
  return decode_pixels(*element, slow, fast, write);
}

}  // namespace

int64_t count_cbor(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                   const ReadOptions& /*options*/) {
  return static_cast<int64_t>(parse_image_message(bytes, n_bytes, name).n_channels);
}

std::optional<Bslz4Chunk> cbor_bslz4_chunk(const uint8_t* bytes, size_t n_bytes,
                                           const std::string& name) {
  const ImageMessage parsed = parse_image_message(bytes, n_bytes, name);
  if (parsed.n_channels == 0) throw_format_error(name, "image message without channels");
  const cbor_item_t* item = cbor_map_handle(parsed.data)[0].value;  // frame 0, as decoded
  if (!cbor_isa_tag(item) || cbor_tag_value(item) != kTagMultiDimArray) return std::nullopt;
  CborPtr array(cbor_tag_item(item));
  if (!cbor_isa_array(array.get()) || cbor_array_size(array.get()) != 2) return std::nullopt;
  cbor_item_t** parts = cbor_array_handle(array.get());
  if (!cbor_isa_array(parts[0]) || cbor_array_size(parts[0]) != 2 || !cbor_isa_tag(parts[1])) {
    return std::nullopt;
  }
  const auto n_slow = as_uint(cbor_array_handle(parts[0])[0]);
  const auto n_fast = as_uint(cbor_array_handle(parts[0])[1]);
  const auto element = typed_array_element(cbor_tag_value(parts[1]));
  if (!n_slow || !n_fast || !element ||
      (*element != Element::kU8 && *element != Element::kU16 && *element != Element::kU32) ||
      *n_slow > static_cast<uint64_t>(kMaxImageExtent) ||
      *n_fast > static_cast<uint64_t>(kMaxImageExtent)) {
    return std::nullopt;
  }
  CborPtr payload(cbor_tag_item(parts[1]));
  if (!cbor_isa_tag(payload.get()) || cbor_tag_value(payload.get()) != kTagDectrisCompression) {
    return std::nullopt;
  }
  CborPtr compressed(cbor_tag_item(payload.get()));
  if (!cbor_isa_array(compressed.get()) || cbor_array_size(compressed.get()) != 3) {
    return std::nullopt;
  }
  cbor_item_t** c = cbor_array_handle(compressed.get());
  if (as_text(c[0]).value_or("") != "bslz4" || !cbor_isa_bytestring(c[2]) ||
      !cbor_bytestring_is_definite(c[2])) {
    return std::nullopt;
  }
  Bslz4Chunk chunk;
  chunk.bytes.assign(cbor_bytestring_handle(c[2]),
                     cbor_bytestring_handle(c[2]) + cbor_bytestring_length(c[2]));
  chunk.type = *element == Element::kU8    ? PixelType::kUint8
               : *element == Element::kU16 ? PixelType::kUint16
                                           : PixelType::kInt32;
  chunk.n_slow = static_cast<int64_t>(*n_slow);
  chunk.n_fast = static_cast<int64_t>(*n_fast);
  return chunk;
}

AnyImage decode_cbor(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                     const ReadOptions& options) {
  const ImageMessage parsed = parse_image_message(bytes, n_bytes, name);
  const cbor_item_t* const message_item = parsed.message.get();
  const size_t n_channels = parsed.n_channels;
  const cbor_pair* channels = cbor_map_handle(parsed.data);
  std::string channel_names;
  for (size_t i = 0; i < n_channels; ++i) {
    channel_names += (i ? ", " : "") + std::string(as_text(channels[i].key).value_or("?"));
  }
  if (options.frame < 0 || static_cast<uint64_t>(options.frame) >= n_channels) {
    throw_format_error(name, "frame ", options.frame, " out of range, message has ", n_channels,
                       " channel(s) (", channel_names, ")");
  }
  const cbor_pair& channel = channels[options.frame];
  const std::string channel_name(as_text(channel.key).value_or("?"));
  const std::string where = concat(name, ": channel ", channel_name, " (frame ", options.frame, ")");

  AnyImage image = decode_multi_dim_array(channel.value, where);
  DetectorMetadata& md = metadata(image);
  md.detector = concat("DECTRIS Stream V2 image, series ",
                       as_uint(find_key(message_item, "series_id")).value_or(0), ", image ",
                       as_uint(find_key(message_item, "image_id")).value_or(0), ", channel ",
                       channel_name);
  // real_time: the exposure as a rational [numerator, denominator] in seconds.
  if (const cbor_item_t* t = find_key(message_item, "real_time");
      t != nullptr && cbor_isa_array(t) && cbor_array_size(t) == 2) {
    const auto num = as_uint(cbor_array_handle(t)[0]);
    const auto den = as_uint(cbor_array_handle(t)[1]);
    if (num && den && *den > 0) md.exposure_s = static_cast<double>(*num) / static_cast<double>(*den);
  }
  return image;
}

namespace {

// A CBOR number (unsigned, negative or float) as a double.
std::optional<double> as_number(const cbor_item_t* item) {
  if (item == nullptr) return std::nullopt;
  if (cbor_isa_uint(item)) return static_cast<double>(cbor_get_int(item));
  if (cbor_isa_negint(item)) return -1.0 - static_cast<double>(cbor_get_int(item));
  if (cbor_isa_float_ctrl(item) && cbor_float_get_width(item) != CBOR_FLOAT_0) {
    return cbor_float_get_float(item);
  }
  return std::nullopt;
}

}  // namespace

AnyImage typed_array_decode(uint64_t rfc8746_tag, int64_t n_slow, int64_t n_fast,
                            const PixelWriter& write, const std::string& where) {
  const auto element = typed_array_element(rfc8746_tag);
  if (!element) throw FormatError(concat(where, ": typed-array tag ", rfc8746_tag, " is not supported"));
  check_extents(where, "typed array", n_slow, n_fast);
  return decode_pixels(*element, n_slow, n_fast, write);
}

AnyImage typed_array_to_image(uint64_t rfc8746_tag, const std::vector<uint8_t>& bytes,
                              int64_t n_slow, int64_t n_fast, const std::string& where) {
  const auto element = typed_array_element(rfc8746_tag);
  if (!element) throw FormatError(concat(where, ": typed-array tag ", rfc8746_tag, " is not supported"));
  check_extents(where, "typed array", n_slow, n_fast);
  const size_t n_need = static_cast<size_t>(n_slow * n_fast) * element_size(*element);
  if (bytes.size() != n_need) {
    throw FormatError(concat(where, ": holds ", bytes.size(), " bytes, the frame needs ", n_need));
  }
  return to_image(*element, bytes, n_slow, n_fast);
}

Stream2Envelope parse_stream2_envelope(const uint8_t* bytes, size_t n_bytes,
                                       const std::string& name) {
  const std::string shape_problem = check_cbor_shape(bytes, n_bytes);
  if (!shape_problem.empty()) throw_format_error(name, "CBOR: ", shape_problem);
  cbor_load_result result{};
  CborPtr root(cbor_load(bytes, n_bytes, &result));
  if (!root) {
    throw_format_error(name, "CBOR: cannot parse (libcbor error ",
                       static_cast<int>(result.error.code), " at byte ", result.error.position,
                       ")");
  }
  if (!cbor_isa_tag(root.get()) || cbor_tag_value(root.get()) != kTagSelfDescribe) {
    throw_format_error(name, "not a DECTRIS Stream V2 message (no self-describe tag 55799)");
  }
  CborPtr message(cbor_tag_item(root.get()));
  if (!cbor_isa_map(message.get()) || !cbor_map_is_definite(message.get())) {
    throw_format_error(name, "not a DECTRIS Stream V2 message (the tagged item is not a map)");
  }
  const cbor_item_t* m = message.get();
  const auto type = as_text(find_key(m, "type"));
  if (!type) throw_format_error(name, "DECTRIS Stream V2 message without a \"type\"");
  Stream2Envelope envelope;
  envelope.type = std::string(*type);
  if (envelope.type != "start" && envelope.type != "image" && envelope.type != "end") {
    throw_format_error(name, "DECTRIS Stream V2 message of unknown type '", envelope.type, "'");
  }
  const auto series = as_uint(find_key(m, "series_id"));
  if (!series || *series > static_cast<uint64_t>(INT64_MAX)) {
    throw_format_error(name, "DECTRIS Stream V2 ", envelope.type,
                       " message without an unsigned \"series_id\"");
  }
  envelope.series_id = static_cast<int64_t>(*series);
  if (envelope.type == "image") {
    const auto image_id = as_uint(find_key(m, "image_id"));
    if (!image_id || *image_id > static_cast<uint64_t>(INT64_MAX)) {
      throw_format_error(name, "DECTRIS Stream V2 image message without an unsigned \"image_id\"");
    }
    envelope.image_id = static_cast<int64_t>(*image_id);
    return envelope;
  }
  if (envelope.type != "start") return envelope;
  // Start: geometry (beam centre in pixels, lengths in m, wavelength in Å), saturation, mask.
  DetectorMetadata& md = envelope.metadata;
  md.beam_center_fast_px = as_number(find_key(m, "beam_center_x"));
  md.beam_center_slow_px = as_number(find_key(m, "beam_center_y"));
  if (auto px = as_number(find_key(m, "pixel_size_x")); px && *px > 0) md.pixel_size_mm = *px * 1e3;
  md.wavelength_angstrom = as_number(find_key(m, "incident_wavelength"));
  md.saturation_value = as_number(find_key(m, "saturation_value"));
  md.exposure_s = as_number(find_key(m, "count_time"));
  // detector_translation [x, y, z] in m: z is the sample-detector distance (as in NXmx files).
  if (const cbor_item_t* t = find_key(m, "detector_translation");
      t != nullptr && cbor_isa_array(t) && cbor_array_size(t) == 3) {
    if (auto z = as_number(cbor_array_handle(t)[2]); z && *z != 0) {
      md.distance_mm = std::abs(*z) * 1e3;
    }
  }
  md.detector = std::string(as_text(find_key(m, "detector_description")).value_or(""));
  if (auto n = as_uint(find_key(m, "number_of_images"));
      n && *n <= static_cast<uint64_t>(INT64_MAX)) {
    envelope.n_images = static_cast<int64_t>(*n);
  }
  // pixel_mask {channel: tag 40 uint32}: the first channel's mask, non-zero = masked.
  if (const cbor_item_t* masks = find_key(m, "pixel_mask");
      masks != nullptr && cbor_isa_map(masks) && cbor_map_is_definite(masks) &&
      cbor_map_size(masks) > 0) {
    const cbor_pair& first = cbor_map_handle(masks)[0];
    const AnyImage mask = decode_multi_dim_array(
        first.value, concat(name, ": pixel_mask ", as_text(first.key).value_or("?")));
    std::tie(envelope.mask_n_slow, envelope.mask_n_fast) = extents(mask);
    envelope.mask.resize(static_cast<size_t>(envelope.mask_n_slow * envelope.mask_n_fast));
    std::visit(
        [&](const auto& img) {
          for (size_t i = 0; i < envelope.mask.size(); ++i) {
            envelope.mask[i] = img.data()[i] != 0 ? 1 : 0;
          }
        },
        mask);
  }
  return envelope;
}

}  // namespace difftriage::io::detail
