/// Writing frames out as one HDF5 stack, in either of two layouts: the one writer behind
/// `classify --hits-cxi` (CXI) and `stream --write-kept` (NXmx).
///
///   difftriage::io::StackWriteOptions options;
///   options.layout = difftriage::io::StackLayout::kNxmx;
///   options.metadata = header.metadata;        // the series' geometry
///   options.pixel_mask = header.mask;          // [slow * fast], non-zero = masked
///   difftriage::io::FrameStackWriter out("kept.nxs", options);
///   out.append_bslz4(blob.data(), blob.size(), PixelType::kUint16, 2162, 2068, {"series 7", 43});
///   out.append(frame, {"series 7", 44});        // any frame: re-framed as bitshuffle-LZ4
///   out.finish();                                // kept.nxs appears now, complete, or not at all
///
/// CXI (StackLayout::kCxi; CXI 1.5 as Cheetah writes it):
///   /cxi_version                                   150
///   /entry_1/instrument_1/detector_1/data          [N, slow, fast], the frames' own pixel type
///                                                  (uint8, uint16, int32 or float32), one frame
///                                                  per chunk, deflate optional
///   /entry_1/data_1/data                           soft link to the above
///   /entry_1/instrument_1/detector_1/mask          [N, slow, fast] uint8, non-zero = masked;
///                                                  only when some frame has a mask
///   /entry_1/instrument_1/detector_1/distance      m       (DetectorMetadata::distance_mm)
///   /entry_1/instrument_1/detector_1/x_pixel_size  m       (pixel_size_mm; y_pixel_size too)
///   /entry_1/instrument_1/source_1/energy          J       (from wavelength_angstrom, E = hc/λ)
///   /entry_1/difftriage/source_path, source_frame  [N] where each frame came from
///   /entry_1/difftriage/beam_center_fast_px, beam_center_slow_px, exposure_s,
///                       saturation_value, detector (what CXI has no agreed place for)
///
/// NXmx (StackLayout::kNxmx; what an EIGER data file + master hold, in one file; groups carry
/// their NX_class):
///   /entry/data/data                               [N, slow, fast] uint8, uint16, uint32
///                                                  (append_bslz4 of 32-bit pixels), int32 or
///                                                  float32; one frame per chunk, HDF5 filter
///                                                  32008 (bitshuffle + LZ4, cd_values {0, 3,
///                                                  element size, 0, 2}, as DECTRIS writes it):
///                                                  h5py reads it with Debian's bitshuffle plugin
///   /entry/instrument/detector/pixel_mask          uint32 [slow, fast] (StackWriteOptions)
///   /entry/instrument/detector/beam_center_x, _y   pixel   (fast, slow)
///   /entry/instrument/detector/detector_distance   m
///   /entry/instrument/detector/x_pixel_size, y_pixel_size  m
///   /entry/instrument/detector/count_time          s
///   /entry/instrument/detector/saturation_value, description
///   /entry/instrument/beam/incident_wavelength     angstrom
///   /entry/difftriage/source_path, source_frame    [N] where each frame came from
/// A frame's own masked pixels are written as the invalid marker (2^bits - 1 for unsigned
/// pixels, -1 for int32, NaN for float32), which EIGER readers (ours included) mask.
/// Lengths carry a `units` attribute. Metadata are the file's, not per frame: those of
/// StackWriteOptions::metadata when given, else those of the first frame appended.
#pragma once

#include <cstddef>
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

/// The layout of a FrameStackWriter's file (see the file comment).
enum class StackLayout { kCxi, kNxmx };

/// Options of FrameStackWriter.
struct StackWriteOptions {
  StackLayout layout = StackLayout::kCxi;
  /// CXI only: zlib level of HDF5's built-in deflate filter per frame chunk, 1..9; 0 stores
  /// frames uncompressed (fastest to write and to read). NXmx frames are always bitshuffle-LZ4.
  int deflate_level = 0;
  /// Detector metadata written for the whole file; when empty, the first appended frame's.
  std::optional<DetectorMetadata> metadata;
  /// NXmx only: the static pixel mask, n_slow × n_fast row-major, non-zero = masked (the
  /// series header's); empty: none written. Must match the frames' extents.
  std::vector<uint8_t> pixel_mask;
};

/// Writes frames of one shape and pixel type into one HDF5 stack, atomically: frames go to a
/// temporary file beside the target (`.NAME.tmp-PID-K`), which `finish()` renames to the target;
/// a writer destroyed without `finish()` (an exception, an interrupted run) removes it, and the
/// target is never half-written.
///
/// Thread-safety: one writer must not be used from two threads at once; distinct writers (and
/// readers) may run concurrently (their libhdf5 calls are serialized by the io module's HDF5
/// mutex, which an append holds while HDF5 writes the frame).
class FrameStackWriter {
 public:
  /// Creates the temporary file beside `path` (the folder must exist).
  /// @throws ConfigError naming the option if `options.deflate_level` is outside 0..9.
  /// @throws IoError naming `path` if the file cannot be created.
  explicit FrameStackWriter(const std::filesystem::path& path,
                            const StackWriteOptions& options = {});
  /// Removes the temporary file unless `finish()` succeeded. Never throws.
  ~FrameStackWriter();
  FrameStackWriter(FrameStackWriter&&) noexcept;
  FrameStackWriter& operator=(FrameStackWriter&&) noexcept;
  FrameStackWriter(const FrameStackWriter&) = delete;
  FrameStackWriter& operator=(const FrameStackWriter&) = delete;

  /// Appends `frame` as frame `n_frames()` of the stack, remembering `source`. The first frame
  /// fixes the shape and pixel type. CXI: its mask (if any) is written, a frame without a mask
  /// counts as unmasked. NXmx: masked pixels take the invalid marker, and the frame is encoded as
  /// one bitshuffle-LZ4 chunk.
  /// @throws ConfigError naming the frame (index and source) if its extents or pixel type differ
  ///         from the first frame's, if it is empty, if `source.frame` < 0, or if the writer is
  ///         already finished (or moved from).
  /// @throws IoError naming the file if HDF5 cannot write.
  void append(const AnyImage& frame, const FrameSource& source);

  /// NXmx only: appends one frame given as its bitshuffle-LZ4 chunk (HDF5 filter framing: u64 BE
  /// size, u32 BE block size, blocks — as DECTRIS streams send it), written as it is, without
  /// decoding or re-compression. `type` is the pixel type of the chunk's elements (kInt32 stands
  /// for the stream's uint32 pixels and is stored as uint32).
  /// @throws ConfigError as append, and if the layout is CXI or the chunk's header does not give
  ///         n_slow · n_fast elements of `type`.
  void append_bslz4(const uint8_t* chunk, size_t n_bytes, PixelType type, int64_t n_slow,
                    int64_t n_fast, const FrameSource& source);

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

/// The arguments to give H5Pset_filter(dcpl, 32008, ...) so that a dataset stores the bitshuffle
/// cd_values `stored` (EIGER's {0, 3, element size, block size, 2 = LZ4}). While no bitshuffle
/// filter plugin is loaded HDF5 stores the values as given; a loaded one (Debian's `bitshuffle`,
/// hdf5plugin, on HDF5_PLUGIN_PATH or HDF5's default plugin folder) runs its set_local, which
/// puts its version and the element size first and moves the given values behind them, so it
/// gets only the values after the first three. Thread-safe (asks HDF5 under its mutex).
std::vector<unsigned> bitshuffle_filter_arguments(const std::vector<unsigned>& stored);

}  // namespace difftriage::io
