// difftriage replay FILES... --bind ENDPOINT — send files or recorded message dumps as a DECTRIS
// series (Stream V1 or V2) from a PUSH socket; stream::replay_series (stream/live.h).
// Exit 0 when sent, 2 for bad options, 3 when no frame could be read.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli_common.h"
#include "commands.h"
#include "difftriage/core/error.h"
#include "difftriage/stream/live.h"

namespace difftriage::cli {
namespace {

struct ReplayArgs {
  std::vector<std::string> inputs;
  std::string endpoint = "tcp://127.0.0.1:9999";
  io::StreamProtocol protocol = io::StreamProtocol::kStream1;
  io::StreamEncoding encoding = io::StreamEncoding::kBslz4;
  double rate_hz = 0.0;
  int64_t series_id = 1;
  int consumers = 0;
  double timeout_s = 60.0;
  bool no_end = false;
};

void run_replay(const ReplayArgs& a) {
  stream::ReplayOptions o;
  o.endpoint = a.endpoint;
  o.protocol = a.protocol;
  o.encoding = a.encoding;
  o.rate_hz = a.rate_hz;
  o.series_id = a.series_id;
  o.min_consumers = a.consumers;
  o.timeout_s = a.timeout_s;
  o.send_end = !a.no_end;
  const stream::ReplaySummary s = stream::replay_series(a.inputs, o);
  std::printf("sent %lld message(s), %lld image(s) to %s (%s)\n",
              static_cast<long long>(s.n_messages), static_cast<long long>(s.n_images),
              a.endpoint.c_str(), io::stream_protocol_name(a.protocol));
  for (const auto& u : s.unreadable) {
    std::fprintf(stderr, "difftriage: warning: not sent: %s //%lld: %s\n",
                 u["path"].get<std::string>().c_str(),
                 static_cast<long long>(u["frame"].get<int64_t>()),
                 u["error"].get<std::string>().c_str());
  }
  if (s.n_images == 0 && s.n_unreadable > 0) throw ExitRequest{kExitData};
}

}  // namespace

void register_replay(CLI::App& root) {
  auto a = std::make_shared<ReplayArgs>();
  CLI::App* cmd = root.add_subcommand(
      "replay",
      "Send frames as a DECTRIS detector series from a ZeroMQ PUSH socket (for tests and "
      "rehearsals without a detector): any classify inputs (files, folders, globs, @lists) "
      "encoded as Stream V1 or V2 with a start and an end message, or recorded message dumps "
      "(*.msgpack) sent as recorded");
  cmd->add_option("inputs", a->inputs, "Frame inputs (as classify) or *.msgpack message dumps")
      ->required();
  cmd->add_option("--bind", a->endpoint,
                  "Endpoint to bind (loopback by default; name another address to serve it)")
      ->capture_default_str();
  cmd->add_option("--protocol", a->protocol, "stream1 (SIMPLON V1 multipart JSON) or stream2 (CBOR)")
      ->transform(CLI::CheckedTransformer(
          std::map<std::string, io::StreamProtocol>{{"stream1", io::StreamProtocol::kStream1},
                                                    {"stream2", io::StreamProtocol::kStream2}}))
      ->default_str("stream1");
  cmd->add_option("--encoding", a->encoding,
                  "Pixel encoding: bslz4 (V1 bs<bits>-lz4<, V2 bslz4), lz4 (V1 lz4<, V2 lz4) or "
                  "raw (V1 <)")
      ->transform(CLI::CheckedTransformer(
          std::map<std::string, io::StreamEncoding>{{"bslz4", io::StreamEncoding::kBslz4},
                                                    {"lz4", io::StreamEncoding::kLz4},
                                                    {"raw", io::StreamEncoding::kRaw}}))
      ->default_str("bslz4");
  cmd->add_option("--rate", a->rate_hz, "Images per second at most (0: as fast as taken)")
      ->check(CLI::Range(0.0, 1e7))
      ->capture_default_str();
  cmd->add_option("--series-id", a->series_id, "Series id of frames sent from files")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 53))
      ->capture_default_str();
  cmd->add_option("--consumers", a->consumers,
                  "Wait until this many consumers have connected before sending")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  cmd->add_option("--timeout", a->timeout_s,
                  "Seconds to wait for consumers, and for unsent messages at the end")
      ->check(CLI::Range(1e-3, 1e9))
      ->capture_default_str();
  cmd->add_flag("--no-end", a->no_end,
                "Send no end message (rehearse an aborted series; recorded dumps without one get "
                "an end appended otherwise)");
  cmd->callback([a] { run_replay(*a); });
}

}  // namespace difftriage::cli
