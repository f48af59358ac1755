// HDF5 reader: the CXI layout (hdf5_cxi_layout.h). Frames at /entry_1/data_1/data (often a
// soft link to /entry_1/instrument_1/detector_1/data); lengths in metres, energies in joules
// (CXI file format 1.x).
#include "hdf5_cxi_layout.h"

#include <vector>

#include "difftriage/core/error.h"
#include "hdf5_attributes.h"
#include "hdf5_links.h"
#include "hdf5_support.h"

namespace difftriage::io::detail::hdf5 {

using ::difftriage::detail::concat;

namespace {

// CXI 1.5 mask bits that make a pixel unusable: invalid 1, saturated 2, hot 4, dead 8,
// shadowed 16, to be ignored 64, bad 128, missing 512. The others (in peak mask 32, out of
// resolution limits 256, noisy 1024, artifact corrected 2048, ...) describe a usable pixel.
constexpr uint32_t kCxiMaskUnusable = 1u | 2u | 4u | 8u | 16u | 64u | 128u | 512u;

}  // namespace

std::string read_cxi_metadata(hid_t file, DetectorMetadata* md) {
  // The detector group the data link points to (CXI: /entry_1/instrument_1/detector_N/data).
  std::string detector = "/entry_1/instrument_1/detector_1";
  H5L_info_t info;
  if (H5Lget_info(file, "/entry_1/data_1/data", &info, H5P_DEFAULT) >= 0 &&
      info.type == H5L_TYPE_SOFT && info.u.val_size > 0 && info.u.val_size < 4096) {
    std::vector<char> target(info.u.val_size + 1, '\0');
    if (H5Lget_val(file, "/entry_1/data_1/data", target.data(), info.u.val_size, H5P_DEFAULT) >= 0) {
      const std::string path(target.data());
      const size_t slash = path.rfind('/');
      if (slash != std::string::npos && slash > 0) detector = path.substr(0, slash);
    }
  }
  H5Eclear2(H5E_DEFAULT);
  // CXI lengths are metres and energies joules (CXI file format 1.x).
  md->distance_mm = length_mm(file, detector + "/distance");
  md->pixel_size_mm = length_mm(file, detector + "/x_pixel_size");
  if (const auto e = read_number(file, "/entry_1/instrument_1/source_1/energy")) {
    if (e->value > 0) {
      constexpr double kHcJouleMetre = 6.62607015e-34 * 299792458.0;  // h c, SI (exact)
      md->wavelength_angstrom = kHcJouleMetre / e->value * 1e10;
    }
  }
  // What CXI has no agreed place for, as difftriage's CXI writer stores it (cxi_writer.h).
  const std::string own = "/entry_1/difftriage/";
  if (const auto n = read_number(file, own + "beam_center_fast_px")) md->beam_center_fast_px = n->value;
  if (const auto n = read_number(file, own + "beam_center_slow_px")) md->beam_center_slow_px = n->value;
  if (const auto n = read_number(file, own + "exposure_s")) md->exposure_s = n->value;
  if (const auto n = read_number(file, own + "saturation_value")) md->saturation_value = n->value;
  if (const auto original = read_string_dataset(file, own + "detector")) {
    md->detector = *original + " (CXI stack written by difftriage)";
    return detector;
  }
  md->detector = "CXI";
  if (const auto name = read_string_dataset(file, "/entry_1/instrument_1/name")) {
    md->detector += " " + *name;
  }
  md->detector += concat(" (", detector, ")");
  return detector;
}

std::vector<uint8_t> read_cxi_mask(hid_t file, const std::string& detector, int64_t frame,
                                   int64_t n_frames, int64_t n_slow, int64_t n_fast) {
  const std::string path = detector + "/mask";
  std::vector<uint8_t> mask;
  if (!link_exists(file, path)) return mask;
  Hid dataset(H5Dopen2(file, path.c_str(), H5P_DEFAULT), H5Dclose);
  if (!dataset.valid()) return (H5Eclear2(H5E_DEFAULT), mask);
  Hid type(H5Dget_type(dataset.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_INTEGER) return mask;
  Hid space(H5Dget_space(dataset.get()), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  hsize_t dims[3] = {0, 0, 0};
  if (rank != 2 && rank != 3) return mask;
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  const bool stack = rank == 3 && dims[0] == static_cast<hsize_t>(n_frames);
  if ((rank == 3 && !stack) || dims[rank - 2] != static_cast<hsize_t>(n_slow) ||
      dims[rank - 1] != static_cast<hsize_t>(n_fast)) {
    return mask;
  }
  if (stack) {
    const hsize_t start[3] = {static_cast<hsize_t>(frame), 0, 0};
    const hsize_t count[3] = {1, dims[1], dims[2]};
    H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
  }
  const hsize_t memory_dims[2] = {static_cast<hsize_t>(n_slow), static_cast<hsize_t>(n_fast)};
  Hid memory_space(H5Screate_simple(2, memory_dims, nullptr), H5Sclose);
  std::vector<uint32_t> values(static_cast<size_t>(n_slow * n_fast));
  if (H5Dread(dataset.get(), H5T_NATIVE_UINT32, memory_space.get(), space.get(), H5P_DEFAULT,
              values.data()) < 0) {
    return (H5Eclear2(H5E_DEFAULT), mask);  // e.g. a filter HDF5 lacks: frame without a mask
  }
  bool any = false;
  for (const uint32_t v : values) any = any || (v & kCxiMaskUnusable) != 0;
  if (!any) return mask;
  mask.resize(values.size());
  for (size_t i = 0; i < values.size(); ++i) mask[i] = (values[i] & kCxiMaskUnusable) != 0;
  return mask;
}

}  // namespace difftriage::io::detail::hdf5
