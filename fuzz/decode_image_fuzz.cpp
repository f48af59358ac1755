// Fuzz target: io::decode_image on any bytes (every reader behind the content probe, gzip and
// bzip2 included), then count_frames_in_memory and the last frame when there are several.
// HDF5 inputs are left to hdf5_fuzz.cpp (libhdf5 parses those; see fuzz/README.md).
#include <exception>

#include "difftriage/core/error.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace difftriage;
  if (io::probe_format(data, size) == io::ImageFormat::kHdf5) return 0;
  try {
    const AnyImage image = io::decode_image(data, size, "fuzz", fuzz::fuzz_options(0));
    const int64_t n_frames = io::count_frames_in_memory(data, size, "fuzz", fuzz::fuzz_options(0));
    if (n_frames > 1 && n_frames <= fuzz::kMaxFramesPerInput) {
      io::decode_image(data, size, "fuzz", fuzz::fuzz_options(n_frames - 1));
    }
  } catch (const Error&) {
    // A rejected input: what we want for garbage.
  }
  return 0;
}
