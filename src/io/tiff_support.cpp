#include "tiff_support.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <limits>

namespace difftriage::io::detail {
namespace {

// Caps what one handle may allocate in a single request (strip buffers, tag arrays): a corrupt
// count must fail cleanly instead of reserving gigabytes. Large enough for the largest frame we
// accept as a single uncompressed strip (kMaxImagePixels float32 = 1 GiB).
constexpr tmsize_t kMaxTiffAllocation = tmsize_t{1} << 30;
// Keeps the collected messages short; the first ones are the informative ones.
constexpr size_t kMaxErrorText = 600;

int capture_error(TIFF* /*tif*/, void* user_data, const char* module, const char* format,
                  va_list args) {
  char message[512];
  std::vsnprintf(message, sizeof message, format, args);
  auto* errors = static_cast<TiffErrors*>(user_data);
  try {
    std::string entry;
    if (module != nullptr && *module != '\0') entry.append(module).append(": ");
    entry += message;
    // libtiff often repeats itself (once per computed size): keep each message once.
    if (errors->text.size() < kMaxErrorText && errors->text.find(entry) == std::string::npos) {
      if (!errors->text.empty()) errors->text += "; ";
      errors->text += entry;
    }
  } catch (...) {
    // Out of memory while recording an error: keep what we have.
  }
  return 1;  // handled: libtiff does not call its global handler
}

int drop_warning(TIFF* /*tif*/, void* /*user_data*/, const char* /*module*/, const char* /*format*/,
                 va_list /*args*/) {
  return 1;
}

// libtiff passes negative SEEK_CUR / SEEK_END offsets as two's complement in an unsigned toff_t.
toff_t seek_to(uint64_t* position, uint64_t size, toff_t offset, int whence) {
  if (whence == SEEK_SET) {
    *position = offset;
    return *position;
  }
  if (whence != SEEK_CUR && whence != SEEK_END) return static_cast<toff_t>(-1);
  const uint64_t base = whence == SEEK_CUR ? *position : size;
  const auto delta = static_cast<int64_t>(offset);
  if (delta < 0 && static_cast<uint64_t>(-(delta + 1)) + 1 > base) return static_cast<toff_t>(-1);
  *position = base + offset;  // unsigned wrap-around adds a negative delta
  return *position;
}

// ---- reading from memory ---------------------------------------------------------------------
tmsize_t source_read(thandle_t handle, void* out, tmsize_t n) {
  auto* source = static_cast<TiffSource*>(handle);
  if (n <= 0 || source->position >= source->n_bytes) return 0;
  const uint64_t available = source->n_bytes - source->position;
  const uint64_t count =
      static_cast<uint64_t>(n) < available ? static_cast<uint64_t>(n) : available;
  std::memcpy(out, source->bytes + source->position, static_cast<size_t>(count));
  source->position += count;
  return static_cast<tmsize_t>(count);
}
tmsize_t source_write(thandle_t /*handle*/, void* /*data*/, tmsize_t /*n*/) { return -1; }
toff_t source_seek(thandle_t handle, toff_t offset, int whence) {
  auto* source = static_cast<TiffSource*>(handle);
  return seek_to(&source->position, source->n_bytes, offset, whence);
}
toff_t source_size(thandle_t handle) { return static_cast<TiffSource*>(handle)->n_bytes; }
// The bytes are already in memory: offering them as a "mapped file" saves libtiff a copy.
int source_map(thandle_t handle, void** base, toff_t* size) {
  auto* source = static_cast<TiffSource*>(handle);
  *base = const_cast<uint8_t*>(source->bytes);  // libtiff only reads a map opened read-only
  *size = source->n_bytes;
  return 1;
}

// ---- writing to memory -----------------------------------------------------------------------
tmsize_t sink_read(thandle_t handle, void* out, tmsize_t n) {
  auto* sink = static_cast<TiffSink*>(handle);
  const uint64_t size = sink->bytes.size();
  if (n <= 0 || sink->position >= size) return 0;
  const uint64_t count = std::min<uint64_t>(static_cast<uint64_t>(n), size - sink->position);
  std::memcpy(out, sink->bytes.data() + sink->position, static_cast<size_t>(count));
  sink->position += count;
  return static_cast<tmsize_t>(count);
}
tmsize_t sink_write(thandle_t handle, void* data, tmsize_t n) {
  auto* sink = static_cast<TiffSink*>(handle);
  if (n < 0) return -1;
  try {
    const uint64_t end = sink->position + static_cast<uint64_t>(n);
    if (end > sink->bytes.size()) sink->bytes.resize(static_cast<size_t>(end));
    std::memcpy(sink->bytes.data() + sink->position, data, static_cast<size_t>(n));
    sink->position = end;
    return n;
  } catch (...) {
    return -1;  // out of memory: libtiff reports a write error
  }
}
toff_t sink_seek(thandle_t handle, toff_t offset, int whence) {
  auto* sink = static_cast<TiffSink*>(handle);
  return seek_to(&sink->position, sink->bytes.size(), offset, whence);
}
toff_t sink_size(thandle_t handle) { return static_cast<TiffSink*>(handle)->bytes.size(); }
int no_map(thandle_t /*handle*/, void** /*base*/, toff_t* /*size*/) { return 0; }

int close_nothing(thandle_t /*handle*/) { return 0; }
void unmap_nothing(thandle_t /*handle*/, void* /*base*/, toff_t /*size*/) {}

struct OptionsDeleter {
  void operator()(TIFFOpenOptions* options) const noexcept { TIFFOpenOptionsFree(options); }
};
using TiffOptions = std::unique_ptr<TIFFOpenOptions, OptionsDeleter>;

TiffOptions make_options(TiffErrors* errors) {
  TiffOptions options(TIFFOpenOptionsAlloc());
  if (options == nullptr) return options;
  TIFFOpenOptionsSetErrorHandlerExtR(options.get(), capture_error, errors);
  TIFFOpenOptionsSetWarningHandlerExtR(options.get(), drop_warning, nullptr);
  TIFFOpenOptionsSetMaxSingleMemAlloc(options.get(), kMaxTiffAllocation);
  return options;
}

}  // namespace

TiffHandle open_tiff_reader(TiffSource* source, const std::string& name, TiffErrors* errors) {
  TiffOptions options = make_options(errors);
  if (options == nullptr) {
    errors->text = "out of memory";
    return nullptr;
  }
  // The options are copied into the handle, so they may go once it is open.
  return TiffHandle(TIFFClientOpenExt(name.c_str(), "r", source, source_read, source_write,
                                      source_seek, close_nothing, source_size, source_map,
                                      unmap_nothing, options.get()));
}

TiffHandle open_tiff_writer(TiffSink* sink, const std::string& name, TiffErrors* errors) {
  TiffOptions options = make_options(errors);
  if (options == nullptr) {
    errors->text = "out of memory";
    return nullptr;
  }
  return TiffHandle(TIFFClientOpenExt(name.c_str(), "w", sink, sink_read, sink_write, sink_seek,
                                      close_nothing, sink_size, no_map, unmap_nothing,
                                      options.get()));
}

}  // namespace difftriage::io::detail
