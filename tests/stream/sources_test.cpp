// Input expansion: frame addresses, folders, globs, event lists, multi-frame files, fail-open.
#include "difftriage/stream/sources.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>

#include <filesystem>
#include <string>
#include <vector>

#include "difftriage/core/error.h"
#include "difftriage/io/image_io.h"
#include "difftriage/stream/frame_address.h"
#include "support/test_support.h"

namespace difftriage::stream {
namespace {
namespace fs = std::filesystem;
using testing::TempDir;
using testing::write_text;

std::vector<std::string> lines_of(const std::vector<FrameAddress>& frames) {
  std::vector<std::string> lines;
  for (const auto& f : frames) lines.push_back(to_event_line(f));
  return lines;
}

// Throws E and returns its message (empty when nothing was thrown).
template <typename E, typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return {};
}

TEST(FrameAddress, ParsesCrystfelEvents) {
  EXPECT_EQ(parse_frame_address("a/b.h5 //3"), (FrameAddress{"a/b.h5", 3}));
  EXPECT_EQ(parse_frame_address("a/b.h5//12"), (FrameAddress{"a/b.h5", 12}));
  EXPECT_EQ(parse_frame_address("a/b.cbf"), (FrameAddress{"a/b.cbf", 0}));
  // A doubled slash inside a path is not an event.
  EXPECT_EQ(parse_frame_address("/data//run/f.cbf"), (FrameAddress{"/data//run/f.cbf", 0}));
  EXPECT_NE(error_of<ConfigError>([] { parse_frame_address("b.h5 //x"); }).find("b.h5 //x"),
            std::string::npos);
  EXPECT_FALSE(error_of<ConfigError>([] { parse_frame_address("b.h5 //-1"); }).empty());
  EXPECT_FALSE(error_of<ConfigError>([] { parse_frame_address("b.h5 //"); }).empty());
  EXPECT_EQ(to_event_line({"x.h5", 7}), "x.h5 //7");
}

TEST(Sources, FolderListsFrameFilesSortedAndSkipsTheRest) {
  TempDir tmp;
  for (const char* f : {"b.pgm", "a.cbf", "c.img", "multiclasses.txt", "categories1.txt", "a.json",
                        "hits.lst", ".hidden.pgm"}) {
    write_text(tmp / f, "x");
  }
  fs::create_directory(tmp / "sub");
  write_text(tmp / "sub" / "deep.pgm", "x");
  const auto files = list_frame_files(tmp.path());
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0], tmp / "a.cbf");
  EXPECT_EQ(files[1], tmp / "b.pgm");
  EXPECT_EQ(files[2], tmp / "c.img");
  // Unreadable (garbage) files still appear, once each, as frame 0.
  const auto frames = expand_inputs({tmp.path().string()});
  EXPECT_EQ(lines_of(frames), (std::vector<std::string>{(tmp / "a.cbf").string() + " //0",
                                                        (tmp / "b.pgm").string() + " //0",
                                                        (tmp / "c.img").string() + " //0"}));
  EXPECT_THROW(list_frame_files(tmp / "nope"), IoError);
}

TEST(Sources, EigerDataFilesBesideTheirMasterAreSkipped) {
  TempDir tmp;
  for (const char* f : {"s_master.h5", "s_data_000001.h5", "s_data_000002.h5", "t_data_000001.h5"})
    write_text(tmp / f, "x");
  const auto files = list_frame_files(tmp.path());
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0], tmp / "s_master.h5");
  EXPECT_EQ(files[1], tmp / "t_data_000001.h5");  // no master t_master.h5: kept
}

TEST(Sources, GlobsExpandSortedAndAnEmptyMatchIsAConfigError) {
  TempDir tmp;
  for (const char* f : {"r_2.cbf", "r_10.cbf", "r_1.cbf", "x.pgm", "r_3.json"})
    write_text(tmp / f, "x");
  const auto frames = expand_inputs({(tmp / "r_*").string()});
  EXPECT_EQ(lines_of(frames), (std::vector<std::string>{(tmp / "r_1.cbf").string() + " //0",
                                                        (tmp / "r_10.cbf").string() + " //0",
                                                        (tmp / "r_2.cbf").string() + " //0"}));
  const std::string pattern = (tmp / "*.nothing").string();
  const auto message = error_of<ConfigError>([&] { expand_inputs({pattern}); });
  EXPECT_NE(message.find(pattern), std::string::npos) << message;
  EXPECT_EQ(expand_glob((tmp / "x.p?m").string()), std::vector<fs::path>{tmp / "x.pgm"});
}

TEST(Sources, EventListsWithCommentsFramesAndErrorsNamingFileAndLine) {
  TempDir tmp;
  write_text(tmp / "a.pgm", "x");
  const fs::path list = tmp / "events.lst";
  write_text(list, "# a comment\n\n" + (tmp / "a.pgm").string() + " //0\n   " +
                       (tmp / "b.h5").string() + " //4  \r\n" + (tmp / "c.cbf").string() + "\n");
  const auto frames = expand_inputs({"@" + list.string()});
  EXPECT_EQ(lines_of(frames), (std::vector<std::string>{(tmp / "a.pgm").string() + " //0",
                                                        (tmp / "b.h5").string() + " //4",
                                                        (tmp / "c.cbf").string() + " //0"}));
  const fs::path bad = tmp / "bad.lst";
  write_text(bad, "# ok\nx.h5 //1\nx.h5 //one\n");
  const auto message = error_of<ConfigError>([&] { expand_inputs({"@" + bad.string()}); });
  EXPECT_NE(message.find(bad.string() + ":3:"), std::string::npos) << message;
  EXPECT_NE(error_of<IoError>([&] {
              expand_inputs({"@" + (tmp / "none.lst").string()});
            }).find("none.lst"),
            std::string::npos);
}

TEST(Sources, MissingFilesAndExplicitFramesStayOneAddressEach) {
  TempDir tmp;
  const auto frames =
      expand_inputs({(tmp / "missing.cbf").string(), (tmp / "gone.h5").string() + " //5"});
  EXPECT_EQ(lines_of(frames), (std::vector<std::string>{(tmp / "missing.cbf").string() + " //0",
                                                        (tmp / "gone.h5").string() + " //5"}));
}

TEST(Sources, MultiFrameFilesExpandToEveryFrame) {
  const fs::path fixture =
      testing::shared_fixtures_dir() / "eiger2_simread7_2datafiles_4images_bslz4_data_000001.h5";
  DT_REQUIRE_SHARED(fixture);
  const int64_t n = io::count_frames(fixture);
  ASSERT_GE(n, 2);
  TempDir tmp;
  fs::create_symlink(fs::absolute(fixture), tmp / "stack.h5");
  write_text(tmp / "list.lst", (tmp / "stack.h5").string() + "\n");
  for (const std::string& input :
       {(tmp / "stack.h5").string(), tmp.path().string(), "@" + (tmp / "list.lst").string()}) {
    const auto frames = expand_inputs({input});
    ASSERT_EQ(static_cast<int64_t>(frames.size()), n) << input;
    for (int64_t k = 0; k < n; ++k) {
      EXPECT_EQ(frames[static_cast<size_t>(k)], (FrameAddress{tmp / "stack.h5", k})) << input;
    }
  }
  // An explicit frame stays that one frame.
  EXPECT_EQ(expand_inputs({(tmp / "stack.h5").string() + " //1"}).size(), 1u);
}

// Issue 18: README.md, notes.txt, a .log and SHA256SUMS in a frame folder became "unreadable
// frames" written into hits.lst, and broken links, FIFOs and subfolders were skipped unsaid.
// Now only files with a frame extension or frame content are taken; the rest is reported.
TEST(Sources, FolderExpansionTakesOnlyFramesAndReportsEverythingItSkips) {
  TempDir tmp;
  for (const char* f : {"README.md", "notes.txt", "run.log", "SHA256SUMS", "a.cbf", "b.h5"}) {
    write_text(tmp / f, "not a frame\n");
  }
  // No frame extension, but PGM content: a frame.
  write_text(tmp / "frame_without_extension", "P5\n2 2\n255\n\x01\x02\x03\x04");
  fs::create_directory(tmp / "sub");
  fs::create_symlink(tmp / "gone.cbf", tmp / "dangling.cbf");
  ASSERT_EQ(::mkfifo((tmp / "pipe.cbf").c_str(), 0600), 0);
  write_text(tmp / "multiclasses.txt", "");
  std::vector<SkippedInput> skipped;
  const auto frames = expand_inputs({tmp.path().string()}, &skipped);
  EXPECT_EQ(lines_of(frames),
            (std::vector<std::string>{(tmp / "a.cbf").string() + " //0",
                                      (tmp / "b.h5").string() + " //0",
                                      (tmp / "frame_without_extension").string() + " //0"}));
  std::map<std::string, std::string> reasons;
  for (const auto& s : skipped) reasons[s.path.filename().string()] = s.reason;
  EXPECT_EQ(reasons.size(), 8u);
  for (const char* f : {"README.md", "notes.txt", "run.log", "SHA256SUMS"}) {
    EXPECT_NE(reasons[f].find("not a frame file"), std::string::npos) << f << ": " << reasons[f];
  }
  EXPECT_NE(reasons["sub"].find("folder"), std::string::npos);
  EXPECT_NE(reasons["dangling.cbf"].find("broken symbolic link"), std::string::npos);
  EXPECT_NE(reasons["pipe.cbf"].find("not a regular file"), std::string::npos);
  EXPECT_NE(reasons["multiclasses.txt"].find("label file"), std::string::npos);
  const auto j = skipped_inputs_json(skipped);
  ASSERT_EQ(j.size(), 8u);
  EXPECT_TRUE(j[0].contains("path") && j[0].contains("reason"));
}

}  // namespace
}  // namespace difftriage::stream
