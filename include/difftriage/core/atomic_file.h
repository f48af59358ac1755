/// Atomic file output: write to a temporary file beside the target, then rename over it, so a
/// reader never sees a half-written file and a failure leaves nothing behind.
#pragma once

#include <filesystem>
#include <functional>
#include <string_view>

namespace difftriage {

/// Calls `write(tmp_path)`, which must create and fill `tmp_path` (a file in the same folder as
/// `target`), then renames it to `target`. If `write` throws, the temporary is removed and the
/// exception propagates; `target` is untouched.
/// @throws IoError if the rename fails.
void write_atomically(const std::filesystem::path& target,
                      const std::function<void(const std::filesystem::path& tmp_path)>& write);

/// Writes `bytes` to `target` atomically. @throws IoError naming the file on failure.
void write_file_atomically(const std::filesystem::path& target, std::string_view bytes);

/// Reads a whole file. @throws IoError naming the file if it cannot be opened or read.
std::string read_file(const std::filesystem::path& path);

}  // namespace difftriage
