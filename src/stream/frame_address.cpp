#include "difftriage/stream/frame_address.h"

#include "difftriage/core/error.h"

namespace difftriage::stream {

FrameAddress parse_frame_address(const std::string& text) {
  FrameAddress address;
  const auto pos = text.rfind("//");
  if (pos == std::string::npos || text.find('/', pos + 2) != std::string::npos) {
    address.path = text;
    return address;
  }
  std::string path = text.substr(0, pos);
  while (!path.empty() && (path.back() == ' ' || path.back() == '\t')) path.pop_back();
  std::string number = text.substr(pos + 2);
  const auto first = number.find_first_not_of(" \t");
  number = first == std::string::npos ? std::string() : number.substr(first);
  DT_CHECK(!number.empty() && number.find_first_not_of("0123456789") == std::string::npos &&
               number.size() <= 18,
           ConfigError, "'", text, "': the frame after // must be a non-negative integer");
  DT_CHECK(!path.empty(), ConfigError, "'", text, "': no file before //");
  address.path = path;
  address.frame = std::stoll(number);
  return address;
}

std::string to_event_line(const FrameAddress& address) {
  return address.path.string() + " //" + std::to_string(address.frame);
}

}  // namespace difftriage::stream
