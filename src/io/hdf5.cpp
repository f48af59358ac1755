// HDF5 frames: EIGER / NeXus (NXmx) master and data files, and CXI files (libhdf5, C API).
//
// Layouts, tried in this order:
//  - EIGER/NeXus master: links /entry/data/data_NNNNNN (usually external links into
//    <prefix>_data_NNNNNN.h5, each (N, slow, fast), one chunk per frame). Frame k counts across
//    the data files in link-name order. External links are resolved here, relative to the
//    master's folder (how the detector writes them), not by HDF5's search path, so that a
//    missing data file gives a message naming the master, the link and the file looked for.
//  - EIGER data file, or any NeXus file with one stack: /entry/data/data.
//  - CXI: /entry_1/data_1/data (often a soft link to /entry_1/instrument_1/detector_1/data).
// A 2-D dataset is one frame; a 3-D one is (frames, slow, fast).
//
// Chunk filters. EIGER writes bitshuffle+LZ4 (filter 32008) or LZ4 (32004), for which Debian has
// no HDF5 plugin (hdf5-filter-plugin lacks bitshuffle), so such chunks are read raw with
// H5Dread_chunk (HDF5 >= 1.10.3) and decoded here (bitshuffle_lz4.cpp). Datasets without filters
// or with only HDF5's built-in ones (deflate, shuffle, fletcher32, n-bit, scale-offset, szip when
// built) go through H5Dread. Anything else is a FormatError naming the filter.
//
// Locking. The HDF5 C library keeps process-wide state (the error-stack printing switch, and in
// builds without --enable-threadsafe no locking at all), so every HDF5 call here runs under one
// mutex; the CPU-heavy part, decompressing a chunk, runs after the mutex is released.
//
// Isolation (ReadOptions::isolate_hdf5). libhdf5 parses metadata itself and 1.10.8 can crash on
// damaged metadata. Before a file is opened here, a forked child (child_process.h) walks what
// any read of it would make libhdf5 parse: superblock, links, layout, metadata, the chunk index
// of every frame stack and the raw bytes of the first and last frame of each. Only if the child
// comes back (with a result or an ordinary error) is the file opened in this process. The fork
// happens under the HDF5 mutex, so the child's copy of libhdf5's state is consistent.
#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "child_process.h"
#include "difftriage/io/bitshuffle_lz4.h"
#include "format_registry.h"
#include "hdf5_support.h"

namespace difftriage::io::detail {

std::mutex& hdf5_mutex() {
  static std::mutex mutex;
  return mutex;
}

namespace {

namespace fs = std::filesystem;
using ::difftriage::detail::concat;

constexpr int kFilterDeflate = 1, kFilterShuffle = 2, kFilterFletcher32 = 3, kFilterSzip = 4,
              kFilterNbit = 5, kFilterScaleOffset = 6;
// The largest raw chunk we accept, in bytes: a corrupt chunk index must not make us allocate
// without bound (a frame is at most kMaxImagePixels * 8 bytes; LZ4 adds < 0.5 %).
constexpr uint64_t kMaxChunkBytes = uint64_t{1} << 32;

// True when every component of the absolute `path` exists as a link (H5Lexists needs the parents).
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

// A one-element numeric dataset as double, with its "units" attribute ("" when absent).
struct Number {
  double value;
  std::string units;
};

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

std::optional<double> length_mm(hid_t loc, const std::string& path) {
  const auto number = read_number(loc, path);
  if (!number) return std::nullopt;
  const auto scale = mm_per_unit(number->units);
  return scale ? std::optional<double>(number->value * *scale) : std::nullopt;
}

// ---- where a frame lives -------------------------------------------------------------------

struct OpenDataset {
  Hid file;        // the data file when the dataset was reached through an external link
  Hid dataset;
  std::string label;  // "/entry/data/data_000001 (-> x_data_000001.h5:/entry/data/data)"
};

// What the link at `path` points to: a dataset in this file, or an external link's target.
struct LinkTarget {
  bool external = false;
  std::string file;    // external: the file name as written in the link
  std::string object;  // external: the object in that file; else `path` itself
};

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

// The data file an external link names, resolved next to the master in `dir` (EIGER writes the
// bare data-file name; an absolute name that is gone is also looked for there, as HDF5 does).
// Null `dir` (an in-memory image) or a missing file: FormatError naming the master and the link.
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

// Isolation (see the top of this file): parses `file` in a child first, unless this thread's
// read has isolation off, this process is such a child, or the same file (canonical path,
// modification time, size; and `object`) passed before. `object` empty: the whole file, as
// LazyFile opens it; else that dataset of an EIGER data file, as open_external opens it.
// @throws FormatError naming `who` if the child crashed or overran its time.
void check_in_child_first(const fs::path& file, const std::string& object, const std::string& who);
// In a checking child: remembers that `file`'s `object` was walked, so that the parent need not
// check that data file again. Elsewhere: nothing.
void note_walked_in_child(const fs::path& file, const std::string& object);

// Opens `object` in the data file `data_file` (reached from link `path` of `name`).
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

// Opens the dataset at link `path` of `file` (external links followed relative to `dir`).
OpenDataset open_internal(hid_t file, const std::string& name, const std::string& path) {
  OpenDataset result;
  result.label = path;
  result.dataset = Hid(H5Dopen2(file, path.c_str(), H5P_DEFAULT), H5Dclose);
  if (!result.dataset.valid()) {
    throw_format_error(name, "dataset ", path, " cannot be opened: ", hdf5_reason());
  }
  return result;
}

// Opens the dataset at link `path`, following an external link relative to `dir` (null for an
// in-memory image, where external links cannot be followed).
OpenDataset open_dataset(hid_t file, const std::string& name, const std::string& path,
                         const fs::path* dir) {
  const LinkTarget target = read_link(file, name, path);
  if (!target.external) return open_internal(file, name, path);
  return open_external(name, path, resolve_external(name, path, target, dir), target.object);
}

// Shape of a frame stack: rank 2 is one frame, rank 3 is (frames, slow, fast).
struct Stack {
  int rank = 0;
  int64_t n_frames = 0, n_slow = 0, n_fast = 0;
};

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

// ---- reading one frame's bytes (under the HDF5 mutex) --------------------------------------

enum class Sample { kU8, kU16, kU32, kI8, kI16, kI32, kF32, kF64 };

size_t sample_size(Sample s) {
  switch (s) {
    case Sample::kU8:
    case Sample::kI8:
      return 1;
    case Sample::kU16:
    case Sample::kI16:
      return 2;
    case Sample::kU32:
    case Sample::kI32:
    case Sample::kF32:
      return 4;
    case Sample::kF64:
      return 8;
  }
  return 1;
}

hid_t native_type(Sample s) {
  switch (s) {
    case Sample::kU8: return H5T_NATIVE_UINT8;
    case Sample::kU16: return H5T_NATIVE_UINT16;
    case Sample::kU32: return H5T_NATIVE_UINT32;
    case Sample::kI8: return H5T_NATIVE_INT8;
    case Sample::kI16: return H5T_NATIVE_INT16;
    case Sample::kI32: return H5T_NATIVE_INT32;
    case Sample::kF32: return H5T_NATIVE_FLOAT;
    case Sample::kF64: return H5T_NATIVE_DOUBLE;
  }
  return H5T_NATIVE_UINT8;
}

enum class Codec { kPixels, kRawChunk, kBitshuffleLz4, kBitshuffle, kLz4 };

// A frame as read from the file: either its pixels (native order) or the raw chunk holding it.
struct RawFrame {
  Codec codec = Codec::kPixels;
  Sample sample = Sample::kU16;
  std::vector<uint8_t> bytes;
  size_t chunk_elements = 0;  // elements of the decoded chunk (codec != kPixels)
  size_t frame_offset = 0;    // first element of the frame within the decoded chunk
  size_t block_elements = 0;  // kBitshuffle: bitshuffle block size (0 = default)
  bool swap_bytes = false;    // the raw chunk is in the other byte order than this machine
  int64_t n_slow = 0, n_fast = 0;
  std::string where;  // "<file>: dataset <label>, frame <k>" for errors while decoding
};

struct FilterInfo {
  int id = 0;
  std::string name;
  std::vector<unsigned> cd_values;
};

RawFrame read_frame_bytes(hid_t dataset, const std::string& where, const Stack& stack,
                          int64_t frame) {
  RawFrame raw;
  raw.where = where;
  raw.n_slow = stack.n_slow;
  raw.n_fast = stack.n_fast;
  const size_t n_pixels = static_cast<size_t>(stack.n_slow * stack.n_fast);

  Hid type(H5Dget_type(dataset), H5Tclose);
  const H5T_class_t type_class = H5Tget_class(type.get());
  const size_t size = H5Tget_size(type.get());
  const bool is_signed = type_class == H5T_INTEGER && H5Tget_sign(type.get()) == H5T_SGN_2;
  if (type_class == H5T_INTEGER && size == 1) raw.sample = is_signed ? Sample::kI8 : Sample::kU8;
  else if (type_class == H5T_INTEGER && size == 2) raw.sample = is_signed ? Sample::kI16 : Sample::kU16;
  else if (type_class == H5T_INTEGER && size == 4) raw.sample = is_signed ? Sample::kI32 : Sample::kU32;
  else if (type_class == H5T_FLOAT && size == 4) raw.sample = Sample::kF32;
  else if (type_class == H5T_FLOAT && size == 8) raw.sample = Sample::kF64;
  else {
    throw FormatError(concat(where, ": pixel type (HDF5 class ", static_cast<int>(type_class),
                             ", ", size, " bytes) is not supported; expected 8/16/32-bit "
                             "integers or 32/64-bit floats"));
  }
  raw.swap_bytes = size > 1 && H5Tget_order(type.get()) != H5Tget_order(native_type(raw.sample));

  Hid dcpl(H5Dget_create_plist(dataset), H5Pclose);
  const bool chunked = H5Pget_layout(dcpl.get()) == H5D_CHUNKED;
  std::vector<FilterInfo> filters;
  const int n_filters = chunked ? H5Pget_nfilters(dcpl.get()) : 0;
  for (int i = 0; i < n_filters; ++i) {
    FilterInfo filter;
    unsigned flags = 0, config = 0;
    size_t n_values = 16;
    unsigned values[16] = {};
    char filter_name[128] = {};
    filter.id = static_cast<int>(H5Pget_filter2(dcpl.get(), static_cast<unsigned>(i), &flags,
                                                &n_values, values, sizeof filter_name,
                                                filter_name, &config));
    filter.name = filter_name;
    filter.cd_values.assign(values, values + std::min<size_t>(n_values, 16));
    filters.push_back(std::move(filter));
  }
  H5Eclear2(H5E_DEFAULT);
  const auto is_builtin = [](const FilterInfo& f) {
    return (f.id == kFilterDeflate || f.id == kFilterShuffle || f.id == kFilterFletcher32 ||
            f.id == kFilterSzip || f.id == kFilterNbit || f.id == kFilterScaleOffset) &&
           H5Zfilter_avail(static_cast<H5Z_filter_t>(f.id)) > 0;
  };
  const bool plain_read = std::all_of(filters.begin(), filters.end(), is_builtin);

  if (plain_read) {
    // HDF5 decodes (or there is nothing to decode): a hyperslab read of the frame.
    Hid file_space(H5Dget_space(dataset), H5Sclose);
    if (stack.rank == 3) {
      const hsize_t start[3] = {static_cast<hsize_t>(frame), 0, 0};
      const hsize_t count[3] = {1, static_cast<hsize_t>(stack.n_slow),
                                static_cast<hsize_t>(stack.n_fast)};
      H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
    }
    const hsize_t mem_dims[2] = {static_cast<hsize_t>(stack.n_slow),
                                 static_cast<hsize_t>(stack.n_fast)};
    Hid mem_space(H5Screate_simple(2, mem_dims, nullptr), H5Sclose);
    raw.codec = Codec::kPixels;
    raw.bytes.resize(n_pixels * sample_size(raw.sample));
    if (H5Dread(dataset, native_type(raw.sample), mem_space.get(), file_space.get(), H5P_DEFAULT,
                raw.bytes.data()) < 0) {
      throw FormatError(concat(where, ": cannot read the frame: ", hdf5_reason()));
    }
    raw.swap_bytes = false;  // HDF5 converted to native order
    return raw;
  }

  const auto unknown = std::find_if(filters.begin(), filters.end(), [&](const FilterInfo& f) {
    return !is_builtin(f) && f.id != kHdf5FilterBitshuffle && f.id != kHdf5FilterLz4;
  });
  if (unknown != filters.end() || filters.size() != 1) {
    const FilterInfo& f = unknown != filters.end() ? *unknown : filters.front();
    throw FormatError(concat(where, ": uses HDF5 filter ", f.id,
                             f.name.empty() ? "" : " (" + f.name + ")",
                             filters.size() > 1 ? concat(" in a pipeline of ", filters.size(),
                                                         " filters")
                                                : std::string(),
                             ", which difftriage cannot decode (it decodes filters 32008 "
                             "bitshuffle[/LZ4] and 32004 LZ4 alone, and HDF5's built-in ones)"));
  }
  const FilterInfo& filter = filters.front();

  // One raw chunk must hold whole frames: (k, slow, fast) for a stack, the frame for rank 2.
  hsize_t chunk[3] = {0, 0, 0};
  if (H5Pget_chunk(dcpl.get(), stack.rank, chunk) != stack.rank ||
      chunk[stack.rank - 2] != static_cast<hsize_t>(stack.n_slow) ||
      chunk[stack.rank - 1] != static_cast<hsize_t>(stack.n_fast) ||
      (stack.rank == 3 && chunk[0] == 0)) {
    H5Eclear2(H5E_DEFAULT);
    throw FormatError(concat(where, ": chunks (", chunk[0], " x ", chunk[1], " x ", chunk[2],
                             ") do not hold whole ", stack.n_slow, " x ", stack.n_fast,
                             " frames; filter ", filter.id, " is decoded only for whole-frame "
                             "chunks"));
  }
  const uint64_t frames_per_chunk = stack.rank == 3 ? chunk[0] : 1;
  const uint64_t chunk_elements = frames_per_chunk * n_pixels;
  if (chunk_elements * sample_size(raw.sample) > kMaxChunkBytes) {
    throw FormatError(concat(where, ": chunks of ", chunk_elements, " pixels are too large"));
  }
  raw.chunk_elements = static_cast<size_t>(chunk_elements);
  raw.frame_offset = static_cast<size_t>((static_cast<uint64_t>(frame) % frames_per_chunk) * n_pixels);
  hsize_t offset[3] = {0, 0, 0};
  if (stack.rank == 3) {
    offset[0] = static_cast<hsize_t>(frame) - static_cast<hsize_t>(frame) % frames_per_chunk;
  }
  hsize_t n_stored = 0;
  if (H5Dget_chunk_storage_size(dataset, offset, &n_stored) < 0 || n_stored == 0) {
    throw FormatError(concat(where, ": its chunk is not stored in the file (", hdf5_reason(), ")"));
  }
  if (n_stored > kMaxChunkBytes) {
    throw FormatError(concat(where, ": stored chunk of ", n_stored, " bytes is implausibly large"));
  }
  raw.bytes.resize(static_cast<size_t>(n_stored));
  uint32_t filter_mask = 0;
  if (H5Dread_chunk(dataset, H5P_DEFAULT, offset, &filter_mask, raw.bytes.data()) < 0) {
    throw FormatError(concat(where, ": cannot read its raw chunk: ", hdf5_reason()));
  }
  if ((filter_mask & 1u) != 0) {
    raw.codec = Codec::kRawChunk;  // the writer skipped the (optional) filter for this chunk
    return raw;
  }
  if (filter.id == kHdf5FilterLz4) {
    raw.codec = Codec::kLz4;
    return raw;
  }
  // Bitshuffle's cd_values: {major, minor, element size, block size (elements), compression}.
  const auto& cd = filter.cd_values;
  if (cd.size() > 2 && cd[2] != 0 && cd[2] != sample_size(raw.sample)) {
    throw FormatError(concat(where, ": bitshuffle element size ", cd[2], " differs from the ",
                             sample_size(raw.sample), "-byte pixels"));
  }
  const unsigned compression = cd.size() > 4 ? cd[4] : 0;
  if (compression == 2) {
    raw.codec = Codec::kBitshuffleLz4;
  } else if (compression == 0) {
    raw.codec = Codec::kBitshuffle;
    raw.block_elements = cd.size() > 3 ? cd[3] : 0;
    if (raw.block_elements % 8 != 0) {
      throw FormatError(concat(where, ": bitshuffle block size ", raw.block_elements,
                               " is not a multiple of 8"));
    }
  } else {
    throw FormatError(concat(where, ": bitshuffle with compression ", compression,
                             compression == 3 ? " (zstd)" : "",
                             " is not supported (only LZ4, cd_values[4] = 2, or none)"));
  }
  return raw;
}

// ---- decoding and conversion (outside the HDF5 mutex) --------------------------------------

void swap_in_place(uint8_t* data, size_t n_elements, size_t size) {
  for (size_t i = 0; i < n_elements; ++i) std::reverse(data + i * size, data + (i + 1) * size);
}

template <typename In>
In load(const uint8_t* p) {
  In value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

// Pixels of the frame in native order: kPixels as read, otherwise the decoded chunk's slice.
std::vector<uint8_t> decode_frame_bytes(RawFrame& raw) {
  const size_t size = sample_size(raw.sample);
  const size_t n_pixels = static_cast<size_t>(raw.n_slow * raw.n_fast);
  if (raw.codec == Codec::kPixels) return std::move(raw.bytes);
  const size_t n_chunk_bytes = raw.chunk_elements * size;
  std::vector<uint8_t> chunk;
  switch (raw.codec) {
    case Codec::kRawChunk:
    case Codec::kBitshuffle:
      if (raw.bytes.size() != n_chunk_bytes) {
        throw FormatError(concat(raw.where, ": stored chunk has ", raw.bytes.size(),
                                 " bytes, the frame needs ", n_chunk_bytes, " (size mismatch)"));
      }
      if (raw.codec == Codec::kRawChunk) {
        chunk = std::move(raw.bytes);
      } else {
        chunk.resize(n_chunk_bytes);
        bitunshuffle(raw.bytes.data(), chunk.data(), raw.chunk_elements, size, raw.block_elements);
      }
      break;
    case Codec::kBitshuffleLz4:
      chunk.resize(n_chunk_bytes);
      decode_bitshuffle_lz4(raw.bytes.data(), raw.bytes.size(), chunk.data(), n_chunk_bytes, size,
                            raw.where);
      break;
    case Codec::kLz4:
      chunk.resize(n_chunk_bytes);
      decode_hdf5_lz4(raw.bytes.data(), raw.bytes.size(), chunk.data(), n_chunk_bytes, raw.where);
      break;
    case Codec::kPixels:
      break;
  }
  if (raw.frame_offset != 0 || raw.chunk_elements != n_pixels) {
    chunk.erase(chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(raw.frame_offset * size));
    chunk.resize(n_pixels * size);
  }
  if (raw.swap_bytes) swap_in_place(chunk.data(), n_pixels, size);
  return chunk;
}

// Builds the frame. With `eiger_invalid`, the all-ones value of an unsigned type (EIGER's
// invalid/gap pixel, 2^bits - 1) is masked; uint32 values above INT32_MAX become -1 (and masked).
AnyImage to_image(const RawFrame& raw, const std::vector<uint8_t>& pixels, bool eiger_invalid,
                  std::vector<uint8_t>* mask) {
  const int64_t n = raw.n_slow * raw.n_fast;
  const uint8_t* p = pixels.data();
  auto mark = [&](int64_t i) {
    if (mask->empty()) mask->assign(static_cast<size_t>(n), 0);
    (*mask)[static_cast<size_t>(i)] = 1;
  };
  switch (raw.sample) {
    case Sample::kU8: {
      Image<uint8_t> image(raw.n_slow, raw.n_fast);
      std::memcpy(image.data(), p, static_cast<size_t>(n));
      if (eiger_invalid) {
        for (int64_t i = 0; i < n; ++i) if (image.data()[i] == 0xFF) mark(i);
      }
      return image;
    }
    case Sample::kU16: {
      Image<uint16_t> image(raw.n_slow, raw.n_fast);
      std::memcpy(image.data(), p, static_cast<size_t>(n) * 2);
      if (eiger_invalid) {
        for (int64_t i = 0; i < n; ++i) if (image.data()[i] == 0xFFFF) mark(i);
      }
      return image;
    }
    case Sample::kU32: {
      Image<int32_t> image(raw.n_slow, raw.n_fast);
      for (int64_t i = 0; i < n; ++i) {
        const uint32_t v = load<uint32_t>(p + 4 * i);
        const bool invalid = v > static_cast<uint32_t>(INT32_MAX);
        image.data()[i] = invalid ? -1 : static_cast<int32_t>(v);
        if (invalid && (eiger_invalid || v == 0xFFFFFFFFu)) mark(i);
      }
      return image;
    }
    case Sample::kI8: {
      Image<int32_t> image(raw.n_slow, raw.n_fast);
      for (int64_t i = 0; i < n; ++i) image.data()[i] = static_cast<int8_t>(p[i]);
      return image;
    }
    case Sample::kI16: {
      Image<int32_t> image(raw.n_slow, raw.n_fast);
      for (int64_t i = 0; i < n; ++i) image.data()[i] = load<int16_t>(p + 2 * i);
      return image;
    }
    case Sample::kI32: {
      Image<int32_t> image(raw.n_slow, raw.n_fast);
      std::memcpy(image.data(), p, static_cast<size_t>(n) * 4);
      return image;
    }
    case Sample::kF32: {
      Image<float> image(raw.n_slow, raw.n_fast);
      std::memcpy(image.data(), p, static_cast<size_t>(n) * 4);
      return image;
    }
    case Sample::kF64: {
      Image<float> image(raw.n_slow, raw.n_fast);
      for (int64_t i = 0; i < n; ++i) image.data()[i] = static_cast<float>(load<double>(p + 8 * i));
      return image;
    }
  }
  throw FormatError(concat(raw.where, ": internal error: unknown sample type"));
}

// ---- layouts and metadata ------------------------------------------------------------------

enum class Layout { kEigerMaster, kNexusStack, kCxi };

// The names /entry/data/data_NNNNNN in /entry/data, sorted (they are zero-padded).
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

// The NeXus pixel mask (non-zero = masked) when it has the frame's shape, else empty.
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

// Reads CXI metadata; returns the detector group the data link points to.
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

// CXI 1.5 mask bits that make a pixel unusable: invalid 1, saturated 2, hot 4, dead 8,
// shadowed 16, to be ignored 64, bad 128, missing 512. The others (in peak mask 32, out of
// resolution limits 256, noisy 1024, artifact corrected 2048, ...) describe a usable pixel.
constexpr uint32_t kCxiMaskUnusable = 1u | 2u | 4u | 8u | 16u | 64u | 128u | 512u;

// The CXI detector mask for frame `frame` of a (n_frames, n_slow, n_fast) stack: <detector>/mask
// of shape (n_frames, slow, fast) or (slow, fast); empty when absent, of another shape,
// unreadable, or without an unusable pixel.
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

// Everything read from the file under the HDF5 mutex.
struct FrameRead {
  RawFrame raw;
  bool eiger = false;
  DetectorMetadata metadata;
  std::vector<uint8_t> pixel_mask;
};

// Which layout the file has, and where its frames are.
struct FileLayout {
  Layout layout = Layout::kNexusStack;
  std::vector<std::string> links;  // kEigerMaster: /entry/data/data_NNNNNN, sorted
  std::string stack_path;          // kNexusStack, kCxi: the stack dataset
};

FileLayout find_layout(hid_t file, const std::string& name) {
  FileLayout found;
  if (is_group(file, "/entry/data") && !(found.links = master_data_links(file)).empty()) {
    found.layout = Layout::kEigerMaster;
  } else if (link_exists(file, "/entry/data/data")) {
    found.layout = Layout::kNexusStack;
    found.stack_path = "/entry/data/data";
  } else if (link_exists(file, "/entry_1/data_1/data")) {
    found.layout = Layout::kCxi;
    found.stack_path = "/entry_1/data_1/data";
  } else {
    throw_format_error(name, "HDF5 file without a known image dataset (looked for EIGER/NeXus "
                             "/entry/data/data_NNNNNN and /entry/data/data, and CXI "
                             "/entry_1/data_1/data)");
  }
  return found;
}

// ---- what a file holds, read once per file (and cached for files read by path) -------------
//
// Reading frame k of an EIGER master used to open the master, every data file up to k, read the
// metadata and the whole pixel_mask (uint32, 4 bytes a pixel) for every frame. A FileInfo keeps
// what does not change between frames: the layout, each data link's resolved file and frame
// count, the metadata and the mask. A data file still missing when the master is described
// (a series still being written) is re-resolved whenever a frame at or beyond it is asked for.

// One /entry/data/data_NNNNNN link of a master.
struct DataPart {
  std::string link;
  LinkTarget target;
  fs::path file;           // external: the resolved data file, empty until resolved
  int64_t n_frames = -1;   // -1: not resolved yet (the data file was missing)
  int64_t n_slow = 0, n_fast = 0;
};

struct FileInfo {
  FileLayout layout;
  std::vector<DataPart> parts;  // kEigerMaster
  DetectorMetadata metadata;
  bool eiger = false;
  bool mask_read = false;         // pixel_mask looked for at mask_slow x mask_fast
  int64_t mask_slow = 0, mask_fast = 0;
  std::vector<uint8_t> pixel_mask;  // empty: none of that shape
  std::string cxi_detector;         // kCxi: the detector group of the data link
};

// Opens the data file of an external part and checks its stack; fills n_frames and the shape.
OpenDataset open_part(DataPart& part, const std::string& name, const fs::path* dir) {
  std::error_code ec;
  if (!part.file.empty() && !fs::is_regular_file(part.file, ec)) part.file.clear();  // gone
  if (part.file.empty()) part.file = resolve_external(name, part.link, part.target, dir);
  OpenDataset data = open_external(name, part.link, part.file, part.target.object);
  const Stack stack = stack_shape(data.dataset.get(), name, data.label);
  part.n_frames = stack.n_frames;
  part.n_slow = stack.n_slow;
  part.n_fast = stack.n_fast;
  return data;
}

// Reads the pixel mask for frames of n_slow x n_fast (once per shape).
void ensure_mask(FileInfo& info, hid_t file, int64_t n_slow, int64_t n_fast) {
  if (!info.eiger || (info.mask_read && info.mask_slow == n_slow && info.mask_fast == n_fast)) {
    return;
  }
  info.pixel_mask = read_pixel_mask(file, n_slow, n_fast);
  info.mask_read = true;
  info.mask_slow = n_slow;
  info.mask_fast = n_fast;
}

// Describes an open file: layout, metadata, the master's parts (resolved where their data file
// exists) and the pixel mask for the first resolved frame shape.
std::shared_ptr<FileInfo> describe_file(hid_t file, const std::string& name, const fs::path* dir) {
  auto info = std::make_shared<FileInfo>();
  info->layout = find_layout(file, name);
  const Layout layout = info->layout.layout;
  if (layout == Layout::kCxi) {
    info->cxi_detector = read_cxi_metadata(file, &info->metadata);
  } else {
    info->eiger = true;
    read_nexus_metadata(file, &info->metadata);
    const std::string kind = layout == Layout::kEigerMaster ? "NeXus master" : "NeXus/EIGER data";
    info->metadata.detector =
        info->metadata.detector.empty() ? kind : info->metadata.detector + " (" + kind + ")";
  }
  int64_t n_slow = 0, n_fast = 0;
  if (layout == Layout::kEigerMaster) {
    for (const std::string& link : info->layout.links) {
      DataPart part;
      part.link = link;
      part.target = read_link(file, name, link);
      if (!part.target.external) {
        // A dataset inside the master itself: its shape is read now (the master is open).
        OpenDataset data = open_internal(file, name, link);
        const Stack stack = stack_shape(data.dataset.get(), name, data.label);
        part.n_frames = stack.n_frames;
        part.n_slow = stack.n_slow;
        part.n_fast = stack.n_fast;
      } else if (dir != nullptr) {
        try {
          open_part(part, name, dir);
        } catch (const FormatError&) {
          // Missing or unreadable for now: resolved again (and reported) when a frame needs it.
          part.file.clear();
          part.n_frames = -1;
        }
      }
      if (n_slow == 0 && part.n_frames >= 0) {
        n_slow = part.n_slow;
        n_fast = part.n_fast;
      }
      info->parts.push_back(std::move(part));
    }
  } else {
    OpenDataset data = open_dataset(file, name, info->layout.stack_path, dir);
    const Stack stack = stack_shape(data.dataset.get(), name, data.label);
    n_slow = stack.n_slow;
    n_fast = stack.n_fast;
  }
  if (n_slow > 0) ensure_mask(*info, file, n_slow, n_fast);
  return info;
}

// The file at a path, opened on first use (a described master need not be opened to read a
// frame from one of its data files).
class LazyFile {
 public:
  LazyFile(const std::string& name, hid_t open_file) : name_(name), given_(open_file) {}
  hid_t get() {
    if (given_ >= 0) return given_;
    if (!owned_.valid()) {
      check_in_child_first(name_, "", name_);
      owned_ = Hid(H5Fopen(name_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
      if (!owned_.valid()) throw_format_error(name_, "cannot open as HDF5: ", hdf5_reason());
    }
    return owned_.get();
  }

 private:
  std::string name_;
  hid_t given_;
  Hid owned_;
};

// Thrown (internally) when a cached description no longer matches a data file: the caller
// describes the file afresh.
struct StaleInfo {};

// Reads frame `frame` using `info` (which it may complete: parts resolved, mask read).
FrameRead read_described(FileInfo& info, LazyFile& file, const std::string& name,
                         const fs::path* dir, int64_t frame, bool cached) {
  FrameRead read;
  read.eiger = info.eiger;
  read.metadata = info.metadata;
  if (info.layout.layout == Layout::kEigerMaster) {
    // Frame k counts across the data files in link order.
    int64_t first = 0;
    for (DataPart& part : info.parts) {
      OpenDataset data;
      const int64_t known = part.n_frames;
      if (part.n_frames < 0 || (frame >= first && frame < first + part.n_frames)) {
        if (!part.target.external) {
          data = open_internal(file.get(), name, part.link);
        } else {
          data = open_part(part, name, dir);  // throws naming the link when the file is missing
        }
        if (known >= 0 && part.n_frames != known) {
          if (cached) throw StaleInfo{};  // the data file changed since it was described
        }
      }
      if (frame >= first && frame < first + part.n_frames) {
        const Stack stack = stack_shape(data.dataset.get(), name, data.label);
        read.raw = read_frame_bytes(data.dataset.get(),
                                    concat(name, ": dataset ", data.label, ", frame ", frame,
                                           " (frame ", frame - first, " of that dataset)"),
                                    stack, frame - first);
        break;
      }
      first += part.n_frames;
      if (&part == &info.parts.back()) {
        throw_format_error(name, "frame ", frame, " out of range, file has ", first,
                           " frame(s) in ", info.parts.size(), " data file(s)");
      }
    }
  } else {
    OpenDataset data = open_dataset(file.get(), name, info.layout.stack_path, dir);
    const Stack stack = stack_shape(data.dataset.get(), name, data.label);
    if (frame < 0 || frame >= stack.n_frames) {
      throw_format_error(name, "frame ", frame, " out of range, file has ", stack.n_frames,
                         " frame(s) (dataset ", data.label, ")");
    }
    read.raw = read_frame_bytes(data.dataset.get(),
                                concat(name, ": dataset ", data.label, ", frame ", frame), stack,
                                frame);
    if (info.layout.layout == Layout::kCxi) {
      read.pixel_mask = read_cxi_mask(file.get(), info.cxi_detector, frame, stack.n_frames,
                                      stack.n_slow, stack.n_fast);
    }
  }
  if (info.eiger) {
    if (!info.mask_read || info.mask_slow != read.raw.n_slow || info.mask_fast != read.raw.n_fast) {
      ensure_mask(info, file.get(), read.raw.n_slow, read.raw.n_fast);
    }
    read.pixel_mask = info.pixel_mask;
  }
  return read;
}

// Frames addressable as `//N`: the sum over a master's data files (each resolved: a missing one
// is an error), or the stack's length.
int64_t count_described(FileInfo& info, LazyFile& file, const std::string& name,
                        const fs::path* dir) {
  if (info.layout.layout != Layout::kEigerMaster) {
    OpenDataset data = open_dataset(file.get(), name, info.layout.stack_path, dir);
    return stack_shape(data.dataset.get(), name, data.label).n_frames;
  }
  int64_t n_frames = 0;
  for (DataPart& part : info.parts) {
    std::error_code ec;
    if (part.target.external && (part.n_frames < 0 || !fs::is_regular_file(part.file, ec))) {
      open_part(part, name, dir);  // a data file missing now is an error naming it
    }
    n_frames += part.n_frames;
  }
  return n_frames;
}

// The per-file cache: canonical path -> FileInfo, valid while the file's modification time and
// size are unchanged. At most kMaxEntries files (least recently used dropped first), and masks
// of at most kMaxMaskBytes in all. Only used under hdf5_mutex() (no lock of its own).
class FileInfoCache {
 public:
  static constexpr size_t kMaxEntries = 8;
  static constexpr size_t kMaxMaskBytes = size_t{256} << 20;

  struct Stamp {
    std::string key;  // canonical path
    fs::path dir;     // absolute folder of the path as given (data files resolve there)
    fs::file_time_type mtime;
    std::uintmax_t size = 0;
  };

  // The stamp of `path`, or nullopt when it cannot be taken (then nothing is cached).
  static std::optional<Stamp> stamp(const fs::path& path) {
    std::error_code ec;
    Stamp s;
    s.key = fs::canonical(path, ec).string();
    if (ec) return std::nullopt;
    s.dir = fs::absolute(path, ec).parent_path().lexically_normal();
    if (ec) return std::nullopt;
    s.mtime = fs::last_write_time(s.key, ec);
    if (ec) return std::nullopt;
    s.size = fs::file_size(s.key, ec);
    if (ec) return std::nullopt;
    return s;
  }

  std::shared_ptr<FileInfo> find(const Stamp& s) {
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->stamp.key != s.key) continue;
      if (it->stamp.mtime != s.mtime || it->stamp.size != s.size || it->stamp.dir != s.dir) {
        entries_.erase(it);  // the file changed (or is named from elsewhere): describe again
        return nullptr;
      }
      entries_.splice(entries_.begin(), entries_, it);  // most recently used first
      return entries_.front().info;
    }
    return nullptr;
  }

  void insert(const Stamp& s, std::shared_ptr<FileInfo> info) {
    erase(s.key);
    entries_.push_front(Entry{s, std::move(info)});
    size_t mask_bytes = 0;
    size_t n = 0;
    for (auto it = entries_.begin(); it != entries_.end();) {
      mask_bytes += it->info->pixel_mask.size();
      if (++n > kMaxEntries || (n > 1 && mask_bytes > kMaxMaskBytes)) {
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void erase(const std::string& key) {
    entries_.remove_if([&](const Entry& e) { return e.stamp.key == key; });
  }
  void clear() noexcept { entries_.clear(); }

 private:
  struct Entry {
    Stamp stamp;
    std::shared_ptr<FileInfo> info;
  };
  std::list<Entry> entries_;
};

FileInfoCache& file_info_cache() {
  static FileInfoCache cache;
  return cache;
}

// Runs `use(info, file)` on the description of the file at `path`, from the cache when allowed
// and valid. Call under hdf5_mutex().
template <typename Use>
auto with_described_file(const fs::path& path, bool use_cache, Use use) {
  const std::string name = path.string();
  fs::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  std::optional<FileInfoCache::Stamp> stamp;
  if (use_cache) stamp = FileInfoCache::stamp(path);
  // A cached description outlives the call: resolve data files in the absolute folder the path
  // names (not the symlink target: HDF5 and the detector resolve next to the master as named),
  // so that a later call from another working directory still finds them.
  if (stamp) dir = stamp->dir;
  if (stamp) {
    if (std::shared_ptr<FileInfo> info = file_info_cache().find(*stamp)) {
      try {
        LazyFile file(name, -1);
        return use(*info, file, &dir, true);
      } catch (const StaleInfo&) {
        file_info_cache().erase(stamp->key);
      }
    }
  }
  LazyFile file(name, -1);
  std::shared_ptr<FileInfo> info = describe_file(file.get(), name, &dir);
  if (stamp) file_info_cache().insert(*stamp, info);
  return use(*info, file, &dir, false);
}

AnyImage finish(FrameRead read) {
  const std::vector<uint8_t> pixels = decode_frame_bytes(read.raw);
  std::vector<uint8_t> mask = std::move(read.pixel_mask);
  AnyImage image = to_image(read.raw, pixels, read.eiger, &mask);
  std::visit(
      [&](auto& img) {
        img.metadata() = std::move(read.metadata);
        if (!mask.empty()) img.set_mask(std::move(mask));
      },
      image);
  return image;
}

// Opens `bytes` as an in-memory HDF5 file image (core driver, no backing store; HDF5 copies the
// bytes). Call under hdf5_mutex().
Hid open_file_image(const uint8_t* bytes, size_t n_bytes, const std::string& name) {
  Hid fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (H5Pset_fapl_core(fapl.get(), 1 << 16, 0) < 0 ||
      H5Pset_file_image(fapl.get(), const_cast<uint8_t*>(bytes), n_bytes) < 0) {
    throw_format_error(name, "cannot set up an in-memory HDF5 image: ", hdf5_reason());
  }
  // The core driver refuses to open an image under a name that exists on disk ("file already
  // exists"), so the caller's name (often the file's own path) cannot be used: this one never
  // exists (nothing can be below /dev/null). Messages still use `name`.
  Hid file(H5Fopen("/dev/null/difftriage-in-memory-image", H5F_ACC_RDONLY, fapl.get()),
           H5Fclose);
  if (!file.valid()) throw_format_error(name, "cannot open as HDF5: ", hdf5_reason());
  return file;
}

// ---- isolation: the child's walk and the parent's bookkeeping -------------------------------

// This thread's read settings, set by IsolationScope at every entry point (under hdf5_mutex()).
struct Isolation {
  bool enabled = false;
  double timeout_s = 60.0;
};
thread_local Isolation t_isolation;
// True only in a checking child (one thread, a private copy of memory): it parses everything
// itself instead of forking again.
bool g_in_checking_child = false;
// In a checking child: the identities (file_identity) of the data files its walk opened. A data
// file counts as walked only once the whole walk returns (see walk_file).
std::vector<std::string> g_walked_in_child;

class IsolationScope {
 public:
  explicit IsolationScope(const ReadOptions& options) : saved_(t_isolation) {
    DT_CHECK(options.isolate_timeout_s > 0.0 && std::isfinite(options.isolate_timeout_s),
             ConfigError, "ReadOptions::isolate_timeout_s must be finite and > 0, got ",
             options.isolate_timeout_s);
    t_isolation = {options.isolate_hdf5, options.isolate_timeout_s};
  }
  ~IsolationScope() { t_isolation = saved_; }
  IsolationScope(const IsolationScope&) = delete;
  IsolationScope& operator=(const IsolationScope&) = delete;

 private:
  Isolation saved_;
};

// Files whose check passed, as "canonical path|object|mtime|size"; at most kMaxEntries, the
// oldest forgotten first. Only used under hdf5_mutex().
class CheckedFiles {
 public:
  static constexpr size_t kMaxEntries = 4096;
  bool contains(const std::string& id) const { return ids_.count(id) > 0; }
  void insert(const std::string& id) {
    if (!ids_.insert(id).second) return;
    order_.push_back(id);
    if (order_.size() > kMaxEntries) {
      ids_.erase(order_.front());
      order_.pop_front();
    }
  }
  void clear() noexcept {
    ids_.clear();
    order_.clear();
  }

 private:
  std::set<std::string> ids_;
  std::list<std::string> order_;
};

CheckedFiles& checked_files() {
  static CheckedFiles files;
  return files;
}

// "canonical|object|mtime|size", or nullopt when the file cannot be stat'ed (checked every time).
std::optional<std::string> file_identity(const fs::path& file, const std::string& object) {
  std::error_code ec;
  const fs::path canonical = fs::canonical(file, ec);
  if (ec) return std::nullopt;
  const auto mtime = fs::last_write_time(canonical, ec);
  if (ec) return std::nullopt;
  const std::uintmax_t size = fs::file_size(canonical, ec);
  if (ec) return std::nullopt;
  return concat(canonical.string(), "|", object, "|", mtime.time_since_epoch().count(), "|", size);
}

// Child side. Every chunk of a frame stack is looked up in its index (what a read of any frame
// does first), without reading the chunk.
void walk_chunk_index(hid_t dataset, const std::string& name, const std::string& label) {
  Hid dcpl(H5Dget_create_plist(dataset), H5Pclose);
  if (H5Pget_layout(dcpl.get()) != H5D_CHUNKED) return;
  hsize_t n_chunks = 0;
  if (H5Dget_num_chunks(dataset, H5S_ALL, &n_chunks) < 0) {
    throw_format_error(name, "dataset ", label, ": cannot list its chunks: ", hdf5_reason());
  }
  for (hsize_t i = 0; i < n_chunks; ++i) {
    hsize_t offset[H5S_MAX_RANK] = {};
    unsigned filter_mask = 0;
    haddr_t address = 0;
    hsize_t size = 0;
    if (H5Dget_chunk_info(dataset, H5S_ALL, i, offset, &filter_mask, &address, &size) < 0) {
      throw_format_error(name, "dataset ", label, ": chunk ", i, " of ", n_chunks,
                         " cannot be located: ", hdf5_reason());
    }
  }
}

// Child side: a described file's frame counts, the chunk index of each stack, and the first
// and last frame of each stack as a read would fetch them (raw bytes, masks; not decoded).
void walk_described(FileInfo& info, LazyFile& file, const std::string& name, const fs::path* dir) {
  const int64_t n_frames = count_described(info, file, name, dir);
  std::vector<int64_t> frames;
  if (info.layout.layout == Layout::kEigerMaster) {
    int64_t first = 0;
    for (DataPart& part : info.parts) {
      OpenDataset data = part.target.external ? open_part(part, name, dir)
                                              : open_internal(file.get(), name, part.link);
      walk_chunk_index(data.dataset.get(), name, data.label);
      if (part.n_frames > 0) {
        frames.push_back(first);
        frames.push_back(first + part.n_frames - 1);
      }
      first += part.n_frames;
    }
  } else {
    OpenDataset data = open_dataset(file.get(), name, info.layout.stack_path, dir);
    walk_chunk_index(data.dataset.get(), name, data.label);
    if (n_frames > 0) frames = {0, n_frames - 1};
  }
  for (const int64_t frame : frames) read_described(info, file, name, dir, frame, false);
}

// Returns the identities of the data files walked on the way, one per line.
std::string walk_file(const fs::path& path) {
  const std::string name = path.string();
  fs::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  LazyFile file(name, -1);
  std::shared_ptr<FileInfo> info = describe_file(file.get(), name, &dir);
  walk_described(*info, file, name, &dir);
  std::string walked;
  for (const std::string& id : g_walked_in_child) walked += id + "\n";
  return walked;
}

std::string walk_external(const fs::path& data_file, const std::string& object) {
  const std::string name = data_file.string();
  Hid file(H5Fopen(name.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.valid()) throw_format_error(name, "cannot open as HDF5: ", hdf5_reason());
  OpenDataset data = open_internal(file.get(), name, object);
  const Stack stack = stack_shape(data.dataset.get(), name, data.label);
  walk_chunk_index(data.dataset.get(), name, data.label);
  for (const int64_t frame : {int64_t{0}, stack.n_frames - 1}) {
    if (frame >= 0) {
      read_frame_bytes(data.dataset.get(), concat(name, ": dataset ", object, ", frame ", frame),
                       stack, frame);
    }
  }
  return {};
}

std::string walk_image(const uint8_t* bytes, size_t n_bytes, const std::string& name) {
  Hid file = open_file_image(bytes, n_bytes, name);
  std::shared_ptr<FileInfo> info = describe_file(file.get(), name, nullptr);
  LazyFile lazy(name, file.get());
  walk_described(*info, lazy, name, nullptr);
  return {};
}

// Parent side: runs `walk` in a child; returns what the walk returned (empty when it threw),
// throws when the child did not come back.
std::string run_check(const std::function<std::string()>& walk, const std::string& who) {
  const ChildOutcome outcome = run_in_child(
      [&] {
        g_in_checking_child = true;
        return walk();
      },
      t_isolation.timeout_s);
  switch (outcome.kind) {
    case ChildOutcome::Kind::kReturned:
      return outcome.text;
    case ChildOutcome::Kind::kThrew:
      return {};  // parsing here repeats the child's steps: the same error
    case ChildOutcome::Kind::kCrashed:
      throw FormatError(concat(who, ": damaged HDF5 metadata: libhdf5 crashed (", outcome.text,
                               ") parsing this file in a separate checking process, so it is "
                               "not read"));
    case ChildOutcome::Kind::kTimedOut:
      throw FormatError(concat(who,
                               ": parsing this HDF5 file in a separate checking process did "
                               "not finish within ",
                               t_isolation.timeout_s,
                               " s (damaged metadata can make libhdf5 loop), so it is not read"));
    case ChildOutcome::Kind::kNoChild:
      break;
  }
  throw IoError(concat(who,
                       ": cannot start the process that checks this HDF5 file before it "
                       "is read (",
                       outcome.text, ")"));
}

void check_bytes_in_child_first(const uint8_t* bytes, size_t n_bytes, const std::string& name) {
  if (!t_isolation.enabled || g_in_checking_child) return;
  run_check([&] { return walk_image(bytes, n_bytes, name); }, name);
}

void check_in_child_first(const fs::path& file, const std::string& object, const std::string& who) {
  if (!t_isolation.enabled || g_in_checking_child) return;
  const std::optional<std::string> id = file_identity(file, object);
  if (id && checked_files().contains(*id)) return;
  const std::string walked = run_check(
      [&] { return object.empty() ? walk_file(file) : walk_external(file, object); }, who);
  if (id) checked_files().insert(*id);
  // The data files a master's walk went through passed with it.
  for (size_t begin = 0, end = 0; begin < walked.size(); begin = end + 1) {
    end = walked.find('\n', begin);
    if (end == std::string::npos) end = walked.size();
    if (end > begin) checked_files().insert(walked.substr(begin, end - begin));
  }
}

void note_walked_in_child(const fs::path& file, const std::string& object) {
  if (!g_in_checking_child) return;
  if (const std::optional<std::string> id = file_identity(file, object)) {
    g_walked_in_child.push_back(*id);
  }
}

}  // namespace

int probe_hdf5(const uint8_t* head, size_t n_bytes) noexcept {
  // The superblock signature sits at 0 or, after a user block, at 512, 1024, 2048, ...
  static const uint8_t kSignature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  for (size_t offset = 0; offset + 8 <= n_bytes; offset = offset == 0 ? 512 : offset * 2) {
    if (std::memcmp(head + offset, kSignature, 8) == 0) return kProbeStrong;
  }
  return kProbeNo;
}

AnyImage read_hdf5(const fs::path& path, const ReadOptions& options) {
  const std::string name = path.string();
  if (options.frame < 0) throw_format_error(name, "frame ", options.frame, " out of range");
  FrameRead read;
  {
    std::lock_guard<std::mutex> lock(hdf5_mutex());
    QuietErrors quiet;
    IsolationScope isolation(options);
    read = with_described_file(
        path, options.cache_file_layout,
        [&](FileInfo& info, LazyFile& file, const fs::path* dir, bool cached) {
          return read_described(info, file, name, dir, options.frame, cached);
        });
  }
  return finish(std::move(read));
}

AnyImage decode_hdf5(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                     const ReadOptions& options) {
  if (options.frame < 0) throw_format_error(name, "frame ", options.frame, " out of range");
  FrameRead read;
  {
    std::lock_guard<std::mutex> lock(hdf5_mutex());
    QuietErrors quiet;
    IsolationScope isolation(options);
    check_bytes_in_child_first(bytes, n_bytes, name);
    Hid file = open_file_image(bytes, n_bytes, name);
    std::shared_ptr<FileInfo> info = describe_file(file.get(), name, nullptr);
    LazyFile lazy(name, file.get());
    read = read_described(*info, lazy, name, nullptr, options.frame, false);
  }
  return finish(std::move(read));
}

int64_t count_hdf5_path(const fs::path& path, const ReadOptions& options) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  QuietErrors quiet;
  IsolationScope isolation(options);
  const std::string name = path.string();
  return with_described_file(
      path, options.cache_file_layout,
      [&](FileInfo& info, LazyFile& file, const fs::path* dir, bool /*cached*/) {
        return count_described(info, file, name, dir);
      });
}

int64_t count_hdf5(const uint8_t* bytes, size_t n_bytes, const std::string& name,
                   const ReadOptions& options) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  QuietErrors quiet;
  IsolationScope isolation(options);
  check_bytes_in_child_first(bytes, n_bytes, name);
  Hid file = open_file_image(bytes, n_bytes, name);
  std::shared_ptr<FileInfo> info = describe_file(file.get(), name, nullptr);
  LazyFile lazy(name, file.get());
  return count_described(*info, lazy, name, nullptr);
}

void clear_hdf5_cache() noexcept {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  file_info_cache().clear();
  checked_files().clear();
}

}  // namespace difftriage::io::detail
