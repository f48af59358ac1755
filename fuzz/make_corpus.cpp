// Writes the seed corpus of the fuzz targets (fuzz/corpus/<target>/) from difftriage's own
// writers and the io tests' independent encoders (tests/io/io_test_support.h), all tiny and
// deterministic (fixed seeds). Run from the repository root:
//   cmake --build build --target fuzz_make_corpus && build/fuzz/fuzz_make_corpus fuzz/corpus
// The imgCIF seed also needs ../shared/fixtures/DLS_I03_smargon_0001.cbf.gz (its header).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "difftriage/io/cxi_writer.h"
#include "difftriage/io/image_io.h"
#include "io_test_support.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using namespace difftriage;
namespace t = difftriage::io::testing;

namespace {

void put(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
  std::printf("%8zu  %s\n", bytes.size(), path.string().c_str());
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string le_bytes(const Image<uint16_t>& image) {
  std::string out;
  for (const uint16_t v : image.pixels()) {
    out.push_back(static_cast<char>(v & 0xFF));
    out.push_back(static_cast<char>(v >> 8));
  }
  return out;
}

std::string as_string(const std::vector<uint8_t>& bytes) {
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR (fuzz/corpus)\n", argv[0]);
    return 2;
  }
  const fs::path out(argv[1]);
  const fs::path tmp = fs::temp_directory_path() / "difftriage_make_corpus";
  fs::remove_all(tmp);
  fs::create_directories(tmp);

  // ---- decode_image: one small file per reader -----------------------------------------------
  const fs::path di = out / "decode_image";
  io::write_pgm(tmp / "a.pgm", t::make_frame_u8(6, 8, 1));
  put(di / "p5_u8.pgm", slurp(tmp / "a.pgm"));
  io::write_pgm(tmp / "b.pgm", t::make_frame_u16(4, 5, 2), {false});
  put(di / "p2_u16.pgm", slurp(tmp / "b.pgm"));
  io::write_png(tmp / "a.png", t::make_frame_u8(6, 8, 3));
  put(di / "u8.png", slurp(tmp / "a.png"));
  io::write_png(tmp / "b.png", t::make_frame_u16(4, 5, 4));
  put(di / "u16.png", slurp(tmp / "b.png"));
  io::write_tiff(tmp / "a.tif", AnyImage(t::make_frame_u16(6, 8, 5)));
  put(di / "u16.tif", slurp(tmp / "a.tif"));
  io::write_tiff(tmp / "b.tif", AnyImage(t::make_frame_f32(4, 5, 6)));
  put(di / "f32.tif", slurp(tmp / "b.tif"));
  io::write_tiff(tmp / "c.tif", AnyImage(t::make_frame_i32(4, 5, 7)));
  put(di / "i32.tif", slurp(tmp / "c.tif"));
  put(di / "pages.tif",
      t::build_tiff_pages({{t::strip_tiff_entries(2, 2, 8, 1, 4), std::string("\1\2\3\4", 4)},
                           {t::strip_tiff_entries(2, 1, 16, 1, 4), std::string("\5\6\7\10", 4)}}));
  put(di / "tiled.tif", t::build_tiled_tiff(t::make_frame_u16(20, 18, 8), 16));
  const Image<uint16_t> smv_frame = t::make_frame_u16(6, 8, 9);
  const std::string smv = t::build_smv(
      {"DIM=2", "BYTE_ORDER=little_endian", "TYPE=unsigned_short", "SIZE1=8", "SIZE2=6",
       "PIXEL_SIZE=0.1", "DISTANCE=100", "WAVELENGTH=1.0", "BEAM_CENTER_X=0.4",
       "BEAM_CENTER_Y=0.3"},
      le_bytes(smv_frame));
  put(di / "le.img", smv);
  put(di / "be32.img", t::build_smv({"BYTE_ORDER=big_endian", "TYPE=signed_long", "SIZE1=4",
                                     "SIZE2=3"},
                                    std::string(48, '\x01')));
  put(di / "smv.img.bz2", t::bzip2_bytes(smv));
  const std::string cbf = t::build_minicbf(
      t::make_frame_i32(6, 8, 10), {"# Pixel_size 172e-6 m x 172e-6 m", "# Wavelength 1.0 A",
                                    "# Detector_distance 0.2 m", "# Beam_xy (4.0, 3.0) pixels",
                                    "# Count_cutoff 1048500 counts"});
  put(di / "mini.cbf", cbf);
  put(di / "mini.cbf.gz", t::gzip_bytes(cbf));
  const fs::path i03 = difftriage::testing::shared_fixtures_dir() / "DLS_I03_smargon_0001.cbf.gz";
  if (fs::exists(i03)) {
    put(di / "imgcif.cbf",
        t::build_imgcif_from_fixture(t::gunzip_head(slurp(i03), 16384), t::make_frame_i32(4, 6, 11)));
  }
  const std::string cbor3 = t::build_cbor_image({{"threshold_1", t::make_frame_u16(4, 8, 12)},
                                                 {"threshold_2", t::make_frame_u16(4, 8, 13)},
                                                 {"difference", t::make_frame_u16(4, 8, 14)}},
                                                true);
  put(di / "bslz4.cbor", cbor3);

  // ---- byte_offset: u16 LE pixel count + stream; every escape width --------------------------
  const fs::path bo = out / "byte_offset";
  const std::vector<std::vector<int64_t>> streams = {
      {0, 1, -1, 127, -128, 0},
      {0, 200, -300, 32767, -32768, 5},
      {0, 70000, -70000, 2147483647, -2147483647 - 1, 0},
      {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}};
  for (size_t i = 0; i < streams.size(); ++i) {
    const std::string stream = t::encode_byte_offset(streams[i]);
    std::string input(2, '\0');
    input[0] = static_cast<char>(streams[i].size() & 0xFF);
    input[1] = static_cast<char>(streams[i].size() >> 8);
    put(bo / ("stream" + std::to_string(i) + ".bin"), input + stream);
  }

  // ---- bitshuffle_lz4: selector byte, block byte, encoded buffer -----------------------------
  const fs::path bs = out / "bitshuffle_lz4";
  std::vector<uint8_t> plain(2 * 100);
  for (size_t i = 0; i < plain.size(); ++i) plain[i] = static_cast<uint8_t>((i * 37) ^ (i >> 3));
  const int elem_log[3] = {0, 1, 2};
  for (const int lg : elem_log) {
    const size_t elem = size_t{1} << lg;
    std::vector<uint8_t> trimmed(plain.begin(), plain.begin() + static_cast<long>(plain.size() / elem * elem));
    std::string head(2, '\0');
    head[0] = static_cast<char>(lg);  // codec 0: bitshuffle + LZ4
    put(bs / ("bslz4_e" + std::to_string(elem) + ".bin"),
        head + as_string(t::encode_bslz4(trimmed, elem, 64)));
    head[0] = static_cast<char>(lg | (2 << 2));  // codec 2: plain blocked bitshuffle
    head[1] = 8;                                 // 64 elements per block
    put(bs / ("shuffle_e" + std::to_string(elem) + ".bin"),
        head + as_string(t::encode_bslz4(trimmed, elem, 64, false)));
  }
  {
    std::vector<uint8_t> lz4;
    t::put_be64(&lz4, plain.size());
    t::put_be32(&lz4, 64);
    for (size_t at = 0; at < plain.size(); at += 64) {
      const size_t n = std::min<size_t>(64, plain.size() - at);
      const std::vector<uint8_t> packed = t::lz4_compress(plain.data() + at, n);
      t::put_be32(&lz4, static_cast<uint32_t>(packed.size()));
      lz4.insert(lz4.end(), packed.begin(), packed.end());
    }
    put(bs / "hdf5_lz4.bin", std::string("\x04\x00", 2) + as_string(lz4));
  }

  // ---- cbor: Stream V2 messages --------------------------------------------------------------
  const fs::path cb = out / "cbor";
  put(cb / "three_channels_bslz4.cbor", cbor3);
  put(cb / "one_channel_raw.cbor",
      t::build_cbor_image({{"threshold_1", t::make_frame_u16(3, 5, 15)}}, false, 7));
  put(cb / "start_message.cbor", std::string("\xd9\xd9\xf7\xa1\x64type\x65start", 15));

  // ---- hdf5: EIGER data file, its master, a CXI stack -----------------------------------------
  const fs::path h5 = out / "hdf5";
  const fs::path master = t::write_eiger_series(tmp, "seed", 1, 2, 8, 8);
  put(h5 / "eiger_data.h5", slurp(tmp / "seed_data_000001.h5"));
  put(h5 / "eiger_master.h5", slurp(master));
  io::CxiWriteOptions options;
  options.deflate_level = 1;
  options.metadata = DetectorMetadata{};
  options.metadata->distance_mm = 100;
  options.metadata->wavelength_angstrom = 1.0;
  options.metadata->beam_center_fast_px = 4;
  {
    io::CxiStackWriter writer(tmp / "seed.cxi", options);
    Image<uint16_t> a = t::make_frame_u16(8, 8, 16);
    std::vector<uint8_t> mask(64, 0);
    mask[3] = 1;
    a.set_mask(mask);
    writer.append(AnyImage(a), {"a.cbf", 0});
    writer.append(AnyImage(t::make_frame_u16(8, 8, 17)), {"b.h5", 3});
    writer.finish();
  }
  put(h5 / "stack.cxi", slurp(tmp / "seed.cxi"));
  fs::remove_all(tmp);
  return 0;
}
