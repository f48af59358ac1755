// The live stream on 127.0.0.1 (stream/live.h): the real recorded Stream V1 series replayed, the
// same synthetic series in both protocols and every encoding giving classify's numbers, faults
// (stray parts, a corrupt image, images without their header, a reused series id, a series
// whose end never comes, a stop while a series is open) with the accounting checked per series,
// two consumers sharing one replay, and independent Python peers (Debian's python3-zmq,
// python3-cbor2, bitshuffle) sending to and reading from difftriage.
#include "difftriage/stream/live.h"

#include <gtest/gtest.h>
#include <torch/utils.h>
#include <hdf5.h>
#include <zmq.h>

#include <atomic>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "difftriage/core/detector_geometry.h"
#include "difftriage/core/error.h"
#include "difftriage/core/labels.h"
#include "difftriage/io/dectris_stream.h"
#include "difftriage/io/image_io.h"
#include "difftriage/models/classifier.h"
#include "difftriage/stream/default_model.h"
#include "difftriage/stream/pipeline.h"
#include "difftriage/stream/sources.h"
#include "difftriage/stream/triage.h"
#include "stream/stream_test_support.h"
#include "support/test_support.h"

namespace difftriage::stream {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

// A free loopback TCP port: bind an ephemeral one and release it.
std::string free_endpoint() {
  void* ctx = zmq_ctx_new();
  void* s = zmq_socket(ctx, ZMQ_PUSH);
  EXPECT_EQ(zmq_bind(s, "tcp://127.0.0.1:*"), 0);
  char buf[256];
  size_t n = sizeof buf;
  zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, buf, &n);
  zmq_close(s);
  zmq_ctx_term(ctx);
  return std::string(buf);
}

// run_live_triage on a thread; stopped by max_series, or by stop() / a 120 s guard.
class Consumer {
 public:
  Consumer(LiveOptions options, std::shared_ptr<const models::Classifier> clf) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    options.stop_requested = [this, deadline] {
      return stop_.load() || std::chrono::steady_clock::now() > deadline;
    };
    thread_ = std::thread([this, options, clf] {
      try {
        summary_ = run_live_triage(options, clf);
      } catch (...) {
        error_ = std::current_exception();
      }
    });
  }
  ~Consumer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  void stop() { stop_ = true; }
  const LiveSummary& wait() {
    thread_.join();
    if (error_) std::rethrow_exception(error_);
    return summary_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
  LiveSummary summary_;
  std::exception_ptr error_;
};

json read_json(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

std::vector<json> read_rows(const fs::path& p) {
  std::vector<json> rows;
  for (const auto& line : testing::read_lines(p)) rows.push_back(json::parse(line));
  return rows;
}

// Checks the accounting of one series folder: rows = n_frames = n_kept + n_veto, flags counted.
void expect_accounted(const fs::path& folder) {
  const json s = read_json(folder / "summary.json");
  const auto rows = read_rows(folder / "results.jsonl");
  EXPECT_EQ(s["n_frames"].get<int64_t>(), static_cast<int64_t>(rows.size())) << folder;
  EXPECT_EQ(s["n_frames"].get<int64_t>(), s["n_kept"].get<int64_t>() + s["n_veto"].get<int64_t>())
      << folder;
  int64_t kept = 0, unreadable = 0, no_header = 0, untriaged = 0;
  for (const auto& r : rows) {
    kept += r["decision"] == "keep";
    for (const auto& f : r["flags"]) {
      unreadable += f == "unreadable";
      no_header += f == "no_header";
      untriaged += f == "untriaged";
    }
    EXPECT_TRUE(r["path"].is_null());
    EXPECT_EQ(r["series"], s["series"]);
  }
  EXPECT_EQ(kept, s["n_kept"].get<int64_t>()) << folder;
  EXPECT_EQ(unreadable, s["n_unreadable"].get<int64_t>()) << folder;
  EXPECT_EQ(no_header, s["n_no_header"].get<int64_t>()) << folder;
  EXPECT_EQ(untriaged, s["n_untriaged"].get<int64_t>()) << folder;
  if (s.contains("n_kept_written") && s["kept_file"].is_string()) {  // --write-kept
    EXPECT_EQ(s["n_kept"].get<int64_t>(),
              s["n_kept_written"].get<int64_t>() + s["n_kept_not_written"].get<int64_t>())
        << folder;
    EXPECT_EQ(io::count_frames(folder / "kept.nxs"), s["n_kept_written"].get<int64_t>()) << folder;
  }
}

class Live : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    torch::set_num_threads(1);
    tmp_ = new testing::TempDir();
    testing::write_tiny_model(tmp_->path() / "model");
    tiny_ = std::make_shared<const models::Classifier>(
        models::Classifier::load(tmp_->path() / "model"));
    // The same 6 frames as 8-bit PGM, 16-bit TIFF and 32-bit TIFF.
    const auto pgms = testing::write_pgm_frames(tmp_->path() / "pgm", 6);
    fs::create_directories(tmp_->path() / "u16");
    fs::create_directories(tmp_->path() / "i32");
    fs::create_directories(tmp_->path() / "sat");
    for (size_t i = 0; i < pgms.size(); ++i) {
      const auto img = std::get<Image<uint8_t>>(io::read_image(pgms[i]));
      Image<uint16_t> u16(img.n_slow(), img.n_fast());
      Image<int32_t> i32(img.n_slow(), img.n_fast());
      for (int64_t k = 0; k < img.size(); ++k) {
        u16.data()[k] = static_cast<uint16_t>(img.data()[k] * 7);
        i32.data()[k] = img.data()[k] * 300;
      }
      io::write_tiff(tmp_->path() / "u16" / ("f" + std::to_string(i) + ".tiff"), u16);
      io::write_tiff(tmp_->path() / "i32" / ("f" + std::to_string(i) + ".tiff"), i32);
      // 8-bit frames with real counts of 255 (saturated spots), which a stream's uint8 pixels
      // could only carry as the invalid marker: replay widens them.
      Image<uint8_t> sat = img;
      for (int64_t k = 0; k < 40 + 10 * static_cast<int64_t>(i); ++k) sat.data()[k * 37 % sat.size()] = 255;
      io::write_pgm(tmp_->path() / "sat" / ("f" + std::to_string(i) + ".pgm"), sat);
    }
  }
  static void TearDownTestSuite() {
    tiny_.reset();
    delete tmp_;
  }

  static LiveOptions options(const std::string& endpoint, const fs::path& out) {
    LiveOptions o;
    o.endpoint = endpoint;
    o.out = out;
    o.max_series = 1;
    o.series_timeout_s = 30;
    o.queue_capacity = 1024;  // no shedding: the numbers must match classify's
    o.triage.n_decode_threads = 1;
    o.triage.n_infer_workers = 1;
    o.triage.batch_size = 4;
    o.model_path = "tiny";
    return o;
  }

  static testing::TempDir* tmp_;
  static std::shared_ptr<const models::Classifier> tiny_;
};
testing::TempDir* Live::tmp_ = nullptr;
std::shared_ptr<const models::Classifier> Live::tiny_;

TEST_F(Live, RealStream1FixtureReplayedAsASeriesKeepsItsHit) {
  const fs::path header = testing::shared_fixtures_dir() / "eiger2_16m_roi4m_stream1_header.msgpack";
  const fs::path image = testing::shared_fixtures_dir() / "eiger2_16m_roi4m_stream1_image000044.msgpack";
  DT_REQUIRE_SHARED(header);
  DT_REQUIRE_SHARED(image);
  const fs::path model = resolve_model_path();  // the shipped model: the hit must be kept
  auto clf = std::make_shared<const models::Classifier>(models::Classifier::load(model));
  testing::TempDir out;
  const std::string endpoint = free_endpoint();
  Consumer consumer(options(endpoint, out.path()), clf);
  ReplayOptions r;
  r.endpoint = endpoint;
  r.min_consumers = 1;
  const ReplaySummary sent = replay_series({header.string(), image.string()}, r);
  EXPECT_EQ(sent.n_messages, 3);  // header, image, and the end the dumps do not hold
  EXPECT_EQ(sent.n_images, 1);
  const LiveSummary s = consumer.wait();
  ASSERT_EQ(s.series_folders.size(), 1u);
  EXPECT_EQ(s.series_folders[0].filename(), "series_2619");
  const auto rows = read_rows(s.series_folders[0] / "results.jsonl");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["frame"], 43);
  EXPECT_EQ(rows[0]["series"], 2619);
  EXPECT_EQ(rows[0]["decision"], "keep");
  EXPECT_TRUE(rows[0]["error"].is_null());
  const json summary = read_json(s.series_folders[0] / "summary.json");
  EXPECT_EQ(summary["status"], "complete");
  EXPECT_EQ(summary["protocol"], "stream1");
  EXPECT_EQ(summary["header_received"], true);
  expect_accounted(s.series_folders[0]);
  EXPECT_FALSE(fs::exists(s.series_folders[0] / "results.jsonl.partial"));
}

TEST_F(Live, SyntheticSeriesInBothProtocolsAndEveryEncodingMatchClassify) {
  for (const char* kind : {"pgm", "u16", "i32", "sat"}) {
    // classify's numbers for the same files.
    const auto frames = expand_inputs({(tmp_->path() / kind).string()});
    ASSERT_EQ(frames.size(), 6u);
    std::vector<FrameResult> expected;
    TriageOptions t;
    t.batch_size = 4;
    run_triage(frames, tiny_, t, [&](const FrameResult& r) { expected.push_back(r); });
    for (auto protocol : {io::StreamProtocol::kStream1, io::StreamProtocol::kStream2}) {
      for (auto encoding : {io::StreamEncoding::kRaw, io::StreamEncoding::kLz4,
                            io::StreamEncoding::kBslz4}) {
        const std::string what = std::string(kind) + " " + io::stream_protocol_name(protocol) +
                                 " encoding " + std::to_string(static_cast<int>(encoding));
        testing::TempDir out;
        const std::string endpoint = free_endpoint();
        Consumer consumer(options(endpoint, out.path()), tiny_);
        ReplayOptions r;
        r.endpoint = endpoint;
        r.protocol = protocol;
        r.encoding = encoding;
        r.series_id = 42;
        r.min_consumers = 1;
        EXPECT_EQ(replay_series({(tmp_->path() / kind).string()}, r).n_images, 6) << what;
        const LiveSummary s = consumer.wait();
        ASSERT_EQ(s.series_folders.size(), 1u) << what;
        EXPECT_EQ(s.series_folders[0].filename(), "series_42") << what;
        const auto rows = read_rows(s.series_folders[0] / "results.jsonl");
        ASSERT_EQ(rows.size(), 6u) << what;
        for (size_t i = 0; i < rows.size(); ++i) {
          EXPECT_EQ(rows[i]["frame"], static_cast<int64_t>(i)) << what;
          ASSERT_TRUE(expected[i].ok()) << what;
          EXPECT_TRUE(rows[i]["error"].is_null()) << what << " " << rows[i]["error"];
          const auto& p = expected[i].prediction->label_probabilities;
          ASSERT_EQ(p.size(), 6u);
          // Same pixels, same model: the numbers of classify up to batched-float rounding.
          for (size_t k = 0; k < p.size(); ++k) {
            EXPECT_NEAR(rows[i]["p"][kLabelNames[k]].get<double>(), p[k], 1e-5)
                << what << " frame " << i << " " << kLabelNames[k];
          }
          EXPECT_EQ(rows[i]["decision"],
                    decide_triage(expected[i], tiny_->metadata()).veto ? "veto" : "keep")
              << what << " frame " << i;
        }
        const json summary = read_json(s.series_folders[0] / "summary.json");
        EXPECT_EQ(summary["status"], "complete") << what;
        EXPECT_EQ(summary["protocol"], io::stream_protocol_name(protocol)) << what;
        expect_accounted(s.series_folders[0]);
      }
    }
  }
}

// --write-kept: every kept image of the series is in kept.nxs, in results.jsonl order, with the
// pixels that were sent (bitshuffle-LZ4 images stored as received, the others re-framed), for
// every protocol, encoding and pixel width; n_kept = n_kept_written + n_kept_not_written.
TEST_F(Live, WriteKeptStoresEveryKeptImageReadableBack) {
  for (const char* kind : {"pgm", "u16", "i32"}) {
    const auto frames = expand_inputs({(tmp_->path() / kind).string()});
    ASSERT_EQ(frames.size(), 6u);
    for (auto protocol : {io::StreamProtocol::kStream1, io::StreamProtocol::kStream2}) {
      for (auto encoding : {io::StreamEncoding::kRaw, io::StreamEncoding::kLz4,
                            io::StreamEncoding::kBslz4}) {
        const std::string what = std::string(kind) + " " + io::stream_protocol_name(protocol) +
                                 " encoding " + std::to_string(static_cast<int>(encoding));
        testing::TempDir out;
        const std::string endpoint = free_endpoint();
        LiveOptions o = options(endpoint, out.path());
        o.write_kept = true;
        Consumer consumer(o, tiny_);
        ReplayOptions r;
        r.endpoint = endpoint;
        r.protocol = protocol;
        r.encoding = encoding;
        r.series_id = 5;
        r.min_consumers = 1;
        ASSERT_EQ(replay_series({(tmp_->path() / kind).string()}, r).n_images, 6) << what;
        const LiveSummary s = consumer.wait();
        ASSERT_EQ(s.series_folders.size(), 1u) << what;
        const fs::path folder = s.series_folders[0];
        expect_accounted(folder);
        const json summary = read_json(folder / "summary.json");
        const auto rows = read_rows(folder / "results.jsonl");
        std::vector<int64_t> kept;
        for (const auto& row : rows) {
          if (row["decision"] == "keep") kept.push_back(row["frame"].get<int64_t>());
        }
        ASSERT_FALSE(kept.empty()) << what << ": the test needs kept frames";
        EXPECT_EQ(summary["n_kept_written"].get<int64_t>(), static_cast<int64_t>(kept.size()))
            << what << " " << summary["kept_errors"];
        EXPECT_EQ(summary["n_kept_not_written"], 0) << what;
        EXPECT_EQ(summary["kept_file"], "kept.nxs") << what;
        const fs::path nxs = folder / "kept.nxs";
        ASSERT_EQ(io::count_frames(nxs), static_cast<int64_t>(kept.size())) << what;
        for (size_t k = 0; k < kept.size(); ++k) {
          const AnyImage sent = io::read_image(frames[static_cast<size_t>(kept[k])].path);
          const AnyImage back = io::read_image(nxs, {static_cast<int64_t>(k)});
          ASSERT_EQ(extents(back), extents(sent)) << what;
          std::visit(
              [&](const auto& b) {
                std::visit(
                    [&](const auto& a) {
                      for (int64_t i = 0; i < a.size(); ++i) {
                        ASSERT_EQ(static_cast<double>(b.data()[i]), static_cast<double>(a.data()[i]))
                            << what << " kept frame " << k << " pixel " << i;
                      }
                    },
                    sent);
              },
              back);
        }
      }
    }
  }
}

// The recorded EIGER2 image is bitshuffle-LZ4: kept.nxs holds its blob byte for byte.
TEST_F(Live, WriteKeptStoresTheRecordedBlobAsReceived) {
  const fs::path header = testing::shared_fixtures_dir() / "eiger2_16m_roi4m_stream1_header.msgpack";
  const fs::path image = testing::shared_fixtures_dir() / "eiger2_16m_roi4m_stream1_image000044.msgpack";
  DT_REQUIRE_SHARED(header);
  DT_REQUIRE_SHARED(image);
  auto clf = std::make_shared<const models::Classifier>(models::Classifier::load(resolve_model_path()));
  testing::TempDir out;
  const std::string endpoint = free_endpoint();
  LiveOptions o = options(endpoint, out.path());
  o.write_kept = true;
  Consumer consumer(o, clf);
  ReplayOptions r;
  r.endpoint = endpoint;
  r.min_consumers = 1;
  replay_series({header.string(), image.string()}, r);
  const LiveSummary s = consumer.wait();
  ASSERT_EQ(s.series_folders.size(), 1u);
  const fs::path nxs = s.series_folders[0] / "kept.nxs";
  ASSERT_EQ(io::count_frames(nxs), 1);
  const io::MessageParts parts = io::read_message_dump(image);
  const hid_t file = H5Fopen(nxs.string().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t data = H5Dopen2(file, "/entry/data/data", H5P_DEFAULT);
  const hsize_t offset[3] = {0, 0, 0};
  hsize_t n = 0;
  H5Dget_chunk_storage_size(data, offset, &n);
  std::vector<uint8_t> chunk(n);
  uint32_t filter_mask = 0;
  H5Dread_chunk(data, H5P_DEFAULT, offset, &filter_mask, chunk.data());
  H5Dclose(data);
  H5Fclose(file);
  EXPECT_EQ(chunk, parts[2]) << "the blob as received";
  const AnyImage back = io::read_image(nxs);
  const AnyImage decoded = io::decode_stream_image(parts, nullptr, "image000044");
  ASSERT_EQ(extents(back), extents(decoded));
  EXPECT_TRUE(std::get<Image<uint16_t>>(back).pixels() == std::get<Image<uint16_t>>(decoded).pixels());
  EXPECT_NEAR(metadata(back).wavelength_angstrom.value_or(0), 0.976, 0.01);
}

// A raw PUSH peer for hand-made message sequences.
class Pusher {
 public:
  Pusher() : ctx_(zmq_ctx_new()), socket_(zmq_socket(ctx_, ZMQ_PUSH)) {
    EXPECT_EQ(zmq_bind(socket_, "tcp://127.0.0.1:*"), 0);
    char buf[256];
    size_t n = sizeof buf;
    zmq_getsockopt(socket_, ZMQ_LAST_ENDPOINT, buf, &n);
    endpoint_ = buf;
  }
  ~Pusher() {
    int linger = 5000;
    zmq_setsockopt(socket_, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(socket_);
    zmq_ctx_term(ctx_);
  }
  const std::string& endpoint() const { return endpoint_; }
  void send(const io::MessageParts& parts) {
    for (size_t i = 0; i < parts.size(); ++i) {
      ASSERT_GE(zmq_send(socket_, parts[i].data(), parts[i].size(),
                         i + 1 < parts.size() ? ZMQ_SNDMORE : 0),
                0);
    }
  }

 private:
  void* ctx_;
  void* socket_;
  std::string endpoint_;
};

AnyImage small_frame(int seed) {
  Image<uint16_t> img(32, 48);
  for (int64_t i = 0; i < img.size(); ++i) img.data()[i] = static_cast<uint16_t>((i * 7 + seed) % 50);
  return img;
}

TEST_F(Live, FaultsAreKeptFlaggedAndAccounted) {
  using io::StreamProtocol;
  using io::StreamEncoding;
  testing::TempDir out;
  Pusher push;
  LiveOptions o = options(push.endpoint(), out.path());
  o.max_series = 3;
  o.series_timeout_s = 1.0;  // series 5's second run never ends: closed as incomplete
  o.write_kept = true;
  Consumer consumer(o, tiny_);
  io::StreamSeriesHeader h;
  h.series_id = 5;
  const auto p1 = StreamProtocol::kStream1;
  // A stray data part (as after an abort), then series 5 with a corrupt image in the middle.
  push.send({{0x00, 0x01, 0x02}});
  push.send(io::encode_stream_start(p1, h, 48, 32, 3));
  push.send(io::encode_stream_image(p1, 5, 0, small_frame(1), StreamEncoding::kBslz4));
  auto corrupt = io::encode_stream_image(p1, 5, 1, small_frame(2), StreamEncoding::kBslz4);
  corrupt[2].resize(corrupt[2].size() - 20);
  auto d = json::parse(corrupt[1].begin(), corrupt[1].end());
  d["size"] = corrupt[2].size();
  const std::string dt = d.dump();
  corrupt[1].assign(dt.begin(), dt.end());
  push.send(corrupt);
  push.send(io::encode_stream_image(p1, 5, 2, small_frame(3), StreamEncoding::kLz4));
  push.send(io::encode_stream_end(p1, 5));
  // Series 6 in V2 without its start (a consumer that connected late), then its end.
  const auto p2 = StreamProtocol::kStream2;
  push.send(io::encode_stream_image(p2, 6, 10, small_frame(4), StreamEncoding::kBslz4));
  push.send(io::encode_stream_image(p2, 6, 11, small_frame(5), StreamEncoding::kRaw));
  push.send(io::encode_stream_end(p2, 6));
  // Series 5 again (the detector reused the id): a second folder; its end never comes.
  push.send(io::encode_stream_start(p1, h, 48, 32, 2));
  push.send(io::encode_stream_image(p1, 5, 0, small_frame(6), StreamEncoding::kRaw));
  const LiveSummary s = consumer.wait();
  EXPECT_EQ(s.n_messages, 11);
  EXPECT_EQ(s.n_stray_messages, 1);
  EXPECT_EQ(s.n_frames, 6);
  EXPECT_EQ(s.n_frames, s.n_kept + s.n_veto);
  ASSERT_EQ(s.series_folders.size(), 3u);
  EXPECT_EQ(s.series_folders[0].filename(), "series_5");
  EXPECT_EQ(s.series_folders[1].filename(), "series_6");
  EXPECT_EQ(s.series_folders[2].filename(), "series_5_2");
  for (const auto& f : s.series_folders) expect_accounted(f);

  const json s5 = read_json(out.path() / "series_5" / "summary.json");
  EXPECT_EQ(s5["status"], "complete");
  EXPECT_EQ(s5["n_frames"], 3);
  EXPECT_EQ(s5["n_unreadable"], 1);
  const auto rows5 = read_rows(out.path() / "series_5" / "results.jsonl");
  ASSERT_EQ(rows5.size(), 3u);
  EXPECT_EQ(rows5[1]["frame"], 1);
  EXPECT_EQ(rows5[1]["decision"], "keep");
  EXPECT_EQ(rows5[1]["flags"], json::array({"unreadable"}));
  EXPECT_NE(rows5[1]["error"].get<std::string>().find("series 5 frame 1"), std::string::npos)
      << rows5[1]["error"];
  EXPECT_TRUE(rows5[0]["error"].is_null());
  EXPECT_TRUE(rows5[2]["error"].is_null());
  // --write-kept: the corrupt image is kept and written as received (its chunk, undecodable).
  int64_t kept5 = 0;
  for (const auto& r : rows5) kept5 += r["decision"] == "keep";
  EXPECT_EQ(s5["n_kept_written"], kept5);
  EXPECT_EQ(s5["n_kept_not_written"], 0);
  EXPECT_EQ(io::count_frames(out.path() / "series_5" / "kept.nxs"), kept5);

  const json s6 = read_json(out.path() / "series_6" / "summary.json");
  EXPECT_EQ(s6["status"], "complete");
  EXPECT_EQ(s6["protocol"], "stream2");
  EXPECT_EQ(s6["header_received"], false);
  EXPECT_EQ(s6["n_no_header"], 2);
  EXPECT_EQ(s6["n_kept"], 2);
  const auto rows6 = read_rows(out.path() / "series_6" / "results.jsonl");
  ASSERT_EQ(rows6.size(), 2u);
  EXPECT_EQ(rows6[0]["frame"], 10);
  EXPECT_EQ(rows6[1]["frame"], 11);
  for (const auto& r : rows6) {
    EXPECT_EQ(r["decision"], "keep");
    EXPECT_NE(std::find(r["flags"].begin(), r["flags"].end(), "no_header"), r["flags"].end());
    EXPECT_FALSE(r["p"]["blank"].is_null());  // triaged all the same
  }

  const json s52 = read_json(out.path() / "series_5_2" / "summary.json");
  EXPECT_EQ(s52["status"], "incomplete");
  EXPECT_EQ(s52["n_frames"], 1);
  const json top = read_json(out.path() / "stream_summary.json");
  EXPECT_EQ(top["n_stray_messages"], 1);
  EXPECT_NE(top["stray_errors"][0].get<std::string>().find("message 1: part 1"), std::string::npos);
}

TEST_F(Live, StopDrainsAndClosesTheOpenSeriesAsInterrupted) {
  testing::TempDir out;
  Pusher push;
  LiveOptions o = options(push.endpoint(), out.path());
  o.max_series = 0;
  Consumer consumer(o, tiny_);
  io::StreamSeriesHeader h;
  h.series_id = 9;
  push.send(io::encode_stream_start(io::StreamProtocol::kStream2, h, 48, 32, 3));
  for (int i = 0; i < 3; ++i) {
    push.send(io::encode_stream_image(io::StreamProtocol::kStream2, 9, i, small_frame(i),
                                      io::StreamEncoding::kBslz4));
  }
  // Wait (bounded) until the three rows are written, then stop as SIGINT would.
  const fs::path partial = out.path() / "series_9" / "results.jsonl.partial";
  for (int k = 0; k < 600 && testing::read_lines(partial).size() < 3; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  consumer.stop();
  const LiveSummary s = consumer.wait();
  ASSERT_EQ(s.series_folders.size(), 1u);
  const json summary = read_json(out.path() / "series_9" / "summary.json");
  EXPECT_EQ(summary["status"], "interrupted");
  EXPECT_EQ(summary["n_frames"], 3);
  expect_accounted(out.path() / "series_9");
  EXPECT_FALSE(fs::exists(partial));
}

TEST_F(Live, TwoConsumersShareOneReplayRoundRobin) {
  testing::TempDir out_a, out_b;
  const std::string endpoint = free_endpoint();
  auto oa = options(endpoint, out_a.path());
  auto ob = options(endpoint, out_b.path());
  // Each sees the series' end or not (PUSH sends each message to one consumer): the one without
  // it closes the series as incomplete after the timeout.
  oa.series_timeout_s = ob.series_timeout_s = 2.0;
  Consumer a(oa, tiny_), b(ob, tiny_);
  ReplayOptions r;
  r.endpoint = endpoint;
  r.min_consumers = 2;
  r.series_id = 3;
  std::vector<std::string> inputs;
  for (int i = 0; i < 3; ++i) inputs.push_back((tmp_->path() / "u16").string());
  EXPECT_EQ(replay_series(inputs, r).n_images, 18);
  const LiveSummary sa = a.wait();
  const LiveSummary sb = b.wait();
  std::multiset<int64_t> frames;
  int64_t n_a = 0, n_b = 0;
  for (const auto* s : {&sa, &sb}) {
    for (const auto& f : s->series_folders) {
      expect_accounted(f);
      for (const auto& row : read_rows(f / "results.jsonl")) {
        EXPECT_EQ(row["series"], 3);
        frames.insert(row["frame"].get<int64_t>());
        (s == &sa ? n_a : n_b) += 1;
      }
    }
  }
  EXPECT_EQ(frames.size(), 18u);
  for (int64_t i = 0; i < 18; ++i) EXPECT_EQ(frames.count(i), 1u) << "frame " << i;
  EXPECT_GT(n_a, 0);  // round robin: both consumers took frames
  EXPECT_GT(n_b, 0);
  EXPECT_EQ(sa.n_frames + sb.n_frames, 18);
}

// A fan-out worker (LiveOptions::fan_out) gets series without their header: it triages and
// vetoes their images as those of a series whose header it has, decodes them with the stand-in
// geometry, and closes its part of a series when the next series begins.
TEST_F(Live, FanOutWorkerTriagesHeaderlessImagesLikeTheOthersAndClosesOnTheNextSeries) {
  testing::TempDir out;
  Pusher push;
  LiveOptions o = options(push.endpoint(), out.path());
  o.fan_out = true;
  o.max_series = 2;
  o.series_timeout_s = 60;  // series 7 must close on series 8's first message, not by time
  o.triage.batch_size = 1;  // each frame inferred alone: equal numbers in both series
  o.write_kept = true;
  DetectorGeometry g;
  g.wavelength_angstrom = 1.0;
  g.distance_mm = 100.0;
  g.pixel_size_mm = 0.1;
  g.beam_center_fast_px = 14.0;  // off-centre on a 64 x 40 frame: moves the model's region
  g.beam_center_slow_px = 18.0;
  o.headerless_geometry = g;
  // The tiny model with a veto operating point among these frames' p_hit (0.61 .. 0.70; no
  // uncertainty band), so that some are vetoed and some kept.
  const fs::path veto_model = out.path() / "veto_model";
  fs::create_directories(veto_model);
  fs::copy_file(tmp_->path() / "model" / "model.pt", veto_model / "model.pt");
  json sidecar = read_json(tmp_->path() / "model" / "model.json");
  sidecar["thresholds"]["hit"] = 0.645;
  sidecar["uncertainty_band"] = 0.0;
  testing::write_text(veto_model / "model.json", sidecar.dump(2));
  Consumer consumer(o, std::make_shared<const models::Classifier>(
                           models::Classifier::load(veto_model)));
  // Non-square frames (40 slow x 64 fast) cut from the test's spotty PGMs.
  std::vector<AnyImage> frames;
  for (int i = 0; i < 6; ++i) {
    const auto pgm = std::get<Image<uint8_t>>(
        io::read_image(tmp_->path() / "pgm" / ("frame_00" + std::to_string(i) + ".pgm")));
    Image<uint16_t> f(40, 64);
    for (int64_t k = 0; k < f.size(); ++k) f.data()[k] = static_cast<uint16_t>(pgm.data()[k] * 7);
    frames.push_back(std::move(f));
  }
  const auto p = io::StreamProtocol::kStream2;
  // Series 7: its start went to another worker. Series 8: the same frames with a start that
  // carries the same geometry, and its end.
  for (int i = 0; i < 6; ++i) {
    push.send(io::encode_stream_image(p, 7, i, frames[i], io::StreamEncoding::kBslz4));
  }
  io::StreamSeriesHeader h;
  h.series_id = 8;
  h.metadata.wavelength_angstrom = 1.0;
  h.metadata.distance_mm = 100.0;
  h.metadata.pixel_size_mm = 0.1;
  h.metadata.beam_center_fast_px = 14.0;
  h.metadata.beam_center_slow_px = 18.0;
  push.send(io::encode_stream_start(p, h, 64, 40, 6));
  for (int i = 0; i < 6; ++i) {
    push.send(io::encode_stream_image(p, 8, i, frames[i], io::StreamEncoding::kBslz4));
  }
  push.send(io::encode_stream_end(p, 8));
  const LiveSummary s = consumer.wait();
  ASSERT_EQ(s.series_folders.size(), 2u);
  for (const auto& f : s.series_folders) expect_accounted(f);
  const json s7 = read_json(out.path() / "series_7" / "summary.json");
  const json s8 = read_json(out.path() / "series_8" / "summary.json");
  EXPECT_EQ(s7["status"], "incomplete");
  EXPECT_EQ(s7["closed_by"], "next_series");
  EXPECT_EQ(s7["header_received"], false);
  EXPECT_EQ(s7["end_received"], false);
  EXPECT_EQ(s7["fan_out"], true);
  EXPECT_TRUE(s7["n_images_expected"].is_null());
  EXPECT_EQ(s7["n_no_header"], 6);
  EXPECT_EQ(s8["status"], "complete");
  EXPECT_EQ(s8["closed_by"], "end_message");
  EXPECT_EQ(s8["end_received"], true);
  EXPECT_EQ(s8["n_images_expected"], 6);
  EXPECT_EQ(s8["n_no_header"], 0);
  EXPECT_TRUE(s8["model_info"].is_object());
  // Frame by frame the same numbers and decisions, vetoes included; only the flag differs.
  const auto rows7 = read_rows(out.path() / "series_7" / "results.jsonl");
  const auto rows8 = read_rows(out.path() / "series_8" / "results.jsonl");
  ASSERT_EQ(rows7.size(), 6u);
  ASSERT_EQ(rows8.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(rows7[i]["p"], rows8[i]["p"]) << i;
    EXPECT_EQ(rows7[i]["decision"], rows8[i]["decision"]) << i;
    json flags8 = rows8[i]["flags"];
    flags8.push_back("no_header");
    EXPECT_EQ(rows7[i]["flags"], flags8) << i;
  }
  EXPECT_EQ(s7["n_veto"], s8["n_veto"]);
  EXPECT_GT(s8["n_veto"].get<int>(), 0);  // so that a veto without the header is exercised
  EXPECT_GT(s8["n_kept"].get<int>(), 0);
  // The kept frames of series 7 were stored with the stand-in geometry.
  const AnyImage kept = io::read_image(out.path() / "series_7" / "kept.nxs");
  EXPECT_EQ(metadata(kept).beam_center_fast_px, 14.0);
  EXPECT_EQ(metadata(kept).beam_center_slow_px, 18.0);
}

// The independent peers: tests/stream/stream_peer.py with Debian's /usr/bin/python3.
bool python_peer_available() {
  return std::system("/usr/bin/python3 -c 'import zmq, cbor2, bitshuffle, numpy' 2>/dev/null") == 0;
}

TEST_F(Live, IndependentPythonDetectorIsTriaged) {
  if (!python_peer_available()) GTEST_SKIP() << "python3-zmq, python3-cbor2 or bitshuffle missing";
  testing::TempDir out;
  const std::string endpoint = free_endpoint();
  Consumer consumer(options(endpoint, out.path()), tiny_);
  // A Stream V2 detector written with cbor2 + bitshuffle: start, 5 images (bslz4 and lz4...
  // see the script), end; it also saves the raw pixels it sent.
  const std::string cmd = "/usr/bin/python3 " +
                          (testing::source_dir() / "tests/stream/stream_peer.py").string() +
                          " send " + endpoint + " " + (out.path() / "sent").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const LiveSummary s = consumer.wait();
  ASSERT_EQ(s.series_folders.size(), 1u);
  EXPECT_EQ(s.series_folders[0].filename(), "series_17");
  const json summary = read_json(s.series_folders[0] / "summary.json");
  EXPECT_EQ(summary["status"], "complete");
  EXPECT_EQ(summary["n_frames"], 5);
  EXPECT_EQ(summary["n_unreadable"], 0);
  expect_accounted(s.series_folders[0]);
  // The pixels difftriage decodes are the ones the peer sent (its raw .u16 files), frame by
  // frame: decode each image message the peer saved.
  for (int i = 0; i < 5; ++i) {
    const std::string base = (out.path() / "sent" / ("image_" + std::to_string(i))).string();
    const std::string msg = testing::read_bytes(base + ".cbor");
    const std::string raw = testing::read_bytes(base + ".u16");
    const AnyImage img =
        io::decode_stream_image({{msg.begin(), msg.end()}}, nullptr, base);
    const auto& u16 = std::get<Image<uint16_t>>(img);
    ASSERT_EQ(static_cast<size_t>(u16.size()) * 2, raw.size());
    EXPECT_EQ(std::memcmp(u16.data(), raw.data(), raw.size()), 0) << base;
  }
}

TEST_F(Live, ReplayIsReadFrameByFrameByAnIndependentPythonClient) {
  if (!python_peer_available()) GTEST_SKIP() << "python3-zmq, python3-cbor2 or bitshuffle missing";
  testing::TempDir out;
  // The expected pixels, raw little-endian uint16, for the Python client to compare.
  const auto frames = expand_inputs({(tmp_->path() / "u16").string()});
  for (size_t i = 0; i < frames.size(); ++i) {
    const auto img = std::get<Image<uint16_t>>(io::read_image(frames[i].path));
    std::ofstream f(out.path() / ("expected_" + std::to_string(i) + ".u16"), std::ios::binary);
    f.write(reinterpret_cast<const char*>(img.data()), static_cast<std::streamsize>(img.size() * 2));
  }
  for (const char* protocol : {"stream1", "stream2"}) {
    for (const char* encoding : {"bslz4", "raw"}) {  // the client has no plain LZ4 (no python3-lz4)
      const std::string endpoint = free_endpoint();
      const std::string cmd = "/usr/bin/python3 " +
                              (testing::source_dir() / "tests/stream/stream_peer.py").string() +
                              " receive " + endpoint + " " + out.path().string() + " " +
                              std::to_string(frames.size()) + " > " +
                              (out.path() / "client.txt").string() + " 2>&1";
      std::thread client([&] { EXPECT_EQ(std::system(cmd.c_str()), 0) << protocol << encoding; });
      ReplayOptions r;
      r.endpoint = endpoint;
      r.protocol = std::string(protocol) == "stream1" ? io::StreamProtocol::kStream1
                                                      : io::StreamProtocol::kStream2;
      r.encoding = std::string(encoding) == "bslz4" ? io::StreamEncoding::kBslz4
                   : std::string(encoding) == "lz4" ? io::StreamEncoding::kLz4
                                                    : io::StreamEncoding::kRaw;
      r.min_consumers = 1;
      r.series_id = 8;
      EXPECT_EQ(replay_series({(tmp_->path() / "u16").string()}, r).n_images, 6);
      client.join();
      const auto lines = testing::read_lines(out.path() / "client.txt");
      ASSERT_FALSE(lines.empty());
      EXPECT_EQ(lines.back(), "ok 6 frames series 8") << protocol << " " << encoding;
    }
  }
}

}  // namespace
}  // namespace difftriage::stream

namespace difftriage::stream {
namespace {

TEST_F(Live, ForwardedKeptFramesAreReadByAnIndependentPythonClient) {
  if (!python_peer_available()) GTEST_SKIP() << "python3-zmq, python3-cbor2 or bitshuffle missing";
  testing::TempDir out;
  const auto frames = expand_inputs({(tmp_->path() / "u16").string()});
  for (size_t i = 0; i < frames.size(); ++i) {
    const auto img = std::get<Image<uint16_t>>(io::read_image(frames[i].path));
    std::ofstream f(out.path() / ("expected_" + std::to_string(i) + ".u16"), std::ios::binary);
    f.write(reinterpret_cast<const char*>(img.data()), static_cast<std::streamsize>(img.size() * 2));
  }
  for (auto protocol : {io::StreamProtocol::kStream1, io::StreamProtocol::kStream2}) {
    const std::string what = io::stream_protocol_name(protocol);
    testing::TempDir live;
    const std::string endpoint = free_endpoint();
    LiveOptions o = options(endpoint, live.path());
    o.forward_endpoint = free_endpoint();
    o.forward_timeout_s = 60;  // the first forward waits for the client to connect
    Consumer consumer(o, tiny_);
    const std::string cmd = "/usr/bin/python3 " +
                            (testing::source_dir() / "tests/stream/stream_peer.py").string() +
                            " forwarded " + o.forward_endpoint + " " + out.path().string() +
                            " > " + (out.path() / "fwd.txt").string() + " 2>&1";
    std::thread client([&] { EXPECT_EQ(std::system(cmd.c_str()), 0) << what; });
    ReplayOptions r;
    r.endpoint = endpoint;
    r.protocol = protocol;
    r.min_consumers = 1;
    r.series_id = 4;
    EXPECT_EQ(replay_series({(tmp_->path() / "u16").string()}, r).n_images, 6);
    const LiveSummary s = consumer.wait();
    client.join();
    ASSERT_EQ(s.series_folders.size(), 1u);
    std::string kept;
    for (const auto& row : read_rows(s.series_folders[0] / "results.jsonl")) {
      if (row["decision"] == "keep") {
        kept += (kept.empty() ? "" : ",") + std::to_string(row["frame"].get<int64_t>());
      }
    }
    ASSERT_FALSE(kept.empty()) << what;
    const auto lines = testing::read_lines(out.path() / "fwd.txt");
    ASSERT_FALSE(lines.empty()) << what;
    EXPECT_EQ(lines.back(), "ok forwarded " + kept + " series 4") << what;
    const json summary = read_json(s.series_folders[0] / "summary.json");
    EXPECT_EQ(summary["n_forwarded"], summary["n_kept"]) << what;
    EXPECT_EQ(summary["n_not_forwarded"], 0) << what;
    expect_accounted(s.series_folders[0]);
  }
}

TEST_F(Live, KeptFramesThatCannotBeForwardedAreCounted) {
  testing::TempDir live;
  const std::string endpoint = free_endpoint();
  LiveOptions o = options(endpoint, live.path());
  o.forward_endpoint = free_endpoint();  // nobody reads it
  o.forward_timeout_s = 0.2;
  Consumer consumer(o, tiny_);
  ReplayOptions r;
  r.endpoint = endpoint;
  r.min_consumers = 1;
  EXPECT_EQ(replay_series({(tmp_->path() / "pgm").string()}, r).n_images, 6);
  const LiveSummary s = consumer.wait();
  ASSERT_EQ(s.series_folders.size(), 1u);
  const json summary = read_json(s.series_folders[0] / "summary.json");
  EXPECT_EQ(summary["n_forwarded"], 0);
  EXPECT_EQ(summary["n_not_forwarded"], summary["n_kept"]);
  EXPECT_GT(summary["n_kept"].get<int64_t>(), 0);
  expect_accounted(s.series_folders[0]);
  EXPECT_EQ(read_json(live.path() / "stream_summary.json")["n_control_not_forwarded"], 2);
}

}  // namespace
}  // namespace difftriage::stream
