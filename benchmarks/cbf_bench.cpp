// CBF byte-offset decoding of a real PILATUS 12M frame (DLS_I23_P12M_thau_00001.cbf.gz, 2463 x
// 5071 int32, 12.5 MB of byte-offset data), ours against CBFlib in the same run. The gzip
// wrapper is removed once, outside the timed loops. Before timing, the setup checks that both
// decoders give identical pixels and aborts otherwise.
//
//   BM_ByteOffsetOurs    io::decode_byte_offset on the binary section alone
//   BM_DecodeCbfOurs     io::decode_image on the whole .cbf (header, decode, mask, metadata)
//   BM_DecodeCbfCbfLib   cbf_read_buffered_file + cbf_get_integerarray on the same bytes
//
// MB/s counts compressed (byte-offset) bytes; frames/s is the number to compare.
#include <benchmark/benchmark.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "difftriage/io/byte_offset.h"
#include "difftriage/io/image_io.h"

#ifdef DT_HAVE_CBFLIB
#include <cbf.h>
#endif

namespace {

namespace fs = std::filesystem;
namespace io = difftriage::io;

constexpr const char* kFixture = "DLS_I23_P12M_thau_00001.cbf.gz";

// ../shared/fixtures beside the repository (this file is <repo>/benchmarks/cbf_bench.cpp).
fs::path fixture_path() {
  return fs::path(__FILE__).parent_path().parent_path().parent_path() / "shared" / "fixtures" /
         kFixture;
}

[[noreturn]] void fail(const std::string& message) {
  std::fprintf(stderr, "cbf_bench: %s\n", message.c_str());
  std::abort();
}

std::string gunzip(const std::string& gz) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) fail("zlib init failed");
  std::string out;
  std::vector<char> buffer(1 << 20);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buffer.data());
    z.avail_out = static_cast<uInt>(buffer.size());
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buffer.data(), buffer.size() - z.avail_out);
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END) fail("cannot gunzip " + std::string(kFixture));
  return out;
}

#ifdef DT_HAVE_CBFLIB
std::vector<int32_t> decode_with_cbflib(const std::string& cbf) {
  cbf_handle handle = nullptr;
  std::vector<int32_t> pixels;
  if (cbf_make_handle(&handle) != 0) fail("cbf_make_handle failed");
  unsigned int compression = 0;
  int id = 0, elsigned = 0, elunsigned = 0, minelem = 0, maxelem = 0;
  size_t elsize = 0, nelem = 0, n_read = 0;
  if (cbf_read_buffered_file(handle, nullptr, MSG_NODIGEST, cbf.data(), cbf.size()) != 0 ||
      cbf_find_tag(handle, "_array_data.data") != 0 ||
      cbf_get_integerarrayparameters(handle, &compression, &id, &elsize, &elsigned, &elunsigned,
                                     &nelem, &minelem, &maxelem) != 0) {
    fail("CBFlib cannot read the fixture");
  }
  pixels.resize(nelem);
  if (cbf_get_integerarray(handle, &id, pixels.data(), sizeof(int32_t), 1, nelem, &n_read) != 0 ||
      n_read != nelem) {
    fail("CBFlib cannot decode the fixture's array");
  }
  cbf_free_handle(handle);
  return pixels;
}
#endif

struct Fixture {
  bool found = false;
  std::string cbf;          // the whole uncompressed .cbf
  size_t data_offset = 0;   // first byte after 0C 1A 04 D5
  size_t data_size = 0;     // X-Binary-Size
  int64_t n_pixels = 0;

  Fixture() {
    const fs::path path = fixture_path();
    if (!fs::exists(path)) return;
    std::ifstream in(path, std::ios::binary);
    cbf = gunzip(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()));
    const size_t magic = cbf.find(std::string("\x0c\x1a\x04\xd5", 4));
    const size_t size_at = cbf.find("X-Binary-Size: ");
    if (magic == std::string::npos || size_at == std::string::npos) fail("no binary section");
    data_offset = magic + 4;
    data_size = std::stoull(cbf.substr(size_at + 15, 20));

    const difftriage::AnyImage image = io::decode_image(
        reinterpret_cast<const uint8_t*>(cbf.data()), cbf.size(), kFixture);
    const auto& ours = std::get<difftriage::Image<int32_t>>(image);
    n_pixels = ours.size();
    std::vector<int32_t> bare(static_cast<size_t>(n_pixels));
    io::decode_byte_offset(reinterpret_cast<const uint8_t*>(cbf.data()) + data_offset, data_size,
                           bare.data(), n_pixels, kFixture);
    if (bare != ours.pixels()) fail("decode_byte_offset and decode_image disagree");
#ifdef DT_HAVE_CBFLIB
    if (decode_with_cbflib(cbf) != ours.pixels()) fail("our pixels differ from CBFlib's");
    std::fprintf(stderr, "cbf_bench: %lld pixels identical to CBFlib's\n",
                 static_cast<long long>(n_pixels));
#endif
    found = true;
  }
};

const Fixture& fixture() {
  static const Fixture instance;
  return instance;
}

void report(benchmark::State& state, size_t compressed_bytes) {
  state.counters["frames/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["MB/s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * static_cast<double>(compressed_bytes) / 1e6,
      benchmark::Counter::kIsRate);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(compressed_bytes));
}

void BM_ByteOffsetOurs(benchmark::State& state) {
  const Fixture& f = fixture();
  if (!f.found) return state.SkipWithError("fixture not found");
  std::vector<int32_t> out(static_cast<size_t>(f.n_pixels));
  const auto* data = reinterpret_cast<const uint8_t*>(f.cbf.data()) + f.data_offset;
  for (auto _ : state) {
    io::decode_byte_offset(data, f.data_size, out.data(), f.n_pixels, kFixture);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  report(state, f.data_size);
}

void BM_DecodeCbfOurs(benchmark::State& state) {
  const Fixture& f = fixture();
  if (!f.found) return state.SkipWithError("fixture not found");
  for (auto _ : state) {
    difftriage::AnyImage image =
        io::decode_image(reinterpret_cast<const uint8_t*>(f.cbf.data()), f.cbf.size(), kFixture);
    benchmark::DoNotOptimize(image);
  }
  report(state, f.data_size);
}

#ifdef DT_HAVE_CBFLIB
void BM_DecodeCbfCbfLib(benchmark::State& state) {
  const Fixture& f = fixture();
  if (!f.found) return state.SkipWithError("fixture not found");
  for (auto _ : state) {
    std::vector<int32_t> pixels = decode_with_cbflib(f.cbf);
    benchmark::DoNotOptimize(pixels.data());
  }
  report(state, f.data_size);
}
BENCHMARK(BM_DecodeCbfCbfLib)->Unit(benchmark::kMillisecond);
#endif

}  // namespace

BENCHMARK(BM_ByteOffsetOurs)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DecodeCbfOurs)->Unit(benchmark::kMillisecond);
