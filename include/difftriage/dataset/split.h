/// Deterministic stratified train/validation/test splits.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "difftriage/dataset/dataset.h"

namespace difftriage::dataset {

/// Options for split_dataset.
struct SplitOptions {
  std::vector<double> fractions = {0.8, 0.1, 0.1};  ///< must sum to 1 (±1e-6), each ≥ 0
  std::vector<std::string> names = {"train", "val", "test"};  ///< one per fraction
  uint64_t seed = 0;
};

/// Index lists into `dataset.samples`, one per part, each sorted ascending.
struct Split {
  std::vector<std::string> names;
  std::vector<std::vector<size_t>> parts;
};

/// Stratifies by label combination (the six labels and the quality class, whatever the sample
/// has): each stratum is shuffled with `seed` and cut by the fractions (largest remainder), so
/// every part keeps the label mix. Same dataset + options ⇒ same split on every platform
/// (std::mt19937_64 with an own Fisher–Yates and unbiased bounded draws, a fixed key hash).
///
/// Allocation: each stratum first gives part k floor(f_k × size) samples. The leftovers (fewer
/// than the number of parts per stratum) are placed by a small max-flow so that every part gets
/// floor or ceil of its due, the parts with the largest remainders of f_k × N getting the ceil
/// first; strata are visited in a seeded random order and, within a stratum, parts with the
/// larger fractional share first. Guarantee: every part holds floor or ceil of f_k × size of
/// every stratum (less than one sample off), and floor or ceil of f_k × N samples in all.
/// A part with fraction 0 stays empty.
/// @throws ConfigError naming the option field ("fractions ...", "names ...") if the fractions
///         are empty, negative, not finite or do not sum to 1 (±1e-6), or the names are not one
///         per fraction, repeat, or are not plain folder names.
Split split_dataset(const Dataset& dataset, const SplitOptions& options);

/// Writes each part as its own dataset folder `out/<name>/` with the label files the source had
/// (rows in source order) and a relative symbolic link per image pointing at the original, so
/// each part loads with load_dataset. Label files are written atomically (replacing earlier
/// ones); existing links at an image's place are replaced. Folders for nested file names are
/// created. Links left over from an earlier split into the same folder are not removed.
/// @throws IoError on failure, if out/<name> is the source folder itself, or if a non-link file
///         stands where a link goes.
/// @throws ConfigError if `split` does not fit `dataset` (names/parts mismatch, bad index).
void write_split(const Dataset& dataset, const Split& split, const std::filesystem::path& out);

/// The stratum key of a sample, e.g. "L010010|Qgood" ("L-" or "Q-" when absent).
std::string stratum_key(const Sample& sample);

}  // namespace difftriage::dataset
