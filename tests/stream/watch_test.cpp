// Watched folders (stream/watch.h): the settle rule and the accounting of every entry, on a real
// folder with a synthetic clock (no sleeps, no timing asserted).
#include "difftriage/stream/watch.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "difftriage/core/error.h"
#include "support/test_support.h"

namespace difftriage::stream {
namespace {
namespace fs = std::filesystem;
using testing::TempDir;
using testing::write_text;
using Clock = FolderWatcher::Clock;

Clock::time_point at(double s) {
  return Clock::time_point{} + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(1000.0 + s));
}

void append(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::app);
  out << bytes;
}

std::vector<std::string> names(const std::vector<fs::path>& paths) {
  std::vector<std::string> out;
  for (const auto& p : paths) out.push_back(p.filename().string());
  return out;
}

std::vector<std::string> reasons_of(const std::vector<SkippedInput>& skipped,
                                    const std::string& name) {
  std::vector<std::string> out;
  for (const auto& s : skipped) {
    if (s.path.filename() == name) out.push_back(s.reason);
  }
  return out;
}

TEST(FolderWatcher, FileGrowingInPiecesIsTakenOnlyOnceUnchangedForTheSettleTime) {
  TempDir tmp;
  const fs::path f = tmp / "slow.cbf";
  write_text(f, "first piece ");
  FolderWatcher w(tmp.path(), 1.0);
  auto p = w.poll(at(0.0));
  EXPECT_TRUE(p.taken.empty());
  EXPECT_TRUE(p.changed);
  EXPECT_EQ(w.n_pending(), 1);
  p = w.poll(at(0.6));
  EXPECT_TRUE(p.taken.empty());
  EXPECT_FALSE(p.changed);
  append(f, "second piece ");
  p = w.poll(at(0.9));  // grew: the clock starts again
  EXPECT_TRUE(p.taken.empty());
  EXPECT_TRUE(p.changed);
  p = w.poll(at(1.8));  // 0.9 s unchanged: not yet
  EXPECT_TRUE(p.taken.empty());
  EXPECT_EQ(w.n_pending(), 1);
  p = w.poll(at(1.95));  // 1.05 s unchanged: taken
  EXPECT_EQ(names(p.taken), std::vector<std::string>{"slow.cbf"});
  EXPECT_EQ(w.n_pending(), 0);
  EXPECT_EQ(w.n_taken(), 1);
  p = w.poll(at(5.0));  // once per path
  EXPECT_TRUE(p.taken.empty());
  EXPECT_TRUE(p.skipped.empty());
  // Written again after it was taken: listed once, not taken again.
  append(f, "a late piece");
  p = w.poll(at(6.0));
  EXPECT_TRUE(p.taken.empty());
  EXPECT_EQ(reasons_of(p.skipped, "slow.cbf"),
            std::vector<std::string>{"changed after it was taken (triaged as it was when taken)"});
  p = w.poll(at(9.0));
  EXPECT_TRUE(p.taken.empty());
  EXPECT_TRUE(p.skipped.empty());
  EXPECT_TRUE(w.close().taken.empty());
}

TEST(FolderWatcher, EveryEntryIsAccountedForOnce) {
  TempDir tmp;
  write_text(tmp / "a.cbf", "frame a");
  write_text(tmp / "README.txt", "notes");
  write_text(tmp / "sub" / "b.cbf", "in a subfolder");
  write_text(tmp / "gone.cbf", "deleted before it settles");
  write_text(tmp / ".c.cbf.part", "a writer's temporary");
  FolderWatcher w(tmp.path(), 2.0);
  auto p = w.poll(at(0.0));
  EXPECT_TRUE(p.taken.empty());
  EXPECT_TRUE(p.skipped.empty());
  fs::remove(tmp / "gone.cbf");
  fs::rename(tmp / ".c.cbf.part", tmp / "c.cbf");  // renamed into place
  p = w.poll(at(1.0));
  EXPECT_TRUE(p.taken.empty());
  ASSERT_EQ(p.skipped.size(), 1u);  // the temporary vanished silently: c.cbf is its file
  EXPECT_EQ(p.skipped[0].path.filename(), "gone.cbf");
  EXPECT_EQ(p.skipped[0].reason, "removed or renamed before it settled (never read)");
  p = w.poll(at(2.5));
  EXPECT_EQ(names(p.taken), std::vector<std::string>{"a.cbf"});
  EXPECT_EQ(reasons_of(p.skipped, "sub"),
            std::vector<std::string>{"a folder (not searched recursively)"});
  ASSERT_EQ(reasons_of(p.skipped, "README.txt").size(), 1u);
  EXPECT_NE(reasons_of(p.skipped, "README.txt")[0].find("not a frame file"), std::string::npos);
  EXPECT_EQ(p.skipped.size(), 2u);
  write_text(tmp / "sub" / "more.cbf", "the subfolder changes: not news");
  p = w.poll(at(3.5));
  EXPECT_EQ(names(p.taken), std::vector<std::string>{"c.cbf"});
  EXPECT_TRUE(p.skipped.empty());
  // Taken more than 60 s ago: no longer looked at, so a change is not news.
  append(tmp / "a.cbf", " appended much later");
  p = w.poll(at(70.0));
  EXPECT_TRUE(p.taken.empty());
  EXPECT_TRUE(p.skipped.empty());
  // At the end: a file still being written and a hidden file still there.
  write_text(tmp / "late.cbf", "half");
  write_text(tmp / ".tmp.cbf", "never renamed");
  p = w.poll(at(70.5));
  EXPECT_TRUE(p.taken.empty());
  EXPECT_EQ(w.n_pending(), 1);  // late.cbf (hidden files are not pending)
  const auto c = w.close();
  EXPECT_TRUE(c.taken.empty());
  EXPECT_EQ(reasons_of(c.skipped, "late.cbf"),
            std::vector<std::string>{"still changing when the watch stopped (never read)"});
  EXPECT_EQ(reasons_of(c.skipped, ".tmp.cbf"), std::vector<std::string>{"a hidden file"});
  EXPECT_EQ(c.skipped.size(), 2u);
  EXPECT_EQ(w.n_taken(), 2);
}

TEST(FolderWatcher, EigerDataFilesWaitForTheirMaster) {
  TempDir tmp;
  write_text(tmp / "x_data_000001.h5", "data 1");
  write_text(tmp / "y_data_000001.h5", "data of a master that never comes");
  FolderWatcher w(tmp.path(), 1.0);
  w.poll(at(0.0));
  auto p = w.poll(at(2.0));  // settled, but held for their masters
  EXPECT_TRUE(p.taken.empty());
  EXPECT_EQ(w.n_pending(), 0);
  write_text(tmp / "x_master.h5", "master");
  write_text(tmp / "x_data_000002.h5", "data 2");
  p = w.poll(at(2.5));
  EXPECT_TRUE(p.taken.empty());
  append(tmp / "x_data_000002.h5", " still written");
  p = w.poll(at(3.6));  // the master settled, but one of its data files did not
  EXPECT_TRUE(p.taken.empty());
  p = w.poll(at(4.7));  // the master alone: its data files are its frames
  EXPECT_EQ(names(p.taken), std::vector<std::string>{"x_master.h5"});
  write_text(tmp / "x_data_000003.h5", "after the master was taken");
  w.poll(at(5.0));
  p = w.poll(at(6.5));  // not among the master's frames then: taken on its own
  EXPECT_EQ(names(p.taken), std::vector<std::string>{"x_data_000003.h5"});
  const auto c = w.close();  // y's master never came: its data file on its own
  EXPECT_EQ(names(c.taken), std::vector<std::string>{"y_data_000001.h5"});
  EXPECT_TRUE(c.skipped.empty());
}

TEST(FolderWatcher, BadOptionsNameTheOption) {
  TempDir tmp;
  try {
    FolderWatcher w(tmp / "missing", 1.0);
    FAIL() << "a missing folder was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
  EXPECT_THROW(FolderWatcher(tmp.path(), 0.0), ConfigError);
  WatchOptions o;
  o.folder = tmp.path();
  o.idle_stop_s = -1.0;
  try {
    validate(o);
    FAIL() << "a negative idle time was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--watch-idle-s"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace difftriage::stream
