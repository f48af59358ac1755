// Peaks at full resolution, the reciprocal-space lattice evidence, candidate cells and their
// files, and the cell match on simulated frames of each preset.
#include "difftriage/features/lattice.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "difftriage/core/error.h"
#include "difftriage/features/peaks.h"
#include "difftriage/features/spot_evidence.h"
#include "difftriage/features/spots.h"
#include "difftriage/simulate/simulate.h"
#include "features/synthetic.h"
#include "support/test_support.h"

namespace difftriage::features {
namespace {

// λ 1 Å, 100 mm, 0.1 mm pixels, beam at the centre of a 256² frame: a pixel at 50 px from the
// beam sees 2θ = atan(5 / 100).
DetectorGeometry hand_geometry() {
  DetectorGeometry g;
  g.wavelength_angstrom = 1.0;
  g.distance_mm = 100.0;
  g.pixel_size_mm = 0.1;
  g.beam_center_fast_px = 128.0;
  g.beam_center_slow_px = 128.0;
  g.n_fast = g.n_slow = 256;
  return g;
}

TEST(FindPeaks, NeighbouringReflectionsTwoAndAHalfPixelsApartStaySeparate) {
  Image<float> img = test::noise_frame(64, 50.0, 2.0, 7);
  test::add_spot(img, 30.0, 30.0, 80.0, 0.5);
  test::add_spot(img, 32.5, 30.0, 60.0, 0.5);
  const auto peaks = find_peaks(img.view());
  ASSERT_EQ(peaks.size(), 2u);
  EXPECT_GE(peaks[0].snr, peaks[1].snr);  // sorted by SNR
  const auto& left = peaks[0].fast_px < peaks[1].fast_px ? peaks[0] : peaks[1];
  const auto& right = peaks[0].fast_px < peaks[1].fast_px ? peaks[1] : peaks[0];
  EXPECT_NEAR(left.fast_px, 30.0, 0.35);  // the 3 × 3 centroid is pulled a little apart
  EXPECT_NEAR(right.fast_px, 32.5, 0.35);
  EXPECT_NEAR(left.slow_px, 30.0, 0.1);
  EXPECT_TRUE(find_peaks(test::noise_frame(128, 50.0, 2.0, 8).view()).size() <= 2u);
  PeakFinderOptions bad;
  bad.peak_radius_px = 5;
  EXPECT_THROW(find_peaks(img.view(), bad), ConfigError);
  bad = {};
  bad.max_peaks = 0;
  EXPECT_THROW(find_peaks(img.view(), bad), ConfigError);
}

TEST(MeasureLattice, DMinIsTheHandComputedResolutionOfThePeaks) {
  const DetectorGeometry g = hand_geometry();
  std::vector<Peak> peaks;
  // Six Bragg peaks 50 px from the beam centre (both in pixel-edge coordinates), one weak peak
  // farther out.
  for (int k = 0; k < 6; ++k) peaks.push_back({178.0, 128.0, 100.0, 20.0});
  peaks.push_back({228.0, 128.0, 10.0, 3.0});  // SNR 3: neither a Bragg nor a d_min peak
  const LatticeEvidence e = measure_lattice(peaks, g);
  EXPECT_EQ(e.n_peaks, 7);
  EXPECT_EQ(e.n_bragg_peaks, 6);
  const double two_theta = std::atan(5.0 / 100.0);
  ASSERT_TRUE(e.d_min_angstrom.has_value());
  EXPECT_NEAR(*e.d_min_angstrom, 1.0 / (2.0 * std::sin(two_theta / 2.0)), 1e-9);  // 20.0 Å
  // A peak on the 3.669 Å ice ring is not a crystal's Bragg peak.
  const double r_ice = *g.radius_px_for_resolution(3.669);
  const std::vector<Peak> ice = {{128.0 + r_ice, 128.0, 100.0, 50.0}};
  EXPECT_EQ(measure_lattice(ice, g).n_bragg_peaks, 0);
}

TEST(MeasureLattice, PairLengthsAreReciprocalLatticeSpacings) {
  const DetectorGeometry g = hand_geometry();
  // A square grid of peaks 8 px apart near the beam: Δq ≈ 8 · 0.1 mm / (1 Å · 100 mm).
  std::vector<Peak> peaks;
  for (int i = 0; i < 5; ++i) {
    for (int j = 0; j < 5; ++j) peaks.push_back({140.5 + 8 * i, 140.5 + 8 * j, 50.0, 20.0});
  }
  LatticeOptions o;
  const LatticeEvidence e = measure_lattice(peaks, g, o);
  const auto centres = length_bin_centres(o);
  auto count_near = [&](double length) {
    double n = 0;
    for (size_t i = 0; i < centres.size(); ++i) {
      if (std::abs(centres[i] - length) < 0.0003) n += e.pair_length_counts[i];
    }
    return n;
  };
  EXPECT_EQ(count_near(0.008), 40.0);                 // 2 · 5 · 4 nearest neighbours
  EXPECT_EQ(count_near(0.008 * std::sqrt(2.0)), 32.0);  // 2 · 4 · 4 diagonals
  EXPECT_EQ(count_near(0.010), 0.0);                  // no lattice vector of that length
}

TEST(CandidateCells, CrystFelAndJsonFilesAreReadAndErrorsNameTheLine) {
  testing::TempDir tmp;
  const auto lyso = tmp / "lysozyme.cell";
  std::ofstream(lyso) << "CrystFEL unit cell file version 1.0\n\nlattice_type = tetragonal\n"
                         "centering = P\nunique_axis = c\na = 7.91 nm\nb = 79.1 A\n"
                         "c = 38.0 A ; short axis\nal = 90.0 deg\nbe = 90.0 deg\nga = 90.0 deg\n";
  const auto cells = read_candidate_cells(lyso);
  ASSERT_EQ(cells.size(), 1u);
  EXPECT_EQ(cells[0].name, "lysozyme");
  EXPECT_NEAR(cells[0].cell.a_angstrom, 79.1, 1e-9);
  EXPECT_NEAR(cells[0].cell.c_angstrom, 38.0, 1e-9);
  const auto json_file = tmp / "cells.json";
  std::ofstream(json_file) << R"([{"name": "thermolysin", "a_angstrom": 92.8, "b_angstrom": 92.8,
    "c_angstrom": 130.5, "alpha_deg": 90, "beta_deg": 90, "gamma_deg": 120, "centering": "P"},
    {"name": "insulin", "a_angstrom": 78, "b_angstrom": 78, "c_angstrom": 78, "alpha_deg": 90,
     "beta_deg": 90, "gamma_deg": 90, "centering": "I"}])";
  const auto all = load_candidate_cells({lyso, json_file});
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[0].name, "photo1");
  EXPECT_EQ(all[4].centering, Centering::kI);
  EXPECT_FALSE(is_allowed(Centering::kI, 1, 0, 0));
  EXPECT_TRUE(is_allowed(Centering::kI, 1, 1, 0));
  const auto bad = tmp / "bad.cell";
  std::ofstream(bad) << "CrystFEL unit cell file version 1.0\na = 79.1 A\nb = x A\n";
  try {
    read_candidate_cells(bad);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.cell line 3"), std::string::npos) << e.what();
  }
  const auto dup = tmp / "dup.json";
  std::ofstream(dup) << R"([{"name": "photo1", "a_angstrom": 50, "b_angstrom": 50,
    "c_angstrom": 50, "alpha_deg": 90, "beta_deg": 90, "gamma_deg": 90}])";
  EXPECT_THROW(load_candidate_cells({dup}), ConfigError);
  const auto missing = tmp / "missing.json";
  std::ofstream(missing) << R"([{"name": "x", "a_angstrom": 50}])";
  EXPECT_THROW(read_candidate_cells(missing), ConfigError);
}

// Strong single-lattice frames of one preset, no ice, no split: the matching preset scores
// higher than the other on most frames (fixed seeds: the count is exact).
int frames_matching(const char* preset, int n) {
  simulate::SimulateOptions o;
  o.mix.blank = o.mix.noxtal = o.mix.weak = o.mix.good = 0.0;
  o.mix.photo1 = std::string(preset) == "photo1" ? 1.0 : 0.0;
  o.mix.photo2 = 1.0 - o.mix.photo1;
  o.mix.both = 0.0;
  o.mix.multilattice = 0.0;
  o.mix.ice = 0.0;
  o.seed = 424242;
  const CellMatcher matcher(preset_candidate_cells());
  int n_right = 0;
  for (int i = 0; i < n; ++i) {
    const simulate::SimulatedFrame f = simulate::simulate_frame(o, i);
    const Image<float> img = to_float(AnyImage(f.image));
    const auto peaks = find_peaks(img.view());
    const auto scores = matcher.scores(measure_lattice(peaks, simulate::output_geometry(f.spec)));
    const size_t want = std::string(preset) == "photo1" ? 0 : 1;
    n_right += scores[want] > scores[1 - want] ? 1 : 0;
  }
  return n_right;
}

TEST(CellMatcher, EachPresetIsMatchedOnItsOwnSimulatedFrames) {
  EXPECT_GE(frames_matching("photo1", 6), 5);
  EXPECT_GE(frames_matching("photo2", 6), 5);
}

TEST(SpotEvidence, ProbabilitiesFollowTheLogisticRuleAndTheGuardCountsBraggPeaks) {
  SpotEvidenceCalibration c;
  c.cell_bias = -1.0;
  c.cell_w_score = 10.0;
  c.cell_w_margin = 5.0;
  c.guard_min_bragg_peaks = 2;
  const SpotEvidence e(preset_candidate_cells(), c);
  const auto p = e.probabilities({0.3, 0.1});
  EXPECT_NEAR(p[0], 1.0 / (1.0 + std::exp(-(-1.0 + 3.0 + 1.0))), 1e-12);
  EXPECT_NEAR(p[1], 1.0 / (1.0 + std::exp(-(-1.0 + 1.0 - 1.0))), 1e-12);
  Image<float> img = test::noise_frame(64, 50.0, 2.0, 9);
  test::add_spot(img, 20.0, 20.0, 80.0, 0.5);
  const FrameEvidence none = e.measure(img.view(), std::nullopt, "metadata lacks distance_mm");
  EXPECT_FALSE(none.has_geometry);
  EXPECT_EQ(none.no_geometry_reason, "metadata lacks distance_mm");
  EXPECT_EQ(none.lattice.n_bragg_peaks, 1);
  EXPECT_FALSE(none.guard_keeps);
  test::add_spot(img, 40.0, 44.0, 80.0, 0.5);
  EXPECT_TRUE(e.measure(img.view(), std::nullopt).guard_keeps);
  const auto round = spot_evidence_calibration_from_json(to_json(c), "test");
  EXPECT_EQ(round.guard_min_bragg_peaks, 2);
  EXPECT_EQ(round.cell_w_margin, 5.0);
  EXPECT_THROW(spot_evidence_calibration_from_json({{"cell_bias", 1}}, "m.json"), FormatError);
}

}  // namespace
}  // namespace difftriage::features
