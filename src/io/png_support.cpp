#include "png_support.h"

#include <cstdio>
#include <cstring>

namespace difftriage::io::detail {

void png_record_error(png_structp png, png_const_charp message) {
  auto* context = static_cast<PngErrorContext*>(png_get_error_ptr(png));
  if (context != nullptr) {
    std::snprintf(context->message, sizeof context->message, "%s",
                  message != nullptr ? message : "unknown libpng error");
  }
  png_longjmp(png, 1);
}

void png_ignore_warning(png_structp /*png*/, png_const_charp /*message*/) {}

bool host_is_little_endian() noexcept {
  const uint16_t one = 1;
  uint8_t first = 0;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

}  // namespace difftriage::io::detail
