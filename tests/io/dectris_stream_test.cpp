// DECTRIS Stream V1/V2 messages (io/dectris_stream.h): the real recorded V1 series of
// ../shared/fixtures, encode → parse → decode round trips in both protocols, every encoding and
// pixel type, the bitshuffle encoder against the independent reference encoder, and faults.
#include "difftriage/io/dectris_stream.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "difftriage/core/error.h"
#include "difftriage/io/bitshuffle_lz4.h"
#include "difftriage/io/image_io.h"
#include "support/test_support.h"
#include "synthetic/bslz4_encoder.h"

namespace difftriage::io {
namespace {
namespace fs = std::filesystem;

fs::path fixture(const std::string& name) { return ::difftriage::testing::shared_fixtures_dir() / name; }

// A frame of `n_slow` x `n_fast` with a seeded pattern (values below the all-ones marker).
template <typename T>
Image<T> pattern_frame(int64_t n_slow, int64_t n_fast, uint32_t seed) {
  Image<T> img(n_slow, n_fast);
  uint32_t x = seed;
  for (int64_t i = 0; i < img.size(); ++i) {
    x = x * 1664525u + 1013904223u;
    img.data()[i] = static_cast<T>((x >> 16) % 200);
  }
  img.data()[7] = static_cast<T>(60000 % (sizeof(T) == 1 ? 250 : 60000));
  return img;
}

TEST(DectrisStream, RealStream1FixtureHeaderAndImage) {
  DT_REQUIRE_SHARED(fixture("eiger2_16m_roi4m_stream1_header.msgpack"));
  const MessageParts header = read_message_dump(fixture("eiger2_16m_roi4m_stream1_header.msgpack"));
  ASSERT_EQ(header.size(), 8u);  // dheader, config, flatfield/mask/countrate header + blob pairs
  const StreamMessage h = parse_stream_message(header, "header");
  EXPECT_EQ(h.protocol, StreamProtocol::kStream1);
  EXPECT_EQ(h.type, StreamMessageType::kSeriesStart);
  EXPECT_EQ(h.series_id, 2619);
  ASSERT_TRUE(h.header.has_value());
  const DetectorMetadata& md = h.header->metadata;
  EXPECT_NEAR(*md.beam_center_fast_px, 1041.247, 1e-3);
  EXPECT_NEAR(*md.beam_center_slow_px, 1115.747, 1e-3);
  EXPECT_NEAR(*md.distance_mm, 337.0, 1e-9);
  EXPECT_NEAR(*md.pixel_size_mm, 0.075, 1e-9);
  EXPECT_NEAR(*md.wavelength_angstrom, 0.976, 1e-3);
  EXPECT_NEAR(*md.saturation_value, 18533, 1e-9);
  EXPECT_EQ(md.detector, "Dectris EIGER2 Si 16M");
  EXPECT_TRUE(h.header->mask.empty());  // the dump's mask blob is empty

  const MessageParts image = read_message_dump(fixture("eiger2_16m_roi4m_stream1_image000044.msgpack"));
  ASSERT_EQ(image.size(), 4u);
  const StreamMessage m = parse_stream_message(image, "image");
  EXPECT_EQ(m.type, StreamMessageType::kImage);
  EXPECT_EQ(m.series_id, 2619);
  EXPECT_EQ(m.frame, 43);
  const AnyImage frame = decode_stream_image(image, &*h.header, "image");
  ASSERT_TRUE(std::holds_alternative<Image<uint16_t>>(frame));
  const auto& img = std::get<Image<uint16_t>>(frame);
  EXPECT_EQ(img.n_fast(), 2068);
  EXPECT_EQ(img.n_slow(), 2162);
  // The hit's strongest spot (fixtures README: counts up to 321), gaps masked as 0xFFFF.
  uint16_t max_valid = 0;
  int64_t n_masked = 0;
  for (int64_t i = 0; i < img.size(); ++i) {
    if (img.mask()[static_cast<size_t>(i)]) {
      ++n_masked;
      EXPECT_EQ(img.data()[i], 0xFFFF);
    } else {
      max_valid = std::max(max_valid, img.data()[i]);
    }
  }
  EXPECT_EQ(max_valid, 321);
  EXPECT_GT(n_masked, 0);
  EXPECT_NEAR(*img.metadata().distance_mm, 337.0, 1e-9);  // filled from the header
}

TEST(DectrisStream, BitshuffleEncoderMatchesTheReferenceEncoder) {
  for (size_t elem : {size_t{1}, size_t{2}, size_t{4}}) {
    std::vector<uint8_t> plain(elem * 5003);  // a short last block and 3 trailing elements
    uint32_t x = 9;
    for (auto& b : plain) b = static_cast<uint8_t>((x = x * 1103515245u + 12345u) >> 24);
    const auto ours = encode_bitshuffle_lz4(plain.data(), plain.size(), elem, 1024);
    EXPECT_EQ(ours, testing::encode_bslz4(plain, elem, 1024)) << elem;
    std::vector<uint8_t> back(plain.size());
    decode_bitshuffle_lz4(ours.data(), ours.size(), back.data(), back.size(), elem, "t");
    EXPECT_EQ(back, plain);
    const auto lz4 = encode_hdf5_lz4(plain.data(), plain.size(), 4096);
    std::fill(back.begin(), back.end(), 0);
    decode_hdf5_lz4(lz4.data(), lz4.size(), back.data(), back.size(), "t");
    EXPECT_EQ(back, plain);
  }
}

template <typename T>
void expect_round_trip(StreamProtocol protocol, StreamEncoding encoding) {
  Image<T> img = pattern_frame<T>(37, 53, 3);
  if constexpr (std::is_same_v<T, int32_t>) img.data()[11] = -1;  // the invalid marker
  const MessageParts parts = encode_stream_image(protocol, 12, 5, AnyImage(img), encoding);
  const std::string what = std::string(stream_protocol_name(protocol)) + " encoding " +
                           std::to_string(static_cast<int>(encoding)) + " " +
                           pixel_type_name(Image<T>::pixel_type());
  EXPECT_EQ(parts.size(), protocol == StreamProtocol::kStream1 ? 4u : 1u) << what;
  const StreamMessage m = parse_stream_message(parts, "m");
  EXPECT_EQ(m.protocol, protocol) << what;
  EXPECT_EQ(m.type, StreamMessageType::kImage) << what;
  EXPECT_EQ(m.series_id, 12) << what;
  EXPECT_EQ(m.frame, 5) << what;
  const AnyImage back = decode_stream_image(parts, nullptr, "m");
  ASSERT_TRUE(std::holds_alternative<Image<T>>(back)) << what;
  const auto& b = std::get<Image<T>>(back);
  ASSERT_EQ(b.n_slow(), 37) << what;
  ASSERT_EQ(b.n_fast(), 53) << what;
  EXPECT_EQ(b.pixels(), img.pixels()) << what;
  if constexpr (std::is_same_v<T, int32_t>) {
    ASSERT_TRUE(b.has_mask()) << what;
    EXPECT_EQ(b.n_masked(), 1) << what;
    EXPECT_EQ(b.mask()[11], 1) << what;
  }
}

TEST(DectrisStream, ImagesRoundTripInBothProtocolsEveryEncodingAndPixelType) {
  for (auto protocol : {StreamProtocol::kStream1, StreamProtocol::kStream2}) {
    for (auto encoding : {StreamEncoding::kRaw, StreamEncoding::kLz4, StreamEncoding::kBslz4}) {
      expect_round_trip<uint8_t>(protocol, encoding);
      expect_round_trip<uint16_t>(protocol, encoding);
      expect_round_trip<int32_t>(protocol, encoding);
      expect_round_trip<float>(protocol, encoding);
    }
  }
}

TEST(DectrisStream, Stream1EncodingNamesFollowTheGrammar) {
  auto encoding_of = [](const AnyImage& img, StreamEncoding e) {
    const auto parts = encode_stream_image(StreamProtocol::kStream1, 1, 0, img, e);
    const auto d = nlohmann::json::parse(parts[1].begin(), parts[1].end());
    EXPECT_EQ(d["size"].get<size_t>(), parts[2].size());
    return d["encoding"].get<std::string>() + " " + d["type"].get<std::string>();
  };
  const AnyImage u16 = pattern_frame<uint16_t>(8, 8, 1);
  const AnyImage i32 = pattern_frame<int32_t>(8, 8, 1);
  EXPECT_EQ(encoding_of(u16, StreamEncoding::kRaw), "< uint16");
  EXPECT_EQ(encoding_of(u16, StreamEncoding::kLz4), "lz4< uint16");
  EXPECT_EQ(encoding_of(u16, StreamEncoding::kBslz4), "bs16-lz4< uint16");
  EXPECT_EQ(encoding_of(i32, StreamEncoding::kBslz4), "bs32-lz4< uint32");
}

TEST(DectrisStream, StartMessagesCarryGeometryAndMaskInBothProtocols) {
  StreamSeriesHeader h;
  h.series_id = 77;
  h.metadata.beam_center_fast_px = 20.5;
  h.metadata.beam_center_slow_px = 10.25;
  h.metadata.distance_mm = 150.0;
  h.metadata.pixel_size_mm = 0.075;
  h.metadata.wavelength_angstrom = 0.9763;
  h.metadata.saturation_value = 9999;
  h.mask_n_slow = 37;
  h.mask_n_fast = 53;
  h.mask.assign(37 * 53, 0);
  h.mask[100] = 1;
  for (auto protocol : {StreamProtocol::kStream1, StreamProtocol::kStream2}) {
    const StreamMessage m =
        parse_stream_message(encode_stream_start(protocol, h, 53, 37, 4), "start");
    EXPECT_EQ(m.type, StreamMessageType::kSeriesStart);
    EXPECT_EQ(m.series_id, 77);
    ASSERT_TRUE(m.header.has_value());
    const auto& md = m.header->metadata;
    EXPECT_DOUBLE_EQ(*md.beam_center_fast_px, 20.5);
    EXPECT_DOUBLE_EQ(*md.beam_center_slow_px, 10.25);
    EXPECT_NEAR(*md.distance_mm, 150.0, 1e-9);
    EXPECT_NEAR(*md.pixel_size_mm, 0.075, 1e-12);
    EXPECT_DOUBLE_EQ(*md.wavelength_angstrom, 0.9763);
    EXPECT_DOUBLE_EQ(*md.saturation_value, 9999);
    EXPECT_EQ(m.header->mask, h.mask);
    // The header's mask is applied to the series' frames.
    const AnyImage frame = decode_stream_image(
        encode_stream_image(protocol, 77, 0, AnyImage(pattern_frame<uint16_t>(37, 53, 2)),
                            StreamEncoding::kBslz4),
        &*m.header, "image");
    const auto& img = std::get<Image<uint16_t>>(frame);
    ASSERT_TRUE(img.has_mask());
    EXPECT_EQ(img.mask()[100], 1);
    EXPECT_EQ(img.n_masked(), 1);
    EXPECT_NEAR(*img.metadata().distance_mm, 150.0, 1e-9);
    // A frame of another shape than the mask is refused, naming the message.
    try {
      decode_stream_image(encode_stream_image(protocol, 77, 1, AnyImage(pattern_frame<uint16_t>(8, 8, 2)),
                                              StreamEncoding::kRaw),
                          &*m.header, "message 9");
      ADD_FAILURE() << "no error";
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find("message 9"), std::string::npos) << e.what();
    }
    const StreamMessage end = parse_stream_message(encode_stream_end(protocol, 77), "end");
    EXPECT_EQ(end.type, StreamMessageType::kSeriesEnd);
    EXPECT_EQ(end.series_id, 77);
  }
}

// `f` throws a FormatError whose message contains `needle`.
template <typename F>
void expect_format_error(F f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error, expected one containing: " << needle;
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(DectrisStream, FaultsAreFormatErrorsNamingTheMessage) {
  const AnyImage img = pattern_frame<uint16_t>(16, 24, 4);
  // A stray data part (a consumer that connected in the middle of a message).
  expect_format_error([] { parse_stream_message({{0x01, 0x02, 0x03}}, "message 3"); },
                      "message 3: part 1: neither");
  expect_format_error([] { parse_stream_message({}, "message 4"); }, "message 4: empty");
  expect_format_error(
      [] {
        const std::string j = R"({"htype":"dconfig-1.0","start_time":0})";
        parse_stream_message({{j.begin(), j.end()}}, "message 5");
      },
      "htype 'dconfig-1.0'");
  // A V1 image cut short, a corrupt blob, a wrong bit count, big-endian data.
  auto v1 = encode_stream_image(StreamProtocol::kStream1, 1, 0, img, StreamEncoding::kBslz4);
  expect_format_error([&] { decode_stream_image({v1[0], v1[1]}, nullptr, "message 6"); },
                      "message 6: Stream V1 image message has 2 part(s)");
  auto corrupt = v1;
  corrupt[2].resize(corrupt[2].size() / 2);
  expect_format_error([&] { decode_stream_image(corrupt, nullptr, "message 7"); },
                      "message 7: part 3");
  auto swap_json = [](MessageParts parts, const std::string& key, const std::string& value) {
    auto d = nlohmann::json::parse(parts[1].begin(), parts[1].end());
    d[key] = value;
    const std::string t = d.dump();
    parts[1].assign(t.begin(), t.end());
    return parts;
  };
  expect_format_error([&] { decode_stream_image(swap_json(v1, "encoding", "bs32-lz4<"), nullptr, "m8"); },
                      "bitshuffle of 32-bit elements for uint16");
  expect_format_error([&] { decode_stream_image(swap_json(v1, "encoding", "bs16-lz4>"), nullptr, "m9"); },
                      "only little-endian");
  expect_format_error([&] { decode_stream_image(swap_json(v1, "type", "int64"), nullptr, "m10"); },
                      "pixel type 'int64'");
  auto lz4 = encode_stream_image(StreamProtocol::kStream1, 1, 0, img, StreamEncoding::kLz4);
  lz4[2][lz4[2].size() / 2] ^= 0xFF;
  lz4[2].resize(lz4[2].size() - 3);
  auto d = nlohmann::json::parse(lz4[1].begin(), lz4[1].end());
  d["size"] = lz4[2].size();
  const std::string t = d.dump();
  lz4[1].assign(t.begin(), t.end());
  expect_format_error([&] { decode_stream_image(lz4, nullptr, "m11"); }, "m11: part 3");
  // V2: a truncated message, an unknown type.
  auto v2 = encode_stream_image(StreamProtocol::kStream2, 1, 0, img, StreamEncoding::kBslz4);
  v2[0].resize(v2[0].size() - 100);
  expect_format_error([&] { parse_stream_message(v2, "m12"); }, "m12: CBOR");
  // A msgpack dump that is not an array of parts.
  ::difftriage::testing::TempDir tmp;
  ::difftriage::testing::write_text(tmp / "bad.msgpack", std::string("\x81\xa1k\xa1v", 5));
  expect_format_error([&] { read_message_dump(tmp / "bad.msgpack"); }, "bad.msgpack: msgpack");
}

TEST(DectrisStream, RealStream2ImageMessageParses) {
  DT_REQUIRE_SHARED(fixture("r500k_bm_bslz4_16bit_000001.cbor"));
  const std::string bytes = ::difftriage::testing::read_bytes(fixture("r500k_bm_bslz4_16bit_000001.cbor"));
  const MessageParts parts{{bytes.begin(), bytes.end()}};
  const StreamMessage m = parse_stream_message(parts, "r500k");
  EXPECT_EQ(m.protocol, StreamProtocol::kStream2);
  EXPECT_EQ(m.type, StreamMessageType::kImage);
  const AnyImage img = decode_stream_image(parts, nullptr, "r500k");
  EXPECT_EQ(extents(img), (std::pair<int64_t, int64_t>{514, 1030}));
  // Same pixels as the file reader's.
  const AnyImage file = read_image(fixture("r500k_bm_bslz4_16bit_000001.cbor"));
  EXPECT_EQ(std::get<Image<uint16_t>>(img).pixels(), std::get<Image<uint16_t>>(file).pixels());
}

}  // namespace
}  // namespace difftriage::io
