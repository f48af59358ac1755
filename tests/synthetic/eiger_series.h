/// A synthetic DECTRIS EIGER series written with libhdf5, laid out as the detector writes it:
///
///   <dir>/<prefix>_data_00000K.h5     K = 1 .. n_files
///     /entry/data/data                uint16 LE (n_frames_per_file, n_slow, n_fast), one chunk
///                                     per frame, HDF5 filter 32008 (bitshuffle, optional) with
///                                     cd_values {0, 3, 2, 0, 2} (version 0.3, 2-byte elements,
///                                     default block, LZ4); chunks written raw (H5Dwrite_chunk)
///   <dir>/<prefix>_master.h5
///     /entry/data/data_00000K         external link -> <prefix>_data_00000K.h5:/entry/data/data
///     EigerSeriesOptions::metadata    float64 scalars, each with a "units" attribute
///     /entry/instrument/detector/pixel_mask   uint32 (n_slow, n_fast), row-major
///
/// Frame f of the series (counted across files from 0) is frame f % n_frames_per_file of data
/// file K = f / n_frames_per_file + 1. Written independently of difftriage's readers (chunks by
/// bslz4_encoder.h), for the io tests, the fuzz seeds and hdf5_bench.
///
///   EigerSeriesOptions options;
///   options.prefix = "scan";
///   options.n_files = 2;
///   options.n_frames_per_file = 3;
///   const std::filesystem::path master = write_eiger_series(dir, options);  // 6 frames
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "difftriage/core/image.h"

namespace difftriage::io::testing {

/// One float64 scalar of the master, e.g. {"/entry/instrument/detector/detector_distance", 0.2,
/// "m"}; intermediate groups are created.
struct NexusScalar {
  std::string path;
  double value = 0.0;
  /// The "units" attribute ("m", "pixel", "angstrom"); empty: no attribute.
  std::string units;
};

/// What write_eiger_series writes. The defaults are the io tests' series.
struct EigerSeriesOptions {
  /// File names start with it: <prefix>_master.h5, <prefix>_data_00000K.h5.
  std::string prefix = "series";
  int n_files = 1;
  int n_frames_per_file = 1;
  int64_t n_slow = 16;
  int64_t n_fast = 16;
  /// The raw chunk of series frame f (counted across files from 0): the bitshuffle/LZ4 bytes of
  /// n_slow x n_fast uint16 LE pixels as the filter stores them. Empty: encode_bslz4 of
  /// eiger_test_frame(f, n_slow, n_fast) with 1024-element blocks.
  std::function<std::vector<uint8_t>(int frame)> chunk_of_frame;
  /// The non-zero pixel_mask values: (row-major pixel index, mask bits).
  std::vector<std::pair<size_t, uint32_t>> flagged_pixels = {{3, 1}, {4, 16}};
  /// The master's NeXus metadata, written after the links and before the pixel_mask.
  std::vector<NexusScalar> metadata = {
      {"/entry/instrument/detector/beam_center_x", 10.5, "pixel"},
      {"/entry/instrument/detector/beam_center_y", 7.25, "pixel"},
      {"/entry/instrument/detector/detector_distance", 0.2, "m"},
      {"/entry/instrument/detector/x_pixel_size", 75e-6, "m"},
      {"/entry/instrument/beam/incident_wavelength", 1.0332, "angstrom"},
  };
};

/// Writes the series described by `options` into the existing folder `dir` (files of the same
/// names are replaced) and returns the master's path. Not thread-safe: libhdf5 is not (Debian
/// builds it without --enable-threadsafe); call it before any concurrent reading.
/// @throws ConfigError if a count or extent is not positive or a flagged pixel is out of range.
/// @throws IoError if a file cannot be created.
std::filesystem::path write_eiger_series(const std::filesystem::path& dir,
                                         const EigerSeriesOptions& options);

/// The io tests' series: EigerSeriesOptions defaults with the given prefix, counts and extents
/// (frame f holds eiger_test_frame(f, n_slow, n_fast); pixel_mask pixels 3 and 4 non-zero; beam
/// centre 10.5 / 7.25 px, distance 0.2 m, pixel 75 um, wavelength 1.0332 A).
std::filesystem::path write_eiger_series(const std::filesystem::path& dir,
                                         const std::string& prefix, int n_files,
                                         int frames_per_file, int64_t n_slow, int64_t n_fast);

/// Pixels of frame `frame` of the default series: counts 0..60 + 100 * frame (deterministic),
/// pixel 1 + frame % 7 = 0xFFFF (EIGER invalid). Pure; safe to call concurrently.
Image<uint16_t> eiger_test_frame(int frame, int64_t n_slow, int64_t n_fast);

}  // namespace difftriage::io::testing
