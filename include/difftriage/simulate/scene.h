/// What is on one frame: the complete, explicit description (FrameSpec) that rendering turns into
/// pixels, and the randomised scene generator that draws one from documented ranges.
///
/// Every random choice of a frame is made here, once, from the frame's own seed; rendering is
/// then a pure function of the FrameSpec. The ranges below are the defaults of SceneOptions.
///
///   SceneOptions options;                    // randomised geometry, both photosystems
///   FrameKind kind{.crystal = true, .photo1 = true, .quality = Quality::kGood};
///   FrameSpec spec = make_frame_spec(options, kind, derive_seed(seed, index, RngStream::kScene));
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "difftriage/core/detector_geometry.h"
#include "difftriage/core/labels.h"
#include "difftriage/simulate/crystal.h"

namespace difftriage::simulate {

/// mosaic1 = mosaic_deg / kMosaicFullScaleDeg (mosaic spread as the FWHM of the mosaic-block
/// orientation distribution; the generator draws it in [0.02°, 1.0°], so mosaic1 ∈ (0, 1]).
inline constexpr double kMosaicFullScaleDeg = 1.0;
/// mosaic2 = split_deg / kSplitFullScaleDeg (largest misorientation between two sub-crystals; the
/// generator draws it in [0.15°, 2.5°], so mosaic2 ∈ (0, 1] for multilattice frames, else 0).
inline constexpr double kSplitFullScaleDeg = 2.5;

// Quality classes are core's Quality (core/labels.h): blank (air scatter only), noxtal (solvent
// or ice scatter, no crystal), and weak / good / strong cut at kGoodMinBrightSpots and
// kStrongMinBrightSpots bright spots below.

/// A Bragg spot is bright when its expected peak-pixel signal S (photons, full resolution) stands
/// kBrightSpotSnr standard deviations above the local background: S ≥ kBrightSpotSnr·√(B + σ²),
/// with B the expected background photons of that pixel and σ the read noise in photons.
/// 15σ (was 8σ): with the generator's 8-bit maps (noise σ ≈ 3–9 levels per output pixel, background
/// ≈ 110) a bright spot's peak then lands near or above the study's spot level 185, as in the
/// independent nanoBragg reference, where the share of pixels > 185 of "good" frames matches the
/// bright-spot count; at 8σ our good/strong frames showed half the reference's visible spots.
inline constexpr double kBrightSpotSnr = 15.0;
/// Quality thresholds on the number of bright spots (all crystals and sub-crystals together).
inline constexpr int64_t kGoodMinBrightSpots = 100;
inline constexpr int64_t kStrongMinBrightSpots = 1000;
/// The quality class of a crystal frame with `n_bright` bright spots.
Quality quality_from_bright_spots(int64_t n_bright) noexcept;

/// The labels of one frame, in the study's semantics (DESIGN.md "Labels").
struct FrameLabels {
  bool blank = true;  ///< no crystal on the frame
  bool photo1 = false;
  bool photo2 = false;
  bool multilattice = false;
  bool ice = false;
  bool badice = false;  ///< implies ice
  double mosaic1 = 0.0;  ///< largest mosaic spread / kMosaicFullScaleDeg; 0 when blank
  double mosaic2 = 0.0;  ///< split / kSplitFullScaleDeg; 0 unless multilattice
  Quality quality = Quality::kBlank;
};

/// One sub-crystal (piece) of a crystal: its orientation U (lab = U·B·hkl) and volume fraction.
struct SubCrystal {
  Mat3 orientation;
  double weight = 1.0;  ///< share of the crystal's volume; the pieces of a crystal sum to 1
};

/// One crystal on the frame (one or several misoriented pieces).
struct CrystalSpec {
  CrystalKind kind = CrystalKind::kCustom;
  UnitCell cell;
  SpaceGroup space_group = SpaceGroup::kP1;
  std::vector<SubCrystal> pieces;  ///< ≥ 1; more than one ⇒ multilattice
  double split_deg = 0.0;          ///< largest misorientation between two pieces (0 if one)
  double mosaic_deg = 0.1;         ///< mosaic spread, FWHM of the block-orientation distribution
  /// Mosaic model. 0: a continuum of blocks (a reflection's partiality is Gaussian in its
  /// excitation error with σ² = (0.5/L)² + (|g|·σ_mosaic)² + …, and the spot is smeared along its
  /// ring by r·σ_mosaic: the tangential streaks of real, finely mosaic crystals). n > 0: n discrete
  /// blocks, as nanoBragg's `mosaic_domains`: block j is the crystal turned by a Gaussian rotation
  /// vector (σ = mosaic FWHM / 2.3548 per axis, from domain_seed), is itself sharp (shell width
  /// 0.5/L only) and holds 1/n of the volume. A reflection then lights only where a block puts it
  /// on the Ewald sphere: sharp 1–2 px spots, one lune per block, whatever the spread.
  int32_t n_domains = 0;
  uint64_t domain_seed = 0;        ///< seed of the discrete blocks' orientations
  double domain_size_um = 1.0;     ///< mosaic block size (sets the reciprocal-point width 1/L)
  double b_factor_angstrom2 = 30.0;  ///< Debye–Waller fall-off exp(−B/(2d²)) of intensities
  /// Integrated photons of a reflection with |F|²/⟨|F|²⟩ = 1, full partiality, d = ∞, in the
  /// whole crystal (before polarisation and obliquity). Set by quality targeting.
  double photons_scale = 100.0;
  uint64_t structure_seed = 0;  ///< seed of the Wilson structure factors
};

/// Sample and air scatter, beamstop. Photons are expected counts per full-resolution pixel.
struct BackgroundSpec {
  bool solvent = true;                   ///< solvent (water) ring present
  double solvent_peak_photons = 40.0;    ///< at the ring maximum, before polarisation/obliquity
  double solvent_d_angstrom = 3.3;       ///< ring position (resolution of the maximum)
  double solvent_width_inv_angstrom = 0.07;  ///< Gaussian σ of the ring in 1/d
  double air_photons = 10.0;             ///< air scatter at the beam centre
  double air_falloff_deg = 10.0;         ///< e-folding 2θ of the angle-dependent part
  double beamstop_radius_px = 12.0;      ///< shadow disc around the beam centre
  double beamstop_arm_angle_deg = 0.0;   ///< direction of the holder arm (0 = +fast)
  double beamstop_arm_width_px = 8.0;
  double beamstop_transmission = 0.03;   ///< fraction of scatter that passes the shadow
};

/// What kind of ice a frame's rings come from.
enum class IceKind {
  kHexagonal,  ///< well-crystallised hexagonal ice Ih: sharp rings (crystallites 40–250 nm)
  kBroad,      ///< poorly crystalline (nanocrystalline / stacking-disordered) ice: broad rings
};

/// "hexagonal", "broad".
const char* ice_kind_name(IceKind kind) noexcept;

/// Ice powder rings (the Ih d-spacings below). Their width and graininess follow from the ice:
/// each ring's radial σ is the Scherrer width of crystallites `crystallite_nm` across
/// (FWHM Δ2θ = 0.94·λ/(L·cos θ)) with the detector's point spread and the beam's divergence added;
/// the ring is made of the crystallites in reflecting position, N·m·Δθ·cos θ/2 of them (N =
/// volume / L³ crystallites, m the ring's multiplicity, Δθ half the ring's angular width), each a
/// spot as wide as the ring: a few large crystallites give a spotty ring, many small ones a smooth
/// one (see ice_ring_widths_px / ice_grain_counts).
struct IceSpec {
  bool present = false;
  bool bad = false;                    ///< rings near detector saturation (label badice)
  IceKind kind = IceKind::kHexagonal;
  double peak_photons = 0.0;           ///< peak photons/pixel of the strongest ring (3.897 Å)
  double crystallite_nm = 100.0;       ///< mean crystallite size (Scherrer)
  double volume_um3 = 5.0;             ///< illuminated ice volume
  uint64_t grain_seed = 0;
};

/// d-spacings (Å) and approximate relative powder intensities of hexagonal ice Ih
/// (100, 002, 101, 102, 110, 103, 200, 112).
inline constexpr double kIceRingD[8] = {3.897, 3.669, 3.441, 2.671, 2.249, 2.072, 1.918, 1.880};
inline constexpr double kIceRingRelIntensity[8] = {1.0, 0.6, 0.55, 0.2, 0.35, 0.3, 0.05, 0.25};
/// Multiplicities of those reflections in 6/mmm (100: 6, 002: 2, 101: 12, 102: 12, 110: 6,
/// 103: 12, 200: 6, 112: 12).
inline constexpr int kIceRingMultiplicity[8] = {6, 2, 12, 12, 6, 12, 6, 12};

/// Detector response: ADU = pedestal + gain·photons + N(0, read noise), clipped at saturation.
struct DetectorSpec {
  double gain_adu_per_photon = 1.0;
  double readout_noise_adu = 1.0;
  double pedestal_adu = 10.0;
  double saturation_adu = 65535.0;  ///< overload: pixels at or above are clipped here
  /// σ (full-resolution pixels) of the detector's point spread: charge sharing at pixel borders
  /// in hybrid-pixel detectors (PILATUS, EIGER, JUNGFRAU: ≲ 0.3), the phosphor and fibre optics
  /// of integrating detectors (CCD, CMOS: 0.4–1).
  double point_spread_px = 0.6;
};

/// How binning combines `factor`×`factor` full-resolution pixels into one output pixel.
enum class BinningMode {
  kMean,  ///< average (the study's downsampling; dilutes 1–4 px spots)
  kMax,   ///< maximum (keeps spot peaks; the default, see SceneOptions::binning)
};

/// Linear map of binned ADU to 8 bits: v = offset_8bit + (ADU − pedestal)/adu_per_level,
/// rounded and clipped to [0, 255].
struct IntensityMapSpec {
  double offset_8bit = 70.0;
  double adu_per_level = 1.0;
};

/// Everything on one frame. Rendering is a pure function of it.
struct FrameSpec {
  /// Full-resolution detector (defaults: 1.3 Å, 150 mm, 0.172 mm pixels, 1024², centred).
  DetectorGeometry geometry{1.3, 150.0, 0.172, 512.0, 512.0, 1024, 1024};
  double polarization_fraction = 0.95;  ///< fraction of the beam polarised along +fast
  double divergence_deg = 0.0;          ///< beam divergence, σ (adds to mosaic smearing)
  double bandwidth = 0.0;               ///< Δλ/λ, σ (radial spot smearing, partiality)
  std::vector<CrystalSpec> crystals;    ///< empty ⇒ blank
  BackgroundSpec background;
  IceSpec ice;
  DetectorSpec detector;
  IntensityMapSpec intensity_map;
  int32_t bin_factor = 2;               ///< output = full / bin_factor per axis
  BinningMode binning = BinningMode::kMax;
  uint64_t noise_seed = 0;
  Quality target_quality = Quality::kBlank;  ///< what the generator aimed for
  int64_t target_bright_spots = 0;           ///< likewise
};

/// What the generator should put on a frame (drawn from a Mix).
struct FrameKind {
  bool crystal = false;       ///< false ⇒ blank
  bool photo1 = false;        ///< photosystem I lattice (with crystal)
  bool photo2 = false;        ///< photosystem II lattice (with crystal)
  bool custom = false;        ///< the user cell (SceneOptions::custom_cell)
  bool multilattice = false;  ///< split the (first) crystal into 2–3 pieces
  bool ice = false;
  bool badice = false;
  bool solvent = true;        ///< solvent ring (false only for quality-blank frames)
  Quality quality = Quality::kBlank;  ///< weak/good/strong for crystals
};

/// Ranges of the randomised scene; a set override fixes a parameter for every frame.
struct SceneOptions {
  int32_t output_size = 512;   ///< output frame, pixels per axis (8-bit)
  int32_t full_size = 1024;    ///< full-resolution detector, pixels per axis (multiple of output)
  /// Default max: the study's lesson 1 (mean binning erases 1–4 px spots) and the comparison with
  /// the nanoBragg reference, whose spots stay crisp at 512² (noise σ ≈ 4–5 levels per pixel, as
  /// full-resolution noise is after max binning, vs ≈ 2 after mean binning, which also halved our
  /// pixels > 185 of good frames). kMean reproduces the study's own downsampling.
  BinningMode binning = BinningMode::kMax;

  std::optional<double> wavelength_angstrom;  ///< default: uniform in [0.9, 1.8] Å
  std::optional<double> distance_mm;          ///< default: from the edge resolution below
  std::optional<double> pixel_size_mm;        ///< default: uniform in [0.075, 0.172] mm
  /// When distance is not fixed: the resolution at the detector's edge midpoint, uniform in
  /// [edge_resolution_min, max] Å; distance = r_edge·pixel / tan 2θ_edge. Protein
  /// crystallography often records to 1.5–2 Å at the edge; 1.7 Å (was 1.9) lets more strong
  /// frames reach the 2.6 Å the nanoBragg reference's strong frames reach, at 1.5 Å the
  /// simulator fell below 15 frames/s per core (more reflections per frame).
  double edge_resolution_min_angstrom = 1.7;
  double edge_resolution_max_angstrom = 3.4;
  double beam_center_jitter_fraction = 0.03;  ///< beam centre = centre ± this × size (uniform)

  double mosaic_min_deg = 0.02, mosaic_max_deg = 1.0;  ///< ≤ kMosaicFullScaleDeg
  double split_min_deg = 0.15, split_max_deg = 2.5;    ///< ≤ kSplitFullScaleDeg
  double domain_size_min_um = 0.3, domain_size_max_um = 3.0;
  /// B-factor (Å²), uniform in [b_factor_min, upper] with upper = b_factor_max for weak frames,
  /// b_factor_good_max for good and b_factor_strong_max for strong ones. Why tied to quality:
  /// quality targeting sets the photon scale from the bright-spot count, so a strong frame with a
  /// steep fall-off (B = 80) put its ≥ 1000 bright spots all at d > 3.5 Å, bunched in dense
  /// low-resolution arcs that the spot finder merges (5 % of our strong frames' bright spots lay
  /// beyond 4.5 Å, vs 2.5–2.8 Å in the nanoBragg reference, whose strong frames have B = 25–45,
  /// good 45–70, weak 70–100). A crystal that gives a thousand strong spots diffracts to high
  /// resolution. The ranges cover the reference's with room on both sides.
  double b_factor_min = 10.0, b_factor_max = 110.0;
  double b_factor_good_max = 80.0, b_factor_strong_max = 50.0;
  /// Share of crystals with discrete mosaic blocks (CrystalSpec::n_domains > 0); the others use
  /// the continuous mosaic model.
  double discrete_domains_fraction = 0.7;
  double divergence_max_deg = 0.02;                    ///< σ, uniform in [0, max]
  double bandwidth_max = 0.002;                        ///< Δλ/λ σ, uniform in [0, max]
  /// Cell used for FrameKind::custom (kind custom, space group P1).
  std::optional<UnitCell> custom_cell;
};

/// Checks the options. @throws ConfigError naming the option at fault.
void validate_scene_options(const SceneOptions& options);

/// Draws every random parameter of one frame from `seed` (see the ranges above). The crystal
/// photon scale is a placeholder until quality targeting (simulate_frame) sets it.
/// @throws ConfigError if options are invalid or `kind` asks for a custom cell without one.
FrameSpec make_frame_spec(const SceneOptions& options, const FrameKind& kind, uint64_t seed);

/// Checks a frame's full-resolution detector for rendering: DetectorGeometry::validate() and a
/// known size of 1..8192 pixels per axis. @throws ConfigError naming the field.
void validate_simulated_geometry(const DetectorGeometry& geometry);

/// The geometry of the frame written to disk: `spec.geometry` binned by `spec.bin_factor`
/// (pixel size × b, size ÷ b, beam centre ÷ b: output pixel j covers full pixels
/// j·b … j·b + b − 1, so pixel edges map onto pixel edges).
/// @throws ConfigError if the geometry or the bin factor is invalid.
DetectorGeometry output_geometry(const FrameSpec& spec);

/// Whether a split crystal's split shows on the frame (issue 17: labels by visibility). Visible
/// when the largest misorientation between its pieces exceeds the crystal's own mosaic spread
/// (FWHM; below it each piece's spots fall inside the other's spread) and moves a spot at the
/// frame's median bright-spot radius by at least one output pixel (split in rad × radius ≥ 1).
/// `median_bright_radius_px`: the median distance of the frame's bright spots from the beam
/// centre on the output frame; 0 (no bright spot) means nothing shows. The geometric truth
/// (`split_deg`) stays in the sidecar; FrameStats::split_visible records this rule.
bool split_is_visible(double split_deg, double mosaic_deg, double median_bright_radius_px);

}  // namespace difftriage::simulate
