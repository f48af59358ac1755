// Networks, masked losses, freezing, checkpoints and a tiny overfit run. Fixed seeds, one
// intra-op thread: every number here is reproducible.
#include "difftriage/models/network.h"

#include <gtest/gtest.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>
#include <torch/utils.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "difftriage/core/atomic_file.h"
#include "difftriage/core/error.h"
#include "difftriage/models/checkpoint.h"
#include "difftriage/models/classifier.h"
#include "difftriage/models/preprocess.h"

namespace difftriage::models {
namespace {

namespace fs = std::filesystem;

class Models : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::set_num_threads(1);
    torch::manual_seed(1234);
    dir_ = fs::temp_directory_path() /
           ("dt_models_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

const std::vector<std::string> kAllHeads = {"quality", "labels", "mosaic", "ice", "multilattice"};

void expect_head_shapes(const HeadOutputs& out, int64_t n) {
  ASSERT_EQ(out.size(), kAllHeads.size());
  EXPECT_EQ(out.at("quality").sizes(), (std::vector<int64_t>{n, 5}));
  EXPECT_EQ(out.at("labels").sizes(), (std::vector<int64_t>{n, 6}));
  EXPECT_EQ(out.at("mosaic").sizes(), (std::vector<int64_t>{n, 2}));
  EXPECT_EQ(out.at("ice").sizes(), (std::vector<int64_t>{n, 1}));
  EXPECT_EQ(out.at("multilattice").sizes(), (std::vector<int64_t>{n, 1}));
  for (const auto& [name, t] : out) EXPECT_EQ(t.scalar_type(), torch::kFloat32) << name;
  EXPECT_GE(out.at("mosaic").min().item<float>(), 0.0f);
  EXPECT_LE(out.at("mosaic").max().item<float>(), 1.0f);
}

TEST_F(Models, CompactHeadShapesAndBlocks) {
  TriageNet net(default_architecture("compact"), kAllHeads);
  torch::NoGradGuard no_grad;
  expect_head_shapes(net->forward(torch::randn({3, 1, 64, 64})), 3);
  const auto blocks = net->forward_blocks(torch::randn({2, 1, 128, 128}));
  ASSERT_EQ(blocks.size(), 4u);
  EXPECT_EQ(blocks.back().sizes(), (std::vector<int64_t>{2, 96, 8, 8}));
  EXPECT_EQ(net->feature_size(), 192);
  EXPECT_EQ(net->block_names().front(), "block1");
  // Works at other sizes too, and with a stem pool on full-size input.
  auto arch = default_architecture("compact");
  arch.stem_pool = 4;
  TriageNet pooled(arch, std::vector<std::string>{"labels"});
  EXPECT_EQ(pooled->forward(torch::randn({1, 1, 512, 512})).at("labels").sizes(),
            (std::vector<int64_t>{1, 6}));
  const double flops = estimate_flops(default_architecture("compact"), kAllHeads, 128);
  EXPECT_LT(flops, 0.1e9);  // ≈ 57 MFLOP per 512² frame binned to 128²
  EXPECT_GT(flops, 0.04e9);
}

TEST_F(Models, LearnedStemSeesFullResolutionBesideTheMaxPool) {
  auto arch = default_architecture("compact");
  arch.stem_pool = 4;
  arch.stem_conv = 8;
  TriageNet net(arch, std::vector<std::string>{"labels"});
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& p : net->named_parameters()) shapes[p.key()] = p.value().sizes().vec();
  // Kernel 2p = 8, stride 4; block 1 takes the pooled channel plus the 8 learned maps.
  EXPECT_EQ(shapes.at("stem_conv.conv.weight"), (std::vector<int64_t>{8, 1, 8, 8}));
  EXPECT_EQ(shapes.at("block1.conv1.weight"), (std::vector<int64_t>{16, 9, 3, 3}));
  torch::NoGradGuard no_grad;
  net->eval();
  const auto blocks = net->forward_blocks(torch::randn({2, 1, 512, 512}));
  EXPECT_EQ(blocks.front().sizes(), (std::vector<int64_t>{2, 16, 64, 64}));
  // A size not divisible by the pool still runs (maps trimmed to the common size).
  EXPECT_EQ(net->forward(torch::randn({1, 1, 130, 130})).at("labels").sizes(),
            (std::vector<int64_t>{1, 6}));
  // FLOPs: the stem adds 2·64·8 per 128² output pixel, and block 1 sees 9 input channels.
  auto plain = arch;
  plain.stem_conv = 0;
  const double extra = estimate_flops(arch, {"labels"}, 512) - estimate_flops(plain, {"labels"}, 512);
  EXPECT_DOUBLE_EQ(extra, 2.0 * 64 * 8 * 128 * 128 + 2.0 * 9 * 8 * 16 * 64 * 64);
  // Invalid combinations name the option.
  for (int64_t pool : {1, 3}) {
    auto bad = arch;
    bad.stem_pool = pool;
    EXPECT_THROW(validate(bad), ConfigError) << pool;
  }
  auto vgg = default_architecture("vgg16");
  vgg.stem_conv = 4;
  EXPECT_THROW(validate(vgg), ConfigError);
  // The sidecar keeps it.
  ModelMetadata meta = default_metadata("compact", {"labels"});
  meta.architecture = arch;
  EXPECT_EQ(metadata_from_json(to_json(meta), "m.json").architecture.stem_conv, 8);
}

TEST_F(Models, Vgg16HeadShapesAndBlocks) {
  TriageNet net(default_architecture("vgg16"), kAllHeads);
  torch::NoGradGuard no_grad;
  expect_head_shapes(net->forward(torch::randn({2, 1, 64, 64})), 2);
  const auto blocks = net->forward_blocks(torch::randn({1, 1, 64, 64}));
  ASSERT_EQ(blocks.size(), 5u);
  EXPECT_EQ(blocks.back().sizes(), (std::vector<int64_t>{1, 512, 2, 2}));
  int n_convs = 0;
  for (const auto& p : net->named_parameters())
    if (p.key().find("conv") != std::string::npos && p.key().find("weight") != std::string::npos)
      ++n_convs;
  EXPECT_EQ(n_convs, 13);
  EXPECT_THROW(TriageNet(default_architecture("vgg16"), std::vector<std::string>{"dogs"}),
               ConfigError);
}

TEST_F(Models, MaskedLossIgnoresMissingLabels) {
  TriageNet net(default_architecture("compact"), kAllHeads);
  torch::NoGradGuard no_grad;
  const auto out = net->forward(torch::randn({4, 1, 32, 32}));
  auto make = [](float masked_value) {
    Targets t;
    const int64_t q3 = std::isnan(masked_value) ? -1 : static_cast<int64_t>(masked_value);
    t["quality"] = {torch::tensor(std::vector<int64_t>{0, 3, 4, q3}),
                    torch::tensor({1, 1, 1, 0})};
    auto labels = torch::zeros({4, 6});
    labels[1][2] = 1;
    labels[3].fill_(masked_value);
    t["labels"] = {labels, torch::tensor({1.0f, 1.0f, 1.0f, 0.0f})};
    // mosaic2 only where multilattice: per-element mask.
    auto mosaic = torch::full({4, 2}, 0.3f);
    mosaic[0][1] = masked_value;
    t["mosaic"] = {mosaic, torch::tensor({{1.0f, 0.0f}, {1.0f, 1.0f}, {1.0f, 1.0f}, {1.0f, 1.0f}})};
    t["ice"] = {torch::tensor({1.0f, 0.0f, masked_value, 1.0f}), torch::tensor({1, 1, 0, 1})};
    return t;
  };
  const auto a = compute_losses(out, make(0.0f));
  const auto b = compute_losses(out, make(NAN));
  const auto c = compute_losses(out, make(-7.0f));
  for (const auto& [name, loss] : a.per_head) {
    EXPECT_FLOAT_EQ(loss.item<float>(), b.per_head.at(name).item<float>()) << name;
    EXPECT_FLOAT_EQ(loss.item<float>(), c.per_head.at(name).item<float>()) << name;
    EXPECT_TRUE(std::isfinite(loss.item<float>())) << name;
  }
  EXPECT_FLOAT_EQ(a.total.item<float>(), b.total.item<float>());
  EXPECT_EQ(a.n_valid.at("labels"), 18);
  EXPECT_EQ(a.n_valid.at("mosaic"), 7);
  EXPECT_EQ(a.per_head.count("multilattice"), 0u);  // no targets: no loss

  // A head with no valid sample contributes exactly 0, not NaN.
  Targets none;
  none["labels"] = {torch::full({4, 6}, NAN), torch::zeros({4})};
  none["ice"] = {torch::ones({4}), torch::zeros({4}, torch::kBool)};
  const auto z = compute_losses(out, none);
  EXPECT_EQ(z.per_head.at("labels").item<float>(), 0.0f);
  EXPECT_EQ(z.total.item<float>(), 0.0f);
  // pos_weight changes the labels loss; a shape mismatch names the head.
  LossOptions opts;
  opts.labels_pos_weight = torch::full({6}, 3.0f);
  EXPECT_NE(compute_losses(out, make(0.0f), opts).per_head.at("labels").item<float>(),
            a.per_head.at("labels").item<float>());
  Targets wrong;
  wrong["labels"] = {torch::zeros({4, 5}), {}};
  EXPECT_THROW(compute_losses(out, wrong), ConfigError);
}

TEST_F(Models, MosaicLossIsAnEnumParsedByName) {
  for (const auto loss : {MosaicLoss::kMse, MosaicLoss::kL1}) {
    EXPECT_EQ(parse_mosaic_loss(mosaic_loss_name(loss)), loss);
  }
  EXPECT_STREQ(mosaic_loss_name(MosaicLoss::kL1), "l1");
  try {
    (void)parse_mosaic_loss("huber");
    ADD_FAILURE() << "huber accepted";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "mosaic_loss: unknown value 'huber' (accepted: mse, l1)");
  }
  // Every element off by the same d: L1 gives d, MSE d².
  HeadOutputs out;
  out["mosaic"] = torch::zeros({2, 2});
  Targets t;
  t["mosaic"] = {torch::full({2, 2}, 0.3f), {}};
  LossOptions l1;
  l1.mosaic_loss = MosaicLoss::kL1;
  const float d = compute_losses(out, t, l1).per_head.at("mosaic").item<float>();
  const float d2 = compute_losses(out, t).per_head.at("mosaic").item<float>();  // kMse default
  EXPECT_GT(d, 0.0f);
  EXPECT_NEAR(d2, d * d, 1e-6);
  LossOptions bad;
  bad.mosaic_loss = static_cast<MosaicLoss>(5);
  EXPECT_THROW(compute_losses(out, t, bad), ConfigError);
}

TEST_F(Models, FrozenBlocksStayBitIdenticalAfterAnAdamStep) {
  TriageNet net(default_architecture("compact"), std::vector<std::string>{"labels"});
  net->freeze_blocks(2);
  net->train();
  EXPECT_FALSE(net->block(0)->is_training());
  EXPECT_FALSE(net->block(1)->is_training());
  EXPECT_TRUE(net->block(2)->is_training());
  std::map<std::string, torch::Tensor> before;
  for (const auto& p : net->named_parameters()) before[p.key()] = p.value().clone();
  for (const auto& b : net->named_buffers()) before[b.key()] = b.value().clone();
  std::vector<torch::Tensor> trainable;
  for (const auto& p : net->parameters())
    if (p.requires_grad()) trainable.push_back(p);
  torch::optim::Adam adam(trainable, torch::optim::AdamOptions(1e-2));
  Targets t;
  t["labels"] = {torch::randint(0, 2, {8, 6}).to(torch::kFloat32), {}};
  auto loss = compute_losses(net->forward(torch::randn({8, 1, 64, 64})), t).total;
  loss.backward();
  adam.step();
  for (const auto& p : net->named_parameters()) {
    const bool frozen = p.key().rfind("block1.", 0) == 0 || p.key().rfind("block2.", 0) == 0;
    EXPECT_EQ(frozen, !p.value().requires_grad()) << p.key();
    EXPECT_EQ(frozen, torch::equal(p.value(), before.at(p.key()))) << p.key();
  }
  // Frozen BatchNorm statistics are not updated by training-mode forwards.
  EXPECT_TRUE(torch::equal(net->named_buffers()["block1.bn1.running_mean"],
                           before.at("block1.bn1.running_mean")));
  EXPECT_FALSE(torch::equal(net->named_buffers()["block3.bn1.running_mean"],
                            before.at("block3.bn1.running_mean")));
  EXPECT_THROW(net->freeze_blocks(5), ConfigError);
}

ModelMetadata small_meta(const std::vector<std::string>& heads) {
  auto m = default_metadata("compact", heads);
  m.preprocess.input_size = 32;
  m.metrics = {{"val_accuracy", 0.9}};
  return m;
}

TEST_F(Models, CheckpointRoundTripGivesIdenticalOutputs) {
  const auto meta = small_meta(kAllHeads);
  auto net = make_network(meta);
  // Non-trivial BN statistics, then eval.
  {
    torch::NoGradGuard no_grad;
    net->train();
    net->forward(torch::randn({4, 1, 32, 32}) * 3 + 1);
  }
  net->eval();
  const auto x = torch::randn({3, 1, 32, 32});
  torch::NoGradGuard no_grad;
  const auto expected = net->forward(x);
  for (const fs::path& path : {dir_ / "model", dir_ / "named.pt"}) {
    save_checkpoint(path, net, meta);
    auto loaded = load_checkpoint(path);
    EXPECT_EQ(loaded.metadata.heads, meta.heads);
    EXPECT_EQ(loaded.metadata.metrics["val_accuracy"], 0.9);
    const auto got = loaded.model->forward(x);
    for (const auto& [name, t] : expected) EXPECT_TRUE(torch::equal(t, got.at(name))) << name;
  }
  EXPECT_TRUE(fs::exists(dir_ / "model" / "model.pt"));
  EXPECT_TRUE(fs::exists(dir_ / "model" / "model.json"));
  EXPECT_TRUE(fs::exists(dir_ / "named.json"));
  // Torch-free classifier on the saved model.
  const auto clf = Classifier::load(dir_ / "model");
  const auto p = clf.classify(AnyImage(Image<uint16_t>(40, 40, 3)));
  EXPECT_EQ(p.quality_probabilities.size(), 5u);
  EXPECT_EQ(p.label_decisions.size(), 6u);
  EXPECT_EQ(p.binary.size(), 2u);
  // Metadata that does not describe the model is refused.
  auto other = meta;
  other.heads = {"labels"};
  EXPECT_THROW(save_checkpoint(dir_ / "x", net, other), ConfigError);
}

void expect_model_error(const fs::path& path, const std::string& fragment) {
  try {
    load_checkpoint(path);
    ADD_FAILURE() << "no ModelError for " << path;
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST_F(Models, CorruptOrMismatchedCheckpointsAreModelErrors) {
  const auto meta = small_meta({"labels"});
  auto net = make_network(meta);
  const auto good = dir_ / "good";
  save_checkpoint(good, net, meta);
  const std::string weights = read_file(good / "model.pt");
  const std::string sidecar = read_file(good / "model.json");
  auto variant = [&](const std::string& name, const std::string& w, const std::string& s) {
    fs::create_directories(dir_ / name);
    if (!w.empty()) write_file_atomically(dir_ / name / "model.pt", w);
    if (!s.empty()) write_file_atomically(dir_ / name / "model.json", s);
    return dir_ / name;
  };
  expect_model_error(dir_ / "nothing", "model.json");
  expect_model_error(variant("no_weights", "", sidecar), "model.pt");
  expect_model_error(variant("truncated", weights.substr(0, weights.size() / 2), sidecar),
                     "model.pt");
  std::string flipped = weights;
  flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x5a);
  expect_model_error(variant("flipped", flipped, sidecar), "checksum");
  expect_model_error(variant("bad_json", weights, sidecar.substr(0, 40)), "model.json");
  auto j = nlohmann::json::parse(sidecar);
  auto v = j;
  v["format_version"] = 2;
  expect_model_error(variant("version", weights, v.dump()), "format_version");
  v = j;
  v["architecture"]["name"] = "vgg16";
  v["architecture"]["widths"] = {64, 128, 256, 512, 512};
  expect_model_error(variant("arch", weights, v.dump()), "model.pt");
  v = j;
  v["architecture"]["widths"] = {16, 32, 64, 128};  // same names, other shapes
  expect_model_error(variant("shapes", weights, v.dump()), "shape");
  v = j;
  v.erase("weights");  // no checksum: the archive reader itself must fail cleanly
  expect_model_error(variant("garbage", std::string(4096, 'x'), v.dump()), "model.pt");
}

TEST_F(Models, TransferCopiesTheTrunkAndFreezes) {
  const auto src_meta = small_meta({"quality"});
  auto src = make_network(src_meta);
  save_checkpoint(dir_ / "src", src, src_meta);
  torch::manual_seed(99);
  auto dst = make_network(small_meta({"labels", "ice"}));
  const auto report = init_from_checkpoint(dst, dir_ / "src");
  EXPECT_FALSE(report.copied.empty());
  EXPECT_TRUE(report.shape_mismatch.empty());
  for (const auto& name : report.copied) EXPECT_EQ(name.rfind("block", 0), 0u) << name;
  for (const auto& name : report.missing) EXPECT_EQ(name.rfind("head_", 0), 0u) << name;
  EXPECT_TRUE(torch::equal(dst->named_parameters()["block4.conv2.weight"],
                           src->named_parameters()["block4.conv2.weight"]));
  freeze_blocks(dst, 4);
  for (const auto& p : dst->named_parameters())
    EXPECT_EQ(p.value().requires_grad(), p.key().rfind("head_", 0) == 0) << p.key();
}

// 32 synthetic 64² frames: noisy background, half with a few bright 2×2 spots.
TEST_F(Models, CompactOverfitsSpotsVersusBlank) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> noise(80, 120), pos(2, 60), n_spots(2, 5);
  std::vector<AnyImage> frames;
  std::vector<float> has_spots;
  for (int i = 0; i < 32; ++i) {
    Image<uint16_t> img(64, 64);
    for (auto& p : img.pixels()) p = static_cast<uint16_t>(noise(rng));
    const bool spots = i % 2 == 0;
    if (spots) {
      for (int k = n_spots(rng); k > 0; --k) {
        const int s = pos(rng), f = pos(rng);
        for (int a = 0; a < 2; ++a)
          for (int b = 0; b < 2; ++b) img(s + a, f + b) = 600;
      }
    }
    frames.emplace_back(std::move(img));
    has_spots.push_back(spots ? 0.0f : 1.0f);  // "blank" head: 1 = no spots
  }
  PreprocessOptions pre_options;
  pre_options.input_size = 64;
  const auto x = Preprocessor(pre_options).preprocess_batch(frames);
  const auto y = torch::tensor(has_spots).unsqueeze(1);
  auto arch = default_architecture("compact");
  TriageNet net(arch, std::vector<std::string>{"blank"});
  torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(3e-3));
  Targets t;
  t["blank"] = {y, {}};
  net->train();
  for (int step = 0; step < 60; ++step) {
    adam.zero_grad();
    auto loss = compute_losses(net->forward(x), t).total;
    loss.backward();
    adam.step();
  }
  net->eval();
  torch::NoGradGuard no_grad;
  const auto pred = (torch::sigmoid(net->forward(x).at("blank")) >= 0.5).to(torch::kFloat32);
  const double accuracy = pred.eq(y).to(torch::kFloat32).mean().item<double>();
  EXPECT_GE(accuracy, 0.95);
}

}  // namespace
}  // namespace difftriage::models
