/// Familiarity: how far a frame lies from the frames a model was calibrated on, measured on the
/// network's pooled trunk features (network.h features(), the vector its heads read). A frame
/// whose distance exceeds the calibration set's own quantile is "unfamiliar": the model's
/// outputs were never checked on anything like it, so the triage keeps it and flags it rather
/// than trusting a veto (issue 17 point 6). Does not include Torch.
///
///   auto fam = difftriage::models::fit_familiarity(calibration_features, {});  // calibrate
///   double d = fam.distance(prediction.trunk_features);
///   bool unfamiliar = d > fam.threshold;
///
/// The distance is a Mahalanobis distance in a principal subspace plus a scaled residual
/// (probabilistic PCA): with the calibration features' mean μ, top-k principal directions u_i of
/// variance λ_i, and σ² the mean variance left outside them,
///   d² = (Σ_i ((x − μ)·u_i)² / λ_i + |r|² / σ²) / D,   r = (x − μ) − Σ_i ((x − μ)·u_i) u_i,
/// D the feature count, so d ≈ 1 for a typical calibration frame.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace difftriage::models {

struct FamiliarityOptions {
  /// Principal directions kept (≥ 1, at most the feature count).
  int64_t n_components = 32;
  /// The threshold is this quantile of the calibration frames' own distances, in (0, 1]: the
  /// share of frames like the calibration set's that stay familiar.
  double quantile = 0.999;
};

/// A fitted familiarity model (ModelMetadata::familiarity's JSON). Plain value type.
struct Familiarity {
  std::vector<double> mean;                     ///< D
  std::vector<std::vector<double>> components;  ///< k orthonormal rows of D
  std::vector<double> variances;                ///< k, > 0
  double residual_variance = 1.0;               ///< σ², > 0
  double threshold = 0;                         ///< distances above it are unfamiliar
  double quantile = 0;                          ///< FamiliarityOptions::quantile it came from
  int64_t n_frames = 0;                         ///< calibration frames it was fitted on

  /// d (see the top of this header). @throws ConfigError when `features` has the wrong size.
  double distance(const std::vector<float>& features) const;
  bool unfamiliar(const std::vector<float>& features) const { return distance(features) > threshold; }
};

/// Fits on calibration frames' trunk features (all the same size D ≥ 2; at least
/// n_components + 2 frames). @throws ConfigError naming the option or the frame at fault.
Familiarity fit_familiarity(const std::vector<std::vector<float>>& features,
                            const FamiliarityOptions& options = {});

nlohmann::json to_json(const Familiarity& familiarity);
/// @throws FormatError naming `source` and the key at fault (sizes, non-positive variances).
Familiarity familiarity_from_json(const nlohmann::json& j, const std::string& source);

}  // namespace difftriage::models
