// Triage: Classifier.load / classify / classify_files, through the C++ pipeline
// (stream::run_triage: decode threads, batched inference, the fail-open decision and the
// results.jsonl row), with the GIL released while it runs.
#include <pybind11/stl.h>

#include <chrono>
#include <ctime>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "bindings.h"
#include "convert.h"
#include "difftriage/core/error.h"
#include "difftriage/features/evidence_stage.h"
#include "difftriage/stream/stream.h"

namespace difftriage::python {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

/// A loaded model and the pipeline settings its runs use. Safe to share between Python threads
/// (the C++ Classifier is immutable and thread-safe).
struct PyClassifier {
  std::shared_ptr<const models::Classifier> classifier;
  fs::path path;
  stream::TriageOptions options;
};

// The model `classify` uses without --model: $DIFFTRIAGE_DEFAULT_MODEL when set, else the
// shipped models/default (source tree, then installation) — as tools/difftriage/triage_model.cpp.
fs::path resolve_model(py::handle path) {
  if (!path.is_none()) return to_path(path);
  try {
    const char* site = std::getenv("DIFFTRIAGE_DEFAULT_MODEL");
    if (site != nullptr && *site != '\0') return stream::resolve_model_path({}, {fs::path(site)});
    return stream::resolve_model_path({});
  } catch (const ConfigError& e) {
    throw ConfigError(std::string(e.what()) + " (pass Classifier.load(PATH))");
  }
}

PyClassifier load(py::handle path, int threads, py::object decode_threads, int torch_threads,
                  int64_t batch, int64_t queue) {
  PyClassifier c;
  c.path = resolve_model(path);
  c.options.n_infer_workers = threads;
  c.options.n_decode_threads = decode_threads.is_none() ? threads : decode_threads.cast<int>();
  c.options.n_torch_threads = torch_threads;
  c.options.batch_size = batch;
  c.options.queue_capacity = queue;
  stream::validate(c.options);
  py::gil_scoped_release release;
  c.classifier = std::make_shared<const models::Classifier>(models::Classifier::load(c.path));
  return c;
}

// The spot-evidence stage of a run: as `classify` builds it from its flags, with `geometry` as
// the fallback (--geometry) and sidecars looked up only for files.
std::shared_ptr<const features::EvidenceStage> evidence_stage(
    const PyClassifier& c, const std::optional<DetectorGeometry>& geometry, bool override_all,
    const std::vector<std::string>& cells, bool enabled, bool use_sidecars) {
  DT_CHECK(!override_all || geometry, ConfigError, "geometry_override needs a geometry");
  features::EvidenceArgs args;
  args.cell_files = cells;
  args.disabled = !enabled;
  auto stage = features::make_evidence_stage(args, c.classifier->metadata().spot_evidence);
  if (!stage || (!geometry && use_sidecars)) return stage;
  features::GeometrySource source;
  source.fallback = geometry;
  source.override_all = override_all;
  source.use_sidecars = use_sidecars;
  return std::make_shared<const features::EvidenceStage>(source, stage->spot_evidence());
}

// Runs the pipeline (GIL released by the caller) and returns the results.jsonl rows in order.
std::vector<json> triage_rows(const PyClassifier& c, const std::vector<stream::FrameAddress>& frames,
                              const stream::FrameLoader* load,
                              std::shared_ptr<const features::EvidenceStage> stage) {
  std::vector<json> rows;
  if (frames.empty()) return rows;
  rows.reserve(frames.size());
  stream::TriageOptions options = c.options;
  options.evidence = std::move(stage);
  const models::ModelMetadata& meta = c.classifier->metadata();
  const auto sink = [&](const stream::FrameResult& r) {
    rows.push_back(stream::result_row(r, stream::decide_triage(r, meta), meta));
  };
  if (load != nullptr) {
    stream::run_triage(frames, *load, c.classifier, options, sink);
  } else {
    stream::run_triage(frames, c.classifier, options, sink);
  }
  return rows;
}

// Arrays are named "<array> //k" in the pipeline's messages; their rows get path None.
std::vector<stream::FrameAddress> array_addresses(size_t n) {
  std::vector<stream::FrameAddress> frames(n);
  for (size_t k = 0; k < n; ++k) frames[k] = {fs::path("<array>"), static_cast<int64_t>(k)};
  return frames;
}

py::list rows_to_py(const std::vector<json>& rows, bool arrays) {
  py::list out;
  for (const auto& row : rows) {
    py::dict d = json_to_py(row).cast<py::dict>();
    if (arrays) d["path"] = py::none();
    out.append(std::move(d));
  }
  return out;
}

py::list classify(const PyClassifier& c, py::handle frames, py::handle geometry,
                  bool spot_evidence) {
  const std::vector<py::array> arrays = frame_arrays(frames);
  std::vector<FrameBuffer> buffers;
  buffers.reserve(arrays.size());
  for (const auto& a : arrays) buffers.push_back(frame_buffer(a));
  const auto stage =
      evidence_stage(c, geometry_from_py(geometry), false, {}, spot_evidence, false);
  const auto addresses = array_addresses(arrays.size());
  // The decode workers copy each frame out of its array (kept alive by `arrays`) without the GIL.
  const stream::FrameLoader load = [&buffers](int64_t k) {
    return copy_frame(buffers[static_cast<size_t>(k)]);
  };
  std::vector<json> rows;
  {
    py::gil_scoped_release release;
    rows = triage_rows(c, addresses, &load, stage);
  }
  return rows_to_py(rows, true);
}

py::list classify_files(const PyClassifier& c, py::handle inputs, py::handle geometry,
                        bool geometry_override, const std::vector<std::string>& cells,
                        bool spot_evidence) {
  std::vector<std::string> texts;
  const py::module_ os = py::module_::import("os");
  if (py::isinstance<py::str>(inputs) || py::isinstance(inputs, os.attr("PathLike"))) {
    texts.push_back(os.attr("fsencode")(inputs).cast<std::string>());
  } else {
    for (const auto& item : inputs) texts.push_back(os.attr("fsencode")(item).cast<std::string>());
  }
  const auto stage = evidence_stage(c, geometry_from_py(geometry), geometry_override, cells,
                                    spot_evidence, true);
  std::vector<json> rows;
  {
    py::gil_scoped_release release;
    const auto frames = stream::expand_inputs(texts);
    DT_CHECK(!frames.empty(), IoError, "classify: the inputs name no frames");
    rows = triage_rows(c, frames, nullptr, stage);
  }
  return rows_to_py(rows, false);
}

// The C++ library's own in-memory path, for the benchmark: the frames are copied into owned
// images first (untimed); the timed part is run_triage over a loader handing out copies of
// them, building the same rows, without Python. Returns (wall seconds, process CPU seconds,
// rows).
py::tuple classify_in_memory_cpp(const PyClassifier& c, py::handle frames, py::handle geometry,
                                 bool spot_evidence) {
  std::vector<AnyImage> images;
  for (const auto& a : frame_arrays(frames)) images.push_back(copy_frame(frame_buffer(a)));
  const auto stage =
      evidence_stage(c, geometry_from_py(geometry), false, {}, spot_evidence, false);
  const auto addresses = array_addresses(images.size());
  const stream::FrameLoader load = [&images](int64_t k) { return images[static_cast<size_t>(k)]; };
  std::vector<json> rows;
  double seconds = 0.0, cpu_seconds = 0.0;
  {
    py::gil_scoped_release release;
    const auto start = std::chrono::steady_clock::now();
    const std::clock_t cpu_start = std::clock();  // the whole process, every thread
    rows = triage_rows(c, addresses, &load, stage);
    cpu_seconds = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return py::make_tuple(seconds, cpu_seconds, rows_to_py(rows, true));
}

}  // namespace

void bind_classify(py::module_& m) {
  py::class_<PyClassifier>(m, "Classifier", R"(A loaded triage model with the pipeline settings of its runs.

Classifier.load(path=None) loads a model folder (model.pt + model.json) or file; None means
the model `difftriage classify` uses without --model ($DIFFTRIAGE_DEFAULT_MODEL, else the
shipped models/default). classify() and classify_files() run frames through the same C++
pipeline as `difftriage classify` (decode threads, batched inference, fail-open decision) with
the GIL released, and return its results.jsonl rows as dicts. Thread-safe.)")
      .def_static("load", &load, py::arg("path") = py::none(), py::kw_only(),
                  py::arg("threads") = 2, py::arg("decode_threads") = py::none(),
                  py::arg("torch_threads") = 1, py::arg("batch") = 32, py::arg("queue") = 64,
                  R"(Load a model. threads, decode_threads, torch_threads, batch and queue are
`classify`'s --threads, --decode-threads (default: threads), --torch-threads, --batch and
--queue. Raises RuntimeError (ModelError: missing or corrupt model), ValueError (bad
settings, no default model found).)")
      .def_property_readonly(
          "path", [](const PyClassifier& c) { return c.path.string(); },
          "The model path that was loaded.")
      .def_property_readonly(
          "metadata",
          [](const PyClassifier& c) { return json_to_py(models::to_json(c.classifier->metadata())); },
          "The model's metadata (model.json) as a dict.")
      .def_property_readonly(
          "input_size", [](const PyClassifier& c) { return c.classifier->input_size(); },
          "Side of the square model input, pixels.")
      .def("classify", &classify, py::arg("frames"), py::arg("geometry") = py::none(),
           py::kw_only(), py::arg("spot_evidence") = true,
           R"(Triage in-memory frames: one 2-D array, a 3-D stack (frame, slow, fast) or a
sequence of 2-D arrays (uint8, uint16, int32, float32; other integer and float types are
converted). geometry (a dict with the geometry keys, or a geometry JSON path) applies to every
frame, for the spot evidence (without it rows carry the flag no_geometry, as for a PGM file).
Returns one dict per frame with exactly results.jsonl's keys; path is None and frame the
index in the input. A frame the pipeline cannot process becomes a row with `error` set.)")
      .def("classify_files", &classify_files, py::arg("inputs"), py::arg("geometry") = py::none(),
           py::kw_only(), py::arg("geometry_override") = false,
           py::arg("cells") = std::vector<std::string>{}, py::arg("spot_evidence") = true,
           R"(Triage files, folders, 'PATH //N', globs and @LIST event lists as `difftriage
classify INPUT...` does (same expansion, same rows as its results.jsonl, in order). geometry,
geometry_override, cells and spot_evidence=False are its --geometry, --geometry-override,
--cell and --no-spot-evidence. Raises OSError when the inputs name no frame or a list or
folder cannot be read; ValueError for a bad //N or a glob matching nothing.)")
      .def("_classify_in_memory_cpp", &classify_in_memory_cpp, py::arg("frames"),
           py::arg("geometry") = py::none(), py::kw_only(), py::arg("spot_evidence") = true,
           R"(Benchmark only: the C++ library's in-memory path on copies of `frames` (copied
before timing), timed in C++. Returns (wall seconds, process CPU seconds, rows).)");
}

}  // namespace difftriage::python
