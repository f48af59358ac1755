// DECTRIS Stream V1 / V2 messages: envelopes, frames, encoders and msgpack dumps (see
// include/difftriage/io/dectris_stream.h). V2 CBOR parsing lives in cbor_stream.cpp (one home
// for CBOR); this file adds V1 JSON, the encoders and the dump reader.
#include "difftriage/io/dectris_stream.h"

#include <lz4.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string_view>

#include "difftriage/core/error.h"
#include "difftriage/io/bitshuffle_lz4.h"
#include "format_registry.h"

namespace difftriage::io {
namespace {

using ::difftriage::detail::concat;
using nlohmann::json;

bool is_cbor_message(const std::vector<uint8_t>& part) {
  return part.size() >= 3 && part[0] == 0xD9 && part[1] == 0xD9 && part[2] == 0xF7;
}

// A part parsed as a JSON object, or nullopt (binary blob, not JSON, not an object).
std::optional<json> parse_json_part(const std::vector<uint8_t>& part) {
  if (part.empty() || (part[0] != '{' && part[0] != ' ' && part[0] != '\n')) return std::nullopt;
  json j = json::parse(part.begin(), part.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

int64_t json_int(const json& j, const char* key, const std::string& where) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer() || it->get<int64_t>() < 0) {
    throw FormatError(concat(where, ": no non-negative integer \"", key, "\""));
  }
  return it->get<int64_t>();
}

std::optional<double> json_number(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

// V1 type name → RFC 8746 typed-array tag and element size.
std::pair<uint64_t, size_t> v1_type(const std::string& type, const std::string& where) {
  if (type == "uint8") return {64, 1};
  if (type == "uint16") return {69, 2};
  if (type == "uint32") return {70, 4};
  if (type == "float32") return {85, 4};
  throw FormatError(concat(where, ": pixel type '", type,
                           "' is not supported (uint8, uint16, uint32, float32)"));
}

StreamSeriesHeader parse_v1_header(const MessageParts& parts, int64_t series,
                                   const std::string& name) {
  StreamSeriesHeader h;
  h.series_id = series;
  for (size_t i = 1; i < parts.size(); ++i) {
    const auto j = parse_json_part(parts[i]);
    if (!j) continue;
    const std::string htype = j->value("htype", "");
    if (htype.empty() && i == 1) {  // the detector config
      DetectorMetadata& md = h.metadata;
      md.beam_center_fast_px = json_number(*j, "beam_center_x");
      md.beam_center_slow_px = json_number(*j, "beam_center_y");
      if (auto d = json_number(*j, "detector_distance"); d && *d > 0) md.distance_mm = *d * 1e3;
      md.wavelength_angstrom = json_number(*j, "wavelength");
      if (auto p = json_number(*j, "x_pixel_size"); p && *p > 0) md.pixel_size_mm = *p * 1e3;
      md.saturation_value = json_number(*j, "countrate_correction_count_cutoff");
      md.exposure_s = json_number(*j, "count_time");
      md.detector = j->value("description", std::string());
      // SIMPLON: nimages per trigger, ntrigger triggers (the recorded EIGER2 series: 1 × 80).
      if (auto n = json_number(*j, "nimages"); n && *n >= 0 && *n < 9e15) {
        const auto t = json_number(*j, "ntrigger");
        const double triggers = t && *t >= 1 && *t < 9e15 ? *t : 1.0;
        if (*n * triggers < 9e15) h.n_images = static_cast<int64_t>(*n * triggers);
      }
    } else if (htype.rfind("dpixelmask", 0) == 0 && i + 1 < parts.size() &&
               !parts[i + 1].empty()) {
      const std::string where = concat(name, ": part ", i + 2, " (pixel mask)");
      const auto shape = j->find("shape");
      if (shape == j->end() || !shape->is_array() || shape->size() != 2 ||
          !(*shape)[0].is_number_unsigned() || !(*shape)[1].is_number_unsigned()) {
        throw FormatError(concat(where, ": dpixelmask shape is not [fast, slow]"));
      }
      const auto [tag, size] = v1_type(j->value("type", "uint32"), where);
      (void)size;
      const auto n_fast = (*shape)[0].get<int64_t>(), n_slow = (*shape)[1].get<int64_t>();
      const AnyImage mask = detail::typed_array_to_image(tag, parts[i + 1], n_slow, n_fast, where);
      h.mask_n_slow = n_slow;
      h.mask_n_fast = n_fast;
      h.mask.resize(static_cast<size_t>(n_slow * n_fast));
      std::visit(
          [&](const auto& img) {
            for (size_t k = 0; k < h.mask.size(); ++k) h.mask[k] = img.data()[k] != 0 ? 1 : 0;
          },
          mask);
    }
  }
  return h;
}

AnyImage decode_v1_image(const MessageParts& parts, const std::string& name) {
  if (parts.size() < 3) {
    throw FormatError(concat(name, ": Stream V1 image message has ", parts.size(),
                             " part(s), needs dimage, dimage_d and the data blob"));
  }
  const std::string where = concat(name, ": part 2 (dimage_d)");
  const auto d = parse_json_part(parts[1]);
  if (!d || d->value("htype", "").rfind("dimage_d", 0) != 0) {
    throw FormatError(concat(where, ": not a dimage_d-1.0 JSON part"));
  }
  const auto shape = d->find("shape");
  if (shape == d->end() || !shape->is_array() || shape->size() != 2 ||
      !(*shape)[0].is_number_unsigned() || !(*shape)[1].is_number_unsigned()) {
    throw FormatError(concat(where, ": shape is not [fast, slow]"));
  }
  const int64_t n_fast = std::min<int64_t>((*shape)[0].get<int64_t>(), kMaxImageExtent + 1);
  const int64_t n_slow = std::min<int64_t>((*shape)[1].get<int64_t>(), kMaxImageExtent + 1);
  detail::check_extents(where, "dimage_d shape", n_slow, n_fast);
  const auto [tag, elem] = v1_type(d->value("type", ""), where);
  const std::string encoding = d->value("encoding", "");
  const std::vector<uint8_t>& blob = parts[2];
  const std::string blob_where = concat(name, ": part 3 (data, encoding '", encoding, "')");
  if (const auto size = d->find("size"); size != d->end() && size->is_number_unsigned() &&
                                         size->get<uint64_t>() != blob.size()) {
    throw FormatError(concat(blob_where, ": holds ", blob.size(), " bytes, dimage_d says ",
                             size->get<uint64_t>()));
  }
  if (encoding.empty() || encoding.back() != '<') {
    throw FormatError(concat(blob_where, ": only little-endian ('<') encodings are supported"));
  }
  const std::string_view codec(encoding.data(), encoding.size() - 1);
  const size_t n_out = static_cast<size_t>(n_slow * n_fast) * elem;
  if (codec.empty()) {
    if (blob.size() != n_out) {
      throw FormatError(concat(blob_where, ": holds ", blob.size(), " bytes, the frame needs ", n_out));
    }
  } else if (codec != "lz4" && codec != "bs8-lz4" && codec != "bs16-lz4" && codec != "bs32-lz4") {
    throw FormatError(concat(blob_where, ": encoding not supported (<, lz4<, bs8-lz4<, "
                                         "bs16-lz4<, bs32-lz4<)"));
  } else if (codec != "lz4") {
    const size_t bits = static_cast<size_t>(std::stoi(std::string(codec.substr(2))));
    if (bits != 8 * elem) {
      throw FormatError(concat(blob_where, ": bitshuffle of ", bits, "-bit elements for ",
                               d->value("type", ""), " pixels"));
    }
  }
  // Decoded straight into the frame's memory (typed_array_decode): no intermediate buffer.
  auto write = [&](uint8_t* out, size_t n_bytes) {
    if (codec.empty()) {
      std::memcpy(out, blob.data(), n_bytes);
    } else if (codec == "lz4") {
      const int n = LZ4_decompress_safe(reinterpret_cast<const char*>(blob.data()),
                                        reinterpret_cast<char*>(out),
                                        static_cast<int>(blob.size()), static_cast<int>(n_bytes));
      if (n != static_cast<int>(n_bytes)) {
        throw FormatError(concat(blob_where, ": LZ4 block ", n < 0 ? "is corrupt" : "is short",
                                 " (", n, " of ", n_bytes, " bytes)"));
      }
    } else {
      decode_bitshuffle_lz4(blob.data(), blob.size(), out, n_bytes, elem, blob_where);
    }
  };
  return detail::typed_array_decode(tag, n_slow, n_fast, write, blob_where);
}

// ---- encoders ----------------------------------------------------------------------------------

std::vector<uint8_t> json_part(const json& j) {
  const std::string text = j.dump();
  return {text.begin(), text.end()};
}

// Little-endian pixel bytes of a frame as sent (int32 → uint32) with its V1 type and V2 tag.
struct PixelBytes {
  std::vector<uint8_t> bytes;
  const char* type;
  uint64_t tag;
  size_t elem;
};

PixelBytes pixel_bytes(const AnyImage& image) {
  return std::visit(
      [](const auto& img) {
        using T = typename std::decay_t<decltype(img)>::value_type;
        DT_CHECK(!img.empty(), ConfigError, "cannot encode an empty frame");
        PixelBytes p;
        p.elem = sizeof(T);
        p.bytes.resize(static_cast<size_t>(img.size()) * sizeof(T));
        std::memcpy(p.bytes.data(), img.data(), p.bytes.size());
        if constexpr (std::is_same_v<T, uint8_t>) {
          p.type = "uint8", p.tag = 64;
        } else if constexpr (std::is_same_v<T, uint16_t>) {
          p.type = "uint16", p.tag = 69;
        } else if constexpr (std::is_same_v<T, int32_t>) {
          p.type = "uint32", p.tag = 70;  // two's complement: -1 is the all-ones marker
        } else {
          p.type = "float32", p.tag = 85;
        }
        return p;
      },
      image);
}

std::vector<uint8_t> compress(const PixelBytes& p, StreamEncoding encoding, bool v2) {
  switch (encoding) {
    case StreamEncoding::kRaw:
      return p.bytes;
    case StreamEncoding::kBslz4:
      return encode_bitshuffle_lz4(p.bytes.data(), p.bytes.size(), p.elem);
    case StreamEncoding::kLz4:
      if (v2) return encode_hdf5_lz4(p.bytes.data(), p.bytes.size());
      {
        std::vector<uint8_t> out(static_cast<size_t>(LZ4_compressBound(static_cast<int>(p.bytes.size()))));
        const int n = LZ4_compress_default(reinterpret_cast<const char*>(p.bytes.data()),
                                           reinterpret_cast<char*>(out.data()),
                                           static_cast<int>(p.bytes.size()),
                                           static_cast<int>(out.size()));
        DT_CHECK(n > 0, Error, "LZ4 compression failed");
        out.resize(static_cast<size_t>(n));
        return out;
      }
  }
  return {};
}

// A minimal CBOR writer (RFC 8949 definite-length items) for the V2 encoders.
class CborWriter {
 public:
  void head(int major, uint64_t value) {
    const auto m = static_cast<uint8_t>(major << 5);
    if (value < 24) {
      out_.push_back(static_cast<uint8_t>(m | value));
    } else if (value <= 0xFF) {
      out_.push_back(m | 24);
      be(value, 1);
    } else if (value <= 0xFFFF) {
      out_.push_back(m | 25);
      be(value, 2);
    } else if (value <= 0xFFFFFFFFULL) {
      out_.push_back(m | 26);
      be(value, 4);
    } else {
      out_.push_back(m | 27);
      be(value, 8);
    }
  }
  void uint(uint64_t v) { head(0, v); }
  void text(std::string_view s) {
    head(3, s.size());
    out_.insert(out_.end(), s.begin(), s.end());
  }
  void bytes(const std::vector<uint8_t>& b) {
    head(2, b.size());
    out_.insert(out_.end(), b.begin(), b.end());
  }
  void number(double v) {
    out_.push_back(0xFB);
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    be(bits, 8);
  }
  void map(uint64_t n) { head(5, n); }
  void array(uint64_t n) { head(4, n); }
  void tag(uint64_t t) { head(6, t); }
  std::vector<uint8_t> take() { return std::move(out_); }

 private:
  void be(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<uint8_t> out_;
};

// tag 40 [[slow, fast], tag <typed> (bytes | tag 56500 [algorithm, elem, bytes])]
void write_multi_dim(CborWriter& w, int64_t n_slow, int64_t n_fast, const PixelBytes& p,
                     StreamEncoding encoding) {
  w.tag(40);
  w.array(2);
  w.array(2);
  w.uint(static_cast<uint64_t>(n_slow));
  w.uint(static_cast<uint64_t>(n_fast));
  w.tag(p.tag);
  if (encoding == StreamEncoding::kRaw) {
    w.bytes(p.bytes);
    return;
  }
  w.tag(56500);
  w.array(3);
  w.text(encoding == StreamEncoding::kBslz4 ? "bslz4" : "lz4");
  w.uint(encoding == StreamEncoding::kBslz4 ? p.elem : 0);
  w.bytes(compress(p, encoding, true));
}

// ---- msgpack (the dump format) -----------------------------------------------------------------

class MsgpackReader {
 public:
  MsgpackReader(const std::vector<uint8_t>& b, std::string name) : b_(b), name_(std::move(name)) {}
  size_t pos() const { return pos_; }

  // The next item as JSON; binaries and strings also as raw bytes (for top-level parts).
  json item(std::vector<uint8_t>* raw, int depth = 0) {
    if (depth > 64) fail("nested deeper than 64");
    const uint8_t t = byte();
    if (t <= 0x7F) return t;
    if (t >= 0xE0) return static_cast<int8_t>(t);
    if ((t & 0xF0) == 0x80) return map(t & 0x0F, depth);
    if ((t & 0xF0) == 0x90) return array(t & 0x0F, depth);
    if ((t & 0xE0) == 0xA0) return str(t & 0x1F, raw);
    switch (t) {
      case 0xC0: return nullptr;
      case 0xC2: return false;
      case 0xC3: return true;
      case 0xC4: return bin(uint_be(1), raw);
      case 0xC5: return bin(uint_be(2), raw);
      case 0xC6: return bin(uint_be(4), raw);
      case 0xCA: {
        const auto v = static_cast<uint32_t>(uint_be(4));
        float f;
        std::memcpy(&f, &v, 4);
        return f;
      }
      case 0xCB: {
        const uint64_t v = uint_be(8);
        double d;
        std::memcpy(&d, &v, 8);
        return d;
      }
      case 0xCC: return uint_be(1);
      case 0xCD: return uint_be(2);
      case 0xCE: return uint_be(4);
      case 0xCF: return uint_be(8);
      case 0xD0: return static_cast<int8_t>(uint_be(1));
      case 0xD1: return static_cast<int16_t>(uint_be(2));
      case 0xD2: return static_cast<int32_t>(uint_be(4));
      case 0xD3: return static_cast<int64_t>(uint_be(8));
      case 0xD9: return str(uint_be(1), raw);
      case 0xDA: return str(uint_be(2), raw);
      case 0xDB: return str(uint_be(4), raw);
      case 0xDC: return array(uint_be(2), depth);
      case 0xDD: return array(uint_be(4), depth);
      case 0xDE: return map(uint_be(2), depth);
      case 0xDF: return map(uint_be(4), depth);
      default: fail(concat("msgpack type 0x", std::hex, static_cast<int>(t), std::dec,
                           " is not supported (extension types)"));
    }
  }
  // Length of an array at the current position (consumed).
  uint64_t array_header() {
    const uint8_t t = byte();
    if ((t & 0xF0) == 0x90) return t & 0x0F;
    if (t == 0xDC) return uint_be(2);
    if (t == 0xDD) return uint_be(4);
    fail("a message dump must be a msgpack array of parts");
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw FormatError(concat(name_, ": msgpack at byte ", pos_, ": ", what));
  }
  uint8_t byte() {
    if (pos_ >= b_.size()) fail("truncated");
    return b_[pos_++];
  }
  uint64_t uint_be(int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | byte();
    return v;
  }
  std::vector<uint8_t> take(uint64_t n) {
    if (n > b_.size() - pos_) fail(concat("item of ", n, " bytes, only ", b_.size() - pos_, " remain"));
    std::vector<uint8_t> out(b_.begin() + static_cast<std::ptrdiff_t>(pos_),
                             b_.begin() + static_cast<std::ptrdiff_t>(pos_ + n));
    pos_ += n;
    return out;
  }
  json str(uint64_t n, std::vector<uint8_t>* raw) {
    auto bytes = take(n);
    std::string s(bytes.begin(), bytes.end());
    if (raw) *raw = std::move(bytes);
    return s;
  }
  json bin(uint64_t n, std::vector<uint8_t>* raw) {
    auto bytes = take(n);
    if (raw) *raw = bytes;
    return json::binary(std::move(bytes));
  }
  json array(uint64_t n, int depth) {
    if (n > b_.size() - pos_) fail(concat("array of ", n, " items exceeds the file"));
    json a = json::array();
    for (uint64_t i = 0; i < n; ++i) a.push_back(item(nullptr, depth + 1));
    return a;
  }
  json map(uint64_t n, int depth) {
    if (n > b_.size() - pos_) fail(concat("map of ", n, " entries exceeds the file"));
    json m = json::object();
    for (uint64_t i = 0; i < n; ++i) {
      json key = item(nullptr, depth + 1);
      if (!key.is_string()) fail("map key is not a string");
      m[key.get<std::string>()] = item(nullptr, depth + 1);
    }
    return m;
  }

  const std::vector<uint8_t>& b_;
  std::string name_;
  size_t pos_ = 0;
};

}  // namespace

const char* stream_protocol_name(StreamProtocol protocol) noexcept {
  return protocol == StreamProtocol::kStream1 ? "stream1" : "stream2";
}

StreamMessage parse_stream_message(const MessageParts& parts, const std::string& name) {
  if (parts.empty()) throw FormatError(concat(name, ": empty message"));
  StreamMessage m;
  if (is_cbor_message(parts[0])) {
    m.protocol = StreamProtocol::kStream2;
    if (parts.size() != 1) {
      throw FormatError(concat(name, ": Stream V2 message in ", parts.size(),
                               " parts (V2 sends one part per message)"));
    }
    detail::Stream2Envelope e = detail::parse_stream2_envelope(parts[0].data(), parts[0].size(), name);
    m.series_id = e.series_id;
    if (e.type == "image") {
      m.type = StreamMessageType::kImage;
      m.frame = e.image_id;
    } else if (e.type == "end") {
      m.type = StreamMessageType::kSeriesEnd;
    } else {
      m.type = StreamMessageType::kSeriesStart;
      StreamSeriesHeader h;
      h.series_id = e.series_id;
      h.metadata = std::move(e.metadata);
      h.mask = std::move(e.mask);
      h.mask_n_slow = e.mask_n_slow;
      h.mask_n_fast = e.mask_n_fast;
      h.n_images = e.n_images;
      m.header = std::move(h);
    }
    return m;
  }
  const auto first = parse_json_part(parts[0]);
  const std::string where = concat(name, ": part 1");
  if (!first || !first->contains("htype") || !(*first)["htype"].is_string()) {
    throw FormatError(concat(where, ": neither a Stream V2 CBOR message nor a Stream V1 JSON part "
                                    "with an \"htype\" (a stray data part?)"));
  }
  m.protocol = StreamProtocol::kStream1;
  const std::string htype = (*first)["htype"].get<std::string>();
  if (htype.rfind("dheader-", 0) == 0) {
    m.type = StreamMessageType::kSeriesStart;
  } else if (htype.rfind("dimage-", 0) == 0) {
    m.type = StreamMessageType::kImage;
  } else if (htype.rfind("dseries_end-", 0) == 0) {
    m.type = StreamMessageType::kSeriesEnd;
  } else {
    throw FormatError(concat(where, ": htype '", htype,
                             "' does not open a message (dheader, dimage or dseries_end)"));
  }
  m.series_id = json_int(*first, "series", concat(where, " (", htype, ")"));
  if (m.type == StreamMessageType::kSeriesStart) m.header = parse_v1_header(parts, m.series_id, name);
  if (m.type == StreamMessageType::kImage) {
    m.frame = json_int(*first, "frame", concat(where, " (", htype, ")"));
  }
  return m;
}

std::optional<Bslz4Chunk> find_bslz4_chunk(const MessageParts& parts, const std::string& name) {
  if (parts.empty()) throw FormatError(concat(name, ": empty message"));
  if (is_cbor_message(parts[0])) return detail::cbor_bslz4_chunk(parts[0].data(), parts[0].size(), name);
  if (parts.size() < 3) {
    throw FormatError(concat(name, ": Stream V1 image message has ", parts.size(),
                             " part(s), needs dimage, dimage_d and the data blob"));
  }
  const auto d = parse_json_part(parts[1]);
  if (!d || d->value("htype", "").rfind("dimage_d", 0) != 0) {
    throw FormatError(concat(name, ": part 2 (dimage_d): not a dimage_d-1.0 JSON part"));
  }
  const std::string encoding = d->value("encoding", "");
  const std::string type = d->value("type", "");
  const auto shape = d->find("shape");
  if (shape == d->end() || !shape->is_array() || shape->size() != 2 ||
      !(*shape)[0].is_number_unsigned() || !(*shape)[1].is_number_unsigned()) {
    throw FormatError(concat(name, ": part 2 (dimage_d): shape is not [fast, slow]"));
  }
  Bslz4Chunk chunk;
  if (type == "uint8" && encoding == "bs8-lz4<") {
    chunk.type = PixelType::kUint8;
  } else if (type == "uint16" && encoding == "bs16-lz4<") {
    chunk.type = PixelType::kUint16;
  } else if (type == "uint32" && encoding == "bs32-lz4<") {
    chunk.type = PixelType::kInt32;
  } else {
    return std::nullopt;
  }
  chunk.n_fast = std::min<int64_t>((*shape)[0].get<int64_t>(), kMaxImageExtent + 1);
  chunk.n_slow = std::min<int64_t>((*shape)[1].get<int64_t>(), kMaxImageExtent + 1);
  chunk.bytes = parts[2];
  return chunk;
}

AnyImage decode_stream_image(const MessageParts& parts, const StreamSeriesHeader* header,
                             const std::string& name) {
  if (parts.empty()) throw FormatError(concat(name, ": empty message"));
  AnyImage image = is_cbor_message(parts[0])
                       ? detail::decode_cbor(parts[0].data(), parts[0].size(), name, ReadOptions{})
                       : decode_v1_image(parts, name);
  if (header == nullptr) return image;
  DetectorMetadata& md = metadata(image);
  const DetectorMetadata& hm = header->metadata;
  auto fill = [](std::optional<double>& to, const std::optional<double>& from) {
    if (!to && from) to = from;
  };
  fill(md.pixel_size_mm, hm.pixel_size_mm);
  fill(md.distance_mm, hm.distance_mm);
  fill(md.wavelength_angstrom, hm.wavelength_angstrom);
  fill(md.beam_center_fast_px, hm.beam_center_fast_px);
  fill(md.beam_center_slow_px, hm.beam_center_slow_px);
  fill(md.exposure_s, hm.exposure_s);
  fill(md.saturation_value, hm.saturation_value);
  if (!hm.detector.empty()) md.detector = hm.detector + (md.detector.empty() ? "" : "; " + md.detector);
  if (!header->mask.empty()) {
    const auto [n_slow, n_fast] = extents(image);
    if (n_slow != header->mask_n_slow || n_fast != header->mask_n_fast) {
      throw FormatError(concat(name, ": frame is ", n_fast, " x ", n_slow,
                               " (fast x slow), the series' pixel mask ", header->mask_n_fast,
                               " x ", header->mask_n_slow));
    }
    std::visit(
        [&](auto& img) {
          std::vector<uint8_t> mask = img.mask();
          if (mask.empty()) mask.assign(header->mask.size(), 0);
          for (size_t i = 0; i < mask.size(); ++i) mask[i] |= header->mask[i];
          img.set_mask(std::move(mask));
        },
        image);
  }
  return image;
}

MessageParts encode_stream_start(StreamProtocol protocol, const StreamSeriesHeader& h,
                                 int64_t n_fast, int64_t n_slow, int64_t n_images) {
  const DetectorMetadata& md = h.metadata;
  if (protocol == StreamProtocol::kStream1) {
    json config = {{"x_pixels_in_detector", n_fast},
                   {"y_pixels_in_detector", n_slow},
                   {"nimages", n_images},
                   {"ntrigger", 1},
                   {"description", md.detector}};
    if (md.beam_center_fast_px) config["beam_center_x"] = *md.beam_center_fast_px;
    if (md.beam_center_slow_px) config["beam_center_y"] = *md.beam_center_slow_px;
    if (md.distance_mm) config["detector_distance"] = *md.distance_mm * 1e-3;
    if (md.wavelength_angstrom) config["wavelength"] = *md.wavelength_angstrom;
    if (md.pixel_size_mm) {
      config["x_pixel_size"] = *md.pixel_size_mm * 1e-3;
      config["y_pixel_size"] = *md.pixel_size_mm * 1e-3;
    }
    if (md.saturation_value) config["countrate_correction_count_cutoff"] = *md.saturation_value;
    if (md.exposure_s) config["count_time"] = *md.exposure_s;
    const bool all = !h.mask.empty();
    MessageParts parts{json_part({{"htype", "dheader-1.0"},
                                  {"series", h.series_id},
                                  {"header_detail", all ? "all" : "basic"}}),
                       json_part(config)};
    if (all) {
      std::vector<uint8_t> mask(h.mask.size() * 4, 0);
      for (size_t i = 0; i < h.mask.size(); ++i) mask[4 * i] = h.mask[i] ? 1 : 0;
      const json shape = {h.mask_n_fast, h.mask_n_slow};
      parts.push_back(json_part({{"htype", "dflatfield-1.0"}, {"shape", shape}, {"type", "float32"}}));
      parts.emplace_back();
      parts.push_back(json_part({{"htype", "dpixelmask-1.0"}, {"shape", shape}, {"type", "uint32"}}));
      parts.push_back(std::move(mask));
      parts.push_back(json_part({{"htype", "dcountrate_table-1.0"}, {"shape", {2, 0}}, {"type", "float32"}}));
      parts.emplace_back();
    }
    return parts;
  }
  CborWriter w;
  w.tag(55799);
  int n_keys = 5;
  n_keys += md.beam_center_fast_px.has_value() + md.beam_center_slow_px.has_value() +
            md.pixel_size_mm.has_value() + md.wavelength_angstrom.has_value() +
            md.saturation_value.has_value() + md.exposure_s.has_value() +
            md.distance_mm.has_value() + !h.mask.empty();
  w.map(static_cast<uint64_t>(n_keys));
  w.text("type");
  w.text("start");
  w.text("series_id");
  w.uint(static_cast<uint64_t>(h.series_id));
  w.text("series_unique_id");
  w.text(concat("difftriage-replay-", h.series_id));
  w.text("channels");
  w.array(1);
  w.text("threshold_1");
  w.text("number_of_images");
  w.uint(static_cast<uint64_t>(n_images));
  auto num = [&](const char* key, const std::optional<double>& v, double scale = 1.0) {
    if (!v) return;
    w.text(key);
    w.number(*v * scale);
  };
  num("beam_center_x", md.beam_center_fast_px);
  num("beam_center_y", md.beam_center_slow_px);
  num("pixel_size_x", md.pixel_size_mm, 1e-3);
  num("incident_wavelength", md.wavelength_angstrom);
  if (md.saturation_value) {
    w.text("saturation_value");
    w.uint(static_cast<uint64_t>(std::max(0.0, *md.saturation_value)));
  }
  num("count_time", md.exposure_s);
  if (md.distance_mm) {
    w.text("detector_translation");
    w.array(3);
    w.number(0);
    w.number(0);
    w.number(*md.distance_mm * 1e-3);
  }
  if (!h.mask.empty()) {
    w.text("pixel_mask");
    w.map(1);
    w.text("threshold_1");
    PixelBytes p{std::vector<uint8_t>(h.mask.size() * 4, 0), "uint32", 70, 4};
    for (size_t i = 0; i < h.mask.size(); ++i) p.bytes[4 * i] = h.mask[i] ? 1 : 0;
    write_multi_dim(w, h.mask_n_slow, h.mask_n_fast, p, StreamEncoding::kRaw);
  }
  (void)n_fast;
  (void)n_slow;
  return {w.take()};
}

MessageParts encode_stream_image(StreamProtocol protocol, int64_t series_id, int64_t frame,
                                 const AnyImage& image, StreamEncoding encoding) {
  const PixelBytes p = pixel_bytes(image);
  const auto [n_slow, n_fast] = extents(image);
  if (protocol == StreamProtocol::kStream1) {
    std::string enc = "<";
    if (encoding == StreamEncoding::kLz4) enc = "lz4<";
    if (encoding == StreamEncoding::kBslz4) enc = concat("bs", 8 * p.elem, "-lz4<");
    std::vector<uint8_t> blob = compress(p, encoding, false);
    const size_t size = blob.size();
    return {json_part({{"htype", "dimage-1.0"}, {"series", series_id}, {"frame", frame}, {"hash", ""}}),
            json_part({{"htype", "dimage_d-1.0"},
                       {"shape", {n_fast, n_slow}},
                       {"type", p.type},
                       {"encoding", enc},
                       {"size", size}}),
            std::move(blob),
            json_part({{"htype", "dconfig-1.0"}, {"start_time", 0}, {"stop_time", 0}, {"real_time", 0}})};
  }
  CborWriter w;
  w.tag(55799);
  w.map(5);
  w.text("type");
  w.text("image");
  w.text("series_id");
  w.uint(static_cast<uint64_t>(series_id));
  w.text("series_unique_id");
  w.text(concat("difftriage-replay-", series_id));
  w.text("image_id");
  w.uint(static_cast<uint64_t>(frame));
  w.text("data");
  w.map(1);
  w.text("threshold_1");
  write_multi_dim(w, n_slow, n_fast, p, encoding);
  return {w.take()};
}

MessageParts encode_stream_end(StreamProtocol protocol, int64_t series_id) {
  if (protocol == StreamProtocol::kStream1) {
    return {json_part({{"htype", "dseries_end-1.0"}, {"series", series_id}})};
  }
  CborWriter w;
  w.tag(55799);
  w.map(3);
  w.text("type");
  w.text("end");
  w.text("series_id");
  w.uint(static_cast<uint64_t>(series_id));
  w.text("series_unique_id");
  w.text(concat("difftriage-replay-", series_id));
  return {w.take()};
}

MessageParts read_message_dump(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  DT_CHECK(in.good(), IoError, "cannot open ", path.string());
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  DT_CHECK(!in.bad(), IoError, "cannot read ", path.string());
  MsgpackReader reader(bytes, path.string());
  const uint64_t n = reader.array_header();
  DT_CHECK(n <= bytes.size(), FormatError, path.string(), ": msgpack array of ", n,
           " parts exceeds the file");
  MessageParts parts;
  for (uint64_t i = 0; i < n; ++i) {
    std::vector<uint8_t> raw;
    json item = reader.item(&raw);
    if (item.is_object()) {
      parts.push_back(json_part(item));
    } else if (item.is_binary() || item.is_string()) {
      parts.push_back(std::move(raw));
    } else {
      throw FormatError(concat(path.string(), ": part ", i + 1,
                               " is neither a map, a string nor binary data"));
    }
  }
  return parts;
}

}  // namespace difftriage::io
