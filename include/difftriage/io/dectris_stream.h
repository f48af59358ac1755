/// DECTRIS detector streams as ZeroMQ messages: SIMPLON stream version 1 (multipart JSON +
/// blobs) and Stream V2 (one CBOR message per ZeroMQ message). Decoding for `difftriage stream`,
/// encoding for `difftriage replay` and the tests. No sockets here (the stream module owns them).
///
///   io::MessageParts parts = ...;                      // the frames of one ZeroMQ message
///   io::StreamMessage m = io::parse_stream_message(parts, "message 7");
///   if (m.type == io::StreamMessageType::kImage)
///     AnyImage frame = io::decode_stream_image(parts, &series_header, "series 3 frame 12");
///
/// Stream V1 (SIMPLON API; facts in ../shared/fixtures/README.md):
///  - header: part 1 `{"htype":"dheader-1.0","series":N,"header_detail":"all|basic|none"}`; with
///    basic/all a detector-config JSON part (beam_center_x/y px, detector_distance m, wavelength
///    Å, x_pixel_size m, countrate_correction_count_cutoff, count_time s, description); with all
///    also `dflatfield-1.0`, `dpixelmask-1.0`, `dcountrate_table-1.0` header + blob pairs (the
///    pixel mask: uint32, non-zero = masked; an empty blob means none).
///  - image: `dimage-1.0` {series, frame (0-based), hash}, `dimage_d-1.0` {shape [fast, slow],
///    type uint8|uint16|uint32|float32, encoding, size}, the blob, `dconfig-1.0`, optionally an
///    appendix part. Encodings `<` (raw little-endian), `lz4<` (one raw LZ4 block), `bs8-lz4<`,
///    `bs16-lz4<`, `bs32-lz4<` (bitshuffle + LZ4 with the HDF5-style 12-byte header; the bit
///    count must match the type). Big-endian (`>`) blobs are a FormatError.
///  - end: `{"htype":"dseries_end-1.0","series":N}`.
/// Stream V2 (dectris/documentation stream_v2): self-describe tag 55799 around a map with
/// "type" start | image | end and "series_id"; images as in image_io.h (channel 0 is the frame;
/// tag 56500 "bslz4" and "lz4"); start carries geometry, saturation and the pixel mask.
///
/// Pixel types: uint8 → uint8, uint16 → uint16, uint32 → int32 (values above INT32_MAX → -1),
/// float32 → float; unsigned all-ones values (2^bits − 1, the detector's invalid marker) and
/// pixels of the header's mask are masked.
///
/// Thread-safety: every function is pure and may be called concurrently.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "difftriage/core/image.h"

namespace difftriage::io {

/// The frames (parts) of one ZeroMQ message, in order.
using MessageParts = std::vector<std::vector<uint8_t>>;

/// kStream1: SIMPLON stream version 1 (multipart JSON); kStream2: Stream V2 (CBOR).
enum class StreamProtocol { kStream1, kStream2 };
/// "stream1" / "stream2".
const char* stream_protocol_name(StreamProtocol protocol) noexcept;

/// What a message opens, carries or closes.
enum class StreamMessageType { kSeriesStart, kImage, kSeriesEnd };

/// A series' header (V1 dheader / V2 start): detector metadata and the pixel mask.
struct StreamSeriesHeader {
  int64_t series_id = 0;
  DetectorMetadata metadata;
  /// n_slow × n_fast bytes, non-zero = masked; empty when the header carries no mask.
  std::vector<uint8_t> mask;
  int64_t mask_n_slow = 0, mask_n_fast = 0;
  /// Images the series will hold (V1 detector config nimages × ntrigger, ntrigger 1 when
  /// absent; V2 number_of_images); unset when the header does not say. Image numbers run
  /// 0 .. n_images − 1.
  std::optional<int64_t> n_images;
};

/// The envelope of one message; no pixels decoded.
struct StreamMessage {
  StreamProtocol protocol = StreamProtocol::kStream1;
  StreamMessageType type = StreamMessageType::kImage;
  int64_t series_id = 0;
  /// Image messages: V1 `frame`, V2 `image_id`.
  int64_t frame = -1;
  /// Series start messages: the header (geometry, mask).
  std::optional<StreamSeriesHeader> header;
};

/// Identifies the protocol (V2: tag 55799 at the start of a one-part message; V1: JSON with an
/// `htype`) and parses the envelope. `name` (e.g. "message 12") goes into every error.
/// @throws FormatError naming `name` and the part when the message is neither (a stray data part,
///         an unknown htype, a V1 image message with fewer than 3 parts, a missing series).
StreamMessage parse_stream_message(const MessageParts& parts, const std::string& name);

/// Decodes the frame of an image message (V1 blob or V2 channel 0). With `header`, its mask is
/// added to the frame's (where the shapes agree; a differing shape is a FormatError) and its
/// metadata fills what the message does not say.
/// @throws FormatError naming `name` for anything undecodable (bad encoding, size, LZ4 data).
AnyImage decode_stream_image(const MessageParts& parts, const StreamSeriesHeader* header,
                             const std::string& name);

/// How replay encodes pixels: kRaw (`<`, V2 uncompressed), kLz4 (`lz4<`, V2 "lz4"), kBslz4
/// (`bs<bits>-lz4<`, V2 "bslz4").
enum class StreamEncoding { kRaw, kLz4, kBslz4 };

/// An image's pixels as sent in one bitshuffle-LZ4 chunk (HDF5 filter framing: u64 BE size,
/// u32 BE block size, blocks), ready to be stored as it is (io::FrameStackWriter::append_bslz4).
struct Bslz4Chunk {
  std::vector<uint8_t> bytes;
  /// kUint8, kUint16, or kInt32 for the stream's uint32 pixels.
  PixelType type = PixelType::kUint16;
  int64_t n_slow = 0, n_fast = 0;
};

/// The pixels of an image message as sent, when they are one bitshuffle-LZ4 chunk (V1
/// `bs<bits>-lz4<`, V2 `bslz4`) of unsigned pixels; nullopt for other encodings (those are
/// decoded and re-framed by whoever stores them). Nothing is decompressed or checked beyond
/// the envelope.
/// @throws FormatError naming `name` when `parts` is no readable image message.
std::optional<Bslz4Chunk> find_bslz4_chunk(const MessageParts& parts, const std::string& name);

/// A series' start message: V1 header with header_detail "basic" (or "all" with the mask as a
/// `dpixelmask-1.0` blob, empty flatfield and count-rate blobs) / V2 start. `n_images` is
/// written as nimages / number_of_images.
MessageParts encode_stream_start(StreamProtocol protocol, const StreamSeriesHeader& header,
                                 int64_t n_fast, int64_t n_slow, int64_t n_images);
/// An image message (V1: 4 parts; V2: one CBOR message with channel "threshold_1"). int32
/// pixels are sent as uint32 (negative values wrap to the invalid marker range).
/// @throws ConfigError for an empty frame.
MessageParts encode_stream_image(StreamProtocol protocol, int64_t series_id, int64_t frame,
                                 const AnyImage& image, StreamEncoding encoding);
/// A series' end message.
MessageParts encode_stream_end(StreamProtocol protocol, int64_t series_id);

/// Reads a recorded message dump: a msgpack array holding one message's parts in order (maps for
/// the first part, JSON bytes or binary blobs for the rest; the format of the dials/data-files
/// Stream V1 dumps in ../shared/fixtures). Maps are returned as JSON text, strings and binaries
/// as their bytes, so the parts are what went over the wire.
/// @throws IoError naming the file if it cannot be read; FormatError naming the file and byte
///         offset for bad msgpack.
MessageParts read_message_dump(const std::filesystem::path& path);

}  // namespace difftriage::io
