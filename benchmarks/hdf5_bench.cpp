// EIGER frame decoding: bitshuffle/LZ4 chunk decode alone (the in-process codec), a whole
// read_image of an EIGER2 data-file frame (HDF5 open + raw chunk read + decode + mask), and a
// DECTRIS Stream V2 CBOR message. Fixtures from ../shared/fixtures; a benchmark whose fixture is
// absent reports an error and is skipped.
//
// No peer column: on Debian there is no reference bitshuffle decoder in C (hdf5-filter-plugin
// lacks bitshuffle; h5py has no hdf5plugin/bitshuffle package), so no ratio is reported.
#include <benchmark/benchmark.h>

#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "difftriage/io/bitshuffle_lz4.h"
#include "difftriage/io/image_io.h"

namespace {

namespace fs = std::filesystem;
namespace io = difftriage::io;

constexpr const char* kEigerData = "eiger2_simread7_2datafiles_4images_bslz4_data_000001.h5";
constexpr const char* kCbor = "r500k_bm_bslz4_16bit_000001.cbor";
constexpr size_t kEigerFrameBytes = 512 * 1028 * 2;

// ../shared/fixtures beside the repository (this file is <repo>/benchmarks/hdf5_bench.cpp).
fs::path fixture_path(const char* name) {
  return fs::path(__FILE__).parent_path().parent_path().parent_path() / "shared" / "fixtures" /
         name;
}

// Frame 0's raw chunk, read once with the HDF5 C API (empty if the fixture is missing).
const std::vector<uint8_t>& eiger_chunk() {
  static const std::vector<uint8_t> chunk = [] {
    std::vector<uint8_t> bytes;
    const fs::path path = fixture_path(kEigerData);
    if (!fs::exists(path)) return bytes;
    const hid_t file = H5Fopen(path.string().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    const hid_t dataset = H5Dopen2(file, "/entry/data/data", H5P_DEFAULT);
    const hsize_t offset[3] = {0, 0, 0};
    hsize_t n = 0;
    H5Dget_chunk_storage_size(dataset, offset, &n);
    bytes.resize(static_cast<size_t>(n));
    uint32_t mask = 0;
    H5Dread_chunk(dataset, H5P_DEFAULT, offset, &mask, bytes.data());
    H5Dclose(dataset);
    H5Fclose(file);
    return bytes;
  }();
  return chunk;
}

void report(benchmark::State& state, size_t decoded_bytes) {
  state.counters["frames/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  // bytes_per_second counts decoded (pixel) bytes.
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(decoded_bytes));
}

void BM_BitshuffleLz4DecodeEigerChunk(benchmark::State& state) {
  const std::vector<uint8_t>& chunk = eiger_chunk();
  if (chunk.empty()) return state.SkipWithError("fixture not found");
  std::vector<uint8_t> out(kEigerFrameBytes);
  for (auto _ : state) {
    io::decode_bitshuffle_lz4(chunk.data(), chunk.size(), out.data(), out.size(), 2, "bench");
    benchmark::DoNotOptimize(out.data());
  }
  report(state, out.size());
  state.counters["chunk_bytes"] = static_cast<double>(chunk.size());
}

void BM_ReadEigerFrame(benchmark::State& state) {
  const fs::path path = fixture_path(kEigerData);
  if (!fs::exists(path)) return state.SkipWithError("fixture not found");
  int64_t frame = 0;
  for (auto _ : state) {
    difftriage::AnyImage image = io::read_image(path, {frame});
    benchmark::DoNotOptimize(image);
    frame ^= 1;
  }
  report(state, kEigerFrameBytes);
}

void BM_DecodeCborMessage(benchmark::State& state) {
  const fs::path path = fixture_path(kCbor);
  if (!fs::exists(path)) return state.SkipWithError("fixture not found");
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (auto _ : state) {
    difftriage::AnyImage image = io::decode_image(reinterpret_cast<const uint8_t*>(bytes.data()),
                                                  bytes.size(), "message.cbor");
    benchmark::DoNotOptimize(image);
  }
  report(state, 514 * 1030 * 2);
}

}  // namespace

BENCHMARK(BM_BitshuffleLz4DecodeEigerChunk);
BENCHMARK(BM_ReadEigerFrame);
BENCHMARK(BM_DecodeCborMessage);
