// Our CBF reader against CBFlib (the reference implementation, Debian's libcbf-dev) on the real
// fixtures: identical pixels. Built only when CMake found CBFlib (DT_HAVE_CBFLIB).
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "difftriage/io/image_io.h"
#include "io_test_support.h"
#include "support/test_support.h"

#ifdef DT_HAVE_CBFLIB
#include <cbf.h>
#include <zlib.h>

namespace difftriage::io {
namespace {

std::string gunzip(const std::string& gz) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
  std::string out;
  char buffer[1 << 16];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buffer);
    z.avail_out = sizeof buffer;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buffer, sizeof buffer - z.avail_out);
  }
  EXPECT_EQ(rc, Z_STREAM_END);
  inflateEnd(&z);
  return out;
}

// The first integer array of a CBF held in memory, decoded by CBFlib.
std::vector<int32_t> read_with_cbflib(const std::string& cbf, size_t* n_fast, size_t* n_slow) {
  cbf_handle handle = nullptr;
  EXPECT_EQ(cbf_make_handle(&handle), 0);
  std::vector<int32_t> pixels;
  if (cbf_read_buffered_file(handle, nullptr, MSG_NODIGEST, cbf.data(), cbf.size()) == 0 &&
      cbf_find_tag(handle, "_array_data.data") == 0) {
    unsigned int compression = 0;
    int id = 0, elsigned = 0, elunsigned = 0, minelem = 0, maxelem = 0;
    // For a 2-D array CBFlib reports the second dimension as "mid" (slow is the third, 0 or 1).
    size_t elsize = 0, nelem = 0, dimthird = 0, padding = 0;
    const char* byteorder = nullptr;
    EXPECT_EQ(cbf_get_integerarrayparameters_wdims(handle, &compression, &id, &elsize, &elsigned,
                                                   &elunsigned, &nelem, &minelem, &maxelem,
                                                   &byteorder, n_fast, n_slow, &dimthird, &padding),
              0);
    EXPECT_EQ(compression, static_cast<unsigned>(CBF_BYTE_OFFSET));
    EXPECT_LE(dimthird, 1u);
    pixels.resize(nelem);
    size_t n_read = 0;
    EXPECT_EQ(cbf_get_integerarray(handle, &id, pixels.data(), sizeof(int32_t), 1, nelem, &n_read),
              0);
    EXPECT_EQ(n_read, nelem);
  } else {
    ADD_FAILURE() << "CBFlib could not read the file";
  }
  cbf_free_handle(handle);
  return pixels;
}

class CbfLib : public ::testing::TestWithParam<const char*> {};

TEST_P(CbfLib, SamePixelsAsCbfLib) {
  const auto path = difftriage::testing::shared_fixtures_dir() / GetParam();
  DT_REQUIRE_SHARED(path);
  const std::string cbf = gunzip(difftriage::testing::read_bytes(path));
  size_t n_fast = 0, n_slow = 0;
  const std::vector<int32_t> reference = read_with_cbflib(cbf, &n_fast, &n_slow);
  const AnyImage ours = decode_image(testing::as_bytes(cbf), cbf.size(), GetParam());
  ASSERT_TRUE(std::holds_alternative<Image<int32_t>>(ours));
  const auto& image = std::get<Image<int32_t>>(ours);
  EXPECT_EQ(static_cast<size_t>(image.n_fast()), n_fast);
  EXPECT_EQ(static_cast<size_t>(image.n_slow()), n_slow);
  ASSERT_EQ(image.pixels().size(), reference.size());
  EXPECT_TRUE(image.pixels() == reference) << "pixels differ from CBFlib's";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CbfLib,
                         ::testing::Values("DLS_I03_smargon_0001.cbf.gz",
                                           "DLS_I23_P12M_thau_00001.cbf.gz",
                                           "dlsnxs2cbf_therm_0001.cbf.gz"));

}  // namespace
}  // namespace difftriage::io
#endif  // DT_HAVE_CBFLIB
