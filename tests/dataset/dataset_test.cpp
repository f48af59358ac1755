#include "difftriage/dataset/dataset.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "dataset_fixtures.h"
#include "difftriage/core/error.h"
#include "support/test_support.h"

namespace difftriage::dataset {
namespace {

namespace fs = std::filesystem;
using difftriage::testing::shared_reference_dir;
using difftriage::testing::TempDir;
using difftriage::testing::write_text;
using test::write_pgm_file;

std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return text;
}

// A folder with both label files; b.pgm is in both.
void write_both_files(const fs::path& root) {
  write_text(root / kMultilabelFileName,
             "a.pgm 0 1 0 0 0 0 0.2 0.0\n"
             "b.pgm 0 0 1 1 0 0 0.4 0.3\n"
             "sub/c.pgm 1 0 0 0 1 1 0.0 0.0\n");
  write_text(root / kQualityFileName,
             "d.pgm noxtal 0.0 0.0\n"
             "b.pgm strong 0.4 0.3\n"
             "e.pgm good 0.1 0.0\n");
}

TEST(LoadDataset, JoinsBothLabelFiles) {
  TempDir dir;
  write_both_files(dir.path());
  const Dataset ds = load_dataset(dir.path());
  EXPECT_EQ(ds.root, dir.path());
  EXPECT_TRUE(ds.has_multilabel_file);
  EXPECT_TRUE(ds.has_quality_file);
  ASSERT_EQ(ds.samples.size(), 5u);
  const std::vector<std::string> order = {"a.pgm", "b.pgm", "sub/c.pgm", "d.pgm", "e.pgm"};
  for (size_t i = 0; i < order.size(); ++i) {
    EXPECT_EQ(ds.samples[i].file, order[i]);
    EXPECT_EQ(ds.samples[i].path, dir.path() / order[i]);
  }
  const Sample& b = ds.samples[1];
  ASSERT_TRUE(b.labels.has_value());
  EXPECT_EQ((*b.labels)[static_cast<size_t>(Label::kMultilattice)], 1);
  ASSERT_TRUE(b.quality.has_value());
  EXPECT_EQ(*b.quality, Quality::kStrong);
  EXPECT_EQ(b.mosaic1, 0.4);
  EXPECT_EQ(b.mosaic2, 0.3);
  EXPECT_EQ(b.multilabel_line, 2);
  EXPECT_EQ(b.quality_line, 2);
  EXPECT_TRUE(ds.samples[0].labels.has_value());
  EXPECT_FALSE(ds.samples[0].quality.has_value());
  const Sample& d = ds.samples[3];
  EXPECT_FALSE(d.labels.has_value());
  EXPECT_EQ(d.quality, Quality::kNoxtal);
  EXPECT_EQ(d.multilabel_line, 0);
  EXPECT_EQ(d.quality_line, 1);
  EXPECT_EQ(ds.samples[4].mosaic1, 0.1);
}

TEST(LoadDataset, OneLabelFileIsEnough) {
  TempDir dir;
  write_text(dir / kQualityFileName, "x.png weak 0.1 0.0\n");
  const Dataset ds = load_dataset(dir.path());
  EXPECT_FALSE(ds.has_multilabel_file);
  EXPECT_TRUE(ds.has_quality_file);
  ASSERT_EQ(ds.samples.size(), 1u);
  EXPECT_EQ(ds.samples[0].quality, Quality::kWeak);
}

TEST(LoadDataset, DifferentMosaicInTheTwoFilesNamesBothLines) {
  TempDir dir;
  write_text(dir / kMultilabelFileName,
             "a.pgm 0 1 0 0 0 0 0.2 0.0\n"
             "b.pgm 0 1 0 0 0 0 0.2 0.0\n");
  write_text(dir / kQualityFileName,
             "c.pgm good 0.2 0.0\n"
             "./b.pgm good 0.25 0.0\n");
  try {
    (void)load_dataset(dir.path());
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find((dir / kQualityFileName).string() + ":2:"), std::string::npos)
        << message;
    EXPECT_NE(message.find("multiclasses.txt line 2"), std::string::npos) << message;
    EXPECT_NE(message.find("0.25"), std::string::npos) << message;
  }
}

TEST(LoadDataset, BadRowsAndBadFoldersThrow) {
  TempDir dir;
  EXPECT_THROW((void)load_dataset(dir.path()), IoError);  // neither label file
  EXPECT_THROW((void)load_dataset(dir / "missing"), IoError);
  write_text(dir / "file.txt", "x");
  EXPECT_THROW((void)load_dataset(dir / "file.txt"), IoError);

  write_text(dir / kMultilabelFileName, "a.pgm 0 1 0 0 0 0 0.2 0.0\nb.pgm 0 1\n");
  write_text(dir / kQualityFileName, "c.pgm great 0.2 0.0\n");
  try {
    (void)load_dataset(dir.path());
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find((dir / kMultilabelFileName).string() + ":2: expected 9 columns"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find((dir / kQualityFileName).string() + ":1: unknown quality 'great'"),
              std::string::npos)
        << message;
  }
}

TEST(CheckDataset, AcceptsAGoodDataset) {
  TempDir dir;
  write_both_files(dir.path());
  for (const char* name : {"a.pgm", "b.pgm", "sub/c.pgm", "d.pgm", "e.pgm"}) {
    write_pgm_file(dir / name);
  }
  const CheckReport report = check_dataset(dir.path());
  EXPECT_TRUE(report.ok()) << joined(report.problems);
  EXPECT_EQ(report.n_samples, 5);
  EXPECT_EQ(report.n_images_ok, 5);
  EXPECT_TRUE(report.warnings.empty()) << joined(report.warnings);
}

TEST(CheckDataset, ListsMissingAndUndecodableImagesAndLabelProblems) {
  TempDir dir;
  write_text(dir / kMultilabelFileName,
             "good.pgm 0 1 0 0 0 0 0.2 0.0\n"
             "missing.pgm 0 1 0 0 0 0 0.2 0.0\n"
             "garbage.pgm 0 1 0 0 0 0 0.2 0.0\n"
             "truncated.pgm 0 1 0 0 0 0 0.2 0.0\n"
             "bad-row.pgm 0 1 0 0 0 0 7 0.0\n"
             "warn.pgm 0 1 0 0 0 1 0.2 0.0\n");
  write_pgm_file(dir / "good.pgm");
  write_pgm_file(dir / "warn.pgm");
  write_pgm_file(dir / "bad-row.pgm");
  write_text(dir / "garbage.pgm", "this is not an image at all");
  write_text(dir / "truncated.pgm", "P5\n4 4\n255\nabc");

  CheckOptions options;
  options.n_threads = 3;
  const CheckReport report = check_dataset(dir.path(), options);
  EXPECT_FALSE(report.ok());
  EXPECT_EQ(report.n_samples, 5);  // bad-row.pgm is not a sample
  EXPECT_EQ(report.n_images_ok, 2);
  ASSERT_EQ(report.problems.size(), 4u) << joined(report.problems);
  EXPECT_EQ(report.problems[0], (dir / kMultilabelFileName).string() +
                                    ":5: column 'mosaic1' must be in [0, 1], found '7'");
  EXPECT_EQ(report.problems[1], (dir / "missing.pgm").string() + ": image file does not exist");
  EXPECT_NE(report.problems[2].find((dir / "garbage.pgm").string()), std::string::npos);
  EXPECT_NE(report.problems[3].find((dir / "truncated.pgm").string()), std::string::npos);
  ASSERT_EQ(report.warnings.size(), 1u);
  EXPECT_NE(report.warnings[0].find(":6: 'warn.pgm': badice = 1 but ice = 0"), std::string::npos)
      << report.warnings[0];

  // Without decoding, only existence is tested.
  options.decode_images = false;
  const CheckReport quick = check_dataset(dir.path(), options);
  EXPECT_EQ(quick.n_images_ok, 4);
  EXPECT_EQ(quick.problems.size(), 2u) << joined(quick.problems);
}

TEST(CheckDataset, ReportsMissingLabelFilesAndMosaicConflicts) {
  TempDir dir;
  const CheckReport empty = check_dataset(dir.path());
  ASSERT_EQ(empty.problems.size(), 1u);
  EXPECT_NE(empty.problems[0].find("holds neither multiclasses.txt nor categories1.txt"),
            std::string::npos);
  EXPECT_THROW((void)check_dataset(dir / "missing"), IoError);

  write_text(dir / kMultilabelFileName, "a.pgm 0 1 0 0 0 0 0.2 0.0\n");
  write_text(dir / kQualityFileName, "a.pgm good 0.3 0.0\n");
  write_pgm_file(dir / "a.pgm");
  const CheckReport conflict = check_dataset(dir.path());
  ASSERT_EQ(conflict.problems.size(), 1u);
  EXPECT_NE(conflict.problems[0].find("categories1.txt:1:"), std::string::npos);
  EXPECT_NE(conflict.problems[0].find("multiclasses.txt line 1"), std::string::npos);
}

TEST(CheckDataset, ListsAnUnreadableLabelFileInsteadOfThrowing) {
  TempDir dir;
  fs::create_directories(dir / kMultilabelFileName);  // a folder where the file should be
  write_text(dir / kQualityFileName, "a.pgm good 0.3 0.0\n");
  write_pgm_file(dir / "a.pgm");
  const CheckReport report = check_dataset(dir.path());
  ASSERT_EQ(report.problems.size(), 1u) << joined(report.problems);
  EXPECT_NE(report.problems[0].find((dir / kMultilabelFileName).string()), std::string::npos);
  EXPECT_EQ(report.n_samples, 1);
  EXPECT_EQ(report.n_images_ok, 1);
  EXPECT_THROW((void)load_dataset(dir.path()), IoError);
}

TEST(CheckDataset, ReferenceDatasetsAreClean) {
  const fs::path reference = shared_reference_dir() / "nanobragg";
  DT_REQUIRE_SHARED(reference / "try2" / kMultilabelFileName);
  for (const char* name : {"try1", "try2"}) {
    const CheckReport report = check_dataset(reference / name);
    EXPECT_TRUE(report.ok()) << name << ":\n" << joined(report.problems);
    EXPECT_EQ(report.n_images_ok, report.n_samples);
    EXPECT_GT(report.n_samples, 0);
  }
}

}  // namespace
}  // namespace difftriage::dataset
