#include "format_registry.h"

namespace difftriage::io::detail {
namespace {

// The reader table. A new format is one line here (plus its ImageFormat enumerator); the most
// specific probe wins, so the order only breaks ties.
constexpr FormatReader kReaders[] = {
    {ImageFormat::kPng, "png", probe_png, decode_png, nullptr, nullptr, nullptr},
    {ImageFormat::kTiff, "tiff", probe_tiff, decode_tiff, nullptr, count_tiff, nullptr},
    {ImageFormat::kPgm, "pgm", probe_pgm, decode_pgm, nullptr, nullptr, nullptr},
    {ImageFormat::kSmv, "smv", probe_smv, decode_smv, nullptr, nullptr, nullptr},
    {ImageFormat::kCbf, "cbf", probe_cbf, decode_cbf, nullptr, nullptr, nullptr},
    {ImageFormat::kHdf5, "hdf5", probe_hdf5, decode_hdf5, read_hdf5, count_hdf5, count_hdf5_path},
    {ImageFormat::kCbor, "cbor", probe_cbor, decode_cbor, nullptr, count_cbor, nullptr},
};

}  // namespace

const FormatReader* find_reader(const uint8_t* head, size_t n_bytes) noexcept {
  if (head == nullptr || n_bytes == 0) return nullptr;
  if (n_bytes > kProbeBytes) n_bytes = kProbeBytes;
  const FormatReader* best = nullptr;
  int best_score = kProbeNo;
  for (const FormatReader& reader : kReaders) {
    const int score = reader.probe(head, n_bytes);
    if (score > best_score) {
      best = &reader;
      best_score = score;
    }
  }
  return best;
}

const FormatReader* reader_for(ImageFormat format) noexcept {
  for (const FormatReader& reader : kReaders) {
    if (reader.format == format) return &reader;
  }
  return nullptr;
}

std::string known_format_names() {
  std::string names;
  for (const FormatReader& reader : kReaders) {
    if (!names.empty()) names += ", ";
    names += reader.name;
  }
  return names;
}

void check_single_frame(const std::string& name, const ReadOptions& options) {
  if (options.frame != 0) {
    throw_format_error(name, "frame ", options.frame, " out of range, file has 1 frame");
  }
}

void check_extents(const std::string& name, const char* what, int64_t n_slow, int64_t n_fast) {
  if (n_slow <= 0 || n_fast <= 0) {
    throw_format_error(name, what, " header gives an empty image (", n_fast, " x ", n_slow,
                       " pixels, fast x slow)");
  }
  if (n_slow > kMaxImageExtent || n_fast > kMaxImageExtent || n_slow * n_fast > kMaxImagePixels) {
    throw_format_error(name, what, " header gives an image of ", n_fast, " x ", n_slow,
                       " pixels (fast x slow), beyond the limit of ", kMaxImageExtent,
                       " per axis and ", kMaxImagePixels, " in all");
  }
}

void check_writable(const std::string& path, int64_t n_slow, int64_t n_fast) {
  DT_CHECK(n_slow > 0 && n_fast > 0, ConfigError, "cannot write ", path, ": the image is empty (",
           n_fast, " x ", n_slow, " pixels, fast x slow)");
}

}  // namespace difftriage::io::detail
