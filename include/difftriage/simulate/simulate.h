/// The diffraction simulator: labelled training frames from physics (DESIGN.md "Simulator").
///
/// One frame = a FrameSpec drawn from the frame's own seed (scene.h), Bragg spots, solvent, air
/// and ice scatter rendered as expected photons (render.h), detector noise, binning and the 8-bit
/// map (detector.h). Per-frame seeds are derive_seed(seed, index, stream) (random.h), so frame i
/// is the same whatever the thread count or the order frames are made in.
///
///   SimulateOptions options;
///   options.mix = study_mix();
///   options.seed = 7;
///   SimulatedFrame frame = simulate_frame(options, 0);   // fake_00001
///   // frame.image: 512×512 8-bit; frame.labels; frame_truth_json(frame) for the sidecar
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "difftriage/core/image.h"
#include "difftriage/simulate/mix.h"
#include "difftriage/simulate/render.h"
#include "difftriage/simulate/scene.h"

namespace difftriage::simulate {

/// Reflections whose expected peak signal is below this many background standard deviations are
/// left out of the picture (invisible one by one; skipping them keeps large-mosaic frames fast).
inline constexpr double kMinDrawnSnr = 0.5;

/// Options of a simulation run.
struct SimulateOptions {
  SceneOptions scene;
  Mix mix = balanced_mix();
  uint64_t seed = 0;
  bool keep_full_frame = false;  ///< also return the full-resolution ADU frame
  /// Attempts (fresh geometry and orientation) to reach the drawn quality class before the
  /// measured class is accepted as it is.
  int32_t max_quality_attempts = 4;
};

/// Checks options. @throws ConfigError naming the option.
void validate_simulate_options(const SimulateOptions& options);

/// Measured facts of one rendered frame.
struct FrameStats {
  int64_t n_reflections = 0;   ///< reflections predicted on the detector (all pieces)
  int64_t n_bright = 0;        ///< bright spots (kBrightSpotSnr criterion)
  /// Pixels of the output (binned) frame that hold the centre of at least one bright
  /// reflection: the bright spots as far as the output frame can tell them apart. Below
  /// n_bright when bright reflections crowd into one output pixel.
  int64_t n_bright_pixels = 0;
  int64_t n_drawn = 0;         ///< reflections drawn (peak ≥ kMinDrawnSnr σ of the background)
  double bragg_photons = 0.0;  ///< expected photons in all spots
  double background_photons = 0.0;  ///< expected photons of solvent + air + ice (after beamstop)
  double ice_peak_photons = 0.0;    ///< expected peak of the strongest ice ring (0 without ice)
  int64_t n_overloaded = 0;    ///< full-resolution pixels at saturation
  int32_t attempts = 1;        ///< scene draws used for quality targeting
  /// Resolution the frame's Bragg spots reach: the 5th percentile (nearest rank) of d over the
  /// bright reflections whose centre is on the detector (95 % of them lie at lower resolution);
  /// unset without such a reflection.
  std::optional<double> d_min_angstrom;
  /// Whether a split shows (split_is_visible, scene.h) for some split crystal on the frame;
  /// unset when no crystal is split.
  std::optional<bool> split_visible;
  // 8-bit output statistics (what the study's images show).
  double median_8bit = 0.0, p5_8bit = 0.0, p95_8bit = 0.0;
  int64_t n_8bit_ge185 = 0, n_8bit_255 = 0;
};

/// Where a bright reflection's centre lies on the output (binned) frame, in output pixels
/// (pixel centres at integer coordinates, as Reflection::fast_px on the full frame).
struct BrightSpot {
  double slow = 0.0, fast = 0.0;
};

/// One simulated frame.
struct SimulatedFrame {
  int64_t index = 0;
  uint64_t seed = 0;            ///< run seed
  FrameSpec spec;               ///< with the final (targeted) photon scales
  FrameLabels labels;
  FrameStats stats;
  /// Every bright reflection (the n_bright of stats) whose centre is on the detector, in the
  /// order the reflections were predicted: what a perfect spot finder would list, and the
  /// per-pixel truth that a spot-density target is made from (sidecar `bright_spots`).
  std::vector<BrightSpot> bright_spots;
  Image<uint8_t> image;         ///< output frame, output_size², 8-bit
  Image<float> full_adu;        ///< full-resolution ADU; empty unless keep_full_frame
};

/// File stem of frame `index` in the study's naming: index 0 → "fake_00001".
std::string frame_file_stem(int64_t index);

/// Simulates frame `index` of the run: a pure function of (options, index), safe to call
/// concurrently. @throws ConfigError on invalid options.
SimulatedFrame simulate_frame(const SimulateOptions& options, int64_t index);

/// Renders a given spec (no quality targeting): expected photons, noise, binning, 8-bit map,
/// labels measured from the physics. Pure and thread-safe; used by simulate_frame and tests.
SimulatedFrame render_frame(const FrameSpec& spec, bool keep_full_frame = false);

/// Labels of a rendered spec given its bright-spot count.
FrameLabels labels_from_spec(const FrameSpec& spec, int64_t n_bright);

}  // namespace difftriage::simulate
