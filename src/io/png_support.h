/// Private to the io module: what the PNG decoder and encoder share.
///
/// libpng reports errors by calling an error function that must not return; we longjmp back to
/// a `setjmp` in a small function whose locals are all trivially destructible, so no C++
/// destructor is ever skipped. The message is kept in a fixed buffer (no allocation on the error
/// path) and turned into an exception after the jump, outside libpng.
#pragma once

#include <png.h>

#include <cstddef>
#include <cstdint>

namespace difftriage::io::detail {

/// Error context handed to libpng as its error pointer.
struct PngErrorContext {
  char message[256] = "unknown libpng error";
};

/// libpng error callback: records the message and longjmps to png_jmpbuf.
[[noreturn]] void png_record_error(png_structp png, png_const_charp message);
/// libpng warning callback: the library never prints, warnings are dropped.
void png_ignore_warning(png_structp png, png_const_charp message);

/// True when this machine stores integers least significant byte first (PNG is big-endian).
bool host_is_little_endian() noexcept;

}  // namespace difftriage::io::detail
