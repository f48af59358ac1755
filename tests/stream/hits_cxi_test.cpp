// The kept frames as one CXI stack (HitsCxiWriter, TriageFolderWriter's hits_cxi option and
// `classify --hits-cxi`): the stack holds exactly the readable kept frames, in hits.lst order,
// with their pixels and sources; unreadable kept frames are counted, frames of another shape or
// pixel type are listed, and no file is left when nothing could be written.
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "difftriage/core/error.h"
#include "difftriage/core/log.h"
#include "difftriage/io/image_io.h"
#include "difftriage/models/classifier.h"
#include "difftriage/stream/frame_address.h"
#include "difftriage/stream/pipeline.h"
#include "difftriage/stream/sinks.h"
#include "stream/stream_test_support.h"
#include "support/test_support.h"

namespace difftriage::stream {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using difftriage::testing::read_lines;

// The sources recorded in a CXI stack, as `path //N` lines (hits.lst's form).
std::vector<std::string> read_sources(const fs::path& path) {
  std::vector<std::string> lines;
  for (const auto& source : io::read_cxi_sources(path)) {
    lines.push_back(source.path.string() + " //" + std::to_string(source.frame));
  }
  return lines;
}

// Same pixel type, extents and pixels.
void expect_same_pixels(const AnyImage& want, const AnyImage& got, const std::string& what) {
  ASSERT_EQ(want.index(), got.index()) << what << ": pixel type";
  std::visit(
      [&](const auto& w) {
        using ImageT = std::decay_t<decltype(w)>;
        const auto& g = std::get<ImageT>(got);
        ASSERT_EQ(w.n_slow(), g.n_slow()) << what;
        ASSERT_EQ(w.n_fast(), g.n_fast()) << what;
        EXPECT_TRUE(w.pixels() == g.pixels()) << what << ": pixels differ";
      },
      want);
}

// The readable kept frames of results.jsonl, as `path //N`, in order.
std::vector<std::string> readable_kept(const fs::path& results) {
  std::vector<std::string> kept;
  for (const auto& line : read_lines(results)) {
    const json row = json::parse(line);
    if (row["decision"] == "keep" && row["error"].is_null()) {
      kept.push_back(row["path"].get<std::string>() + " //" +
                     std::to_string(row["frame"].get<int64_t>()));
    }
  }
  return kept;
}

// Checks the stack at `cxi` against hits.lst and results.jsonl of `out`: one frame per readable
// kept frame (less those `not_written` lists), in hits.lst order, pixels equal to the source
// frame's.
void expect_stack_matches_hits(const fs::path& cxi, const fs::path& out,
                               const json& not_written = json::array()) {
  auto kept = readable_kept(out / "results.jsonl");
  for (const auto& entry : not_written) {
    const std::string line =
        entry["path"].get<std::string>() + " //" + std::to_string(entry["frame"].get<int64_t>());
    const auto it = std::find(kept.begin(), kept.end(), line);
    ASSERT_NE(it, kept.end()) << line << " is listed as not written but was not kept";
    kept.erase(it);
  }
  std::vector<std::string> hits;  // hits.lst without the unreadable frames, in order
  for (const auto& line : read_lines(out / "hits.lst")) {
    if (std::find(kept.begin(), kept.end(), line) != kept.end()) hits.push_back(line);
  }
  EXPECT_EQ(hits, kept);
  ASSERT_EQ(io::count_frames(cxi), static_cast<int64_t>(kept.size()));
  EXPECT_EQ(read_sources(cxi), hits);
  for (size_t k = 0; k < hits.size(); ++k) {
    const auto address = parse_frame_address(hits[k]);
    const AnyImage source = io::read_image(address.path, {address.frame});
    expect_same_pixels(source, io::read_image(cxi, {static_cast<int64_t>(k)}), hits[k]);
  }
}

// No `.NAME.tmp-*` temporaries left in `folder`.
void expect_no_temporaries(const fs::path& folder) {
  for (const auto& e : fs::directory_iterator(folder)) {
    EXPECT_NE(e.path().filename().string()[0], '.') << "temporary left: " << e.path();
  }
}

class HitsCxi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    torch::set_num_threads(1);
    tmp_ = new testing::TempDir();
    testing::write_tiny_model(tmp_->path() / "model", 7);
    classifier_ = std::make_shared<const models::Classifier>(
        models::Classifier::load(tmp_->path() / "model"));
    for (const auto& p : testing::write_pgm_frames(tmp_->path() / "frames", 16, 21)) {
      frames_.push_back({p, 0});
    }
  }
  static void TearDownTestSuite() {
    classifier_.reset();
    frames_.clear();
    delete tmp_;
  }

  static TriageOptions small_batches() {
    TriageOptions o;
    o.n_decode_threads = 2;
    o.n_infer_workers = 2;
    o.n_torch_threads = 1;
    o.batch_size = 3;
    o.queue_capacity = 2;
    return o;
  }

  // The model's metadata with hit threshold `hit` and no uncertainty band: hit 0 keeps every
  // readable frame, hit 2 vetoes every one.
  static models::ModelMetadata with_hit_threshold(double hit) {
    models::ModelMetadata m = classifier_->metadata();
    m.thresholds["hit"] = hit;
    m.uncertainty_band = 0.0;
    return m;
  }

  // Runs the pipeline over `frames` into `out` with a CXI stack at `cxi`; returns summary.json.
  static json classify(const std::vector<FrameAddress>& frames, const fs::path& out,
                       const fs::path& cxi, const models::ModelMetadata& metadata,
                       int deflate = 0) {
    const TriageOptions o = small_batches();
    TriageRunInfo info{"tiny", o};
    info.hits_cxi.path = cxi;
    info.hits_cxi.cxi.deflate_level = deflate;
    TriageFolderWriter writer(out, metadata, info);
    const auto stats =
        run_triage(frames, classifier_, o, [&](const FrameResult& r) { writer.add(r); });
    const json summary = writer.finish(stats);
    EXPECT_EQ(json::parse(testing::read_bytes(out / "summary.json")), summary);
    return summary;
  }

  static testing::TempDir* tmp_;
  static std::shared_ptr<const models::Classifier> classifier_;
  static std::vector<FrameAddress> frames_;
};
testing::TempDir* HitsCxi::tmp_ = nullptr;
std::shared_ptr<const models::Classifier> HitsCxi::classifier_;
std::vector<FrameAddress> HitsCxi::frames_;

TEST_F(HitsCxi, StackHoldsTheKeptFramesInHitsOrderWithTheirPixelsAndSources) {
  // A hit threshold at the median p_hit of the tiny model: about half the frames kept, half
  // vetoed, so the stack is a real selection.
  std::vector<double> p_hits;
  run_triage(frames_, classifier_, small_batches(), [&](const FrameResult& r) {
    p_hits.push_back(decide_triage(r, classifier_->metadata()).p_hit.value());
  });
  ASSERT_EQ(p_hits.size(), frames_.size());
  std::sort(p_hits.begin(), p_hits.end());
  const double median = 0.5 * (p_hits[7] + p_hits[8]);
  ASSERT_LT(p_hits[7], p_hits[8]) << "the tiny model gives tied probabilities";

  for (int deflate : {0, 5}) {
    SCOPED_TRACE("deflate " + std::to_string(deflate));
    const fs::path out = tmp_->path() / ("out_half_" + std::to_string(deflate));
    const fs::path cxi = out / "hits.cxi";
    const json summary = classify(frames_, out, cxi, with_hit_threshold(median), deflate);
    EXPECT_EQ(summary["n_kept"], 8);
    EXPECT_EQ(summary["n_veto"], 8);
    const json& h = summary["hits_cxi"];
    EXPECT_EQ(h["path"], cxi.string());
    EXPECT_EQ(h["written"], true);
    EXPECT_EQ(h["n_written"], 8);
    EXPECT_EQ(h["n_unreadable"], 0);
    EXPECT_EQ(h["n_not_written"], 0);
    EXPECT_EQ(h["not_written"], json::array());
    EXPECT_EQ(h["n_fast"], 64);
    EXPECT_EQ(h["n_slow"], 64);
    EXPECT_EQ(h["pixel_type"], "uint8");
    EXPECT_EQ(h["deflate_level"], deflate);
    EXPECT_EQ(read_lines(out / "hits.lst").size(), 8u);
    expect_stack_matches_hits(cxi, out);
    expect_no_temporaries(out);
  }
}

TEST_F(HitsCxi, UnreadableKeptFrameIsCountedNotWritten) {
  const fs::path out = tmp_->path() / "out_corrupt";
  fs::create_directories(out);
  const fs::path corrupt = tmp_->path() / "corrupt" / "broken.cbf";
  testing::write_text(corrupt, "this is not a diffraction image\n");
  std::vector<FrameAddress> frames = {frames_[0], frames_[1], {corrupt, 0}, frames_[2], frames_[3]};
  const fs::path cxi = out / "kept.cxi";
  const json summary = classify(frames, out, cxi, with_hit_threshold(0.0));
  EXPECT_EQ(summary["n_frames"], 5);
  EXPECT_EQ(summary["n_kept"], 5);  // fail-open: the corrupt frame is kept
  EXPECT_EQ(summary["n_unreadable"], 1);
  const auto hits = read_lines(out / "hits.lst");
  ASSERT_EQ(hits.size(), 5u);
  EXPECT_EQ(hits[2], to_event_line({corrupt, 0}));
  const json& h = summary["hits_cxi"];
  EXPECT_EQ(h["written"], true);
  EXPECT_EQ(h["n_written"], 4);
  EXPECT_EQ(h["n_unreadable"], 1);
  EXPECT_EQ(h["n_not_written"], 0);
  expect_stack_matches_hits(cxi, out);
  EXPECT_EQ(read_sources(cxi), (std::vector<std::string>{hits[0], hits[1], hits[3], hits[4]}));
  expect_no_temporaries(out);
}

TEST_F(HitsCxi, FramesOfAnotherShapeOrPixelTypeAreListedAndStayKept) {
  const fs::path dir = tmp_->path() / "mixed";
  fs::create_directories(dir);
  // 64 x 48 uint8 and 64 x 64 uint16: neither fits the stack the first (64 x 64 uint8) frame
  // starts.
  Image<uint8_t> narrow(64, 48, 90);
  narrow(10, 10) = 250;
  io::write_pgm(dir / "narrow.pgm", narrow.view());
  Image<uint16_t> deep(64, 64, 900);
  deep(20, 30) = 60000;
  io::write_pgm(dir / "deep.pgm", deep.view());
  const FrameAddress narrow_address{dir / "narrow.pgm", 0}, deep_address{dir / "deep.pgm", 0};
  std::vector<FrameAddress> frames = {frames_[0], narrow_address, frames_[1], deep_address,
                                      frames_[2]};
  const fs::path out = tmp_->path() / "out_mixed";
  const fs::path cxi = out / "kept.cxi";
  fs::create_directories(out);

  std::vector<std::pair<LogLevel, std::string>> logged;
  const LogSink previous = set_log_sink(
      [&](LogLevel level, const std::string& message) { logged.emplace_back(level, message); });
  const json summary = classify(frames, out, cxi, with_hit_threshold(0.0));
  set_log_sink(previous);

  EXPECT_EQ(summary["n_kept"], 5);
  EXPECT_EQ(summary["n_unreadable"], 0);
  const auto hits = read_lines(out / "hits.lst");
  ASSERT_EQ(hits.size(), 5u);  // still kept, still in hits.lst
  EXPECT_EQ(hits[1], to_event_line(narrow_address));
  EXPECT_EQ(hits[3], to_event_line(deep_address));
  for (const auto& line : read_lines(out / "results.jsonl")) {
    EXPECT_EQ(json::parse(line)["decision"], "keep") << line;
  }
  const json& h = summary["hits_cxi"];
  EXPECT_EQ(h["written"], true);
  EXPECT_EQ(h["n_written"], 3);
  EXPECT_EQ(h["n_unreadable"], 0);
  EXPECT_EQ(h["n_not_written"], 2);
  ASSERT_EQ(h["not_written"].size(), 2u);
  const json& a = h["not_written"][0];
  EXPECT_EQ(a["path"], narrow_address.path.string());
  EXPECT_EQ(a["frame"], 0);
  EXPECT_EQ(a["reason"], "48 x 64 uint8 differs from the stack's 64 x 64 uint8 (fast x slow)");
  const json& b = h["not_written"][1];
  EXPECT_EQ(b["path"], deep_address.path.string());
  EXPECT_EQ(b["reason"], "64 x 64 uint16 differs from the stack's 64 x 64 uint8 (fast x slow)");
  EXPECT_EQ(read_sources(cxi), (std::vector<std::string>{hits[0], hits[2], hits[4]}));
  for (int64_t k = 0; k < 3; ++k) {
    expect_same_pixels(io::read_image(frames_[static_cast<size_t>(k)].path),
                       io::read_image(cxi, {k}), "frame " + std::to_string(k));
  }
  // One warning line, naming the count and the first frame left out.
  int n_warnings = 0;
  for (const auto& [level, message] : logged) {
    if (level != LogLevel::kWarning) continue;
    ++n_warnings;
    EXPECT_NE(message.find("2 kept frame(s) not written to " + cxi.string()), std::string::npos)
        << message;
    EXPECT_NE(message.find("narrow.pgm //0"), std::string::npos) << message;
  }
  EXPECT_EQ(n_warnings, 1);
}

TEST_F(HitsCxi, NothingWrittenLeavesNoFileAndRemovesAStaleOne) {
  const fs::path out = tmp_->path() / "out_none";
  fs::create_directories(out);
  const fs::path cxi = out / "kept.cxi";
  testing::write_text(cxi, "a stack from an earlier run\n");
  const fs::path corrupt = tmp_->path() / "corrupt2" / "broken.cbf";
  testing::write_text(corrupt, "not an image\n");
  // Every readable frame vetoed; the corrupt one kept but without pixels.
  const json summary =
      classify({frames_[0], {corrupt, 0}, frames_[1]}, out, cxi, with_hit_threshold(2.0));
  EXPECT_EQ(summary["n_kept"], 1);
  EXPECT_EQ(summary["n_veto"], 2);
  const json& h = summary["hits_cxi"];
  EXPECT_EQ(h["written"], false);
  EXPECT_EQ(h["n_written"], 0);
  EXPECT_EQ(h["n_unreadable"], 1);
  EXPECT_TRUE(h["pixel_type"].is_null());
  EXPECT_FALSE(fs::exists(cxi));
  expect_no_temporaries(out);
}

TEST_F(HitsCxi, WithoutTheOptionSummaryHasNoKeyAndNoFile) {
  const fs::path out = tmp_->path() / "out_plain";
  TriageFolderWriter writer(out, with_hit_threshold(0.0), {"tiny", small_batches()});
  const auto stats = run_triage({frames_[0]}, classifier_, small_batches(),
                                [&](const FrameResult& r) { writer.add(r); });
  const json summary = writer.finish(stats);
  EXPECT_FALSE(summary.contains("hits_cxi"));
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(out)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"hits.lst", "report.html", "results.jsonl",
                                             "summary.json"}));
}

TEST_F(HitsCxi, BadOptionsFailBeforeTheRun) {
  HitsCxiOptions options;
  options.path = tmp_->path() / "bad.cxi";
  options.cxi.deflate_level = 10;
  try {
    HitsCxiWriter writer(options);
    ADD_FAILURE() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("deflate_level"), std::string::npos) << e.what();
  }
  EXPECT_THROW(HitsCxiWriter(HitsCxiOptions{}), ConfigError);
  options.cxi.deflate_level = 0;
  options.path = tmp_->path() / "no" / "such" / "folder" / "hits.cxi";
  TriageRunInfo info{"tiny", small_batches()};
  info.hits_cxi = options;
  try {
    TriageFolderWriter writer(tmp_->path() / "out_bad", classifier_->metadata(), info);
    ADD_FAILURE() << "expected an IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find(options.path.string()), std::string::npos) << e.what();
  }
  HitsCxiWriter writer({tmp_->path() / "twice.cxi"});
  writer.finish();
  EXPECT_THROW(writer.finish(), ConfigError);
  EXPECT_FALSE(fs::exists(tmp_->path() / "twice.cxi"));
}

TEST_F(HitsCxi, FrameGoneBeforeItIsReadAgainIsListed) {
  const fs::path dir = tmp_->path() / "gone";
  fs::create_directories(dir);
  const fs::path vanished = dir / "vanished.pgm";
  fs::copy_file(frames_[5].path, vanished);
  auto readable = [](const fs::path& path) {  // what the pipeline delivered for it
    FrameResult r;
    r.address = {path, 0};
    r.prediction = models::Prediction{};
    return r;
  };
  TriageDecision keep;
  TriageDecision veto;
  veto.veto = true;
  HitsCxiWriter writer({dir / "kept.cxi"});
  EXPECT_TRUE(writer.add(readable(frames_[4].path), keep));
  EXPECT_FALSE(writer.add(readable(frames_[6].path), veto));
  fs::remove(vanished);  // deleted between the pipeline's read and the stack's
  EXPECT_FALSE(writer.add(readable(vanished), keep));
  EXPECT_TRUE(writer.add(readable(frames_[5].path), keep));
  const json h = writer.finish();
  EXPECT_EQ(h["n_written"], 2);
  EXPECT_EQ(h["n_not_written"], 1);
  ASSERT_EQ(h["not_written"].size(), 1u);
  EXPECT_EQ(h["not_written"][0]["path"], vanished.string());
  const std::string reason = h["not_written"][0]["reason"];
  EXPECT_EQ(reason.rfind("cannot read it again: ", 0), 0u) << reason;
  EXPECT_NE(reason.find("vanished.pgm"), std::string::npos) << reason;
  EXPECT_EQ(read_sources(dir / "kept.cxi"),
            (std::vector<std::string>{to_event_line({frames_[4].path, 0}),
                                      to_event_line({frames_[5].path, 0})}));
}

TEST_F(HitsCxi, ClassifyCommandWritesTheStackAndChecksTheDeflateLevel) {
  // The tiny model with a hit threshold of 0: every readable frame is kept.
  const fs::path model = tmp_->path() / "model_keep_all";
  fs::create_directories(model);
  fs::copy_file(tmp_->path() / "model" / "model.pt", model / "model.pt");
  json meta = json::parse(testing::read_bytes(tmp_->path() / "model" / "model.json"));
  meta["thresholds"]["hit"] = 0.0;
  meta["uncertainty_band"] = 0.0;
  testing::write_text(model / "model.json", meta.dump(2));
  const fs::path dir = tmp_->path() / "cli_inputs";
  fs::create_directories(dir);
  for (size_t i = 0; i < 4; ++i) {
    fs::copy_file(frames_[i].path, dir / frames_[i].path.filename());
  }
  io::write_pgm(dir / "zz_narrow.pgm", Image<uint8_t>(64, 48, 7).view());
  testing::write_text(dir / "zz_broken.cbf", "not an image\n");
  const fs::path out = tmp_->path() / "cli_out";
  const fs::path cxi = tmp_->path() / "cli_hits.cxi";

  auto r = testing::run_cli({"classify", dir.string(), "--out", out.string(), "--model",
                             model.string(), "--hits-cxi", cxi.string(), "--hits-cxi-deflate", "3",
                             "--threads", "1", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("wrote " + cxi.string() + " (4 kept frame(s); 1 unreadable"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.err.find("warning: 1 kept frame(s) not written to " + cxi.string()),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("zz_narrow.pgm //0"), std::string::npos) << r.err;
  const json summary = json::parse(testing::read_bytes(out / "summary.json"));
  EXPECT_EQ(summary["n_kept"], 6);
  const json& h = summary["hits_cxi"];
  EXPECT_EQ(h["n_written"], 4);
  EXPECT_EQ(h["n_unreadable"], 1);
  EXPECT_EQ(h["n_not_written"], 1);
  EXPECT_EQ(h["deflate_level"], 3);
  ASSERT_EQ(h["not_written"].size(), 1u);
  EXPECT_EQ(h["not_written"][0]["path"], (dir / "zz_narrow.pgm").string());
  expect_stack_matches_hits(cxi, out, h["not_written"]);
  const json run = json::parse(testing::read_bytes(out / "run.json"));
  EXPECT_NE(run.dump().find(cxi.string()), std::string::npos) << run.dump();

  // A level outside 0..9, or a level without a file: usage errors naming the option.
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--hits-cxi", cxi.string(), "--hits-cxi-deflate", "12"},
           {"--hits-cxi", cxi.string(), "--hits-cxi-deflate", "-1"},
           {"--hits-cxi-deflate", "3"}}) {
    std::vector<std::string> full = {"classify", dir.string(),
                                     "--out",    (tmp_->path() / "cli_bad").string(),
                                     "--model",  model.string()};
    full.insert(full.end(), args.begin(), args.end());
    r = testing::run_cli(full);
    EXPECT_EQ(r.exit_code, 2) << args.back() << ": " << r.err;
    EXPECT_NE(r.err.find("--hits-cxi-deflate"), std::string::npos) << r.err;
  }
  EXPECT_FALSE(fs::exists(tmp_->path() / "cli_bad" / "summary.json"));
  r = testing::run_cli({"classify", "--help"});
  EXPECT_NE(r.out.find("--hits-cxi "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--hits-cxi-deflate"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace difftriage::stream
