/// Private to the io module: libtiff over memory, with per-handle error capture.
///
/// libtiff's global error and warning handlers are process-wide; instead every handle is opened
/// with TIFFClientOpenExt and a TIFFOpenOptions carrying our own handlers (libtiff >= 4.5), so
/// concurrent decodes each collect their own messages and nothing is printed.
#pragma once

#include <tiffio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace difftriage::io::detail {

/// Messages libtiff reported on one handle (warnings are dropped).
struct TiffErrors {
  std::string text;  ///< "module: message; module: message", capped in length
  bool any() const noexcept { return !text.empty(); }
};

/// Read-only bytes seen by libtiff as a file (memory-mapped view included).
struct TiffSource {
  const uint8_t* bytes;
  uint64_t n_bytes;
  uint64_t position;
};

/// Growable bytes libtiff writes a file into.
struct TiffSink {
  std::vector<uint8_t> bytes;
  uint64_t position = 0;
};

struct TiffCloser {
  void operator()(TIFF* tif) const noexcept { TIFFClose(tif); }
};
using TiffHandle = std::unique_ptr<TIFF, TiffCloser>;

/// Opens `source` for reading. Returns null on failure (the reason is in `errors`). `errors` must
/// outlive the handle.
TiffHandle open_tiff_reader(TiffSource* source, const std::string& name, TiffErrors* errors);
/// Opens `sink` for writing a classic (32-bit offset) TIFF. Returns null on failure.
TiffHandle open_tiff_writer(TiffSink* sink, const std::string& name, TiffErrors* errors);

}  // namespace difftriage::io::detail
