// The spot-evidence stages on a simulated 512² frame (one thread, frames/s): the classical spot
// finder for comparison, the full-resolution peak finder, the reciprocal-space lattice evidence
// (pair-length histogram and d_min) and the cell match, and the whole per-frame evidence as the
// triage runs it (features::SpotEvidence::measure).
#include <benchmark/benchmark.h>

#include "difftriage/features/lattice.h"
#include "difftriage/features/peaks.h"
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

void BM_SpotEvidence(benchmark::State& state) {
  const auto& f = bench_frame();
  const features::SpotEvidence evidence(features::preset_candidate_cells());
  for (auto _ : state) {
    benchmark::DoNotOptimize(evidence.measure(f.image.view(), f.geometry).lattice.n_peaks);
  }
  rate(state);
}
BENCHMARK(BM_SpotEvidence)->Unit(benchmark::kMillisecond);

}  // namespace
