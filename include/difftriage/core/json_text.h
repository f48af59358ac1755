/// Any byte string in JSON: file names that are not valid UTF-8, and JSON output that never
/// throws on them.
///
///   nlohmann::json row;
///   difftriage::set_path(row, "fr\xe9d\xe9ric.pgm");  // "path": "fr\uFFFDd\uFFFDric.pgm",
///                                                      // "path_b64": "ZnLpZOlyaWMucGdt"
///   std::filesystem::path back = difftriage::path_from_json(row);    // the exact bytes
///   std::string text = difftriage::dump_json(row, 2);
///
/// A POSIX file name is any byte string without NUL or '/', so it need not be valid UTF-8, which
/// JSON strings must be. The one rule of every difftriage output: a path is a JSON string —
/// the name itself when it is valid UTF-8, else the name with each invalid byte replaced by
/// U+FFFD (readable, but not exact) plus `"<key>_b64"`, the raw bytes in base64 (RFC 4648, with
/// padding: the only place such a name is exact). Base64 is libsodium's (already a dependency of
/// libzmq). All functions are pure and thread-safe.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace difftriage {

/// True when `bytes` is well-formed UTF-8 (no overlong forms, surrogates or code points above
/// U+10FFFF).
bool is_valid_utf8(std::string_view bytes) noexcept;

/// `bytes` with each byte that is not part of a well-formed UTF-8 sequence replaced by U+FFFD.
std::string to_utf8_lossy(std::string_view bytes);

/// RFC 4648 base64 with padding.
std::string encode_base64(std::string_view bytes);
/// Inverse of encode_base64. @throws FormatError when `text` is not valid padded base64.
std::string decode_base64(std::string_view text);

/// Sets `object[key]` to `path` as a JSON string and, when the name is not valid UTF-8,
/// `object[key + "_b64"]` to its raw bytes (see the top of this header).
void set_path(nlohmann::json& object, const std::filesystem::path& path,
              const std::string& key = "path");

/// The exact path that set_path stored: `object[key + "_b64"]` decoded when present, else
/// `object[key]`. @throws FormatError when the key is missing, not a string or bad base64.
std::filesystem::path path_from_json(const nlohmann::json& object,
                                     const std::string& key = "path");

/// `value.dump(indent)`, with any string that is not valid UTF-8 written with U+FFFD for each
/// bad byte instead of throwing (nlohmann's error_handler_t::replace). Use set_path for paths
/// where the exact name matters.
std::string dump_json(const nlohmann::json& value, int indent = -1);

}  // namespace difftriage
