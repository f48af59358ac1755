/// The resolution a frame's Bragg spots reach (results.jsonl `d_min_angstrom`), from its peaks.
///
/// The simulator's truth is the 5th percentile of d over the frame's bright reflections
/// (photon SNR ≥ 15 at full resolution). On a binned, 8-bit frame a peak's SNR does not say
/// which peaks those are, so no single quantile of the peaks' d fits every frame: strong frames
/// want a low one, frames with a few bright reflections among many faint peaks a high one. The
/// fitted model reads the shape of the whole d distribution instead:
///
///   log d_min = bias + Σ weights · features,   features = for each SNR cut c (ascending):
///     log of the d at each quantile of the peaks with SNR ≥ c (those of the lowest cut when
///     fewer than min_peaks pass c), then log(1 + their count)
///
/// over the peaks measure_lattice calls Bragg or weak (off the ice rings and the beam centre):
/// measure_lattice applies the model it is given in the loop that finds those peaks. Fitted by
/// `scripts/fit-resolution` on simulated frames; stored in model.json as
/// `spot_evidence.resolution`. A model without it uses LatticeOptions' single quantile.
///
///   features::ResolutionModel m = features::resolution_model_from_json(j, "model.json");
///   LatticeEvidence e = features::measure_lattice(peaks, geometry, lattice_options, &m);
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace difftriage::features {

/// The fitted resolution rule. Plain value type.
struct ResolutionModel {
  std::vector<double> snr_cuts;   ///< ascending, > 0
  std::vector<double> quantiles;  ///< each in [0, 1]
  /// snr_cuts.size() × (quantiles.size() + 1) numbers, cut by cut (see the header comment).
  std::vector<double> weights;
  double bias = 0.0;
  /// Fewer peaks than this above the lowest cut: no d_min.
  int64_t min_peaks = 5;
  nlohmann::json provenance = nlohmann::json::object();
};

/// {"snr_cuts", "quantiles", "weights", "bias", "min_peaks", "provenance"}.
nlohmann::json to_json(const ResolutionModel& model);
/// Inverse of to_json. @throws FormatError naming `source` and the key that is missing, of the
/// wrong type or size, or out of range.
ResolutionModel resolution_model_from_json(const nlohmann::json& j, const std::string& source);

/// The model's features of peaks given as (d in Å, SNR) pairs (already off the rings and the
/// beam centre), in the order of ResolutionModel::weights; nullopt with fewer than min_peaks
/// above the lowest cut. Pure. (scripts/fit-resolution computes the same in Python.)
std::optional<std::vector<double>> resolution_features(std::vector<std::pair<double, double>> d_snr,
                                                       const ResolutionModel& model);

/// d_min (Å) by `model` from peaks given as (d in Å, SNR) pairs; nullopt with too few. Pure.
std::optional<double> predict_d_min(std::vector<std::pair<double, double>> d_snr,
                                    const ResolutionModel& model);

}  // namespace difftriage::features
