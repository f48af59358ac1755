#include "difftriage/core/atomic_file.h"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>

#include <unistd.h>

#include "difftriage/core/error.h"

namespace difftriage {
namespace fs = std::filesystem;

namespace {
fs::path temporary_beside(const fs::path& target) {
  static std::atomic<unsigned> counter{0};
  std::ostringstream name;
  name << "." << target.filename().string() << ".tmp-" << ::getpid() << "-" << counter++;
  return target.parent_path() / name.str();
}
}  // namespace

void write_atomically(const fs::path& target, const std::function<void(const fs::path&)>& write) {
  const fs::path tmp = temporary_beside(target);
  try {
    write(tmp);
  } catch (...) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw;
  }
  std::error_code ec;
  fs::rename(tmp, target, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw IoError(detail::concat("cannot write ", target.string(), ": ", ec.message()));
  }
}

void write_file_atomically(const fs::path& target, std::string_view bytes) {
  write_atomically(target, [&](const fs::path& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) {
      throw IoError(detail::concat("cannot create ", target.string(), ": ", std::strerror(errno)));
    }
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) throw IoError(detail::concat("cannot write ", target.string(), ": write failed"));
  });
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw IoError(detail::concat("cannot open ", path.string(), ": ", std::strerror(errno)));
  }
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw IoError(detail::concat("cannot read ", path.string(), ": is a directory"));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw IoError(detail::concat("cannot read ", path.string()));
  return std::move(buffer).str();
}

}  // namespace difftriage
