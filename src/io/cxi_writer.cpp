// CXI stack writer and CrystFEL event lists (include/difftriage/io/cxi_writer.h).
//
// The stack is an extendible [N, slow, fast] dataset, one frame per chunk (the access pattern of
// every reader: one frame at a time), grown by one frame per append. Metadata go where
// the CXI reader looks (read_cxi_metadata, hdf5_cxi_layout.cpp), so that what we write reads
// back the same.
// All libhdf5 calls run under the io module's HDF5 mutex (hdf5_support.h).
#include "difftriage/io/cxi_writer.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <sstream>
#include <system_error>
#include <utility>

#include "difftriage/core/atomic_file.h"
#include "difftriage/core/error.h"
#include "hdf5_support.h"

namespace difftriage::io {
namespace {

namespace fs = std::filesystem;
using ::difftriage::detail::concat;
using detail::Hid;

// h c in SI units (exact since 2019): E [J] = hc / λ [m].
constexpr double kHcJouleMetre = 6.62607015e-34 * 299792458.0;

fs::path temporary_beside(const fs::path& target) {
  static std::atomic<unsigned> counter{0};
  std::ostringstream name;
  name << "." << target.filename().string() << ".tmp-" << ::getpid() << "-" << counter++;
  return target.parent_path() / name.str();
}

hid_t file_type_of(PixelType type) {
  switch (type) {
    case PixelType::kUint8: return H5T_STD_U8LE;
    case PixelType::kUint16: return H5T_STD_U16LE;
    case PixelType::kInt32: return H5T_STD_I32LE;
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

const void* pixel_data(const AnyImage& image) {
  return std::visit([](const auto& img) -> const void* { return img.data(); }, image);
}

const std::vector<uint8_t>& mask_of(const AnyImage& image) {
  return std::visit([](const auto& img) -> const std::vector<uint8_t>& { return img.mask(); },
                    image);
}

}  // namespace

struct CxiStackWriter::Impl {
  fs::path target, tmp;
  std::string name;  // target.string(), for messages
  CxiWriteOptions options;
  Hid file, lcpl, data, mask;
  PixelType pixel_type = PixelType::kUint8;
  int64_t n_slow = 0, n_fast = 0;
  std::vector<std::string> source_paths;
  std::vector<int64_t> source_frames;
  std::optional<DetectorMetadata> metadata;
  bool finished = false;

  [[noreturn]] void fail(const std::string& what) const {
    throw IoError(concat("cannot write ", name, ": ", what, ": ", detail::hdf5_reason()));
  }

  // Under the HDF5 mutex: a dataset [0.., slow, fast] of `type`, chunked per frame.
  Hid create_stack(const char* path, hid_t type, int deflate) {
    const hsize_t dims[3] = {0, static_cast<hsize_t>(n_slow), static_cast<hsize_t>(n_fast)};
    const hsize_t max_dims[3] = {H5S_UNLIMITED, dims[1], dims[2]};
    const hsize_t chunk[3] = {1, dims[1], dims[2]};
    Hid space(H5Screate_simple(3, dims, max_dims), H5Sclose);
    Hid dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    if (!space.valid() || !dcpl.valid() || H5Pset_chunk(dcpl.get(), 3, chunk) < 0 ||
        H5Pset_obj_track_times(dcpl.get(), false) < 0 ||
        (deflate > 0 && (H5Pset_shuffle(dcpl.get()) < 0 ||
                         H5Pset_deflate(dcpl.get(), static_cast<unsigned>(deflate)) < 0))) {
      fail(concat("cannot set up dataset ", path));
    }
    Hid dataset(H5Dcreate2(file.get(), path, type, space.get(), lcpl.get(), dcpl.get(),
                           H5P_DEFAULT),
                H5Dclose);
    if (!dataset.valid()) fail(concat("cannot create dataset ", path));
    return dataset;
  }

  // Under the HDF5 mutex: grows `dataset` to `n` frames and writes `pixels` as frame n - 1.
  void write_frame(hid_t dataset, const char* path, int64_t n, hid_t memory_type,
                   const void* pixels) {
    const hsize_t dims[3] = {static_cast<hsize_t>(n), static_cast<hsize_t>(n_slow),
                             static_cast<hsize_t>(n_fast)};
    if (H5Dset_extent(dataset, dims) < 0) fail(concat("cannot extend ", path));
    Hid file_space(H5Dget_space(dataset), H5Sclose);
    const hsize_t start[3] = {static_cast<hsize_t>(n - 1), 0, 0};
    const hsize_t count[3] = {1, dims[1], dims[2]};
    Hid memory_space(H5Screate_simple(3, count, nullptr), H5Sclose);
    if (!file_space.valid() || !memory_space.valid() ||
        H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr) <
            0 ||
        H5Dwrite(dataset, memory_type, memory_space.get(), file_space.get(), H5P_DEFAULT,
                 pixels) < 0) {
      fail(concat("cannot write frame ", n - 1, " to ", path));
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

  // Under the HDF5 mutex: the groups, created without modification times.
  void create_groups() {
    Hid gcpl(H5Pcreate(H5P_GROUP_CREATE), H5Pclose);
    if (!gcpl.valid() || H5Pset_obj_track_times(gcpl.get(), false) < 0) {
      fail("cannot set up group properties");
    }
    for (const char* group : {"/entry_1", "/entry_1/instrument_1", "/entry_1/instrument_1/detector_1",
                              "/entry_1/instrument_1/source_1", "/entry_1/data_1",
                              "/entry_1/difftriage"}) {
      Hid id(H5Gcreate2(file.get(), group, H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), H5Gclose);
      if (!id.valid()) fail(concat("cannot create group ", group));
    }
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
    if (units == nullptr) return;
    Hid type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(type.get(), std::strlen(units));
    Hid attribute(H5Acreate2(dataset.get(), "units", type.get(), space.get(), H5P_DEFAULT,
                             H5P_DEFAULT),
                  H5Aclose);
    if (!attribute.valid() || H5Awrite(attribute.get(), type.get(), units) < 0) {
      fail(concat("cannot write the units of ", path));
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

  // Under the HDF5 mutex: everything but the frames, then close.
  void write_tail() {
    const hsize_t n = source_paths.size();
    {
      Hid type(H5Tcopy(H5T_C_S1), H5Tclose);
      H5Tset_size(type.get(), H5T_VARIABLE);
      H5Tset_cset(type.get(), H5T_CSET_UTF8);
      Hid space(H5Screate_simple(1, &n, nullptr), H5Sclose);
      Hid dataset(H5Dcreate2(file.get(), "/entry_1/difftriage/source_path", type.get(),
                             space.get(), lcpl.get(), plain_dcpl().get(), H5P_DEFAULT),
                  H5Dclose);
      std::vector<const char*> texts;
      for (const std::string& path : source_paths) texts.push_back(path.c_str());
      if (!dataset.valid() ||
          H5Dwrite(dataset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, texts.data()) < 0) {
        fail("cannot write /entry_1/difftriage/source_path");
      }
    }
    {
      Hid space(H5Screate_simple(1, &n, nullptr), H5Sclose);
      Hid dataset(H5Dcreate2(file.get(), "/entry_1/difftriage/source_frame", H5T_STD_I64LE,
                             space.get(), lcpl.get(), plain_dcpl().get(), H5P_DEFAULT),
                  H5Dclose);
      if (!dataset.valid() || H5Dwrite(dataset.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL,
                                       H5P_DEFAULT, source_frames.data()) < 0) {
        fail("cannot write /entry_1/difftriage/source_frame");
      }
    }
    if (mask.valid()) {
      // Frames after the last masked one: grow the mask to N (unwritten chunks read as 0).
      const hsize_t dims[3] = {n, static_cast<hsize_t>(n_slow), static_cast<hsize_t>(n_fast)};
      if (H5Dset_extent(mask.get(), dims) < 0) fail("cannot extend the mask");
    }
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
    const DetectorMetadata md = metadata.value_or(DetectorMetadata{});
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
    const std::string own = "/entry_1/difftriage/";
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
    mask.reset();
    data.reset();
    lcpl.reset();
    if (H5Fflush(file.get(), H5F_SCOPE_GLOBAL) < 0) fail("cannot flush");
    if (H5Fclose(file.release()) < 0) fail("cannot close");  // closed here to see a failure
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
};

CxiStackWriter::CxiStackWriter(const fs::path& path, const CxiWriteOptions& options)
    : impl_(std::make_unique<Impl>()) {
  DT_CHECK(options.deflate_level >= 0 && options.deflate_level <= 9, ConfigError,
           "CxiWriteOptions::deflate_level must be 0..9, got ", options.deflate_level,
           " (writing ", path.string(), ")");
  impl_->target = path;
  impl_->name = path.string();
  impl_->tmp = temporary_beside(path);
  impl_->options = options;
  impl_->metadata = options.metadata;
  std::lock_guard<std::mutex> lock(detail::hdf5_mutex());
  detail::QuietErrors quiet;
  if (options.deflate_level > 0 && H5Zfilter_avail(H5Z_FILTER_DEFLATE) <= 0) {
    throw ConfigError(concat("cannot write ", impl_->name,
                             " with deflate: this libhdf5 was built without zlib"));
  }
  // The HDF5 1.8 file format (superblock v2, object headers v2): every metadata block carries a
  // checksum, so a damaged file is refused by libhdf5 instead of decoded; readable by any
  // HDF5 >= 1.8 (CrystFEL, Cheetah tools, h5py).
  Hid fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (!fapl.valid() || H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V18, H5F_LIBVER_V18) < 0) {
    throw IoError(concat("cannot create ", impl_->name, ": ", detail::hdf5_reason()));
  }
  impl_->file =
      Hid(H5Fcreate(impl_->tmp.string().c_str(), H5F_ACC_EXCL, H5P_DEFAULT, fapl.get()), H5Fclose);
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

CxiStackWriter::~CxiStackWriter() {
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

CxiStackWriter::CxiStackWriter(CxiStackWriter&&) noexcept = default;
CxiStackWriter& CxiStackWriter::operator=(CxiStackWriter&& other) noexcept {
  if (this != &other) {
    CxiStackWriter discarded(std::move(*this));  // removes our unfinished file, if any
    impl_ = std::move(other.impl_);
  }
  return *this;
}

void CxiStackWriter::append(const AnyImage& frame, const FrameSource& source) {
  DT_CHECK(impl_ != nullptr, ConfigError, "CxiStackWriter::append on a moved-from writer");
  Impl& w = *impl_;
  const int64_t index = static_cast<int64_t>(w.source_paths.size());
  const std::string which =
      concat("frame ", index, " (", source.path.string(), " //", source.frame, ")");
  DT_CHECK(!w.finished, ConfigError, "cannot append ", which, " to ", w.name,
           ": the stack is already finished");
  DT_CHECK(source.frame >= 0, ConfigError, "cannot append ", which, " to ", w.name,
           ": negative source frame");
  const auto [n_slow, n_fast] = extents(frame);
  const PixelType type = pixel_type(frame);
  DT_CHECK(n_slow > 0 && n_fast > 0, ConfigError, "cannot append ", which, " to ", w.name,
           ": the frame is empty");
  if (index > 0) {
    DT_CHECK(n_slow == w.n_slow && n_fast == w.n_fast && type == w.pixel_type, ConfigError,
             "cannot append ", which, " to ", w.name, ": it is ", n_fast, " x ", n_slow, " ",
             pixel_type_name(type), " (fast x slow), the stack holds ", w.n_fast, " x ", w.n_slow,
             " ", pixel_type_name(w.pixel_type), " frames");
  }
  // Non-zero (masked) becomes CXI's mask bit 1, "invalid", which the reader masks.
  const std::vector<uint8_t>& mask = mask_of(frame);
  std::vector<uint8_t> bits(mask.size());
  for (size_t i = 0; i < mask.size(); ++i) bits[i] = mask[i] != 0 ? 1 : 0;
  std::lock_guard<std::mutex> lock(detail::hdf5_mutex());
  detail::QuietErrors quiet;
  if (index == 0) {
    w.n_slow = n_slow;
    w.n_fast = n_fast;
    w.pixel_type = type;
    w.data = w.create_stack("/entry_1/instrument_1/detector_1/data", file_type_of(type),
                            w.options.deflate_level);
    if (H5Lcreate_soft("/entry_1/instrument_1/detector_1/data", w.file.get(),
                       "/entry_1/data_1/data", w.lcpl.get(), H5P_DEFAULT) < 0) {
      w.fail("cannot link /entry_1/data_1/data");
    }
    if (!w.metadata) w.metadata = metadata(frame);
  }
  w.write_frame(w.data.get(), "/entry_1/instrument_1/detector_1/data", index + 1,
                memory_type_of(type), pixel_data(frame));
  if (!mask.empty()) {
    // Masks compress to almost nothing: always deflated (level 1 when frames are not).
    if (!w.mask.valid()) {
      w.mask = w.create_stack("/entry_1/instrument_1/detector_1/mask", H5T_STD_U8LE,
                              w.options.deflate_level > 0 ? w.options.deflate_level : 1);
    }
    w.write_frame(w.mask.get(), "/entry_1/instrument_1/detector_1/mask", index + 1,
                  H5T_NATIVE_UINT8, bits.data());
  }
  w.source_paths.push_back(source.path.string());
  w.source_frames.push_back(source.frame);
}

void CxiStackWriter::finish() {
  DT_CHECK(impl_ != nullptr, ConfigError, "CxiStackWriter::finish on a moved-from writer");
  Impl& w = *impl_;
  DT_CHECK(!w.finished, ConfigError, "cannot finish ", w.name, ": already finished");
  DT_CHECK(!w.source_paths.empty(), ConfigError, "cannot finish ", w.name,
           ": no frame was appended (a CXI stack needs at least one)");
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

int64_t CxiStackWriter::n_frames() const noexcept {
  return impl_ ? static_cast<int64_t>(impl_->source_paths.size()) : 0;
}

const fs::path& CxiStackWriter::path() const noexcept {
  static const fs::path kNone;
  return impl_ ? impl_->target : kNone;
}

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
