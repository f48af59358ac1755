#include "synthetic/eiger_series.h"

#include <hdf5.h>

#include <cstdio>
#include <random>

#include "difftriage/core/error.h"
#include "difftriage/io/stack_writer.h"
#include "synthetic/bslz4_encoder.h"

namespace difftriage::io::testing {
namespace {

// The default chunk: eiger_test_frame as uint16 LE bytes, bitshuffle/LZ4 in 1024-element blocks.
std::vector<uint8_t> encode_test_frame(int frame, int64_t n_slow, int64_t n_fast) {
  const Image<uint16_t> image = eiger_test_frame(frame, n_slow, n_fast);
  std::vector<uint8_t> plain(static_cast<size_t>(image.size()) * 2);
  for (int64_t i = 0; i < image.size(); ++i) {
    plain[2 * i] = static_cast<uint8_t>(image.data()[i] & 0xFF);
    plain[2 * i + 1] = static_cast<uint8_t>(image.data()[i] >> 8);
  }
  return encode_bslz4(plain, 2, 1024);
}

hid_t create_file(const std::filesystem::path& path) {
  const hid_t file = H5Fcreate(path.string().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  DT_CHECK(file >= 0, IoError, path.string(), ": cannot create the HDF5 file");
  return file;
}

// "_data_00000K.h5", the data-file suffix DECTRIS uses (K from 1).
std::string data_file_suffix(int k) {
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, "_data_%06d.h5", k);
  return suffix;
}

// Data file k: /entry/data/data with frames first_frame .. first_frame + n_frames_per_file - 1.
void write_data_file(const std::filesystem::path& path, const EigerSeriesOptions& options,
                     int first_frame) {
  const hid_t file = create_file(path);
  const hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  const hsize_t dims[3] = {static_cast<hsize_t>(options.n_frames_per_file),
                           static_cast<hsize_t>(options.n_slow),
                           static_cast<hsize_t>(options.n_fast)};
  const hsize_t chunk[3] = {1, dims[1], dims[2]};
  const hid_t space = H5Screate_simple(3, dims, nullptr);
  const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 3, chunk);
  const std::vector<unsigned> cd = io::bitshuffle_filter_arguments({0, 3, 2, 0, 2});
  H5Pset_filter(dcpl, 32008, H5Z_FLAG_OPTIONAL, cd.size(), cd.data());
  const hid_t dset =
      H5Dcreate2(file, "/entry/data/data", H5T_STD_U16LE, space, lcpl, dcpl, H5P_DEFAULT);
  for (int f = 0; f < options.n_frames_per_file; ++f) {
    const int frame = first_frame + f;
    const std::vector<uint8_t> packed =
        options.chunk_of_frame ? options.chunk_of_frame(frame)
                               : encode_test_frame(frame, options.n_slow, options.n_fast);
    const hsize_t offset[3] = {static_cast<hsize_t>(f), 0, 0};
    H5Dwrite_chunk(dset, H5P_DEFAULT, 0, offset, packed.size(), packed.data());
  }
  H5Dclose(dset);
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Pclose(lcpl);
  H5Fclose(file);
}

// A scalar float64 dataset with a "units" attribute unless `scalar.units` is empty.
void write_scalar(hid_t file, hid_t lcpl, const NexusScalar& scalar) {
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t dset =
      H5Dcreate2(file, scalar.path.c_str(), H5T_IEEE_F64LE, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(dset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &scalar.value);
  if (!scalar.units.empty()) {
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, scalar.units.size());
    const hid_t attr = H5Acreate2(dset, "units", type, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(attr, type, scalar.units.c_str());
    H5Aclose(attr);
    H5Tclose(type);
  }
  H5Dclose(dset);
  H5Sclose(space);
}

void write_master(const std::filesystem::path& path, const EigerSeriesOptions& options) {
  const hid_t file = create_file(path);
  const hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  for (int k = 1; k <= options.n_files; ++k) {
    char link[64];
    std::snprintf(link, sizeof link, "/entry/data/data_%06d", k);
    H5Lcreate_external((options.prefix + data_file_suffix(k)).c_str(), "/entry/data/data", file,
                       link, lcpl, H5P_DEFAULT);
  }
  for (const NexusScalar& scalar : options.metadata) write_scalar(file, lcpl, scalar);
  const hsize_t mask_dims[2] = {static_cast<hsize_t>(options.n_slow),
                                static_cast<hsize_t>(options.n_fast)};
  std::vector<uint32_t> mask(static_cast<size_t>(options.n_slow * options.n_fast), 0);
  for (const auto& [pixel, bits] : options.flagged_pixels) mask[pixel] = bits;
  const hid_t mspace = H5Screate_simple(2, mask_dims, nullptr);
  const hid_t mset = H5Dcreate2(file, "/entry/instrument/detector/pixel_mask", H5T_STD_U32LE,
                                mspace, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(mset, H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, mask.data());
  H5Dclose(mset);
  H5Sclose(mspace);
  H5Pclose(lcpl);
  H5Fclose(file);
}

}  // namespace

Image<uint16_t> eiger_test_frame(int frame, int64_t n_slow, int64_t n_fast) {
  Image<uint16_t> image(n_slow, n_fast);
  std::mt19937 rng(static_cast<uint32_t>(7000 + frame));
  std::uniform_int_distribution<int> count(0, 60);
  for (auto& p : image.pixels()) p = static_cast<uint16_t>(count(rng) + 100 * frame);
  image.pixels()[static_cast<size_t>(1 + frame % 7)] = 0xFFFF;
  return image;
}

std::filesystem::path write_eiger_series(const std::filesystem::path& dir,
                                         const EigerSeriesOptions& options) {
  DT_CHECK(options.n_files > 0 && options.n_frames_per_file > 0, ConfigError,
           "write_eiger_series: n_files and n_frames_per_file must be > 0, got ", options.n_files,
           " and ", options.n_frames_per_file);
  DT_CHECK(options.n_slow > 0 && options.n_fast > 0, ConfigError,
           "write_eiger_series: n_slow and n_fast must be > 0, got ", options.n_slow, " and ",
           options.n_fast);
  const auto n_pixels = static_cast<size_t>(options.n_slow * options.n_fast);
  for (const auto& [pixel, bits] : options.flagged_pixels) {
    DT_CHECK(pixel < n_pixels, ConfigError, "write_eiger_series: flagged pixel ", pixel,
             " is outside the ", options.n_slow, " x ", options.n_fast, " frame");
  }
  for (int k = 1; k <= options.n_files; ++k) {
    write_data_file(dir / (options.prefix + data_file_suffix(k)), options,
                    (k - 1) * options.n_frames_per_file);
  }
  const std::filesystem::path master = dir / (options.prefix + "_master.h5");
  write_master(master, options);
  return master;
}

std::filesystem::path write_eiger_series(const std::filesystem::path& dir,
                                         const std::string& prefix, int n_files,
                                         int frames_per_file, int64_t n_slow, int64_t n_fast) {
  EigerSeriesOptions options;
  options.prefix = prefix;
  options.n_files = n_files;
  options.n_frames_per_file = frames_per_file;
  options.n_slow = n_slow;
  options.n_fast = n_fast;
  return write_eiger_series(dir, options);
}

}  // namespace difftriage::io::testing
