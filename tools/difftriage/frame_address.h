// CLI helpers for frame addresses ("path //N"; the library's stream::FrameAddress).
#pragma once

#include <filesystem>
#include <string>

#include "difftriage/stream/frame_address.h"

namespace difftriage::cli {

using stream::FrameAddress;
using stream::parse_frame_address;

/// First bytes of a file, for format probing. @throws IoError if it cannot be read.
std::string read_head(const std::filesystem::path& path);

}  // namespace difftriage::cli
