/// What the peaks of a frame say about the lattices on it, in reciprocal-space units so that the
/// same numbers hold on any flat detector: the lengths |q_i − q_j| of the difference vectors
/// between peaks (for peaks of one lattice, reciprocal-lattice vectors, whose lengths do not
/// depend on the crystal's orientation), a match of those lengths with each candidate cell's
/// reciprocal-vector lengths, and the resolution the peaks reach.
///
///   auto peaks = features::find_peaks(image);
///   features::LatticeEvidence e = features::measure_lattice(peaks, geometry);
///   features::CellMatcher matcher(features::preset_candidate_cells());
///   std::vector<double> r = matcher.scores(e);   // one correlation per candidate, in [−1, 1]
///
/// Why lengths: two reflections g_i, g_j of one crystal that are both in diffraction have
/// g_i − g_j = B·(h_i − h_j) rotated, so |q_i − q_j| (q from the peak positions, geometry.h) is,
/// up to the excitation error, the length of a reciprocal-lattice vector of that cell — an
/// orientation-free fingerprint of the cell. The histogram of pair lengths over all peaks is the
/// smooth pair density of random positions plus peaks at the cell's lengths; the score is the
/// correlation of the histogram's excess over a smooth baseline with the cell's predicted length
/// density.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "difftriage/core/detector_geometry.h"
#include "difftriage/core/unit_cell.h"
#include "difftriage/features/peaks.h"
#include "difftriage/features/resolution.h"

namespace difftriage::features {

/// Lattice centering: which hkl are present (P all; I h+k+l even; F h, k, l all even or all
/// odd; A k+l even; B h+l even; C h+k even; R −h+k+l divisible by 3 on hexagonal axes).
enum class Centering { kP, kA, kB, kC, kI, kF, kR };

/// "P", "A", "B", "C", "I", "F", "R".
const char* centering_name(Centering centering) noexcept;

/// Parses one of the letters above (H is read as P, CrystFEL's hexagonal primitive).
/// @throws ConfigError naming `source` and the letter.
Centering parse_centering(const std::string& letter, const std::string& source);

/// True if reflection hkl is allowed by the centering.
bool is_allowed(Centering centering, int h, int k, int l) noexcept;

/// A crystal form the triage looks for. Plain value type.
struct CandidateCell {
  std::string name;  ///< results.jsonl's key ("photo1", "thermolysin", ...)
  UnitCell cell;
  Centering centering = Centering::kP;
};

/// The study's presets, always candidates: photo1 (photosystem I, P6₃, 281 281 165 Å, γ 120°)
/// and photo2 (photosystem II, P2₁2₁2₁, 117 223 310 Å) — the simulator's cells.
std::vector<CandidateCell> preset_candidate_cells();

/// Reads candidate cells from a file: a CrystFEL unit cell file (`CrystFEL unit cell file
/// version 1.0` first, then `key = value` lines: lattice_type, centering, a, b, c (with unit
/// A or nm), al, be, ga (deg); the file's stem names the candidate), or a JSON file holding a
/// list of {"name", "a_angstrom", "b_angstrom", "c_angstrom", "alpha_deg", "beta_deg",
/// "gamma_deg", "centering"}.
/// @throws IoError if the file cannot be read; ConfigError naming the file and line (CrystFEL)
/// or entry and key (JSON) at fault, or a cell that fails validate_cell.
std::vector<CandidateCell> read_candidate_cells(const std::filesystem::path& file);

/// Presets followed by the cells of `files` in order. @throws ConfigError when two candidates
/// share a name (naming it and the file), as read_candidate_cells.
std::vector<CandidateCell> load_candidate_cells(const std::vector<std::filesystem::path>& files);

/// Binning of the pair-length histogram and which peaks count.
struct LatticeOptions {
  double min_length_per_angstrom = 0.0015;  ///< shortest pair length histogrammed, Å⁻¹
  double max_length_per_angstrom = 0.02;    ///< longest, Å⁻¹
  int n_bins = 74;                          ///< equal bins between the two
  /// Peaks with at least this SNR count as Bragg peaks (n_bragg_peaks, the veto guard). On
  /// 5000 simulated frames (seeds 1001, 9001) no blank frame had more than one such peak off the
  /// ice rings, while 98.5 % of the crystal frames with a bright reflection had at least three.
  double bragg_min_snr = 10.0;
  /// Peaks within this many Å⁻¹ of an ice ring (1/d of kIceRingsAngstrom) are not Bragg peaks
  /// of a crystal (ice grains give Bragg peaks of their own on the rings).
  double ice_ring_half_width_per_angstrom = 0.006;
  /// Peaks closer to the beam centre than this resolution are not counted (beam stop, air).
  double max_bragg_d_angstrom = 60.0;
  /// d_min is this quantile of the d of the peaks with SNR ≥ d_min_min_snr (off the ice rings
  /// and the beam centre). The truth it estimates (the simulator's) is the 5th percentile of the
  /// bright reflections' d; weaker peaks reach farther out, so the quantile is higher: 8 and 0.2
  /// gave the least mean absolute error on 3000 simulated frames (seed 1001; 0.50 Å, against
  /// 0.59 Å for SNR 6 / quantile 0.2 and 1.14 Å for SNR 6 / quantile 0.05).
  double d_min_min_snr = 8.0;
  double d_min_quantile = 0.2;
  /// d_min needs at least this many such peaks (else unset).
  int64_t d_min_min_peaks = 5;
};

/// @throws ConfigError naming the option that is out of range.
void validate(const LatticeOptions& options);

/// The lattice evidence of one frame. Plain value type.
struct LatticeEvidence {
  int64_t n_peaks = 0;        ///< peaks used (find_peaks' output)
  int64_t n_bragg_peaks = 0;  ///< peaks with SNR ≥ bragg_min_snr, off the ice rings and the beam
  /// Pair counts per length bin (n_bins values, Å⁻¹ bins of LatticeOptions).
  std::vector<double> pair_length_counts;
  /// The d_min_quantile of the d of the peaks with SNR ≥ d_min_min_snr (Å); unset with fewer
  /// than d_min_min_peaks. With a ResolutionModel (resolution.h) that rule's estimate instead.
  std::optional<double> d_min_angstrom;
};

/// Measures the evidence of `peaks` (find_peaks' output, pixel-edge coordinates) on a frame of
/// `geometry`; with `resolution` (resolution.h) d_min is that fitted rule's over the Bragg and
/// weak peaks instead of the single quantile. Pure, thread-safe; O(peaks · neighbours) with a
/// grid over q. @throws ConfigError for invalid options.
LatticeEvidence measure_lattice(const std::vector<Peak>& peaks, const DetectorGeometry& geometry,
                                const LatticeOptions& options = {},
                                const ResolutionModel* resolution = nullptr);

/// What a peak is to measure_lattice (explain draws them so). Plain enum.
enum class PeakRole {
  kBragg,     ///< SNR ≥ bragg_min_snr, off the ice rings and the beam centre: counts for the guard
  kWeak,      ///< off the rings and the beam centre, below bragg_min_snr
  kIceRing,   ///< within ice_ring_half_width_per_angstrom of an ice ring
  kNearBeam,  ///< d above max_bragg_d_angstrom (beam stop, air scatter) or at the beam centre
};

/// The role of `peak` (pixel-edge coordinates) on a frame of `geometry`, by the rules
/// measure_lattice counts Bragg peaks with. Pure.
PeakRole peak_role(const Peak& peak, const DetectorGeometry& geometry,
                   const LatticeOptions& options = {});

/// The centres (Å⁻¹) of the histogram's bins.
std::vector<double> length_bin_centres(const LatticeOptions& options);

/// Scores candidate cells against a frame's pair-length histogram. Builds each candidate's
/// predicted length density once (every allowed reciprocal vector shorter than the histogram's
/// range, blurred by `tolerance_per_angstrom`). Immutable after construction; thread-safe.
class CellMatcher {
 public:
  /// @throws ConfigError for invalid options, an empty list or a non-positive tolerance.
  explicit CellMatcher(std::vector<CandidateCell> cells, LatticeOptions options = {},
                       double tolerance_per_angstrom = 0.0003);
  const std::vector<CandidateCell>& cells() const noexcept { return cells_; }
  const LatticeOptions& options() const noexcept { return options_; }
  /// Pearson correlation, per candidate, of the histogram's excess over a quadratic baseline
  /// (in units of the baseline's Poisson σ) with the candidate's predicted density; 0 when the
  /// histogram is empty.
  std::vector<double> scores(const LatticeEvidence& evidence) const;
  /// The histogram's excess over its quadratic baseline, in units of the baseline's Poisson σ,
  /// per bin (what scores() correlates); empty when the histogram is empty.
  std::vector<double> excess(const LatticeEvidence& evidence) const;
  /// Candidate `k`'s predicted length density per bin (what scores() correlates with).
  const std::vector<double>& predicted(size_t k) const { return predicted_.at(k); }

 private:
  std::vector<CandidateCell> cells_;
  LatticeOptions options_;
  std::vector<std::vector<double>> predicted_;  // per candidate, n_bins
};

}  // namespace difftriage::features
