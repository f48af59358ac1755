// CrystFEL event lists and the sources of a CXI stack (include/difftriage/io/cxi_writer.h); the
// stack itself is written by FrameStackWriter (stack_writer.cpp).
// All libhdf5 calls run under the io module's HDF5 mutex (hdf5_support.h).
#include "difftriage/io/cxi_writer.h"

#include <hdf5.h>

#include "difftriage/core/atomic_file.h"
#include "difftriage/core/error.h"
#include "hdf5_support.h"

namespace difftriage::io {

namespace fs = std::filesystem;
using ::difftriage::detail::concat;
using detail::Hid;

void write_event_list(const fs::path& path, const std::vector<FrameSource>& frames) {
  std::string text;
  for (size_t i = 0; i < frames.size(); ++i) {
    const std::string file = frames[i].path.string();
    DT_CHECK(!file.empty(), ConfigError, "cannot write event list ", path.string(), ": entry ",
             i, " has an empty path");
    DT_CHECK(file.find_first_of("\n\r") == std::string::npos, ConfigError,
             "cannot write event list ", path.string(), ": entry ", i, " ('", file,
             "') holds a line break");
    DT_CHECK(frames[i].frame >= 0, ConfigError, "cannot write event list ", path.string(),
             ": entry ", i, " (", file, ") has the negative frame ", frames[i].frame);
    text += file;
    text += " //";
    text += std::to_string(frames[i].frame);
    text += '\n';
  }
  write_file_atomically(path, text);
}

std::vector<FrameSource> read_cxi_sources(const fs::path& path) {
  std::lock_guard<std::mutex> lock(detail::hdf5_mutex());
  detail::QuietErrors quiet;
  const std::string name = path.string();
  Hid file(H5Fopen(name.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  DT_CHECK(file.valid(), IoError, name, ": cannot open as HDF5: ", detail::hdf5_reason());
  auto open_1d = [&](const char* dataset, H5T_class_t cls, hsize_t* n) {
    Hid d(H5Dopen2(file.get(), dataset, H5P_DEFAULT), H5Dclose);
    DT_CHECK(d.valid(), FormatError, name, ": no dataset ", dataset,
             " (not written by difftriage's CXI writer?)");
    Hid type(H5Dget_type(d.get()), H5Tclose);
    Hid space(H5Dget_space(d.get()), H5Sclose);
    DT_CHECK(type.valid() && space.valid() && H5Tget_class(type.get()) == cls &&
                 H5Sget_simple_extent_ndims(space.get()) == 1,
             FormatError, name, ": ", dataset, " is not a 1-D dataset of the expected type");
    H5Sget_simple_extent_dims(space.get(), n, nullptr);
    return d;
  };
  hsize_t n_paths = 0, n_frames = 0;
  Hid paths = open_1d("/entry_1/difftriage/source_path", H5T_STRING, &n_paths);
  Hid frames = open_1d("/entry_1/difftriage/source_frame", H5T_INTEGER, &n_frames);
  DT_CHECK(n_paths == n_frames, FormatError, name, ": /entry_1/difftriage/source_path has ",
           n_paths, " entries but source_frame has ", n_frames);
  Hid text_type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(text_type.get(), H5T_VARIABLE);
  H5Tset_cset(text_type.get(), H5T_CSET_UTF8);
  std::vector<char*> texts(n_paths, nullptr);
  std::vector<int64_t> indices(n_frames);
  DT_CHECK(n_paths == 0 || H5Dread(paths.get(), text_type.get(), H5S_ALL, H5S_ALL,
                                   H5P_DEFAULT, texts.data()) >= 0,
           FormatError, name, ": cannot read /entry_1/difftriage/source_path: ",
           detail::hdf5_reason());
  std::vector<FrameSource> sources(n_paths);
  for (size_t k = 0; k < texts.size(); ++k) {
    sources[k].path = texts[k] != nullptr ? texts[k] : "";
  }
  if (n_paths > 0) {
    Hid space(H5Dget_space(paths.get()), H5Sclose);
    H5Dvlen_reclaim(text_type.get(), space.get(), H5P_DEFAULT, texts.data());
  }
  DT_CHECK(n_frames == 0 || H5Dread(frames.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL,
                                    H5P_DEFAULT, indices.data()) >= 0,
           FormatError, name, ": cannot read /entry_1/difftriage/source_frame: ",
           detail::hdf5_reason());
  for (size_t k = 0; k < indices.size(); ++k) sources[k].frame = indices[k];
  return sources;
}

}  // namespace difftriage::io
