#include "format_registry.h"

namespace difftriage::io {

const char* format_name(ImageFormat format) noexcept {
  const detail::FormatReader* reader = detail::reader_for(format);
  return reader != nullptr ? reader->name : "unknown";
}

ImageFormat probe_format(const uint8_t* head, size_t n_bytes) noexcept {
  const detail::FormatReader* reader = detail::find_reader(head, n_bytes);
  return reader != nullptr ? reader->format : ImageFormat::kUnknown;
}

}  // namespace difftriage::io
