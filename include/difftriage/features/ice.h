/// A classical ice-ring score from shell medians: how much brighter a narrow shell is than its
/// neighbouring shells, in units of its noise. Medians make Bragg spots (a few pixels of a shell)
/// nearly invisible while a powder ring (the whole shell) stands out.
#pragma once

#include <array>
#include <optional>

#include "difftriage/core/detector_geometry.h"
#include "difftriage/core/image.h"
#include "difftriage/features/radial.h"

namespace difftriage::features {

/// Hexagonal ice (Ih) powder lines, d in Å, in order of decreasing d: (100), (002), (101),
/// (102), (110), (103), (112), (201).
inline constexpr std::array<double, 8> kIceRingsAngstrom = {3.897, 3.669, 3.441, 2.671,
                                                            2.249, 2.072, 1.918, 1.880};

/// Options of ice_score. With a geometry the score looks for rings at the ice d-spacings;
/// without one it searches every radius (a ring anywhere counts).
struct IceScoreOptions {
  /// Beam centre (unset: the geometry's, else the frame's metadata, else the frame centre); bin
  /// width 1 px by default.
  RadialProfileOptions profile;
  /// Unset: the frame's metadata when it has wavelength, distance and pixel size and a flat
  /// detector (the beam centre then is the one the profile uses). Its size, if known, is unused.
  std::optional<DetectorGeometry> geometry;
  int ring_half_width_bins = 1;        ///< shells counted as "on the ring" either side of it
  int flank_bins = 6;                  ///< shells each side used as the local baseline
  double min_radius_px = 20;           ///< ignore the beamstop region in the blind search
};

/// Ring contrast for one frame.
struct IceScore {
  double score = 0;        ///< max over candidate radii of (ring median − baseline) / noise
  double radius_px = 0;    ///< where the max was found
  double d_angstrom = 0;   ///< its resolution (0 when the geometry is unknown)
  bool used_geometry = false;
};

/// Computes the score. Pure; thread-safe.
/// @throws ConfigError if the bin width is not > 0 or `options.geometry` is unphysical.
IceScore ice_score(const ImageView<float>& image, const IceScoreOptions& options = {});

}  // namespace difftriage::features
