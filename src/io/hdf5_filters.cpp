// HDF5 reader: chunk filters (hdf5_filters.h). One frame's bytes, read under the HDF5 mutex;
// decoding and conversion to an image outside it.
//
// EIGER writes bitshuffle+LZ4 (filter 32008) or LZ4 (32004), for which Debian has no HDF5
// plugin (hdf5-filter-plugin lacks bitshuffle), so such chunks are read raw with H5Dread_chunk
// (HDF5 >= 1.10.3) and decoded here (bitshuffle_lz4.cpp). Datasets without filters or with only
// HDF5's built-in ones (deflate, shuffle, fletcher32, n-bit, scale-offset, szip when built) go
// through H5Dread. Anything else is a FormatError naming the filter.
#include "hdf5_filters.h"
#include "pixel_markers.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "difftriage/io/bitshuffle_lz4.h"
#include "format_registry.h"
#include "hdf5_support.h"

namespace difftriage::io::detail::hdf5 {
namespace {

using ::difftriage::detail::concat;

constexpr int kFilterDeflate = 1, kFilterShuffle = 2, kFilterFletcher32 = 3, kFilterSzip = 4,
              kFilterNbit = 5, kFilterScaleOffset = 6;
// The largest raw chunk we accept, in bytes: a corrupt chunk index must not make us allocate
// without bound (a frame is at most kMaxImagePixels * 8 bytes; LZ4 adds < 0.5 %).
constexpr uint64_t kMaxChunkBytes = uint64_t{1} << 32;

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

struct FilterInfo {
  int id = 0;
  std::string name;
  std::vector<unsigned> cd_values;
};

void swap_in_place(uint8_t* data, size_t n_elements, size_t size) {
  for (size_t i = 0; i < n_elements; ++i) std::reverse(data + i * size, data + (i + 1) * size);
}

template <typename In>
In load(const uint8_t* p) {
  In value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

}  // namespace

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

namespace {

// Decodes the frame's bytes straight into `out` (n_pixels · sample size bytes): the common case
// of decode_frame_bytes (one frame per chunk, native byte order) without its intermediate buffer.
void decode_frame_into(RawFrame& raw, uint8_t* out, size_t n_out) {
  switch (raw.codec) {
    case Codec::kPixels:
    case Codec::kRawChunk:
    case Codec::kBitshuffle:
      if (raw.bytes.size() != n_out) {
        throw FormatError(concat(raw.where, raw.codec == Codec::kPixels ? ": read " : ": stored chunk has ",
                                 raw.bytes.size(), " bytes, the frame needs ", n_out,
                                 " (size mismatch)"));
      }
      if (raw.codec == Codec::kBitshuffle) {
        bitunshuffle(raw.bytes.data(), out, raw.chunk_elements, sample_size(raw.sample),
                     raw.block_elements);
      } else if (n_out > 0) {
        std::memcpy(out, raw.bytes.data(), n_out);
      }
      break;
    case Codec::kBitshuffleLz4:
      decode_bitshuffle_lz4(raw.bytes.data(), raw.bytes.size(), out, n_out,
                            sample_size(raw.sample), raw.where);
      break;
    case Codec::kLz4:
      decode_hdf5_lz4(raw.bytes.data(), raw.bytes.size(), out, n_out, raw.where);
      break;
  }
}

template <typename T>
Image<T> decoded_image(RawFrame& raw) {
  Image<T> image(raw.n_slow, raw.n_fast);
  decode_frame_into(raw, reinterpret_cast<uint8_t*>(image.data()),
                    static_cast<size_t>(image.size()) * sizeof(T));
  return image;
}

}  // namespace

AnyImage decode_image(RawFrame& raw, bool eiger_invalid, std::vector<uint8_t>* mask) {
  const auto n_pixels = static_cast<size_t>(raw.n_slow * raw.n_fast);
  const bool whole = raw.codec == Codec::kPixels ||
                     (raw.frame_offset == 0 && raw.chunk_elements == n_pixels);
  const int64_t n = raw.n_slow * raw.n_fast;
  if (whole && !raw.swap_bytes) {
    switch (raw.sample) {
      case Sample::kU8: {
        Image<uint8_t> image = decoded_image<uint8_t>(raw);
        if (eiger_invalid) mark_equal<uint8_t>(image.data(), n, 0xFF, mask);
        return image;
      }
      case Sample::kU16: {
        Image<uint16_t> image = decoded_image<uint16_t>(raw);
        if (eiger_invalid) mark_equal<uint16_t>(image.data(), n, 0xFFFF, mask);
        return image;
      }
      case Sample::kU32: {
        Image<int32_t> image = decoded_image<int32_t>(raw);  // uint32 bits, fixed up in place
        clamp_uint32_invalid(image.data(), n, eiger_invalid, mask);
        return image;
      }
      case Sample::kI32:
        return decoded_image<int32_t>(raw);
      case Sample::kF32:
        return decoded_image<float>(raw);
      default:
        break;
    }
  }
  const std::vector<uint8_t> pixels = decode_frame_bytes(raw);
  return to_image(raw, pixels, eiger_invalid, mask);
}

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

}  // namespace difftriage::io::detail::hdf5
