// End-to-end frames/s of the triage pipeline (stream::run_triage + the classify output
// folder): 512² 8-bit PGM files read from disk (page cache) → decode → preprocess → batched
// inference → decision → results rows, with randomly initialised models.
//
//   stream_bench --benchmark_filter='Triage.*threads:2'
//
// Arguments: "threads" (as `classify --threads`: that many decode threads and inference
// workers, each forward pass single-threaded), "model": 0 = the compact default (bin-max to
// 128², log1p, per-frame), 1 = compact on the full 512² input with a max-pool stem 4 and a
// learned 8-channel stem (`train --input-size 512 --stem-pool 4 --stem-conv 8`); "intraop" 1:
// one inference worker with `threads` intra-op threads instead (`--threads 1 --decode-threads
// T --torch-threads T`), for comparison. items_per_second is frames/s. Batch 32, queue 64.
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <torch/utils.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "difftriage/io/image_io.h"
#include "difftriage/models/checkpoint.h"
#include "difftriage/models/classifier.h"
#include "difftriage/models/network.h"
#include "difftriage/stream/stream.h"

namespace dm = difftriage::models;
namespace ds = difftriage::stream;
namespace fs = std::filesystem;

namespace {

constexpr int kFrames = 256;

// Files and models shared by all benchmarks, removed at exit.
struct Fixture {
  fs::path dir;
  std::vector<ds::FrameAddress> frames;
  std::shared_ptr<const dm::Classifier> models[2];

  Fixture() {
    // As `classify` does (cmd_classify.cpp): no fresh mmap()s for large blocks, which would
    // page-fault every batch of 512² inputs again.
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
    dir = fs::temp_directory_path() / ("dt_stream_bench_" + std::to_string(::getpid()));
    fs::create_directories(dir / "frames");
    // 512² uint8 frames like the study's: grey background, a few hundred 1–3 px spots.
    std::mt19937 rng(7);
    std::normal_distribution<float> bg(120.0f, 8.0f);
    std::uniform_int_distribution<int64_t> pos(2, 508);
    for (int i = 0; i < kFrames; ++i) {
      difftriage::Image<uint8_t> img(512, 512);
      for (auto& p : img.pixels()) p = static_cast<uint8_t>(std::clamp(bg(rng), 0.0f, 255.0f));
      for (int k = 0; k < 300; ++k) {
        const int64_t s = pos(rng), f = pos(rng);
        img(s, f) = img(s + 1, f) = img(s, f + 1) = 230;
      }
      char name[32];
      std::snprintf(name, sizeof name, "f_%05d.pgm", i);
      difftriage::io::write_pgm(dir / "frames" / name, img.view());
    }
    frames = ds::expand_inputs({(dir / "frames").string()});
    for (int m = 0; m < 2; ++m) {
      torch::manual_seed(1);
      auto meta = dm::default_metadata("compact", {"quality", "labels", "mosaic"});
      if (m == 1) {
        meta.architecture.stem_pool = 4;
        meta.architecture.stem_conv = 8;
        meta.preprocess.input_size = 512;
      }
      auto net = dm::make_network(meta);
      net->eval();
      const fs::path path = dir / ("model" + std::to_string(m));
      dm::save_checkpoint(path, net, meta);
      models[m] = std::make_shared<const dm::Classifier>(dm::Classifier::load(path));
    }
  }
  ~Fixture() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

// The whole of `classify` after input expansion and model loading: pipeline + output folder.
void BM_TriagePgm512(benchmark::State& state) {
  auto& fx = fixture();
  const int threads = static_cast<int>(state.range(0));
  const auto& clf = fx.models[state.range(1)];
  ds::TriageOptions o;
  o.n_decode_threads = threads;
  o.n_infer_workers = state.range(2) == 0 ? threads : 1;  // inter-batch parallelism
  o.n_torch_threads = state.range(2) == 0 ? 1 : threads;  // intra-op parallelism
  double decode_s = 0, infer_s = 0;
  for (auto _ : state) {
    ds::TriageFolderWriter writer(fx.dir / "out", clf->metadata(), {"bench", o});
    const auto stats =
        ds::run_triage(fx.frames, clf, o, [&](const ds::FrameResult& r) { writer.add(r); });
    writer.finish(stats);
    decode_s += stats.decode_s;
    infer_s += stats.infer_s;
  }
  const double n = static_cast<double>(state.iterations()) * kFrames;
  state.SetItemsProcessed(static_cast<int64_t>(n));
  state.counters["decode_ms_per_frame"] = 1e3 * decode_s / n;
  state.counters["infer_ms_per_frame"] = 1e3 * infer_s / n;
  state.SetLabel(state.range(1) == 0 ? "compact bin-max 128" : "compact 512 stem4+conv8");
}
BENCHMARK(BM_TriagePgm512)
    ->ArgNames({"threads", "model", "intraop"})
    ->ArgsProduct({{1, 2}, {0, 1}, {0}})
    ->Args({2, 0, 1})
    ->Args({2, 1, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Decode + preprocess only (one thread): where the decode workers' time goes.
void BM_ReadAndPrepare(benchmark::State& state) {
  auto& fx = fixture();
  const auto& clf = fx.models[state.range(0)];
  size_t i = 0;
  for (auto _ : state) {
    const auto& a = fx.frames[i++ % fx.frames.size()];
    benchmark::DoNotOptimize(clf->prepare(difftriage::io::read_image(a.path)));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ReadAndPrepare)->ArgName("model")->Arg(0)->Arg(1)->UseRealTime();

// Reading alone (PGM from the page cache).
void BM_ReadPgm512(benchmark::State& state) {
  auto& fx = fixture();
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(difftriage::io::read_image(fx.frames[i++ % fx.frames.size()].path));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ReadPgm512)->UseRealTime();

// Inference alone on prepared batches of 32 (threads = Torch threads).
void BM_Infer(benchmark::State& state) {
  auto& fx = fixture();
  torch::set_num_threads(static_cast<int>(state.range(0)));
  const auto& clf = fx.models[state.range(1)];
  std::vector<dm::PreparedFrame> batch;
  for (int i = 0; i < 32; ++i)
    batch.push_back(clf->prepare(difftriage::io::read_image(fx.frames[i].path)));
  for (auto _ : state) benchmark::DoNotOptimize(clf->infer(batch));
  state.SetItemsProcessed(state.iterations() * 32);
}
BENCHMARK(BM_Infer)
    ->ArgNames({"threads", "model"})
    ->ArgsProduct({{1, 2}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
