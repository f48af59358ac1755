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
/// The CXI file (CXI 1.5 layout as Cheetah writes it; `read_image(path, {k})` reads frame k back
/// exactly, with its metadata):
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

namespace difftriage::io {

/// Where a frame came from: a file and the frame's 0-based index in it (CrystFEL's `//N`).
struct FrameSource {
  std::filesystem::path path;
  int64_t frame = 0;
};

/// Options of CxiStackWriter.
struct CxiWriteOptions {
  /// zlib level of HDF5's built-in deflate filter per frame chunk, 1..9; 0 stores frames
  /// uncompressed (fastest to write and to read).
  int deflate_level = 0;
  /// Detector metadata written for the whole file; when empty, the first appended frame's.
  std::optional<DetectorMetadata> metadata;
};

/// Writes frames of one shape and pixel type into a CXI stack, atomically: frames go to a
/// temporary file beside the target (`.NAME.tmp-PID-K`), which `finish()` renames to the target;
/// a writer destroyed without `finish()` (an exception, an interrupted run) removes it, and the
/// target is never half-written.
///
/// Thread-safety: one writer must not be used from two threads at once; distinct writers (and
/// readers) may run concurrently (their libhdf5 calls are serialized by the io module's HDF5
/// mutex, which a large append holds while HDF5 writes the frame).
class CxiStackWriter {
 public:
  /// Creates the temporary file beside `path` (the folder must exist).
  /// @throws ConfigError naming the option if `options.deflate_level` is outside 0..9.
  /// @throws IoError naming `path` if the file cannot be created.
  explicit CxiStackWriter(const std::filesystem::path& path, const CxiWriteOptions& options = {});
  /// Removes the temporary file unless `finish()` succeeded. Never throws.
  ~CxiStackWriter();
  CxiStackWriter(CxiStackWriter&&) noexcept;
  CxiStackWriter& operator=(CxiStackWriter&&) noexcept;
  CxiStackWriter(const CxiStackWriter&) = delete;
  CxiStackWriter& operator=(const CxiStackWriter&) = delete;

  /// Appends `frame` as frame `n_frames()` of the stack, remembering `source`. The first frame
  /// fixes the shape and pixel type; its mask (if any) is written, and a frame without a mask
  /// counts as unmasked.
  /// @throws ConfigError naming the frame (index and source) if its extents or pixel type differ
  ///         from the first frame's, if it is empty, if `source.frame` < 0, or if the writer is
  ///         already finished (or moved from).
  /// @throws IoError naming the file if HDF5 cannot write.
  void append(const AnyImage& frame, const FrameSource& source);

  /// Writes the per-frame sources and the metadata, closes the file and renames it to the
  /// target. A stack needs at least one frame.
  /// @throws ConfigError naming the file if no frame was appended or it was already finished;
  ///         IoError naming the file if writing or the rename fails (the temporary is removed).
  void finish();

  /// Frames appended so far.
  int64_t n_frames() const noexcept;
  /// The target path given to the constructor.
  const std::filesystem::path& path() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

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
