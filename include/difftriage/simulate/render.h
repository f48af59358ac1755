/// Rendering of expected photon counts (no noise yet): Bragg spots of every crystal piece,
/// solvent and air scatter, ice rings, polarisation, obliquity and the beamstop shadow.
/// Every function here is a pure function of its arguments and safe to call concurrently.
///
///   std::vector<Reflection> spots = predict_reflections(spec);
///   Image<float> photons = render_background(spec);
///   add_spots(photons, spots);
///   apply_beamstop(photons, spec);
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "difftriage/core/image.h"
#include "difftriage/simulate/scene.h"

namespace difftriage::simulate {

/// A reflection excited near the Ewald sphere that lands on the detector.
struct Reflection {
  int32_t h = 0, k = 0, l = 0;
  int16_t crystal = 0;  ///< index into FrameSpec::crystals
  int16_t piece = 0;    ///< index into CrystalSpec::pieces
  double fast_px = 0.0, slow_px = 0.0;  ///< spot centre (pixel centres at integer coordinates)
  double d_angstrom = 0.0;
  double excitation_error = 0.0;  ///< |k_in + g| − 1/λ, Å⁻¹
  /// Fraction of the piece in reflecting position, ∈ (0, 1]: exp(−ε²/2σ_ε²) (continuous mosaic),
  /// or Σ over the blocks that make this spot of exp(−ε_j²/2σ_ε²)/n_domains (discrete blocks).
  double partiality = 0.0;
  /// Integrated photons per unit CrystalSpec::photons_scale (so photons = scale × this).
  double photons_per_scale = 0.0;
  double photons = 0.0;            ///< integrated expected photons at the spec's scale
  double sigma_radial_px = 0.5;    ///< Gaussian σ along the line to the beam centre
  double sigma_tangential_px = 0.5;  ///< σ along the ring (grows with mosaic spread)
  double radial_cos = 1.0, radial_sin = 0.0;  ///< unit vector from the beam centre to the spot
};

/// Options of predict_reflections.
struct PredictOptions {
  /// Keep reflections with partiality ≥ this (exp(−ε²/2σ²) ≥ 1e-2 ⇔ |ε| ≤ 3.03σ).
  double min_partiality = 1e-2;
  /// Ignore reflections with d larger than this (Å): hidden by the beamstop anyway.
  double max_d_angstrom = 100.0;
};

/// Enumerates, for every crystal piece, the reflections hkl within the detector's resolution
/// whose excitation error is small, solving the Ewald condition |k_in + U·B·hkl| = 1/λ for the
/// third index analytically (no pixel × reflection loop). Intensity of each:
///   scale · w_piece · I_Wilson(hkl) · exp(−B/(2d²)) · partiality · polarisation
/// (no cos³2θ: the pixel solid angle spreads a spot's photons, it does not remove them)
/// with σ_ε² = (0.5/L)² + (|g|·σ_angle)² + (|g|²λ·Δλ/λ/2)², σ_angle² = σ_mosaic² + σ_divergence²,
/// σ_mosaic = mosaic FWHM / 2.3548. Spot profile on the detector (pixels), from the physics that
/// sets it: σ_iso² = σ_psf² + (k·λ·0.5/L)² + (k·σ_divergence)² with k = D/(pixel·cos²2θ) (the
/// detector's point spread; the diffraction cone of a crystal L long; the beam's divergence),
/// σ_tangential² = σ_iso² + (r·σ_mosaic)² (continuous mosaic: rotation about the beam moves a
/// spot along its ring), σ_radial² = σ_iso² + (k·2 tan θ·Δλ/λ)² (bandwidth).
/// Discrete mosaic blocks (CrystalSpec::n_domains > 0): each block is a sharp crystal (σ_mosaic
/// = 0 in σ_ε and σ_tangential) turned by its own small rotation R_j; a reflection gives one spot
/// per block that reflects it, at R_j·g, holding 1/n_domains of the volume; spots of one hkl
/// within 0.5 px of each other are merged into one.
/// Systematic absences of the crystal's space group are left out.
std::vector<Reflection> predict_reflections(const FrameSpec& spec,
                                            const PredictOptions& options = {});

/// Fraction of a spot's integrated photons in its brightest full-resolution pixel (Gaussian
/// profile with the pixel's box variance 1/12 added).
double spot_peak_fraction(const Reflection& reflection) noexcept;

/// Radial Gaussian σ (full-resolution pixels) of each ice ring (kIceRingD order) on the frame's
/// detector: the Scherrer width of spec.ice.crystallite_nm (FWHM Δ2θ = 0.94·λ/(L·cos θ)) and the
/// beam's divergence, both × D/(pixel·cos²2θ), with the point spread added in quadrature; 0 for a
/// ring that does not reach the detector plane.
std::array<double, 8> ice_ring_widths_px(const FrameSpec& spec);

/// Expected number of ice crystallites in reflecting position on each ring (kIceRingD order):
/// N·m·Δθ·cos θ / 2 with N = volume / L³, m the ring's multiplicity and Δθ half the ring's angular
/// FWHM (Scherrer and divergence).
std::array<double, 8> ice_grain_counts(const FrameSpec& spec);

/// Expected photons per full-resolution pixel of solvent ring + air scatter + ice rings, with
/// polarisation and the cos³2θ pixel solid angle; no beamstop, no Bragg spots.
Image<float> render_background(const FrameSpec& spec);

/// Spots with both σ below this (pixels) are integrated over each pixel's area; wider ones are
/// sampled at pixel centres (where the two agree to a few per cent).
inline constexpr double kNarrowSpotSigmaPx = 0.6;

/// Adds the Bragg spots (each an anisotropic Gaussian holding `photons`, truncated at 4σ; see
/// kNarrowSpotSigmaPx).
void add_spots(Image<float>& photons, const std::vector<Reflection>& reflections);

/// Fraction of scatter that reaches pixel (fast, slow) past the beamstop (disc + holder arm).
double beamstop_factor(const FrameSpec& spec, double fast, double slow) noexcept;

/// Multiplies every pixel by its beamstop factor.
void apply_beamstop(Image<float>& photons, const FrameSpec& spec);

/// For each reflection, the factor by which its current `photons` must be multiplied for it to
/// become bright (peak ≥ kBrightSpotSnr·√(B + σ_read²), B from `background`, the expected
/// background photons); +inf if it never can (no photons, fully shadowed).
std::vector<double> bright_thresholds(const FrameSpec& spec,
                                      const std::vector<Reflection>& reflections,
                                      const Image<float>& background);

/// Number of reflections that are bright at their current `photons`.
int64_t count_bright_spots(const FrameSpec& spec, const std::vector<Reflection>& reflections,
                           const Image<float>& background);

}  // namespace difftriage::simulate
