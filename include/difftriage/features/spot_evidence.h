/// The spot-level evidence of one frame, as the triage uses it: peaks at full resolution, their
/// reciprocal-space lattice evidence (lattice.h), a probability per candidate cell, the
/// resolution the Bragg peaks reach, and how many Bragg peaks there are (the veto guard: a frame
/// with Bragg peaks is never vetoed).
///
///   features::SpotEvidence evidence(features::load_candidate_cells(cell_files), calibration);
///   features::FrameEvidence e = evidence.measure(image, geometry);   // geometry may be unset
///   if (e.has_geometry) use(e.cell_probabilities, e.lattice.d_min_angstrom);
///
/// p(candidate) = σ(bias + w_score·r + w_margin·(r − max r of the other candidates)), r the
/// CellMatcher's correlation: cell-agnostic coefficients (fitted by `difftriage calibrate` on
/// simulated frames of the presets across the simulator's geometry range, stored in the model's
/// metadata), so a user's cell is scored by the same rule as the presets.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "difftriage/core/detector_geometry.h"
#include "difftriage/core/image.h"
#include "difftriage/features/lattice.h"
#include "difftriage/features/peaks.h"
#include "difftriage/features/resolution.h"

namespace difftriage::features {

/// Below this many peak pairs in the histogram's range, or with fewer Bragg peaks than the guard
/// needs (SpotEvidenceCalibration::guard_min_bragg_peaks), a frame carries no lattice evidence:
/// every candidate's probability is 0 and none is called present (the pairs of a blank's noise
/// and ice peaks, or of a dozen peaks on a weak still, say nothing about a cell).
inline constexpr double kMinLatticePairs = 20.0;

/// The fitted numbers of the spot evidence (model.json's `spot_evidence`). Plain value type.
struct SpotEvidenceCalibration {
  double cell_bias = -3.0;      ///< logistic intercept of p(candidate)
  double cell_w_score = 30.0;   ///< weight of the candidate's correlation r
  double cell_w_margin = 30.0;  ///< weight of r minus the best other candidate's r
  /// The veto guard: a frame with at least this many Bragg peaks is never vetoed (see
  /// LatticeOptions::bragg_min_snr for what the blanks and crystal frames of the simulator
  /// have).
  int64_t guard_min_bragg_peaks = 3;
  /// The fitted d_min rule (resolution.h); unset: LatticeOptions' single quantile.
  std::optional<ResolutionModel> resolution;
  /// What the numbers were fitted on (free JSON: data, frames, command).
  nlohmann::json provenance = nlohmann::json::object();
};

/// {"cell_bias", "cell_w_score", "cell_w_margin", "guard_min_bragg_peaks", "provenance"} and,
/// when set, "resolution".
nlohmann::json to_json(const SpotEvidenceCalibration& calibration);
/// Inverse of to_json. @throws FormatError naming `source` and the key that is missing,
/// of the wrong type or out of range (guard_min_bragg_peaks ≥ 1).
SpotEvidenceCalibration spot_evidence_calibration_from_json(const nlohmann::json& j,
                                                            const std::string& source);

/// The evidence of one frame. Plain value type.
struct FrameEvidence {
  bool has_geometry = false;
  std::string no_geometry_reason;  ///< why not, when !has_geometry
  /// Peaks and (with a geometry) the lattice evidence; without a geometry only n_peaks and
  /// n_bragg_peaks (every peak with SNR ≥ bragg_min_snr: no ring or beam-centre exclusion) are set.
  LatticeEvidence lattice;
  std::vector<double> cell_scores;         ///< per candidate (with a geometry), CellMatcher r
  std::vector<double> cell_probabilities;  ///< per candidate (with a geometry)
  /// True when the frame holds enough Bragg peaks that it must not be vetoed.
  bool guard_keeps = false;
  /// The peaks themselves (find_peaks' output on the image measured), only when measure() was
  /// asked to keep them (explain draws them); empty otherwise.
  std::vector<Peak> peaks;
};

/// Candidates, matcher and calibration. Immutable after construction; measure() is thread-safe.
class SpotEvidence {
 public:
  /// @throws ConfigError for an empty candidate list or invalid options.
  SpotEvidence(std::vector<CandidateCell> cells, SpotEvidenceCalibration calibration = {},
               PeakFinderOptions peak_options = {}, LatticeOptions lattice_options = {});
  const std::vector<CandidateCell>& cells() const noexcept { return matcher_.cells(); }
  const SpotEvidenceCalibration& calibration() const noexcept { return calibration_; }
  const CellMatcher& matcher() const noexcept { return matcher_; }
  /// Finds peaks on `image` and measures what they say; `geometry` unset: no lattice evidence.
  /// With `keep_peaks` the result carries the peaks.
  FrameEvidence measure(const ImageView<float>& image,
                        const std::optional<DetectorGeometry>& geometry,
                        const std::string& no_geometry_reason = "no geometry",
                        bool keep_peaks = false) const;
  /// p(candidate) from the candidates' scores (the rule at the top of this header).
  std::vector<double> probabilities(const std::vector<double>& scores) const;
  /// The features of candidate `k` the logistic rule weighs: {r_k, r_k − max other r}.
  static std::array<double, 2> cell_features(const std::vector<double>& scores, size_t k);

 private:
  CellMatcher matcher_;
  SpotEvidenceCalibration calibration_;
  PeakFinderOptions peak_options_;
};

}  // namespace difftriage::features
