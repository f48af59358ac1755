/// Sources: the command-line inputs of `classify` expanded into the frames to triage, in order.
///
///   auto frames = difftriage::stream::expand_inputs({"run1/", "'*.cbf'", "@hits.lst",
///                                                    "stack.h5", "stack.h5 //7"});
///
/// An input is, in this order of checks:
///  - `@LIST`: a CrystFEL event list, one `path` or `path //N` per line; blank lines and lines
///    starting with `#` are skipped. A `path` line is expanded like a plain path (below).
///    Relative paths are relative to the working directory, as CrystFEL reads them.
///  - a folder: its frame files (list_frame_files: files with a frame extension or whose first
///    bytes are a frame format) in sorted order, each expanded like a plain path. Not
///    recursive. Everything else in it (README.md, checksums, subfolders, broken links, FIFOs)
///    is reported in `skipped`, never taken as an unreadable frame nor dropped unsaid.
///  - an existing file, or a text with "//": `path //N` is that frame; a plain path is every
///    frame of the file, `//0 .. //n-1`, as CrystFEL lists them (io::count_frames: HDF5 stacks
///    and EIGER masters, multi-page TIFF, CBOR channels; 1 for single-frame formats).
///  - a glob pattern (contains `*`, `?` or `[`): the matches of POSIX glob(3), sorted, each
///    expanded like a folder or plain path; matches that are not frames (non_frame_reason) are
///    reported in `skipped`.
///  - anything else (a missing file) stays one frame address (frame 0), which fails later.
/// Fail-open: a file whose frames cannot be counted (missing, unreadable, corrupt) is still one
/// frame address, frame 0; reading it later gives an error row, so it is never silently lost.
///
/// EIGER data files (`X_data_NNNNNN.h5`) listed beside their master (`X_master.h5`) in the same
/// folder or glob are skipped: the master already addresses their frames.
///
/// Thread-safety: every function here is pure apart from reading the file system; safe to call
/// concurrently.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "difftriage/stream/frame_address.h"

namespace difftriage::stream {

/// True for a file name that is not a frame: the study's label files (multiclasses.txt,
/// categories1.txt), JSON sidecars (*.json), event lists (*.lst) and hidden files (".x").
bool is_non_frame_file(const std::string& file_name);

/// "X" for an EIGER data file's name "X_data_NNNNNN.h5" (digits only after "_data_"), else "".
std::string eiger_data_prefix(const std::string& file_name);

/// "X" for an EIGER master file's name "X_master.h5", else "".
std::string eiger_master_prefix(const std::string& file_name);

/// A folder entry (or glob match) that input expansion left out, and why. Plain value type.
struct SkippedInput {
  std::filesystem::path path;
  /// e.g. "not a frame file (no frame extension, content of no known format)", "a folder (not
  /// searched recursively)", "a broken symbolic link", "not a regular file (a FIFO, socket or
  /// device)", "a label file", "a JSON sidecar", "an event list", "a hidden file", "an EIGER
  /// data file (its master lists its frames)".
  std::string reason;
};

/// summary.json's `skipped_inputs`: [{path (+ path_b64), reason}].
nlohmann::json skipped_inputs_json(const std::vector<SkippedInput>& skipped);

/// Why the folder entry `path` is not taken as a frame file, or "" when it is: it must be a
/// regular file (or a link to one), not is_non_frame_file(), and either carry a frame extension
/// (.cbf, .h5, .hdf5, .nxs, .cxi, .tif, .tiff, .img, .smv, .pgm, .png, .cbor, optionally + .gz
/// or .bz2) or probe as a frame format (io::probe_format). Never opens a FIFO or device.
std::string non_frame_reason(const std::filesystem::path& path);

/// The frame files of a folder (non_frame_reason() empty), sorted by path, EIGER data files
/// beside their master dropped; everything else is appended to `skipped` when given, sorted.
/// @throws IoError naming the folder if it cannot be listed.
std::vector<std::filesystem::path> list_frame_files(const std::filesystem::path& folder,
                                                    std::vector<SkippedInput>* skipped = nullptr);

/// Every frame of `file`: `//0 .. //n-1`. A file whose frames cannot be counted gives one
/// address, frame 0 (fail-open, see above). Never throws for a bad file.
std::vector<FrameAddress> expand_file(const std::filesystem::path& file);

/// The sorted matches of a glob(3) pattern (folders included).
/// @throws ConfigError naming the pattern if nothing matches; IoError if glob fails.
std::vector<std::filesystem::path> expand_glob(const std::string& pattern);

/// The frames of a CrystFEL event list (see above).
/// @throws IoError naming the list if it cannot be read; ConfigError "LIST:LINE: ..." for a
/// line with a bad `//N`.
std::vector<FrameAddress> read_event_list(const std::filesystem::path& list);

/// Expands command-line inputs into frame addresses, in input order (see above). What a folder
/// or glob left out is appended to `skipped` when given (a file named on the command line or in
/// a list is always taken: the user named it).
/// @throws IoError for an unreadable list file or folder; ConfigError for a bad `//N` (naming
/// the list file and line) or a glob matching nothing (naming the pattern).
std::vector<FrameAddress> expand_inputs(const std::vector<std::string>& inputs,
                                        std::vector<SkippedInput>* skipped = nullptr);

}  // namespace difftriage::stream
