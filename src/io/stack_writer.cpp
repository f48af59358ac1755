// One HDF5 stack writer, two layouts (include/difftriage/io/stack_writer.h): CXI for
// `classify --hits-cxi`, NXmx for `stream --write-kept`.
//
// The stack is an extendible [N, slow, fast] dataset, one frame per chunk (the access pattern of
// every reader: one frame at a time), grown by one frame per append. CXI frames go through
// H5Dwrite (deflate optional); NXmx frames are bitshuffle-LZ4 chunks written raw with
// H5Dwrite_chunk — as received from the detector when they already are, so that keeping a
// frame costs no decoding and no compression — under the filter 32008 that EIGER files declare
// (optional, so HDF5 without the plugin still writes them; our reader decodes them in-process,
// h5py with Debian's bitshuffle plugin). Metadata go where our readers look
// (hdf5_cxi_layout.cpp, hdf5_nexus_layout.cpp), so that what we write reads back the same.
// All libhdf5 calls run under the io module's HDF5 mutex (hdf5_support.h).
#include "difftriage/io/stack_writer.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <system_error>
#include <utility>

#include "difftriage/core/error.h"
#include "difftriage/io/bitshuffle_lz4.h"
#include "hdf5_support.h"

namespace difftriage::io {
namespace {

namespace fs = std::filesystem;
using ::difftriage::detail::concat;
using detail::Hid;

// h c in SI units (exact since 2019): E [J] = hc / λ [m].
constexpr double kHcJouleMetre = 6.62607015e-34 * 299792458.0;
constexpr H5Z_filter_t kBitshuffleFilter = 32008;

// bitshuffle_filter_arguments, under the HDF5 mutex.
std::vector<unsigned> bitshuffle_arguments_locked(const std::vector<unsigned>& stored) {
  const bool plugin = H5Zfilter_avail(kBitshuffleFilter) > 0;
  H5Eclear2(H5E_DEFAULT);
  if (!plugin) return stored;
  return stored.size() > 3 ? std::vector<unsigned>(stored.begin() + 3, stored.end())
                           : std::vector<unsigned>{};
}

fs::path temporary_beside(const fs::path& target) {
  static std::atomic<unsigned> counter{0};
  std::ostringstream name;
  name << "." << target.filename().string() << ".tmp-" << ::getpid() << "-" << counter++;
  return target.parent_path() / name.str();
}

// `stream_uint32`: int32 frames that stand for a stream's uint32 pixels (append_bslz4).
hid_t file_type_of(PixelType type, bool stream_uint32 = false) {
  switch (type) {
    case PixelType::kUint8: return H5T_STD_U8LE;
    case PixelType::kUint16: return H5T_STD_U16LE;
    case PixelType::kInt32: return stream_uint32 ? H5T_STD_U32LE : H5T_STD_I32LE;
    case PixelType::kFloat32: return H5T_IEEE_F32LE;
  }
  return H5T_STD_U8LE;
}

hid_t memory_type_of(PixelType type) {
  switch (type) {
    case PixelType::kUint8: return H5T_NATIVE_UINT8;
    case PixelType::kUint16: return H5T_NATIVE_UINT16;
    case PixelType::kInt32: return H5T_NATIVE_INT32;
    case PixelType::kFloat32: return H5T_NATIVE_FLOAT;
  }
  return H5T_NATIVE_UINT8;
}

size_t pixel_bytes(PixelType type) {
  return type == PixelType::kUint8 ? 1 : type == PixelType::kUint16 ? 2 : 4;
}

const void* pixel_data(const AnyImage& image) {
  return std::visit([](const auto& img) -> const void* { return img.data(); }, image);
}

const std::vector<uint8_t>& mask_of(const AnyImage& image) {
  return std::visit([](const auto& img) -> const std::vector<uint8_t>& { return img.mask(); },
                    image);
}

// NXmx: the frame's bitshuffle-LZ4 chunk, masked pixels set to the invalid marker.
std::vector<uint8_t> nxmx_chunk(const AnyImage& frame) {
  return std::visit(
      [](const auto& img) {
        using T = typename std::decay_t<decltype(img)>::value_type;
        const T* data = img.data();
        std::vector<T> marked;
        if (img.has_mask()) {
          T marker;
          if constexpr (std::is_floating_point_v<T>) {
            marker = std::numeric_limits<T>::quiet_NaN();
          } else if constexpr (std::is_signed_v<T>) {
            marker = T{-1};
          } else {
            marker = std::numeric_limits<T>::max();
          }
          marked.assign(data, data + img.size());
          for (int64_t i = 0; i < img.size(); ++i) {
            if (img.mask()[static_cast<size_t>(i)] != 0) marked[static_cast<size_t>(i)] = marker;
          }
          data = marked.data();
        }
        return encode_bitshuffle_lz4(reinterpret_cast<const uint8_t*>(data),
                                     static_cast<size_t>(img.size()) * sizeof(T), sizeof(T));
      },
      frame);
}

uint64_t read_be(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

std::vector<unsigned> bitshuffle_filter_arguments(const std::vector<unsigned>& stored) {
  std::lock_guard<std::mutex> lock(detail::hdf5_mutex());
  return bitshuffle_arguments_locked(stored);
}

struct FrameStackWriter::Impl {
  fs::path target, tmp;
  std::string name;  // target.string(), for messages
  StackWriteOptions options;
  Hid file, lcpl, data, mask;
  PixelType pixel_type = PixelType::kUint8;
  bool stream_uint32 = false;
  int64_t n_slow = 0, n_fast = 0;
  std::vector<std::string> source_paths;
  std::vector<int64_t> source_frames;
  std::optional<DetectorMetadata> metadata;
  bool finished = false;

  bool nxmx() const { return options.layout == StackLayout::kNxmx; }
  const char* data_path() const {
    return nxmx() ? "/entry/data/data" : "/entry_1/instrument_1/detector_1/data";
  }
  std::string own_group() const { return nxmx() ? "/entry/difftriage/" : "/entry_1/difftriage/"; }

  [[noreturn]] void fail(const std::string& what) const {
    throw IoError(concat("cannot write ", name, ": ", what, ": ", detail::hdf5_reason()));
  }

  // Under the HDF5 mutex: a dataset [0.., slow, fast] of `type`, chunked per frame; deflated
  // (CXI) or declaring bitshuffle-LZ4 for `element_size`-byte elements (NXmx frames).
  Hid create_stack(const char* path, hid_t type, int deflate, size_t bitshuffle_element = 0) {
    const hsize_t dims[3] = {0, static_cast<hsize_t>(n_slow), static_cast<hsize_t>(n_fast)};
    const hsize_t max_dims[3] = {H5S_UNLIMITED, dims[1], dims[2]};
    const hsize_t chunk[3] = {1, dims[1], dims[2]};
    Hid space(H5Screate_simple(3, dims, max_dims), H5Sclose);
    Hid dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    // Bitshuffle's cd_values: version 0.3, element size, default block, LZ4 (DECTRIS' values),
    // as a loaded bitshuffle plugin needs them given.
    const std::vector<unsigned> cd =
        bitshuffle_element > 0
            ? bitshuffle_arguments_locked({0, 3, static_cast<unsigned>(bitshuffle_element), 0, 2})
            : std::vector<unsigned>{};
    if (!space.valid() || !dcpl.valid() || H5Pset_chunk(dcpl.get(), 3, chunk) < 0 ||
        H5Pset_obj_track_times(dcpl.get(), false) < 0 ||
        (deflate > 0 && (H5Pset_shuffle(dcpl.get()) < 0 ||
                         H5Pset_deflate(dcpl.get(), static_cast<unsigned>(deflate)) < 0)) ||
        (bitshuffle_element > 0 &&
         H5Pset_filter(dcpl.get(), kBitshuffleFilter, H5Z_FLAG_OPTIONAL, cd.size(), cd.data()) <
             0)) {
      fail(concat("cannot set up dataset ", path));
    }
    Hid dataset(H5Dcreate2(file.get(), path, type, space.get(), lcpl.get(), dcpl.get(),
                           H5P_DEFAULT),
                H5Dclose);
    if (!dataset.valid()) fail(concat("cannot create dataset ", path));
    return dataset;
  }

  // Under the HDF5 mutex: grows `dataset` to `n` frames.
  void extend(hid_t dataset, const char* path, int64_t n) {
    const hsize_t dims[3] = {static_cast<hsize_t>(n), static_cast<hsize_t>(n_slow),
                             static_cast<hsize_t>(n_fast)};
    if (H5Dset_extent(dataset, dims) < 0) fail(concat("cannot extend ", path));
  }

  // Under the HDF5 mutex: grows `dataset` to `n` frames and writes `pixels` as frame n - 1.
  void write_frame(hid_t dataset, const char* path, int64_t n, hid_t memory_type,
                   const void* pixels) {
    extend(dataset, path, n);
    Hid file_space(H5Dget_space(dataset), H5Sclose);
    const hsize_t start[3] = {static_cast<hsize_t>(n - 1), 0, 0};
    const hsize_t count[3] = {1, static_cast<hsize_t>(n_slow), static_cast<hsize_t>(n_fast)};
    Hid memory_space(H5Screate_simple(3, count, nullptr), H5Sclose);
    if (!file_space.valid() || !memory_space.valid() ||
        H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr) <
            0 ||
        H5Dwrite(dataset, memory_type, memory_space.get(), file_space.get(), H5P_DEFAULT,
                 pixels) < 0) {
      fail(concat("cannot write frame ", n - 1, " to ", path));
    }
  }

  // Under the HDF5 mutex: grows the NXmx stack to `n` frames and stores `chunk` (filter output
  // bytes) as frame n - 1, raw.
  void write_chunk(int64_t n, const uint8_t* chunk, size_t n_bytes) {
    extend(data.get(), data_path(), n);
    const hsize_t offset[3] = {static_cast<hsize_t>(n - 1), 0, 0};
    if (H5Dwrite_chunk(data.get(), H5P_DEFAULT, 0, offset, n_bytes, chunk) < 0) {
      fail(concat("cannot write frame ", n - 1, " to ", data_path()));
    }
  }

  // Under the HDF5 mutex: creation properties of a small dataset (no modification times, so
  // that the same frames give the same bytes).
  Hid plain_dcpl() {
    Hid dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    if (!dcpl.valid() || H5Pset_obj_track_times(dcpl.get(), false) < 0) {
      fail("cannot set up dataset properties");
    }
    return dcpl;
  }

  // Under the HDF5 mutex: a fixed-length string attribute on the object at `path`.
  void write_text_attribute(const char* path, const char* attribute, const std::string& value) {
    Hid object(H5Oopen(file.get(), path, H5P_DEFAULT), H5Oclose);
    Hid type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(type.get(), std::max<size_t>(1, value.size()));
    Hid space(H5Screate(H5S_SCALAR), H5Sclose);
    Hid a(H5Acreate2(object.get(), attribute, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
          H5Aclose);
    if (!object.valid() || !a.valid() || H5Awrite(a.get(), type.get(), value.c_str()) < 0) {
      fail(concat("cannot write attribute ", attribute, " of ", path));
    }
  }

  // Under the HDF5 mutex: the groups, created without modification times.
  void create_groups() {
    Hid gcpl(H5Pcreate(H5P_GROUP_CREATE), H5Pclose);
    if (!gcpl.valid() || H5Pset_obj_track_times(gcpl.get(), false) < 0) {
      fail("cannot set up group properties");
    }
    struct Group {
      const char* path;
      const char* nx_class;
    };
    static const Group kCxi[] = {{"/entry_1", nullptr},
                                 {"/entry_1/instrument_1", nullptr},
                                 {"/entry_1/instrument_1/detector_1", nullptr},
                                 {"/entry_1/instrument_1/source_1", nullptr},
                                 {"/entry_1/data_1", nullptr},
                                 {"/entry_1/difftriage", nullptr}};
    static const Group kNxmx[] = {{"/entry", "NXentry"},
                                  {"/entry/data", "NXdata"},
                                  {"/entry/instrument", "NXinstrument"},
                                  {"/entry/instrument/detector", "NXdetector"},
                                  {"/entry/instrument/beam", "NXbeam"},
                                  {"/entry/difftriage", "NXcollection"}};
    const Group* groups = nxmx() ? kNxmx : kCxi;
    for (size_t k = 0; k < 6; ++k) {
      Hid id(H5Gcreate2(file.get(), groups[k].path, H5P_DEFAULT, gcpl.get(), H5P_DEFAULT),
             H5Gclose);
      if (!id.valid()) fail(concat("cannot create group ", groups[k].path));
      if (groups[k].nx_class != nullptr) {
        write_text_attribute(groups[k].path, "NX_class", groups[k].nx_class);
      }
    }
    if (nxmx()) write_text_attribute("/entry", "definition", "NXmx");
  }

  // Under the HDF5 mutex: a scalar float64 dataset with a units attribute.
  void write_scalar(const char* path, double value, const char* units) {
    Hid space(H5Screate(H5S_SCALAR), H5Sclose);
    Hid dataset(H5Dcreate2(file.get(), path, H5T_IEEE_F64LE, space.get(), lcpl.get(),
                           plain_dcpl().get(), H5P_DEFAULT),
                H5Dclose);
    if (!dataset.valid() ||
        H5Dwrite(dataset.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value) < 0) {
      fail(concat("cannot write ", path));
    }
    if (units != nullptr) {
      dataset.reset();
      write_text_attribute(path, "units", units);
    }
  }

  // Under the HDF5 mutex: a scalar variable-length UTF-8 string.
  void write_string(const char* path, const std::string& value) {
    Hid type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(type.get(), H5T_VARIABLE);
    H5Tset_cset(type.get(), H5T_CSET_UTF8);
    Hid space(H5Screate(H5S_SCALAR), H5Sclose);
    Hid dataset(H5Dcreate2(file.get(), path, type.get(), space.get(), lcpl.get(),
                           plain_dcpl().get(), H5P_DEFAULT),
                H5Dclose);
    const char* text = value.c_str();
    if (!dataset.valid() ||
        H5Dwrite(dataset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &text) < 0) {
      fail(concat("cannot write ", path));
    }
  }

  // Under the HDF5 mutex: the NXmx static mask, uint32 [slow, fast], deflated.
  void write_pixel_mask() {
    const hsize_t dims[2] = {static_cast<hsize_t>(n_slow), static_cast<hsize_t>(n_fast)};
    Hid space(H5Screate_simple(2, dims, nullptr), H5Sclose);
    Hid dcpl = plain_dcpl();
    if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) {
      H5Pset_chunk(dcpl.get(), 2, dims);
      H5Pset_deflate(dcpl.get(), 1);
    }
    const char* path = "/entry/instrument/detector/pixel_mask";
    Hid dataset(H5Dcreate2(file.get(), path, H5T_STD_U32LE, space.get(), lcpl.get(), dcpl.get(),
                           H5P_DEFAULT),
                H5Dclose);
    std::vector<uint32_t> values(options.pixel_mask.size());
    for (size_t i = 0; i < values.size(); ++i) values[i] = options.pixel_mask[i] != 0 ? 1u : 0u;
    if (!dataset.valid() || H5Dwrite(dataset.get(), H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL,
                                     H5P_DEFAULT, values.data()) < 0) {
      fail(concat("cannot write ", path));
    }
  }

  // Under the HDF5 mutex: everything but the frames, then close.
  void write_tail() {
    const hsize_t n = source_paths.size();
    const std::string own = own_group();
    {
      Hid type(H5Tcopy(H5T_C_S1), H5Tclose);
      H5Tset_size(type.get(), H5T_VARIABLE);
      H5Tset_cset(type.get(), H5T_CSET_UTF8);
      Hid space(H5Screate_simple(1, &n, nullptr), H5Sclose);
      const std::string path = own + "source_path";
      Hid dataset(H5Dcreate2(file.get(), path.c_str(), type.get(), space.get(), lcpl.get(),
                             plain_dcpl().get(), H5P_DEFAULT),
                  H5Dclose);
      std::vector<const char*> texts;
      for (const std::string& p : source_paths) texts.push_back(p.c_str());
      if (!dataset.valid() ||
          H5Dwrite(dataset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, texts.data()) < 0) {
        fail(concat("cannot write ", path));
      }
    }
    {
      Hid space(H5Screate_simple(1, &n, nullptr), H5Sclose);
      const std::string path = own + "source_frame";
      Hid dataset(H5Dcreate2(file.get(), path.c_str(), H5T_STD_I64LE, space.get(), lcpl.get(),
                             plain_dcpl().get(), H5P_DEFAULT),
                  H5Dclose);
      if (!dataset.valid() || H5Dwrite(dataset.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL,
                                       H5P_DEFAULT, source_frames.data()) < 0) {
        fail(concat("cannot write ", path));
      }
    }
    if (mask.valid()) {
      // Frames after the last masked one: grow the mask to N (unwritten chunks read as 0).
      const hsize_t dims[3] = {n, static_cast<hsize_t>(n_slow), static_cast<hsize_t>(n_fast)};
      if (H5Dset_extent(mask.get(), dims) < 0) fail("cannot extend the mask");
    }
    const DetectorMetadata md = metadata.value_or(DetectorMetadata{});
    if (nxmx()) {
      write_nxmx_metadata(md);
    } else {
      write_cxi_metadata(md);
    }
    mask.reset();
    data.reset();
    lcpl.reset();
    if (H5Fflush(file.get(), H5F_SCOPE_GLOBAL) < 0) fail("cannot flush");
    if (H5Fclose(file.release()) < 0) fail("cannot close");  // closed here to see a failure
  }

  void write_cxi_metadata(const DetectorMetadata& md) {
    {
      Hid space(H5Screate(H5S_SCALAR), H5Sclose);
      Hid dataset(H5Dcreate2(file.get(), "/cxi_version", H5T_STD_I32LE, space.get(), H5P_DEFAULT,
                             plain_dcpl().get(), H5P_DEFAULT),
                  H5Dclose);
      const int32_t version = 150;
      if (!dataset.valid() || H5Dwrite(dataset.get(), H5T_NATIVE_INT32, H5S_ALL, H5S_ALL,
                                       H5P_DEFAULT, &version) < 0) {
        fail("cannot write /cxi_version");
      }
    }
    const std::string det = "/entry_1/instrument_1/detector_1/";
    if (md.distance_mm) write_scalar((det + "distance").c_str(), *md.distance_mm / 1000, "m");
    if (md.pixel_size_mm) {
      write_scalar((det + "x_pixel_size").c_str(), *md.pixel_size_mm / 1000, "m");
      write_scalar((det + "y_pixel_size").c_str(), *md.pixel_size_mm / 1000, "m");
    }
    if (md.wavelength_angstrom && *md.wavelength_angstrom > 0) {
      write_scalar("/entry_1/instrument_1/source_1/energy",
                   kHcJouleMetre / (*md.wavelength_angstrom * 1e-10), "J");
    }
    const std::string own = own_group();
    if (md.beam_center_fast_px) {
      write_scalar((own + "beam_center_fast_px").c_str(), *md.beam_center_fast_px, "pixel");
    }
    if (md.beam_center_slow_px) {
      write_scalar((own + "beam_center_slow_px").c_str(), *md.beam_center_slow_px, "pixel");
    }
    if (md.exposure_s) write_scalar((own + "exposure_s").c_str(), *md.exposure_s, "s");
    if (md.saturation_value) {
      write_scalar((own + "saturation_value").c_str(), *md.saturation_value, nullptr);
    }
    if (!md.detector.empty()) write_string((own + "detector").c_str(), md.detector);
  }

  void write_nxmx_metadata(const DetectorMetadata& md) {
    write_text_attribute("/entry/data", "signal", "data");
    const std::string det = "/entry/instrument/detector/";
    if (md.beam_center_fast_px) {
      write_scalar((det + "beam_center_x").c_str(), *md.beam_center_fast_px, "pixel");
    }
    if (md.beam_center_slow_px) {
      write_scalar((det + "beam_center_y").c_str(), *md.beam_center_slow_px, "pixel");
    }
    if (md.distance_mm) {
      write_scalar((det + "detector_distance").c_str(), *md.distance_mm / 1000, "m");
    }
    if (md.pixel_size_mm) {
      write_scalar((det + "x_pixel_size").c_str(), *md.pixel_size_mm / 1000, "m");
      write_scalar((det + "y_pixel_size").c_str(), *md.pixel_size_mm / 1000, "m");
    }
    if (md.exposure_s) write_scalar((det + "count_time").c_str(), *md.exposure_s, "s");
    if (md.saturation_value) {
      write_scalar((det + "saturation_value").c_str(), *md.saturation_value, nullptr);
    }
    if (!md.detector.empty()) write_string((det + "description").c_str(), md.detector);
    if (md.wavelength_angstrom) {
      write_scalar("/entry/instrument/beam/incident_wavelength", *md.wavelength_angstrom,
                   "angstrom");
    }
    if (!options.pixel_mask.empty()) write_pixel_mask();
  }

  // Under the HDF5 mutex (or with no file open): closes and removes the temporary file.
  void discard() noexcept {
    mask.reset();
    data.reset();
    lcpl.reset();
    file.reset();
    std::error_code ignored;
    if (!tmp.empty()) fs::remove(tmp, ignored);
  }

  // The checks of both appends; under no lock. Returns the frame's index.
  int64_t check_append(const std::string& which, int64_t slow, int64_t fast, PixelType type,
                       const FrameSource& source) {
    const int64_t index = static_cast<int64_t>(source_paths.size());
    DT_CHECK(!finished, ConfigError, "cannot append ", which, " to ", name,
             ": the stack is already finished");
    DT_CHECK(source.frame >= 0, ConfigError, "cannot append ", which, " to ", name,
             ": negative source frame");
    DT_CHECK(slow > 0 && fast > 0, ConfigError, "cannot append ", which, " to ", name,
             ": the frame is empty");
    if (index > 0) {
      DT_CHECK(slow == n_slow && fast == n_fast && type == pixel_type, ConfigError,
               "cannot append ", which, " to ", name, ": it is ", fast, " x ", slow, " ",
               pixel_type_name(type), " (fast x slow), the stack holds ", n_fast, " x ", n_slow,
               " ", pixel_type_name(pixel_type), " frames");
    } else if (nxmx() && !options.pixel_mask.empty()) {
      DT_CHECK(options.pixel_mask.size() == static_cast<size_t>(slow * fast), ConfigError,
               "cannot append ", which, " to ", name, ": it is ", fast, " x ", slow,
               " (fast x slow), the pixel mask has ", options.pixel_mask.size(), " pixels");
    }
    return index;
  }

  // Under the HDF5 mutex: the first frame fixes the stack.
  void start(int64_t slow, int64_t fast, PixelType type, bool as_uint32) {
    n_slow = slow;
    n_fast = fast;
    pixel_type = type;
    stream_uint32 = as_uint32;
    if (nxmx()) {
      data = create_stack(data_path(), file_type_of(type, as_uint32), 0, pixel_bytes(type));
    } else {
      data = create_stack(data_path(), file_type_of(type), options.deflate_level);
      if (H5Lcreate_soft(data_path(), file.get(), "/entry_1/data_1/data", lcpl.get(),
                         H5P_DEFAULT) < 0) {
        fail("cannot link /entry_1/data_1/data");
      }
    }
  }
};

FrameStackWriter::FrameStackWriter(const fs::path& path, const StackWriteOptions& options)
    : impl_(std::make_unique<Impl>()) {
  DT_CHECK(options.deflate_level >= 0 && options.deflate_level <= 9, ConfigError,
           "StackWriteOptions::deflate_level must be 0..9, got ", options.deflate_level,
           " (writing ", path.string(), ")");
  impl_->target = path;
  impl_->name = path.string();
  impl_->tmp = temporary_beside(path);
  impl_->options = options;
  impl_->metadata = options.metadata;
  std::lock_guard<std::mutex> lock(detail::hdf5_mutex());
  detail::QuietErrors quiet;
  if (options.layout == StackLayout::kCxi && options.deflate_level > 0 &&
      H5Zfilter_avail(H5Z_FILTER_DEFLATE) <= 0) {
    throw ConfigError(concat("cannot write ", impl_->name,
                             " with deflate: this libhdf5 was built without zlib"));
  }
  // The HDF5 1.8 file format (superblock v2, object headers v2): every metadata block carries a
  // checksum, so a damaged file is refused by libhdf5 instead of decoded; readable by any
  // HDF5 >= 1.8 (CrystFEL, Cheetah tools, h5py, DIALS).
  // The root group without modification times, as every other object: the same frames give the
  // same bytes (its object header would otherwise carry the second it was written in).
  Hid fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  Hid fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
  if (!fapl.valid() || !fcpl.valid() ||
      H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V18, H5F_LIBVER_V18) < 0 ||
      H5Pset_obj_track_times(fcpl.get(), false) < 0) {
    throw IoError(concat("cannot create ", impl_->name, ": ", detail::hdf5_reason()));
  }
  impl_->file = Hid(H5Fcreate(impl_->tmp.string().c_str(), H5F_ACC_EXCL, fcpl.get(), fapl.get()),
                    H5Fclose);
  if (!impl_->file.valid()) {
    throw IoError(concat("cannot create ", impl_->name, " (temporary ", impl_->tmp.string(),
                         "): ", detail::hdf5_reason()));
  }
  impl_->lcpl = Hid(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  if (!impl_->lcpl.valid() || H5Pset_create_intermediate_group(impl_->lcpl.get(), 1) < 0) {
    impl_->discard();
    throw IoError(concat("cannot create ", impl_->name, ": ", detail::hdf5_reason()));
  }
  try {
    impl_->create_groups();
  } catch (...) {
    impl_->discard();
    throw;
  }
}

FrameStackWriter::~FrameStackWriter() {
  if (!impl_ || impl_->finished) return;
  try {
    std::lock_guard<std::mutex> lock(detail::hdf5_mutex());
    detail::QuietErrors quiet;
    impl_->discard();
  } catch (...) {
    // The mutex could not be taken (system error): leave HDF5 alone, remove the file.
    std::error_code ignored;
    fs::remove(impl_->tmp, ignored);
  }
}

FrameStackWriter::FrameStackWriter(FrameStackWriter&&) noexcept = default;
FrameStackWriter& FrameStackWriter::operator=(FrameStackWriter&& other) noexcept {
  if (this != &other) {
    FrameStackWriter discarded(std::move(*this));  // removes our unfinished file, if any
    impl_ = std::move(other.impl_);
  }
  return *this;
}

void FrameStackWriter::append(const AnyImage& frame, const FrameSource& source) {
  DT_CHECK(impl_ != nullptr, ConfigError, "FrameStackWriter::append on a moved-from writer");
  Impl& w = *impl_;
  const std::string which = concat("frame ", w.source_paths.size(), " (",
                                   source.path.string(), " //", source.frame, ")");
  const auto [n_slow, n_fast] = extents(frame);
  const PixelType type = pixel_type(frame);
  const int64_t index = w.check_append(which, n_slow, n_fast, type, source);
  DT_CHECK(!(w.nxmx() && index > 0 && w.stream_uint32), ConfigError, "cannot append ", which,
           " to ", w.name, ": the stack holds a stream's uint32 chunks");
  if (w.nxmx()) {
    const std::vector<uint8_t> chunk = nxmx_chunk(frame);  // CPU work outside the mutex
    std::lock_guard<std::mutex> lock(detail::hdf5_mutex());
    detail::QuietErrors quiet;
    if (index == 0) {
      w.start(n_slow, n_fast, type, false);
      if (!w.metadata) w.metadata = metadata(frame);
    }
    w.write_chunk(index + 1, chunk.data(), chunk.size());
  } else {
    // Non-zero (masked) becomes CXI's mask bit 1, "invalid", which the reader masks.
    const std::vector<uint8_t>& mask = mask_of(frame);
    std::vector<uint8_t> bits(mask.size());
    for (size_t i = 0; i < mask.size(); ++i) bits[i] = mask[i] != 0 ? 1 : 0;
    std::lock_guard<std::mutex> lock(detail::hdf5_mutex());
    detail::QuietErrors quiet;
    if (index == 0) {
      w.start(n_slow, n_fast, type, false);
      if (!w.metadata) w.metadata = metadata(frame);
    }
    w.write_frame(w.data.get(), w.data_path(), index + 1, memory_type_of(type), pixel_data(frame));
    if (!mask.empty()) {
      // Masks compress to almost nothing: always deflated (level 1 when frames are not).
      const char* mask_path = "/entry_1/instrument_1/detector_1/mask";
      if (!w.mask.valid()) {
        w.mask = w.create_stack(mask_path, H5T_STD_U8LE,
                                w.options.deflate_level > 0 ? w.options.deflate_level : 1);
      }
      w.write_frame(w.mask.get(), mask_path, index + 1, H5T_NATIVE_UINT8, bits.data());
    }
  }
  w.source_paths.push_back(source.path.string());
  w.source_frames.push_back(source.frame);
}

void FrameStackWriter::append_bslz4(const uint8_t* chunk, size_t n_bytes, PixelType type,
                                    int64_t n_slow, int64_t n_fast, const FrameSource& source) {
  DT_CHECK(impl_ != nullptr, ConfigError, "FrameStackWriter::append_bslz4 on a moved-from writer");
  Impl& w = *impl_;
  const std::string which = concat("frame ", w.source_paths.size(), " (",
                                   source.path.string(), " //", source.frame, ")");
  DT_CHECK(w.nxmx(), ConfigError, "cannot append ", which, " to ", w.name,
           " as a bitshuffle-LZ4 chunk: only the NXmx layout stores chunks as they are");
  const int64_t index = w.check_append(which, n_slow, n_fast, type, source);
  DT_CHECK(index == 0 || w.stream_uint32 == (type == PixelType::kInt32), ConfigError,
           "cannot append ", which, " to ", w.name, ": the stack holds int32 frames");
  const uint64_t n_plain = static_cast<uint64_t>(n_slow * n_fast) * pixel_bytes(type);
  DT_CHECK(n_bytes >= 12 && read_be(chunk, 8) == n_plain, ConfigError, "cannot append ", which,
           " to ", w.name, ": its bitshuffle-LZ4 header does not give the ", n_plain,
           " bytes of ", n_fast, " x ", n_slow, " ", pixel_type_name(type), " pixels");
  std::lock_guard<std::mutex> lock(detail::hdf5_mutex());
  detail::QuietErrors quiet;
  if (index == 0) w.start(n_slow, n_fast, type, type == PixelType::kInt32);
  w.write_chunk(index + 1, chunk, n_bytes);
  w.source_paths.push_back(source.path.string());
  w.source_frames.push_back(source.frame);
}

void FrameStackWriter::finish() {
  DT_CHECK(impl_ != nullptr, ConfigError, "FrameStackWriter::finish on a moved-from writer");
  Impl& w = *impl_;
  DT_CHECK(!w.finished, ConfigError, "cannot finish ", w.name, ": already finished");
  DT_CHECK(!w.source_paths.empty(), ConfigError, "cannot finish ", w.name,
           ": no frame was appended (a stack needs at least one)");
  {
    std::lock_guard<std::mutex> lock(detail::hdf5_mutex());
    detail::QuietErrors quiet;
    try {
      w.write_tail();
    } catch (...) {
      w.discard();
      w.finished = true;  // nothing left to clean up
      throw;
    }
  }
  w.finished = true;
  std::error_code ec;
  fs::rename(w.tmp, w.target, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(w.tmp, ignored);
    throw IoError(concat("cannot write ", w.name, ": ", ec.message()));
  }
}

int64_t FrameStackWriter::n_frames() const noexcept {
  return impl_ ? static_cast<int64_t>(impl_->source_paths.size()) : 0;
}

const fs::path& FrameStackWriter::path() const noexcept {
  static const fs::path kNone;
  return impl_ ? impl_->target : kNone;
}

}  // namespace difftriage::io
