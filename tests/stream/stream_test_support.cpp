#include "stream/stream_test_support.h"

#include <torch/utils.h>

#include <algorithm>
#include <cstdio>
#include <random>

#include "difftriage/io/image_io.h"
#include "difftriage/models/checkpoint.h"
#include "difftriage/models/network.h"

namespace difftriage::testing {
namespace fs = std::filesystem;

models::ModelMetadata write_tiny_model(const fs::path& dir, uint64_t seed,
                                       const std::vector<std::string>& heads) {
  torch::manual_seed(seed);
  auto meta = models::default_metadata("compact", heads);
  meta.architecture.widths = {4, 8};
  meta.architecture.head_hidden = 8;
  meta.preprocess.input_size = 32;
  auto net = models::make_network(meta);
  {
    torch::NoGradGuard no_grad;
    net->train();  // BatchNorm running statistics away from identity
    net->forward(torch::randn({8, 1, 32, 32}) * 2 + 0.5);
  }
  net->eval();
  models::save_checkpoint(dir, net, meta);
  return meta;
}

std::vector<fs::path> write_pgm_frames(const fs::path& dir, int n, uint32_t seed) {
  fs::create_directories(dir);
  std::mt19937 rng(seed);
  std::normal_distribution<float> background(90.0f, 6.0f);
  std::uniform_int_distribution<int> pos(1, 62), n_spots(0, 40);
  std::vector<fs::path> paths;
  for (int i = 0; i < n; ++i) {
    Image<uint8_t> img(64, 64);
    for (auto& p : img.pixels())
      p = static_cast<uint8_t>(std::clamp(background(rng), 0.0f, 255.0f));
    for (int k = n_spots(rng); k > 0; --k) img(pos(rng), pos(rng)) = 250;
    char name[32];
    std::snprintf(name, sizeof name, "frame_%03d.pgm", i);
    paths.push_back(dir / name);
    io::write_pgm(paths.back(), img.view());
  }
  return paths;
}

}  // namespace difftriage::testing
