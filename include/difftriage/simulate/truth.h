/// The JSON sidecar of a simulated frame: the whole truth (geometry, crystals with cells,
/// orientation matrices and mosaic parameters, sub-crystals, ice rings, background, detector,
/// intensity map, labels and measured photon counts).
#pragma once

#include <nlohmann/json.hpp>

#include "difftriage/simulate/simulate.h"

namespace difftriage::simulate {

/// Format version of the sidecar.
inline constexpr int kTruthFormatVersion = 1;

/// The sidecar object of `frame` (lengths mm, wavelength Å, angles degrees, photons expected
/// counts per full-resolution pixel; orientation matrices row-major, lab = U·B·hkl).
nlohmann::json frame_truth_json(const SimulatedFrame& frame);

}  // namespace difftriage::simulate
