// The CBF byte-offset decoder on hand-made streams: every escape width, negative deltas, the
// escape values themselves as deltas, int32 extremes, truncation and overflow.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "difftriage/io/byte_offset.h"
#include "io_test_support.h"

namespace difftriage::io {
namespace {

using testing::expect_error;

std::vector<int32_t> decode(const std::vector<uint8_t>& stream, size_t n_values,
                            size_t* n_consumed = nullptr) {
  std::vector<int32_t> out(n_values, 12345);
  const size_t n = decode_byte_offset(stream.data(), stream.size(), out.data(),
                                      static_cast<int64_t>(n_values), "stream");
  if (n_consumed != nullptr) *n_consumed = n;
  return out;
}

TEST(ByteOffset, OneByteDeltasBothSigns) {
  size_t n = 0;
  // +5, -3 (0xfd), +127 (0x7f), -127 (0x81), 0
  EXPECT_EQ(decode({0x05, 0xfd, 0x7f, 0x81, 0x00}, 5, &n),
            (std::vector<int32_t>{5, 2, 129, 2, 2}));
  EXPECT_EQ(n, 5u);
}

TEST(ByteOffset, SixteenBitEscape) {
  size_t n = 0;
  // 0x80 then int16 LE: +256 (00 01), -256 (00 ff), -128 (80 ff: the 8-bit escape value as a
  // delta needs 16 bits), +128 (80 00)
  EXPECT_EQ(decode({0x80, 0x00, 0x01, 0x80, 0x00, 0xff, 0x80, 0x80, 0xff, 0x80, 0x80, 0x00}, 4, &n),
            (std::vector<int32_t>{256, 0, -128, 0}));
  EXPECT_EQ(n, 12u);
}

TEST(ByteOffset, ThirtyTwoBitEscape) {
  size_t n = 0;
  // 80 | 00 80 | int32 LE: +65536, then -32768 (the 16-bit escape value as a delta), then
  // -100000 (60 79 fe ff)
  const std::vector<uint8_t> stream = {0x80, 0x00, 0x80, 0x00, 0x00, 0x01, 0x00,   //
                                       0x80, 0x00, 0x80, 0x00, 0x80, 0xff, 0xff,   //
                                       0x80, 0x00, 0x80, 0x60, 0x79, 0xfe, 0xff};
  EXPECT_EQ(decode(stream, 3, &n), (std::vector<int32_t>{65536, 65536 - 32768, -67232}));
  EXPECT_EQ(n, 21u);
}

TEST(ByteOffset, SixtyFourBitEscape) {
  // 80 | 00 80 | 00 00 00 80 | int64 LE. From INT32_MIN to INT32_MAX is a delta of 2^32 - 1,
  // which only the 64-bit form holds; then back down by -(2^32 - 1).
  // The first delta, -2^31, is itself the 32-bit escape value, so it too takes the 64-bit form.
  const std::vector<uint8_t> escape64 = {0x80, 0x00, 0x80, 0x00, 0x00, 0x00, 0x80};
  std::vector<uint8_t> stream;
  const auto put64 = [&](int64_t v) {
    for (int k = 0; k < 8; ++k) stream.push_back(static_cast<uint8_t>(static_cast<uint64_t>(v) >> (8 * k)));
  };
  stream.insert(stream.end(), escape64.begin(), escape64.end());
  put64(std::numeric_limits<int32_t>::min());
  stream.insert(stream.end(), escape64.begin(), escape64.end());
  put64(int64_t{0xffffffff});
  stream.insert(stream.end(), escape64.begin(), escape64.end());
  put64(-int64_t{0xffffffff});
  stream.push_back(0x01);  // a plain byte after the long escapes
  size_t n = 0;
  EXPECT_EQ(decode(stream, 4, &n),
            (std::vector<int32_t>{std::numeric_limits<int32_t>::min(),
                                  std::numeric_limits<int32_t>::max(),
                                  std::numeric_limits<int32_t>::min(),
                                  std::numeric_limits<int32_t>::min() + 1}));
  EXPECT_EQ(n, 3 * 15u + 1u);
}

TEST(ByteOffset, NonMinimalEscapesAreAccepted) {
  // A writer may use a wider form than needed: +1 written as 16-, 32- and 64-bit deltas.
  const std::vector<uint8_t> stream = {0x80, 0x01, 0x00,                                  //
                                       0x80, 0x00, 0x80, 0x01, 0x00, 0x00, 0x00,          //
                                       0x80, 0x00, 0x80, 0x00, 0x00, 0x00, 0x80,          //
                                       0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  EXPECT_EQ(decode(stream, 3), (std::vector<int32_t>{1, 2, 3}));
}

TEST(ByteOffset, TrailingPaddingIsIgnored) {
  size_t n = 0;
  EXPECT_EQ(decode({0x02, 0x02, 0x00, 0x00, 0x00, 0x00}, 2, &n), (std::vector<int32_t>{2, 4}));
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(decode({}, 0), std::vector<int32_t>{});
}

TEST(ByteOffset, RoundTripsRandomValuesThroughTheTestEncoder) {
  // Long enough to run through both the unchecked fast loop and the checked tail.
  std::mt19937 rng(606);
  std::uniform_int_distribution<int> kind(0, 9);
  std::uniform_int_distribution<int32_t> any(std::numeric_limits<int32_t>::min(),
                                             std::numeric_limits<int32_t>::max());
  std::uniform_int_distribution<int32_t> small(-300, 300), medium(-70000, 70000);
  std::vector<int64_t> values(20000);
  for (auto& v : values) {
    const int k = kind(rng);
    v = k < 6 ? small(rng) : k < 8 ? medium(rng) : k < 9 ? any(rng) : -1 - (k % 2);
  }
  const std::string stream = testing::encode_byte_offset(values);
  std::vector<int32_t> out(values.size());
  const size_t n = decode_byte_offset(reinterpret_cast<const uint8_t*>(stream.data()),
                                      stream.size(), out.data(),
                                      static_cast<int64_t>(out.size()), "random");
  EXPECT_EQ(n, stream.size());
  for (size_t i = 0; i < values.size(); ++i) ASSERT_EQ(out[i], values[i]) << "pixel " << i;
}

TEST(ByteOffset, TruncationAtEveryEscapeIsAnError) {
  const std::vector<uint8_t> full = {0x05, 0x80, 0x00, 0x01, 0x80, 0x00, 0x80, 0x00, 0x00,
                                     0x01, 0x00, 0x80, 0x00, 0x80, 0x00, 0x00, 0x00, 0x80,
                                     0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  EXPECT_EQ(decode(full, 4), (std::vector<int32_t>{5, 261, 65797, 65798}));
  for (size_t cut = 0; cut < full.size(); ++cut) {
    const std::vector<uint8_t> part(full.begin(), full.begin() + static_cast<long>(cut));
    expect_error<FormatError>([&] { (void)decode(part, 4); }, "stream", {"truncated"});
  }
  std::vector<int32_t> out(1);
  expect_error<FormatError>(
      [&] { decode_byte_offset(nullptr, 0, out.data(), 1, "null"); }, "null", {"truncated"});
}

TEST(ByteOffset, ValuesBeyondInt32AreAnError) {
  // INT32_MAX then +1.
  const std::vector<uint8_t> stream = {0x80, 0x00, 0x80, 0xff, 0xff, 0xff, 0x7f, 0x01};
  EXPECT_EQ(decode(stream, 1), std::vector<int32_t>{std::numeric_limits<int32_t>::max()});
  expect_error<FormatError>([&] { (void)decode(stream, 2); }, "stream",
                            {"pixel 1", "2147483648", "int32"});
  // A huge 64-bit delta (the accumulator wraps without undefined behaviour, then is rejected).
  std::vector<uint8_t> huge = {0x80, 0x00, 0x80, 0x00, 0x00, 0x00, 0x80,
                               0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80};
  huge.resize(40, 0x00);  // long enough for the fast loop
  expect_error<FormatError>([&] { (void)decode(huge, 2); }, "stream", {"pixel 0"});
}

}  // namespace
}  // namespace difftriage::io
