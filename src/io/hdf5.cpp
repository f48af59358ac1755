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
#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "difftriage/io/bitshuffle_lz4.h"
#include "format_registry.h"

namespace difftriage::io::detail {
namespace {

namespace fs = std::filesystem;
using ::difftriage::detail::concat;

constexpr int kFilterDeflate = 1, kFilterShuffle = 2, kFilterFletcher32 = 3, kFilterSzip = 4,
              kFilterNbit = 5, kFilterScaleOffset = 6;
// The largest raw chunk we accept, in bytes: a corrupt chunk index must not make us allocate
// without bound (a frame is at most kMaxImagePixels * 8 bytes; LZ4 adds < 0.5 %).
constexpr uint64_t kMaxChunkBytes = uint64_t{1} << 32;

std::mutex& hdf5_mutex() {
  static std::mutex mutex;
  return mutex;
}

// Owns an HDF5 identifier and closes it with the matching H5?close.
class Hid {
 public:
  Hid() = default;
  Hid(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Hid() { reset(); }
  Hid(Hid&& other) noexcept : id_(other.id_), close_(other.close_) { other.id_ = -1; }
  Hid& operator=(Hid&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = other.id_;
      close_ = other.close_;
      other.id_ = -1;
    }
    return *this;
  }
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  hid_t get() const noexcept { return id_; }
  bool valid() const noexcept { return id_ >= 0; }
  void reset() noexcept {
    if (id_ >= 0 && close_ != nullptr) close_(id_);
    id_ = -1;
  }

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

// Turns HDF5's automatic error printing off for the scope (the library never prints).
class QuietErrors {
 public:
  QuietErrors() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietErrors() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }
  QuietErrors(const QuietErrors&) = delete;
  QuietErrors& operator=(const QuietErrors&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

// The innermost message on HDF5's error stack (where the problem was detected), then clears it.
std::string hdf5_reason() {
  std::string reason;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* error, void* data) -> herr_t {
        if (n == 0 && error->desc != nullptr) *static_cast<std::string*>(data) = error->desc;
        return 0;
      },
      &reason);
  H5Eclear2(H5E_DEFAULT);
  return reason.empty() ? std::string("HDF5 gave no reason") : reason;
}

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

// Opens the dataset at link `path`, following an external link relative to `dir` (null for an
// in-memory image, where external links cannot be followed).
OpenDataset open_dataset(hid_t file, const std::string& name, const std::string& path,
                         const fs::path* dir) {
  H5L_info_t info;
  if (!link_exists(file, path) || H5Lget_info(file, path.c_str(), &info, H5P_DEFAULT) < 0) {
    H5Eclear2(H5E_DEFAULT);
    throw_format_error(name, "dataset ", path, " not found");
  }
  OpenDataset result;
  result.label = path;
  if (info.type == H5L_TYPE_EXTERNAL) {
    std::vector<char> value(info.u.val_size + 1, '\0');
    unsigned flags = 0;
    const char* target_file = nullptr;
    const char* target_object = nullptr;
    if (H5Lget_val(file, path.c_str(), value.data(), info.u.val_size, H5P_DEFAULT) < 0 ||
        H5Lunpack_elink_val(value.data(), info.u.val_size, &flags, &target_file,
                            &target_object) < 0 ||
        target_file == nullptr || target_object == nullptr) {
      throw_format_error(name, "dataset ", path, " is an unreadable external link: ",
                         hdf5_reason());
    }
    const std::string link_text = concat(target_object, " in ", target_file);
    if (dir == nullptr) {
      throw_format_error(name, "dataset ", path, " is an external link to ", link_text,
                         ", which cannot be followed from an in-memory HDF5 image; read the file "
                         "by its path");
    }
    // EIGER writes the bare data-file name; resolve it next to the master (an absolute name that
    // is gone is also looked for there, as HDF5 does).
    const fs::path target(target_file);
    std::vector<fs::path> candidates;
    if (target.is_absolute()) candidates.push_back(target);
    candidates.push_back(*dir / (target.is_absolute() ? target.filename() : target));
    const fs::path* found = nullptr;
    for (const fs::path& candidate : candidates) {
      std::error_code ec;
      if (fs::is_regular_file(candidate, ec)) {
        found = &candidate;
        break;
      }
    }
    if (found == nullptr) {
      std::string looked;
      for (const fs::path& candidate : candidates) {
        looked += (looked.empty() ? "" : ", ") + candidate.string();
      }
      throw_format_error(name, "dataset ", path, " is an external link to ", link_text,
                         ", and that data file is missing (looked for ", looked, ")");
    }
    result.file = Hid(H5Fopen(found->string().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    if (!result.file.valid()) {
      throw_format_error(name, "dataset ", path, ": cannot open its external data file ",
                         found->string(), ": ", hdf5_reason());
    }
    result.dataset = Hid(H5Dopen2(result.file.get(), target_object, H5P_DEFAULT), H5Dclose);
    result.label = concat(path, " (-> ", found->string(), ":", target_object, ")");
    if (!result.dataset.valid()) {
      throw_format_error(name, "dataset ", result.label, " cannot be opened: ", hdf5_reason());
    }
    return result;
  }
  result.dataset = Hid(H5Dopen2(file, path.c_str(), H5P_DEFAULT), H5Dclose);
  if (!result.dataset.valid()) {
    throw_format_error(name, "dataset ", path, " cannot be opened: ", hdf5_reason());
  }
  return result;
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

void read_cxi_metadata(hid_t file, DetectorMetadata* md) {
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
  md->detector = "CXI";
  if (const auto name = read_string_dataset(file, "/entry_1/instrument_1/name")) {
    md->detector += " " + *name;
  }
  md->detector += concat(" (", detector, ")");
}

// Everything read from the file under the HDF5 mutex.
struct FrameRead {
  RawFrame raw;
  bool eiger = false;
  DetectorMetadata metadata;
  std::vector<uint8_t> pixel_mask;
};

FrameRead read_from_file(hid_t file, const std::string& name, const fs::path* dir,
                         int64_t frame) {
  FrameRead read;
  Layout layout;
  std::vector<std::string> links;
  std::string stack_path;
  if (is_group(file, "/entry/data") && !(links = master_data_links(file)).empty()) {
    layout = Layout::kEigerMaster;
  } else if (link_exists(file, "/entry/data/data")) {
    layout = Layout::kNexusStack;
    stack_path = "/entry/data/data";
  } else if (link_exists(file, "/entry_1/data_1/data")) {
    layout = Layout::kCxi;
    stack_path = "/entry_1/data_1/data";
  } else {
    throw_format_error(name, "HDF5 file without a known image dataset (looked for EIGER/NeXus "
                             "/entry/data/data_NNNNNN and /entry/data/data, and CXI "
                             "/entry_1/data_1/data)");
  }
  if (layout == Layout::kEigerMaster) {
    // Frame k counts across the data files in order; each is opened to learn its frame count.
    int64_t first = 0;
    for (const std::string& link : links) {
      OpenDataset data = open_dataset(file, name, link, dir);
      const Stack stack = stack_shape(data.dataset.get(), name, data.label);
      if (frame >= first && frame < first + stack.n_frames) {
        read.raw = read_frame_bytes(data.dataset.get(),
                                    concat(name, ": dataset ", data.label, ", frame ", frame,
                                           " (frame ", frame - first, " of that dataset)"),
                                    stack, frame - first);
        break;
      }
      first += stack.n_frames;
      if (&link == &links.back()) {
        throw_format_error(name, "frame ", frame, " out of range, file has ", first,
                           " frame(s) in ", links.size(), " data file(s)");
      }
    }
  } else {
    OpenDataset data = open_dataset(file, name, stack_path, dir);
    const Stack stack = stack_shape(data.dataset.get(), name, data.label);
    if (frame < 0 || frame >= stack.n_frames) {
      throw_format_error(name, "frame ", frame, " out of range, file has ", stack.n_frames,
                         " frame(s) (dataset ", data.label, ")");
    }
    read.raw = read_frame_bytes(data.dataset.get(),
                                concat(name, ": dataset ", data.label, ", frame ", frame), stack,
                                frame);
  }
  if (layout == Layout::kCxi) {
    read_cxi_metadata(file, &read.metadata);
  } else {
    read.eiger = true;
    read_nexus_metadata(file, &read.metadata);
    read.pixel_mask = read_pixel_mask(file, read.raw.n_slow, read.raw.n_fast);
    const std::string kind = layout == Layout::kEigerMaster ? "NeXus master" : "NeXus/EIGER data";
    read.metadata.detector =
        read.metadata.detector.empty() ? kind : read.metadata.detector + " (" + kind + ")";
  }
  return read;
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
    Hid file(H5Fopen(name.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    if (!file.valid()) throw_format_error(name, "cannot open as HDF5: ", hdf5_reason());
    fs::path dir = path.parent_path();
    if (dir.empty()) dir = ".";
    read = read_from_file(file.get(), name, &dir, options.frame);
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
    // An in-memory file image (core driver, no backing store); HDF5 copies the bytes.
    Hid fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    if (H5Pset_fapl_core(fapl.get(), 1 << 16, 0) < 0 ||
        H5Pset_file_image(fapl.get(), const_cast<uint8_t*>(bytes), n_bytes) < 0) {
      throw_format_error(name, "cannot set up an in-memory HDF5 image: ", hdf5_reason());
    }
    Hid file(H5Fopen(name.c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose);
    if (!file.valid()) throw_format_error(name, "cannot open as HDF5: ", hdf5_reason());
    read = read_from_file(file.get(), name, nullptr, options.frame);
  }
  return finish(std::move(read));
}

}  // namespace difftriage::io::detail
