#include "difftriage/simulate/scene.h"

#include <algorithm>
#include <cmath>

#include "difftriage/core/error.h"
#include "difftriage/simulate/random.h"

namespace difftriage::simulate {

const char* ice_kind_name(IceKind kind) noexcept {
  return kind == IceKind::kBroad ? "broad" : "hexagonal";
}

Quality quality_from_bright_spots(int64_t n_bright) noexcept {
  if (n_bright >= kStrongMinBrightSpots) return Quality::kStrong;
  if (n_bright >= kGoodMinBrightSpots) return Quality::kGood;
  return Quality::kWeak;
}

void validate_scene_options(const SceneOptions& o) {
  DT_CHECK(o.output_size >= 16 && o.output_size <= 4096, ConfigError,
           "output_size must be in [16, 4096] pixels, got ", o.output_size);
  DT_CHECK(o.full_size >= o.output_size, ConfigError, "full_size (detector, ", o.full_size,
           " px) must not be smaller than output_size (", o.output_size, " px)");
  DT_CHECK(o.full_size % o.output_size == 0, ConfigError, "full_size (", o.full_size,
           ") must be an integer multiple of output_size (", o.output_size, ")");
  DT_CHECK(o.full_size <= 8192, ConfigError, "full_size must be ≤ 8192, got ", o.full_size);
  if (o.wavelength_angstrom) {
    DT_CHECK(*o.wavelength_angstrom > 0.0 && *o.wavelength_angstrom < 10.0, ConfigError,
             "wavelength_angstrom must be in (0, 10) Å, got ", *o.wavelength_angstrom);
  }
  if (o.distance_mm) {
    DT_CHECK(*o.distance_mm > 0.0, ConfigError, "distance_mm must be > 0, got ", *o.distance_mm);
  }
  if (o.pixel_size_mm) {
    DT_CHECK(*o.pixel_size_mm > 0.0, ConfigError, "pixel_size_mm must be > 0, got ",
             *o.pixel_size_mm);
  }
  DT_CHECK(o.edge_resolution_min_angstrom > 0.0 &&
               o.edge_resolution_min_angstrom <= o.edge_resolution_max_angstrom,
           ConfigError, "edge resolution range must satisfy 0 < min ≤ max");
  DT_CHECK(o.mosaic_min_deg > 0.0 && o.mosaic_min_deg <= o.mosaic_max_deg &&
               o.mosaic_max_deg <= kMosaicFullScaleDeg,
           ConfigError, "mosaic range must satisfy 0 < min ≤ max ≤ ", kMosaicFullScaleDeg, "°");
  DT_CHECK(o.split_min_deg > 0.0 && o.split_min_deg <= o.split_max_deg &&
               o.split_max_deg <= kSplitFullScaleDeg,
           ConfigError, "split range must satisfy 0 < min ≤ max ≤ ", kSplitFullScaleDeg, "°");
  DT_CHECK(o.domain_size_min_um > 0.0 && o.domain_size_min_um <= o.domain_size_max_um,
           ConfigError, "domain size range must satisfy 0 < min ≤ max");
  DT_CHECK(o.b_factor_min >= 0.0 && o.b_factor_min <= o.b_factor_max, ConfigError,
           "B-factor range must satisfy 0 ≤ min ≤ max");
  DT_CHECK(o.b_factor_strong_max >= o.b_factor_min && o.b_factor_good_max >= o.b_factor_min,
           ConfigError, "b_factor_strong_max and b_factor_good_max must be ≥ b_factor_min");
  DT_CHECK(o.discrete_domains_fraction >= 0.0 && o.discrete_domains_fraction <= 1.0, ConfigError,
           "discrete_domains_fraction must be in [0, 1], got ", o.discrete_domains_fraction);
  DT_CHECK(o.beam_center_jitter_fraction >= 0.0 && o.beam_center_jitter_fraction < 0.4,
           ConfigError, "beam_center_jitter_fraction must be in [0, 0.4)");
  if (o.custom_cell) validate_cell(*o.custom_cell);
}

namespace {

DetectorGeometry draw_geometry(const SceneOptions& o, Rng& rng) {
  DetectorGeometry g;
  g.n_fast = g.n_slow = o.full_size;
  g.wavelength_angstrom = o.wavelength_angstrom ? *o.wavelength_angstrom : rng.uniform(0.9, 1.8);
  g.pixel_size_mm = o.pixel_size_mm ? *o.pixel_size_mm : rng.uniform(0.075, 0.172);
  const double n = o.full_size;
  g.beam_center_fast_px = n / 2.0 + rng.uniform(-1.0, 1.0) * o.beam_center_jitter_fraction * n;
  g.beam_center_slow_px = n / 2.0 + rng.uniform(-1.0, 1.0) * o.beam_center_jitter_fraction * n;
  const double d_edge =
      rng.uniform(o.edge_resolution_min_angstrom, o.edge_resolution_max_angstrom);
  if (o.distance_mm) {
    g.distance_mm = *o.distance_mm;
  } else {
    // Choose the distance that puts d_edge at the nearest detector edge: r = D·tan 2θ.
    const double r_edge_px = std::min({g.beam_center_fast_px, n - g.beam_center_fast_px,
                                       g.beam_center_slow_px, n - g.beam_center_slow_px});
    const double sin_theta = std::min(0.9, g.wavelength_angstrom / (2.0 * d_edge));
    const double two_theta = 2.0 * std::asin(sin_theta);
    g.distance_mm = r_edge_px * g.pixel_size_mm / std::tan(std::min(two_theta, 1.3));
  }
  return g;
}

// Upper end of the B-factor range for a crystal aiming at `quality` (see SceneOptions).
double b_factor_upper(const SceneOptions& o, Quality quality) {
  const double cap = quality == Quality::kStrong ? o.b_factor_strong_max
                     : quality == Quality::kGood ? o.b_factor_good_max
                                                      : o.b_factor_max;
  return std::max(o.b_factor_min, std::min(o.b_factor_max, cap));
}

CrystalSpec draw_crystal(const SceneOptions& o, const CrystalPreset& preset, Quality quality,
                         Rng& rng) {
  CrystalSpec c;
  c.kind = preset.kind;
  c.cell = preset.cell;
  c.space_group = preset.space_group;
  c.pieces = {SubCrystal{random_rotation(rng), 1.0}};
  c.mosaic_deg = rng.uniform(o.mosaic_min_deg, o.mosaic_max_deg);
  c.domain_size_um = rng.log_uniform(o.domain_size_min_um, o.domain_size_max_um);
  c.b_factor_angstrom2 = rng.uniform(o.b_factor_min, b_factor_upper(o, quality));
  c.structure_seed = rng.next();
  // Discrete blocks for most crystals (the look of nanoBragg stills: sharp spots in lunes); the
  // rest keep the continuous model (tangentially streaked spots of finely mosaic crystals). More
  // blocks for wider spreads, as one samples a wider orientation distribution with more blocks:
  // log-uniform in [3 + 8·m, 6 + 24·m] for a spread of m degrees (3–7 at 0.02°, 11–30 at 1°;
  // the reference's frames used 6–26). Prediction cost grows with the count.
  c.domain_seed = rng.next();
  if (rng.bernoulli(o.discrete_domains_fraction)) {
    const double m = c.mosaic_deg;
    c.n_domains = static_cast<int32_t>(std::lround(rng.log_uniform(3.0 + 8.0 * m, 6.0 + 24.0 * m)));
  }
  return c;
}

void split_crystal(const SceneOptions& o, CrystalSpec& c, Rng& rng) {
  // 2 or 3 pieces. Piece 1 is rotated by exactly split_deg about a random axis; piece 2 (if any)
  // by a fraction of it about the same axis, so the largest pairwise misorientation is split_deg.
  const int n_pieces = rng.bernoulli(0.5) ? 2 : 3;
  c.split_deg = rng.uniform(o.split_min_deg, o.split_max_deg);
  const Mat3 u0 = c.pieces[0].orientation;
  const double z = 2.0 * rng.uniform() - 1.0, phi = 2.0 * M_PI * rng.uniform();
  const double rr = std::sqrt(std::max(0.0, 1.0 - z * z));
  const Vec3 axis{rr * std::cos(phi), rr * std::sin(phi), z};
  c.pieces.clear();
  std::vector<double> fractions = {0.0, 1.0};
  if (n_pieces == 3) fractions.push_back(rng.uniform(0.3, 0.7));
  double total = 0.0;
  for (double f : fractions) {
    const double w = rng.uniform(0.5, 1.0);
    total += w;
    c.pieces.push_back({rotation_about_axis(axis, f * c.split_deg * M_PI / 180.0) * u0, w});
  }
  for (auto& p : c.pieces) p.weight /= total;
}

}  // namespace

FrameSpec make_frame_spec(const SceneOptions& o, const FrameKind& kind, uint64_t seed) {
  validate_scene_options(o);
  Rng rng(seed);
  FrameSpec s;
  s.geometry = draw_geometry(o, rng);
  validate_simulated_geometry(s.geometry);
  s.bin_factor = o.full_size / o.output_size;
  s.binning = o.binning;
  s.polarization_fraction = rng.uniform(0.5, 0.99);
  s.divergence_deg = rng.uniform(0.0, o.divergence_max_deg);
  s.bandwidth = rng.uniform(0.0, o.bandwidth_max);
  s.noise_seed = rng.next();
  const double size_scale = o.full_size / 1024.0;

  // Intensity scale of the frame: photons per 8-bit level sets how grainy the noise looks;
  // every scatter level below is drawn in 8-bit levels and converted, so backgrounds land in the
  // study's 80–160 band whatever the photon budget. 0.35–3 photons per level: how an 8-bit
  // export scales counts is the exporter's choice; at 0.35 one photon is ~3 levels, and the
  // noise of a blank frame (σ ≈ √(levels/photons per level)) spans 1–3.5 levels.
  const double photons_per_level = rng.log_uniform(0.35, 3.0);
  DetectorSpec& det = s.detector;
  det.gain_adu_per_photon = rng.log_uniform(0.5, 4.0);
  det.readout_noise_adu = rng.uniform(0.0, 1.5) * det.gain_adu_per_photon;
  det.pedestal_adu = std::floor(rng.uniform(0.0, 50.0));
  det.saturation_adu = std::floor(rng.uniform(30000.0, 65535.0));
  // Point spread: 60 % hybrid-pixel detectors (a photon counted in one pixel, charge shared at
  // pixel borders: σ 0–0.3 px), 40 % integrating ones (phosphor, fibre optics: σ 0.4–1 px).
  det.point_spread_px = rng.bernoulli(0.6) ? rng.uniform(0.0, 0.3) : rng.uniform(0.4, 1.0);
  s.intensity_map.offset_8bit = rng.uniform(60.0, 82.0);
  s.intensity_map.adu_per_level = photons_per_level * det.gain_adu_per_photon;

  BackgroundSpec& bg = s.background;
  bg.air_photons = rng.uniform(5.0, 22.0) * photons_per_level;
  bg.air_falloff_deg = rng.uniform(5.0, 25.0);
  bg.solvent = kind.solvent;
  bg.solvent_peak_photons = kind.solvent ? rng.uniform(40.0, 85.0) * photons_per_level : 0.0;
  bg.solvent_d_angstrom = rng.uniform(3.0, 3.7);
  // σ 0.04–0.09 Å⁻¹ in 1/d (FWHM 0.09–0.21): pure water's first maximum is ~0.1 Å⁻¹ wide (FWHM),
  // salts, PEG and glycerol broaden it.
  bg.solvent_width_inv_angstrom = rng.uniform(0.04, 0.09);
  // Beamstop disc from almost none to large; 30 % of frames without a visible holder arm (some
  // set-ups hold the stop from upstream), so models do not learn the arm as a frame feature.
  bg.beamstop_radius_px = rng.uniform(2.0, 20.0) * size_scale;
  bg.beamstop_arm_angle_deg = rng.uniform(0.0, 360.0);
  bg.beamstop_arm_width_px = rng.bernoulli(0.3) ? 0.0 : rng.uniform(4.0, 12.0) * size_scale;
  bg.beamstop_transmission = rng.uniform(0.005, 0.05);

  IceSpec& ice = s.ice;
  ice.present = kind.ice || kind.badice;
  ice.bad = kind.badice;
  ice.grain_seed = rng.next();
  // Two kinds of ice, equally often: hexagonal ice Ih of crystallites 40–250 nm (Scherrer: ring
  // FWHM ≈ 0.5–3 mrad in 2θ, sharp rings of a pixel or two) and poorly crystalline ice of 6–25 nm
  // crystallites (broad rings, the 3.90/3.67/3.44 Å triplet merged). Illuminated ice volume
  // 3–300 µm³ (a 2–20 µm beam through 0.1–1 µm of ice): large crystallites in a small volume
  // give rings of a few grains, small ones smooth rings.
  ice.kind = rng.bernoulli(0.5) ? IceKind::kHexagonal : IceKind::kBroad;
  ice.crystallite_nm = ice.kind == IceKind::kHexagonal ? rng.log_uniform(40.0, 250.0)
                                                       : rng.log_uniform(6.0, 25.0);
  ice.volume_um3 = rng.log_uniform(3.0, 300.0);
  if (ice.present) {
    if (ice.bad) {
      // Rings whose peak reaches 0.6–2× the detector's overload level.
      ice.peak_photons = rng.uniform(0.6, 2.0) * det.saturation_adu / det.gain_adu_per_photon;
    } else {
      // Mild rings: 0.5–5× the typical sample background at the 3.9 Å ring.
      const double local = bg.solvent_peak_photons * 0.5 + bg.air_photons * 0.6;
      ice.peak_photons = rng.uniform(0.5, 5.0) * std::max(local, 10.0 * photons_per_level);
    }
  }

  if (kind.crystal) {
    std::vector<CrystalPreset> presets;
    if (kind.photo1) presets.push_back(crystal_preset("photo1"));
    if (kind.photo2) presets.push_back(crystal_preset("photo2"));
    if (kind.custom) {
      DT_CHECK(o.custom_cell.has_value(), ConfigError,
               "a custom crystal was requested but no custom cell is set");
      presets.push_back({CrystalKind::kCustom, *o.custom_cell, SpaceGroup::kP1});
    }
    DT_CHECK(!presets.empty(), ConfigError, "a crystal frame needs photo1, photo2 or custom");
    for (const auto& p : presets) s.crystals.push_back(draw_crystal(o, p, kind.quality, rng));
    if (kind.multilattice) {
      split_crystal(o, s.crystals[rng.uniform_index(s.crystals.size())], rng);
    }
  }
  s.target_quality = kind.crystal ? kind.quality
                     : (kind.solvent || ice.present) ? Quality::kNoxtal
                                                     : Quality::kBlank;
  return s;
}

void validate_simulated_geometry(const DetectorGeometry& g) {
  g.validate();
  DT_CHECK(g.n_fast > 0 && g.n_slow > 0 && g.n_fast <= 8192 && g.n_slow <= 8192, ConfigError,
           "detector size must be 1..8192 pixels per axis, got ", g.n_fast, " x ", g.n_slow);
}

DetectorGeometry output_geometry(const FrameSpec& spec) {
  validate_simulated_geometry(spec.geometry);
  return spec.geometry.binned(spec.bin_factor);
}

bool split_is_visible(double split_deg, double mosaic_deg, double median_bright_radius_px) {
  return split_deg > mosaic_deg && split_deg * (M_PI / 180.0) * median_bright_radius_px >= 1.0;
}

}  // namespace difftriage::simulate
