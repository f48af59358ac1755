// gzip (RFC 1952, zlib) and bzip2 (libbz2) unwrapping in memory, with a hard cap on the output.
#include "compressed.h"

#include <bzlib.h>
#include <zlib.h>

#include <algorithm>
#include <limits>

#include "format_registry.h"

namespace difftriage::io::detail {
namespace {

// zlib and libbz2 count bytes in 32-bit unsigned ints: feed and drain in pieces below that.
constexpr size_t kMaxChunk = size_t{1} << 30;
// First guess for the output size: detector frames compress about 3-8x (CBF byte offset data
// about 2x more); the buffer doubles from there.
constexpr size_t kInitialRatio = 8;
constexpr size_t kMinInitialOutput = size_t{1} << 20;

// The output buffer: grows by doubling up to `max_bytes`, then reports a bomb.
class Output {
 public:
  Output(size_t n_input, uint64_t max_bytes, const std::string& name, const char* what)
      : max_bytes_(max_bytes), name_(name), what_(what) {
    const uint64_t guess = std::max<uint64_t>(kMinInitialOutput, uint64_t{n_input} * kInitialRatio);
    bytes_.resize(static_cast<size_t>(std::min<uint64_t>(guess, std::max<uint64_t>(max_bytes, 1))));
  }
  // Free room after `used`, growing first if there is none; throws beyond the cap.
  uint8_t* room(size_t used, size_t* n_room) {
    if (used == bytes_.size()) {
      if (bytes_.size() >= max_bytes_) {
        throw_format_error(name_, what_, " data decompresses to more than ", max_bytes_,
                           " bytes (the limit; a frame file never needs that much)");
      }
      const uint64_t grown = std::min<uint64_t>(uint64_t{bytes_.size()} * 2, max_bytes_);
      bytes_.resize(static_cast<size_t>(grown));
    }
    *n_room = std::min(bytes_.size() - used, kMaxChunk);
    return bytes_.data() + used;
  }
  std::vector<uint8_t> finish(size_t used) {
    bytes_.resize(used);
    bytes_.shrink_to_fit();
    return std::move(bytes_);
  }

 private:
  std::vector<uint8_t> bytes_;
  uint64_t max_bytes_;
  const std::string& name_;
  const char* what_;
};

struct ZStream {
  z_stream z{};
  bool open = false;
  ~ZStream() {
    if (open) inflateEnd(&z);
  }
};

struct BzStream {
  bz_stream s{};
  bool open = false;
  ~BzStream() {
    if (open) BZ2_bzDecompressEnd(&s);
  }
};

bool starts_gzip(const uint8_t* p, size_t n) { return n >= 3 && p[0] == 0x1f && p[1] == 0x8b; }
bool starts_bzip2(const uint8_t* p, size_t n) {
  return n >= 4 && p[0] == 'B' && p[1] == 'Z' && p[2] == 'h' && p[3] >= '1' && p[3] <= '9';
}

std::vector<uint8_t> gunzip(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                            uint64_t max_bytes) {
  ZStream stream;
  z_stream& z = stream.z;
  // 16 + MAX_WBITS: expect and check the gzip wrapper (header, CRC-32, length).
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
    throw_format_error(name, "cannot start zlib to read gzip data");
  }
  stream.open = true;
  Output output(n_bytes, max_bytes, name, "gzip");
  size_t in_pos = 0, used = 0;
  for (;;) {
    size_t n_room = 0;
    z.next_out = output.room(used, &n_room);
    z.avail_out = static_cast<uInt>(n_room);
    const size_t n_in = std::min(n_bytes - in_pos, kMaxChunk);
    z.next_in = const_cast<Bytef*>(bytes + in_pos);
    z.avail_in = static_cast<uInt>(n_in);
    const int rc = inflate(&z, Z_NO_FLUSH);
    const bool progressed = z.avail_in != n_in || z.avail_out != n_room;
    in_pos += n_in - z.avail_in;
    used += n_room - z.avail_out;
    if (rc == Z_STREAM_END) {
      // Another member follows (gzip files may be concatenated): read it too.
      if (starts_gzip(bytes + in_pos, n_bytes - in_pos) && inflateReset(&z) == Z_OK) continue;
      return output.finish(used);
    }
    if (rc == Z_BUF_ERROR && in_pos == n_bytes) {
      throw_format_error(name, "truncated gzip data: the stream ends after ", n_bytes,
                         " bytes, before its end marker");
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      throw_format_error(name, "corrupt gzip data at or before byte ", in_pos, ": ",
                         z.msg != nullptr ? z.msg : "zlib error");
    }
    if (!progressed && z.avail_out > 0) {  // zlib promises progress; never spin if it does not
      throw_format_error(name, "corrupt gzip data: decoding stalls at byte ", in_pos);
    }
  }
}

std::vector<uint8_t> bunzip2(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                             uint64_t max_bytes) {
  BzStream stream;
  bz_stream& s = stream.s;
  if (BZ2_bzDecompressInit(&s, 0, 0) != BZ_OK) {
    throw_format_error(name, "cannot start libbz2 to read bzip2 data");
  }
  stream.open = true;
  Output output(n_bytes, max_bytes, name, "bzip2");
  size_t in_pos = 0, used = 0;
  for (;;) {
    size_t n_room = 0;
    s.next_out = reinterpret_cast<char*>(output.room(used, &n_room));
    s.avail_out = static_cast<unsigned>(n_room);
    const size_t n_in = std::min(n_bytes - in_pos, kMaxChunk);
    s.next_in = const_cast<char*>(reinterpret_cast<const char*>(bytes + in_pos));
    s.avail_in = static_cast<unsigned>(n_in);
    const int rc = BZ2_bzDecompress(&s);
    const bool progressed = s.avail_in != n_in || s.avail_out != n_room;
    in_pos += n_in - s.avail_in;
    used += n_room - s.avail_out;
    if (rc == BZ_STREAM_END) {
      if (starts_bzip2(bytes + in_pos, n_bytes - in_pos)) {  // concatenated streams (pbzip2)
        BZ2_bzDecompressEnd(&s);
        stream.open = false;
        s = bz_stream{};
        if (BZ2_bzDecompressInit(&s, 0, 0) != BZ_OK) {
          throw_format_error(name, "cannot restart libbz2 to read bzip2 data");
        }
        stream.open = true;
        continue;
      }
      return output.finish(used);
    }
    if (rc != BZ_OK) {
      throw_format_error(name, "corrupt bzip2 data at or before byte ", in_pos, " (libbz2 error ",
                         rc, ")");
    }
    // BZ_OK with no input left and room to spare: the stream stops before its end marker.
    if (in_pos == n_bytes && s.avail_out > 0) {
      throw_format_error(name, "truncated bzip2 data: the stream ends after ", n_bytes,
                         " bytes, before its end marker");
    }
    if (!progressed && s.avail_out > 0) {
      throw_format_error(name, "corrupt bzip2 data: decoding stalls at byte ", in_pos);
    }
  }
}

}  // namespace

Wrapper detect_wrapper(const uint8_t* head, size_t n_bytes) noexcept {
  if (head == nullptr) return Wrapper::kNone;
  if (starts_gzip(head, n_bytes) && head[2] == 8) return Wrapper::kGzip;
  if (starts_bzip2(head, n_bytes)) return Wrapper::kBzip2;
  return Wrapper::kNone;
}

const char* wrapper_name(Wrapper wrapper) noexcept {
  switch (wrapper) {
    case Wrapper::kGzip:
      return "gzip";
    case Wrapper::kBzip2:
      return "bzip2";
    case Wrapper::kNone:
      break;
  }
  return "none";
}

std::vector<uint8_t> decompress(Wrapper wrapper, const uint8_t* bytes, size_t n_bytes,
                                const std::string& name, uint64_t max_bytes) {
  switch (wrapper) {
    case Wrapper::kGzip:
      return gunzip(bytes, n_bytes, name, max_bytes);
    case Wrapper::kBzip2:
      return bunzip2(bytes, n_bytes, name, max_bytes);
    case Wrapper::kNone:
      break;
  }
  return std::vector<uint8_t>(bytes, bytes + n_bytes);
}

size_t inflate_head(const uint8_t* head, size_t n_bytes, uint8_t* out, size_t max_out) noexcept {
  if (detect_wrapper(head, n_bytes) != Wrapper::kGzip || out == nullptr || max_out == 0) return 0;
  ZStream stream;
  z_stream& z = stream.z;
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return 0;
  stream.open = true;
  z.next_in = const_cast<Bytef*>(head);
  z.avail_in = static_cast<uInt>(std::min(n_bytes, kMaxChunk));
  z.next_out = out;
  z.avail_out = static_cast<uInt>(std::min(max_out, kMaxChunk));
  // Z_SYNC_FLUSH: hand out everything decodable so far; a cut-off head is expected.
  const int rc = inflate(&z, Z_SYNC_FLUSH);
  if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) return 0;
  return static_cast<size_t>(z.next_out - out);
}

}  // namespace difftriage::io::detail
