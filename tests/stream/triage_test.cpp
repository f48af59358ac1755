// The fail-open decision, the results.jsonl row and the output folder.
#include "difftriage/stream/triage.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

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
                                   "mosaic1", "mosaic2", "decision", "flags", "error"}));
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
  EXPECT_EQ(summary["n_errors"], 1);
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

}  // namespace
}  // namespace difftriage::stream
