/// Private to the HDF5 reader (hdf5_*.cpp): small typed values read from a file. A string
/// dataset, a one-element number with its "units" attribute, and a length converted to mm.
/// Each returns nullopt when the value is absent or of another type (never throws; HDF5's error
/// stack is cleared). Call under hdf5_mutex().
#pragma once

#include <hdf5.h>

#include <optional>
#include <string>

namespace difftriage::io::detail::hdf5 {

/// The string (fixed or variable length, ASCII or UTF-8) in the one-element dataset at `path`.
std::optional<std::string> read_string_dataset(hid_t loc, const std::string& path);

/// A one-element numeric dataset as double, with its "units" attribute ("" when absent).
struct Number {
  double value;
  std::string units;
};

/// The finite number at `path`, with its units.
std::optional<Number> read_number(hid_t loc, const std::string& path);

/// The length at `path` in mm, from its NeXus "units" (none: metres, NXmx's default); nullopt
/// for units that are not a length.
std::optional<double> length_mm(hid_t loc, const std::string& path);

}  // namespace difftriage::io::detail::hdf5
