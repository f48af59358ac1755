/// Writing frames out: a CXI (HDF5) stack of frames that remembers where each frame came from,
/// and a CrystFEL event list (`path //N` per line).
///
///   difftriage::io::CxiWriteOptions options;
///   options.deflate_level = 4;
///   difftriage::io::CxiStackWriter out("hits.cxi", options);
///   for (const auto& [path, frame] : hits) {
///     out.append(difftriage::io::read_image(path, {frame}), {path, frame});
///   }
///   out.finish();  // hits.cxi appears now, complete, or not at all
///   difftriage::io::write_event_list("hits.lst", sources);
///
/// The CXI file (CXI 1.5 layout as Cheetah writes it, stack_writer.h; `read_image(path, {k})`
/// reads frame k back exactly, with its metadata):
///   /cxi_version                                   150
///   /entry_1/instrument_1/detector_1/data          [N, slow, fast], the frames' own pixel type
///                                                  (uint8, uint16, int32 or float32), one frame
///                                                  per chunk, deflate optional
///   /entry_1/data_1/data                           soft link to the above (how CXI readers,
///                                                  ours included, find the stack)
///   /entry_1/instrument_1/detector_1/mask          [N, slow, fast] uint8, non-zero = masked;
///                                                  only when some frame has a mask
///   /entry_1/instrument_1/detector_1/distance      m       (DetectorMetadata::distance_mm)
///   /entry_1/instrument_1/detector_1/x_pixel_size  m       (pixel_size_mm; y_pixel_size too)
///   /entry_1/instrument_1/source_1/energy          J       (from wavelength_angstrom, E = hc/λ)
///   /entry_1/difftriage/source_path                [N] strings: the file each frame came from
///   /entry_1/difftriage/source_frame               [N] int64: its frame index in that file
///   /entry_1/difftriage/beam_center_fast_px, beam_center_slow_px, exposure_s,
///                       saturation_value, detector (what CXI has no agreed place for)
/// Lengths carry a `units` attribute ("m", "J"). Metadata are the file's, not per frame: those
/// of `CxiWriteOptions::metadata` when given, else those of the first frame appended.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "difftriage/core/image.h"
#include "difftriage/io/stack_writer.h"

namespace difftriage::io {

/// The CXI stack writer is FrameStackWriter with StackLayout::kCxi (the default layout).
using CxiWriteOptions = StackWriteOptions;
using CxiStackWriter = FrameStackWriter;

/// Where each frame of a stack written by CxiStackWriter came from
/// (`/entry_1/difftriage/source_path` and `source_frame`), in stack order.
/// @throws IoError naming `path` if it cannot be opened; FormatError naming the file and dataset
///         if the two datasets are missing, of another type, or of different lengths.
[[nodiscard]] std::vector<FrameSource> read_cxi_sources(const std::filesystem::path& path);

/// Writes a CrystFEL event list: one line `PATH //N` per frame, in the order given (an empty
/// list writes an empty file). Written atomically (temporary file, then rename).
/// @throws ConfigError naming the entry if a path is empty or holds a line break, or a frame is
///         negative; IoError naming `path` if the file cannot be written.
void write_event_list(const std::filesystem::path& path, const std::vector<FrameSource>& frames);

}  // namespace difftriage::io
