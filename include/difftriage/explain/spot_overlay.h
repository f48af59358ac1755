/// explain's picture of the spot evidence: a frame (max-binned to a displayable size, grey on a
/// log scale) with every peak the evidence found circled in the colour of its role
/// (features::PeakRole): red Bragg peaks (those the veto guard and the cell match count), yellow
/// weaker peaks, cyan peaks on an ice ring, grey peaks near the beam. No LibTorch.
///
///   auto r = stage.measure(frame, geometry_lookup, /*keep_peaks=*/true);
///   explain::RgbPicture pic = explain::draw_peaks(frame, r.evidence.peaks, r.binning, geometry);
///   write_png(pic);   // pic.rgb: n_slow × n_fast × 3 bytes
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "difftriage/core/detector_geometry.h"
#include "difftriage/core/image.h"
#include "difftriage/features/lattice.h"
#include "difftriage/features/peaks.h"

namespace difftriage::explain {

/// An RGB picture, row-major, 3 bytes per pixel. Plain value type.
struct RgbPicture {
  int64_t n_slow = 0;
  int64_t n_fast = 0;
  std::vector<uint8_t> rgb;
};

/// The colour a peak of `role` is drawn in (the legend explain's page prints).
std::array<uint8_t, 3> role_colour(features::PeakRole role) noexcept;

/// Draws `frame` with `peaks` (pixel-edge coordinates of the frame max-binned by
/// `peak_binning`, as EvidenceStage reports them) circled, coloured by their role on `geometry`
/// (the original frame's; without one every peak is drawn as Bragg when its SNR reaches
/// `options.bragg_min_snr`, else as weak). The frame is max-binned by the smallest factor that
/// brings its longer side within `max_side_px`; masked pixels are dark blue. Pure.
/// @throws ConfigError for an empty frame, peak_binning < 1 or max_side_px < 16.
RgbPicture draw_peaks(const AnyImage& frame, const std::vector<features::Peak>& peaks,
                      int64_t peak_binning, const std::optional<DetectorGeometry>& geometry,
                      const features::LatticeOptions& options = {}, int64_t max_side_px = 1024);

}  // namespace difftriage::explain
