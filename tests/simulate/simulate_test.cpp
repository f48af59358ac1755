// Whole-frame simulation: determinism, seeds, labels, quality targeting, mixes, truth sidecar,
// option errors. (The label files: generate_dataset_test.cpp.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "difftriage/core/error.h"
#include "difftriage/simulate/render.h"
#include "difftriage/simulate/simulate.h"
#include "difftriage/simulate/truth.h"
#include "support/test_support.h"

namespace difftriage::simulate {
namespace {

bool same_pixels(const Image<uint8_t>& a, const Image<uint8_t>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

TEST(Simulate, SameSeedSameBytesOtherSeedOtherBytes) {
  SimulateOptions options;
  options.seed = 1234;
  options.keep_full_frame = true;
  const SimulatedFrame a = simulate_frame(options, 3);
  const SimulatedFrame b = simulate_frame(options, 3);
  ASSERT_EQ(a.image.n_fast(), 512);
  ASSERT_EQ(a.image.n_slow(), 512);
  ASSERT_EQ(a.full_adu.n_fast(), 1024);
  EXPECT_TRUE(same_pixels(a.image, b.image));
  EXPECT_EQ(std::memcmp(a.full_adu.data(), b.full_adu.data(), a.full_adu.size() * sizeof(float)), 0);
  EXPECT_EQ(frame_truth_json(a).dump(), frame_truth_json(b).dump());
  options.seed = 1235;
  EXPECT_FALSE(same_pixels(a.image, simulate_frame(options, 3).image));
  options.seed = 1234;
  EXPECT_FALSE(same_pixels(a.image, simulate_frame(options, 4).image));
  EXPECT_EQ(frame_file_stem(0), "fake_00001");
  EXPECT_EQ(frame_file_stem(41), "fake_00042");
}

TEST(Simulate, LabelsFollowTheStudysSemanticsAndQualityIsMeasured) {
  SimulateOptions options;
  options.seed = 77;
  int n_crystal = 0, n_on_target = 0;
  for (int64_t i = 0; i < 30; ++i) {
    const SimulatedFrame f = simulate_frame(options, i);
    const FrameLabels& l = f.labels;
    EXPECT_EQ(l.blank, f.spec.crystals.empty());
    if (l.blank) {
      EXPECT_EQ(l.mosaic1, 0.0);
      EXPECT_FALSE(l.photo1 || l.photo2 || l.multilattice);
      EXPECT_TRUE(l.quality == Quality::kBlank || l.quality == Quality::kNoxtal);
      if (l.quality == Quality::kBlank) {
        EXPECT_FALSE(l.ice || f.spec.background.solvent);
      }
    } else {
      ++n_crystal;
      EXPECT_GT(l.mosaic1, 0.0);
      EXPECT_LE(l.mosaic1, 1.0);
      EXPECT_TRUE(l.photo1 || l.photo2);
      EXPECT_EQ(l.quality, quality_from_bright_spots(f.stats.n_bright));
      n_on_target += l.quality == f.spec.target_quality;
    }
    EXPECT_EQ(l.mosaic2 > 0.0, l.multilattice);
    EXPECT_LE(l.mosaic2, 1.0);
    if (l.badice) {
      EXPECT_TRUE(l.ice);
      // Saturating rings: the strongest ring's expected peak reaches ≥ 0.5× the overload level.
      EXPECT_GE(f.stats.ice_peak_photons * f.spec.detector.gain_adu_per_photon,
                0.5 * f.spec.detector.saturation_adu);
      EXPECT_GT(f.stats.n_8bit_255, 1000);
    }
  }
  EXPECT_GT(n_crystal, 10);
  EXPECT_GE(n_on_target, n_crystal - 2);  // targeting reaches the drawn class
}

TEST(Simulate, MixesAreDrawnInProportionAndValidated) {
  Rng rng(3);
  int counts[5] = {};
  int ice = 0, badice = 0;
  const Mix balanced = balanced_mix();
  for (int i = 0; i < 5000; ++i) {
    const FrameKind k = draw_frame_kind(balanced, rng);
    ++counts[static_cast<int>(k.quality)];
    ice += k.ice, badice += k.badice;
    if (k.badice) {
      EXPECT_TRUE(k.ice);
    }
    if (k.quality == Quality::kBlank) {
      EXPECT_FALSE(k.ice || k.solvent || k.crystal);
    }
  }
  for (int c : counts) EXPECT_NEAR(c / 5000.0, 0.2, 0.03);
  const Mix study = study_mix();
  EXPECT_NO_THROW(validate_mix(study));
  int n_blank = 0;
  for (int i = 0; i < 5000; ++i) n_blank += !draw_frame_kind(study, rng).crystal;
  EXPECT_NEAR(n_blank / 5000.0, 0.21, 0.03);

  const Mix m = mix_from_json(R"({"blank": 0, "noxtal": 0, "photo1": 0, "ice": 1})", "m.json");
  EXPECT_EQ(m.blank, 0.0);
  EXPECT_EQ(m.ice, 1.0);
  EXPECT_NO_THROW(validate_mix(m));
  auto expect_error_naming = [](const std::string& json, const std::string& word) {
    try {
      validate_mix(mix_from_json(json, "m.json"));
      ADD_FAILURE() << "no error for " << json;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(word), std::string::npos) << e.what();
    }
  };
  expect_error_naming(R"({"ice": 1.5})", "ice");
  expect_error_naming(R"({"weak": -1})", "weak");
  expect_error_naming(R"({"colour": 1})", "colour");
  expect_error_naming(R"({"photo1": 0, "photo2": 0, "both": 0})", "lattice");
  expect_error_naming(R"({"blank":0,"noxtal":0,"weak":0,"good":0,"strong":0})", "quality");
  expect_error_naming(R"({"custom": 1})", "custom");
  expect_error_naming("[1, 2", "JSON");
}

TEST(Simulate, BadOptionsAreConfigErrorsNamingTheOption) {
  auto expect_error_naming = [](const SimulateOptions& o, const std::string& word) {
    try {
      simulate_frame(o, 0);
      ADD_FAILURE() << "no error, expected one naming " << word;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(word), std::string::npos) << e.what();
    }
  };
  SimulateOptions o;
  o.scene.distance_mm = -10.0;
  expect_error_naming(o, "distance_mm");
  o = SimulateOptions{};
  o.scene.wavelength_angstrom = 0.0;
  expect_error_naming(o, "wavelength_angstrom");
  o = SimulateOptions{};
  o.scene.full_size = 256;
  expect_error_naming(o, "output_size");
  o = SimulateOptions{};
  o.scene.full_size = 1000;
  expect_error_naming(o, "multiple");
  o = SimulateOptions{};
  o.mix.ice = 2.0;
  expect_error_naming(o, "ice");
}

TEST(Simulate, TruthSidecarHoldsTheWholeScene) {
  SimulateOptions options;
  options.seed = 5;
  options.mix = Mix{};
  options.mix.blank = options.mix.noxtal = options.mix.weak = options.mix.good = 0.0;
  options.mix.multilattice = 1.0;
  const SimulatedFrame f = simulate_frame(options, 0);
  const auto j = frame_truth_json(f);
  EXPECT_EQ(j["file_stem"], "fake_00001");
  ASSERT_FALSE(j["crystals"].empty());
  const auto& c = j["crystals"][0];
  EXPECT_EQ(c["pieces"][0]["orientation"].size(), 3u);
  EXPECT_GE(j["stats"]["n_reflections"].get<int64_t>(), j["stats"]["n_bright"].get<int64_t>());
  EXPECT_EQ(j["labels"]["quality"], "strong");
  EXPECT_EQ(j["labels"]["multilattice"], 1);
  EXPECT_GT(j["geometry"]["distance_mm"].get<double>(), 0.0);
  EXPECT_TRUE(j["background"].contains("beamstop_radius_px"));
}

// n_bright_pixels: the bright reflections as the binned output frame can tell them apart.
TEST(Simulate, BrightPixelsCountBrightReflectionsPerOutputPixel) {
  SimulateOptions options;
  options.seed = 21;
  options.mix = Mix{};
  options.mix.blank = options.mix.noxtal = options.mix.weak = options.mix.good = 0.0;
  const SimulatedFrame binned = simulate_frame(options, 0);
  options.scene.output_size = options.scene.full_size;  // bin factor 1: every full pixel
  const SimulatedFrame full = simulate_frame(options, 0);
  ASSERT_EQ(binned.spec.bin_factor, 2);
  ASSERT_EQ(full.spec.bin_factor, 1);
  ASSERT_EQ(binned.stats.n_bright, full.stats.n_bright);  // same scene, other binning
  EXPECT_GE(binned.stats.n_bright, 1000);                 // strong
  EXPECT_GT(binned.stats.n_bright_pixels, 0);
  EXPECT_LE(full.stats.n_bright_pixels, full.stats.n_bright);
  EXPECT_LT(binned.stats.n_bright_pixels, full.stats.n_bright_pixels);
  EXPECT_GE(4 * binned.stats.n_bright_pixels, full.stats.n_bright_pixels);  // ≤ 4 per 2×2 bin
  EXPECT_EQ(frame_truth_json(binned)["stats"]["n_bright_pixels"], binned.stats.n_bright_pixels);
  // The bright spots listed on each frame: on the output frame, one per bright reflection on the
  // detector, falling into exactly the n_bright_pixels distinct pixels; the same spots at both
  // binnings (output coordinate x on the 512² frame is x' = 2x + 0.5 on the 1024² one).
  for (const SimulatedFrame* f : {&binned, &full}) {
    const int64_t side = f->image.n_fast();
    EXPECT_LE(static_cast<int64_t>(f->bright_spots.size()), f->stats.n_bright);
    EXPECT_GE(static_cast<int64_t>(f->bright_spots.size()), f->stats.n_bright_pixels);
    std::set<std::pair<int64_t, int64_t>> pixels;
    for (const BrightSpot& b : f->bright_spots) {
      ASSERT_GE(b.slow, -0.5);
      ASSERT_LT(b.slow, side - 0.5);
      ASSERT_GE(b.fast, -0.5);
      ASSERT_LT(b.fast, side - 0.5);
      pixels.emplace(static_cast<int64_t>(std::floor(b.slow + 0.5)),
                     static_cast<int64_t>(std::floor(b.fast + 0.5)));
    }
    EXPECT_EQ(static_cast<int64_t>(pixels.size()), f->stats.n_bright_pixels);
  }
  ASSERT_EQ(binned.bright_spots.size(), full.bright_spots.size());
  for (size_t i = 0; i < binned.bright_spots.size(); ++i) {
    EXPECT_NEAR(2.0 * binned.bright_spots[i].fast + 0.5, full.bright_spots[i].fast, 1e-9);
    EXPECT_NEAR(2.0 * binned.bright_spots[i].slow + 0.5, full.bright_spots[i].slow, 1e-9);
  }
  const auto listed = frame_truth_json(binned)["bright_spots"];
  ASSERT_EQ(listed.size(), binned.bright_spots.size());
  EXPECT_NEAR(listed[0][0].get<double>(), binned.bright_spots[0].slow, 0.005);
  EXPECT_NEAR(listed[0][1].get<double>(), binned.bright_spots[0].fast, 0.005);
  options.mix.blank = 1.0;
  options.mix.strong = 0.0;
  const SimulatedFrame blank = simulate_frame(options, 0);
  EXPECT_EQ(blank.stats.n_bright_pixels, 0);
  EXPECT_TRUE(blank.bright_spots.empty());
  EXPECT_TRUE(frame_truth_json(blank)["bright_spots"].empty());
}

TEST(Simulate, DMinIsTheFifthPercentileOfTheBrightSpotsD) {
  // Recomputed independently from the frame's reflections: the d of every bright reflection
  // centred on the detector, sorted; the nearest-rank 5th percentile is ceil(0.05·n)-th smallest.
  SimulateOptions o;
  o.seed = 5;
  o.mix = Mix{};
  o.mix.blank = o.mix.noxtal = o.mix.weak = 0.0;
  const SimulatedFrame f = simulate_frame(o, 0);
  ASSERT_FALSE(f.labels.blank);
  const auto refl = predict_reflections(f.spec);
  const auto t = bright_thresholds(f.spec, refl, render_background(f.spec));
  std::vector<double> d;
  for (size_t k = 0; k < refl.size(); ++k) {
    const auto x = std::lround(refl[k].fast_px), y = std::lround(refl[k].slow_px);
    if (t[k] <= 1.0 && x >= 0 && y >= 0 && x < f.spec.geometry.n_fast && y < f.spec.geometry.n_slow)
      d.push_back(refl[k].d_angstrom);
  }
  ASSERT_GE(d.size(), 100u);
  std::sort(d.begin(), d.end());
  const size_t rank = static_cast<size_t>(std::ceil(0.05 * static_cast<double>(d.size())));
  ASSERT_TRUE(f.stats.d_min_angstrom.has_value());
  EXPECT_DOUBLE_EQ(*f.stats.d_min_angstrom, d[rank - 1]);
  EXPECT_DOUBLE_EQ(frame_truth_json(f)["stats"]["d_min_angstrom"].get<double>(), d[rank - 1]);

  o.mix = Mix{};
  o.mix.weak = o.mix.good = o.mix.strong = 0.0;  // no crystal: no d_min
  const SimulatedFrame blank = simulate_frame(o, 1);
  EXPECT_FALSE(blank.stats.d_min_angstrom.has_value());
  EXPECT_TRUE(frame_truth_json(blank)["stats"]["d_min_angstrom"].is_null());
}

// Labels by visibility (issue 17 point 5): a split shows when it exceeds the mosaic spread and
// moves a spot at the median bright-spot radius by ≥ 1 output pixel.
TEST(Simulate, SplitVisibilityRule) {
  // 0.5° at 200 px moves a spot 1.745 px; at 100 px 0.873 px (< 1).
  EXPECT_TRUE(split_is_visible(0.5, 0.2, 200.0));
  EXPECT_FALSE(split_is_visible(0.5, 0.2, 100.0));
  EXPECT_FALSE(split_is_visible(0.5, 0.6, 200.0));  // inside the crystal's own spread
  EXPECT_FALSE(split_is_visible(0.5, 0.5, 200.0));
  EXPECT_FALSE(split_is_visible(2.5, 0.02, 0.0));   // no bright spot: nothing shows
  EXPECT_TRUE(split_is_visible(180.0 / M_PI / 100.0 + 1e-9, 0.0, 100.0));

  // Recomputed from the frame's scene: the median radius of its bright spots, its crystal's split.
  SimulateOptions o;
  o.seed = 5;
  o.mix = Mix{};
  o.mix.blank = o.mix.noxtal = o.mix.weak = o.mix.good = 0.0;
  o.mix.multilattice = 1.0;
  int n_visible = 0, n_hidden = 0;
  for (int64_t i = 0; i < 12; ++i) {
    const SimulatedFrame f = simulate_frame(o, i);
    ASSERT_TRUE(f.labels.multilattice);
    ASSERT_TRUE(f.stats.split_visible.has_value());
    const DetectorGeometry g = output_geometry(f.spec);
    std::vector<double> r;
    for (const BrightSpot& s : f.bright_spots) {
      r.push_back(std::hypot(s.fast + 0.5 - g.beam_center_fast_px, s.slow + 0.5 - g.beam_center_slow_px));
    }
    std::sort(r.begin(), r.end());
    const double median = r.empty() ? 0.0 : r[r.size() / 2];
    bool expected = false;
    for (const CrystalSpec& c : f.spec.crystals) {
      if (c.pieces.size() > 1) expected = expected || split_is_visible(c.split_deg, c.mosaic_deg, median);
    }
    EXPECT_EQ(*f.stats.split_visible, expected) << i;
    EXPECT_EQ(frame_truth_json(f)["stats"]["split_visible"].get<bool>(), expected);
    (expected ? n_visible : n_hidden) += 1;
  }
  EXPECT_GT(n_visible, 0);
  EXPECT_GT(n_hidden, 0);  // the rule separates: some splits do not show
  o.mix.multilattice = 0.0;
  const SimulatedFrame single = simulate_frame(o, 0);
  EXPECT_FALSE(single.stats.split_visible.has_value());
  EXPECT_TRUE(frame_truth_json(single)["stats"]["split_visible"].is_null());
}

}  // namespace
}  // namespace difftriage::simulate
