// Simulator speed: whole frames (images/s) with and without the full-resolution frame, and the
// per-stage split (spot prediction + splatting, background + ice, detector noise, binning + map).
#include <benchmark/benchmark.h>

#include "difftriage/simulate/detector.h"
#include "difftriage/simulate/render.h"
#include "difftriage/simulate/simulate.h"

namespace {
using namespace difftriage::simulate;

SimulateOptions bench_options(bool full) {
  SimulateOptions o;
  o.seed = 42;
  o.mix = study_mix();
  o.keep_full_frame = full;
  return o;
}

void BM_Frame(benchmark::State& state) {
  const SimulateOptions o = bench_options(state.range(0) != 0);
  int64_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(simulate_frame(o, i++ % 64).image.data());
  state.counters["images_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Frame)->Arg(0)->Arg(1)->ArgName("full_frame")->Unit(benchmark::kMillisecond);

// A typical strong crystal frame with ice, rendered stage by stage.
FrameSpec strong_spec() {
  SimulateOptions o = bench_options(false);
  o.mix = Mix{};
  o.mix.blank = o.mix.noxtal = o.mix.weak = o.mix.good = 0.0;
  o.mix.ice = 1.0;
  o.mix.badice_given_ice = 0.0;
  return simulate_frame(o, 0).spec;
}

void BM_StageSpots(benchmark::State& state) {
  const FrameSpec s = strong_spec();
  difftriage::Image<float> img(s.geometry.n_slow, s.geometry.n_fast, 0.0f);
  for (auto _ : state) {
    const auto refl = predict_reflections(s);
    add_spots(img, refl);
    benchmark::DoNotOptimize(img.data());
  }
}
BENCHMARK(BM_StageSpots)->Unit(benchmark::kMillisecond);

void BM_StageBackgroundIce(benchmark::State& state) {
  const FrameSpec s = strong_spec();
  for (auto _ : state) benchmark::DoNotOptimize(render_background(s).data());
}
BENCHMARK(BM_StageBackgroundIce)->Unit(benchmark::kMillisecond);

void BM_StageNoise(benchmark::State& state) {
  const FrameSpec s = strong_spec();
  const auto bg = render_background(s);
  for (auto _ : state) benchmark::DoNotOptimize(apply_detector(bg, s.detector, 1).data());
}
BENCHMARK(BM_StageNoise)->Unit(benchmark::kMillisecond);

void BM_StageBinning(benchmark::State& state) {
  const FrameSpec s = strong_spec();
  const auto adu = apply_detector(render_background(s), s.detector, 1);
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        map_to_8bit(bin_frame(adu, s.bin_factor, s.binning), s.intensity_map, 0.0).data());
  }
}
BENCHMARK(BM_StageBinning)->Unit(benchmark::kMillisecond);

}  // namespace
