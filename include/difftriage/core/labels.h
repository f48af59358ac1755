/// The label vocabulary of the study, in one place: the six binary labels (the columns of
/// multiclasses.txt and the outputs of a model's `labels` head) and the five quality classes (the
/// words of categories1.txt and the outputs of a model's `quality` head). The simulator, the label
/// files, the networks and the reports all speak it.
///
///   difftriage::Quality q = difftriage::parse_quality("good").value();   // Quality::kGood
///   const char* word = difftriage::quality_name(q);                       // "good"
///   const char* third = difftriage::kLabelNames[static_cast<size_t>(difftriage::Label::kPhoto2)];
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>

namespace difftriage {

/// The six binary labels, in multiclasses.txt column order (= `labels` head output order).
inline constexpr std::array<const char*, 6> kLabelNames = {"blank",        "photo1", "photo2",
                                                           "multilattice", "ice",    "badice"};
inline constexpr size_t kNumLabels = kLabelNames.size();

/// Index of each label in kLabelNames.
enum class Label : size_t { kBlank, kPhoto1, kPhoto2, kMultilattice, kIce, kBadice };

/// Diffraction quality classes, in order of severity (= `quality` head output order). The
/// simulator's meaning of each (DESIGN.md "Labels"):
enum class Quality {
  kBlank,   ///< no crystal and no sample scatter (no solvent ring, no ice): air scatter only
  kNoxtal,  ///< solvent / ice scatter but no crystal
  kWeak,    ///< a crystal with few bright spots (simulate: n_bright < kGoodMinBrightSpots)
  kGood,    ///< a crystal with a good number of bright spots
  kStrong,  ///< a crystal with many bright spots (simulate: n_bright ≥ kStrongMinBrightSpots)
};
/// The quality words of categories1.txt, in Quality order.
inline constexpr std::array<const char*, 5> kQualityNames = {"blank", "noxtal", "weak", "good",
                                                             "strong"};
inline constexpr size_t kNumQualities = kQualityNames.size();

/// "blank", "noxtal", "weak", "good" or "strong" for a Quality ("unknown" for a value outside the
/// enumeration). Thread-safe.
const char* quality_name(Quality quality) noexcept;
/// Index of the binary label `name` in kLabelNames, or -1 when it is not one. Thread-safe.
int label_index(const std::string& name) noexcept;

/// Parses a quality word; std::nullopt if it is not one of kQualityNames. Thread-safe.
std::optional<Quality> parse_quality(const std::string& word) noexcept;
/// True for the classes that have a crystal on the frame: weak, good and strong.
constexpr bool has_crystal(Quality quality) noexcept {
  return quality == Quality::kWeak || quality == Quality::kGood || quality == Quality::kStrong;
}

}  // namespace difftriage
