// The fitted d_min rule: its features by hand, the estimate on hand-placed peaks of a known
// geometry, the JSON form and its refusals, and SpotEvidence using it.
#include "difftriage/features/resolution.h"

#include <gtest/gtest.h>

#include <cmath>

#include "difftriage/core/error.h"
#include "difftriage/features/lattice.h"
#include "difftriage/features/spot_evidence.h"
#include "features/synthetic.h"

namespace difftriage::features {
namespace {

// λ 1 Å, 100 mm, 0.1 mm pixels, beam at the centre of an n² frame.
DetectorGeometry centred_geometry(int32_t n) {
  DetectorGeometry g;
  g.wavelength_angstrom = 1.0;
  g.distance_mm = 100.0;
  g.pixel_size_mm = 0.1;
  g.beam_center_fast_px = g.beam_center_slow_px = 0.5 * n;
  g.n_fast = g.n_slow = n;
  return g;
}

ResolutionModel two_cut_model() {
  ResolutionModel m;
  m.snr_cuts = {5.0, 10.0};
  m.quantiles = {0.0, 0.5};
  m.weights = std::vector<double>(6, 0.0);
  m.min_peaks = 3;
  return m;
}

TEST(ResolutionFeatures, LogQuantilesAndCountsPerCutByHand) {
  const ResolutionModel m = two_cut_model();
  // d (Å), SNR: four peaks above 5, two of them above 10 (fewer than min_peaks 3).
  const std::vector<std::pair<double, double>> peaks = {
      {4.0, 6.0}, {2.0, 12.0}, {8.0, 30.0}, {3.0, 7.0}, {1.5, 4.0}};
  const auto f = resolution_features(peaks, m);
  ASSERT_TRUE(f.has_value());
  ASSERT_EQ(f->size(), 6u);
  // cut 5: d sorted 2, 3, 4, 8; quantile 0 → 2, quantile 0.5 → rank floor(1.5 + 0.5) = 2 → 4
  EXPECT_DOUBLE_EQ((*f)[0], std::log(2.0));
  EXPECT_DOUBLE_EQ((*f)[1], std::log(4.0));
  EXPECT_DOUBLE_EQ((*f)[2], std::log1p(4.0));
  // cut 10: two peaks < min_peaks: the quantiles of cut 5's peaks, its own count
  EXPECT_DOUBLE_EQ((*f)[3], std::log(2.0));
  EXPECT_DOUBLE_EQ((*f)[4], std::log(4.0));
  EXPECT_DOUBLE_EQ((*f)[5], std::log1p(2.0));
  // fewer than min_peaks above the lowest cut: no features
  EXPECT_FALSE(resolution_features({{4.0, 6.0}, {2.0, 12.0}, {1.5, 4.0}}, m).has_value());
}

TEST(MeasureLattice, AResolutionModelOnHandPlacedPeaksSkipsIceAndBeam) {
  const DetectorGeometry g = centred_geometry(256);
  auto d_at = [](double r_px) {
    return 1.0 / (2.0 * std::sin(std::atan(r_px * 0.1 / 100.0) / 2.0));
  };
  ResolutionModel m = two_cut_model();
  m.weights = {0.0, 1.0, 0.0, 0.0, 0.0, 0.0};  // d_min = the median d above SNR 5 × e^bias
  m.bias = std::log(0.5);
  std::vector<Peak> peaks;
  for (double r : {20.0, 40.0, 60.0}) peaks.push_back({128.0 + r, 128.0, 50.0, 8.0});
  peaks.push_back({128.0 + *g.radius_px_for_resolution(3.669), 128.0, 90.0, 40.0});  // ice ring
  peaks.push_back({128.5, 128.0, 90.0, 40.0});        // at the beam centre
  peaks.push_back({128.0, 128.0 + 70.0, 10.0, 4.5});  // below the lowest cut
  const auto d = measure_lattice(peaks, g, LatticeOptions{}, &m).d_min_angstrom;
  ASSERT_TRUE(d.has_value());
  EXPECT_NEAR(*d, 0.5 * d_at(40.0), 1e-9);
  peaks.erase(peaks.begin());  // two peaks left above SNR 5 off the ring and the beam
  EXPECT_FALSE(measure_lattice(peaks, g, LatticeOptions{}, &m).d_min_angstrom.has_value());
}

TEST(ResolutionModel, JsonRoundTripAndRefusals) {
  ResolutionModel m = two_cut_model();
  m.weights = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6};
  m.bias = -0.25;
  const ResolutionModel back = resolution_model_from_json(to_json(m), "m.json");
  EXPECT_EQ(back.snr_cuts, m.snr_cuts);
  EXPECT_EQ(back.quantiles, m.quantiles);
  EXPECT_EQ(back.weights, m.weights);
  EXPECT_EQ(back.bias, m.bias);
  EXPECT_EQ(back.min_peaks, 3);
  auto refused = [](nlohmann::json j, const char* what) {
    try {
      resolution_model_from_json(j, "m.json");
      ADD_FAILURE() << "accepted " << j.dump();
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("m.json"), std::string::npos) << e.what();
    }
  };
  nlohmann::json j = to_json(m);
  j["weights"].push_back(1.0);
  refused(j, "must hold 6 numbers");
  j = to_json(m);
  j["snr_cuts"] = {10.0, 5.0};
  refused(j, "ascending");
  j = to_json(m);
  j["quantiles"] = {0.5, 1.5};
  refused(j, "[0, 1]");
  j = to_json(m);
  j.erase("bias");
  refused(j, "bias");
  j = to_json(m);
  j["min_peaks"] = 0;
  refused(j, "min_peaks");
}

TEST(SpotEvidence, AFittedResolutionModelGivesTheFramesDMin) {
  const DetectorGeometry g = centred_geometry(128);
  Image<float> img = test::noise_frame(128, 50.0, 2.0, 11);
  for (int k = 0; k < 8; ++k) test::add_spot(img, 20.0 + 11.0 * k, 30.0 + 7.0 * k, 80.0, 0.5);
  SpotEvidenceCalibration c;
  const FrameEvidence plain = SpotEvidence(preset_candidate_cells(), c).measure(img.view(), g);
  ResolutionModel m = two_cut_model();
  m.weights = {1.0, 0.0, 0.0, 0.0, 0.0, 0.0};  // the highest-resolution peak's d
  c.resolution = m;
  const FrameEvidence fitted = SpotEvidence(preset_candidate_cells(), c).measure(img.view(), g);
  ASSERT_TRUE(plain.lattice.d_min_angstrom && fitted.lattice.d_min_angstrom);
  std::vector<Peak> peaks = find_peaks(img.view());
  double lowest_d = 1e9;
  for (const Peak& p : peaks) {
    const PeakRole role = peak_role(p, g);
    if ((role != PeakRole::kBragg && role != PeakRole::kWeak) || p.snr < 5.0) continue;
    lowest_d = std::min(
        lowest_d, 1.0 / norm(g.scattering_vector_per_angstrom(p.fast_px - 0.5, p.slow_px - 0.5)));
  }
  EXPECT_NEAR(*fitted.lattice.d_min_angstrom, lowest_d, 1e-9);
  EXPECT_NE(*fitted.lattice.d_min_angstrom, *plain.lattice.d_min_angstrom);
  const auto round = spot_evidence_calibration_from_json(to_json(c), "m.json");
  ASSERT_TRUE(round.resolution.has_value());
  EXPECT_EQ(round.resolution->weights, m.weights);
  EXPECT_FALSE(spot_evidence_calibration_from_json(to_json(SpotEvidenceCalibration{}), "m.json")
                   .resolution.has_value());
}

}  // namespace
}  // namespace difftriage::features
