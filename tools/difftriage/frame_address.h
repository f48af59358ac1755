// "path //N" frame addresses, as CrystFEL writes them in event lists (N is 0-based).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace difftriage::cli {

struct FrameAddress {
  std::filesystem::path path;
  int64_t frame = 0;
};

/// Splits "file.h5 //3" (or "file.h5//3") into path and frame; plain paths get frame 0.
/// @throws ConfigError if the frame part is not a non-negative integer.
FrameAddress parse_frame_address(const std::string& text);

/// First bytes of a file, for format probing. @throws IoError if it cannot be read.
std::string read_head(const std::filesystem::path& path);

}  // namespace difftriage::cli
