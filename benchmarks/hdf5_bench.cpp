// EIGER frame decoding: bitshuffle/LZ4 chunk decode alone (the in-process codec), a whole
// read_image of an EIGER2 data-file frame (HDF5 open + raw chunk read + decode + mask), and a
// DECTRIS Stream V2 CBOR message. Fixtures from ../shared/fixtures; a benchmark whose fixture is
// absent reports an error and is skipped.
//
// Peer: the reference bitshuffle HDF5 filter (kiyo-masui/bitshuffle's libh5bshuf.so, in
// Debian's `bitshuffle` package under /usr/lib/x86_64-linux-gnu/hdf5/serial/plugins, or wherever
// HDF5_PLUGIN_PATH points). BM_EigerFrameOurs (H5Dread_chunk + our decode) and
// BM_EigerFramePlugin (H5Dread, HDF5 runs the plugin) read the same frame from an open file in
// the same run; the plugin benchmark is skipped with a message when no plugin is found.
// (hdf5-filter-plugin ships only LZ4 and BZip2, despite its description.)
#include <benchmark/benchmark.h>

#include <hdf5.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "difftriage/io/bitshuffle_lz4.h"
#include "difftriage/io/image_io.h"
#include "synthetic/eiger_series.h"

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

// The raw (still bitshuffle/LZ4-encoded) chunks of the fixture's first `n_frames` frames, read
// with the HDF5 C API; empty if the fixture is missing.
std::vector<std::vector<uint8_t>> read_fixture_chunks(hsize_t n_frames) {
  std::vector<std::vector<uint8_t>> chunks;
  const fs::path path = fixture_path(kEigerData);
  if (!fs::exists(path)) return chunks;
  const hid_t file = H5Fopen(path.string().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t dataset = H5Dopen2(file, "/entry/data/data", H5P_DEFAULT);
  for (hsize_t f = 0; f < n_frames; ++f) {
    const hsize_t offset[3] = {f, 0, 0};
    hsize_t n = 0;
    H5Dget_chunk_storage_size(dataset, offset, &n);
    std::vector<uint8_t>& bytes = chunks.emplace_back(static_cast<size_t>(n));
    uint32_t mask = 0;
    H5Dread_chunk(dataset, H5P_DEFAULT, offset, &mask, bytes.data());
  }
  H5Dclose(dataset);
  H5Fclose(file);
  return chunks;
}

// Frame 0's raw chunk, read once (empty if the fixture is missing).
const std::vector<uint8_t>& eiger_chunk() {
  static const std::vector<uint8_t> chunk = [] {
    std::vector<std::vector<uint8_t>> chunks = read_fixture_chunks(1);
    return chunks.empty() ? std::vector<uint8_t>() : std::move(chunks.front());
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

// The fixture's frames from an open file, decoded by us: raw chunk read + bitshuffle/LZ4.
void BM_EigerFrameOurs(benchmark::State& state) {
  const fs::path path = fixture_path(kEigerData);
  if (!fs::exists(path)) return state.SkipWithError("fixture not found");
  const hid_t file = H5Fopen(path.string().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t dataset = H5Dopen2(file, "/entry/data/data", H5P_DEFAULT);
  std::vector<uint8_t> chunk, out(kEigerFrameBytes);
  hsize_t frame = 0;
  for (auto _ : state) {
    const hsize_t offset[3] = {frame, 0, 0};
    hsize_t n = 0;
    H5Dget_chunk_storage_size(dataset, offset, &n);
    chunk.resize(static_cast<size_t>(n));
    uint32_t filter_mask = 0;
    H5Dread_chunk(dataset, H5P_DEFAULT, offset, &filter_mask, chunk.data());
    io::decode_bitshuffle_lz4(chunk.data(), chunk.size(), out.data(), out.size(), 2, "bench");
    benchmark::DoNotOptimize(out.data());
    frame ^= 1;
  }
  H5Dclose(dataset);
  H5Fclose(file);
  report(state, kEigerFrameBytes);
}

// The same frames through H5Dread: HDF5 reads each chunk and runs the bitshuffle plugin (the
// reference C implementation). The chunk cache is off so every read decodes.
void BM_EigerFramePlugin(benchmark::State& state) {
  const fs::path path = fixture_path(kEigerData);
  if (!fs::exists(path)) return state.SkipWithError("fixture not found");
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  if (H5Zfilter_avail(32008) <= 0) {
    return state.SkipWithError("no bitshuffle HDF5 plugin (Debian: apt-get install bitshuffle, "
                               "or set HDF5_PLUGIN_PATH)");
  }
  const hid_t file = H5Fopen(path.string().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
  H5Pset_chunk_cache(dapl, 0, 0, 1.0);
  const hid_t dataset = H5Dopen2(file, "/entry/data/data", dapl);
  const hid_t file_space = H5Dget_space(dataset);
  const hsize_t count[3] = {1, 512, 1028};
  const hid_t memory_space = H5Screate_simple(3, count, nullptr);
  std::vector<uint16_t> out(512 * 1028);
  {
    // Before timing: the plugin's frame 0 must equal ours, byte for byte.
    const hsize_t start[3] = {0, 0, 0};
    H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, nullptr, count, nullptr);
    H5Dread(dataset, H5T_NATIVE_UINT16, memory_space, file_space, H5P_DEFAULT, out.data());
    const std::vector<uint8_t>& chunk = eiger_chunk();
    std::vector<uint8_t> ours(kEigerFrameBytes);
    io::decode_bitshuffle_lz4(chunk.data(), chunk.size(), ours.data(), ours.size(), 2, "bench");
    if (std::memcmp(ours.data(), out.data(), ours.size()) != 0) {
      return state.SkipWithError("the plugin's frame differs from ours");
    }
  }
  hsize_t frame = 0;
  bool ok = true;
  for (auto _ : state) {
    const hsize_t start[3] = {frame, 0, 0};
    H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, nullptr, count, nullptr);
    ok = ok && H5Dread(dataset, H5T_NATIVE_UINT16, memory_space, file_space, H5P_DEFAULT,
                       out.data()) >= 0;
    benchmark::DoNotOptimize(out.data());
    frame ^= 1;
  }
  H5Sclose(memory_space);
  H5Sclose(file_space);
  H5Dclose(dataset);
  H5Pclose(dapl);
  H5Fclose(file);
  if (!ok) return state.SkipWithError("H5Dread with the bitshuffle plugin failed");
  report(state, kEigerFrameBytes);
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

// An EIGER-like series generated once per run in a temporary folder by write_eiger_series
// (tests/synthetic): kMasterFiles data files bench_data_00000K.h5 of kMasterFramesPerFile
// 512 x 1028 frames each, every chunk one of the fixture's real bitshuffle/LZ4 chunks (frames 0
// and 1 alternating within each file), and bench_master.h5 with external links, a 512 x 1028
// uint32 pixel_mask (every 97th pixel flagged) and the detector distance, as the detector writes
// them. (The fixture master, dectris_eiger_master.h5, cannot be read frame by frame: its data
// file is not in the fixtures.)
constexpr int kMasterFiles = 4, kMasterFramesPerFile = 25;

class EigerSeries {
 public:
  EigerSeries() {
    const std::vector<std::vector<uint8_t>> chunks = read_fixture_chunks(2);
    if (chunks.empty()) return;
    dir_ = fs::temp_directory_path() / ("difftriage_hdf5_bench_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    io::testing::EigerSeriesOptions options;
    options.prefix = "bench";
    options.n_files = kMasterFiles;
    options.n_frames_per_file = kMasterFramesPerFile;
    options.n_slow = 512;
    options.n_fast = 1028;
    options.chunk_of_frame = [&chunks](int frame) {  // frame: counted across files
      return chunks[static_cast<size_t>(frame % kMasterFramesPerFile % 2)];
    };
    options.flagged_pixels.clear();
    for (size_t i = 0; i < 512 * 1028; i += 97) options.flagged_pixels.emplace_back(i, 1);
    options.metadata = {{"/entry/instrument/detector/detector_distance", 0.15, ""}};
    master_ = io::testing::write_eiger_series(dir_, options);
  }
  ~EigerSeries() {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  EigerSeries(const EigerSeries&) = delete;
  EigerSeries& operator=(const EigerSeries&) = delete;
  const fs::path& master() const { return master_; }

 private:
  fs::path dir_, master_;
};

const EigerSeries& eiger_series() {
  static const EigerSeries series;
  return series;
}

// Every frame of `path` in order per iteration, as a triage pass over a series reads them.
// Argument: ReadOptions::cache_file_layout (0: master, metadata and pixel_mask read for every
// frame, as before the cache; 1: once per file).
void read_all_frames(benchmark::State& state, const fs::path& path) {
  const int64_t n_frames = io::count_frames(path);
  io::ReadOptions options;
  options.cache_file_layout = state.range(0) != 0;
  for (auto _ : state) {
    for (int64_t frame = 0; frame < n_frames; ++frame) {
      options.frame = frame;
      difftriage::AnyImage image = io::read_image(path, options);
      benchmark::DoNotOptimize(image);
    }
  }
  state.counters["frames/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * n_frames), benchmark::Counter::kIsRate);
  state.SetBytesProcessed(state.iterations() * n_frames * static_cast<int64_t>(kEigerFrameBytes));
}

// Every frame of the generated master; argument as in read_all_frames.
void BM_ReadEigerMasterAllFrames(benchmark::State& state) {
  const fs::path& master = eiger_series().master();
  if (master.empty()) return state.SkipWithError("fixture not found");
  read_all_frames(state, master);
}

// Every frame of the fixture data file (2 frames, no master, no pixel mask).
void BM_ReadEigerDataFileAllFrames(benchmark::State& state) {
  const fs::path path = fixture_path(kEigerData);
  if (!fs::exists(path)) return state.SkipWithError("fixture not found");
  read_all_frames(state, path);
}

// The first look at a series: count_frames on the generated master with nothing cached, as
// `classify` does once per file. Argument: ReadOptions::isolate_hdf5 (1: the master and each of
// its data files are first parsed in a child process, the cost of never crashing on damaged
// metadata; 0: parsed here only).
void BM_CountEigerMasterFirstTime(benchmark::State& state) {
  const fs::path& master = eiger_series().master();
  if (master.empty()) return state.SkipWithError("fixture not found");
  io::ReadOptions options;
  options.isolate_hdf5 = state.range(0) != 0;
  for (auto _ : state) {
    io::clear_file_cache();
    benchmark::DoNotOptimize(io::count_frames(master, options));
  }
  state.counters["files/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
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
BENCHMARK(BM_EigerFrameOurs);
BENCHMARK(BM_EigerFramePlugin);
BENCHMARK(BM_ReadEigerFrame);
BENCHMARK(BM_ReadEigerDataFileAllFrames)->ArgName("cache")->Arg(0)->Arg(1);
BENCHMARK(BM_ReadEigerMasterAllFrames)->ArgName("cache")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CountEigerMasterFirstTime)
    ->ArgName("isolate")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DecodeCborMessage);
