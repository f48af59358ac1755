// Simulator speed: whole frames (images/s, one thread) with and without the full-resolution frame,
// and the per-stage split of a strong crystal frame with ice as simulate_frame renders it: spot
// prediction + thresholds, splatting of the drawn spots, background + ice, detector noise,
// beamstop, binning + 8-bit map.
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

// The spots as simulate_frame makes them: prediction (Ewald solve) + bright thresholds against
// the expected background, then splatting only the reflections it draws (peak ≥ kMinDrawnSnr σ).
std::vector<Reflection> drawn_reflections(const FrameSpec& s, const difftriage::Image<float>& bg) {
  const auto refl = predict_reflections(s);
  const auto t = bright_thresholds(s, refl, bg);
  std::vector<Reflection> drawn;
  for (size_t i = 0; i < refl.size(); ++i)
    if (t[i] <= kBrightSpotSnr / kMinDrawnSnr) drawn.push_back(refl[i]);
  return drawn;
}

void BM_StageSpotPredict(benchmark::State& state) {
  const FrameSpec s = strong_spec();
  const auto bg = render_background(s);
  for (auto _ : state) benchmark::DoNotOptimize(drawn_reflections(s, bg).data());
}
BENCHMARK(BM_StageSpotPredict)->Unit(benchmark::kMillisecond);

void BM_StageSpotSplat(benchmark::State& state) {
  const FrameSpec s = strong_spec();
  const auto bg = render_background(s);
  const auto drawn = drawn_reflections(s, bg);
  difftriage::Image<float> img(s.geometry.n_slow, s.geometry.n_fast, 0.0f);
  for (auto _ : state) {
    add_spots(img, drawn);
    benchmark::DoNotOptimize(img.data());
  }
  state.counters["spots"] = static_cast<double>(drawn.size());
}
BENCHMARK(BM_StageSpotSplat)->Unit(benchmark::kMillisecond);

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

void BM_StageBeamstop(benchmark::State& state) {
  const FrameSpec s = strong_spec();
  auto img = render_background(s);
  for (auto _ : state) {
    apply_beamstop(img, s);
    benchmark::DoNotOptimize(img.data());
  }
}
BENCHMARK(BM_StageBeamstop)->Unit(benchmark::kMillisecond);

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
