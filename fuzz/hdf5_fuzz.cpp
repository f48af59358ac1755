// Fuzz target: HDF5 files held in memory (libhdf5's core driver): the EIGER/NeXus and CXI
// layouts, metadata, masks and the in-process bitshuffle/LZ4 chunk decoding, every frame up to
// kMaxFramesPerInput, in this process (fuzz_options turns the child-process check off). libhdf5
// itself parses the file structure; crashes inside it are reported in fuzz/README.md.
#include "difftriage/core/error.h"
#include "format_registry.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace difftriage;
  if (size == 0) return 0;
  try {
    const int64_t n_frames = io::detail::count_hdf5(data, size, "fuzz", fuzz::fuzz_options(0));
    for (int64_t k = 0; k < n_frames && k < fuzz::kMaxFramesPerInput; ++k) {
      try {
        io::detail::decode_hdf5(data, size, "fuzz", fuzz::fuzz_options(k));
      } catch (const Error&) {
      }
    }
  } catch (const Error&) {
    try {  // no frame count: the frame reader still parses what it can
      io::detail::decode_hdf5(data, size, "fuzz", fuzz::fuzz_options(0));
    } catch (const Error&) {
    }
  }
  return 0;
}
