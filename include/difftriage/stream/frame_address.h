/// Frame addresses: one frame of one file, written `path //N` as in CrystFEL event lists
/// (N is 0-based: the page of a TIFF, the frame of an HDF5 stack or EIGER master, the channel
/// of a DECTRIS CBOR message).
///
///   auto a = difftriage::stream::parse_frame_address("run_master.h5 //3");  // {path, 3}
///   std::string line = difftriage::stream::to_event_line(a);  // "run_master.h5 //3"
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace difftriage::stream {

/// One frame of one file. Plain value type.
struct FrameAddress {
  std::filesystem::path path;
  int64_t frame = 0;  ///< 0-based frame index within the file

  friend bool operator==(const FrameAddress& a, const FrameAddress& b) {
    return a.path == b.path && a.frame == b.frame;
  }
  friend bool operator!=(const FrameAddress& a, const FrameAddress& b) { return !(a == b); }
};

/// Splits "file.h5 //3" (or "file.h5//3") into path and frame. Text without "//", or whose
/// last "//" is followed by more path (a '/' — "/data//run/f.cbf"), is a plain path with
/// frame 0. Pure, thread-safe.
/// @throws ConfigError naming `text` if the part after "//" is not a non-negative integer.
FrameAddress parse_frame_address(const std::string& text);

/// "path //N", the CrystFEL event-list line of `address` (no newline). Pure, thread-safe.
/// Check event_list_problem() first: some names cannot be written on such a line.
std::string to_event_line(const FrameAddress& address);

/// Why `address` cannot be written to an event list so that CrystFEL and read_event_list read
/// back this frame and no other, or "" when it can. A line holds any bytes but these: a newline
/// or carriage return (it would split the line), " //" inside the name (CrystFEL's separator of
/// path and frame), leading or trailing blanks (readers strip them) and a leading '#' (a
/// comment). Pure, thread-safe.
std::string event_list_problem(const FrameAddress& address);

}  // namespace difftriage::stream
