/// How alike two sets of 8-bit frames look where a model learns from them: spot profiles, faint
/// spots, resolution, the solvent ring, ice rings and detector noise, measured per frame the same
/// way on both, and a realism score that says where a reference set's typical value falls within
/// ours (`difftriage dataset compare`).
///
/// Spots, as the study counted them: 8-connected groups of pixels > kRealismSpotLevel holding at
/// most kRealismMaxSpotPixels pixels (larger groups are rings or streaks).
///
///   RealismFrame m = measure_realism(to_float(read_image(path)).view(), geometry);
///   double area = m.mean_spot_area_px;          // NaN when the frame has no spot
///   RealismReport r = score_realism(ours, reference);
///   for (const RealismRow& row : r.rows) if (!row.in_range) ...
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "difftriage/core/detector_geometry.h"
#include "difftriage/core/image.h"
#include "difftriage/dataset/dataset.h"

namespace difftriage::dataset {

/// A spot pixel is > this 8-bit level (the study's spot level).
inline constexpr float kRealismSpotLevel = 185.0f;
/// Connected groups above the spot level with more pixels than this are not spots.
inline constexpr int64_t kRealismMaxSpotPixels = 50;
/// d of the strongest hexagonal-ice ring (Ih 100), Å: where ring width and saturation are read.
inline constexpr double kRealismIceRingD = 3.897;

/// The measures of one frame. A measure the frame cannot give (no spot, no geometry, ring off the
/// detector, ...) is NaN.
struct RealismFrame {
  int64_t n_spots = 0;                  ///< spot groups (≤ kRealismMaxSpotPixels pixels)
  double mean_spot_area_px = 0.0;       ///< mean pixels per spot
  double median_spot_area_px = 0.0;     ///< upper median of pixels per spot
  double single_pixel_share = 0.0;      ///< share of spots of exactly one pixel
  double saturated_spot_area_px = 0.0;  ///< mean pixels of spots holding a 255 pixel
  double saturated_single_share = 0.0;  ///< share of those that are one pixel
  /// Mean over spots of two or more pixels (a single pixel has no shape) of
  /// √((λ₁ + 1/12)/(λ₂ + 1/12)), λ the eigenvalues of the spot's pixel covariance (1/12: a
  /// pixel's own box variance): 2 for two pixels side by side. NaN without such a spot.
  double mean_elongation = 0.0;
  /// Resolution (Å) that 95 % of the spots lie below: the 5th percentile of their d. Needs the
  /// geometry and ≥ 10 spots.
  double spot_d95_angstrom = 0.0;
  /// Solvent ring: d (Å) of the maximum of the azimuthal mean profile in 1/d between 0.2 and
  /// 0.45 Å⁻¹, and its full width at half height above a straight baseline through the lowest
  /// points on either side (Å⁻¹). Pixels > the spot level are left out. Needs the geometry.
  double solvent_ring_d_angstrom = 0.0;
  double solvent_ring_fwhm_inv_angstrom = 0.0;
  /// Ice ring at kRealismIceRingD: radial σ (px) of the azimuthal mean profile's excess over a
  /// straight baseline fitted to its flanks (3–6 px from the ring), read within ±3 px; and the
  /// share of pixels within ±2 px of the ring at 255. Needs the geometry.
  double ice_ring_sigma_px = 0.0;
  double ice_ring_saturated_share = 0.0;
  /// Pixel noise σ (8-bit levels): √(mean d²/2) over horizontally adjacent pixel pairs, both in
  /// (0, 255), with |d| ≤ 20 (an edge or spot is not noise).
  double noise_sigma = 0.0;
};

/// Measures one 8-bit frame (values 0..255 as floats; masked pixels of `frame` are left out).
/// `geometry`: the frame's detector, for the measures in Å; without it those are NaN.
RealismFrame measure_realism(const ImageView<float>& frame,
                             const std::optional<DetectorGeometry>& geometry);

/// A measured frame with what the realism classes need to know of it.
struct RealismSample {
  RealismFrame measures;
  std::optional<Quality> quality;  ///< weak / good / strong for crystal frames, else noxtal/blank
  bool crystal = false;
  bool ice = false;
  bool badice = false;
  std::optional<double> mosaic1;   ///< crystal frames with a multiclasses.txt row
  /// "discrete" (mosaic blocks, each a sharp spot) or "continuous" (many blocks smeared into
  /// arcs), from a simulator sidecar; empty when unknown.
  std::string mosaic_regime;
};

/// Measures `max_per_class` frames at most of each realism class of `dataset` (quality classes,
/// solvent-only, ice, badice, ice without crystal, blank), in sample order. A frame's geometry is
/// its simulator sidecar's, else `fallback_geometry`. @throws IoError / FormatError naming the
/// frame if it cannot be read.
std::vector<RealismSample> measure_dataset(const Dataset& dataset,
                                           const std::optional<DetectorGeometry>& fallback_geometry,
                                           int max_per_class);

/// One row of the realism score: a measure over one class of frames.
struct RealismRow {
  std::string measure;  ///< e.g. "mean_spot_area_px"
  std::string cls;      ///< e.g. "good (no ice)"
  bool trend = false;   ///< a correlation over frames rather than a per-frame value
  int64_t n_ours = 0, n_reference = 0;
  /// Per-frame measures: our 10th/50th/90th percentiles and the reference's median.
  /// Trend measures: p50 = Spearman ρ of all our frames together, p10 / p90 the lowest /
  /// highest of that and our regimes' ρ; reference = the reference's ρ.
  double ours_p10 = 0.0, ours_p50 = 0.0, ours_p90 = 0.0, reference = 0.0;
  /// Per-frame measures: percentage of our frames at or below the reference's median (ties
  /// count half). NaN for trends.
  double percentile = 0.0;
  /// Trends: each of our regimes' ρ and frame count, e.g. {"discrete", 0.05, 230}.
  struct Regime {
    std::string name;
    double rho = 0.0;
    int64_t n = 0;
  };
  std::vector<Regime> regimes;
  /// The reference's value lies within [p10, p90] (NaN on either side: false).
  bool in_range = false;
};

/// The realism score of `ours` against `reference`, one row per (measure, class) that both sides
/// can give; rows neither side can give are left out.
struct RealismReport {
  std::vector<RealismRow> rows;
  int64_t n_in_range = 0;  ///< rows with in_range
  /// "measure / class" of each row out of range.
  std::vector<std::string> flagged;
};

RealismReport score_realism(const std::vector<RealismSample>& ours,
                            const std::vector<RealismSample>& reference);

/// {"rows": [{"measure", "class", "trend", "n_ours", "n_reference", "ours_p10", "ours_p50",
/// "ours_p90", "reference", "percentile", "regimes": [{"name", "rho", "n"}], "in_range"}],
///  "n_rows", "n_in_range", "flagged": ["measure / class", ...]}; NaN is written as null.
nlohmann::json to_json(const RealismReport& report);

/// Spearman rank correlation of paired values (average ranks for ties); NaN with fewer than 3
/// pairs, 0 when one side is constant (no monotone relation).
double spearman(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace difftriage::dataset
