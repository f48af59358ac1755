// Helpers of the stream tests: a tiny random model on disk and small PGM frames.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "difftriage/models/model_info.h"

namespace difftriage::testing {

/// Saves a randomly initialised compact model (widths 4,8; `heads`, by default quality, labels,
/// mosaic; 32² bin-max input) with non-trivial BatchNorm statistics to `dir` (model.pt +
/// model.json). Same seed and heads ⇒ same weights.
models::ModelMetadata write_tiny_model(
    const std::filesystem::path& dir, uint64_t seed = 5,
    const std::vector<std::string>& heads = {"quality", "labels", "mosaic"});

/// Writes `n` 8-bit 64×64 PGM frames frame_000.pgm, ... with a few bright spots (seeded),
/// returns their paths in order.
std::vector<std::filesystem::path> write_pgm_frames(const std::filesystem::path& dir, int n,
                                                    uint32_t seed = 11);

}  // namespace difftriage::testing
