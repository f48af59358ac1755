#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "compressed.h"
#include "difftriage/core/atomic_file.h"
#include "format_registry.h"

namespace difftriage::io {
namespace {

// "89 50 4e 47 'PNG'": the first bytes in hex and as text, so a "not recognised" message shows
// what the file actually starts with.
std::string describe_head(const uint8_t* bytes, size_t n_bytes) {
  const size_t n = n_bytes < 8 ? n_bytes : 8;
  std::string hex, text;
  for (size_t i = 0; i < n; ++i) {
    char buf[4];
    std::snprintf(buf, sizeof buf, "%02x", static_cast<unsigned>(bytes[i]));
    if (!hex.empty()) hex += ' ';
    hex += buf;
    text += std::isprint(bytes[i]) ? static_cast<char>(bytes[i]) : '.';
  }
  return hex + " '" + text + "'";
}

// A whole regular file in one read into an uninitialised buffer (core's read_file streams through
// an ostringstream: about twice the time for a 256 KiB frame). Anything without a size (a pipe,
// a device) goes through read_file.
struct FileBytes {
  std::unique_ptr<uint8_t[]> owned;
  std::string streamed;
  const uint8_t* data = nullptr;
  size_t size = 0;
};

// A pipe or device (see read_whole_file), read up to `max_bytes`.
std::string read_stream(const std::filesystem::path& path, uint64_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw IoError(
        ::difftriage::detail::concat("cannot open ", path.string(), ": ", std::strerror(errno)));
  }
  std::string data;
  std::vector<char> block(size_t{1} << 16);
  bool probed = false;
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    data.append(block.data(), static_cast<size_t>(in.gcount()));
    if (!probed && (data.size() >= kProbeBytes || !in)) {
      probed = true;
      const auto* head = reinterpret_cast<const uint8_t*>(data.data());
      const size_t n_head = std::min(data.size(), kProbeBytes);
      if (n_head > 0 && detail::find_reader(head, n_head) == nullptr &&
          detail::detect_wrapper(head, n_head) == detail::Wrapper::kNone) {
        detail::throw_format_error(path.string(),
                                   "format not recognised (it is not a regular "
                                   "file, and it starts with ",
                                   describe_head(head, n_head),
                                   "); known formats: ", detail::known_format_names());
      }
    }
    if (data.size() > max_bytes) {
      detail::throw_format_error(path.string(), "not a regular file, and longer than ", max_bytes,
                                 " bytes (ReadOptions::max_decompressed_bytes)");
    }
  }
  if (in.bad()) throw IoError(::difftriage::detail::concat("cannot read ", path.string()));
  return data;
}

// Reads a whole regular file; when `path_reader` is given, the first kProbeBytes are probed
// first and, if they belong to a reader that reads by path (HDF5), that reader is returned in
// *path_reader and nothing more is read. A pipe or device is read by read_stream, at most
// `max_stream_bytes`.
FileBytes read_whole_file(const std::filesystem::path& path, uint64_t max_stream_bytes,
                          const detail::FormatReader** path_reader = nullptr) {
  FileBytes bytes;
  std::error_code ec;
  const bool regular = std::filesystem::is_regular_file(path, ec);
  const std::uintmax_t n_bytes = regular ? std::filesystem::file_size(path, ec) : 0;
  if (regular && !ec) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      throw IoError(
          ::difftriage::detail::concat("cannot open ", path.string(), ": ", std::strerror(errno)));
    }
    std::uintmax_t n_read = 0;
    uint8_t head[kProbeBytes];
    if (path_reader != nullptr) {
      // Probe before allocating: an HDF5 data file may be gigabytes, of which one frame is read.
      const std::uintmax_t n_head = std::min<std::uintmax_t>(n_bytes, kProbeBytes);
      in.read(reinterpret_cast<char*>(head), static_cast<std::streamsize>(n_head));
      n_read = static_cast<std::uintmax_t>(in.gcount());
      const detail::FormatReader* reader = detail::find_reader(head, static_cast<size_t>(n_read));
      if (reader != nullptr && reader->read_path != nullptr) {
        *path_reader = reader;
        return bytes;
      }
    }
    bytes.owned.reset(new uint8_t[n_bytes > 0 ? n_bytes : 1]);
    std::memcpy(bytes.owned.get(), head, static_cast<size_t>(n_read));
    char* dst = reinterpret_cast<char*>(bytes.owned.get());
    in.read(dst + n_read, static_cast<std::streamsize>(n_bytes - n_read));
    n_read += static_cast<std::uintmax_t>(in.gcount());
    if (n_read != n_bytes) {
      throw IoError(::difftriage::detail::concat("cannot read ", path.string(), ": read ",
                                                 n_read, " of ", n_bytes, " bytes"));
    }
    bytes.data = bytes.owned.get();
    bytes.size = static_cast<size_t>(n_bytes);
    return bytes;
  }
  // Not a regular file: missing, a folder, or a pipe or device without a size. A pipe or device
  // is read in blocks, but only while what it holds can be a frame: the first kProbeBytes must
  // probe as a format or a gzip/bzip2 wrapper (else /dev/zero or /dev/urandom would be read until
  // memory runs out), and the whole must stay within max_stream_bytes.
  std::error_code dir_ec;
  if (!std::filesystem::exists(path, ec) || std::filesystem::is_directory(path, dir_ec)) {
    bytes.streamed = read_file(path);  // IoError naming the file (missing, a directory, ...)
  } else {
    bytes.streamed = read_stream(path, max_stream_bytes);
  }
  bytes.data = reinterpret_cast<const uint8_t*>(bytes.streamed.data());
  bytes.size = bytes.streamed.size();
  return bytes;
}

}  // namespace

namespace {

// The reader for a whole file in memory, seeing through one level of gzip/bzip2. `data`/`size`
// are what the reader gets: the input itself, or `inner` (the decompressed bytes).
struct ResolvedBytes {
  const detail::FormatReader* reader = nullptr;
  std::vector<uint8_t> inner;
  const uint8_t* data = nullptr;
  size_t size = 0;
};

ResolvedBytes resolve_reader(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                             const ReadOptions& options) {
  if (bytes == nullptr || n_bytes == 0) {
    detail::throw_format_error(name,
                               "file is empty; known formats: ", detail::known_format_names());
  }
  ResolvedBytes resolved;
  const detail::Wrapper wrapper = detail::detect_wrapper(bytes, n_bytes);
  if (wrapper != detail::Wrapper::kNone) {
    // One level of gzip/bzip2 around a frame file: unwrap in memory (capped) and decode the
    // inner bytes by content. A second level is refused: no detector writes one, and allowing
    // it would multiply what a small bomb can expand to.
    resolved.inner =
        detail::decompress(wrapper, bytes, n_bytes, name, options.max_decompressed_bytes);
    const std::vector<uint8_t>& inner = resolved.inner;
    if (inner.empty()) {
      detail::throw_format_error(name, detail::wrapper_name(wrapper), " data decompresses to 0 bytes");
    }
    if (detail::detect_wrapper(inner.data(), inner.size()) != detail::Wrapper::kNone) {
      detail::throw_format_error(name, detail::wrapper_name(wrapper), " data holds another ",
                                 detail::wrapper_name(detail::detect_wrapper(inner.data(), inner.size())),
                                 " file; only one level of compression is read");
    }
    resolved.reader = detail::find_reader(inner.data(), inner.size());
    if (resolved.reader == nullptr) {
      detail::throw_format_error(name, "format of the ", detail::wrapper_name(wrapper),
                                 "-compressed content not recognised (it starts with ",
                                 describe_head(inner.data(), inner.size()),
                                 "); known formats: ", detail::known_format_names());
    }
    resolved.data = inner.data();
    resolved.size = inner.size();
    return resolved;
  }
  resolved.reader = detail::find_reader(bytes, n_bytes);
  if (resolved.reader == nullptr) {
    detail::throw_format_error(name, "format not recognised (file starts with ",
                               describe_head(bytes, n_bytes),
                               "); known formats: ", detail::known_format_names());
  }
  resolved.data = bytes;
  resolved.size = n_bytes;
  return resolved;
}

}  // namespace

AnyImage decode_image(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                      const ReadOptions& options) {
  const ResolvedBytes resolved = resolve_reader(bytes, n_bytes, name, options);
  return resolved.reader->decode(resolved.data, resolved.size, name, options);
}

AnyImage read_image(const std::filesystem::path& path, const ReadOptions& options) {
  const detail::FormatReader* path_reader = nullptr;
  const FileBytes bytes = read_whole_file(path, options.max_decompressed_bytes, &path_reader);
  if (path_reader != nullptr) return path_reader->read_path(path, options);
  return decode_image(bytes.data, bytes.size, path.string(), options);
}

int64_t count_frames_in_memory(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                               const ReadOptions& options) {
  const ResolvedBytes resolved = resolve_reader(bytes, n_bytes, name, options);
  if (resolved.reader->count == nullptr) return 1;  // a single-frame format
  return resolved.reader->count(resolved.data, resolved.size, name, options);
}

void clear_file_cache() noexcept { detail::clear_hdf5_cache(); }

int64_t count_frames(const std::filesystem::path& path, const ReadOptions& options) {
  const detail::FormatReader* path_reader = nullptr;
  const FileBytes bytes = read_whole_file(path, options.max_decompressed_bytes, &path_reader);
  if (path_reader != nullptr && path_reader->count_path != nullptr) {
    return path_reader->count_path(path, options);
  }
  return count_frames_in_memory(bytes.data, bytes.size, path.string(), options);
}

}  // namespace difftriage::io
