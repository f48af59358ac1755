/// Azimuthal averages around the beam centre: the radial profile behind the ice score, the
/// solvent-ring check and `dataset compare`.
///
///   auto profile = difftriage::features::radial_profile(frame.view());   // centre from metadata
///   double r = profile.radius_px[k], mean = profile.mean[k];
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "difftriage/core/image.h"

namespace difftriage::features {

/// Where the beam hits and how finely to bin.
struct RadialProfileOptions {
  /// Beam centre in pixels (fast, slow), corner-origin. Unset: the frame's metadata, else the
  /// frame's centre.
  std::optional<double> center_fast_px;
  std::optional<double> center_slow_px;
  double bin_width_px = 1.0;  ///< width of one radial shell
};

/// Mean of unmasked pixels per shell [k * bin_width, (k + 1) * bin_width).
struct RadialProfile {
  double center_fast_px = 0;
  double center_slow_px = 0;
  double bin_width_px = 1.0;
  std::vector<double> radius_px;  ///< shell centres
  std::vector<double> mean;       ///< 0 where a shell has no pixel
  std::vector<int64_t> n_pixels;
};

/// Beam centre per the rule in RadialProfileOptions, as {fast, slow}.
std::pair<double, double> beam_center_px(const ImageView<float>& image,
                                         const RadialProfileOptions& options);

/// Computes the profile. Pure; thread-safe.
/// @throws ConfigError if bin_width_px <= 0.
RadialProfile radial_profile(const ImageView<float>& image,
                             const RadialProfileOptions& options = {});

}  // namespace difftriage::features
