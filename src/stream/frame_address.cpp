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

namespace difftriage::stream {

std::string event_list_problem(const FrameAddress& address) {
  const std::string& name = address.path.native();
  if (name.empty()) return "an empty name";
  if (name.find_first_of("\n\r") != std::string::npos) {
    return "the name holds a newline or carriage return, which would split its event-list line";
  }
  if (name.find(" //") != std::string::npos || name.find("\t//") != std::string::npos) {
    return "the name holds ' //', CrystFEL's separator of path and frame";
  }
  if (name.front() == ' ' || name.front() == '\t' || name.back() == ' ' || name.back() == '\t') {
    return "the name begins or ends with a blank, which event-list readers strip";
  }
  if (name.front() == '#') return "the name begins with '#', which starts a comment line";
  return {};
}

}  // namespace difftriage::stream
