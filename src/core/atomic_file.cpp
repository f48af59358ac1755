#include "difftriage/core/atomic_file.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

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

bool is_atomic_temporary_name(const std::string& name) {
  // ".NAME.tmp-PID-N" (temporary_beside).
  if (name.size() < 2 || name[0] != '.') return false;
  const auto pos = name.rfind(".tmp-");
  if (pos == std::string::npos || pos == 0) return false;
  const std::string tail = name.substr(pos + 5);
  const auto dash = tail.find('-');
  if (dash == std::string::npos || dash == 0 || dash + 1 == tail.size()) return false;
  return tail.find_first_not_of("0123456789-") == std::string::npos &&
         tail.find('-', dash + 1) == std::string::npos;
}

int64_t remove_stale_temporaries(const fs::path& folder) {
  int64_t n = 0;
  std::error_code ec;
  std::vector<fs::path> stale;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    if (is_atomic_temporary_name(it->path().filename().string())) stale.push_back(it->path());
  }
  DT_CHECK(!ec, IoError, "cannot list ", folder.string(), ": ", ec.message());
  for (const auto& f : stale) {
    fs::remove(f, ec);
    DT_CHECK(!ec, IoError, "cannot remove the stale temporary ", f.string(), ": ", ec.message());
    ++n;
  }
  return n;
}

FolderLock::FolderLock(const fs::path& folder) {
  fd_ = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DT_CHECK(fd_ >= 0, IoError, "cannot open folder ", folder.string(), ": ", std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    DT_CHECK(err != EWOULDBLOCK, IoError, folder.string(),
             ": the folder is in use by another run (locked); wait for it or choose another "
             "folder");
    throw IoError(detail::concat("cannot lock ", folder.string(), ": ", std::strerror(err)));
  }
}

FolderLock::~FolderLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

FolderLock::FolderLock(FolderLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

namespace {
constexpr const char* kPublishFile = "publish.json";

// Creates `folder` (and parents) and locks it.
FolderLock create_and_lock(const fs::path& folder) {
  std::error_code ec;
  fs::create_directories(folder, ec);
  DT_CHECK(!ec && fs::is_directory(folder), IoError, "cannot create output folder ",
           folder.string(), ec ? ": " + ec.message() : std::string());
  return FolderLock(folder);
}
}  // namespace

StagedOutputs::StagedOutputs(fs::path folder, StagedOutputsOptions options)
    : folder_(std::move(folder)),
      partial_(folder_ / ".partial"),
      options_(std::move(options)),
      lock_(create_and_lock(folder_)) {
  std::error_code ec;
  remove_stale_temporaries(folder_);
  if (fs::is_directory(partial_, ec)) {
    remove_stale_temporaries(partial_);
    // A run killed during publish(): its files are complete; finish moving them.
    if (fs::exists(partial_ / kPublishFile, ec)) {
      const auto plan = nlohmann::json::parse(read_file(partial_ / kPublishFile));
      finish_publish(plan.at("files").get<std::vector<std::string>>(),
                     plan.at("last").get<std::string>());
    }
  }
  if (options_.resume && fs::is_directory(partial_, ec)) {
    resumed_ = true;
    return;
  }
  fs::remove_all(partial_, ec);
  DT_CHECK(!ec, IoError, "cannot remove ", partial_.string(), ": ", ec.message());
  fs::create_directory(partial_, ec);
  DT_CHECK(!ec, IoError, "cannot create ", partial_.string(), ": ", ec.message());
}

void StagedOutputs::step(const std::string& name) const {
  if (options_.before_step) options_.before_step(name);
}

void StagedOutputs::publish(const std::vector<std::string>& files, const std::string& last) {
  DT_CHECK(std::find(files.begin(), files.end(), last) != files.end(), ConfigError,
           "publish: the completion marker ", last, " is not among the files");
  for (const auto& f : files) {
    std::error_code ec;
    DT_CHECK(fs::is_regular_file(partial_ / f, ec), ConfigError, "publish: ",
             (partial_ / f).string(), " was not written");
  }
  check_targets(files);
  step("write publish.json");
  write_file_atomically(partial_ / kPublishFile,
                        nlohmann::json{{"files", files}, {"last", last}}.dump() + "\n");
  finish_publish(files, last);
}

void StagedOutputs::check_targets(const std::vector<std::string>& files) const {
  for (const auto& f : files) {
    std::error_code ec;
    const auto status = fs::symlink_status(folder_ / f, ec);
    DT_CHECK(!fs::exists(status) || fs::is_regular_file(status) || fs::is_symlink(status),
             IoError, "cannot write ", (folder_ / f).string(),
             ": a folder or special file is in the way");
  }
}

void StagedOutputs::finish_publish(const std::vector<std::string>& files,
                                   const std::string& last) {
  std::error_code ec;
  // The old marker goes first: from here until the new one is in place FOLDER claims no
  // complete set, so a mix of old and new files is never taken for one.
  if (fs::exists(partial_ / last, ec)) {
    step("remove " + last);
    fs::remove(folder_ / last, ec);
    DT_CHECK(!ec, IoError, "cannot remove ", (folder_ / last).string(), ": ", ec.message());
  }
  const auto move = [&](const std::string& name) {
    if (!fs::exists(partial_ / name, ec)) return;  // moved before an interruption
    step("rename " + name);
    fs::rename(partial_ / name, folder_ / name, ec);
    DT_CHECK(!ec, IoError, "cannot move ", (partial_ / name).string(), " to ",
             (folder_ / name).string(), ": ", ec.message());
  };
  for (const auto& f : files) {
    if (f != last) move(f);
  }
  move(last);
  step("remove .partial");
  fs::remove_all(partial_, ec);
  DT_CHECK(!ec, IoError, "cannot remove ", partial_.string(), ": ", ec.message());
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
