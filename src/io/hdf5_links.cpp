// HDF5 reader: where a frame lives (hdf5_links.h). Link checks, link targets, external links
// resolved relative to the master's folder, opening datasets, and the shape of a frame stack.
//
// External links are resolved here, relative to the master's folder (how the detector writes
// them), not by HDF5's search path, so that a missing data file gives a message naming the
// master, the link and the file looked for.
#include "hdf5_links.h"

#include <vector>

#include "format_registry.h"
#include "hdf5_isolation.h"

namespace difftriage::io::detail::hdf5 {

using ::difftriage::detail::concat;

bool link_exists(hid_t loc, const std::string& path) {
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string prefix = path.substr(0, slash);
    if (H5Lexists(loc, prefix.c_str(), H5P_DEFAULT) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return false;
    }
    if (slash == std::string::npos) return true;
  }
}

bool is_group(hid_t loc, const std::string& path) {
  if (!link_exists(loc, path)) return false;
  H5L_info_t info;
  if (H5Lget_info(loc, path.c_str(), &info, H5P_DEFAULT) < 0 || info.type == H5L_TYPE_EXTERNAL) {
    H5Eclear2(H5E_DEFAULT);
    return false;
  }
  Hid object(H5Oopen(loc, path.c_str(), H5P_DEFAULT), H5Oclose);
  if (!object.valid()) {
    H5Eclear2(H5E_DEFAULT);
    return false;
  }
  return H5Iget_type(object.get()) == H5I_GROUP;
}

LinkTarget read_link(hid_t file, const std::string& name, const std::string& path) {
  H5L_info_t info;
  if (!link_exists(file, path) || H5Lget_info(file, path.c_str(), &info, H5P_DEFAULT) < 0) {
    H5Eclear2(H5E_DEFAULT);
    throw_format_error(name, "dataset ", path, " not found");
  }
  LinkTarget target;
  target.object = path;
  if (info.type != H5L_TYPE_EXTERNAL) return target;
  std::vector<char> value(info.u.val_size + 1, '\0');
  unsigned flags = 0;
  const char* target_file = nullptr;
  const char* target_object = nullptr;
  if (H5Lget_val(file, path.c_str(), value.data(), info.u.val_size, H5P_DEFAULT) < 0 ||
      H5Lunpack_elink_val(value.data(), info.u.val_size, &flags, &target_file, &target_object) <
          0 ||
      target_file == nullptr || target_object == nullptr) {
    throw_format_error(name, "dataset ", path, " is an unreadable external link: ",
                       hdf5_reason());
  }
  target.external = true;
  target.file = target_file;
  target.object = target_object;
  return target;
}

fs::path resolve_external(const std::string& name, const std::string& path,
                          const LinkTarget& target, const fs::path* dir) {
  const std::string link_text = concat(target.object, " in ", target.file);
  if (dir == nullptr) {
    throw_format_error(name, "dataset ", path, " is an external link to ", link_text,
                       ", which cannot be followed from an in-memory HDF5 image; read the file "
                       "by its path");
  }
  const fs::path file(target.file);
  std::vector<fs::path> candidates;
  if (file.is_absolute()) candidates.push_back(file);
  candidates.push_back(*dir / (file.is_absolute() ? file.filename() : file));
  for (const fs::path& candidate : candidates) {
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec)) return candidate;
  }
  std::string looked;
  for (const fs::path& candidate : candidates) {
    looked += (looked.empty() ? "" : ", ") + candidate.string();
  }
  throw_format_error(name, "dataset ", path, " is an external link to ", link_text,
                     ", and that data file is missing (looked for ", looked, ")");
}

OpenDataset open_external(const std::string& name, const std::string& path,
                          const fs::path& data_file, const std::string& object) {
  OpenDataset result;
  check_in_child_first(
      data_file, object,
      concat(name, ": dataset ", path, ": external data file ", data_file.string()));
  result.file = Hid(H5Fopen(data_file.string().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!result.file.valid()) {
    throw_format_error(name, "dataset ", path, ": cannot open its external data file ",
                       data_file.string(), ": ", hdf5_reason());
  }
  result.dataset = Hid(H5Dopen2(result.file.get(), object.c_str(), H5P_DEFAULT), H5Dclose);
  result.label = concat(path, " (-> ", data_file.string(), ":", object, ")");
  note_walked_in_child(data_file, object);
  if (!result.dataset.valid()) {
    throw_format_error(name, "dataset ", result.label, " cannot be opened: ", hdf5_reason());
  }
  return result;
}

OpenDataset open_internal(hid_t file, const std::string& name, const std::string& path) {
  OpenDataset result;
  result.label = path;
  result.dataset = Hid(H5Dopen2(file, path.c_str(), H5P_DEFAULT), H5Dclose);
  if (!result.dataset.valid()) {
    throw_format_error(name, "dataset ", path, " cannot be opened: ", hdf5_reason());
  }
  return result;
}

OpenDataset open_dataset(hid_t file, const std::string& name, const std::string& path,
                         const fs::path* dir) {
  const LinkTarget target = read_link(file, name, path);
  if (!target.external) return open_internal(file, name, path);
  return open_external(name, path, resolve_external(name, path, target, dir), target.object);
}

Stack stack_shape(hid_t dataset, const std::string& name, const std::string& label) {
  Hid space(H5Dget_space(dataset), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank != 2 && rank != 3) {
    throw_format_error(name, "dataset ", label, " has rank ", rank,
                       "; expected 2 (one frame) or 3 (frames, slow, fast)");
  }
  hsize_t dims[3] = {0, 0, 0};
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  Stack stack;
  stack.rank = rank;
  stack.n_frames = rank == 3 ? static_cast<int64_t>(dims[0]) : 1;
  stack.n_slow = static_cast<int64_t>(dims[rank - 2]);
  stack.n_fast = static_cast<int64_t>(dims[rank - 1]);
  if (dims[rank - 2] > static_cast<hsize_t>(kMaxImageExtent) ||
      dims[rank - 1] > static_cast<hsize_t>(kMaxImageExtent)) {
    stack.n_slow = stack.n_fast = kMaxImageExtent + 1;  // rejected by check_extents below
  }
  check_extents(name, concat("HDF5 dataset ", label).c_str(), stack.n_slow, stack.n_fast);
  return stack;
}

}  // namespace difftriage::io::detail::hdf5
