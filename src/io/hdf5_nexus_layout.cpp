// HDF5 reader: the NeXus / EIGER layout (hdf5_nexus_layout.h).
//
//  - EIGER/NeXus master: links /entry/data/data_NNNNNN (usually external links into
//    <prefix>_data_NNNNNN.h5, each (N, slow, fast), one chunk per frame). Frame k counts across
//    the data files in link-name order.
//  - EIGER data file, or any NeXus file with one stack: /entry/data/data.
// Metadata follows NXmx (/entry/instrument/detector, /entry/instrument/beam).
#include "hdf5_nexus_layout.h"

#include <algorithm>

#include "hdf5_attributes.h"
#include "hdf5_links.h"
#include "hdf5_support.h"

namespace difftriage::io::detail::hdf5 {

std::vector<std::string> master_data_links(hid_t file) {
  std::vector<std::string> names;
  Hid group(H5Gopen2(file, "/entry/data", H5P_DEFAULT), H5Gclose);
  if (!group.valid()) return (H5Eclear2(H5E_DEFAULT), names);
  H5G_info_t info;
  if (H5Gget_info(group.get(), &info) < 0) return (H5Eclear2(H5E_DEFAULT), names);
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    char buffer[256] = {};
    const ssize_t n = H5Lget_name_by_idx(group.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, buffer,
                                         sizeof buffer, H5P_DEFAULT);
    if (n <= 0 || static_cast<size_t>(n) >= sizeof buffer) continue;
    const std::string link(buffer);
    if (link.size() > 5 && link.compare(0, 5, "data_") == 0 &&
        std::all_of(link.begin() + 5, link.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      names.push_back("/entry/data/" + link);
    }
  }
  H5Eclear2(H5E_DEFAULT);
  std::sort(names.begin(), names.end());
  return names;
}

void read_nexus_metadata(hid_t file, DetectorMetadata* md) {
  const std::string det = "/entry/instrument/detector/";
  if (const auto n = read_number(file, det + "beam_center_x")) md->beam_center_fast_px = n->value;
  if (const auto n = read_number(file, det + "beam_center_y")) md->beam_center_slow_px = n->value;
  md->distance_mm = length_mm(file, det + "detector_distance");
  md->pixel_size_mm = length_mm(file, det + "x_pixel_size");
  if (const auto n = read_number(file, det + "count_time")) md->exposure_s = n->value;
  if (const auto n = read_number(file, det + "saturation_value")) {
    md->saturation_value = n->value;
  } else if (const auto c =
                 read_number(file, det + "detectorSpecific/countrate_correction_count_cutoff")) {
    md->saturation_value = c->value;
  }
  if (const auto w = read_number(file, "/entry/instrument/beam/incident_wavelength")) {
    const std::string& u = w->units;
    if (u.empty() || u == "angstrom" || u == "Angstrom" || u == "A") md->wavelength_angstrom = w->value;
    else if (u == "nm") md->wavelength_angstrom = w->value * 10;
    else if (u == "m") md->wavelength_angstrom = w->value * 1e10;
  }
  if (const auto d = read_string_dataset(file, det + "description")) md->detector = *d;
}

std::vector<uint8_t> read_pixel_mask(hid_t file, int64_t n_slow, int64_t n_fast) {
  for (const char* path : {"/entry/instrument/detector/pixel_mask",
                           "/entry/instrument/detector/detectorSpecific/pixel_mask"}) {
    if (!link_exists(file, path)) continue;
    Hid dataset(H5Dopen2(file, path, H5P_DEFAULT), H5Dclose);
    if (!dataset.valid()) continue;
    Hid space(H5Dget_space(dataset.get()), H5Sclose);
    hsize_t dims[2] = {0, 0};
    if (H5Sget_simple_extent_ndims(space.get()) != 2) continue;
    H5Sget_simple_extent_dims(space.get(), dims, nullptr);
    if (dims[0] != static_cast<hsize_t>(n_slow) || dims[1] != static_cast<hsize_t>(n_fast)) continue;
    std::vector<uint32_t> values(static_cast<size_t>(n_slow * n_fast));
    if (H5Dread(dataset.get(), H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0) {
      continue;  // e.g. compressed with a filter HDF5 lacks: frame without the static mask
    }
    std::vector<uint8_t> mask(values.size());
    for (size_t i = 0; i < values.size(); ++i) mask[i] = values[i] != 0;
    H5Eclear2(H5E_DEFAULT);
    return mask;
  }
  H5Eclear2(H5E_DEFAULT);
  return {};
}

}  // namespace difftriage::io::detail::hdf5
