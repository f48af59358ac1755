// Tests of difftriage::explain: dead maps of a deliberately zeroed block, Grad-CAM of a model
// that only sees one quadrant, shell profiles of a frame holding only an ice ring, the
// file-level explain_model and its errors. Fixed seeds, tiny networks.
#include "difftriage/explain/explain.h"

#include <gtest/gtest.h>
#include <torch/utils.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>

#include "difftriage/core/error.h"
#include "difftriage/explain/attribution.h"
#include "difftriage/explain/spot_overlay.h"
#include "difftriage/features/evidence_stage.h"
#include "difftriage/io/image_io.h"
#include "difftriage/models/checkpoint.h"
#include "difftriage/models/preprocess.h"
#include "difftriage/simulate/simulate.h"
#include "support/test_support.h"

namespace difftriage::explain {
namespace {

models::ModelMetadata tiny_metadata(std::vector<std::string> heads,
                                    std::vector<int64_t> widths = {8, 16, 16}) {
  auto meta = models::default_metadata("compact", std::move(heads));
  meta.architecture.widths = std::move(widths);
  meta.architecture.head_hidden = 8;
  meta.preprocess.input_size = 64;
  return meta;
}

models::TriageNet tiny_net(const models::ModelMetadata& meta, uint64_t seed) {
  torch::manual_seed(seed);
  auto net = models::make_network(meta);
  net->eval();
  return net;
}

TEST(DeadMaps, ZeroedBlockIsReportedFullyDead) {
  const auto meta = tiny_metadata({"labels"});
  auto net = tiny_net(meta, 1);
  {
    torch::NoGradGuard no_grad;
    // Zero every conv of block2: with BatchNorm at its initial identity (running mean 0, bias
    // 0) the block outputs exactly 0 after its ReLU.
    for (auto& p : net->block(1)->named_parameters())
      if (p.key().rfind("conv", 0) == 0) p.value().zero_();
  }
  torch::manual_seed(7);
  DeadMapAccumulator acc(*net);
  acc.add(torch::randn({5, 1, 64, 64}), 1e-6);
  acc.add(torch::randn({3, 1, 64, 64}), 1e-6);
  const auto r = acc.report(1e-6, 0.99);
  ASSERT_EQ(r.blocks.size(), 3u);
  EXPECT_EQ(r.n_images, 8);
  EXPECT_EQ(r.blocks[0].block, "block1");
  EXPECT_LT(r.blocks[0].dead_fraction, 0.5);
  EXPECT_GT(r.blocks[0].mean_activation_all, 0.0);
  EXPECT_EQ(r.blocks[1].n_channels, 16);
  EXPECT_EQ(r.blocks[1].n_dead, 16);
  EXPECT_DOUBLE_EQ(r.blocks[1].dead_fraction, 1.0);
  EXPECT_DOUBLE_EQ(r.blocks[1].mean_activation_all, 0.0);
  for (double f : r.blocks[1].dead_on_fraction) EXPECT_DOUBLE_EQ(f, 1.0);
  // Everything after a dead block sees zeros (no conv bias, identity BN): dead too.
  EXPECT_DOUBLE_EQ(r.blocks[2].dead_fraction, 1.0);
  const auto j = to_json(r);
  EXPECT_EQ(j["blocks"][1]["n_dead"], 16);
}

TEST(DeadMaps, ThresholdCountsImages) {
  const auto meta = tiny_metadata({"labels"}, {4});
  auto net = tiny_net(meta, 2);
  DeadMapAccumulator acc(*net);
  // Hand-made block outputs: channel 0 always 0, channel 1 zero on 1 of 2 images, 2 and 3 on.
  auto t = torch::ones({2, 4, 2, 2});
  t.select(1, 0).zero_();
  t[0][1].zero_();
  acc.add_blocks({t}, 0.0);
  const auto r = acc.report(0.0, 0.99);
  EXPECT_EQ(r.blocks[0].n_dead, 1);
  EXPECT_DOUBLE_EQ(r.blocks[0].dead_on_fraction[1], 0.5);
  EXPECT_EQ(acc.report(0.0, 0.5).blocks[0].n_dead, 2);
  EXPECT_DOUBLE_EQ(r.blocks[0].mean_activation[1], 0.5);
}

// A model that only sees one quadrant: the wrapper multiplies the input by a quadrant mask
// before the trunk. Grad-CAM works on the trunk's last block, after the mask, so Grad-CAM of the
// wrapped model is Grad-CAM of the TriageNet on the masked input. Weights are made positive so
// the output grows with every activation (a well-defined "evidence" everywhere the model sees).
torch::Tensor quadrant_mask(int64_t size, int quadrant) {
  auto m = torch::zeros({1, 1, size, size});
  const int64_t h = size / 2;
  const int64_t r0 = quadrant / 2 * h, c0 = quadrant % 2 * h;
  m.slice(2, r0, r0 + h).slice(3, c0, c0 + h).fill_(1.0);
  return m;
}

double mass_in(const torch::Tensor& map, const torch::Tensor& mask) {
  return (map * mask[0][0]).sum().item<double>() / map.sum().item<double>();
}

TEST(GradCam, QuadrantModelPutsMassInItsQuadrant) {
  const auto meta = tiny_metadata({"ice", "labels"}, {8, 16});
  auto net = tiny_net(meta, 3);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : net->named_parameters()) {
      if (p.key().find(".bias") != std::string::npos && p.key().find("head") != std::string::npos)
        p.value().zero_();
      else if (p.key().find("bn") == std::string::npos)
        p.value().abs_();
    }
  }
  torch::manual_seed(11);
  const auto frame = torch::rand({1, 1, 128, 128}) * 0.5 + 0.5;
  for (int q : {0, 3}) {
    const auto mask = quadrant_mask(128, q);
    const auto x = frame * mask;  // the wrapper
    const auto cam = grad_cam(net, x, "ice", 0);
    ASSERT_EQ(cam.sizes(), (std::vector<int64_t>{128, 128}));
    EXPECT_NEAR(cam.max().item<double>(), 1.0, 1e-6);
    EXPECT_GT(mass_in(cam, mask), 0.85) << "quadrant " << q;
    // Grad-CAM at the first block (finer cells) too.
    EXPECT_GT(mass_in(grad_cam(net, x, "ice", 0, 0), mask), 0.85) << "quadrant " << q;
    // Gradient x input is exactly zero where the model sees nothing.
    const auto gxi = gradient_times_input(net, x, "labels", 4);
    EXPECT_NEAR(mass_in(gxi, mask), 1.0, 1e-9);
  }
  const auto all = grad_cam_all(net, frame * quadrant_mask(128, 1), meta);
  ASSERT_EQ(all.size(), 7u);  // ice + 6 labels
  EXPECT_EQ(all[0].first, "ice/ice");
  EXPECT_EQ(all[5].first, "labels/ice");
  for (const auto& [name, cam] : all) EXPECT_GT(mass_in(cam, quadrant_mask(128, 1)), 0.85) << name;
  EXPECT_THROW(grad_cam(net, frame, "quality", 0), ConfigError);
  EXPECT_THROW(grad_cam(net, frame, "labels", 6), ConfigError);
  const auto rgb = overlay_rgb(frame[0][0], all[0].second);
  EXPECT_EQ(rgb.size(), 128u * 128u * 3u);
}

// A 512² frame holding only a hexagonal-ice (002) ring at d = 3.669 Å.
Image<float> ice_ring_frame(double d, const DetectorGeometry& g) {
  Image<float> img(512, 512, 0.0f);
  img.metadata().beam_center_slow_px = 250.0;
  img.metadata().beam_center_fast_px = 262.0;
  img.metadata().wavelength_angstrom = g.wavelength_angstrom;
  img.metadata().distance_mm = g.distance_mm;
  img.metadata().pixel_size_mm = g.pixel_size_mm;
  const double r0 = g.radius_px_for_resolution(d).value();
  for (int64_t s = 0; s < 512; ++s) {
    for (int64_t f = 0; f < 512; ++f) {
      const double r = std::hypot(s + 0.5 - 250.0, f + 0.5 - 262.0);
      img.data()[s * 512 + f] =
          static_cast<float>(100.0 * std::exp(-0.5 * std::pow((r - r0) / 1.5, 2)));
    }
  }
  return img;
}

TEST(Shells, IceRingFramePeaksAtTheRingResolution) {
  // The frame's beam centre (262, 250) is in its metadata; the shells take it from the mapping.
  const DetectorGeometry g{1.0, 150.0, 0.172, 262.0, 250.0, 512, 512};
  const double d_ring = 3.669;
  const double r_ring = g.radius_px_for_resolution(d_ring).value();
  ASSERT_GT(r_ring, 200.0);
  ASSERT_LT(r_ring, 245.0);
  const auto frame = ice_ring_frame(d_ring, g);
  models::PreprocessOptions po;
  po.mode = models::InputMode::kBinMax;
  po.input_size = 128;
  po.transform = models::IntensityTransform::kLinear;
  po.normalization = models::Normalization::kNone;
  const models::Preprocessor pre(po);
  const auto x = pre.preprocess(AnyImage(frame)).contiguous();  // [1,128,128]
  const auto mapping = input_mapping(po, 512, 512, &frame.metadata());
  EXPECT_DOUBLE_EQ(mapping.region_side_px, 512.0);
  EXPECT_DOUBLE_EQ(mapping.center_fast_px, 262.0);

  const auto p = shell_profile(x.data_ptr<float>(), mapping, g, 48);
  ASSERT_TRUE(p.has_resolution);
  const auto k = p.peak_shell();
  const double width = p.inverse_d[1] - p.inverse_d[0];
  EXPECT_NEAR(p.inverse_d[static_cast<size_t>(k)], 1.0 / d_ring, width)
      << "peak d " << p.d_angstrom[k];
  EXPECT_GT(p.mass_fraction[static_cast<size_t>(k)], 0.3);
  const auto kd =
      std::max_element(p.mean_per_pixel.begin(), p.mean_per_pixel.end()) - p.mean_per_pixel.begin();
  EXPECT_LE(std::abs(kd - k), 1);  // density and mass peak in the same or the next shell

  // Without geometry: radius shells in original-frame pixels.
  const auto q = shell_profile(x.data_ptr<float>(), mapping, std::nullopt, 64);
  ASSERT_FALSE(q.has_resolution);
  const double rw = q.radius_px[1] - q.radius_px[0];
  EXPECT_NEAR(q.radius_px[static_cast<size_t>(q.peak_shell())], r_ring, rw);

  EXPECT_THROW(shell_profile(x.data_ptr<float>(), mapping,
                             DetectorGeometry{0, 1, 1, 256, 256, 512, 512}, 8),
               ConfigError);
  EXPECT_THROW(shell_profile(x.data_ptr<float>(), mapping, g, 0), ConfigError);
}

class ExplainModel : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto meta = tiny_metadata({"labels", "ice"}, {8, 16});
    auto net = tiny_net(meta, 5);
    models::save_checkpoint(dir_ / "model", net, meta);
    Image<uint8_t> img(96, 96, 3);
    for (int64_t i = 0; i < img.size(); ++i) img.data()[i] = static_cast<uint8_t>((i * 37) % 251);
    io::write_png(dir_ / "frame.png", img.view());
  }
  testing::TempDir dir_;
};

TEST_F(ExplainModel, WritesEveryPictureAndTheIndex) {
  ExplainOptions o;
  o.geometry = DetectorGeometry{1.0, 100.0, 0.172, 48.0, 48.0, 0, 0};
  const auto out = dir_ / "out";
  const auto s = explain_model(dir_ / "model", {dir_ / "frame.png"}, out, std::nullopt, o);
  for (const char* f :
       {"index.html", "dead_maps.json", "shells.json", "dead_maps.png", "filters/block1_conv1.png",
        "image1/input.png", "image1/maps_block2.png", "image1/gradcam_labels_ice.png",
        "image1/gradcam_ice_ice.png", "image1/shells_ice.png", "image1/shells_gxi_labels.png"}) {
    EXPECT_TRUE(std::filesystem::exists(out / f)) << f;
  }
  EXPECT_EQ(s.dead_maps.n_images, 1);
  ASSERT_EQ(s.shell_profiles.size(), 1u);
  EXPECT_EQ(s.shell_profiles[0].size(), 7u);
  ASSERT_EQ(s.gradient_input_profiles.size(), 1u);
  EXPECT_EQ(s.gradient_input_profiles[0].size(), 7u);
  EXPECT_EQ(s.gradient_input_profiles[0][0].first, "labels/blank");
  const auto html = testing::read_bytes(out / "index.html");
  EXPECT_NE(html.find("<table>"), std::string::npos);
  EXPECT_NE(html.find("image1/gradcam_labels_multilattice.png"), std::string::npos);
  EXPECT_NE(html.find("filters/block2_conv1.png"), std::string::npos);
}

TEST_F(ExplainModel, BadPathsAreClearErrors) {
  const auto out = dir_ / "out";
  ExplainOptions o;
  o.plots = false;
  try {
    explain_model(dir_ / "nope", {dir_ / "frame.png"}, out, std::nullopt, o);
    FAIL() << "no throw";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("nope"), std::string::npos) << e.what();
  }
  try {
    explain_model(dir_ / "model", {dir_ / "missing.png"}, out, std::nullopt, o);
    FAIL() << "no throw";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("missing.png"), std::string::npos) << e.what();
  }
  EXPECT_THROW(explain_model(dir_ / "model", {dir_ / "frame.png"}, out, dir_ / "no_data", o),
               IoError);
  EXPECT_THROW(explain_model(dir_ / "model", {}, out, std::nullopt, o), ConfigError);
  o.cam_block = 3;  // the tiny model has 2 blocks
  EXPECT_THROW(explain_model(dir_ / "model", {dir_ / "frame.png"}, out, std::nullopt, o),
               ConfigError);
  o.cam_block = 0;
  o.n_filters = 0;
  EXPECT_THROW(explain_model(dir_ / "model", {dir_ / "frame.png"}, out, std::nullopt, o),
               ConfigError);
}

TEST_F(ExplainModel, AGeometrysBeamCentreIsTheShellsOrigin) {
  ExplainOptions o;
  o.plots = false;
  o.gradient_input = false;
  const auto masses = [&](const ExplainOptions& options, const char* out) {
    const auto s = explain_model(dir_ / "model", {dir_ / "frame.png"}, dir_ / out, std::nullopt,
                                 options);
    std::vector<std::vector<double>> m;
    for (const auto& [name, p] : s.shell_profiles.at(0)) {
      EXPECT_TRUE(p.has_resolution) << name;
      m.push_back(p.mass);
    }
    return m;
  };
  // The PNG has no metadata: the frame's beam centre is its centre (48, 48).
  o.geometry = DetectorGeometry{1.0, 100.0, 0.172, 48.0, 48.0, 96, 96};
  const auto centred = masses(o, "a");
  o.geometry->beam_center_fast_px = o.geometry->beam_center_slow_px = 10.0;
  const auto off_centre = masses(o, "b");
  EXPECT_NE(centred, off_centre);
  o.geometry_beam_center_from_frame = true;  // the 10, 10 is ignored: the frame's centre
  EXPECT_EQ(masses(o, "c"), centred);
  // A size in the geometry must be the frame's.
  o.geometry = DetectorGeometry{1.0, 100.0, 0.172, 48.0, 48.0, 128, 96};
  try {
    explain_model(dir_ / "model", {dir_ / "frame.png"}, dir_ / "d", std::nullopt, o);
    FAIL() << "no throw";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("frame.png"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("n_fast"), std::string::npos) << e.what();
  }
  o.geometry = DetectorGeometry{1.0, -100.0, 0.172, 48.0, 48.0, 0, 0};
  try {
    explain_model(dir_ / "model", {dir_ / "frame.png"}, dir_ / "e", std::nullopt, o);
    FAIL() << "no throw";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("geometry: distance_mm"), std::string::npos) << e.what();
  }
}

TEST_F(ExplainModel, CliTakesAGeometryFile) {
  ASSERT_TRUE(std::filesystem::exists(testing::cli_path())) << "CLI not built: " << testing::cli_path();
  const auto base = std::vector<std::string>{"explain",  "--model", (dir_ / "model").string(),
                                             "--images", (dir_ / "frame.png").string(),
                                             "--no-plots", "--no-gradient-input"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return testing::run_cli(args);
  };
  testing::write_text(dir_ / "g.json",
                      R"({"wavelength_angstrom": 1.0, "distance_mm": 100, "pixel_size_mm": 0.172,
                          "beam_center_fast_px": 48, "beam_center_slow_px": 48})");
  const auto ok = with({"--out", (dir_ / "ok").string(), "--geometry", (dir_ / "g.json").string()});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  const auto shells = testing::read_bytes(dir_ / "ok" / "shells.json");
  EXPECT_NE(shells.find("\"inverse_d\""), std::string::npos);
  const auto run = nlohmann::json::parse(testing::read_bytes(dir_ / "ok" / "run.json"));
  const auto geometry = run["options"]["geometry"];
  ASSERT_TRUE(geometry.is_object()) << run.dump();
  EXPECT_DOUBLE_EQ(geometry["beam_center_fast_px"].get<double>(), 48.0);

  testing::write_text(dir_ / "bad.json",
                      R"({"wavelength_angstrom": 1.0, "distance_mm": 100, "pixel_size_mm": 0.172,
                          "beam_center_fast_px": 48, "beam_center_slow_px": 48, "clen": 1})");
  const auto bad = with({"--out", (dir_ / "bad").string(), "--geometry",
                         (dir_ / "bad.json").string()});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("clen"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("bad.json"), std::string::npos) << bad.err;

  const auto both = with({"--out", (dir_ / "both").string(), "--geometry",
                          (dir_ / "g.json").string(), "--wavelength", "1", "--distance", "100",
                          "--pixel-size", "0.172"});
  EXPECT_EQ(both.exit_code, 2) << both.err;
}

TEST(SpotOverlay, CirclesEachPeakInTheColourOfItsRole) {
  Image<uint16_t> img(200, 300);
  std::vector<uint8_t> mask(static_cast<size_t>(img.size()), 0);
  for (int64_t f = 0; f < 300; ++f) mask[static_cast<size_t>(199 * 300 + f)] = 1;  // last row
  img.set_mask(mask);
  // Two peaks found at binning 2 (binned pixel-edge coordinates): a Bragg peak and a weak one;
  // no geometry, so their SNR alone decides the role.
  features::Peak bragg{50.5, 40.5, 100, 50}, weak{100.5, 60.5, 10, 5};
  const RgbPicture pic = draw_peaks(AnyImage(img), {bragg, weak}, 2, std::nullopt, {}, 1024);
  ASSERT_EQ(pic.n_slow, 200);
  ASSERT_EQ(pic.n_fast, 300);
  auto colour = [&](int64_t s, int64_t f) {
    const size_t i = static_cast<size_t>(3 * (s * pic.n_fast + f));
    return std::array<uint8_t, 3>{pic.rgb[i], pic.rgb[i + 1], pic.rgb[i + 2]};
  };
  // The circles (radius 5) around frame pixel (101, 81) and (201, 121): right-most points.
  EXPECT_EQ(colour(81, 106), role_colour(features::PeakRole::kBragg));
  EXPECT_EQ(colour(121, 206), role_colour(features::PeakRole::kWeak));
  EXPECT_EQ(colour(81, 101), (std::array<uint8_t, 3>{0, 0, 0}));  // inside: the (zero) frame
  EXPECT_EQ(colour(199, 10), (std::array<uint8_t, 3>{0, 0, 90}));  // masked: dark blue
  // A frame larger than max_side_px is binned for display; the peak stays on its pixel.
  const RgbPicture small = draw_peaks(AnyImage(img), {bragg}, 2, std::nullopt, {}, 100);
  EXPECT_EQ(small.n_fast, 100);
  EXPECT_EQ(small.n_slow, 66);
  const size_t i = static_cast<size_t>(3 * (27 * 100 + 38));  // (81/3, 101/3 + 5)
  EXPECT_EQ(small.rgb[i], 255);
  EXPECT_THROW(draw_peaks(AnyImage(img), {}, 0, std::nullopt), ConfigError);
  EXPECT_THROW(draw_peaks(AnyImage(Image<uint16_t>(0, 0)), {}, 1, std::nullopt), ConfigError);
}

TEST_F(ExplainModel, SpotEvidenceOfASimulatedCrystalFrame) {
  // A strong photo1 frame of the simulator, its geometry given (the PNG carries none).
  simulate::SimulateOptions so;
  so.seed = 42;
  so.mix.blank = so.mix.noxtal = so.mix.weak = so.mix.good = 0.0;
  so.mix.photo2 = so.mix.both = 0.0;
  const simulate::SimulatedFrame f = simulate::simulate_frame(so, 0);
  io::write_png(dir_ / "crystal.png", f.image.view());
  const DetectorGeometry g = simulate::output_geometry(f.spec);
  ExplainOptions o;
  o.plots = true;
  o.grad_cam = false;
  o.geometry = g;
  o.geometry->n_fast = o.geometry->n_slow = 0;  // any size: frame.png (96²) is explained too
  const auto stage = std::make_shared<const features::EvidenceStage>(
      features::GeometrySource{}, features::SpotEvidence(features::preset_candidate_cells()));
  o.evidence = stage;
  const auto out = dir_ / "ev";
  const auto s = explain_model(dir_ / "model", {dir_ / "crystal.png", dir_ / "frame.png"}, out,
                               std::nullopt, o);
  ASSERT_EQ(s.evidence.size(), 2u);
  // The same evidence as the triage's stage measures with that geometry, plus its peaks.
  const AnyImage frame = io::read_image(dir_ / "crystal.png");
  GeometryLookup lookup;
  lookup.geometry = g.with_frame_size(f.image.n_fast(), f.image.n_slow());
  const auto direct = stage->measure(frame, lookup);
  const features::FrameEvidence& e = s.evidence[0].evidence;
  EXPECT_TRUE(e.has_geometry);
  EXPECT_EQ(e.lattice.n_peaks, direct.evidence.lattice.n_peaks);
  EXPECT_EQ(e.lattice.n_bragg_peaks, direct.evidence.lattice.n_bragg_peaks);
  EXPECT_EQ(e.cell_probabilities, direct.evidence.cell_probabilities);
  EXPECT_GE(e.lattice.n_bragg_peaks, 3);
  EXPECT_EQ(static_cast<int64_t>(e.peaks.size()), e.lattice.n_peaks);
  EXPECT_TRUE(direct.evidence.peaks.empty());  // kept only when asked
  for (const char* file : {"evidence.json", "image1/peaks.png", "image1/pair_lengths.png",
                           "image2/peaks.png"}) {
    EXPECT_TRUE(std::filesystem::exists(out / file)) << file;
  }
  const auto j = nlohmann::json::parse(testing::read_bytes(out / "evidence.json"));
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["n_bragg_peaks"], e.lattice.n_bragg_peaks);
  EXPECT_DOUBLE_EQ(j[0]["cell"]["p"]["photo1"].get<double>(), e.cell_probabilities[0]);
  EXPECT_TRUE(j[0]["geometry"].is_object());
  const auto html = testing::read_bytes(out / "index.html");
  EXPECT_NE(html.find("What the spots say"), std::string::npos);
  EXPECT_NE(html.find("image1/pair_lengths.png"), std::string::npos);

  // Without a geometry: the frame is measured, flagged, and its cell left out.
  o.geometry.reset();
  const auto t = explain_model(dir_ / "model", {dir_ / "crystal.png"}, dir_ / "ev2",
                               std::nullopt, o);
  ASSERT_EQ(t.evidence.size(), 1u);
  EXPECT_FALSE(t.evidence[0].evidence.has_geometry);
  EXPECT_EQ(t.evidence[0].evidence.lattice.n_peaks, e.lattice.n_peaks);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "ev2" / "image1" / "pair_lengths.png"));
  const auto j2 = nlohmann::json::parse(testing::read_bytes(dir_ / "ev2" / "evidence.json"));
  EXPECT_TRUE(j2[0]["cell"].is_null());
  EXPECT_TRUE(j2[0]["no_geometry_reason"].is_string());
}

TEST_F(ExplainModel, AFrameGeometryWinsOverGeometryUnlessOverridden) {
  // An SMV frame carries its own geometry (wavelength, distance, pixel size, beam centre).
  std::string smv =
      "{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\nTYPE=unsigned_short;\n"
      "SIZE1=96;\nSIZE2=96;\nPIXEL_SIZE=0.1;\nDISTANCE=200;\nWAVELENGTH=0.9;\n"
      "BEAM_CENTER_X=4.8;\nBEAM_CENTER_Y=4.8;\n}\n";
  smv.resize(512, ' ');
  for (int i = 0; i < 96 * 96; ++i) {
    smv.push_back(static_cast<char>(i % 7));
    smv.push_back('\0');
  }
  testing::write_text(dir_ / "frame.img", smv);
  ExplainOptions o;
  o.plots = false;
  o.grad_cam = false;
  o.geometry = DetectorGeometry{1.0, 100.0, 0.172, 48.0, 48.0, 0, 0};
  o.evidence = std::make_shared<const features::EvidenceStage>(
      features::GeometrySource{}, features::SpotEvidence(features::preset_candidate_cells()));
  const auto own = nlohmann::json::parse(testing::read_bytes(
      (explain_model(dir_ / "model", {dir_ / "frame.img"}, dir_ / "a", std::nullopt, o),
       dir_ / "a" / "evidence.json")));
  EXPECT_DOUBLE_EQ(own[0]["geometry"]["distance_mm"].get<double>(), 200.0);
  o.geometry_override = true;
  const auto given = nlohmann::json::parse(testing::read_bytes(
      (explain_model(dir_ / "model", {dir_ / "frame.img"}, dir_ / "b", std::nullopt, o),
       dir_ / "b" / "evidence.json")));
  EXPECT_DOUBLE_EQ(given[0]["geometry"]["distance_mm"].get<double>(), 100.0);
}

TEST_F(ExplainModel, CliExitsThreeOnABadModel) {
  ASSERT_TRUE(std::filesystem::exists(testing::cli_path())) << "CLI not built: " << testing::cli_path();
  const auto r =
      testing::run_cli({"explain", "--model", (dir_ / "nope").string(), "--images",
                        (dir_ / "frame.png").string(), "--out", (dir_ / "out").string()});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  const auto r2 = testing::run_cli({"explain", "--model", (dir_ / "model").string(), "--images",
                                    (dir_ / "frame.png").string(), "--out",
                                    (dir_ / "out2").string(), "--no-plots"});
  EXPECT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_TRUE(std::filesystem::exists(dir_ / "out2" / "index.html"));
}

}  // namespace
}  // namespace difftriage::explain
