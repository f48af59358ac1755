#include "frame_address.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "difftriage/core/error.h"
#include "difftriage/io/image_io.h"

namespace difftriage::cli {

std::string read_head(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot open " + path.string() + ": " + std::strerror(errno));
  std::string head(io::kProbeBytes, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  return head;
}

}  // namespace difftriage::cli
