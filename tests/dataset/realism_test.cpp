// dataset::measure_realism and score_realism on frames whose measures are worked out by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include <nlohmann/json.hpp>

#include "difftriage/dataset/realism.h"

namespace difftriage::dataset {
namespace {

// λ = 1 Å, D = 100 mm, 0.3 mm pixels, 256² frame, beam at the centre.
DetectorGeometry test_geometry() { return DetectorGeometry{1.0, 100.0, 0.3, 128.0, 128.0, 256, 256}; }

TEST(Realism, SpotsAreConnectedGroupsAboveTheStudysLevel) {
  Image<float> f(256, 256, 100.0f);
  f(20, 20) = 200.0f;                       // single pixel
  f(40, 40) = 255.0f;                       // saturated single pixel
  f(60, 60) = 190.0f, f(60, 61) = 250.0f;   // two side by side: elongation 2
  f(80, 80) = 185.0f;                       // at the level, not above: no spot
  for (int y = 150; y < 160; ++y)           // 100 px block: a ring or streak, not a spot
    for (int x = 150; x < 160; ++x) f(y, x) = 220.0f;
  const RealismFrame m = measure_realism(f.view(), std::nullopt);
  EXPECT_EQ(m.n_spots, 3);
  EXPECT_DOUBLE_EQ(m.mean_spot_area_px, 4.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.median_spot_area_px, 1.0);
  EXPECT_DOUBLE_EQ(m.single_pixel_share, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.saturated_spot_area_px, 1.0);
  EXPECT_DOUBLE_EQ(m.saturated_single_share, 1.0);
  // Only the pair has a shape: variances 1/4 + 1/12 and 1/12, elongation 2.
  EXPECT_NEAR(m.mean_elongation, 2.0, 1e-12);
  EXPECT_TRUE(std::isnan(m.spot_d95_angstrom));  // no geometry
  EXPECT_TRUE(std::isnan(m.solvent_ring_d_angstrom));
  EXPECT_TRUE(std::isnan(m.ice_ring_sigma_px));
}

TEST(Realism, SpotResolutionIsTheFifthPercentileOfSpotD) {
  // 20 single-pixel spots along +fast at radii 10, 15, ..., 105 px: d = λ/(2 sin(atan(r·0.3/100)/2)).
  Image<float> f(256, 256, 100.0f);
  const DetectorGeometry g = test_geometry();
  std::vector<double> d;
  for (int k = 0; k < 20; ++k) {
    const int x = 128 + 10 + 5 * k;
    f(100, x) = 250.0f;
    d.push_back(g.resolution_angstrom(x, 100));
  }
  std::sort(d.begin(), d.end());
  const RealismFrame m = measure_realism(f.view(), g);
  EXPECT_EQ(m.n_spots, 20);
  EXPECT_DOUBLE_EQ(m.spot_d95_angstrom, d[0]);  // nearest rank: ceil(0.05·20) = 1st
}

TEST(Realism, NoiseSigmaOfGaussianNoise) {
  std::mt19937 rng(4);
  std::normal_distribution<double> noise(0.0, 3.0);
  Image<float> f(256, 256);
  for (int64_t i = 0; i < f.size(); ++i) f.data()[i] = static_cast<float>(100.0 + noise(rng));
  EXPECT_NEAR(measure_realism(f.view(), std::nullopt).noise_sigma, 3.0, 0.05);
}

TEST(Realism, SolventAndIceRingsWhereTheGeometryPutsThem) {
  const DetectorGeometry g = test_geometry();
  // Solvent ring: Gaussian in 1/d at 1/3.2 Å⁻¹, σ 0.05 Å⁻¹ (FWHM 0.1177), 40 levels high.
  Image<float> solvent(256, 256);
  for (int64_t y = 0; y < 256; ++y)
    for (int64_t x = 0; x < 256; ++x) {
      const double s = 1.0 / g.resolution_angstrom(x, y);
      solvent(y, x) = static_cast<float>(80.0 + 40.0 * std::exp(-0.5 * std::pow((s - 1.0 / 3.2) / 0.05, 2)));
    }
  const RealismFrame ms = measure_realism(solvent.view(), g);
  EXPECT_NEAR(ms.solvent_ring_d_angstrom, 3.2, 0.05);
  EXPECT_NEAR(ms.solvent_ring_fwhm_inv_angstrom, 2.3548 * 0.05, 0.01);

  // Ice ring at 3.897 Å, radial σ 1 px, 100 levels high; saturated where above 255.
  const double r0 = *g.radius_px_for_resolution(kRealismIceRingD);
  Image<float> ice(256, 256);
  for (int64_t y = 0; y < 256; ++y)
    for (int64_t x = 0; x < 256; ++x) {
      const double dr = g.radius_px(x, y) - r0;
      ice(y, x) = static_cast<float>(std::min(255.0, 100.0 + 100.0 * std::exp(-0.5 * dr * dr)));
    }
  const RealismFrame mi = measure_realism(ice.view(), g);
  EXPECT_NEAR(mi.ice_ring_sigma_px, 1.0, 0.1);
  EXPECT_DOUBLE_EQ(mi.ice_ring_saturated_share, 0.0);
  Image<float> bad = ice;
  for (int64_t i = 0; i < bad.size(); ++i) {
    bad.data()[i] = std::min(255.0f, 100.0f + 4.0f * (bad.data()[i] - 100.0f));
  }
  // 4·100·exp(−dr²/2) ≥ 155 ⇔ |dr| ≤ 1.377: about 1.377/2 of the ±2 px band saturates.
  EXPECT_NEAR(measure_realism(bad.view(), g).ice_ring_saturated_share, 1.377 / 2.0, 0.08);
}

TEST(Realism, SpearmanOfMonotoneTiedAndConstantData) {
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3, 4}, {10, 20, 25, 100}), 1.0);
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3}, {5, 5, 5}), 0.0);
  EXPECT_TRUE(std::isnan(spearman({1, 2}, {1, 2})));
  // Ties share their average rank: x ranks 1, 2.5, 2.5, 4 against y ranks 1, 2, 3, 4.
  EXPECT_NEAR(spearman({1, 2, 2, 3}, {1, 2, 3, 4}), 0.9486832980505138, 1e-12);
}

RealismSample good_frame(double area) {
  RealismSample s;
  s.quality = Quality::kGood;
  s.crystal = true;
  s.mosaic1 = 0.2;
  s.measures.n_spots = 100;
  s.measures.mean_spot_area_px = area;
  return s;
}

TEST(Realism, ScoreSaysWhereTheReferenceFallsInOurDistribution) {
  std::vector<RealismSample> ours;
  for (int k = 1; k <= 11; ++k) ours.push_back(good_frame(k));  // areas 1..11
  const RealismReport inside = score_realism(ours, {good_frame(3.0)});
  const RealismRow* row = nullptr;
  for (const RealismRow& r : inside.rows)
    if (r.measure == "mean_spot_area_px" && r.cls == "good (no ice)") row = &r;
  ASSERT_NE(row, nullptr);
  EXPECT_DOUBLE_EQ(row->ours_p10, 2.0);
  EXPECT_DOUBLE_EQ(row->ours_p50, 6.0);
  EXPECT_DOUBLE_EQ(row->ours_p90, 10.0);
  EXPECT_DOUBLE_EQ(row->reference, 3.0);
  EXPECT_NEAR(row->percentile, 100.0 * 2.5 / 11.0, 1e-12);  // 1, 2 below; 3 ties (half)
  EXPECT_TRUE(row->in_range);

  const RealismReport outside = score_realism(ours, {good_frame(10.5)});
  bool flagged = false;
  for (const std::string& f : outside.flagged) flagged |= f == "mean_spot_area_px / good (no ice)";
  EXPECT_TRUE(flagged);
  const nlohmann::json j = to_json(outside);
  EXPECT_EQ(j["n_rows"].get<size_t>(), outside.rows.size());
  EXPECT_EQ(j["n_in_range"].get<int64_t>(), outside.n_in_range);
}

}  // namespace
}  // namespace difftriage::dataset
