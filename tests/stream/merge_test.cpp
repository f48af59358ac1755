// stream::merge_stream_runs (stream/merge.h) on hand-made worker folders: rows of several
// workers and folders of one series put together and counted once, missing frames against the
// header's count, the merged status; every refusal names the file at fault and writes nothing;
// a second merge into the same folder replaces the set.
#include "difftriage/stream/merge.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "difftriage/core/error.h"
#include "support/test_support.h"

namespace difftriage::stream {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

json read_json(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

// A frame as a worker wrote it: its number and whether it was vetoed.
struct F {
  int64_t frame;
  bool veto;
};

// Writes DIR/<folder>/{results.jsonl, summary.json} as `stream` does, and lists the folder in
// DIR/stream_summary.json (created or extended).
void write_series(const fs::path& dir, const std::string& folder, int64_t series,
                  const std::vector<F>& frames, json extra = json::object()) {
  fs::create_directories(dir / folder);
  std::string rows;
  int64_t n_kept = 0, n_veto = 0;
  for (const auto& f : frames) {
    json row = {{"series", series},
                {"frame", f.frame},
                {"path", nullptr},
                {"decision", f.veto ? "veto" : "keep"},
                {"flags", json::array()},
                {"error", nullptr}};
    rows += row.dump() + "\n";
    (f.veto ? n_veto : n_kept) += 1;
  }
  testing::write_text(dir / folder / "results.jsonl", rows);
  json s = {{"series", series},
            {"protocol", "stream2"},
            {"status", "complete"},
            {"header_received", true},
            {"end_received", true},
            {"closed_by", "end_message"},
            {"fan_out", true},
            {"n_images_expected", nullptr},
            {"n_no_header", 0},
            {"n_frames", n_kept + n_veto},
            {"n_kept", n_kept},
            {"n_veto", n_veto},
            {"n_uncertain", 0},
            {"n_unreadable", 0},
            {"n_untriaged", 0},
            {"hit_rate", 0.0},
            {"model", "m"},
            {"model_info", {{"thresholds", {{"hit", 0.5}}}}},
            {"elapsed_s", 2.0},
            {"timing", {{"cpu_s", 1.0}, {"decode_s", 0.5}, {"infer_s", 0.25}, {"n_batches", 2}}}};
  s.update(extra);
  testing::write_text(dir / folder / "summary.json", s.dump(2));
  json top = fs::exists(dir / "stream_summary.json")
                 ? read_json(dir / "stream_summary.json")
                 : json{{"endpoint", "tcp://127.0.0.1:9999"},
                        {"fan_out", true},
                        {"n_messages", 0},
                        {"n_stray_messages", 1},
                        {"stray_errors", {"message 1: part 1: stray"}},
                        {"series_folders", json::array()}};
  top["series_folders"].push_back(folder);
  testing::write_text(dir / "stream_summary.json", top.dump(2));
}

class Merge : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = tmp_ / "a";
    b_ = tmp_ / "b";
    // Series 3 of 8 images: A had the header and the end, frames 0 2 4; B frames 1 3, and 6
    // in a second folder (its series timed out and went on). Series 9: B only, no header, and
    // B was stopped while it was open.
    write_series(a_, "series_3", 3, {{0, false}, {2, true}, {4, false}},
                 {{"n_images_expected", 8}});
    write_series(b_, "series_3", 3, {{3, true}, {1, false}},
                 {{"header_received", false}, {"end_received", false}, {"status", "incomplete"},
                  {"closed_by", "timeout"}, {"n_no_header", 2}});
    write_series(b_, "series_3_2", 3, {{6, false}},
                 {{"header_received", false}, {"end_received", false}, {"status", "incomplete"},
                  {"closed_by", "next_series"}, {"n_no_header", 1}});
    write_series(b_, "series_9", 9, {{5, true}, {0, false}},
                 {{"header_received", false}, {"end_received", false}, {"status", "interrupted"},
                  {"closed_by", "stop"}, {"n_no_header", 2}});
  }

  MergeOptions options(std::vector<fs::path> inputs, const std::string& out = "out") {
    MergeOptions o;
    o.inputs = std::move(inputs);
    o.out = tmp_ / out;
    o.write_reports = false;
    return o;
  }

  // Expects merge_stream_runs to throw E with `what` in its message, and to write nothing.
  template <typename E>
  void expect_refused(const MergeOptions& o, const std::string& what) {
    try {
      merge_stream_runs(o);
      ADD_FAILURE() << "not refused: " << what;
    } catch (const E& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(o.out)) << what;
  }

  testing::TempDir tmp_;
  fs::path a_, b_;
};

TEST_F(Merge, CountsEveryFrameOnceAndListsWhatIsMissing) {
  const MergeSummary s = merge_stream_runs(options({a_, b_}));
  EXPECT_EQ(s.n_series, 2);
  EXPECT_EQ(s.n_frames, 8);
  EXPECT_EQ(s.n_kept, 5);
  EXPECT_EQ(s.n_veto, 3);
  EXPECT_EQ(s.n_missing, 2);  // frames 5 and 7 of series 3
  const fs::path out = tmp_ / "out";
  const json m3 = read_json(out / "series_3" / "summary.json");
  EXPECT_EQ(m3["n_frames"], 6);
  EXPECT_EQ(m3["n_kept"], 4);
  EXPECT_EQ(m3["n_veto"], 2);
  EXPECT_EQ(m3["n_images_expected"], 8);
  EXPECT_EQ(m3["n_missing"], 2);
  EXPECT_EQ(m3["missing_frames"], json::parse("[[5,5],[7,7]]"));
  EXPECT_EQ(m3["status"], "incomplete");  // the end came, but frames are missing
  EXPECT_EQ(m3["header_received"], true);
  EXPECT_EQ(m3["end_received"], true);
  EXPECT_EQ(m3["n_no_header"], 3);
  EXPECT_EQ(m3["n_workers"], 3);
  EXPECT_EQ(m3["workers"][2]["folder"], "series_3_2");
  EXPECT_EQ(m3["workers"][2]["worker"], 1);
  EXPECT_DOUBLE_EQ(m3["timing"]["cpu_s"].get<double>(), 3.0);
  EXPECT_DOUBLE_EQ(m3["elapsed_s"].get<double>(), 2.0);
  std::vector<int64_t> frames, workers;
  for (const auto& line : testing::read_lines(out / "series_3" / "results.jsonl")) {
    const json row = json::parse(line);
    frames.push_back(row["frame"].get<int64_t>());
    workers.push_back(row["worker"].get<int64_t>());
  }
  EXPECT_EQ(frames, (std::vector<int64_t>{0, 1, 2, 3, 4, 6}));
  EXPECT_EQ(workers, (std::vector<int64_t>{0, 1, 0, 1, 0, 1}));
  const json m9 = read_json(out / "series_9" / "summary.json");
  EXPECT_EQ(m9["status"], "interrupted");
  EXPECT_TRUE(m9["n_images_expected"].is_null());
  EXPECT_TRUE(m9["n_missing"].is_null());  // no header: the count is not known
  EXPECT_EQ(m9["n_frames"], 2);
  const json top = read_json(out / "stream_summary.json");
  EXPECT_EQ(top["series_folders"], json::parse(R"(["series_3","series_9"])"));
  EXPECT_EQ(top["n_frames"], 8);
  EXPECT_EQ(top["n_stray_messages"], 2);
  EXPECT_EQ(top["merged_from"].size(), 2u);
  EXPECT_FALSE(fs::exists(out / ".partial"));

  // Once frames 5 and 7 are there, series 3 is complete.
  write_series(a_, "series_3_2", 3, {{5, false}, {7, true}}, {{"n_images_expected", 8}});
  merge_stream_runs(options({a_, b_}));
  EXPECT_EQ(read_json(out / "series_3" / "summary.json")["status"], "complete");
  EXPECT_EQ(read_json(out / "series_3" / "summary.json")["n_missing"], 0);
  // A merge into the same folder replaces the whole set: series 9 goes with it.
  merge_stream_runs(options({a_}));
  EXPECT_FALSE(fs::exists(out / "series_9"));
  EXPECT_EQ(read_json(out / "stream_summary.json")["series_folders"], json::array({"series_3"}));
}

TEST_F(Merge, RefusesWhatCannotBeCountedOnceNamingTheFile) {
  const std::string a = a_.string(), b = b_.string();
  // A frame twice: between workers, and within one worker.
  write_series(tmp_ / "c", "series_3", 3, {{2, false}});
  expect_refused<FormatError>(options({a_, b_, tmp_ / "c"}),
                              "series 3 frame 2 is in " + a + "/series_3/results.jsonl:2 and in " +
                                  (tmp_ / "c").string() + "/series_3/results.jsonl:1");
  write_series(tmp_ / "d", "series_3", 3, {{1, false}, {1, true}});
  expect_refused<FormatError>(options({tmp_ / "d"}), "/series_3/results.jsonl:1 and in ");
  // Options.
  expect_refused<ConfigError>(options({a_, a_}), "is given twice");
  MergeOptions self = options({a_});
  self.out = a_;
  try {
    merge_stream_runs(self);
    ADD_FAILURE() << "merged into an input";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("is also an input"), std::string::npos) << e.what();
  }
  // Not a finished stream folder.
  expect_refused<IoError>(options({a_, tmp_ / "nowhere"}), "nowhere: not a folder");
  fs::create_directories(tmp_ / "e");
  testing::write_text(tmp_ / "e" / "run.json", R"({"command": "stream"})");
  expect_refused<IoError>(options({a_, tmp_ / "e"}),
                          "e: no stream_summary.json: the stream is still running or was killed");
  fs::create_directories(tmp_ / "f" / ".partial");
  expect_refused<IoError>(options({a_, tmp_ / "f"}), "f/.partial: an unfinished output set");
  write_series(tmp_ / "g", "series_4", 4, {{0, false}});
  fs::create_directories(tmp_ / "g" / "series_5");
  testing::write_text(tmp_ / "g" / "series_5" / "results.jsonl.partial", "");
  expect_refused<IoError>(options({a_, tmp_ / "g"}),
                          "g/series_5/results.jsonl.partial: the series is still open");
  fs::remove(tmp_ / "g" / "series_5" / "results.jsonl.partial");
  expect_refused<IoError>(options({a_, tmp_ / "g"}), "g/series_5: not listed in ");
  write_series(tmp_ / "h", "series_4", 4, {{0, false}});
  fs::remove(tmp_ / "h" / "series_4" / "results.jsonl");
  expect_refused<IoError>(options({a_, tmp_ / "h"}), "h/series_4/results.jsonl: missing");
  // Damaged or inconsistent files, named with the line.
  write_series(tmp_ / "i", "series_4", 4, {{0, false}});
  testing::write_text(tmp_ / "i" / "series_4" / "results.jsonl",
                      testing::read_bytes(tmp_ / "i" / "series_4" / "results.jsonl") + "{\"fra");
  expect_refused<FormatError>(options({a_, tmp_ / "i"}), "i/series_4/results.jsonl:2: not a JSON");
  write_series(tmp_ / "j", "series_4", 4, {{0, false}, {1, true}}, {{"n_veto", 0}, {"n_kept", 2}});
  expect_refused<FormatError>(options({a_, tmp_ / "j"}),
                              "j/series_4/summary.json: n_kept is 2 but ");
  write_series(tmp_ / "k", "series_4", 4, {{0, false}});
  testing::write_text(tmp_ / "k" / "series_4" / "results.jsonl",
                      R"({"series": 5, "frame": 0, "decision": "keep", "flags": []})" "\n");
  expect_refused<FormatError>(options({a_, tmp_ / "k"}),
                              "k/series_4/results.jsonl:1: \"series\" is not 4");
  // Another model; two headers that disagree on the image count.
  write_series(tmp_ / "l", "series_4", 4, {{0, false}},
               {{"model_info", {{"thresholds", {{"hit", 0.4}}}}}});
  expect_refused<FormatError>(options({a_, tmp_ / "l"}),
                              "l/series_4/summary.json: triaged with another model than " + a +
                                  "/series_3/summary.json");
  write_series(tmp_ / "m", "series_3", 3, {{5, false}}, {{"n_images_expected", 9}});
  expect_refused<FormatError>(options({a_, tmp_ / "m"}),
                              "m/series_3/summary.json: n_images_expected 9 but ");
  // A merge output as an input; an output folder that holds something else.
  merge_stream_runs(options({a_, b_}, "merged"));
  expect_refused<IoError>(options({a_, tmp_ / "merged"}), "a merge output");
  fs::create_directories(tmp_ / "busy");
  testing::write_text(tmp_ / "busy" / "notes.txt", "mine");
  try {
    merge_stream_runs(options({a_, b_}, "busy"));
    ADD_FAILURE() << "merged into a folder of other files";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("busy: holds notes.txt"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(tmp_ / "busy" / ".partial"));
  EXPECT_EQ(testing::read_bytes(tmp_ / "busy" / "notes.txt"), "mine");
}

}  // namespace
}  // namespace difftriage::stream
