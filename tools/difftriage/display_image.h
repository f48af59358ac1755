// Turning any frame into 8-bit grey for figures.
#pragma once

#include <cstdint>

#include "difftriage/core/image.h"

namespace difftriage::cli {

/// 8-bit frames pass through unchanged. Deeper frames are mapped linearly from their 1st to
/// 99.5th percentile of unmasked pixels onto 0..255 (masked pixels → 0), so spots stay visible.
Image<uint8_t> to_display_u8(const AnyImage& image);

}  // namespace difftriage::cli
