#include "io_test_support.h"

#include <bzlib.h>
#include <png.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <limits>
#include <random>

namespace difftriage::io::testing {
namespace {

void put_u16(std::string& out, size_t at, uint32_t value) {
  out[at] = static_cast<char>(value & 0xff);
  out[at + 1] = static_cast<char>((value >> 8) & 0xff);
}
void put_u32(std::string& out, size_t at, uint32_t value) {
  for (int i = 0; i < 4; ++i) out[at + i] = static_cast<char>((value >> (8 * i)) & 0xff);
}
size_t type_size(uint16_t type) { return type == 3 ? 2 : 4; }

}  // namespace

Image<uint8_t> make_frame_u8(int64_t n_slow, int64_t n_fast, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> background(100, 140);
  Image<uint8_t> image(n_slow, n_fast);
  for (auto& p : image.pixels()) p = static_cast<uint8_t>(background(rng));
  std::uniform_real_distribution<double> where(0.0, 1.0);
  const int n_spots = static_cast<int>(std::max<int64_t>(3, n_slow * n_fast / 1500));
  for (int s = 0; s < n_spots; ++s) {
    const double cs = where(rng) * n_slow, cf = where(rng) * n_fast, peak = 80 + where(rng) * 115;
    for (int64_t y = std::max<int64_t>(0, cs - 4); y < std::min<int64_t>(n_slow, cs + 5); ++y) {
      for (int64_t x = std::max<int64_t>(0, cf - 4); x < std::min<int64_t>(n_fast, cf + 5); ++x) {
        const double r2 = (y - cs) * (y - cs) + (x - cf) * (x - cf);
        const double v = image(y, x) + peak * std::exp(-r2 / 2.0);
        image(y, x) = static_cast<uint8_t>(std::min(255.0, v));
      }
    }
  }
  return image;
}

Image<uint16_t> make_frame_u16(int64_t n_slow, int64_t n_fast, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> value(0, 65535);
  Image<uint16_t> image(n_slow, n_fast);
  for (auto& p : image.pixels()) p = static_cast<uint16_t>(value(rng));
  image.pixels()[0] = 0x0102;  // distinct bytes: a byte-order mistake cannot go unnoticed
  return image;
}

Image<int32_t> make_frame_i32(int64_t n_slow, int64_t n_fast, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> value(-2, 1 << 24);
  Image<int32_t> image(n_slow, n_fast);
  for (auto& p : image.pixels()) p = value(rng);
  image.pixels()[0] = -1;
  image.pixels()[1] = 2147483647;
  return image;
}

Image<float> make_frame_f32(int64_t n_slow, int64_t n_fast, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> value(100.0f, 1000.0f);
  Image<float> image(n_slow, n_fast);
  for (auto& p : image.pixels()) p = value(rng);
  image.pixels()[0] = -0.125f;
  image.pixels()[1] = 3.0e38f;
  return image;
}

namespace {

// Appends one IFD with its data and out-of-line values to `file`, links it from the 4-byte
// offset at `link_at` (the header's first-IFD field or the previous IFD's next field) and returns
// the position of its own next-IFD field.
size_t append_ifd(std::string& file, std::vector<TiffEntry> entries, const std::string& data,
                  bool data_last, size_t link_at) {
  std::sort(entries.begin(), entries.end(),
            [](const TiffEntry& a, const TiffEntry& b) { return a.tag < b.tag; });
  const auto align = [&] { file.resize((file.size() + 1) & ~size_t{1}, '\0'); };
  align();
  size_t data_offset = file.size();
  if (!data_last) {
    file += data;
    align();
  }
  const size_t ifd_offset = file.size();
  put_u32(file, link_at, static_cast<uint32_t>(ifd_offset));
  const size_t ifd_size = 2 + 12 * entries.size() + 4;
  size_t n_out_of_line = 0;
  for (const TiffEntry& e : entries) {
    const size_t n_bytes = type_size(e.type) * e.values.size();
    if (n_bytes > 4) n_out_of_line += (n_bytes + 1) & ~size_t{1};
  }
  if (data_last) data_offset = ifd_offset + ifd_size + n_out_of_line;
  file.resize(ifd_offset + ifd_size, '\0');
  put_u16(file, ifd_offset, static_cast<uint32_t>(entries.size()));
  for (size_t i = 0; i < entries.size(); ++i) {
    const TiffEntry& e = entries[i];
    const size_t at = ifd_offset + 2 + 12 * i;
    put_u16(file, at, e.tag);
    put_u16(file, at + 2, e.type);
    put_u32(file, at + 4, static_cast<uint32_t>(e.values.size()));
    const size_t n_bytes = type_size(e.type) * e.values.size();
    size_t value_at = at + 8;
    if (n_bytes > 4) {
      value_at = file.size();
      put_u32(file, at + 8, static_cast<uint32_t>(value_at));
      file.resize(file.size() + ((n_bytes + 1) & ~size_t{1}), '\0');
    }
    for (size_t k = 0; k < e.values.size(); ++k) {
      const uint32_t v =
          e.values[k] + (e.add_data_offset ? static_cast<uint32_t>(data_offset) : 0u);
      if (e.type == 3)
        put_u16(file, value_at + 2 * k, v);
      else
        put_u32(file, value_at + 4 * k, v);
    }
  }
  if (data_last) file += data;
  return ifd_offset + 2 + 12 * entries.size();
}

std::string tiff_header() { return std::string("II*\0\0\0\0\0", 8); }

}  // namespace

std::string build_tiff(std::vector<TiffEntry> entries, const std::string& data, bool data_last) {
  std::string file = tiff_header();
  append_ifd(file, std::move(entries), data, data_last, 4);
  return file;
}

std::string build_tiff_pages(
    const std::vector<std::pair<std::vector<TiffEntry>, std::string>>& pages) {
  std::string file = tiff_header();
  size_t link_at = 4;
  for (const auto& [entries, data] : pages)
    link_at = append_ifd(file, entries, data, false, link_at);
  return file;
}

std::vector<TiffEntry> strip_tiff_entries(uint32_t n_fast, uint32_t n_slow, uint16_t bits,
                                          uint16_t sample_format, size_t n_data_bytes,
                                          const std::vector<TiffEntry>& overrides) {
  std::vector<TiffEntry> entries = {
      {256, 4, {n_fast}},                               // ImageWidth
      {257, 4, {n_slow}},                               // ImageLength
      {258, 3, {bits}},                                 // BitsPerSample
      {259, 3, {1}},                                    // Compression: none
      {262, 3, {1}},                                    // Photometric: MinIsBlack
      {273, 4, {0}, true},                              // StripOffsets
      {277, 3, {1}},                                    // SamplesPerPixel
      {278, 4, {n_slow}},                               // RowsPerStrip
      {279, 4, {static_cast<uint32_t>(n_data_bytes)}},  // StripByteCounts
      {339, 3, {sample_format}},                        // SampleFormat
  };
  for (const TiffEntry& o : overrides) {
    auto it = std::find_if(entries.begin(), entries.end(),
                           [&](const TiffEntry& e) { return e.tag == o.tag; });
    if (it != entries.end())
      *it = o;
    else
      entries.push_back(o);
  }
  return entries;
}

std::string build_strip_tiff(uint32_t n_fast, uint32_t n_slow, uint16_t bits,
                             uint16_t sample_format, const std::string& data,
                             const std::vector<TiffEntry>& overrides, bool data_last) {
  return build_tiff(strip_tiff_entries(n_fast, n_slow, bits, sample_format, data.size(), overrides),
                    data, data_last);
}

std::string build_tiled_tiff(const Image<uint16_t>& image, uint32_t tile) {
  const auto n_fast = static_cast<uint32_t>(image.n_fast());
  const auto n_slow = static_cast<uint32_t>(image.n_slow());
  std::string tiles;
  std::vector<uint32_t> offsets, counts;
  for (uint32_t ty = 0; ty < n_slow; ty += tile) {
    for (uint32_t tx = 0; tx < n_fast; tx += tile) {
      std::vector<uint16_t> block(tile * tile, 0xdead);
      for (uint32_t y = 0; y < tile && ty + y < n_slow; ++y) {
        for (uint32_t x = 0; x < tile && tx + x < n_fast; ++x) {
          block[y * tile + x] = image(ty + y, tx + x);
        }
      }
      offsets.push_back(static_cast<uint32_t>(tiles.size()));
      counts.push_back(tile * tile * 2);
      tiles.append(reinterpret_cast<const char*>(block.data()), block.size() * 2);
    }
  }
  return build_tiff({{256, 4, {n_fast}},
                     {257, 4, {n_slow}},
                     {258, 3, {16}},
                     {259, 3, {1}},
                     {262, 3, {1}},
                     {277, 3, {1}},
                     {322, 4, {tile}},
                     {323, 4, {tile}},
                     {324, 4, offsets, true},
                     {325, 4, counts},
                     {339, 3, {1}}},
                    tiles);
}

namespace {
void append_png_bytes(png_structp png, png_bytep data, size_t n) {
  auto* out = static_cast<std::string*>(png_get_io_ptr(png));
  out->append(reinterpret_cast<const char*>(data), n);
}
void flush_png(png_structp) {}
}  // namespace

std::string build_png(int color_type, int bit_depth, uint32_t width, uint32_t height,
                      const std::vector<uint8_t>& rows, const std::vector<uint8_t>& palette,
                      const std::vector<uint8_t>& transparent) {
  std::string out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  const size_t row_bytes = rows.size() / height;
  std::vector<png_bytep> row_pointers(height);
  for (uint32_t y = 0; y < height; ++y) {
    row_pointers[y] = const_cast<png_bytep>(rows.data() + y * row_bytes);
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    ADD_FAILURE() << "libpng failed to write a test PNG";
    return {};
  }
  png_set_write_fn(png, &out, append_png_bytes, flush_png);
  png_set_IHDR(png, info, width, height, bit_depth, color_type, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (!palette.empty()) {
    std::vector<png_color> colors(palette.size() / 3);
    for (size_t i = 0; i < colors.size(); ++i) {
      colors[i] = {palette[3 * i], palette[3 * i + 1], palette[3 * i + 2]};
    }
    png_set_PLTE(png, info, colors.data(), static_cast<int>(colors.size()));
  }
  if (!transparent.empty()) {
    png_set_tRNS(png, info, transparent.data(), static_cast<int>(transparent.size()), nullptr);
  }
  png_write_info(png, info);
  png_write_image(png, row_pointers.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

std::string encode_byte_offset(const std::vector<int64_t>& values) {
  std::string out;
  const auto put = [&out](int64_t v, int n_bytes) {
    for (int k = 0; k < n_bytes; ++k) out += static_cast<char>((static_cast<uint64_t>(v) >> (8 * k)) & 0xff);
  };
  int64_t previous = 0;
  for (const int64_t value : values) {
    const int64_t delta = value - previous;
    previous = value;
    if (delta > -128 && delta <= 127) {
      put(delta, 1);
      continue;
    }
    put(0x80, 1);
    if (delta > -32768 && delta <= 32767) {
      put(delta, 2);
      continue;
    }
    put(0x8000, 2);
    if (delta > std::numeric_limits<int32_t>::min() && delta <= std::numeric_limits<int32_t>::max()) {
      put(delta, 4);
      continue;
    }
    put(0x80000000, 4);
    put(delta, 8);
  }
  return out;
}

std::string build_minicbf(const Image<int32_t>& image, const std::vector<std::string>& header_lines,
                          size_t n_padding_bytes) {
  std::vector<int64_t> values(image.pixels().begin(), image.pixels().end());
  const std::string data = encode_byte_offset(values);
  std::string out = "###CBF: VERSION 1.5, difftriage test\r\n\r\ndata_test\r\n\r\n";
  out += "_array_data.header_convention \"PILATUS_1.2\"\r\n_array_data.header_contents\r\n;\r\n";
  for (const std::string& line : header_lines) out += line + "\r\n";
  out += ";\r\n\r\n_array_data.data\r\n;\r\n--CIF-BINARY-FORMAT-SECTION--\r\n";
  out += "Content-Type: application/octet-stream;\r\n     conversions=\"x-CBF_BYTE_OFFSET\"\r\n";
  out += "Content-Transfer-Encoding: BINARY\r\n";
  out += "X-Binary-Size: " + std::to_string(data.size() + n_padding_bytes) + "\r\n";
  out += "X-Binary-ID: 1\r\nX-Binary-Element-Type: \"signed 32-bit integer\"\r\n";
  out += "X-Binary-Element-Byte-Order: LITTLE_ENDIAN\r\n";
  out += "X-Binary-Number-of-Elements: " + std::to_string(image.size()) + "\r\n";
  out += "X-Binary-Size-Fastest-Dimension: " + std::to_string(image.n_fast()) + "\r\n";
  out += "X-Binary-Size-Second-Dimension: " + std::to_string(image.n_slow()) + "\r\n";
  out += "X-Binary-Size-Padding: " + std::to_string(n_padding_bytes) + "\r\n\r\n";
  out += std::string("\x0c\x1a\x04\xd5", 4);
  out += data;
  out += std::string(n_padding_bytes, '\0');
  out += "\r\n--CIF-BINARY-FORMAT-SECTION----\r\n;\r\n\r\n";
  return out;
}

std::string build_smv(const std::vector<std::string>& records, const std::string& raster) {
  std::string body;
  for (const std::string& r : records) body += r + ";\n";
  body += "}\n";
  // HEADER_BYTES is written with 5 digits so that its own length is known in advance.
  const std::string first = "{\nHEADER_BYTES=";
  const size_t fixed = first.size() + 5 + 2 + body.size();
  const size_t header_bytes = (fixed + 511) / 512 * 512;
  std::string digits = std::to_string(header_bytes);
  digits.insert(0, 5 - digits.size(), ' ');
  std::string out = first + digits + ";\n" + body;
  out.resize(header_bytes, ' ');
  return out + raster;
}

std::string gzip_bytes(const std::string& bytes) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, static_cast<uLong>(bytes.size())) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  EXPECT_EQ(rc, Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string gunzip_head(const std::string& gz, size_t max_bytes) {
  z_stream z{};
  inflateInit2(&z, 16 + MAX_WBITS);
  std::string out(max_bytes, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  inflate(&z, Z_SYNC_FLUSH);
  out.resize(z.total_out);
  inflateEnd(&z);
  return out;
}

std::string bzip2_bytes(const std::string& bytes) {
  std::string out(bytes.size() + bytes.size() / 100 + 1024, '\0');
  auto n_out = static_cast<unsigned>(out.size());
  const int rc = BZ2_bzBuffToBuffCompress(out.data(), &n_out, const_cast<char*>(bytes.data()),
                                          static_cast<unsigned>(bytes.size()), 9, 0, 0);
  EXPECT_EQ(rc, BZ_OK);
  out.resize(n_out);
  return out;
}

namespace {

// CBOR head: major type `major` with argument `value`, shortest encoding (RFC 8949).
void cbor_head(std::string* out, int major, uint64_t value) {
  const auto m = static_cast<char>(major << 5);
  if (value < 24) {
    out->push_back(static_cast<char>(m | static_cast<char>(value)));
  } else if (value <= 0xFF) {
    out->push_back(static_cast<char>(m | 24));
    out->push_back(static_cast<char>(value));
  } else if (value <= 0xFFFF) {
    out->push_back(static_cast<char>(m | 25));
    for (int s = 8; s >= 0; s -= 8) out->push_back(static_cast<char>((value >> s) & 0xFF));
  } else if (value <= 0xFFFFFFFFu) {
    out->push_back(static_cast<char>(m | 26));
    for (int s = 24; s >= 0; s -= 8) out->push_back(static_cast<char>((value >> s) & 0xFF));
  } else {
    out->push_back(static_cast<char>(m | 27));
    for (int s = 56; s >= 0; s -= 8) out->push_back(static_cast<char>((value >> s) & 0xFF));
  }
}
void cbor_text(std::string* out, const std::string& text) {
  cbor_head(out, 3, text.size());
  *out += text;
}
void cbor_bytes(std::string* out, const uint8_t* bytes, size_t n) {
  cbor_head(out, 2, n);
  out->append(reinterpret_cast<const char*>(bytes), n);
}

}  // namespace

std::string build_cbor_image(const std::vector<std::pair<std::string, Image<uint16_t>>>& channels,
                             bool bslz4, uint64_t image_id) {
  std::string out;
  cbor_head(&out, 6, 55799);
  cbor_head(&out, 5, 5);
  cbor_text(&out, "type");
  cbor_text(&out, "image");
  cbor_text(&out, "series_id");
  cbor_head(&out, 0, 1);
  cbor_text(&out, "image_id");
  cbor_head(&out, 0, image_id);
  cbor_text(&out, "real_time");
  cbor_head(&out, 4, 2);
  cbor_head(&out, 0, 1);
  cbor_head(&out, 0, 1000);
  cbor_text(&out, "data");
  cbor_head(&out, 5, channels.size());
  for (const auto& [name, image] : channels) {
    cbor_text(&out, name);
    cbor_head(&out, 6, 40);
    cbor_head(&out, 4, 2);
    cbor_head(&out, 4, 2);
    cbor_head(&out, 0, static_cast<uint64_t>(image.n_slow()));
    cbor_head(&out, 0, static_cast<uint64_t>(image.n_fast()));
    cbor_head(&out, 6, 69);  // uint16, little-endian
    std::vector<uint8_t> plain(static_cast<size_t>(image.size()) * 2);
    for (int64_t i = 0; i < image.size(); ++i) {
      plain[2 * i] = static_cast<uint8_t>(image.data()[i] & 0xFF);
      plain[2 * i + 1] = static_cast<uint8_t>(image.data()[i] >> 8);
    }
    if (bslz4) {
      const std::vector<uint8_t> packed = encode_bslz4(plain, 2, 1024);
      cbor_head(&out, 6, 56500);
      cbor_head(&out, 4, 3);
      cbor_text(&out, "bslz4");
      cbor_head(&out, 0, 2);
      cbor_bytes(&out, packed.data(), packed.size());
    } else {
      cbor_bytes(&out, plain.data(), plain.size());
    }
  }
  return out;
}

std::string build_imgcif_from_fixture(const std::string& fixture_cbf, const Image<int32_t>& image) {
  const std::string kBinaryStart("\x0c\x1a\x04\xd5", 4);
  const size_t binary = fixture_cbf.find(kBinaryStart);
  if (binary == std::string::npos) return {};
  std::string header = fixture_cbf.substr(0, binary);
  const std::string fast = std::to_string(image.n_fast()), slow = std::to_string(image.n_slow());
  std::vector<int64_t> values(image.pixels().begin(), image.pixels().end());
  const std::string data = encode_byte_offset(values);
  const std::vector<std::pair<std::string, std::string>> replacements = {
      {"ARRAY1 1 2463 1", "ARRAY1 1 " + fast + " 1"},
      {"ARRAY1 2 2527 2", "ARRAY1 2 " + slow + " 2"},
      {"X-Binary-Size: 6224017", "X-Binary-Size: " + std::to_string(data.size())},
      {"X-Binary-Number-of-Elements: 6224001",
       "X-Binary-Number-of-Elements: " + std::to_string(image.size())},
      {"X-Binary-Size-Fastest-Dimension: 2463", "X-Binary-Size-Fastest-Dimension: " + fast},
      {"X-Binary-Size-Second-Dimension: 2527", "X-Binary-Size-Second-Dimension: " + slow},
      {"X-Binary-Size-Padding: 4095", "X-Binary-Size-Padding: 16"},
  };
  for (const auto& [from, to] : replacements) {
    const size_t at = header.find(from);
    if (at == std::string::npos) return {};
    header.replace(at, from.size(), to);
  }
  const size_t md5 = header.find("Content-MD5: ");
  if (md5 != std::string::npos) header.erase(md5, header.find('\n', md5) + 1 - md5);
  return header + kBinaryStart + data + std::string(16, '\0') +
         "\r\n--CIF-BINARY-FORMAT-SECTION----\r\n;\r\n\r\n";
}

}  // namespace difftriage::io::testing
