// Test helper: reads the size of a PNG from its IHDR chunk.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>

#include "support/test_support.h"

namespace difftriage::testing {

/// {width, height} from the IHDR chunk of the PNG at `path`, or nullopt when the file does not
/// start with the PNG signature followed by an IHDR chunk (PNG spec 5.2, 11.2.2).
inline std::optional<std::pair<uint32_t, uint32_t>> png_size(const std::filesystem::path& path) {
  const std::string bytes = read_bytes(path);
  static const std::string kSignature("\x89PNG\r\n\x1a\n", 8);
  if (bytes.size() < 24 || bytes.compare(0, 8, kSignature) != 0 ||
      bytes.compare(12, 4, "IHDR") != 0) {
    return std::nullopt;
  }
  auto be32 = [&](size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
    return v;
  };
  return std::make_pair(be32(16), be32(20));
}

}  // namespace difftriage::testing
