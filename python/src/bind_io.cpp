// Reading frames: read_frame, count_frames and the input expansion of `classify`.
#include <pybind11/stl.h>

#include <fstream>
#include <string>
#include <vector>

#include "bindings.h"
#include "convert.h"
#include "difftriage/io/image_io.h"
#include "difftriage/stream/sources.h"

namespace difftriage::python {
namespace {
namespace fs = std::filesystem;

// The format name `info` reports: the probe of the file's first bytes.
std::string probe_file_format(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string head(io::kProbeBytes, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  return io::format_name(
      io::probe_format(reinterpret_cast<const uint8_t*>(head.data()), head.size()));
}

py::str path_text(const fs::path& path) {
  return py::module_::import("os").attr("fsdecode")(py::bytes(path.native()));
}

py::tuple read_frame(py::handle path_object, int64_t frame) {
  const fs::path path = to_path(path_object);
  io::ReadOptions options;
  options.frame = frame;
  AnyImage image;
  std::string format;
  {
    py::gil_scoped_release release;
    image = io::read_image(path, options);
    format = probe_file_format(path);
  }
  py::dict meta = metadata_to_dict(image);
  meta["format"] = format;
  py::array pixels = image_to_array(std::move(image));
  return py::make_tuple(std::move(pixels), std::move(meta));
}

int64_t count_frames(py::handle path_object) {
  const fs::path path = to_path(path_object);
  py::gil_scoped_release release;
  return io::count_frames(path);
}

std::vector<std::string> input_texts(py::handle inputs) {
  std::vector<std::string> out;
  const py::module_ os = py::module_::import("os");
  if (py::isinstance<py::str>(inputs) || py::isinstance(inputs, os.attr("PathLike"))) {
    out.push_back(os.attr("fsencode")(inputs).cast<std::string>());
    return out;
  }
  for (const auto& item : inputs) out.push_back(os.attr("fsencode")(item).cast<std::string>());
  return out;
}

py::tuple expand_inputs(py::handle inputs) {
  const auto texts = input_texts(inputs);
  std::vector<stream::FrameAddress> frames;
  std::vector<stream::SkippedInput> skipped;
  {
    py::gil_scoped_release release;
    frames = stream::expand_inputs(texts, &skipped);
  }
  py::list addresses, left_out;
  for (const auto& f : frames) addresses.append(py::make_tuple(path_text(f.path), f.frame));
  for (const auto& s : skipped) left_out.append(py::make_tuple(path_text(s.path), s.reason));
  return py::make_tuple(std::move(addresses), std::move(left_out));
}

}  // namespace

void bind_io(py::module_& m) {
  m.def("read_frame", &read_frame, py::arg("path"), py::arg("frame") = 0,
        R"(Read frame `frame` (0-based) of an image file, choosing the reader by content.

Returns (array, metadata): the 2-D array (slow, fast) keeps the file's pixel type (uint8,
uint16, int32 or float32) and owns the frame the reader decoded (no copy); metadata is a dict
with n_slow, n_fast, dtype, format, the detector facts (wavelength_angstrom, distance_mm,
pixel_size_mm, beam_center_fast_px, beam_center_slow_px, exposure_s, saturation_value: float
or None; detector; surface), geometry (a dict with DetectorGeometry's field names, or None and
geometry_why_not says why), mask (bool array, True = masked, or None) and n_masked.
Raises OSError (cannot read), difftriage.FormatError (malformed, frame out of range).)");
  m.def("count_frames", &count_frames, py::arg("path"),
        R"(Number of frames in an image file (HDF5 stacks and EIGER masters, TIFF pages, CBOR
channels; 1 for single-frame formats). Raises OSError or difftriage.FormatError.)");
  m.def("expand_inputs", &expand_inputs, py::arg("inputs"),
        R"(Expand inputs exactly as `difftriage classify` does: files (every frame of a
multi-frame file), 'PATH //N', folders (their frame files, sorted), quoted glob patterns and
@LIST event lists. Returns (frames, skipped): frames a list of (path, frame), skipped a list of
(path, reason) for folder entries not taken as frames. Raises OSError (an unreadable list or
folder) or ValueError (a bad //N, a glob matching nothing).)");
}

}  // namespace difftriage::python
