/// What a simulated frame's JSON sidecar (`fake_00001.json` beside `fake_00001.pgm`, written by
/// `difftriage simulate`, see simulate/truth.h) tells beyond the label files. Frames from other
/// sources have no sidecar; then nothing is known and nothing is read.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "difftriage/core/detector_geometry.h"

namespace difftriage::dataset {

/// Truth read from a sidecar.
struct SidecarTruth {
  /// Reflections brighter than the bright-spot threshold (`stats.n_bright`): 0 means the crystal
  /// diffracts but no spot stands out of the background, a frame without usable diffraction.
  int64_t bright_spots = 0;
  /// The geometry of the frame as written (the sidecar's full-resolution `geometry` binned by its
  /// `bin_factor`, see simulate::output_geometry); absent when the sidecar has no `geometry`.
  std::optional<DetectorGeometry> geometry;
  /// "discrete" when a crystal on the frame has discrete mosaic blocks (`crystals[].n_domains`
  /// > 0), "continuous" when every crystal uses the continuous mosaic model, empty without
  /// crystals.
  std::string mosaic_regime;
  /// `stats.d_min_angstrom`: the 5th percentile of d over the frame's bright reflections (Å);
  /// absent without a bright reflection or in sidecars older than 0.9.
  std::optional<double> d_min_angstrom;
  /// `stats.split_visible` (simulate::split_is_visible): whether a split crystal's split shows
  /// on the frame; absent without a split crystal or in sidecars older than 0.10.
  std::optional<bool> split_visible;
};

/// The sidecar of `image` (same path, extension `.json`), when that file exists.
/// @throws FormatError naming the sidecar if it exists but is not JSON, lacks a non-negative
///         integer `stats.n_bright`, or has a `geometry` that is not a valid geometry with a
///         positive integer `bin_factor` dividing its size; IoError if it exists but cannot be
///         read.
[[nodiscard]] std::optional<SidecarTruth> read_sidecar_truth(const std::filesystem::path& image);

}  // namespace difftriage::dataset
