// Fuzz target: the DECTRIS Stream V2 CBOR reader alone (no probe in front: every input reaches
// the CBOR shape check and libcbor), then every channel up to kMaxFramesPerInput.
#include "difftriage/core/error.h"
#include "format_registry.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace difftriage;
  try {
    const int64_t n_channels = io::detail::count_cbor(data, size, "fuzz", fuzz::fuzz_options(0));
    for (int64_t k = 0; k < n_channels && k < fuzz::kMaxFramesPerInput; ++k) {
      try {
        io::detail::decode_cbor(data, size, "fuzz", fuzz::fuzz_options(k));
      } catch (const Error&) {
      }
    }
  } catch (const Error&) {
  }
  return 0;
}
