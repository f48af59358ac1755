// The module's parts, one binding file each (module.cpp calls them in order).
#pragma once

#include <pybind11/pybind11.h>

namespace difftriage::python {

void bind_io(pybind11::module_& m);        // bind_io.cpp: read_frame, count_frames, inputs
void bind_classify(pybind11::module_& m);  // bind_classify.cpp: Classifier
void bind_simulate(pybind11::module_& m);  // bind_simulate.cpp: simulate
void bind_features(pybind11::module_& m);  // bind_features.cpp: spots, profiles, ice, metrics

}  // namespace difftriage::python
