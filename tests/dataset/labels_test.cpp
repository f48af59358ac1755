#include "difftriage/dataset/labels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "difftriage/core/error.h"
#include "support/test_support.h"

namespace difftriage::dataset {
namespace {

namespace fs = std::filesystem;
using difftriage::testing::read_bytes;
using difftriage::testing::shared_reference_dir;
using difftriage::testing::TempDir;
using difftriage::testing::write_text;

std::array<uint8_t, kNumLabels> labels_of(std::initializer_list<int> values) {
  std::array<uint8_t, kNumLabels> labels{};
  size_t i = 0;
  for (int v : values) labels[i++] = static_cast<uint8_t>(v);
  return labels;
}

// The issue on `line`, failing the test if there is not exactly one.
const LabelIssue& issue_on_line(const std::vector<LabelIssue>& issues, int line) {
  const LabelIssue* found = nullptr;
  int n = 0;
  for (const LabelIssue& issue : issues) {
    if (issue.line == line) {
      found = &issue;
      ++n;
    }
  }
  EXPECT_EQ(n, 1) << "issues on line " << line;
  static const LabelIssue kNone{};
  return found ? *found : kNone;
}

TEST(Labels, QualityNamesRoundTrip) {
  for (size_t i = 0; i < kNumQualities; ++i) {
    const auto quality = static_cast<Quality>(i);
    EXPECT_STREQ(quality_name(quality), kQualityNames[i]);
    EXPECT_EQ(parse_quality(kQualityNames[i]), quality);
  }
  EXPECT_FALSE(parse_quality("Good").has_value());
  EXPECT_FALSE(parse_quality("").has_value());
}

TEST(Labels, ParsesGoodMulticlassesWithCrlfTabsCommentsAndBlankLines) {
  TempDir dir;
  const fs::path path = dir / "multiclasses.txt";
  write_text(path,
             "\xEF\xBB\xBF"
             "fake_00002.pgm 0 0 1 0 0 0 0.3306 0.0\r\n"
             "# a comment\r\n"
             "\r\n"
             "sub/fake_00004.pgm\t0  1 0 1\t\t1 1 0.1045 0.9341  \r\n"
             "   fake_00005.pgm 1 0 0 0 0 0 0 1e-1\n"
             "fake_00006.pgm 0 0 0 0 0 0 +0.5 -0.0");  // no final newline
  const MultiLabelTable table = parse_multiclasses(path);
  ASSERT_TRUE(table.issues.empty()) << table.issues.front().to_string();
  EXPECT_EQ(table.source, path);
  ASSERT_EQ(table.rows.size(), 4u);

  EXPECT_EQ(table.rows[0].file, "fake_00002.pgm");
  EXPECT_EQ(table.rows[0].labels, labels_of({0, 0, 1, 0, 0, 0}));
  EXPECT_EQ(table.rows[0].mosaic1, 0.3306);
  EXPECT_EQ(table.rows[0].mosaic2, 0.0);
  EXPECT_EQ(table.rows[0].line, 1);

  EXPECT_EQ(table.rows[1].file, "sub/fake_00004.pgm");
  EXPECT_EQ(table.rows[1].labels, labels_of({0, 1, 0, 1, 1, 1}));
  EXPECT_EQ(table.rows[1].mosaic1, 0.1045);
  EXPECT_EQ(table.rows[1].mosaic2, 0.9341);
  EXPECT_EQ(table.rows[1].line, 4);

  EXPECT_EQ(table.rows[2].labels, labels_of({1, 0, 0, 0, 0, 0}));
  EXPECT_EQ(table.rows[2].mosaic2, 0.1);
  EXPECT_EQ(table.rows[2].line, 5);

  EXPECT_EQ(table.rows[3].mosaic1, 0.5);
  EXPECT_EQ(table.rows[3].mosaic2, 0.0);
  EXPECT_FALSE(std::signbit(table.rows[3].mosaic2));
  EXPECT_EQ(table.rows[3].line, 6);
}

TEST(Labels, ParsesGoodCategories) {
  TempDir dir;
  const fs::path path = dir / "categories1.txt";
  write_text(path,
             "fake_00003.png noxtal 0.0 0.0\n"
             "fake_00016.png strong 0.3555 0.246\n"
             "fake_00021.png weak 0.0439 0.0\n"
             "fake_00022.png good 0.1827 0.0\n"
             "fake_00023.png blank 0.0 0.0\n");
  const QualityTable table = parse_categories(path);
  ASSERT_TRUE(table.issues.empty());
  ASSERT_EQ(table.rows.size(), 5u);
  EXPECT_EQ(table.rows[0].quality, Quality::kNoxtal);
  EXPECT_EQ(table.rows[1].quality, Quality::kStrong);
  EXPECT_EQ(table.rows[1].mosaic1, 0.3555);
  EXPECT_EQ(table.rows[1].mosaic2, 0.246);
  EXPECT_EQ(table.rows[2].quality, Quality::kWeak);
  EXPECT_EQ(table.rows[3].quality, Quality::kGood);
  EXPECT_EQ(table.rows[4].quality, Quality::kBlank);
  EXPECT_EQ(table.rows[4].line, 5);
}

TEST(Labels, EveryBadMulticlassesRowIsAnIssueWithLineAndReason) {
  TempDir dir;
  const fs::path path = dir / "multiclasses.txt";
  write_text(path,
             "good.png 0 0 1 0 0 0 0.3306 0.0\n"      // 1 ok
             "a.png 0 1 0 0 0 0.5 0.0\n"              // 2 eight columns
             "b.png 0 x 0 0 0 0 0.5 0.0\n"            // 3 non-numeric label
             "c.png 0 1 2 0 0 0 0.5 0.0\n"            // 4 label 2
             "d.png 0 1 0 0 0 1.0 0.5 0.0\n"          // 5 label 1.0
             "e.png 0 1 0 0 0 0 1.5 0.0\n"            // 6 mosaic > 1
             "f.png 0 1 0 0 0 0 0.5 nan\n"            // 7 nan
             "g.png 0 1 0 0 0 0 inf 0.0\n"            // 8 inf
             "good.png 0 0 1 0 0 0 0.3306 0.0\n"      // 9 duplicate of 1
             "/abs.png 0 1 0 0 0 0 0.5 0.0\n"         // 10 absolute
             "../up.png 0 1 0 0 0 0 0.5 0.0\n"        // 11 escapes
             "sub/../../x.png 0 1 0 0 0 0 0.5 0.0\n"  // 12 escapes
             "sub/../ok.png 0 1 0 0 0 0 0.5 0.0\n"    // 13 ok (stays inside)
             "h.png 0 1 0 0 0 0 -0.1 0.0\n"           // 14 negative mosaic
             "i.png 0 1 0 0 0 0 0x1 0.0\n"            // 15 hex is not a decimal
             "j.png 0 1 0 0 0 0 abc 0.0\n"            // 16 word
             "./good.png 0 0 1 0 0 0 0.3306 0.0\n"    // 17 duplicate after normalising
             "k.png 0 1 0 0 0 0 0.5 0.0 extra\n"      // 18 ten columns
             "l.png -1 1 0 0 0 0 0.5 0.0\n"           // 19 label -1
             ".  0 1 0 0 0 0 0.5 0.0\n");             // 20 the folder itself
  const MultiLabelTable table = parse_multiclasses(path);
  ASSERT_EQ(table.rows.size(), 2u);
  EXPECT_EQ(table.rows[0].line, 1);
  EXPECT_EQ(table.rows[1].line, 13);
  EXPECT_EQ(table.rows[1].file, "sub/../ok.png");
  ASSERT_EQ(table.issues.size(), 18u);
  for (const LabelIssue& issue : table.issues) EXPECT_EQ(issue.file, path);

  auto expect_reason = [&](int line, const std::string& part) {
    const std::string reason = issue_on_line(table.issues, line).reason;
    EXPECT_NE(reason.find(part), std::string::npos) << "line " << line << ": " << reason;
  };
  expect_reason(2, "expected 9 columns, found 8 (filename blank photo1");
  expect_reason(3, "column 'photo1' is not a number: 'x'");
  expect_reason(4, "column 'photo2' must be 0 or 1, found '2'");
  expect_reason(5, "column 'badice' must be 0 or 1, found '1.0'");
  expect_reason(6, "column 'mosaic1' must be in [0, 1], found '1.5'");
  expect_reason(7, "column 'mosaic2' must be a finite number");
  expect_reason(8, "column 'mosaic1' must be a finite number");
  expect_reason(9, "duplicate file name 'good.png' (first on line 1)");
  expect_reason(10, "absolute path");
  expect_reason(11, "escapes the dataset folder via '..'");
  expect_reason(12, "escapes the dataset folder via '..'");
  expect_reason(14, "column 'mosaic1' must be in [0, 1], found '-0.1'");
  expect_reason(15, "column 'mosaic1' is not a number: '0x1'");
  expect_reason(16, "column 'mosaic1' is not a number: 'abc'");
  expect_reason(17, "duplicate file name './good.png' (first on line 1)");
  expect_reason(18, "found 10");
  expect_reason(19, "column 'blank' must be 0 or 1, found '-1'");
  expect_reason(20, "does not name a file");

  EXPECT_EQ(issue_on_line(table.issues, 4).to_string(),
            path.string() + ":4: column 'photo2' must be 0 or 1, found '2'");
}

TEST(Labels, OneRowCanCarrySeveralIssues) {
  TempDir dir;
  const fs::path path = dir / "multiclasses.txt";
  write_text(path, "a.png 0 7 0 0 0 0 2.0 nan\n");
  const MultiLabelTable table = parse_multiclasses(path);
  EXPECT_TRUE(table.rows.empty());
  ASSERT_EQ(table.issues.size(), 3u);
  EXPECT_NE(table.issues[0].reason.find("photo1"), std::string::npos);
  EXPECT_NE(table.issues[1].reason.find("mosaic1"), std::string::npos);
  EXPECT_NE(table.issues[2].reason.find("mosaic2"), std::string::npos);
}

TEST(Labels, EveryBadCategoriesRowIsAnIssue) {
  TempDir dir;
  const fs::path path = dir / "categories1.txt";
  write_text(path,
             "a.png good 0.1 0.0\n"     // 1 ok
             "b.png Good 0.1 0.0\n"     // 2 unknown quality (case matters)
             "c.png good 0.1\n"         // 3 three columns
             "d.png weak 0.1 1.01\n"    // 4 mosaic2 > 1
             "a.png strong 0.1 0.0\n"   // 5 duplicate
             "/e.png good 0.1 0.0\n");  // 6 absolute
  const QualityTable table = parse_categories(path);
  ASSERT_EQ(table.rows.size(), 1u);
  ASSERT_EQ(table.issues.size(), 5u);
  EXPECT_EQ(issue_on_line(table.issues, 2).reason,
            "unknown quality 'Good' (valid: blank, noxtal, weak, good, strong)");
  EXPECT_EQ(issue_on_line(table.issues, 3).reason,
            "expected 4 columns, found 3 (filename quality mosaic1 mosaic2)");
  EXPECT_NE(issue_on_line(table.issues, 4).reason.find("column 'mosaic2' must be in [0, 1]"),
            std::string::npos);
  EXPECT_NE(issue_on_line(table.issues, 5).reason.find("(first on line 1)"), std::string::npos);
  EXPECT_NE(issue_on_line(table.issues, 6).reason.find("absolute path"), std::string::npos);
}

TEST(Labels, ReadThrowsFormatErrorListingEveryIssue) {
  TempDir dir;
  const fs::path path = dir / "multiclasses.txt";
  write_text(path,
             "a.png 0 0 1 0 0 0 0.5 0.0\n"
             "b.png 0 0 1 0 0 0 0.5\n"
             "c.png 0 0 3 0 0 0 0.5 0.0\n");
  try {
    (void)read_multiclasses(path);
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path.string() + ":2: expected 9 columns"), std::string::npos) << message;
    EXPECT_NE(message.find(path.string() + ":3: column 'photo2'"), std::string::npos) << message;
    EXPECT_NE(message.find('\n'), std::string::npos);
  }
  EXPECT_THROW((void)read_categories(dir / "missing.txt"), IoError);
  EXPECT_THROW((void)parse_multiclasses(dir / "missing.txt"), IoError);
}

TEST(Labels, EmptyFileHasNoRowsAndNoIssues) {
  TempDir dir;
  write_text(dir / "multiclasses.txt", "");
  EXPECT_TRUE(read_multiclasses(dir / "multiclasses.txt").empty());
}

TEST(Labels, WriteUsesTheStudyFormatAndRoundTrips) {
  TempDir dir;
  std::vector<MultiLabelRow> rows(4);
  rows[0].file = "fake_00002.pgm";
  rows[0].labels = labels_of({0, 0, 1, 0, 0, 0});
  rows[0].mosaic1 = 0.3306;
  rows[1].file = "sub/fake_00004.pgm";
  rows[1].labels = labels_of({0, 1, 0, 1, 1, 1});
  rows[1].mosaic1 = 1.0;
  rows[1].mosaic2 = 0.1 + 0.2;  // 0.30000000000000004 needs all 17 digits
  rows[2].file = "c.pgm";
  rows[2].labels = labels_of({1, 0, 0, 0, 0, 0});
  rows[2].mosaic1 = 1e-7;
  rows[3].file = "d.pgm";
  rows[3].mosaic1 = std::nextafter(1.0, 0.0);
  rows[3].mosaic2 = -0.0;
  const fs::path path = dir / "out" / "multiclasses.txt";
  fs::create_directories(path.parent_path());
  write_multiclasses(path, rows);
  EXPECT_EQ(read_bytes(path),
            "fake_00002.pgm 0 0 1 0 0 0 0.3306 0.0\n"
            "sub/fake_00004.pgm 0 1 0 1 1 1 1.0 0.30000000000000004\n"
            "c.pgm 1 0 0 0 0 0 0.0000001 0.0\n"
            "d.pgm 0 0 0 0 0 0 0.9999999999999999 0.0\n");
  const std::vector<MultiLabelRow> back = read_multiclasses(path);
  ASSERT_EQ(back.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(back[i].file, rows[i].file);
    EXPECT_EQ(back[i].labels, rows[i].labels);
    EXPECT_EQ(back[i].mosaic1, rows[i].mosaic1);
    EXPECT_EQ(back[i].mosaic2, rows[i].mosaic2);
    EXPECT_EQ(back[i].line, static_cast<int>(i) + 1);
  }

  std::vector<QualityRow> quality(2);
  quality[0].file = "fake_00003.png";
  quality[0].quality = Quality::kNoxtal;
  quality[1].file = "fake_00016.png";
  quality[1].quality = Quality::kStrong;
  quality[1].mosaic1 = 0.3555;
  quality[1].mosaic2 = 0.246;
  const fs::path qpath = dir / "categories1.txt";
  write_categories(qpath, quality);
  EXPECT_EQ(read_bytes(qpath),
            "fake_00003.png noxtal 0.0 0.0\n"
            "fake_00016.png strong 0.3555 0.246\n");
  const std::vector<QualityRow> qback = read_categories(qpath);
  ASSERT_EQ(qback.size(), 2u);
  EXPECT_EQ(qback[1].quality, Quality::kStrong);
  EXPECT_EQ(qback[1].mosaic1, 0.3555);
}

TEST(Labels, ReferenceFilesRewriteByteForByte) {
  const fs::path reference = shared_reference_dir() / "nanobragg";
  const fs::path multi = reference / "try2" / "multiclasses.txt";
  const fs::path categories = reference / "try1" / "categories1.txt";
  DT_REQUIRE_SHARED(multi);
  DT_REQUIRE_SHARED(categories);
  const MultiLabelTable table = parse_multiclasses(multi);
  EXPECT_TRUE(table.issues.empty());
  EXPECT_EQ(table.rows.size(), 72u);
  const QualityTable qtable = parse_categories(categories);
  EXPECT_TRUE(qtable.issues.empty());
  EXPECT_EQ(qtable.rows.size(), 40u);

  TempDir dir;
  write_multiclasses(dir / "m.txt", table.rows);
  EXPECT_EQ(read_bytes(dir / "m.txt"), read_bytes(multi));
  write_categories(dir / "c.txt", qtable.rows);
  EXPECT_EQ(read_bytes(dir / "c.txt"), read_bytes(categories));
}

TEST(Labels, WriteRefusesRowsThatWouldNotReadBack) {
  TempDir dir;
  const fs::path path = dir / "multiclasses.txt";
  auto attempt = [&](MultiLabelRow row) { write_multiclasses(path, {row}); };
  MultiLabelRow row;
  row.file = "a b.png";
  EXPECT_THROW(attempt(row), FormatError);
  row.file = "";
  EXPECT_THROW(attempt(row), FormatError);
  row.file = "../a.png";
  EXPECT_THROW(attempt(row), FormatError);
  row.file = "a.png";
  row.labels[2] = 2;
  EXPECT_THROW(attempt(row), FormatError);
  row.labels[2] = 1;
  row.mosaic1 = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(attempt(row), FormatError);
  row.mosaic1 = 1.5;
  EXPECT_THROW(attempt(row), FormatError);
  row.mosaic1 = 0.5;
  EXPECT_THROW(write_multiclasses(path, {row, row}), FormatError);  // duplicate
  EXPECT_FALSE(fs::exists(path));
  attempt(row);
  EXPECT_TRUE(fs::exists(path));
}

TEST(Labels, ContainedRelativePaths) {
  EXPECT_TRUE(is_contained_relative_path("a.png"));
  EXPECT_TRUE(is_contained_relative_path("sub/dir/a.png"));
  EXPECT_TRUE(is_contained_relative_path("./a.png"));
  EXPECT_TRUE(is_contained_relative_path("sub/../a.png"));
  EXPECT_TRUE(is_contained_relative_path("..a.png"));
  EXPECT_FALSE(is_contained_relative_path(""));
  EXPECT_FALSE(is_contained_relative_path("."));
  EXPECT_FALSE(is_contained_relative_path("sub/.."));
  EXPECT_FALSE(is_contained_relative_path("/a.png"));
  EXPECT_FALSE(is_contained_relative_path("\\a.png"));
  EXPECT_FALSE(is_contained_relative_path("C:/a.png"));
  EXPECT_FALSE(is_contained_relative_path("../a.png"));
  EXPECT_FALSE(is_contained_relative_path("sub/../../a.png"));
  EXPECT_FALSE(is_contained_relative_path("a/b/../../../c.png"));
}

TEST(Labels, MergeAddsNoxtalImagesAsBlank) {
  std::vector<MultiLabelRow> multi(2);
  multi[0].file = "m1.png";
  multi[0].labels = labels_of({0, 1, 0, 0, 0, 0});
  multi[0].mosaic1 = 0.2;
  multi[0].line = 1;
  multi[1].file = "m2.png";
  multi[1].labels = labels_of({1, 0, 0, 0, 1, 0});
  multi[1].line = 2;
  std::vector<QualityRow> quality(4);
  quality[0] = {"q1.png", Quality::kNoxtal, 0.0, 0.0, 1};
  quality[1] = {"q2.png", Quality::kGood, 0.3, 0.0, 2};
  quality[2] = {"q3.png", Quality::kNoxtal, 0.0, 0.0, 3};
  quality[3] = {"q4.png", Quality::kBlank, 0.0, 0.0, 4};

  const std::vector<MultiLabelRow> merged = merge_noxtal_as_blank(multi, quality);
  ASSERT_EQ(merged.size(), 4u);
  EXPECT_EQ(merged[0].file, "m1.png");
  EXPECT_EQ(merged[0].mosaic1, 0.2);
  EXPECT_EQ(merged[1].file, "m2.png");
  EXPECT_EQ(merged[2].file, "q1.png");
  EXPECT_EQ(merged[2].labels, labels_of({1, 0, 0, 0, 0, 0}));
  EXPECT_EQ(merged[2].mosaic1, 0.0);
  EXPECT_EQ(merged[2].mosaic2, 0.0);
  EXPECT_EQ(merged[3].file, "q3.png");
  EXPECT_EQ(merged[3].labels, labels_of({1, 0, 0, 0, 0, 0}));

  quality[2].file = "./m2.png";
  try {
    (void)merge_noxtal_as_blank(multi, quality);
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("'./m2.png'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
  }
}

TEST(Labels, SemanticWarningsListRowsThatBendTheRules) {
  TempDir dir;
  const fs::path path = dir / "multiclasses.txt";
  write_text(path,
             "ok.png 0 1 0 0 1 1 0.2 0.0\n"     // 1 consistent
             "blank.png 1 0 0 0 1 0 0.0 0.0\n"  // 2 consistent (blank + ice)
             "a.png 0 1 0 0 0 1 0.2 0.0\n"      // 3 badice without ice
             "b.png 1 0 0 0 0 0 0.4 0.0\n"      // 4 blank with mosaic1
             "c.png 0 0 1 0 0 0 0.0 0.0\n"      // 5 crystal without mosaic1
             "d.png 0 0 1 0 0 0 0.2 0.1\n"      // 6 mosaic2 without multilattice
             "e.png 1 1 0 0 0 0 0.0 0.0\n"      // 7 blank and photo1
             "f.png 0 1 0 1 0 0 0.2 0.1\n");    // 8 consistent multilattice
  const MultiLabelTable table = parse_multiclasses(path);
  ASSERT_TRUE(table.issues.empty());
  const std::vector<LabelIssue> warnings = find_semantic_warnings(table);
  ASSERT_EQ(warnings.size(), 5u);
  EXPECT_EQ(warnings[0].line, 3);
  EXPECT_NE(warnings[0].reason.find("badice implies ice"), std::string::npos);
  EXPECT_EQ(warnings[1].line, 4);
  EXPECT_NE(warnings[1].reason.find("blank = 1 but mosaic1 = 0.4"), std::string::npos);
  EXPECT_EQ(warnings[2].line, 5);
  EXPECT_NE(warnings[2].reason.find("mosaic1 = 0"), std::string::npos);
  EXPECT_EQ(warnings[3].line, 6);
  EXPECT_NE(warnings[3].reason.find("multilattice = 0"), std::string::npos);
  EXPECT_EQ(warnings[4].line, 7);
  EXPECT_NE(warnings[4].reason.find("photo1"), std::string::npos);
  EXPECT_EQ(warnings[4].file, path);
  EXPECT_NE(warnings[4].to_string().find(":7: 'e.png': "), std::string::npos);

  const fs::path qpath = dir / "categories1.txt";
  write_text(qpath,
             "a.png good 0.2 0.0\n"
             "b.png noxtal 0.3 0.0\n"
             "c.png strong 0.0 0.0\n"
             "d.png blank 0.0 0.0\n");
  const std::vector<LabelIssue> qwarnings = find_semantic_warnings(parse_categories(qpath));
  ASSERT_EQ(qwarnings.size(), 2u);
  EXPECT_EQ(qwarnings[0].line, 2);
  EXPECT_EQ(qwarnings[1].line, 3);
}

}  // namespace
}  // namespace difftriage::dataset
