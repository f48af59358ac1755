// Fuzz target: the bitshuffle/LZ4 codecs (HDF5 filters 32008 and 32004, DECTRIS "bslz4").
// Input: byte 0 selects the element size (1, 2, 4, 8) and the codec (bits 2-3: bitshuffle+LZ4,
// HDF5 LZ4, plain blocked bitshuffle with byte 1 * 8 elements per block); the rest is the
// encoded buffer. The output size is the u64 the buffer's header states (capped at 4 MiB and
// rounded to whole elements), or for plain bitshuffle the input size rounded down.
#include <algorithm>
#include <vector>

#include "difftriage/core/error.h"
#include "difftriage/io/bitshuffle_lz4.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace difftriage;
  if (size < 2) return 0;
  const size_t elem_size = size_t{1} << (data[0] & 3);
  const int codec = (data[0] >> 2) & 3;
  const uint8_t* in = data + 2;
  const size_t n_in = size - 2;
  constexpr uint64_t kMaxOut = uint64_t{4} << 20;
  try {
    if (codec == 2) {
      const size_t n_elements = n_in / elem_size;
      std::vector<uint8_t> out(n_elements * elem_size);
      io::bitunshuffle(in, out.data(), n_elements, elem_size, size_t{data[1]} * 8);
      return 0;
    }
    uint64_t n_out = 0;
    for (size_t i = 0; i < 8 && i < n_in; ++i) n_out = (n_out << 8) | in[i];
    n_out = std::min(n_out, kMaxOut);
    n_out -= n_out % elem_size;
    std::vector<uint8_t> out(static_cast<size_t>(n_out));
    if (codec == 1) {
      io::decode_hdf5_lz4(in, n_in, out.data(), out.size(), "fuzz");
    } else {
      io::decode_bitshuffle_lz4(in, n_in, out.data(), out.size(), elem_size, "fuzz");
    }
  } catch (const Error&) {
  }
  return 0;
}
