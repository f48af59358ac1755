/// Crystals: unit cells, the photosystem presets, reciprocal lattices, orientations, systematic
/// absences and Wilson-distributed structure-factor intensities.
///
///   auto preset = difftriage::simulate::crystal_preset("photo2");   // P2₁2₁2₁ 117×223×310 Å
///   Mat3 B = difftriage::simulate::reciprocal_basis(preset.cell);    // columns a*, b*, c* (Å⁻¹)
///   Vec3 g = U * (B * Vec3{1, 2, 3});                                // lab-frame reciprocal vector
#pragma once

#include <cstdint>
#include <string>

#include "difftriage/core/unit_cell.h"
#include "difftriage/core/vec3.h"
#include "difftriage/simulate/random.h"

namespace difftriage::simulate {

/// The cell type lives in core (core/unit_cell.h); the simulator names it as its own.
using difftriage::UnitCell;
using difftriage::validate_cell;
using difftriage::cell_volume_angstrom3;
using difftriage::direct_basis;
using difftriage::reciprocal_basis;

/// Space groups whose screw-axis absences the simulator applies.
enum class SpaceGroup {
  kP1,        ///< no absences
  kP63,       ///< P6₃: 00l with l odd absent
  kP212121,   ///< P2₁2₁2₁: h00, 0k0, 00l with the index odd absent
};

/// "P1", "P63", "P212121".
const char* space_group_name(SpaceGroup group) noexcept;

/// Which crystal a lattice is (the labels photo1/photo2 follow from it).
enum class CrystalKind {
  kPhotosystem1,  ///< label photo1
  kPhotosystem2,  ///< label photo2
  kCustom,        ///< a user cell: neither label
};

/// "photo1", "photo2", "custom".
const char* crystal_kind_name(CrystalKind kind) noexcept;

/// A named crystal: kind, cell and space group.
struct CrystalPreset {
  CrystalKind kind = CrystalKind::kCustom;
  UnitCell cell;
  SpaceGroup space_group = SpaceGroup::kP1;
};

/// Presets: "photo1" (photosystem I, P6₃, a = b = 281, c = 165 Å, γ = 120°) and "photo2"
/// (photosystem II, P2₁2₁2₁, a = 117, b = 223, c = 310 Å).
/// @throws ConfigError naming the preset if it is unknown.
CrystalPreset crystal_preset(const std::string& name);

/// A rotation drawn uniformly on SO(3) (Haar measure), from a uniformly random unit quaternion
/// (Shoemake 1992, "Uniform random rotations").
Mat3 random_rotation(Rng& rng);

/// A rotation by exactly `angle_deg` about a uniformly random axis.
Mat3 random_rotation_by(Rng& rng, double angle_deg);

/// Angle of the rotation R_a^T·R_b in degrees (misorientation between two orientations).
double misorientation_deg(const Mat3& a, const Mat3& b);

/// True if reflection hkl is systematically absent in `group` (screw-axis extinctions only).
bool is_systematically_absent(SpaceGroup group, int h, int k, int l) noexcept;

/// Wilson-statistics intensity |F|²/⟨|F|²⟩ of reflection hkl of the structure `structure_seed`:
/// exponentially distributed with mean 1 (acentric Wilson distribution), a pure function of its
/// arguments so sub-crystals of one crystal share structure factors; Friedel mates (hkl, −h−k−l)
/// are equal.
double wilson_intensity(uint64_t structure_seed, int h, int k, int l) noexcept;

}  // namespace difftriage::simulate
