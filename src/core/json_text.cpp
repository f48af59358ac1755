// UTF-8 checks, base64 (libsodium) and paths in JSON: see json_text.h.
#include "difftriage/core/json_text.h"

#include <sodium.h>

#include <cstdint>

#include "difftriage/core/error.h"

namespace difftriage {
namespace {

// Length of the well-formed UTF-8 sequence starting at s[i], or 0 if it is not one
// (Unicode 15, table 3-7: the well-formed byte sequences).
size_t utf8_sequence_length(std::string_view s, size_t i) noexcept {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t b0 = byte(i);
  if (b0 < 0x80) return 1;
  size_t n = 0;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;  // no overlong forms
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return n;
}

}  // namespace

bool is_valid_utf8(std::string_view bytes) noexcept {
  for (size_t i = 0; i < bytes.size();) {
    const size_t n = utf8_sequence_length(bytes, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string to_utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    const size_t n = utf8_sequence_length(bytes, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
      ++i;
    } else {
      out.append(bytes.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string encode_base64(std::string_view bytes) {
  constexpr int kVariant = sodium_base64_VARIANT_ORIGINAL;
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), kVariant), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), kVariant);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

std::string decode_base64(std::string_view text) {
  std::string out(text.size() / 4 * 3 + 3, '\0');
  size_t n = 0;
  const char* end = nullptr;
  const int rc = sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(),
                                   text.data(), text.size(), nullptr, &n, &end,
                                   sodium_base64_VARIANT_ORIGINAL);
  DT_CHECK(rc == 0 && end == text.data() + text.size(), FormatError, "'", to_utf8_lossy(text),
           "' is not valid base64");
  out.resize(n);
  return out;
}

void set_path(nlohmann::json& object, const std::filesystem::path& path, const std::string& key) {
  const std::string& bytes = path.native();
  if (is_valid_utf8(bytes)) {
    object[key] = bytes;
  } else {
    object[key] = to_utf8_lossy(bytes);
    object[key + "_b64"] = encode_base64(bytes);
  }
}

std::filesystem::path path_from_json(const nlohmann::json& object, const std::string& key) {
  const std::string b64 = key + "_b64";
  if (object.is_object() && object.contains(b64)) {
    DT_CHECK(object[b64].is_string(), FormatError, "'", b64, "' must be a string");
    return std::filesystem::path(decode_base64(object[b64].get<std::string>()));
  }
  DT_CHECK(object.is_object() && object.contains(key) && object[key].is_string(), FormatError,
           "missing string '", key, "'");
  return std::filesystem::path(object[key].get<std::string>());
}

std::string dump_json(const nlohmann::json& value, int indent) {
  return value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace difftriage
