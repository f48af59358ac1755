/// Label proportions of a simulated data set (SimulateOptions::mix): which kinds of frames to draw.
///
/// A frame's kind is drawn in this order: quality class (weights blank/noxtal/weak/good/strong);
/// for a crystal (weak/good/strong) which lattices (weights photo1/photo2/both, plus custom when a
/// user cell is given) and whether one is split (multilattice); for crystal and noxtal frames
/// whether ice rings are present (ice) and whether they are saturating (badice_given_ice).
/// Quality-blank frames carry air scatter only (no solvent, no ice, no crystal). The labels
/// written are always measured from the rendered physics, so proportions are approximate.
///
///   Mix mix = study_mix();                       // or balanced_mix(), or mix_from_json(text)
///   FrameKind kind = draw_frame_kind(mix, rng);
#pragma once

#include <string>

#include "difftriage/simulate/random.h"
#include "difftriage/simulate/scene.h"

namespace difftriage::simulate {

/// Proportions; weights need not sum to 1 (they are normalised), probabilities are in [0, 1].
struct Mix {
  double blank = 1.0, noxtal = 1.0, weak = 1.0, good = 1.0, strong = 1.0;  ///< quality weights
  double photo1 = 1.0, photo2 = 1.0, both = 1.0;  ///< lattice weights given a crystal
  double custom = 0.0;        ///< weight of the user cell given a crystal (needs custom_cell)
  double multilattice = 0.5;  ///< P(split crystal | crystal)
  double ice = 0.4;           ///< P(ice | crystal or noxtal)
  double badice_given_ice = 0.5;  ///< P(badice | ice)
};

/// Every quality class equally often; lattices 1:1:1; half the crystals split; 40 % ice, half of
/// it bad.
Mix balanced_mix();

/// The study's imbalance (its try2 job list: 358 frames, 21 % without crystal, 34 % ice of which
/// a third bad, 30 % of crystals split, 19 % of crystal frames with both photosystems); the no-
/// crystal frames split blank:noxtal = 1:2, crystal qualities 1:1:1.
Mix study_mix();

/// Parses a JSON object with any of Mix's field names (others keep balanced_mix values);
/// `source` names the file in messages. @throws ConfigError naming the key on unknown keys,
/// non-numeric or out-of-range values, or an impossible mix.
Mix mix_from_json(const std::string& text, const std::string& source);

/// Checks the mix: weights ≥ 0 with a positive sum, probabilities in [0, 1], at least one lattice
/// weight > 0 when crystal qualities are possible, custom only with `custom_cell_available`.
/// @throws ConfigError naming the field.
void validate_mix(const Mix& mix, bool custom_cell_available = false);

/// Draws one frame kind.
FrameKind draw_frame_kind(const Mix& mix, Rng& rng);

}  // namespace difftriage::simulate
