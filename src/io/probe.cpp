#include <algorithm>

#include "compressed.h"
#include "format_registry.h"

namespace difftriage::io {

const char* format_name(ImageFormat format) noexcept {
  const detail::FormatReader* reader = detail::reader_for(format);
  return reader != nullptr ? reader->name : "unknown";
}

ImageFormat probe_format(const uint8_t* head, size_t n_bytes) noexcept {
  if (detail::detect_wrapper(head, n_bytes) == detail::Wrapper::kGzip) {
    // Probe what the gzip head inflates to (header text compresses well: 4 KiB of a .cbf.gz
    // give far more than the inner probe needs).
    uint8_t inner[kProbeBytes];
    const size_t n_inner = detail::inflate_head(head, std::min(n_bytes, kProbeBytes), inner,
                                                sizeof inner);
    const detail::FormatReader* reader = detail::find_reader(inner, n_inner);
    return reader != nullptr ? reader->format : ImageFormat::kUnknown;
  }
  const detail::FormatReader* reader = detail::find_reader(head, n_bytes);
  return reader != nullptr ? reader->format : ImageFormat::kUnknown;
}

}  // namespace difftriage::io
