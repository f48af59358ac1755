// Frames/s of the triage networks on the CPU, with 1 and 2 intra-op threads (argument
// "threads"; the target machine has 2 cores, and with other load on it 1 thread is steadier).
//
//   models_bench --benchmark_filter=Compact      # the real-time target: ≥ 400 frames/s
//
// items_per_second is frames/s. Inference runs under torch::InferenceMode with eval-mode
// networks; batch 32 unless stated. vgg16 is far too slow for batch 32 at 512² on 2 cores, so
// it runs small batches and a single iteration there.
#include <benchmark/benchmark.h>
#include <torch/optim/adam.h>
#include <torch/utils.h>

#include <random>

#include "difftriage/models/network.h"
#include "difftriage/models/preprocess.h"

namespace dm = difftriage::models;

namespace {

constexpr int64_t kBatch = 32;

// 512² uint8 frames like the study's: grey background, a few hundred 1–3 px spots.
std::vector<difftriage::AnyImage> make_frames(int64_t n, int64_t side) {
  std::mt19937 rng(7);
  std::normal_distribution<float> bg(120.0f, 8.0f);
  std::uniform_int_distribution<int64_t> pos(2, side - 4);
  std::vector<difftriage::AnyImage> frames;
  for (int64_t i = 0; i < n; ++i) {
    difftriage::Image<uint8_t> img(side, side);
    for (auto& p : img.pixels()) p = static_cast<uint8_t>(std::clamp(bg(rng), 0.0f, 255.0f));
    for (int k = 0; k < 300; ++k) {
      const int64_t s = pos(rng), f = pos(rng);
      img(s, f) = img(s + 1, f) = img(s, f + 1) = 230;
    }
    frames.emplace_back(std::move(img));
  }
  return frames;
}

dm::TriageNet make_net(const std::string& arch_name, int64_t stem_pool = -1) {
  torch::manual_seed(1);
  auto arch = dm::default_architecture(arch_name);
  if (stem_pool > 0) arch.stem_pool = stem_pool;
  dm::TriageNet net(arch, std::vector<std::string>{"quality", "labels", "mosaic"});
  net->eval();
  return net;
}

void set_counters(benchmark::State& state, int64_t frames_per_iteration, double flops_per_frame) {
  state.SetItemsProcessed(state.iterations() * frames_per_iteration);
  state.counters["GFLOP_per_frame"] = flops_per_frame * 1e-9;
  state.counters["threads"] = torch::get_num_threads();
}

// Preprocessing only: 512² uint8 → [32,1,128,128] (compact default: 4×4 max binning, log1p,
// per-frame standardisation).
void BM_Preprocess512ToCompact(benchmark::State& state) {
  torch::set_num_threads(static_cast<int>(state.range(0)));
  const auto frames = make_frames(kBatch, 512);
  const dm::Preprocessor pre(dm::default_preprocess("compact"));
  for (auto _ : state) benchmark::DoNotOptimize(pre.preprocess_batch(frames));
  set_counters(state, kBatch, 0);
}
BENCHMARK(BM_Preprocess512ToCompact)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// The real-time target: 512² uint8 frames → preprocessing → compact → heads.
void BM_CompactWithPreprocessing512(benchmark::State& state) {
  torch::set_num_threads(static_cast<int>(state.range(0)));
  const auto frames = make_frames(kBatch, 512);
  const auto meta = dm::default_metadata("compact", {"quality", "labels", "mosaic"});
  const dm::Preprocessor pre(meta.preprocess);
  auto net = make_net("compact");
  torch::InferenceMode guard;
  for (auto _ : state) benchmark::DoNotOptimize(net->forward(pre.preprocess_batch(frames)));
  set_counters(state, kBatch, dm::estimate_flops(meta.architecture, meta.heads, 128));
}
BENCHMARK(BM_CompactWithPreprocessing512)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// Each input mode of the compact model on 512² uint8 frames, preprocessing included, 1 thread:
// 0 = bin-max (default), 1 = bin-mean (the study's averaging), 2 = crop (full-resolution centre).
void BM_CompactInputModes(benchmark::State& state) {
  torch::set_num_threads(1);
  const dm::InputMode modes[] = {dm::InputMode::kBinMax, dm::InputMode::kBinMean,
                                 dm::InputMode::kCrop};
  const auto frames = make_frames(kBatch, 512);
  auto meta = dm::default_metadata("compact", {"quality", "labels", "mosaic"});
  meta.preprocess.mode = modes[state.range(0)];
  const dm::Preprocessor pre(meta.preprocess);
  auto net = make_net("compact");
  torch::InferenceMode guard;
  for (auto _ : state) benchmark::DoNotOptimize(net->forward(pre.preprocess_batch(frames)));
  set_counters(state, kBatch, dm::estimate_flops(meta.architecture, meta.heads,
                                                 meta.preprocess.input_size));
  state.SetLabel(dm::input_mode_name(meta.preprocess.mode));
}
BENCHMARK(BM_CompactInputModes)->ArgName("mode")->DenseRange(0, 2)->Unit(benchmark::kMillisecond)->UseRealTime();

// Network only, on its default 128² input (the binned 512² frame).
void BM_CompactNetwork128(benchmark::State& state) {
  torch::set_num_threads(static_cast<int>(state.range(0)));
  auto net = make_net("compact");
  torch::InferenceMode guard;
  const auto x = torch::randn({kBatch, 1, 128, 128});
  for (auto _ : state) benchmark::DoNotOptimize(net->forward(x));
  set_counters(state, kBatch,
               dm::estimate_flops(net->architecture(), net->heads(), 128));
}
BENCHMARK(BM_CompactNetwork128)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// Network only on full 512² float tensors, binning inside the network (stem_pool 4): what the
// fused preprocessing saves.
void BM_CompactNetwork512Stem4(benchmark::State& state) {
  torch::set_num_threads(static_cast<int>(state.range(0)));
  auto net = make_net("compact", 4);
  torch::InferenceMode guard;
  const auto x = torch::randn({kBatch, 1, 512, 512});
  for (auto _ : state) benchmark::DoNotOptimize(net->forward(x));
  set_counters(state, kBatch, dm::estimate_flops(net->architecture(), net->heads(), 512));
}
BENCHMARK(BM_CompactNetwork512Stem4)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// Training step (forward + masked loss + backward + Adam), batch 32 at 128².
void BM_CompactTrainStep128(benchmark::State& state) {
  torch::set_num_threads(static_cast<int>(state.range(0)));
  auto net = make_net("compact");
  net->train();
  torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(1e-3));
  const auto x = torch::randn({kBatch, 1, 128, 128});
  dm::Targets targets;
  targets["quality"] = {torch::randint(0, 5, {kBatch}), {}};
  targets["labels"] = {torch::randint(0, 2, {kBatch, 6}).to(torch::kFloat32), {}};
  targets["mosaic"] = {torch::rand({kBatch, 2}), {}};
  for (auto _ : state) {
    adam.zero_grad();
    auto loss = dm::compute_losses(net->forward(x), targets).total;
    loss.backward();
    adam.step();
  }
  set_counters(state, kBatch, 3 * dm::estimate_flops(net->architecture(), net->heads(), 128));
}
BENCHMARK(BM_CompactTrainStep128)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// vgg16 at a given thread count, input side and batch.
void BM_Vgg16Inference(benchmark::State& state) {
  torch::set_num_threads(static_cast<int>(state.range(0)));
  const int64_t side = state.range(1), batch = state.range(2);
  auto net = make_net("vgg16");
  torch::InferenceMode guard;
  const auto x = torch::randn({batch, 1, side, side});
  for (auto _ : state) benchmark::DoNotOptimize(net->forward(x));
  set_counters(state, batch, dm::estimate_flops(net->architecture(), net->heads(), side));
}
BENCHMARK(BM_Vgg16Inference)
    ->ArgNames({"threads", "side", "batch"})
    ->Args({2, 128, 32})
    ->Args({2, 256, 8})
    ->Args({2, 512, 2})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
