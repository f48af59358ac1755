// The `difftriage._difftriage` extension: pybind11 bindings over difftriage_ml (the library the
// CLI uses); the pure-Python package python/difftriage/ re-exports it. Errors: the library's
// ConfigError → ValueError, IoError → OSError, FormatError → difftriage.FormatError (a
// ValueError subclass), ModelError (and any other difftriage::Error) → RuntimeError, each with
// the C++ message (which names the file, frame or option at fault).
#include <pybind11/pybind11.h>

#include <exception>

#include "bindings.h"
#include "difftriage/core/error.h"
#include "difftriage/version.h"

namespace py = pybind11;

PYBIND11_MODULE(_difftriage, m) {
  m.doc() = "difftriage C++ library bindings (use the `difftriage` package)";
  static py::exception<difftriage::FormatError> format_error(m, "FormatError", PyExc_ValueError);
  format_error.doc() =
      "A file was read but its content is malformed (the message names the file and frame). "
      "A ValueError subclass.";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const difftriage::FormatError& e) {
      format_error(e.what());
    } catch (const difftriage::ConfigError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const difftriage::IoError& e) {
      PyErr_SetString(PyExc_OSError, e.what());
    } catch (const difftriage::ModelError& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    } catch (const difftriage::Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });
  m.attr("__version__") = difftriage::kVersion;
  m.attr("__git_hash__") = difftriage::kGitHash;
  difftriage::python::bind_io(m);
  difftriage::python::bind_classify(m);
  difftriage::python::bind_simulate(m);
  difftriage::python::bind_features(m);
}
