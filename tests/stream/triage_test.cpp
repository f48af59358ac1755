// The fail-open decision, the results.jsonl row and the output folder.
#include "difftriage/stream/triage.h"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "difftriage/core/atomic_file.h"
#include "difftriage/core/error.h"
#include "difftriage/core/json_text.h"
#include "difftriage/stream/sources.h"

#include "difftriage/stream/sinks.h"
#include "support/test_support.h"

namespace difftriage::stream {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

models::ModelMetadata meta_with_band(double blank_threshold, double band) {
  models::ModelMetadata m;
  m.heads = {"quality", "labels", "mosaic"};
  m.thresholds["blank"] = blank_threshold;
  m.uncertainty_band = band;
  return m;
}

FrameResult classified(double p_blank, int64_t index = 0) {
  FrameResult r;
  r.index = index;
  r.address = {"f.h5", index};
  models::Prediction p;
  p.label_probabilities = {static_cast<float>(p_blank), 0.7f, 0.1f, 0.2f, 0.3f, 0.05f};
  p.quality_probabilities = {0.1f, 0.2f, 0.4f, 0.2f, 0.1f};
  p.quality = 2;
  p.mosaic = {0.25f, 0.5f};
  r.prediction = p;
  return r;
}

std::set<std::string> keys_of(const json& j) {
  std::set<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.insert(k);
  return keys;
}

TEST(Triage, VetoesOnlyConfidentBlanksAndFlagsTheUncertaintyBand) {
  const auto meta = meta_with_band(0.5, 0.1);  // hit threshold 0.5, band ±0.1
  struct Case {
    double p_blank;
    bool veto, uncertain;
  };
  for (const Case c : {Case{0.95, true, false}, Case{0.61, true, false}, Case{0.59, false, true},
                       Case{0.5, false, true}, Case{0.41, false, true}, Case{0.39, false, false},
                       Case{0.0, false, false}}) {
    const auto d = decide_triage(classified(c.p_blank), meta);
    EXPECT_EQ(d.veto, c.veto) << c.p_blank;
    EXPECT_EQ(d.uncertain, c.uncertain) << c.p_blank;
    EXPECT_FALSE(d.unreadable);
    ASSERT_TRUE(d.p_hit.has_value());
    EXPECT_NEAR(*d.p_hit, 1.0 - c.p_blank, 1e-6);
    EXPECT_EQ(d.flags,
              c.uncertain ? std::vector<std::string>{"uncertain"} : std::vector<std::string>{});
  }
  // The band follows the model's blank threshold: 0.8 → hit threshold 0.2.
  const auto strict = meta_with_band(0.8, 0.05);
  EXPECT_TRUE(decide_triage(classified(0.9), strict).veto);
  EXPECT_TRUE(decide_triage(classified(0.78), strict).uncertain);
  EXPECT_FALSE(decide_triage(classified(0.7), strict).veto);
  // Band 0: no frame is uncertain.
  EXPECT_TRUE(decide_triage(classified(0.51), meta_with_band(0.5, 0.0)).veto);
}

TEST(Triage, AnUnfamiliarFrameIsKeptAndFlaggedWhateverItsScore) {
  const auto meta = meta_with_band(0.5, 0.1);
  auto r = classified(0.99);
  ASSERT_TRUE(decide_triage(r, meta).veto);
  r.prediction->unfamiliar = true;
  const auto d = decide_triage(r, meta);
  EXPECT_TRUE(d.keep());
  EXPECT_TRUE(d.unfamiliar);
  EXPECT_EQ(d.flags, std::vector<std::string>{"unfamiliar"});
  const json row = result_row(r, d, meta);
  EXPECT_EQ(row["decision"], "keep");
  EXPECT_EQ(row["flags"], json::array({"unfamiliar"}));
  // Counted as kept, and read back from the row as a kept frame.
  TriageCounts counts;
  counts.add(decision_from_row(row));
  EXPECT_EQ(counts.n_kept, 1);
  EXPECT_EQ(counts.n_veto, 0);
  // An unfamiliar hit keeps its other flags.
  auto u = classified(0.45);
  u.prediction->unfamiliar = true;
  EXPECT_EQ(decide_triage(u, meta).flags, (std::vector<std::string>{"uncertain", "unfamiliar"}));
}

TEST(Triage, UnreadableFramesAndModelsWithoutBlankAreKept) {
  const auto meta = meta_with_band(0.5, 0.1);
  FrameResult bad;
  bad.address = {"broken.cbf", 0};
  bad.error = "broken.cbf: not an image";
  const auto d = decide_triage(bad, meta);
  EXPECT_TRUE(d.keep());
  EXPECT_TRUE(d.unreadable);
  EXPECT_EQ(d.flags, std::vector<std::string>{"unreadable"});
  const json row = result_row(bad, d, meta);
  EXPECT_EQ(row["error"], "broken.cbf: not an image");
  EXPECT_EQ(row["decision"], "keep");
  EXPECT_TRUE(row["quality"].is_null());
  EXPECT_TRUE(row["mosaic1"].is_null());
  for (const auto& [k, v] : row["p"].items()) EXPECT_TRUE(v.is_null()) << k;
  for (const auto& [k, v] : row["labels"].items()) EXPECT_TRUE(v.is_null()) << k;
  for (const auto& [k, v] : row["p_quality"].items()) EXPECT_TRUE(v.is_null()) << k;

  // A quality-only model scores hits from its quality head (models::score_hit, as evaluate and
  // calibrate do): p_hit = 1 - p(blank) - p(noxtal) = 0.7 here, kept.
  auto quality_only = meta;
  quality_only.heads = {"quality"};
  FrameResult r = classified(0.99);
  r.prediction->label_probabilities.clear();
  const auto q = decide_triage(r, quality_only);
  EXPECT_TRUE(q.keep());
  EXPECT_EQ(q.flags, std::vector<std::string>{});
  ASSERT_TRUE(q.p_hit.has_value());
  EXPECT_NEAR(*q.p_hit, 0.7, 1e-6);
  // ... and vetoes a frame it is confident is blank or noxtal.
  r.prediction->quality_probabilities = {0.6f, 0.35f, 0.03f, 0.01f, 0.01f};
  EXPECT_TRUE(decide_triage(r, quality_only).veto);
  // A binary "blank" head decides like the labels head, and before the quality head.
  r.prediction->quality_probabilities = {0.1f, 0.2f, 0.4f, 0.2f, 0.1f};
  r.prediction->binary["blank"] = 0.99f;
  EXPECT_TRUE(decide_triage(r, quality_only).veto);
  // A model with no output that answers "blank?" (here mosaic only) cannot veto.
  auto mosaic_only = meta;
  mosaic_only.heads = {"mosaic"};
  r.prediction->binary.clear();
  r.prediction->quality_probabilities.clear();
  const auto m = decide_triage(r, mosaic_only);
  EXPECT_TRUE(m.keep());
  EXPECT_FALSE(m.p_hit.has_value());
  EXPECT_EQ(m.flags, std::vector<std::string>{"no_blank_output"});
}

TEST(Triage, ResultRowHasExactlyTheDocumentedKeys) {
  const auto meta = meta_with_band(0.5, 0.1);
  const auto r = classified(0.2, 3);
  const json row = result_row(r, decide_triage(r, meta), meta);
  EXPECT_EQ(keys_of(row),
            (std::set<std::string>{"path", "frame", "p", "labels", "quality", "p_quality",
                                   "mosaic1", "mosaic2", "cell", "d_min_angstrom",
                                   "n_bragg_peaks", "decision", "flags", "error"}));
  EXPECT_TRUE(row["cell"].is_null());  // no evidence stage: null, the model's photo labels
  EXPECT_TRUE(row["d_min_angstrom"].is_null());
  EXPECT_TRUE(row["n_bragg_peaks"].is_null());
  const std::set<std::string> labels = {"blank",        "photo1", "photo2",
                                        "multilattice", "ice",    "badice"};
  EXPECT_EQ(keys_of(row["p"]), labels);
  EXPECT_EQ(keys_of(row["labels"]), labels);
  EXPECT_EQ(keys_of(row["p_quality"]),
            (std::set<std::string>{"blank", "noxtal", "weak", "good", "strong"}));
  EXPECT_EQ(row["path"], "f.h5");
  EXPECT_EQ(row["frame"], 3);
  EXPECT_NEAR(row["p"]["blank"].get<double>(), 0.2, 1e-6);
  EXPECT_EQ(row["labels"]["blank"], 0);
  EXPECT_EQ(row["labels"]["photo1"], 1);
  EXPECT_EQ(row["quality"], "weak");
  EXPECT_NEAR(row["mosaic2"].get<double>(), 0.5, 1e-6);
  EXPECT_EQ(row["decision"], "keep");
  EXPECT_TRUE(row["flags"].is_array());
  EXPECT_TRUE(row["error"].is_null());
}

features::FrameEvidenceResult evidence_of(int64_t n_bragg, bool geometry, std::vector<double> p_cells) {
  features::FrameEvidenceResult e;
  e.evidence.has_geometry = geometry;
  e.evidence.lattice.n_bragg_peaks = n_bragg;
  e.evidence.guard_keeps = n_bragg >= 3;
  if (geometry) {
    e.evidence.lattice.d_min_angstrom = 2.5;
    e.evidence.cell_scores = {0.1, -0.1, 0.05};
    e.evidence.cell_probabilities = std::move(p_cells);
  }
  e.cell_names = std::make_shared<const std::vector<std::string>>(
      std::vector<std::string>{"photo1", "photo2", "thermolysin"});
  return e;
}

TEST(Triage, TheSpotGuardKeepsAConfidentBlankWithBraggPeaks) {
  const auto meta = meta_with_band(0.5, 0.1);
  FrameResult r = classified(0.95);  // the model alone vetoes it
  r.evidence = evidence_of(2, true, {0.2, 0.1, 0.1});
  EXPECT_TRUE(decide_triage(r, meta).veto);  // too few Bragg peaks: the two agree, vetoed
  r.evidence = evidence_of(3, true, {0.2, 0.1, 0.1});
  const auto d = decide_triage(r, meta);
  EXPECT_TRUE(d.keep());
  EXPECT_TRUE(d.spot_guard);
  EXPECT_EQ(d.flags, std::vector<std::string>{"spot_guard"});
  TriageCounts counts;
  counts.add(d);
  EXPECT_EQ(counts.n_kept, 1);
  EXPECT_EQ(counts.n_uncertain + counts.n_unreadable + counts.n_untriaged, 0);
  // A hit without geometry is kept as before and flagged no_geometry.
  r = classified(0.1);
  r.evidence = evidence_of(1, false, {});
  EXPECT_EQ(decide_triage(r, meta).flags, std::vector<std::string>{"no_geometry"});
}

TEST(Triage, TheCellDecisionIsThePresetsLabels) {
  const auto meta = meta_with_band(0.5, 0.1);
  FrameResult r = classified(0.1);  // the labels head says photo1 0.7, photo2 0.1
  r.evidence = evidence_of(300, true, {0.2, 0.9, 0.6});
  const json row = result_row(r, decide_triage(r, meta), meta);
  EXPECT_EQ(row["cell"]["names"], json({"photo2", "thermolysin"}));
  EXPECT_NEAR(row["cell"]["p"]["thermolysin"].get<double>(), 0.6, 1e-12);
  EXPECT_NEAR(row["p"]["photo1"].get<double>(), 0.2, 1e-12);
  EXPECT_EQ(row["labels"]["photo1"], 0);
  EXPECT_EQ(row["labels"]["photo2"], 1);
  EXPECT_FALSE(row["p"].contains("thermolysin"));  // user cells live under cell only
  EXPECT_EQ(row["d_min_angstrom"], 2.5);
  EXPECT_EQ(row["n_bragg_peaks"], 300);
  r.evidence = evidence_of(300, false, {});
  const json none = result_row(r, decide_triage(r, meta), meta);
  EXPECT_TRUE(none["cell"].is_null());
  EXPECT_TRUE(none["d_min_angstrom"].is_null());
  EXPECT_EQ(none["labels"]["photo1"], 1);  // without geometry the model's own answer stays
}

TEST(Triage, FolderWriterAccountsForEveryFrameOnce) {
  testing::TempDir tmp;
  const auto meta = meta_with_band(0.5, 0.1);
  const fs::path out = tmp / "out" / "nested";
  TriageFolderWriter writer(out, meta, {"some/model", TriageOptions{}, 0.5});
  writer.add(classified(0.9, 0));   // veto
  writer.add(classified(0.1, 1));   // hit
  writer.add(classified(0.55, 2));  // uncertain, kept
  FrameResult bad;
  bad.index = 3;
  bad.address = {"f.h5", 3};
  bad.error = "f.h5: frame 3 out of range";
  writer.add(bad);                                  // unreadable, kept
  EXPECT_FALSE(fs::exists(out / "results.jsonl"));  // nothing visible before finish()
  TriageStats stats;
  stats.n_frames = 4;
  stats.elapsed_s = 2.0;
  stats.frames_per_s = 2.0;
  const json summary = writer.finish(stats);
  EXPECT_EQ(summary["n_frames"], 4);
  EXPECT_EQ(summary["n_kept"], 3);
  EXPECT_EQ(summary["n_veto"], 1);
  EXPECT_EQ(summary["n_uncertain"], 1);
  EXPECT_EQ(summary["n_unreadable"], 1);
  EXPECT_EQ(summary["n_untriaged"], 0);
  EXPECT_DOUBLE_EQ(summary["hit_rate"].get<double>(), 2.0 / 3.0);
  EXPECT_EQ(summary["model"], "some/model");
  EXPECT_EQ(summary["model_info"]["architecture"]["name"], "compact");
  EXPECT_EQ(summary["settings"]["batch_size"], 32);
  EXPECT_EQ(json::parse(testing::read_bytes(out / "summary.json")), summary);
  EXPECT_EQ(testing::read_bytes(out / "hits.lst"), "f.h5 //1\nf.h5 //2\nf.h5 //3\n");
  const std::string results = testing::read_bytes(out / "results.jsonl");
  EXPECT_EQ(std::count(results.begin(), results.end(), '\n'), 4);
  for (const auto& e : fs::directory_iterator(out)) {
    EXPECT_NE(e.path().filename().string()[0], '.') << "temporary left: " << e.path();
  }
}

// ---- Issue 18: one accounting identity; outputs as a set that survives SIGKILL; any name ----

TEST(TriageCounts, TheIdentityHoldsAndIsCheckedWhereCountsAreRead) {
  const auto meta = meta_with_band(0.5, 0.1);
  models::ModelMetadata no_blank = meta;
  no_blank.heads = {"mosaic"};
  TriageCounts a, b;
  a.add(decide_triage(classified(0.9), meta));   // veto
  a.add(decide_triage(classified(0.1), meta));   // hit
  a.add(decide_triage(classified(0.55), meta));  // uncertain
  FrameResult bad;
  bad.error = "broken";
  b.add(decide_triage(bad, meta));  // unreadable
  FrameResult mosaic_only = classified(0.9);
  mosaic_only.prediction->label_probabilities.clear();
  mosaic_only.prediction->quality_probabilities.clear();
  const auto untriaged = decide_triage(mosaic_only, no_blank);
  EXPECT_TRUE(untriaged.untriaged);
  b.add(untriaged);
  a.merge(b);
  EXPECT_TRUE(a.consistent());
  EXPECT_EQ(a.to_json(), (json{{"n_frames", 5}, {"n_kept", 4}, {"n_veto", 1},
                               {"n_uncertain", 1}, {"n_unreadable", 1}, {"n_untriaged", 1},
                               {"hit_rate", 3.0 / 4.0}}));
  EXPECT_EQ(TriageCounts::from_json(a.to_json()).to_json(), a.to_json());
  json broken = a.to_json();
  broken["n_veto"] = 2;  // n_frames != n_kept + n_veto
  EXPECT_THROW((void)TriageCounts::from_json(broken), FormatError);
  // A row counts back to the decision it records.
  const auto row = result_row(classified(0.55), decide_triage(classified(0.55), meta), meta);
  const auto d = decision_from_row(row);
  EXPECT_TRUE(d.uncertain);
  EXPECT_FALSE(d.veto);
}

// 300 frames, about a third vetoed; the same every time.
std::vector<FrameResult> run_frames(int n) {
  std::vector<FrameResult> frames;
  for (int i = 0; i < n; ++i) {
    frames.push_back(classified(i % 3 == 0 ? 0.95 : 0.05 + 0.001 * (i % 50), i));
  }
  return frames;
}

std::vector<FrameAddress> addresses(const std::vector<FrameResult>& frames) {
  std::vector<FrameAddress> a;
  for (const auto& f : frames) a.push_back(f.address);
  return a;
}

TriageRunInfo run_info(const std::vector<FrameResult>& frames) {
  TriageRunInfo info;
  info.model_path = "some/model";
  info.inputs = addresses(frames);
  info.run_options = {{"model", "some/model"}};
  info.flush_every = 32;
  return info;
}

// Writes `frames` into `out` through the writer (the whole run in this process).
json write_run(const fs::path& out, const std::vector<FrameResult>& frames,
               TriageRunInfo info) {
  TriageFolderWriter writer(out, meta_with_band(0.5, 0.1), std::move(info));
  for (size_t i = static_cast<size_t>(writer.n_done()); i < frames.size(); ++i) {
    writer.add(frames[i]);
  }
  return writer.finish(TriageStats{});
}

// Runs `body` in a child process and returns its wait status.
int in_child(const std::function<void()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    try {
      body();
    } catch (...) {
      ::_exit(3);
    }
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

int64_t count_lines(const fs::path& file) {
  const std::string text = testing::read_bytes(file);
  return std::count(text.begin(), text.end(), '\n');
}

// The folder holds a complete set (summary.json) whose files agree with each other, or no
// summary.json at all. Returns the n_frames of the set, or -1 without one.
int64_t check_set(const fs::path& out) {
  if (!fs::exists(out / "summary.json")) return -1;
  const json summary = json::parse(testing::read_bytes(out / "summary.json"));
  const auto counts = TriageCounts::from_json(summary);
  EXPECT_EQ(count_lines(out / "results.jsonl"), counts.n_frames) << out;
  EXPECT_EQ(count_lines(out / "hits.lst") +
                static_cast<int64_t>(summary["not_in_event_list"].size()),
            counts.n_kept)
      << out;
  return counts.n_frames;
}

TEST(TriageFolderWriter, SigkillAtAnyPointLeavesAConsistentSetAndResumeCompletesIt) {
  testing::TempDir tmp;
  const auto frames = run_frames(300), old_frames = run_frames(12);
  const fs::path reference = tmp / "reference";
  write_run(reference, frames, run_info(frames));
  const std::string expected_results = testing::read_bytes(reference / "results.jsonl");
  const std::string expected_hits = testing::read_bytes(reference / "hits.lst");

  const std::vector<std::string> points = {"rows",
                                           "write publish.json",
                                           "remove summary.json",
                                           "rename results.jsonl",
                                           "rename hits.lst",
                                           "rename report.html",
                                           "rename summary.json",
                                           "remove .partial"};
  for (const auto& point : points) {
    SCOPED_TRACE(point);
    const fs::path out = tmp / ("out_" + std::to_string(&point - points.data()));
    write_run(out, old_frames, run_info(old_frames));  // the previous complete set
    ASSERT_EQ(check_set(out), 12);
    // A temporary that a killed writer left: the next run removes it.
    testing::write_text(out / ".results.jsonl.tmp-999999-0", std::string(1000, 'x'));
    const int status = in_child([&] {
      auto info = run_info(frames);
      info.before_publish_step = [&](const std::string& step) {
        if (step == point) ::raise(SIGKILL);
      };
      TriageFolderWriter writer(out, meta_with_band(0.5, 0.1), info);
      for (size_t i = 0; i < frames.size(); ++i) {
        if (point == "rows" && i == 250) ::raise(SIGKILL);
        writer.add(frames[i]);
      }
      writer.finish(TriageStats{});
    });
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
    EXPECT_FALSE(fs::exists(out / ".results.jsonl.tmp-999999-0"));  // removed at the start
    const int64_t n = check_set(out);
    const size_t index = static_cast<size_t>(&point - points.data());
    if (index <= 2) {
      EXPECT_EQ(n, 12);  // killed before the old set was touched: it is intact
    } else if (index <= 6) {
      EXPECT_EQ(n, -1);  // killed during the renames: no summary.json claims a complete set
    } else {
      EXPECT_EQ(n, 300);  // killed after the renames: the new set is complete
    }
    if (index <= 1) {
      // Killed before the publish began: --resume keeps the rows flushed before the kill (7
      // batches of 32, or all 300) and does not triage them again.
      TriageFolderWriter resumed(out, meta_with_band(0.5, 0.1), [&] {
        auto info = run_info(frames);
        info.resume = true;
        return info;
      }());
      const int64_t n_done = resumed.n_done();
      EXPECT_EQ(n_done, index == 0 ? 224 : 300);
      for (size_t i = static_cast<size_t>(resumed.n_done()); i < frames.size(); ++i) {
        resumed.add(frames[i]);
      }
      const json summary = resumed.finish(TriageStats{});
      EXPECT_EQ(summary["resumed_frames"], n_done);
    } else {
      // Any next run first finishes the publish the killed one began (its files were
      // complete), so the killed run's set appears whole.
      TriageFolderWriter next(out, meta_with_band(0.5, 0.1), run_info(frames));
    }
    EXPECT_EQ(check_set(out), 300);
    EXPECT_TRUE(testing::read_bytes(out / "results.jsonl") == expected_results);
    EXPECT_TRUE(testing::read_bytes(out / "hits.lst") == expected_hits);
    // The report is part of the set: the 300-frame run's, whole.
    EXPECT_NE(testing::read_bytes(out / "report.html").find("data-count=\"n_frames\">300<"),
              std::string::npos);
  }
}

TEST(TriageFolderWriter, ResumeRefusesOtherInputsOrOptionsAndNothingToResume) {
  testing::TempDir tmp;
  const auto frames = run_frames(40);
  const fs::path out = tmp / "out";
  auto info = run_info(frames);
  info.resume = true;
  EXPECT_THROW(write_run(out, frames, info), ConfigError);  // nothing to resume
  {
    TriageFolderWriter interrupted(out, meta_with_band(0.5, 0.1), run_info(frames));
    for (int i = 0; i < 33; ++i) interrupted.add(frames[static_cast<size_t>(i)]);
  }  // destroyed unfinished: its rows stay in .partial/
  auto other = run_info(run_frames(41));
  other.resume = true;
  EXPECT_THROW(TriageFolderWriter(out, meta_with_band(0.5, 0.1), other), ConfigError);
  auto other_options = info;
  other_options.run_options = {{"model", "another/model"}};
  EXPECT_THROW(TriageFolderWriter(out, meta_with_band(0.5, 0.1), other_options), ConfigError);
  const json summary = write_run(out, frames, info);
  EXPECT_EQ(summary["resumed_frames"], 32);
  EXPECT_EQ(summary["n_frames"], 40);
}

TEST(TriageFolderWriter, ASecondRunIntoTheFolderIsRefusedUntilTheFirstDies) {
  testing::TempDir tmp;
  const auto frames = run_frames(4);
  const fs::path out = tmp / "out";
  {
    TriageFolderWriter first(out, meta_with_band(0.5, 0.1), run_info(frames));
    try {
      TriageFolderWriter second(out, meta_with_band(0.5, 0.1), run_info(frames));
      ADD_FAILURE() << "two writers in one folder";
    } catch (const IoError& e) {
      EXPECT_NE(std::string(e.what()).find("in use by another run"), std::string::npos)
          << e.what();
    }
  }
  // A process killed while holding the lock: the kernel releases it.
  const int status = in_child([&] {
    TriageFolderWriter holder(out, meta_with_band(0.5, 0.1), run_info(frames));
    ::raise(SIGKILL);
  });
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(write_run(out, frames, run_info(frames))["n_frames"], 4);
}

TEST(TriageFolderWriter, AFolderInTheWayFailsBeforeTheRunAndLeavesTheOldSet) {
  testing::TempDir tmp;
  const auto frames = run_frames(12);
  const fs::path out = tmp / "out";
  write_run(out, frames, run_info(frames));
  fs::remove(out / "hits.lst");
  fs::create_directory(out / "hits.lst");
  try {
    write_run(out, run_frames(30), run_info(run_frames(30)));
    ADD_FAILURE() << "ran with hits.lst blocked";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("hits.lst"), std::string::npos) << e.what();
  }
  EXPECT_EQ(count_lines(out / "results.jsonl"), 12);  // untouched
  EXPECT_EQ(json::parse(testing::read_bytes(out / "summary.json"))["n_frames"], 12);
}

TEST(TriageFolderWriter, AnyByteStringIsAPathAndEventListsReadBackExactly) {
  testing::TempDir tmp;
  const auto meta = meta_with_band(0.5, 0.1);
  const std::vector<std::string> names = {
      "good.cbf",         "fr\xe9" "d\xe9" "ric.pgm", "line\nbreak.cbf", "a //3.cbf",
      " lead.cbf",        "trail.cbf ",             "#hash.cbf",       "x\r.cbf",
      "deep//dir/f.cbf",  "spaces in name.cbf",      "\xff\xfe.h5"};
  std::vector<FrameResult> frames;
  for (size_t i = 0; i < names.size(); ++i) {
    FrameResult r = classified(0.1, static_cast<int64_t>(i));  // all kept
    r.address = {fs::path(names[i]), static_cast<int64_t>(i)};
    frames.push_back(r);
  }
  FrameResult unreadable;
  unreadable.address = {fs::path("bad\xe9.cbf"), 0};
  unreadable.error = "bad\xe9.cbf: cannot read";
  frames.push_back(unreadable);
  const fs::path out = tmp / "out";
  auto info = run_info(frames);
  const json summary = write_run(out, frames, info);
  // Each row's path reads back as the exact name; invalid UTF-8 is replaced and base64'd.
  std::ifstream in(out / "results.jsonl");
  std::string line;
  size_t i = 0;
  while (std::getline(in, line)) {
    const json row = json::parse(line);
    ASSERT_LT(i, frames.size());
    EXPECT_EQ(path_from_json(row).native(), frames[i].address.path.native()) << i;
    EXPECT_EQ(row.contains("path_b64"), !is_valid_utf8(frames[i].address.path.native())) << i;
    ++i;
  }
  EXPECT_EQ(i, frames.size());
  const std::string all_rows = testing::read_bytes(out / "results.jsonl");
  const size_t second = all_rows.find('\n') + 1;
  const json row1 = json::parse(all_rows.substr(second, all_rows.find('\n', second) - second));
  EXPECT_EQ(row1["path"], "fr\xef\xbf\xbd" "d\xef\xbf\xbd" "ric.pgm");
  EXPECT_EQ(row1["path_b64"], "ZnLpZOlyaWMucGdt");
  // hits.lst: what it lists reads back (read_event_list) as exactly those frames; the names
  // an event list cannot carry are in not_in_event_list with the reason, never mangled.
  const auto listed = read_event_list(out / "hits.lst");
  std::set<std::string> left_out;
  for (const auto& e : summary["not_in_event_list"]) {
    left_out.insert(path_from_json(e).native());
    EXPECT_FALSE(e["reason"].get<std::string>().empty());
  }
  EXPECT_EQ(left_out, (std::set<std::string>{"line\nbreak.cbf", "a //3.cbf", " lead.cbf",
                                             "trail.cbf ", "#hash.cbf", "x\r.cbf"}));
  std::vector<FrameAddress> expected;
  for (const auto& f : frames) {
    if (left_out.count(f.address.path.native()) == 0) expected.push_back(f.address);
  }
  EXPECT_EQ(listed, expected);
  EXPECT_EQ(listed.size() + left_out.size(), static_cast<size_t>(summary["n_kept"].get<int>()));
}

}  // namespace
}  // namespace difftriage::stream
