#include "difftriage/core/labels.h"

namespace difftriage {

const char* quality_name(Quality quality) noexcept {
  const auto index = static_cast<size_t>(quality);
  return index < kNumQualities ? kQualityNames[index] : "unknown";
}

int label_index(const std::string& name) noexcept {
  for (size_t j = 0; j < kNumLabels; ++j) {
    if (name == kLabelNames[j]) return static_cast<int>(j);
  }
  return -1;
}

std::optional<Quality> parse_quality(const std::string& word) noexcept {
  for (size_t i = 0; i < kNumQualities; ++i) {
    if (word == kQualityNames[i]) return static_cast<Quality>(i);
  }
  return std::nullopt;
}

}  // namespace difftriage
