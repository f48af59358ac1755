#include "difftriage/simulate/truth.h"

#include <cmath>

#include "difftriage/core/detector_geometry.h"
#include "difftriage/simulate/crystal.h"
#include "difftriage/simulate/render.h"

namespace difftriage::simulate {
namespace {

nlohmann::json matrix_json(const Mat3& m) {
  return nlohmann::json::array({nlohmann::json::array({m.m[0][0], m.m[0][1], m.m[0][2]}),
                                nlohmann::json::array({m.m[1][0], m.m[1][1], m.m[1][2]}),
                                nlohmann::json::array({m.m[2][0], m.m[2][1], m.m[2][2]})});
}

}  // namespace

nlohmann::json frame_truth_json(const SimulatedFrame& frame) {
  using nlohmann::json;
  const FrameSpec& s = frame.spec;
  const DetectorGeometry& g = s.geometry;
  json j;
  j["format_version"] = kTruthFormatVersion;
  j["file_stem"] = frame_file_stem(frame.index);
  j["index"] = frame.index;
  j["run_seed"] = frame.seed;
  const FrameLabels& l = frame.labels;
  j["labels"] = {{"blank", l.blank ? 1 : 0},        {"photo1", l.photo1 ? 1 : 0},
                 {"photo2", l.photo2 ? 1 : 0},      {"multilattice", l.multilattice ? 1 : 0},
                 {"ice", l.ice ? 1 : 0},            {"badice", l.badice ? 1 : 0},
                 {"mosaic1", l.mosaic1},            {"mosaic2", l.mosaic2},
                 {"quality", quality_name(l.quality)},
                 {"target_quality", quality_name(s.target_quality)},
                 {"target_bright_spots", s.target_bright_spots}};
  j["geometry"] = {{"wavelength_angstrom", g.wavelength_angstrom},
                   {"distance_mm", g.distance_mm},
                   {"pixel_size_mm", g.pixel_size_mm},
                   {"n_fast", g.n_fast},
                   {"n_slow", g.n_slow},
                   {"beam_center_fast_px", g.beam_center_fast_px},
                   {"beam_center_slow_px", g.beam_center_slow_px},
                   {"corner_resolution_angstrom", g.corner_resolution_angstrom()},
                   {"polarization_fraction", s.polarization_fraction},
                   {"divergence_deg", s.divergence_deg},
                   {"bandwidth", s.bandwidth},
                   {"bin_factor", s.bin_factor},
                   {"binning", s.binning == BinningMode::kMax ? "max" : "mean"}};
  json crystals = json::array();
  for (const CrystalSpec& c : s.crystals) {
    json pieces = json::array();
    for (const SubCrystal& p : c.pieces) {
      pieces.push_back({{"orientation", matrix_json(p.orientation)},
                        {"weight", p.weight},
                        {"misorientation_deg", misorientation_deg(c.pieces[0].orientation,
                                                                  p.orientation)}});
    }
    crystals.push_back(
        {{"kind", crystal_kind_name(c.kind)},
         {"space_group", space_group_name(c.space_group)},
         {"cell",
          {{"a_angstrom", c.cell.a_angstrom}, {"b_angstrom", c.cell.b_angstrom},
           {"c_angstrom", c.cell.c_angstrom}, {"alpha_deg", c.cell.alpha_deg},
           {"beta_deg", c.cell.beta_deg}, {"gamma_deg", c.cell.gamma_deg}}},
         {"reciprocal_basis_B", matrix_json(reciprocal_basis(c.cell))},
         {"mosaic_deg", c.mosaic_deg},
         {"n_domains", c.n_domains},
         {"domain_seed", c.domain_seed},
         {"domain_size_um", c.domain_size_um},
         {"b_factor_angstrom2", c.b_factor_angstrom2},
         {"photons_scale", c.photons_scale},
         {"structure_seed", c.structure_seed},
         {"split_deg", c.split_deg},
         {"pieces", pieces}});
  }
  j["crystals"] = crystals;
  const BackgroundSpec& b = s.background;
  j["background"] = {{"solvent", b.solvent},
                     {"solvent_peak_photons", b.solvent_peak_photons},
                     {"solvent_d_angstrom", b.solvent_d_angstrom},
                     {"solvent_width_inv_angstrom", b.solvent_width_inv_angstrom},
                     {"air_photons", b.air_photons},
                     {"air_falloff_deg", b.air_falloff_deg},
                     {"beamstop_radius_px", b.beamstop_radius_px},
                     {"beamstop_arm_angle_deg", b.beamstop_arm_angle_deg},
                     {"beamstop_arm_width_px", b.beamstop_arm_width_px},
                     {"beamstop_transmission", b.beamstop_transmission}};
  json rings = json::array();
  if (s.ice.present) {
    const auto widths = ice_ring_widths_px(s);
    const auto grains = ice_grain_counts(s);
    for (int i = 0; i < 8; ++i) {
      const auto r = g.radius_px_for_resolution(kIceRingD[i]);
      rings.push_back({{"d_angstrom", kIceRingD[i]},
                       {"relative_intensity", kIceRingRelIntensity[i]},
                       {"peak_photons", s.ice.peak_photons * kIceRingRelIntensity[i]},
                       {"radius_px", r ? json(*r) : json(nullptr)},
                       {"sigma_px", widths[static_cast<size_t>(i)]},
                       {"n_grains", grains[static_cast<size_t>(i)]}});
    }
  }
  j["ice"] = {{"present", s.ice.present},
              {"bad", s.ice.bad},
              {"kind", ice_kind_name(s.ice.kind)},
              {"peak_photons", s.ice.peak_photons},
              {"crystallite_nm", s.ice.crystallite_nm},
              {"volume_um3", s.ice.volume_um3},
              {"rings", rings}};
  const DetectorSpec& d = s.detector;
  j["detector"] = {{"gain_adu_per_photon", d.gain_adu_per_photon},
                   {"readout_noise_adu", d.readout_noise_adu},
                   {"pedestal_adu", d.pedestal_adu},
                   {"saturation_adu", d.saturation_adu},
                   {"point_spread_px", d.point_spread_px}};
  j["intensity_map"] = {{"offset_8bit", s.intensity_map.offset_8bit},
                        {"adu_per_level", s.intensity_map.adu_per_level}};
  const FrameStats& st = frame.stats;
  j["stats"] = {{"n_reflections", st.n_reflections},
                {"n_bright", st.n_bright},
                {"n_bright_pixels", st.n_bright_pixels},
                {"n_drawn", st.n_drawn},
                {"bragg_photons", st.bragg_photons},
                {"background_photons", st.background_photons},
                {"ice_peak_photons", st.ice_peak_photons},
                {"n_overloaded", st.n_overloaded},
                {"attempts", st.attempts},
                {"d_min_angstrom", st.d_min_angstrom ? json(*st.d_min_angstrom) : json(nullptr)},
                {"split_visible", st.split_visible ? json(*st.split_visible) : json(nullptr)},
                {"median_8bit", st.median_8bit},
                {"p5_8bit", st.p5_8bit},
                {"p95_8bit", st.p95_8bit},
                {"n_8bit_ge185", st.n_8bit_ge185},
                {"n_8bit_255", st.n_8bit_255}};
  // [slow, fast] of each bright reflection on the output frame, to 0.01 px (what a
  // spot-density target needs; 0.01 px is far below the binned pixel).
  json spots = json::array();
  for (const BrightSpot& spot : frame.bright_spots) {
    spots.push_back(
        {std::round(spot.slow * 100.0) / 100.0, std::round(spot.fast * 100.0) / 100.0});
  }
  j["bright_spots"] = std::move(spots);
  return j;
}

}  // namespace difftriage::simulate
