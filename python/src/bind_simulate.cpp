// simulate(): the frames, label rows and truth sidecars `difftriage simulate` writes, in memory
// (simulate::simulate_frame per frame index, as generate_dataset does: same seed ⇒ same bytes).
#include <pybind11/stl.h>

#include <array>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "bindings.h"
#include "convert.h"
#include "difftriage/core/error.h"
#include "difftriage/core/labels.h"
#include "difftriage/core/parallel.h"
#include "difftriage/simulate/generate_dataset.h"
#include "difftriage/simulate/simulate.h"
#include "difftriage/simulate/truth.h"

namespace difftriage::python {
namespace {
namespace sim = difftriage::simulate;
using nlohmann::json;

sim::Mix mix_from_py(py::handle mix) {
  if (py::isinstance<py::dict>(mix)) return sim::mix_from_json(py_to_json(mix, "mix").dump(), "mix");
  DT_CHECK(py::isinstance<py::str>(mix) ||
               py::isinstance(mix, py::module_::import("os").attr("PathLike")),
           ConfigError, "mix must be 'balanced', 'study', a dict or the path of a JSON file");
  if (py::isinstance<py::str>(mix)) {
    const auto word = mix.cast<std::string>();
    if (word == "balanced") return sim::balanced_mix();
    if (word == "study") return sim::study_mix();
  }
  const auto path = to_path(mix);
  DT_CHECK(std::filesystem::is_regular_file(path), ConfigError,
           "mix must be 'balanced', 'study', a dict or a JSON file; '", path.string(),
           "' is none of these");
  std::ifstream in(path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  DT_CHECK(in.good() || in.eof(), IoError, "cannot read ", path.string());
  return sim::mix_from_json(text, path.string());
}

// The crystal restrictions of `simulate --preset/--cell` (tools/difftriage/cmd_simulate.cpp
// resolve_options), on the options' mix.
void apply_crystals(sim::SimulateOptions& o, const std::optional<std::string>& preset,
                    const std::optional<std::array<double, 6>>& cell) {
  if (cell) {
    const auto& v = *cell;
    UnitCell c{v[0], v[1], v[2], v[3], v[4], v[5]};
    validate_cell(c);
    o.scene.custom_cell = c;
    if (!preset) o.mix.photo1 = o.mix.photo2 = o.mix.both = 0.0;
    o.mix.custom = 1.0;
  }
  if (preset) {
    if (*preset == "photo1") {
      o.mix.photo2 = o.mix.both = 0.0;
      o.mix.photo1 = 1.0;
    } else if (*preset == "photo2") {
      o.mix.photo1 = o.mix.both = 0.0;
      o.mix.photo2 = 1.0;
    } else if (*preset == "both") {
      o.mix.photo1 = o.mix.photo2 = 0.0;
      o.mix.both = 1.0;
    } else {
      throw ConfigError("preset: unknown crystal preset '" + *preset +
                        "' (known: photo1, photo2, both)");
    }
  }
}

py::tuple simulate(int64_t count, uint64_t seed, py::handle mix, int output_size, int full_size,
                   const std::string& binning, std::optional<double> wavelength_angstrom,
                   std::optional<double> distance_mm, std::optional<double> pixel_size_mm,
                   const std::optional<std::string>& preset,
                   const std::optional<std::array<double, 6>>& cell, const std::string& format,
                   int threads) {
  DT_CHECK(count >= 0 && count <= sim::kMaxGeneratedFrames, ConfigError, "count must be in 0..",
           sim::kMaxGeneratedFrames, ", got ", count);
  DT_CHECK(threads >= 0, ConfigError, "threads must be >= 0 (0 = one per core), got ", threads);
  DT_CHECK(format == "pgm" || format == "png", ConfigError, "format must be pgm or png, got '",
           format, "'");
  DT_CHECK(binning == "max" || binning == "mean", ConfigError,
           "binning must be max or mean, got '", binning, "'");
  sim::SimulateOptions o;
  o.scene.output_size = output_size;
  o.scene.full_size = full_size;
  o.scene.binning = binning == "max" ? sim::BinningMode::kMax : sim::BinningMode::kMean;
  o.scene.wavelength_angstrom = wavelength_angstrom;
  o.scene.distance_mm = distance_mm;
  o.scene.pixel_size_mm = pixel_size_mm;
  o.mix = mix_from_py(mix);
  apply_crystals(o, preset, cell);
  o.seed = seed;
  sim::validate_simulate_options(o);
  const auto file_format = format == "png" ? sim::FrameFileFormat::kPng : sim::FrameFileFormat::kPgm;

  const auto side = static_cast<py::ssize_t>(output_size);
  py::array_t<uint8_t> frames({static_cast<py::ssize_t>(count), side, side});
  uint8_t* pixels = frames.mutable_data();
  std::vector<sim::FrameLabels> labels(static_cast<size_t>(count));
  std::vector<json> truths(static_cast<size_t>(count));
  {
    py::gil_scoped_release release;
    parallel_for(count, resolve_thread_count(threads, count), [&](int64_t i) {
      const sim::SimulatedFrame f = sim::simulate_frame(o, i);
      DT_CHECK(f.image.n_slow() == side && f.image.n_fast() == side, ConfigError,
               "internal: frame size ", f.image.n_slow(), " x ", f.image.n_fast());
      std::memcpy(pixels + i * side * side, f.image.data(), static_cast<size_t>(side * side));
      labels[static_cast<size_t>(i)] = f.labels;
      json truth = sim::frame_truth_json(f);
      truth["file"] = sim::frame_file_name(i, file_format);  // as generate_dataset's sidecar
      truths[static_cast<size_t>(i)] = std::move(truth);
    });
  }
  py::list label_rows, truth_dicts;
  for (int64_t i = 0; i < count; ++i) {
    const auto& l = labels[static_cast<size_t>(i)];
    py::dict row;
    row["file"] = sim::frame_file_name(i, file_format);
    row["blank"] = static_cast<int>(l.blank);
    row["photo1"] = static_cast<int>(l.photo1);
    row["photo2"] = static_cast<int>(l.photo2);
    row["multilattice"] = static_cast<int>(l.multilattice);
    row["ice"] = static_cast<int>(l.ice);
    row["badice"] = static_cast<int>(l.badice);
    row["quality"] = quality_name(l.quality);
    row["mosaic1"] = l.mosaic1;
    row["mosaic2"] = l.mosaic2;
    label_rows.append(std::move(row));
    truth_dicts.append(json_to_py(truths[static_cast<size_t>(i)]));
  }
  return py::make_tuple(std::move(frames), std::move(label_rows), std::move(truth_dicts));
}

}  // namespace

void bind_simulate(py::module_& m) {
  m.def("simulate", &simulate, py::arg("count"), py::arg("seed") = 0,
        py::arg("mix") = "balanced", py::kw_only(), py::arg("output_size") = 512,
        py::arg("full_size") = 1024, py::arg("binning") = "max",
        py::arg("wavelength_angstrom") = py::none(), py::arg("distance_mm") = py::none(),
        py::arg("pixel_size_mm") = py::none(), py::arg("preset") = py::none(),
        py::arg("cell") = py::none(), py::arg("format") = "pgm", py::arg("threads") = 0,
        R"(Simulate `count` labelled frames in memory, exactly as `difftriage simulate --count
COUNT --seed SEED` writes them (same seed, same options: the same bytes, whatever threads).

mix: 'balanced', 'study', a dict (the --mix JSON keys) or a JSON file path. The keyword
options are simulate's --output-size, --full-size, --binning (max|mean), --wavelength,
--distance, --pixel-size, --preset (photo1|photo2|both), --cell ((a, b, c, alpha, beta,
gamma) in Å and degrees), --format (names the files: pgm|png) and --threads (0 = all cores).
Returns (frames, labels, truth): frames a uint8 array (count, output_size, output_size), the
8-bit frames fake_00001.pgm ...; labels one dict per frame (file, the six labels as 0/1,
quality, mosaic1, mosaic2: the rows of multiclasses.txt and categories1.txt); truth one dict
per frame (the JSON sidecar fake_NNNNN.json). Raises ValueError for bad options.)");
}

}  // namespace difftriage::python
