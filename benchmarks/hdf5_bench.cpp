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

// An EIGER-like series generated once per run in a temporary folder: kMasterFiles data files of
// kMasterFramesPerFile frames each, every chunk one of the fixture's real bitshuffle/LZ4 chunks
// (frames 0 and 1 alternating), and a master with external links, NeXus metadata and a
// 512 x 1028 uint32 pixel_mask, as the detector writes them. (The fixture master,
// dectris_eiger_master.h5, cannot be read frame by frame: its data file is not in the fixtures.)
constexpr int kMasterFiles = 4, kMasterFramesPerFile = 25;

class EigerSeries {
 public:
  EigerSeries() {
    const fs::path data = fixture_path(kEigerData);
    if (!fs::exists(data)) return;
    std::vector<std::vector<uint8_t>> chunks(2);
    {
      const hid_t file = H5Fopen(data.string().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
      const hid_t dataset = H5Dopen2(file, "/entry/data/data", H5P_DEFAULT);
      for (hsize_t f = 0; f < 2; ++f) {
        const hsize_t offset[3] = {f, 0, 0};
        hsize_t n = 0;
        H5Dget_chunk_storage_size(dataset, offset, &n);
        chunks[f].resize(static_cast<size_t>(n));
        uint32_t mask = 0;
        H5Dread_chunk(dataset, H5P_DEFAULT, offset, &mask, chunks[f].data());
      }
      H5Dclose(dataset);
      H5Fclose(file);
    }
    dir_ = fs::temp_directory_path() / ("difftriage_hdf5_bench_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    const hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    const hsize_t dims[3] = {kMasterFramesPerFile, 512, 1028}, chunk[3] = {1, 512, 1028};
    for (int k = 1; k <= kMasterFiles; ++k) {
      const std::string name = "bench_data_00000" + std::to_string(k) + ".h5";
      const hid_t file = H5Fcreate((dir_ / name).string().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT,
                                   H5P_DEFAULT);
      const hid_t space = H5Screate_simple(3, dims, nullptr);
      const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
      H5Pset_chunk(dcpl, 3, chunk);
      const unsigned cd[5] = {0, 3, 2, 0, 2};
      H5Pset_filter(dcpl, 32008, H5Z_FLAG_OPTIONAL, 5, cd);
      const hid_t dataset =
          H5Dcreate2(file, "/entry/data/data", H5T_STD_U16LE, space, lcpl, dcpl, H5P_DEFAULT);
      for (hsize_t f = 0; f < kMasterFramesPerFile; ++f) {
        const hsize_t offset[3] = {f, 0, 0};
        const std::vector<uint8_t>& raw = chunks[f % 2];
        H5Dwrite_chunk(dataset, H5P_DEFAULT, 0, offset, raw.size(), raw.data());
      }
      H5Dclose(dataset);
      H5Pclose(dcpl);
      H5Sclose(space);
      H5Fclose(file);
    }
    master_ = dir_ / "bench_master.h5";
    const hid_t file =
        H5Fcreate(master_.string().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    for (int k = 1; k <= kMasterFiles; ++k) {
      const std::string target = "bench_data_00000" + std::to_string(k) + ".h5";
      const std::string link = "/entry/data/data_00000" + std::to_string(k);
      H5Lcreate_external(target.c_str(), "/entry/data/data", file, link.c_str(), lcpl,
                         H5P_DEFAULT);
    }
    const hsize_t mask_dims[2] = {512, 1028};
    std::vector<uint32_t> mask(512 * 1028, 0);
    for (size_t i = 0; i < mask.size(); i += 97) mask[i] = 1;
    const hid_t mspace = H5Screate_simple(2, mask_dims, nullptr);
    const hid_t mset = H5Dcreate2(file, "/entry/instrument/detector/pixel_mask", H5T_STD_U32LE,
                                  mspace, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(mset, H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, mask.data());
    H5Dclose(mset);
    H5Sclose(mspace);
    const hid_t scalar = H5Screate(H5S_SCALAR);
    const double distance_m = 0.15;
    const hid_t dset = H5Dcreate2(file, "/entry/instrument/detector/detector_distance",
                                  H5T_IEEE_F64LE, scalar, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(dset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &distance_m);
    H5Dclose(dset);
    H5Sclose(scalar);
    H5Fclose(file);
    H5Pclose(lcpl);
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

// Every frame of the generated master in order, as a triage pass over a series reads them.
// Argument: ReadOptions::cache_file_layout (0: master, metadata and pixel_mask read for every
// frame, as before the cache; 1: once per file).
void BM_ReadEigerMasterAllFrames(benchmark::State& state) {
  const fs::path& master = eiger_series().master();
  if (master.empty()) return state.SkipWithError("fixture not found");
  const int64_t n_frames = io::count_frames(master);
  io::ReadOptions options;
  options.cache_file_layout = state.range(0) != 0;
  for (auto _ : state) {
    for (int64_t frame = 0; frame < n_frames; ++frame) {
      options.frame = frame;
      difftriage::AnyImage image = io::read_image(master, options);
      benchmark::DoNotOptimize(image);
    }
  }
  state.counters["frames/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * n_frames), benchmark::Counter::kIsRate);
  state.SetBytesProcessed(state.iterations() * n_frames * static_cast<int64_t>(kEigerFrameBytes));
}

// Every frame of the fixture data file (2 frames, no master, no pixel mask); argument as above.
void BM_ReadEigerDataFileAllFrames(benchmark::State& state) {
  const fs::path path = fixture_path(kEigerData);
  if (!fs::exists(path)) return state.SkipWithError("fixture not found");
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
BENCHMARK(BM_DecodeCborMessage);
