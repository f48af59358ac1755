/// Sources: the command-line inputs of `classify` expanded into the frames to triage, in order.
///
///   auto frames = difftriage::stream::expand_inputs({"run1/", "'*.cbf'", "@hits.lst",
///                                                    "stack.h5", "stack.h5 //7"});
///
/// An input is, in this order of checks:
///  - `@LIST`: a CrystFEL event list, one `path` or `path //N` per line; blank lines and lines
///    starting with `#` are skipped. A `path` line is expanded like a plain path (below).
///    Relative paths are relative to the working directory, as CrystFEL reads them.
///  - a folder: its frame files (list_frame_files) in sorted order, each expanded like a plain
///    path. Not recursive.
///  - an existing file, or a text with "//": `path //N` is that frame; a plain path is every
///    frame of the file, `//0 .. //n-1`, as CrystFEL lists them (io::count_frames: HDF5 stacks
///    and EIGER masters, multi-page TIFF, CBOR channels; 1 for single-frame formats).
///  - a glob pattern (contains `*`, `?` or `[`): the matches of POSIX glob(3), sorted, each
///    expanded like a folder or plain path; files that are not frames (list_frame_files' rules)
///    are skipped.
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
#include <string>
#include <vector>

#include "difftriage/stream/frame_address.h"

namespace difftriage::stream {

/// True for a file name that is not a frame: the study's label files (multiclasses.txt,
/// categories1.txt), JSON sidecars (*.json), event lists (*.lst) and hidden files (".x").
bool is_non_frame_file(const std::string& file_name);

/// The frame files of a folder: regular files (or links to them) that are not
/// is_non_frame_file(), sorted by path, EIGER data files beside their master dropped.
/// @throws IoError naming the folder if it cannot be listed.
std::vector<std::filesystem::path> list_frame_files(const std::filesystem::path& folder);

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

/// Expands command-line inputs into frame addresses, in input order (see above).
/// @throws IoError for an unreadable list file or folder; ConfigError for a bad `//N` (naming
/// the list file and line) or a glob matching nothing (naming the pattern).
std::vector<FrameAddress> expand_inputs(const std::vector<std::string>& inputs);

}  // namespace difftriage::stream
