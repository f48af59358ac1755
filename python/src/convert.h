// Conversions between the C++ library's types and Python/NumPy objects, shared by the binding
// files. Every function here needs the GIL unless it says otherwise.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "difftriage/core/detector_geometry.h"
#include "difftriage/core/image.h"

namespace difftriage::python {

namespace py = pybind11;

/// A JSON value as plain Python objects (dict, list, str, int, float, bool, None).
py::object json_to_py(const nlohmann::json& value);
/// Plain Python objects (dict with str keys, list/tuple, str, int, float, bool, None, NumPy
/// scalars) as JSON. @throws ConfigError naming `what` for anything else.
nlohmann::json py_to_json(py::handle value, const std::string& what);

/// The frame as a NumPy array of its own pixel type, without copying: the frame is moved to
/// the heap and the array owns it through a capsule (it lives as long as the array does).
py::array image_to_array(AnyImage&& image);

/// The metadata dict of read_frame (see __init__.pyi `read_frame`): detector facts in
/// DetectorMetadata/DetectorGeometry field names, the geometry (or None and why), the mask as a
/// bool array (a copy) or None.
py::dict metadata_to_dict(const AnyImage& image);

/// A borrowed view of one C-contiguous 2-D frame whose array is kept alive by the caller; safe
/// to read without the GIL.
struct FrameBuffer {
  PixelType type = PixelType::kUint8;
  const void* data = nullptr;
  int64_t n_slow = 0;
  int64_t n_fast = 0;
};

/// A 2-D array as a C-contiguous array of one of the four pixel types (uint8, uint16, int32,
/// float32 as they are, without a copy when already contiguous; other integer types up to
/// 32 bits become int32, float64 becomes float32). `what` names the frame in messages.
/// @throws ConfigError for another dtype, another number of dimensions or an empty frame.
py::array as_frame_array(py::handle array, const std::string& what);
/// The view of an array returned by as_frame_array.
FrameBuffer frame_buffer(const py::array& frame);
/// A copy of the frame as an owned image (no GIL needed).
AnyImage copy_frame(const FrameBuffer& frame);

/// The frames of `frames`: one 2-D array, a 3-D stack (first axis = frame) or a sequence of
/// 2-D arrays, each through as_frame_array. @throws ConfigError naming the frame at fault.
std::vector<py::array> frame_arrays(py::handle frames);

/// A frame as float pixels with an optional mask (bool or integer array, non-zero = masked,
/// same shape), for the features. @throws ConfigError for a bad array or mask.
Image<float> float_frame(py::handle array, py::handle mask);

/// None → nullopt; a dict with the geometry JSON keys (wavelength_angstrom, distance_mm,
/// pixel_size_mm, beam_center_fast_px, beam_center_slow_px, optionally n_fast and n_slow) or a
/// path (str or os.PathLike) of a geometry JSON file → the geometry.
/// @throws ConfigError naming the key at fault; IoError for an unreadable file.
std::optional<DetectorGeometry> geometry_from_py(py::handle geometry);
/// The geometry as a dict with DetectorGeometry's field names.
py::dict geometry_to_dict(const DetectorGeometry& geometry);

/// A str or os.PathLike as a filesystem path (bytes are taken as they are).
std::filesystem::path to_path(py::handle path);

}  // namespace difftriage::python
