/// Reading and writing frames. The reader is chosen by content (magic bytes), never by the file
/// extension: each registered format has a cheap `probe` over the first bytes and the most
/// specific match wins (dxtbx's `understand()` idea).
///
///   difftriage::AnyImage frame = difftriage::io::read_image("fake_00002.pgm");
///   difftriage::io::write_png("copy.png", std::get<difftriage::Image<uint8_t>>(frame));
///
/// What each reader returns. PGM, PNG and TIFF carry no detector metadata or mask, so
/// `DetectorMetadata` stays empty and no mask is set.
/// - PGM (P5 binary, P2 plain; '#' comments in the header): maxval <= 255 -> uint8, else uint16
///   (16-bit P5 is big-endian). Samples are raw counts, not rescaled to maxval; a sample above
///   maxval is a FormatError. Bytes after the raster are ignored. One frame per file.
/// - PNG: 8/16-bit gray -> uint8/uint16, exactly. Other layouts become one gray channel of the
///   same bit depth: alpha/tRNS dropped, 1/2/4-bit gray expanded to 0..255, palette and RGB(A)
///   converted to luminance (libpng's Rec. 709 weights). One frame per file.
/// - TIFF (classic and BigTIFF, strips or tiles, any codec libtiff was built with), one sample
///   per pixel: uint8 -> uint8, uint16 -> uint16, int8/int16/int32 -> int32, float32 -> float32,
///   uint32 -> int32 with values above INT32_MAX mapped to -1 (the CBF/DIALS "invalid pixel"
///   marker). Bilevel, 12-bit, 64-bit float, multi-sample (RGB, gray+alpha) and palette images
///   are a FormatError. Each page (IFD) is a frame. libtiff's leniencies apply: for example a
///   single uncompressed strip with an implausible StripByteCounts is re-measured from the
///   image size, and read if the bytes are there.
///
/// - SMV / ADSC (`{ HEADER_BYTES=...; KEY=VALUE; ... }` padded to HEADER_BYTES, then the
///   raster; src/io/smv.cpp): SIZE1 = fast axis, SIZE2 = slow; BYTE_ORDER little_endian or
///   big_endian (little when absent); TYPE unsigned_short (or absent) -> uint16, signed 32-bit
///   (signed_int, signed_long, long_int) -> int32, unsigned 32-bit (unsigned_int, unsigned_long)
///   -> int32 with values above INT32_MAX mapped to -1; any other TYPE is a FormatError naming
///   it. Metadata: PIXEL_SIZE (mm), DISTANCE (mm), WAVELENGTH (Å), TIME (s), SATURATED_VALUE or
///   CCD_IMAGE_SATURATION, beam centre from BEAM_CENTER_X/Y under the convention dxtbx uses for
///   the file's variant (ADSC: fast = BEAM_CENTER_Y / pixel, slow = BEAM_CENTER_X / pixel; see
///   smv.cpp). No mask.
/// - CBF (miniCBF with a PILATUS_1.2 header, and full imgCIF as far as one x-CBF_BYTE_OFFSET
///   array; src/io/cbf.cpp) -> int32. Pixels -1 (gap between modules) and -2 (bad pixel) keep
///   their value and are masked (mask byte 1); a CBF frame always carries a mask. Metadata from
///   the `# Key value` header lines (Pixel_size, Wavelength, Detector_distance, Beam_xy,
///   Exposure_time, Count_cutoff, Detector) and, for imgCIF, from the CIF items (wavelength,
///   distance, pixel size, overload, beam centre from the detector axes); imgCIF values win
///   where both exist (as in dxtbx's FormatCBFFull).
/// - HDF5 (src/io/hdf5*.cpp; libhdf5, no filter plugin needed). Layouts, in this order:
///   EIGER/NeXus master (/entry/data/data_NNNNNN links, usually external links into
///   <prefix>_data_NNNNNN.h5, resolved next to the master; frame N counts across the data files
///   in name order), EIGER data file or single NeXus stack (/entry/data/data), CXI
///   (/entry_1/data_1/data, soft link followed). A 2-D dataset is one frame, a 3-D one is
///   (frames, slow, fast). Pixel types: uint8 -> uint8, uint16 -> uint16, uint32 -> int32 (values
///   above INT32_MAX -> -1), int8/16/32 -> int32, float32 -> float32, float64 -> float32
///   (rounded to nearest: about 7 significant digits kept; CXI files store float64). Chunks with
///   bitshuffle (filter 32008, LZ4 or none) or LZ4 (32004) are read raw (H5Dread_chunk) and
///   decoded in-process (bitshuffle_lz4.h); chunks must hold whole frames. No filter or only
///   HDF5's built-in ones: H5Dread. Any other filter is a FormatError naming file, dataset and
///   filter id. EIGER/NeXus frames are masked where the value is 2^bits - 1 (unsigned types; the
///   detector's invalid/gap marker) or where /entry/instrument/detector/pixel_mask (or
///   .../detectorSpecific/pixel_mask) is non-zero, when that mask has the frame's shape.
///   Metadata from /entry/instrument/detector (beam_center_x/y px, detector_distance and
///   x_pixel_size with their `units`, m when absent; count_time s; saturation_value, else
///   detectorSpecific/countrate_correction_count_cutoff; description) and
///   /entry/instrument/beam/incident_wavelength (Å); CXI: detector distance and x_pixel_size (m)
///   and the wavelength from source_1/energy (J) in the detector group the data link points to,
///   plus beam centre, exposure, saturation and the original detector text from
///   /entry_1/difftriage when a CXI file was written by CxiStackWriter (cxi_writer.h). A CXI
///   frame is masked from <detector>/mask ((frames, slow, fast) or (slow, fast)) where one of
///   the CXI 1.5 bits for an unusable pixel is set (invalid 1, saturated 2, hot 4, dead 8,
///   shadowed 16, ignore 64, bad 128, missing 512; informational bits such as the peak mask 32
///   are not masked). A frame is always decoded, so a master whose
///   data file is missing is a FormatError naming the master, the link (/entry/data/data_NNNNNN)
///   and the file looked for. `read_image` opens HDF5 files by path without reading them whole;
///   `decode_image` opens HDF5 bytes as an in-memory file image, where external links cannot be
///   followed (a FormatError saying so). HDF5 calls are serialized by a process-wide mutex
///   (libhdf5 state is global); decompression runs outside it.
/// - DECTRIS Stream V2 `image` messages (CBOR, src/io/cbor_stream.cpp; libcbor): self-describe
///   tag 55799 around a map with "type": "image" and "data": {channel: tag 40 [[slow, fast],
///   typed array]}; typed arrays uint8/uint16/uint32/int8/int16/int32 (little-endian)/float32,
///   raw or compressed with tag 56500 ["bslz4", element size, bytes]. One message holds one
///   exposure; `ReadOptions::frame` selects the channel in message order (0 = threshold_1 in
///   EIGER2 messages, then threshold_2, difference, ...). Unsigned all-ones values (2^bits - 1)
///   are masked, as for EIGER HDF5 files (in a "difference" channel that value is a wrapped -1).
///   Metadata: `detector` names series, image and channel; `exposure_s` from real_time
///   ([numerator, denominator] s). Messages of other types (start, end) are a FormatError.
/// - gzip and bzip2 wrap any of these transparently (detected by magic, decompressed in memory,
///   at most `ReadOptions::max_decompressed_bytes`; one level of wrapping). `probe_format` sees
///   through gzip (it inflates the first bytes); a bzip2 head cannot be decoded piecewise, so
///   `probe_format` reports kUnknown for it although `read_image` reads it.
///
/// Thread-safety: every function here may be called concurrently (libtiff and libpng errors are
/// captured per call, HDF5 calls are serialized, nothing is printed). The only shared state is
/// the HDF5 per-file cache (`ReadOptions::cache_file_layout`), used under the HDF5 mutex.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "difftriage/core/image.h"

namespace difftriage::io {

/// How many leading bytes `probe_format` looks at at most.
inline constexpr size_t kProbeBytes = 4096;

/// Formats the readers know (a new format is an enumerator here plus one line in the reader
/// table, src/io/format_registry.cpp). kSmv: SMV/ADSC; kCbf: CBF (miniCBF and imgCIF); kHdf5:
/// HDF5 (EIGER/NeXus master and data files, CXI); kCbor: a DECTRIS Stream V2 CBOR image message.
enum class ImageFormat { kUnknown, kPgm, kPng, kTiff, kSmv, kCbf, kHdf5, kCbor };

/// Short name: "pgm", "png", "tiff", "smv", "cbf", "hdf5", "cbor", "unknown".
const char* format_name(ImageFormat format) noexcept;

/// Identifies the format from the first bytes of a file (up to kProbeBytes). Never throws.
/// kUnknown for null, empty or unrecognised input. Only PGM P2/P5 count as PGM (not P1/P3/P4/P6).
/// A gzip head is inflated as far as it goes and the inner bytes are probed (a gzip-wrapped CBF
/// is kCbf); a bzip2 head gives kUnknown (see above).
ImageFormat probe_format(const uint8_t* head, size_t n_bytes) noexcept;

/// Options for reading.
struct ReadOptions {
  /// Frame index within a multi-frame file (0-based, CrystFEL's `//N`). Single-frame formats
  /// accept only 0; for TIFF it is the page; for HDF5 the frame of the stack (across the data
  /// files of an EIGER master); for a DECTRIS CBOR message the channel.
  int64_t frame = 0;
  /// Largest decompressed size accepted from a gzip/bzip2-wrapped file, in bytes. The default
  /// (8 bytes per pixel of the largest accepted frame, 2 GiB) bounds what a decompression bomb
  /// can allocate; beyond it the read is a FormatError. The same bound applies to a path that
  /// is a pipe or device rather than a regular file (read to its end, having no size), which
  /// is also refused at once when its first bytes are no known format (`/dev/zero`).
  uint64_t max_decompressed_bytes = static_cast<uint64_t>(kMaxImagePixels) * 8;
  /// HDF5 files read by path (`read_image`, `count_frames`): keep what does not change between
  /// the frames of a file (its layout, an EIGER master's data links with their resolved files
  /// and frame counts, the metadata and the pixel mask) in a small process-wide cache, so that
  /// reading frame after frame of a master reads the mask and opens the master once, not per
  /// frame. Entries are keyed by canonical path and checked against the file's modification
  /// time and size on every read (a rewritten master is read again); at most 8 files and
  /// 256 MiB of masks are kept, least recently used dropped first. A data file missing when the
  /// master is first read is looked for again on later reads. With false, everything is read
  /// from the file (same result, unless the file changed without a new time or size).
  bool cache_file_layout = true;
  /// HDF5 only: parse every file once in a child process before parsing it in this one. libhdf5
  /// decodes a file's metadata itself, and the version Debian 12 ships (1.10.8) can crash the
  /// whole process on some damaged metadata (README "Robustness"). With true, the child opens
  /// the file, reads its layout and metadata, counts its frames, walks the chunk index of every
  /// frame stack and reads the raw bytes of the first and last frame of each stack (no pixel
  /// is decoded); an EIGER master's data files are checked the same way, each as it is first
  /// opened. If the child crashes or overruns `isolate_timeout_s`, the read is a FormatError
  /// naming the file and what happened, and this process never parses it. A file read by path
  /// is checked once per canonical path, modification time and size (up to 4096 files are
  /// remembered); a file in memory (`decode_image`, `count_frames_in_memory`) on every call.
  /// Costs one fork per check, about a millisecond plus the metadata walk. With false, files
  /// are parsed in this process only.
  bool isolate_hdf5 = true;
  /// Seconds the child of `isolate_hdf5` may take (damaged metadata can also make libhdf5
  /// loop). Must be finite and > 0 (a ConfigError otherwise, at the first HDF5 read).
  double isolate_timeout_s = 60.0;
};

/// Empties the HDF5 per-file cache (see `ReadOptions::cache_file_layout`), releasing its
/// memory. Thread-safe; never throws.
void clear_file_cache() noexcept;

/// Reads one frame from a file, choosing the reader by content.
/// @throws IoError if the file cannot be opened or read (missing, a directory, no permission).
/// @throws FormatError naming the file (and frame) if the content is unknown, truncated,
///         inconsistent or has absurd dimensions (beyond kMaxImageExtent / kMaxImagePixels), or
///         if `options.frame` is out of range ("frame N out of range, file has M frame(s)").
AnyImage read_image(const std::filesystem::path& path, const ReadOptions& options = {});

/// Decodes one frame from bytes already in memory; `name` is used in error messages.
/// Same errors as read_image (all FormatError). Thread-safe.
AnyImage decode_image(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                      const ReadOptions& options = {});

/// Number of frames in a file, i.e. how many `PATH //N` (N = 0 .. count - 1) `read_image`
/// accepts: the frames of an HDF5 stack (an EIGER/NeXus master summed over its data files in
/// link order, /entry/data/data of a data file or NeXus stack, /entry_1/data_1/data of a CXI
/// file; a 2-D dataset counts 1), the pages of a TIFF, the channels of a DECTRIS Stream V2
/// message, and 1 for the single-frame formats (PGM, PNG, SMV, CBF). The format is chosen by
/// content as in `read_image`, through one level of gzip/bzip2. No pixels are decoded, so a
/// counted frame may still fail to read (a corrupt chunk); for a single-frame format the file is
/// only probed. An EIGER master's data files are opened (their shapes give the counts): a
/// missing one is an error, as when reading. Thread-safe.
/// @throws IoError naming the file if it cannot be opened or read.
/// @throws FormatError naming the file if the format is unknown or the frame layout cannot be
///         read (no known HDF5 image dataset, a dangling external link, a TIFF without pages,
///         a CBOR message that is not an image message).
int64_t count_frames(const std::filesystem::path& path, const ReadOptions& options = {});

/// `count_frames` for a whole file already in memory; `name` is used in error messages. An
/// in-memory HDF5 master cannot follow its external links (FormatError). Thread-safe.
int64_t count_frames_in_memory(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                               const ReadOptions& options = {});

/// Encodings for PGM output.
struct PgmWriteOptions {
  bool binary = true;  ///< P5 when true, P2 (ASCII) when false
};

/// Writes an 8- or 16-bit PGM (16-bit P5 is big-endian, maxval 65535; 8-bit maxval 255).
/// Written atomically. @throws IoError naming the file on failure; ConfigError naming the file
/// if the image is empty.
void write_pgm(const std::filesystem::path& path, const ImageView<uint8_t>& image,
               const PgmWriteOptions& options = {});
void write_pgm(const std::filesystem::path& path, const ImageView<uint16_t>& image,
               const PgmWriteOptions& options = {});

/// Writes an 8- or 16-bit grayscale PNG (libpng, default zlib level). Written atomically.
/// @throws IoError naming the file on failure; ConfigError naming the file if the image is empty.
void write_png(const std::filesystem::path& path, const ImageView<uint8_t>& image);
void write_png(const std::filesystem::path& path, const ImageView<uint16_t>& image);

/// Writes a single-strip or striped (about 64 KiB per strip), uncompressed grayscale TIFF
/// (libtiff) with the frame's own pixel type (uint8, uint16, int32 or float32), one page.
/// Written atomically. @throws IoError naming the file on failure; ConfigError naming the file
/// if the image is empty.
void write_tiff(const std::filesystem::path& path, const AnyImage& image);

/// Encodes an 8-bit grayscale or 8-bit RGB (n_channels = 3, interleaved) PNG into memory.
/// `pixels` holds n_slow rows of n_fast * n_channels bytes.
/// @throws ConfigError if n_channels is not 1 or 3, an extent is out of range or pixels is null;
///         IoError if libpng fails.
std::vector<uint8_t> encode_png(const uint8_t* pixels, int64_t n_slow, int64_t n_fast,
                                int n_channels);

}  // namespace difftriage::io
