// The spot-evidence stages on a simulated 512² frame (one thread, frames/s): the classical spot
// finder for comparison, the full-resolution peak finder, the reciprocal-space lattice evidence
// (pair-length histogram and d_min) and the cell match, and the whole per-frame evidence as the
// triage runs it (features::SpotEvidence::measure); and the evidence stage on detector-sized
// frames (EIGER2 4M and 16M sizes, uint16 with module gaps masked: binning + the same measure).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "difftriage/features/evidence_stage.h"
#include "difftriage/features/lattice.h"
#include "difftriage/features/peaks.h"
#include "difftriage/features/resolution.h"
#include "difftriage/features/spot_evidence.h"
#include "difftriage/features/spots.h"
#include "difftriage/simulate/simulate.h"

namespace {
using namespace difftriage;

struct BenchFrame {
  Image<float> image;
  DetectorGeometry geometry;
};

// A good-quality crystal frame (seed 42): a few hundred peaks.
const BenchFrame& bench_frame() {
  static const BenchFrame frame = [] {
    simulate::SimulateOptions o;
    o.seed = 42;
    o.mix.blank = o.mix.noxtal = o.mix.weak = o.mix.strong = 0.0;
    const simulate::SimulatedFrame f = simulate::simulate_frame(o, 0);
    return BenchFrame{to_float(AnyImage(f.image)), simulate::output_geometry(f.spec)};
  }();
  return frame;
}

void rate(benchmark::State& state) {
  state.counters["frames_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_FindSpots(benchmark::State& state) {
  const auto& f = bench_frame();
  for (auto _ : state) benchmark::DoNotOptimize(features::find_spots(f.image.view()).size());
  rate(state);
}
BENCHMARK(BM_FindSpots)->Unit(benchmark::kMillisecond);

void BM_FindPeaks(benchmark::State& state) {
  const auto& f = bench_frame();
  for (auto _ : state) benchmark::DoNotOptimize(features::find_peaks(f.image.view()).size());
  rate(state);
}
BENCHMARK(BM_FindPeaks)->Unit(benchmark::kMillisecond);

void BM_MeasureLatticeAndMatchCells(benchmark::State& state) {
  const auto& f = bench_frame();
  const auto peaks = features::find_peaks(f.image.view());
  const features::CellMatcher matcher(features::preset_candidate_cells());
  for (auto _ : state) {
    const auto e = features::measure_lattice(peaks, f.geometry);
    benchmark::DoNotOptimize(matcher.scores(e).data());
  }
  state.counters["peaks"] = static_cast<double>(peaks.size());
  rate(state);
}
BENCHMARK(BM_MeasureLatticeAndMatchCells)->Unit(benchmark::kMillisecond);

// measure_lattice with the fitted d_min rule (shipped shape: 3 SNR cuts × 5 quantiles; weights
// do not change the cost), beside BM_MeasureLatticeAndMatchCells' single quantile.
void BM_MeasureLatticeWithDMinRule(benchmark::State& state) {
  const auto& f = bench_frame();
  const auto peaks = features::find_peaks(f.image.view());
  features::ResolutionModel m;
  m.snr_cuts = {6.0, 12.0, 25.0};
  m.quantiles = {0.05, 0.1, 0.2, 0.3, 0.5};
  m.weights.assign(18, 0.05);
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        features::measure_lattice(peaks, f.geometry, features::LatticeOptions{}, &m)
            .d_min_angstrom);
  }
  state.counters["peaks"] = static_cast<double>(peaks.size());
  rate(state);
}
BENCHMARK(BM_MeasureLatticeWithDMinRule)->Unit(benchmark::kMillisecond);

void BM_SpotEvidence(benchmark::State& state) {
  const auto& f = bench_frame();
  const features::SpotEvidence evidence(features::preset_candidate_cells());
  for (auto _ : state) {
    benchmark::DoNotOptimize(evidence.measure(f.image.view(), f.geometry).lattice.n_peaks);
  }
  rate(state);
}
BENCHMARK(BM_SpotEvidence)->Unit(benchmark::kMillisecond);

// A detector-sized uint16 frame, n_slow × n_fast: photon counts of a fixed-seed LCG (0 on 10
// pixels in 16, 1 on 4, 2 and 3 on one each, as a weak background on a counting detector), 600 spots of
// 3 × 3 pixels, and EIGER-like module gaps (every 514th row and 1030th column band) masked.
AnyImage detector_frame(int64_t n_slow, int64_t n_fast) {
  Image<uint16_t> img(n_slow, n_fast);
  uint64_t state = 12345;
  auto next = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint32_t>(state >> 33);
  };
  constexpr uint16_t kCounts[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 3};
  for (int64_t i = 0; i < img.size(); ++i) img.data()[i] = kCounts[next() % 16];
  for (int k = 0; k < 600; ++k) {
    const int64_t s = 8 + next() % static_cast<uint32_t>(n_slow - 16);
    const int64_t f = 8 + next() % static_cast<uint32_t>(n_fast - 16);
    for (int64_t ds = -1; ds <= 1; ++ds) {
      for (int64_t df = -1; df <= 1; ++df) img(s + ds, f + df) = (ds == 0 && df == 0) ? 200 : 60;
    }
  }
  std::vector<uint8_t> mask(static_cast<size_t>(img.size()), 0);
  for (int64_t s = 0; s < n_slow; ++s) {
    for (int64_t f = 0; f < n_fast; ++f) {
      if (s % 551 >= 514 || f % 1040 >= 1030) mask[static_cast<size_t>(s * n_fast + f)] = 1;
    }
  }
  img.set_mask(std::move(mask));
  return AnyImage(std::move(img));
}

void BM_EvidenceStageDetectorFrame(benchmark::State& state) {
  const AnyImage frame = detector_frame(state.range(0), state.range(1));
  DetectorGeometry g;
  g.wavelength_angstrom = 1.0;
  g.distance_mm = 150.0;
  g.pixel_size_mm = 0.075;
  g.beam_center_fast_px = static_cast<double>(state.range(1)) / 2;
  g.beam_center_slow_px = static_cast<double>(state.range(0)) / 2;
  features::GeometrySource source;
  source.fallback = g;
  source.use_sidecars = false;
  const features::EvidenceStage stage(source,
                                      features::SpotEvidence(features::preset_candidate_cells()));
  for (auto _ : state) {
    benchmark::DoNotOptimize(stage.measure(frame, "bench.h5").evidence.lattice.n_peaks);
  }
  rate(state);
}
BENCHMARK(BM_EvidenceStageDetectorFrame)
    ->Args({2162, 2068})   // EIGER2 4M
    ->Args({4362, 4148})   // EIGER2 16M
    ->Unit(benchmark::kMillisecond);

}  // namespace
