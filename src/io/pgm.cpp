// Netpbm PGM (http://netpbm.sourceforge.net/doc/pgm.html): "P5" (binary) or "P2" (plain ASCII),
// then width, height and maxval as decimal numbers separated by whitespace, with '#' comments
// running to the end of a line anywhere before maxval. Binary samples are one byte when
// maxval < 256, else two bytes, most significant first. Samples are returned as raw counts (not
// rescaled to maxval): a detector frame's numbers are what matter.
#include <cstring>
#include <limits>
#include <string>

#include "difftriage/core/atomic_file.h"
#include "format_registry.h"

namespace difftriage::io {
namespace detail {
namespace {

using ::difftriage::detail::concat;

constexpr int64_t kMaxPgmMaxval = 65535;
// Numbers longer than this are clamped (then rejected as too large) instead of overflowing.
constexpr int64_t kNumberClamp = int64_t{1} << 40;

bool is_pgm_space(uint8_t c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
bool is_digit(uint8_t c) noexcept { return c >= '0' && c <= '9'; }

// Reads the whitespace-and-comment separated decimal numbers of a PGM header or plain raster.
class PgmScanner {
 public:
  PgmScanner(const uint8_t* bytes, size_t n_bytes, const std::string& name)
      : bytes_(bytes), n_bytes_(n_bytes), name_(name) {}

  size_t position() const noexcept { return pos_; }
  size_t remaining() const noexcept { return n_bytes_ - pos_; }
  void skip(size_t n) noexcept { pos_ += n; }

  // Skips whitespace and '#' comments (to the end of the line). Returns false at end of data.
  bool skip_space_and_comments() noexcept {
    while (pos_ < n_bytes_) {
      const uint8_t c = bytes_[pos_];
      if (is_pgm_space(c)) {
        ++pos_;
      } else if (c == '#') {
        while (pos_ < n_bytes_ && bytes_[pos_] != '\n' && bytes_[pos_] != '\r') ++pos_;
      } else {
        return true;
      }
    }
    return false;
  }

  // The next decimal number; `field` names it in errors ("width"; "sample" with its index).
  int64_t read_number(const char* field, int64_t index = -1) {
    const std::string label = index < 0 ? std::string(field) : concat(field, " ", index);
    if (!skip_space_and_comments()) {
      throw_format_error(name_, "truncated PGM: file ends before ", label);
    }
    if (!is_digit(bytes_[pos_])) {
      throw_format_error(name_, "PGM ", label, " is not a decimal number (found '",
                         printable(bytes_[pos_]), "' at byte ", pos_, ")");
    }
    int64_t value = 0;
    while (pos_ < n_bytes_ && is_digit(bytes_[pos_])) {
      value = value * 10 + (bytes_[pos_] - '0');
      if (value > kNumberClamp) value = kNumberClamp;
      ++pos_;
    }
    return value;
  }

 private:
  static char printable(uint8_t c) noexcept {
    return (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }

  const uint8_t* bytes_;
  size_t n_bytes_;
  const std::string& name_;
  size_t pos_ = 0;
};

struct PgmHeader {
  bool binary = true;
  int64_t n_fast = 0;
  int64_t n_slow = 0;
  int64_t maxval = 0;
};

PgmHeader read_pgm_header(PgmScanner& scanner, const uint8_t* bytes, size_t n_bytes,
                          const std::string& name) {
  if (n_bytes < 2 || bytes[0] != 'P' || (bytes[1] != '5' && bytes[1] != '2')) {
    throw_format_error(name, "not a PGM file (magic must be P5 or P2)");
  }
  PgmHeader header;
  header.binary = bytes[1] == '5';
  scanner.skip(2);
  header.n_fast = scanner.read_number("width");
  header.n_slow = scanner.read_number("height");
  header.maxval = scanner.read_number("maxval");
  if (header.maxval < 1 || header.maxval > kMaxPgmMaxval) {
    throw_format_error(name, "PGM maxval ", header.maxval, " is out of range 1..", kMaxPgmMaxval);
  }
  check_extents(name, "PGM", header.n_slow, header.n_fast);
  // Exactly one whitespace character separates maxval from the raster.
  if (scanner.remaining() == 0) {
    throw_format_error(name, "truncated PGM: file ends after the header, no pixel data");
  }
  if (!is_pgm_space(bytes[scanner.position()])) {
    throw_format_error(name, "PGM maxval is not followed by whitespace (byte ", scanner.position(),
                       ")");
  }
  scanner.skip(1);
  return header;
}

template <typename T>
void check_samples(const Image<T>& image, int64_t maxval, const std::string& name) {
  if (maxval == static_cast<int64_t>(std::numeric_limits<T>::max())) return;
  const T* pixels = image.data();
  for (int64_t i = 0; i < image.size(); ++i) {
    if (pixels[i] > maxval) {
      throw_format_error(name, "PGM sample ", i, " (slow ", i / image.n_fast(), ", fast ",
                         i % image.n_fast(), ") is ", +pixels[i], ", above maxval ", maxval);
    }
  }
}

template <typename T>
Image<T> read_binary_raster(const PgmHeader& header, const uint8_t* data, size_t n_available,
                            const std::string& name) {
  const uint64_t n_needed = static_cast<uint64_t>(header.n_slow * header.n_fast) * sizeof(T);
  if (n_available < n_needed) {
    throw_format_error(name, "truncated PGM pixel data: the header gives ", header.n_fast, " x ",
                       header.n_slow, " pixels of ", sizeof(T), " byte(s), which needs ", n_needed,
                       " bytes, but only ", n_available, " follow the header");
  }
  Image<T> image(header.n_slow, header.n_fast);
  T* pixels = image.data();
  if constexpr (sizeof(T) == 1) {
    std::memcpy(pixels, data, static_cast<size_t>(n_needed));
  } else {
    for (int64_t i = 0; i < image.size(); ++i) {
      pixels[i] = static_cast<T>((data[2 * i] << 8) | data[2 * i + 1]);  // big-endian
    }
  }
  check_samples(image, header.maxval, name);
  return image;
}

template <typename T>
Image<T> read_plain_raster(const PgmHeader& header, PgmScanner& scanner, const std::string& name) {
  const int64_t n_pixels = header.n_slow * header.n_fast;
  // Each sample takes at least one digit and one separator: check before allocating.
  if (static_cast<uint64_t>(scanner.remaining()) + 1 < 2 * static_cast<uint64_t>(n_pixels)) {
    throw_format_error(name, "truncated plain PGM: the header gives ", n_pixels,
                       " samples but only ", scanner.remaining(), " bytes follow the header");
  }
  Image<T> image(header.n_slow, header.n_fast);
  T* pixels = image.data();
  for (int64_t i = 0; i < n_pixels; ++i) {
    const int64_t value = scanner.read_number("sample", i);
    if (value > header.maxval) {
      throw_format_error(name, "PGM sample ", i, " is ", value, ", above maxval ", header.maxval);
    }
    pixels[i] = static_cast<T>(value);
  }
  return image;
}

template <typename T>
std::string format_binary_raster(const ImageView<T>& image) {
  constexpr int kMaxval = std::numeric_limits<T>::max();
  std::string out = concat("P5\n", image.n_fast(), " ", image.n_slow(), "\n", kMaxval, "\n");
  const size_t header_size = out.size();
  out.resize(header_size + static_cast<size_t>(image.size()) * sizeof(T));
  char* dst = out.data() + header_size;
  const T* src = image.data();
  if constexpr (sizeof(T) == 1) {
    std::memcpy(dst, src, static_cast<size_t>(image.size()));
  } else {
    for (int64_t i = 0; i < image.size(); ++i) {
      dst[2 * i] = static_cast<char>(src[i] >> 8);  // big-endian, as netpbm requires
      dst[2 * i + 1] = static_cast<char>(src[i] & 0xff);
    }
  }
  return out;
}

// Plain PGM: netpbm asks for lines of at most 70 characters.
template <typename T>
std::string format_plain_raster(const ImageView<T>& image) {
  constexpr int kMaxval = std::numeric_limits<T>::max();
  constexpr size_t kMaxLine = 70;
  std::string out = concat("P2\n", image.n_fast(), " ", image.n_slow(), "\n", kMaxval, "\n");
  out.reserve(out.size() + static_cast<size_t>(image.size()) * 4);
  for (int64_t slow = 0; slow < image.n_slow(); ++slow) {
    size_t line = 0;
    for (int64_t fast = 0; fast < image.n_fast(); ++fast) {
      const std::string value = std::to_string(image(slow, fast));
      if (line > 0 && line + 1 + value.size() > kMaxLine) {
        out += '\n';
        line = 0;
      } else if (line > 0) {
        out += ' ';
        ++line;
      }
      out += value;
      line += value.size();
    }
    out += '\n';
  }
  return out;
}

template <typename T>
void write_pgm_file(const std::filesystem::path& path, const ImageView<T>& image,
                    const PgmWriteOptions& options) {
  check_writable(path.string(), image.n_slow(), image.n_fast());
  const std::string bytes =
      options.binary ? format_binary_raster(image) : format_plain_raster(image);
  write_file_atomically(path, bytes);
}

}  // namespace

int probe_pgm(const uint8_t* head, size_t n_bytes) noexcept {
  if (n_bytes < 3 || head[0] != 'P' || (head[1] != '5' && head[1] != '2')) return kProbeNo;
  return (is_pgm_space(head[2]) || head[2] == '#') ? kProbeWeak : kProbeNo;
}

AnyImage decode_pgm(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                    const ReadOptions& options) {
  check_single_frame(name, options);
  PgmScanner scanner(bytes, n_bytes, name);
  const PgmHeader header = read_pgm_header(scanner, bytes, n_bytes, name);
  const bool wide = header.maxval > 255;
  if (header.binary) {
    const uint8_t* data = bytes + scanner.position();
    if (wide) return read_binary_raster<uint16_t>(header, data, scanner.remaining(), name);
    return read_binary_raster<uint8_t>(header, data, scanner.remaining(), name);
  }
  if (wide) return read_plain_raster<uint16_t>(header, scanner, name);
  return read_plain_raster<uint8_t>(header, scanner, name);
}

}  // namespace detail

void write_pgm(const std::filesystem::path& path, const ImageView<uint8_t>& image,
               const PgmWriteOptions& options) {
  detail::write_pgm_file(path, image, options);
}

void write_pgm(const std::filesystem::path& path, const ImageView<uint16_t>& image,
               const PgmWriteOptions& options) {
  detail::write_pgm_file(path, image, options);
}

}  // namespace difftriage::io
