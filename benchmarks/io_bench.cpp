// Decode throughput of the io module: 512 x 512 8-bit frames, PGM (P5) and PNG, from memory
// (decode_image) and from disk (read_image, file cache warm).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <system_error>

#include "difftriage/io/image_io.h"

namespace {

namespace fs = std::filesystem;
using difftriage::Image;
namespace io = difftriage::io;

constexpr int64_t kSide = 512;

// A diffraction-like frame (PNG compression depends on content): noisy background 100..140 and
// 150 bright Gaussian spots, fixed seed.
Image<uint8_t> make_frame() {
  std::mt19937 rng(20240501);
  std::uniform_int_distribution<int> background(100, 140);
  Image<uint8_t> image(kSide, kSide);
  for (auto& p : image.pixels()) p = static_cast<uint8_t>(background(rng));
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (int s = 0; s < 150; ++s) {
    const double cs = unit(rng) * kSide, cf = unit(rng) * kSide, peak = 60 + unit(rng) * 135;
    const double sigma2 = 1.0 + 2.0 * unit(rng);
    for (int64_t y = std::max<int64_t>(0, cs - 6); y < std::min<int64_t>(kSide, cs + 7); ++y) {
      for (int64_t x = std::max<int64_t>(0, cf - 6); x < std::min<int64_t>(kSide, cf + 7); ++x) {
        const double r2 = (y - cs) * (y - cs) + (x - cf) * (x - cf);
        image(y, x) = static_cast<uint8_t>(
            std::min(255.0, image(y, x) + peak * std::exp(-r2 / (2 * sigma2))));
      }
    }
  }
  return image;
}

// The encoded files, written once into a private temporary folder removed at exit.
struct Fixture {
  fs::path dir;
  fs::path pgm_path, png_path;
  std::string pgm_bytes, png_bytes;

  Fixture() {
    std::random_device rd;
    dir = fs::temp_directory_path() / ("difftriage-io-bench-" + std::to_string(rd()));
    fs::create_directories(dir);
    const Image<uint8_t> frame = make_frame();
    pgm_path = dir / "frame.pgm";
    png_path = dir / "frame.png";
    io::write_pgm(pgm_path, frame);
    io::write_png(png_path, frame);
    pgm_bytes = slurp(pgm_path);
    png_bytes = slurp(png_path);
  }
  ~Fixture() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  static std::string slurp(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
};

const Fixture& fixture() {
  static const Fixture instance;
  return instance;
}

void report(benchmark::State& state, size_t bytes_per_frame) {
  state.counters["frames/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes_per_frame));
  state.counters["file_bytes"] = static_cast<double>(bytes_per_frame);
}

void decode_from_memory(benchmark::State& state, const std::string& bytes, const char* name) {
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  for (auto _ : state) {
    difftriage::AnyImage image = io::decode_image(data, bytes.size(), name);
    benchmark::DoNotOptimize(image);
  }
  report(state, bytes.size());
}

void read_from_disk(benchmark::State& state, const fs::path& path, size_t n_bytes) {
  for (auto _ : state) {
    difftriage::AnyImage image = io::read_image(path);
    benchmark::DoNotOptimize(image);
  }
  report(state, n_bytes);
}

void BM_DecodePgm512(benchmark::State& state) {
  decode_from_memory(state, fixture().pgm_bytes, "frame.pgm");
}
void BM_DecodePng512(benchmark::State& state) {
  decode_from_memory(state, fixture().png_bytes, "frame.png");
}
void BM_ReadPgm512(benchmark::State& state) {
  read_from_disk(state, fixture().pgm_path, fixture().pgm_bytes.size());
}
void BM_ReadPng512(benchmark::State& state) {
  read_from_disk(state, fixture().png_path, fixture().png_bytes.size());
}

}  // namespace

// Bytes/s counts encoded (file) bytes; frames/s is the number to compare across formats.
BENCHMARK(BM_DecodePgm512);
BENCHMARK(BM_DecodePng512);
BENCHMARK(BM_ReadPgm512);
BENCHMARK(BM_ReadPng512);
