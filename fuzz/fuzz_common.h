// Shared by the fuzz targets: limits that keep one input cheap, and the entry point's signature.
//
// Each fuzz/<name>_fuzz.cpp defines LLVMFuzzerTestOneInput: under libFuzzer
// (DIFFTRIAGE_BUILD_FUZZERS=ON, Clang) it is fuzzed; in every build replay_main.cpp feeds it the
// files of fuzz/corpus/<name>/ (a CTest test). A target returns normally when the input decoded
// or was rejected with a difftriage::Error; anything else (a crash, a sanitizer report, another
// exception escaping) is a finding.
#pragma once

#include <cstddef>
#include <cstdint>

#include "difftriage/io/image_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace difftriage::fuzz {

/// gzip/bzip2 inputs may inflate to at most this (a bomb otherwise spends the fuzzer's memory).
inline constexpr uint64_t kMaxDecompressedBytes = uint64_t{64} << 20;
/// Frames of a multi-frame input decoded per run (the first and the last of at most this many).
inline constexpr int64_t kMaxFramesPerInput = 64;

inline io::ReadOptions fuzz_options(int64_t frame) {
  io::ReadOptions options;
  options.frame = frame;
  options.max_decompressed_bytes = kMaxDecompressedBytes;
  options.cache_file_layout = false;
  // The targets fuzz the parsers in this process, where coverage and sanitizers see them; the
  // child-process check that keeps `classify` alive through a libhdf5 crash is tested in
  // tests/io/corruption_test.cpp.
  options.isolate_hdf5 = false;
  return options;
}

}  // namespace difftriage::fuzz
