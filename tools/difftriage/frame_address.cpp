#include "frame_address.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "difftriage/core/error.h"
#include "difftriage/io/image_io.h"

namespace difftriage::cli {

FrameAddress parse_frame_address(const std::string& text) {
  FrameAddress address;
  const auto pos = text.rfind("//");
  if (pos == std::string::npos) {
    address.path = text;
    return address;
  }
  std::string path = text.substr(0, pos);
  while (!path.empty() && path.back() == ' ') path.pop_back();
  const std::string number = text.substr(pos + 2);
  DT_CHECK(!number.empty() && number.find_first_not_of("0123456789") == std::string::npos,
           ConfigError, "'", text, "': the frame after // must be a non-negative integer");
  address.path = path;
  address.frame = std::stoll(number);
  return address;
}

std::string read_head(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot open " + path.string() + ": " + std::strerror(errno));
  std::string head(io::kProbeBytes, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  return head;
}

}  // namespace difftriage::cli
