/// The one detector model: a flat detector normal to the beam (like one dxtbx Panel), with the
/// pixel ↔ scattering vector ↔ resolution relations every module uses. Every format fills
/// `DetectorMetadata` (core/image.h); `geometry_from_metadata` builds the model from it, the
/// simulator renders with it, and `read_geometry_json` reads it from the small JSON file a user
/// writes for frames without metadata (PGM, PNG, TIFF).
///
///   auto found = difftriage::geometry_from_metadata(metadata(frame), n_fast, n_slow);
///   if (!found) log(found.why_not);  // "metadata lacks distance_mm", "the detector is not flat"
///   const difftriage::DetectorGeometry& g = *found.geometry;
///   double d = g.resolution_angstrom(1000.0, 512.0);            // Å at pixel (fast, slow)
///   std::optional<double> r = g.radius_px_for_resolution(3.669);  // nullopt: not on the detector
///
/// Frame of reference (DIALS-like lab frame): the beam travels along +z, the detector plane is
/// perpendicular to it at z = distance_mm, its fast axis is +x and its slow axis +y. The beam
/// centre is counted in pixels from the frame's corner with 0-based pixel edges (pixel k spans
/// [k, k + 1)), as DIALS and CrystFEL count: pixel (fast, slow) has its centre at
/// x = (fast + 0.5 − beam_center_fast_px)·pixel_size_mm, likewise y. Reciprocal-space vectors are
/// in Å⁻¹ without the 2π (|q| = 2 sin θ / λ = 1/d).
///
/// Failure convention: a resolution that does not reach the detector (λ > 2d, or 2θ ≥ 90° on a
/// flat detector) is `std::nullopt`; the resolution at the beam centre is +infinity (a real
/// value: d grows without bound towards the centre).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "difftriage/core/image.h"
#include "difftriage/core/vec3.h"

namespace difftriage {

/// Unit vector of the incident beam in the lab frame (+z).
inline constexpr Vec3 kBeamDirection{0.0, 0.0, 1.0};

/// Beam and flat detector of one frame. Lengths in mm, wavelength in Å, beam centre in pixels.
/// A plain value type: construct, set the fields, `validate()`. The members are pure and
/// thread-safe; none of them validates (call `validate()` once where the values come in).
struct DetectorGeometry {
  double wavelength_angstrom = 0.0;  ///< λ, > 0
  double distance_mm = 0.0;          ///< sample–detector distance along the beam, > 0
  double pixel_size_mm = 0.0;        ///< square pixels, > 0
  double beam_center_fast_px = 0.0;  ///< where the direct beam hits, pixels from the corner
  double beam_center_slow_px = 0.0;  ///< likewise along the slow axis
  int32_t n_fast = 0;                ///< detector columns; 0 = not known (set both or neither)
  int32_t n_slow = 0;                ///< detector rows; 0 = not known

  /// Checks that the geometry is physical: wavelength, distance and pixel size finite and > 0,
  /// beam centre finite, n_fast/n_slow both 0 (unknown) or both in 1..kMaxImageExtent.
  /// @throws ConfigError naming the field ("distance_mm must be > 0, got -5").
  void validate() const;

  /// Whether n_fast and n_slow are known.
  bool has_size() const noexcept { return n_fast > 0 && n_slow > 0; }

  /// A copy for a frame of n_fast × n_slow pixels: an unknown size becomes the frame's.
  /// @throws ConfigError if the size is known and differs from the frame's.
  DetectorGeometry with_frame_size(int64_t frame_n_fast, int64_t frame_n_slow) const;

  /// The geometry of this detector's frames binned `factor` × `factor`: pixel size × factor,
  /// size and beam centre ÷ factor (output pixel j covers pixels j·factor … j·factor + factor − 1,
  /// so pixel edges map onto pixel edges).
  /// @throws ConfigError if factor < 1 or, with a known size, does not divide it.
  DetectorGeometry binned(int32_t factor) const;

  /// Lab position (mm) of the centre of pixel (fast, slow) (fractional pixels allowed).
  Vec3 pixel_position_mm(double fast, double slow) const noexcept {
    return {(fast + 0.5 - beam_center_fast_px) * pixel_size_mm,
            (slow + 0.5 - beam_center_slow_px) * pixel_size_mm, distance_mm};
  }
  /// Distance (pixels) of the centre of pixel (fast, slow) from the beam centre.
  double radius_px(double fast, double slow) const noexcept;
  /// Scattering vector q = (s1 − s0)/λ (Å⁻¹) seen by pixel (fast, slow); |q| = 2 sin θ / λ.
  Vec3 scattering_vector_per_angstrom(double fast, double slow) const noexcept;
  /// Scattering angle 2θ (rad) of pixel (fast, slow); 0 at the beam centre.
  double two_theta_rad(double fast, double slow) const noexcept;
  /// Resolution d = λ / (2 sin θ) (Å) of pixel (fast, slow); +infinity at the beam centre.
  double resolution_angstrom(double fast, double slow) const noexcept;

  /// Scattering angle 2θ (rad) of resolution d (Å) by Bragg's law; nullopt if d ≤ 0 or λ > 2d.
  std::optional<double> two_theta_rad_for_resolution(double d_angstrom) const noexcept;
  /// Distance (pixels) from the beam centre at which resolution d lands on the flat detector:
  /// r = distance·tan 2θ / pixel_size. nullopt if unreachable (d ≤ 0, λ > 2d or 2θ ≥ 90°).
  std::optional<double> radius_px_for_resolution(double d_angstrom) const noexcept;
  /// Scattering angle 2θ (rad) at `radius_px` from the beam centre: atan2(r·pixel, distance).
  double two_theta_rad_at_radius(double radius_px) const noexcept;
  /// Resolution (Å) at `radius_px` from the beam centre (inverse of radius_px_for_resolution);
  /// +infinity at r ≤ 0.
  double resolution_at_radius_angstrom(double radius_px) const noexcept;

  /// Distance (pixels) from the beam centre to the farthest detector corner (pixel edges).
  /// @throws ConfigError if the size is not known.
  double corner_radius_px() const;
  /// Distance (pixels) from the beam centre to the nearest detector edge: the radius of the
  /// largest complete ring (0 when the beam centre is on or outside an edge).
  /// @throws ConfigError if the size is not known.
  double edge_radius_px() const;
  /// Best (smallest) resolution (Å) any detector pixel reaches: the farthest corner's.
  /// @throws ConfigError if the size is not known.
  double corner_resolution_angstrom() const;
  /// Best resolution (Å) of a complete ring: the nearest edge's (+infinity when the beam centre
  /// is on or outside an edge). @throws ConfigError if the size is not known.
  double edge_resolution_angstrom() const;

  /// Where a ray from the sample along direction `s1` (any length, z > 0) hits the detector,
  /// as fractional pixel coordinates {fast, slow} with pixel centres at integers (pixel k's
  /// centre is k). nullopt if the ray goes backwards or parallel to the detector.
  std::optional<std::array<double, 2>> project_ray_px(const Vec3& s1) const noexcept;
};

/// A frame's geometry, or why it has none.
struct GeometryLookup {
  std::optional<DetectorGeometry> geometry;  ///< set when the frame has a usable flat geometry
  std::string why_not;                       ///< otherwise the reason, e.g. "metadata lacks ..."
  explicit operator bool() const noexcept { return geometry.has_value(); }
};

/// The geometry of a frame of n_fast × n_slow pixels from its metadata. None (with the reason)
/// when the metadata says the detector is not flat, lacks wavelength, distance, pixel size or
/// beam centre, or holds unphysical values; the frame size must be 1..kMaxImageExtent per axis.
/// Reports problems in the result, never by throwing.
GeometryLookup geometry_from_metadata(const DetectorMetadata& metadata, int64_t n_fast,
                                      int64_t n_slow);

/// The keys of a geometry JSON file, in the order written: the five required ones, then the
/// optional n_fast and n_slow.
inline constexpr std::array<const char*, 7> kGeometryJsonKeys = {
    "wavelength_angstrom", "distance_mm", "pixel_size_mm", "beam_center_fast_px",
    "beam_center_slow_px", "n_fast",      "n_slow"};

/// Parses a geometry JSON object: exactly the keys wavelength_angstrom, distance_mm,
/// pixel_size_mm, beam_center_fast_px, beam_center_slow_px (numbers; beam centre in pixels from
/// the frame's corner, 0-based pixel edges) and optionally n_fast and n_slow (integers ≥ 1,
/// both or neither). `source` names the text in messages (a file name).
/// @throws ConfigError naming `source` and the key: not JSON, not an object, an unknown key, a
/// missing key, a value of the wrong type, an unphysical value.
DetectorGeometry geometry_from_json(const std::string& text, const std::string& source);

/// Reads a geometry JSON file (see geometry_from_json).
/// @throws IoError if the file cannot be read; ConfigError as geometry_from_json.
DetectorGeometry read_geometry_json(const std::filesystem::path& file);

/// The geometry of a frame the simulator wrote, from its sidecar's `geometry` object (the
/// full-resolution detector: the geometry-file keys above plus extra facts such as bandwidth)
/// binned by its integer `bin_factor` (1..64). `source` names the sidecar in messages.
/// @throws FormatError naming `source`: not an object, a bad bin_factor, an invalid geometry.
DetectorGeometry geometry_from_sidecar_json(const nlohmann::json& geometry,
                                            const std::string& source);

/// The geometry the simulator's sidecar beside `image` records (`<stem>.json` in the same folder,
/// the file evaluate reads): nullopt when there is no such file or it has no `geometry`.
/// @throws IoError if the sidecar exists but cannot be read; FormatError if it is not JSON or
/// its geometry is invalid (geometry_from_sidecar_json).
std::optional<DetectorGeometry> read_sidecar_geometry(const std::filesystem::path& image);

/// The geometry as the JSON object read_geometry_json reads (n_fast/n_slow only when known).
nlohmann::json geometry_to_json(const DetectorGeometry& geometry);

}  // namespace difftriage
