// Deterministic fuzzing: truncated and bit-flipped files must decode or throw difftriage::Error,
// never crash, hang, throw anything else or allocate absurd amounts of memory.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <iostream>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "difftriage/io/cxi_writer.h"
#include "difftriage/io/image_io.h"
#include "io_test_support.h"
#include "support/test_support.h"

namespace difftriage::io {
namespace {

using difftriage::testing::read_bytes;
using difftriage::testing::shared_fixtures_dir;
using difftriage::testing::TempDir;

struct Outcomes {
  int n_decoded = 0;
  int n_rejected = 0;
};

// The readers' own parsing, in this process: HDF5 not first checked in a child process. These
// trials are about the code that runs after that check (and every format's decoder); the check
// itself has its own test (MetadataDamageNeverCrashesAReaderThatIsolatesHdf5), and a fork per
// trial would make the thousands of trials here ten times slower.
ReadOptions in_process(int64_t frame = 0) {
  ReadOptions options;
  options.frame = frame;
  options.isolate_hdf5 = false;
  return options;
}

// Decodes `bytes` (frame 0, and the last frame when count_frames_in_memory says there are more)
// and counts whether it decoded or was rejected with a difftriage::Error naming the file.
void decode_or_reject(const std::string& bytes, const std::string& label, Outcomes* outcomes) {
  const std::string name = "corrupt/" + label;
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  try {
    const AnyImage image = decode_image(data, bytes.size(), name, in_process());
    const auto [n_slow, n_fast] = extents(image);
    EXPECT_GT(n_slow, 0) << label;
    EXPECT_GT(n_fast, 0) << label;
    const int64_t n_frames = count_frames_in_memory(data, bytes.size(), name, in_process());
    EXPECT_GE(n_frames, 1) << label;
    if (n_frames > 1) {
      ReadOptions last = in_process();
      last.frame = n_frames - 1;
      decode_image(data, bytes.size(), name, last);
    }
    ++outcomes->n_decoded;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    ++outcomes->n_rejected;
  } catch (const std::exception& e) {
    ADD_FAILURE() << label << ": non-difftriage exception: " << e.what();
  }
}

// The same through a file on disk (read_image and count_frames by path: HDF5 then reads through
// its file driver, not the in-memory image).
void read_or_reject(const std::filesystem::path& path, const std::string& bytes,
                    const std::string& label, Outcomes* outcomes) {
  difftriage::testing::write_text(path, bytes);
  try {
    const int64_t n_frames = count_frames(path, in_process());
    EXPECT_GE(n_frames, 1) << label;
    ReadOptions last = in_process();
    last.frame = n_frames - 1;
    const AnyImage image = read_image(path, last);
    EXPECT_GT(extents(image).first, 0) << label;
    ++outcomes->n_decoded;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    ++outcomes->n_rejected;
  } catch (const std::exception& e) {
    ADD_FAILURE() << label << ": non-difftriage exception: " << e.what();
  }
}

// How much damage to try.
struct Damage {
  int n_cuts = 1000;   ///< truncations, evenly spaced (all lengths for small files)
  int n_edits = 2500;  ///< random edits of 1-4 bytes
};

// Truncations at `n_cuts` lengths and `n_edits` random edits of 1-4 bytes, each handed to
// `check(bytes, label)`.
void corrupt(const std::string& valid, const std::string& label, uint32_t seed,
             const Damage& damage,
             const std::function<void(const std::string&, const std::string&)>& check) {
  const size_t step = std::max<size_t>(1, valid.size() / static_cast<size_t>(damage.n_cuts));
  for (size_t n = 0; n < valid.size(); n += step) {
    check(valid.substr(0, n), label + " cut at " + std::to_string(n));
  }
  std::mt19937 rng(seed);
  std::uniform_int_distribution<size_t> position(0, valid.size() - 1);
  std::uniform_int_distribution<int> byte(1, 255);
  std::uniform_int_distribution<int> n_edits(1, 4);
  for (int trial = 0; trial < damage.n_edits; ++trial) {
    std::string bytes = valid;
    const int edits = n_edits(rng);
    // Headers are where the interesting damage happens: a third of the trials edit the first 64
    // bytes, a third the last 256 (where libtiff puts the IFD and PNG its trailer).
    for (int e = 0; e < edits; ++e) {
      size_t at = position(rng);
      if (trial % 3 == 0) at %= std::min<size_t>(64, valid.size());
      if (trial % 3 == 1) at = valid.size() - 1 - at % std::min<size_t>(256, valid.size());
      bytes[at] = static_cast<char>(static_cast<uint8_t>(bytes[at]) ^ byte(rng));
    }
    check(bytes, label + " edit trial " + std::to_string(trial));
  }
}

Outcomes corrupt_and_decode(const std::string& valid, const std::string& label, uint32_t seed,
                            const Damage& damage = {}) {
  Outcomes outcomes;
  corrupt(valid, label, seed, damage, [&](const std::string& bytes, const std::string& what) {
    decode_or_reject(bytes, what, &outcomes);
  });
  return outcomes;
}

Outcomes corrupt_and_read(const std::filesystem::path& path, const std::string& valid,
                          const std::string& label, uint32_t seed, const Damage& damage) {
  Outcomes outcomes;
  corrupt(valid, label, seed, damage, [&](const std::string& bytes, const std::string& what) {
    read_or_reject(path, bytes, what, &outcomes);
  });
  return outcomes;
}

class Corruption : public ::testing::Test {
 protected:
  std::string encode(const std::function<void(const std::filesystem::path&)>& write) {
    const auto path = dir_ / "valid";
    write(path);
    return read_bytes(path);
  }
  TempDir dir_;
};

TEST_F(Corruption, PgmNeverCrashes) {
  const Image<uint8_t> frame8 = testing::make_frame_u8(24, 32, 31);
  const Image<uint16_t> frame16 = testing::make_frame_u16(12, 10, 32);
  const std::string p5 = encode([&](const auto& p) { write_pgm(p, frame8); });
  const std::string p5_16 = encode([&](const auto& p) { write_pgm(p, frame16); });
  const std::string p2 = encode([&](const auto& p) { write_pgm(p, frame16, {false}); });
  for (const auto& [bytes, label] : {std::pair{p5, "p5"}, {p5_16, "p5-16"}, {p2, "p2"}}) {
    const Outcomes o = corrupt_and_decode(bytes, label, 41);
    EXPECT_GT(o.n_rejected, 0) << label;
    EXPECT_GT(o.n_decoded, 0) << label;  // pixel-byte flips still decode
  }
}

TEST_F(Corruption, PngNeverCrashes) {
  const Image<uint8_t> frame8 = testing::make_frame_u8(40, 48, 33);
  const Image<uint16_t> frame16 = testing::make_frame_u16(16, 20, 34);
  const std::string png8 = encode([&](const auto& p) { write_png(p, frame8); });
  const std::string png16 = encode([&](const auto& p) { write_png(p, frame16); });
  for (const auto& [bytes, label] : {std::pair{png8, "png8"}, {png16, "png16"}}) {
    const Outcomes o = corrupt_and_decode(bytes, label, 42);
    EXPECT_GT(o.n_rejected, 0) << label;
  }
}

TEST_F(Corruption, TiffNeverCrashes) {
  const Image<uint16_t> frame16 = testing::make_frame_u16(20, 24, 35);
  const Image<float> frame32 = testing::make_frame_f32(30, 40, 36);
  const std::string tif16 = encode([&](const auto& p) { write_tiff(p, AnyImage(frame16)); });
  const std::string tif32 = encode([&](const auto& p) { write_tiff(p, AnyImage(frame32)); });
  const std::string tiled = testing::build_tiled_tiff(testing::make_frame_u16(40, 36, 37), 16);
  for (const auto& [bytes, label] :
       {std::pair{tif16, "tiff16"}, {tif32, "tiff-f32"}, {tiled, "tiff-tiled"}}) {
    const Outcomes o = corrupt_and_decode(bytes, label, 43);
    EXPECT_GT(o.n_rejected, 0) << label;
    EXPECT_GT(o.n_decoded, 0) << label;
  }
}

TEST_F(Corruption, SmvNeverCrashes) {
  const Image<uint16_t> frame16 = testing::make_frame_u16(24, 32, 38);
  const std::string raster16(reinterpret_cast<const char*>(frame16.data()), frame16.size() * 2);
  const std::string le = testing::build_smv(
      {"DIM=2", "BYTE_ORDER=little_endian", "TYPE=unsigned_short", "SIZE1=32", "SIZE2=24",
       "PIXEL_SIZE=0.1", "BEAM_CENTER_X=1.2", "BEAM_CENTER_Y=1.6", "WAVELENGTH=1.0"},
      raster16);
  const std::string be = testing::build_smv(
      {"BYTE_ORDER=big_endian", "TYPE=signed_long", "SIZE1=12", "SIZE2=10"}, std::string(480, 'x'));
  for (const auto& [bytes, label] : {std::pair{le, "smv-le"}, {be, "smv-be32"}}) {
    const Outcomes o = corrupt_and_decode(bytes, label, 44);
    EXPECT_GT(o.n_rejected, 0) << label;
    EXPECT_GT(o.n_decoded, 0) << label;
  }
}

TEST_F(Corruption, CbfNeverCrashes) {
  // make_frame_i32 puts -1 next to INT32_MAX: every escape width occurs in the data.
  const Image<int32_t> frame = testing::make_frame_i32(20, 24, 39);
  const std::string cbf = testing::build_minicbf(
      frame, {"# Pixel_size 172e-6 m x 172e-6 m", "# Wavelength 1.0 A",
              "# Detector_distance 0.2 m", "# Beam_xy (12.0, 10.0) pixels",
              "# Count_cutoff 1048500 counts"});
  const Outcomes o = corrupt_and_decode(cbf, "cbf", 45);
  EXPECT_GT(o.n_rejected, 0);
  EXPECT_GT(o.n_decoded, 0);
}

TEST_F(Corruption, CompressedWrappersNeverCrash) {
  const Image<int32_t> frame = testing::make_frame_i32(16, 20, 46);
  const std::string cbf = testing::build_minicbf(frame, {"# Wavelength 1.0 A"});
  const Image<uint16_t> frame16 = testing::make_frame_u16(16, 20, 47);
  const std::string smv = testing::build_smv(
      {"SIZE1=20", "SIZE2=16"},
      std::string(reinterpret_cast<const char*>(frame16.data()), frame16.size() * 2));
  for (const auto& [bytes, label] :
       {std::pair{testing::gzip_bytes(cbf), "cbf.gz"}, {testing::bzip2_bytes(smv), "smv.bz2"},
        {testing::gzip_bytes(smv), "smv.gz"}}) {
    const Outcomes o = corrupt_and_decode(bytes, label, 48);
    EXPECT_GT(o.n_rejected, 0) << label;
  }
}

TEST_F(Corruption, TiffInt32AndPagesNeverCrash) {
  const std::string tif_i32 =
      encode([&](const auto& p) { write_tiff(p, AnyImage(testing::make_frame_i32(14, 18, 50))); });
  const std::string pages = testing::build_tiff_pages({
      {testing::strip_tiff_entries(4, 3, 8, 1, 12), std::string(12, '\x11')},
      {testing::strip_tiff_entries(3, 2, 16, 1, 12), std::string(12, '\x22')},
      {testing::strip_tiff_entries(2, 2, 32, 3, 16), std::string(16, '\x33')},
  });
  for (const auto& [bytes, label] : {std::pair{tif_i32, "tiff-i32"}, {pages, "tiff-pages"}}) {
    const Outcomes o = corrupt_and_decode(bytes, label, 51);
    EXPECT_GT(o.n_rejected, 0) << label;
    EXPECT_GT(o.n_decoded, 0) << label;
  }
}

TEST_F(Corruption, ImgCifNeverCrashes) {
  // The real DLS I03 imgCIF header around a small byte-offset array (gzip-wrapped too).
  const auto fixture = shared_fixtures_dir() / "DLS_I03_smargon_0001.cbf.gz";
  DT_REQUIRE_SHARED(fixture);
  // The header is in the first 7 KiB of the inflated file.
  const std::string full = testing::build_imgcif_from_fixture(
      testing::gunzip_head(read_bytes(fixture), 16384), testing::make_frame_i32(12, 16, 52));
  ASSERT_FALSE(full.empty()) << "fixture header not as expected";
  const AnyImage image = decode_image(testing::as_bytes(full), full.size(), "small.cbf");
  EXPECT_EQ(extents(image), std::make_pair(int64_t{12}, int64_t{16}));
  EXPECT_NEAR(metadata(image).wavelength_angstrom.value_or(0), 0.97625, 1e-12);
  for (const auto& [bytes, label] :
       {std::pair{full, "imgcif"}, {testing::gzip_bytes(full), "imgcif.gz"}}) {
    const Outcomes o = corrupt_and_decode(bytes, label, 53, {800, 1500});
    EXPECT_GT(o.n_rejected, 0) << label;
  }
}

TEST_F(Corruption, CborNeverCrashes) {
  Image<uint16_t> difference = testing::make_frame_u16(10, 12, 56);
  difference.pixels()[3] = 0xFFFF;
  const std::string compressed = testing::build_cbor_image(
      {{"threshold_1", testing::make_frame_u16(10, 12, 54)},
       {"threshold_2", testing::make_frame_u16(10, 12, 55)},
       {"difference", difference}},
      true);
  const std::string raw =
      testing::build_cbor_image({{"threshold_1", testing::make_frame_u16(6, 8, 57)}}, false, 9);
  ASSERT_EQ(count_frames_in_memory(testing::as_bytes(compressed), compressed.size(), "m"), 3);
  testing::expect_same_pixels(difference,
                              decode_image(testing::as_bytes(compressed), compressed.size(), "m",
                                           ReadOptions{2}));
  for (const auto& [bytes, label] : {std::pair{compressed, "cbor-bslz4"}, {raw, "cbor-raw"}}) {
    const Outcomes o = corrupt_and_decode(bytes, label, 58);
    EXPECT_GT(o.n_rejected, 0) << label;
    EXPECT_GT(o.n_decoded, 0) << label;
  }
}

// Byte ranges [offset, offset + size) of the stored chunks of `dataset` in the HDF5 file.
std::vector<std::pair<size_t, size_t>> chunk_ranges(const std::filesystem::path& path,
                                                     const char* dataset) {
  std::vector<std::pair<size_t, size_t>> ranges;
  const hid_t file = H5Fopen(path.string().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t set = H5Dopen2(file, dataset, H5P_DEFAULT);
  const hid_t space = H5Dget_space(set);
  hsize_t n_chunks = 0;
  H5Dget_num_chunks(set, space, &n_chunks);
  for (hsize_t i = 0; i < n_chunks; ++i) {
    hsize_t offset[3];
    unsigned filter_mask = 0;
    haddr_t address = 0;
    hsize_t size = 0;
    if (H5Dget_chunk_info(set, space, i, offset, &filter_mask, &address, &size) >= 0) {
      ranges.emplace_back(static_cast<size_t>(address), static_cast<size_t>(size));
    }
  }
  H5Sclose(space);
  H5Dclose(set);
  H5Fclose(file);
  return ranges;
}

// Edits of 1-4 bytes inside the given byte ranges only.
template <typename Check>
void corrupt_ranges(const std::string& valid, const std::vector<std::pair<size_t, size_t>>& ranges,
                    const std::string& label, uint32_t seed, int n_edits, const Check& check) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<size_t> which(0, ranges.size() - 1);
  std::uniform_int_distribution<int> byte(1, 255);
  std::uniform_int_distribution<int> count(1, 4);
  for (int trial = 0; trial < n_edits; ++trial) {
    std::string bytes = valid;
    for (int e = count(rng); e > 0; --e) {
      const auto& [offset, size] = ranges[which(rng)];
      // A third of the edits hit the chunk's first 16 bytes (bitshuffle/LZ4 framing).
      const size_t span = trial % 3 == 0 ? std::min<size_t>(16, size) : size;
      const size_t at = offset + std::uniform_int_distribution<size_t>(0, span - 1)(rng);
      bytes[at] = static_cast<char>(static_cast<uint8_t>(bytes[at]) ^ byte(rng));
    }
    check(bytes, label + " chunk edit " + std::to_string(trial));
  }
}

// Small HDF5 files: an EIGER data file (bitshuffle/LZ4 chunks, 3 frames, written with HDF5's
// default, pre-1.8 file format like the EIGER's), its master (external links, pixel_mask,
// metadata), and a CXI stack by CxiStackWriter (1.8 format with metadata checksums, deflate,
// a mask).
class Hdf5Corruption : public Corruption {
 protected:
  void SetUp() override {
    master_ = testing::write_eiger_series(dir_.path(), "fz", 1, 3, 16, 24);
    data_path_ = dir_ / "fz_data_000001.h5";
    data_ = read_bytes(data_path_);
    master_bytes_ = read_bytes(master_);
    CxiWriteOptions options;
    options.deflate_level = 3;
    options.metadata = DetectorMetadata{};
    options.metadata->distance_mm = 100;
    options.metadata->wavelength_angstrom = 1.0;
    CxiStackWriter writer(dir_ / "fz.cxi", options);
    Image<float> a = testing::make_frame_f32(12, 10, 59);
    std::vector<uint8_t> mask(120, 0);
    mask[7] = 1;
    a.set_mask(mask);
    writer.append(AnyImage(a), {"a", 0});
    writer.append(AnyImage(testing::make_frame_f32(12, 10, 60)), {"b", 1});
    writer.finish();
    cxi_ = read_bytes(dir_ / "fz.cxi");
  }
  std::filesystem::path master_, data_path_;
  std::string data_, master_bytes_, cxi_;
};

// In-process, must never crash: truncations of every file, edits of the compressed chunk data
// (what difftriage decodes itself), and any damage to a file CxiStackWriter wrote (libhdf5
// verifies its metadata checksums). In memory (decode_image) and by path (read_image).
TEST_F(Hdf5Corruption, TruncationsChunkDataAndCheckedMetadataNeverCrash) {
  Outcomes eiger;
  const auto check = [&](const std::string& bytes, const std::string& label) {
    decode_or_reject(bytes, label, &eiger);
  };
  corrupt(data_, "eiger-data", 61, {600, 0}, check);
  const auto ranges = chunk_ranges(data_path_, "/entry/data/data");
  ASSERT_EQ(ranges.size(), 3u);
  corrupt_ranges(data_, ranges, "eiger-data", 62, 1500, check);
  EXPECT_GT(eiger.n_rejected, 600);
  EXPECT_GT(eiger.n_decoded, 0);  // flips in the pixel payload may still decode
  // By path: the data file, and the master with its data file beside it (its truncations).
  Outcomes by_path;
  corrupt(data_, "eiger-data-file", 63, {100, 0}, [&](const std::string& b, const std::string& l) {
    read_or_reject(dir_ / "copy_data.h5", b, l, &by_path);
  });
  corrupt_ranges(data_, ranges, "eiger-data-file", 64, 300,
                 [&](const std::string& b, const std::string& l) {
                   read_or_reject(dir_ / "copy_data.h5", b, l, &by_path);
                 });
  corrupt(master_bytes_, "eiger-master-file", 65, {100, 0},
          [&](const std::string& b, const std::string& l) {
            read_or_reject(dir_ / "cut_master.h5", b, l, &by_path);
          });
  EXPECT_GT(by_path.n_rejected, 100);
  // The checksummed CXI stack: anything goes.
  const Outcomes cxi = corrupt_and_decode(cxi_, "cxi", 66, {600, 1500});
  EXPECT_GT(cxi.n_rejected, 500);
  const Outcomes cxi_path = corrupt_and_read(dir_ / "copy.cxi", cxi_, "cxi-file", 67, {100, 300});
  EXPECT_GT(cxi_path.n_rejected, 50);
  std::cout << "hdf5: eiger " << eiger.n_decoded << " decoded / " << eiger.n_rejected
            << " rejected; by path " << by_path.n_decoded << " / " << by_path.n_rejected
            << "; cxi " << cxi.n_decoded << " / " << cxi.n_rejected << "; cxi by path "
            << cxi_path.n_decoded << " / " << cxi_path.n_rejected << "\n";
}

// Exit codes of a forked trial (anything else, or a signal, is a crash). kChildCaughtCrash: the
// read was rejected because libhdf5 crashed in the reader's own checking process.
constexpr int kChildDecoded = 10, kChildNamedError = 11, kChildUnnamedError = 12,
              kChildOtherException = 13, kChildCaughtCrash = 14;

// Runs `action` (which returns normally when the bytes decoded, or throws) in a child process,
// so that a crash inside libhdf5 is counted instead of ending the test.
template <typename Action>
int run_isolated(const std::string& name, const Action& action) {
  std::cout.flush();
  const pid_t pid = ::fork();
  if (pid == 0) {
    int code = kChildDecoded;
    try {
      action();
    } catch (const Error& e) {
      const std::string what = e.what();
      code = what.find(name) == std::string::npos                ? kChildUnnamedError
             : what.find("libhdf5 crashed") != std::string::npos ? kChildCaughtCrash
                                                                 : kChildNamedError;
    } catch (...) {
      code = kChildOtherException;
    }
    ::_exit(code);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Damage to the metadata of files in HDF5's older (unchecksummed) format, as EIGERs and most
// tools write them, is decoded by libhdf5 itself, and libhdf5 1.10.8 (Debian 12) crashes on some
// of it (seen: H5Gget_info -> H5B2_open -> H5F__accum_read reading through a corrupt address).
// Every trial runs twice, each in a child process of the test: with ReadOptions::isolate_hdf5 off
// (libhdf5's crashes are counted and printed: what the check is for) and on, the default, where
// no read may crash: every one decodes or throws a difftriage::Error naming the file.
TEST_F(Hdf5Corruption, MetadataDamageNeverCrashesAReaderThatIsolatesHdf5) {
  const auto fixture = shared_fixtures_dir() / "typical_raw.cxi";
  std::vector<std::pair<std::string, std::string>> files = {{"eiger-data", data_},
                                                            {"eiger-master", master_bytes_}};
  if (std::filesystem::exists(fixture)) files.emplace_back("typical_raw.cxi", read_bytes(fixture));
  int n_crashed_total = 0, n_caught_total = 0;
  for (const auto& [label, valid] : files) {
    int n_decoded = 0, n_rejected = 0, n_caught = 0, n_crashed = 0, n_crashed_unisolated = 0;
    const std::filesystem::path path = dir_ / ("isolated_" + label + ".h5");
    corrupt(valid, label, 68, {1, 150}, [&](const std::string& bytes, const std::string& what) {
      const std::string name = "corrupt/" + what;
      const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
      difftriage::testing::write_text(path, bytes);  // beside the master's data file
      for (const bool isolate : {false, true}) {
        ReadOptions options;
        options.cache_file_layout = false;
        options.isolate_hdf5 = isolate;
        int codes[2];
        codes[0] = run_isolated(name, [&] {
          decode_image(data, bytes.size(), name, options);
          count_frames_in_memory(data, bytes.size(), name, options);
        });
        codes[1] = run_isolated(path.string(), [&] {
          ReadOptions last = options;
          last.frame = count_frames(path, options) - 1;
          read_image(path, last);
        });
        for (const int code : codes) {
          EXPECT_NE(code, kChildUnnamedError) << what;
          EXPECT_NE(code, kChildOtherException) << what;
          const bool crashed = code != kChildDecoded && code != kChildNamedError &&
                               code != kChildCaughtCrash && code != kChildUnnamedError &&
                               code != kChildOtherException;
          if (!isolate) {
            n_crashed_unisolated += crashed;
            continue;
          }
          EXPECT_FALSE(crashed) << what << ": the reader crashed (status " << code << ")";
          if (code == kChildDecoded)
            ++n_decoded;
          else if (code == kChildCaughtCrash)
            ++n_caught;
          else if (code == kChildNamedError)
            ++n_rejected;
          n_crashed += crashed;
        }
      }
    });
    std::cout << label << " metadata damage, isolated reads: " << n_decoded << " decoded, "
              << n_rejected << " rejected, " << n_caught
              << " rejected because libhdf5 crashed in the checking process, " << n_crashed
              << " crashed; unisolated reads: " << n_crashed_unisolated
              << " crashed inside libhdf5\n";
    EXPECT_GT(n_rejected, 0) << label;
    EXPECT_EQ(n_crashed, 0) << label;
    n_crashed_total += n_crashed_unisolated;
    n_caught_total += n_caught;
  }
  // The trials reach libhdf5's crashes (else this test would prove nothing), and the isolated
  // reads turn each one into an error.
  EXPECT_GT(n_crashed_total, 0);
  EXPECT_EQ(n_caught_total, n_crashed_total);
}

// The file that crashed libhdf5 under the fuzzer (a damaged link message): read by path with the
// default options, it is a FormatError naming the file and the crash; the process lives on.
TEST(Hdf5Isolation, KnownLibhdf5CrashIsAnErrorNamingTheFile) {
  const auto crash =
      difftriage::testing::source_dir() / "fuzz" / "libhdf5-crashes" / "h5lget_info-null-deref.h5";
  ASSERT_TRUE(std::filesystem::exists(crash)) << crash;
  for (int pass = 0; pass < 2; ++pass) {  // the second time from the same file: checked again
    try {
      count_frames(crash);
      ADD_FAILURE() << "no error";
    } catch (const FormatError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(crash.string()), std::string::npos) << what;
#if defined(__SANITIZE_ADDRESS__)
      // Under AddressSanitizer its SEGV handler reports the child's crash and aborts
      // (ASAN_OPTIONS abort_on_error=1): the child dies of SIGABRT instead.
      EXPECT_NE(what.find("libhdf5 crashed (SIGABRT"), std::string::npos) << what;
#else
      EXPECT_NE(what.find("libhdf5 crashed (SIGSEGV"), std::string::npos) << what;
#endif
    }
  }
  EXPECT_THROW(read_image(crash), FormatError);
  const std::string bytes = read_bytes(crash);
  EXPECT_THROW(decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "x.h5"),
               FormatError);
}

// A read that takes longer than isolate_timeout_s in the checking process is an error too (the
// EIGER master's check opens its data file; a tiny timeout cannot be met).
TEST_F(Hdf5Corruption, CheckOverrunningItsTimeIsAnError) {
  ReadOptions options;
  options.isolate_timeout_s = 1e-6;
  const auto master = dir_ / "timeout_master.h5";
  difftriage::testing::write_text(master, master_bytes_);
  try {
    count_frames(master, options);
    ADD_FAILURE() << "no error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("did not finish within"), std::string::npos) << e.what();
  }
  options.isolate_timeout_s = 0.0;
  EXPECT_THROW(count_frames(master, options), ConfigError);
  options.isolate_timeout_s = std::numeric_limits<double>::infinity();
  EXPECT_THROW(count_frames(master, options), ConfigError);
  options.isolate_timeout_s = 60.0;
  EXPECT_GE(count_frames(master, options), 1);
}

TEST_F(Corruption, RealCxiFixtureNeverCrashes) {
  const auto fixture = shared_fixtures_dir() / "typical_raw.cxi";
  DT_REQUIRE_SHARED(fixture);
  const Outcomes o = corrupt_and_decode(read_bytes(fixture), "typical_raw.cxi", 64, {200, 600});
  EXPECT_GT(o.n_rejected, 0);
  EXPECT_GT(o.n_decoded, 0);
}

}  // namespace
}  // namespace difftriage::io
