// Fuzz target: the CBF byte-offset decoder. Input: 2 bytes little-endian pixel count
// (0..65535), then the byte-offset stream.
#include <vector>

#include "difftriage/core/error.h"
#include "difftriage/io/byte_offset.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace difftriage;
  if (size < 2) return 0;
  const int64_t n_values = data[0] | (data[1] << 8);
  std::vector<int32_t> out(static_cast<size_t>(n_values));
  try {
    io::decode_byte_offset(data + 2, size - 2, out.data(), n_values, "fuzz");
  } catch (const Error&) {
  }
  return 0;
}
