// HDF5 reader: attribute and small-dataset helpers (hdf5_attributes.h). Strings, numbers with
// their "units" attribute, and NeXus length units.
#include "hdf5_attributes.h"

#include <cmath>
#include <vector>

#include "hdf5_links.h"
#include "hdf5_support.h"

namespace difftriage::io::detail::hdf5 {
namespace {

// One string (fixed or variable length) from a dataset or attribute; `read(memtype, buffer)`.
template <typename ReadFn>
std::optional<std::string> read_string(hid_t file_type, hid_t space, ReadFn read) {
  if (H5Tget_class(file_type) != H5T_STRING || H5Sget_simple_extent_npoints(space) != 1) {
    return std::nullopt;
  }
  Hid mem_type(H5Tcopy(H5T_C_S1), H5Tclose);
  // HDF5 converts no character set into another: read UTF-8 (h5py's default for str, and
  // difftriage's CXI writer) as UTF-8, ASCII as ASCII.
  const H5T_cset_t cset = H5Tget_cset(file_type);
  if (cset == H5T_CSET_UTF8) H5Tset_cset(mem_type.get(), H5T_CSET_UTF8);
  if (H5Tis_variable_str(file_type) > 0) {
    H5Tset_size(mem_type.get(), H5T_VARIABLE);
    char* text = nullptr;
    if (read(mem_type.get(), static_cast<void*>(&text)) < 0) return std::nullopt;
    std::string value = text != nullptr ? text : "";
    H5free_memory(text);
    return value;
  }
  const size_t n = H5Tget_size(file_type);
  if (n == 0 || n > 65536) return std::nullopt;
  H5Tset_size(mem_type.get(), n + 1);
  H5Tset_strpad(mem_type.get(), H5T_STR_NULLTERM);
  std::vector<char> buffer(n + 1, '\0');
  if (read(mem_type.get(), static_cast<void*>(buffer.data())) < 0) return std::nullopt;
  return std::string(buffer.data());
}

std::string read_units(hid_t dataset) {
  if (H5Aexists(dataset, "units") <= 0) return (H5Eclear2(H5E_DEFAULT), std::string());
  Hid attribute(H5Aopen(dataset, "units", H5P_DEFAULT), H5Aclose);
  if (!attribute.valid()) return (H5Eclear2(H5E_DEFAULT), std::string());
  Hid type(H5Aget_type(attribute.get()), H5Tclose);
  Hid space(H5Aget_space(attribute.get()), H5Sclose);
  auto value = read_string(type.get(), space.get(), [&](hid_t mem_type, void* buffer) {
    return H5Aread(attribute.get(), mem_type, buffer);
  });
  H5Eclear2(H5E_DEFAULT);
  return value.value_or("");
}

// Millimetres per unit for NeXus length units; NXmx's default (no attribute) is metres.
std::optional<double> mm_per_unit(const std::string& units) {
  if (units.empty() || units == "m" || units == "meter" || units == "metre" || units == "meters") {
    return 1000.0;
  }
  if (units == "mm" || units == "millimeter" || units == "millimetre") return 1.0;
  if (units == "cm") return 10.0;
  if (units == "um" || units == "micron" || units == "microns" || units == "micrometer") {
    return 1e-3;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> read_string_dataset(hid_t loc, const std::string& path) {
  if (!link_exists(loc, path)) return std::nullopt;
  Hid dataset(H5Dopen2(loc, path.c_str(), H5P_DEFAULT), H5Dclose);
  if (!dataset.valid()) return (H5Eclear2(H5E_DEFAULT), std::nullopt);
  Hid type(H5Dget_type(dataset.get()), H5Tclose);
  Hid space(H5Dget_space(dataset.get()), H5Sclose);
  auto value = read_string(type.get(), space.get(), [&](hid_t mem_type, void* buffer) {
    return H5Dread(dataset.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer);
  });
  H5Eclear2(H5E_DEFAULT);
  return value;
}

std::optional<Number> read_number(hid_t loc, const std::string& path) {
  if (!link_exists(loc, path)) return std::nullopt;
  Hid dataset(H5Dopen2(loc, path.c_str(), H5P_DEFAULT), H5Dclose);
  if (!dataset.valid()) return (H5Eclear2(H5E_DEFAULT), std::nullopt);
  Hid type(H5Dget_type(dataset.get()), H5Tclose);
  Hid space(H5Dget_space(dataset.get()), H5Sclose);
  const H5T_class_t type_class = H5Tget_class(type.get());
  if ((type_class != H5T_INTEGER && type_class != H5T_FLOAT) ||
      H5Sget_simple_extent_npoints(space.get()) != 1) {
    return std::nullopt;
  }
  double value = 0;
  if (H5Dread(dataset.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value) < 0) {
    return (H5Eclear2(H5E_DEFAULT), std::nullopt);
  }
  if (!std::isfinite(value)) return std::nullopt;
  return Number{value, read_units(dataset.get())};
}

std::optional<double> length_mm(hid_t loc, const std::string& path) {
  const auto number = read_number(loc, path);
  if (!number) return std::nullopt;
  const auto scale = mm_per_unit(number->units);
  return scale ? std::optional<double>(number->value * *scale) : std::nullopt;
}

}  // namespace difftriage::io::detail::hdf5
