// Small builders shared by the dataset tests: images and label files written into a TempDir.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "difftriage/dataset/dataset.h"
#include "support/test_support.h"

namespace difftriage::dataset::test {

/// A valid 4x4 8-bit binary PGM (P5) with the pixel values 0, 16, 32, ...
inline std::string tiny_pgm() {
  std::string bytes = "P5\n4 4\n255\n";
  for (int i = 0; i < 16; ++i) bytes += static_cast<char>(i * 16);
  return bytes;
}

/// Writes a tiny PGM at `path` (creating folders).
inline void write_pgm_file(const std::filesystem::path& path) {
  difftriage::testing::write_text(path, tiny_pgm());
}

/// A sample built in memory (no files), for split and stats tests.
inline Sample make_sample(std::string file, std::optional<std::array<uint8_t, kNumLabels>> labels,
                          std::optional<Quality> quality = std::nullopt, double mosaic1 = 0.0,
                          double mosaic2 = 0.0) {
  Sample sample;
  sample.file = std::move(file);
  sample.path = sample.file;
  sample.labels = labels;
  sample.quality = quality;
  sample.mosaic1 = mosaic1;
  sample.mosaic2 = mosaic2;
  return sample;
}

}  // namespace difftriage::dataset::test
