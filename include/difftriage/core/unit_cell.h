/// Unit cells: edges and angles, their real and reciprocal bases. One home for what the
/// simulator draws crystals from and what the spot evidence (features/lattice.h) compares
/// frames with.
///
///   difftriage::UnitCell cell{117, 223, 310, 90, 90, 90};
///   difftriage::validate_cell(cell);                            // ConfigError naming the field
///   difftriage::Mat3 B = difftriage::reciprocal_basis(cell);    // columns a*, b*, c* (Å⁻¹)
///   double inv_d = norm(B * difftriage::Vec3{1, 2, 3});          // 1/d of reflection 1 2 3
#pragma once

#include "difftriage/core/vec3.h"

namespace difftriage {

/// Unit cell: edges in Å, angles in degrees. Plain value type.
struct UnitCell {
  double a_angstrom = 100.0, b_angstrom = 100.0, c_angstrom = 100.0;
  double alpha_deg = 90.0, beta_deg = 90.0, gamma_deg = 90.0;
};

/// Checks a cell: edges in (2, 2000] Å, angles in (0, 180) and a non-degenerate volume.
/// @throws ConfigError naming the offending parameter.
void validate_cell(const UnitCell& cell);

/// Cell volume in Å³.
double cell_volume_angstrom3(const UnitCell& cell);

/// Real-space basis: columns a, b, c in Å in the standard setting (a along x, b in the xy plane).
Mat3 direct_basis(const UnitCell& cell);

/// Reciprocal basis B: columns a*, b*, c* in Å⁻¹ (no 2π) such that B = (A⁻¹)ᵀ; the reciprocal
/// vector of reflection hkl in the crystal frame is B·(h, k, l) and |B·hkl| = 1/d_hkl.
Mat3 reciprocal_basis(const UnitCell& cell);

}  // namespace difftriage
