/// The live detector stream: `difftriage stream` (a ZeroMQ PULL consumer of a DECTRIS detector's
/// Stream V1 or V2, triaging each series into its own folder) and `difftriage replay` (a PUSH
/// sender that plays files or recorded messages as a DECTRIS series).
///
///   stream::LiveOptions o;
///   o.endpoint = "tcp://127.0.0.1:9999";  o.out = "live";  o.max_series = 1;
///   auto summary = stream::run_live_triage(o, classifier);   // live/series_<id>/...
///
/// Per series (io/dectris_stream.h decodes the messages; protocol detected per message): a
/// folder `out/series_<id>/` (`series_<id>_2`, `_3`, ... when the id is seen again or the folder
/// exists) holding
///  - results.jsonl: classify's row (triage.h result_row) per received image, in arrival order,
///    with `"path": null`, `"series": <id>`, `"frame": <V1 frame / V2 image_id>` and the stream's
///    flags added to `flags`; written as `results.jsonl.partial` while the series is open and
///    renamed when it closes;
///  - report.html (LiveOptions::write_reports): the run report of the series (run_report.h),
///    its example frames made as they were triaged (their pixels are not kept on disk);
///  - summary.json (written last, atomically): `status` complete (end message seen) | incomplete
///    (no message for `series_timeout_s`) | interrupted (stop requested or --max-series reached
///    while open); `n_frames` received = `n_kept` + `n_veto`; n_uncertain, n_errors (unreadable
///    or corrupt messages, kept), n_no_header, n_untriaged, hit_rate, frames_per_s, elapsed_s,
///    per-stage timing (decode_s, infer_s summed over threads), the model (path and
///    model_info) and the settings; header_received, end_received, closed_by (end_message |
///    timeout | next_series (fan_out) | header_again (a header of a series still open) | stop),
///    fan_out, n_images_expected (the header's image count, null without the header).
/// Flags beyond decide_triage's: "no_header" (the series' header was not received — a consumer
/// that connected late or a second consumer of a shared detector; the frame is triaged without
/// the header's mask and geometry and kept), "untriaged" (the triage queue was full: the frame
/// was counted and kept without being decoded, never dropped).
///
/// Messages that are no DECTRIS message or belong to no frame (stray data parts, unknown htypes)
/// are counted in `out/stream_summary.json` (`n_stray_messages`, the first errors) and logged;
/// the reader resynchronises on the next message that opens a header, image or end.
///
/// Threads and memory: one receiver thread (the socket) and the calling thread (series state,
/// decoding and triage through run_triage on batches, with its decode and inference threads).
/// Between them at most `queue_capacity` messages with pixels are held, plus ZeroMQ's receive
/// buffer of as many messages (ZMQ_RCVHWM), plus one batch being triaged: with 16M bslz4 frames
/// (~10 MB each) and the default 64, about 1.3 GB at most; untriaged records hold no pixels
/// (about 100 bytes each).
///
/// Not thread-safe to share a LiveOptions' callbacks across runs; one run per call.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "difftriage/core/detector_geometry.h"
#include "difftriage/io/dectris_stream.h"
#include "difftriage/models/classifier.h"
#include "difftriage/stream/monitor.h"
#include "difftriage/stream/pipeline.h"

namespace difftriage::stream {

/// Options of run_live_triage (`difftriage stream`).
struct LiveOptions {
  /// ZeroMQ endpoint to connect the PULL socket to (the detector binds), e.g.
  /// "tcp://127.0.0.1:9999".
  std::string endpoint;
  /// Output folder (created if missing).
  std::filesystem::path out;
  /// Stop after this many series have closed (complete or incomplete); 0 = run until stopped.
  int64_t max_series = 0;
  /// Close an open series as incomplete after this many seconds without a message for it (> 0).
  double series_timeout_s = 60.0;
  /// Image messages (with pixels) held between the receiver and the triage (≥ 1); beyond, image
  /// messages are kept untriaged (see above).
  int64_t queue_capacity = 64;
  /// Decode, batching and inference settings (TriageOptions::batch_size: images per run_triage
  /// call at most; a smaller batch is triaged as soon as no further message is waiting).
  TriageOptions triage;
  /// Recorded in each summary.json.
  std::string model_path;
  /// Non-empty: bind a PUSH socket here and pass on, for a downstream consumer, each series'
  /// header/start message, its kept image messages as received with the triage result attached
  /// (V1: one more part `{"htype":"difftriage-1.0","result":<row>}`; V2: `user_data`
  /// `{"difftriage": <row>}` when the message has none) and its end message. A kept image that
  /// cannot be sent within `forward_timeout_s` (no or a stalled downstream), or that was kept
  /// untriaged (its pixels were not held), is counted in summary.json `n_not_forwarded`.
  std::string forward_endpoint;
  /// How long one forward may wait for the downstream (> 0); after a failed send, later sends
  /// do not wait until one succeeds again.
  double forward_timeout_s = 1.0;
  /// Write each series' kept images to `series_<id>/kept.nxs` (io::FrameStackWriter, NXmx
  /// layout; the series header's geometry and pixel mask): bitshuffle-LZ4 images (V1
  /// `bs<bits>-lz4<`, V2 `bslz4`) stored chunk for chunk as received, other encodings decoded
  /// and re-framed as bitshuffle-LZ4. Kept images that could not be written (kept untriaged, so
  /// their pixels were not held; undecodable; of another shape than the series' first) are
  /// counted in summary.json `n_kept_not_written` (n_kept = n_kept_written +
  /// n_kept_not_written). The file appears when the series closes, before summary.json.
  bool write_kept = false;
  /// Non-null: the live monitor's counters (monitor.h), fed as frames arrive and are triaged
  /// (one series after another), with the latest kept frame's thumbnail about once a second.
  std::shared_ptr<RunMonitor> monitor;
  /// Write each series' report.html (run_report.h: counts, charts, example frames captured as
  /// they were triaged) before its summary.json.
  bool write_reports = true;
  /// Fan-out worker (`stream --fan-out`): one of several consumers sharing the detector's PUSH
  /// socket, which sends every message — each series' header and end message included — to
  /// ONE consumer, round-robin (DECTRIS: "each message is only ever sent to a single client").
  /// Most series then reach this consumer without their header or end. Changes:
  ///  - an image without its header is triaged and decided as any other (a lone consumer keeps
  ///    it: it connected late and lacks the header's mask); it is still flagged "no_header".
  ///    The header adds little to the decision: a detector that applies its pixel mask marks
  ///    masked pixels with the all-ones value in the image itself (decoded as masked), the
  ///    stream's default header_detail "basic" sends no pixel mask at all, and the spot guard
  ///    (Bragg peaks keep a frame) needs no geometry;
  ///  - a message of another series closes every open series of this consumer as
  ///    "incomplete" (closed_by "next_series"): series come one after another, and each
  ///    consumer receives its share in the order sent.
  /// `difftriage merge` (merge.h) puts the workers' series folders together.
  bool fan_out = false;
  /// Set: images whose series header was not received are decoded with this geometry (beam
  /// centre, distance, wavelength, pixel size: preprocessing places its region on the beam
  /// centre, and the spot evidence has a geometry); unset: no metadata, flag "no_geometry"
  /// where the spot evidence runs. `stream --geometry`.
  std::optional<DetectorGeometry> headerless_geometry;
  /// Polled about every 100 ms; returning true stops receiving, drains what is queued and closes
  /// every open series as interrupted (SIGINT/SIGTERM in the CLI).
  std::function<bool()> stop_requested;
};

/// What a run did. Plain value type.
struct LiveSummary {
  int64_t n_messages = 0;        ///< ZeroMQ messages received
  int64_t n_stray_messages = 0;  ///< messages that were no DECTRIS header, image or end
  int64_t n_series = 0;          ///< series folders written
  int64_t n_frames = 0;          ///< image messages received (summed over series)
  int64_t n_kept = 0;
  int64_t n_veto = 0;
  /// The series folders, in the order they closed.
  std::vector<std::filesystem::path> series_folders;
};

/// Runs the consumer until `max_series` series closed or `stop_requested` (see the top).
/// @throws ConfigError for bad options or a null classifier; IoError naming a file or folder
///         that cannot be written; Error for a ZeroMQ failure (naming the endpoint).
LiveSummary run_live_triage(const LiveOptions& options,
                            std::shared_ptr<const models::Classifier> classifier);

/// Options of replay_series (`difftriage replay`).
struct ReplayOptions {
  /// Endpoint the PUSH socket binds, e.g. "tcp://127.0.0.1:9999".
  std::string endpoint;
  io::StreamProtocol protocol = io::StreamProtocol::kStream1;
  io::StreamEncoding encoding = io::StreamEncoding::kBslz4;
  /// Series id of the frames sent from files (recorded dumps keep theirs).
  int64_t series_id = 1;
  /// Images per second at most; 0 = as fast as the receivers take them.
  double rate_hz = 0.0;
  /// Wait until this many consumers have connected before sending (0 = do not wait).
  int min_consumers = 0;
  /// Seconds to wait for consumers, and for unsent messages at the end, before giving up (> 0).
  double timeout_s = 60.0;
  /// False: send no end message (rehearses a series that was aborted: consumers close it after
  /// their series timeout or when stopped).
  bool send_end = true;
};

/// What replay sent.
struct ReplaySummary {
  int64_t n_messages = 0;
  int64_t n_images = 0;
  int64_t n_unreadable = 0;  ///< input frames that could not be read (sent as nothing; listed)
  nlohmann::json unreadable = nlohmann::json::array();  ///< [{path, frame, error}]
};

/// Sends `inputs` as one DECTRIS series: recorded message dumps (`*.msgpack`, sent part for part
/// as recorded, then an end message for their series when the dumps hold none) or any frame
/// inputs of classify (sources.h), encoded per `options` with a start message from the first
/// readable frame's metadata and an end message. A stream's only per-pixel mask is the
/// all-ones value of unsigned pixels: masked pixels are sent as that value, and a frame whose
/// unmasked pixels hold it as a count (an 8-bit PGM at 255) is sent widened (uint8 → uint16,
/// uint16 → uint32), so the consumer decodes the file's counts and mask.
/// @throws ConfigError for bad options or no input; IoError/FormatError for an unreadable dump;
///         Error when the endpoint cannot be bound or consumers do not come in time.
ReplaySummary replay_series(const std::vector<std::string>& inputs, const ReplayOptions& options);

}  // namespace difftriage::stream
