#include "difftriage/core/atomic_file.h"

#include <gtest/gtest.h>

#include "difftriage/core/error.h"
#include "support/test_support.h"

namespace difftriage {
namespace {
namespace fs = std::filesystem;

TEST(AtomicFile, WritesAndReplaces) {
  testing::TempDir tmp;
  write_file_atomically(tmp / "a.txt", "first");
  write_file_atomically(tmp / "a.txt", "second");
  EXPECT_EQ(read_file(tmp / "a.txt"), "second");
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator{}), 1);
}

TEST(AtomicFile, FailureLeavesNothingBehind) {
  testing::TempDir tmp;
  write_file_atomically(tmp / "keep.txt", "old");
  EXPECT_THROW(write_atomically(tmp / "keep.txt",
                                [](const fs::path& p) {
                                  testing::write_text(p, "partial");
                                  throw FormatError("boom");
                                }),
               FormatError);
  EXPECT_EQ(read_file(tmp / "keep.txt"), "old");
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator{}), 1);
}

TEST(AtomicFile, ErrorsNameTheFile) {
  testing::TempDir tmp;
  try {
    read_file(tmp / "missing.bin");
    FAIL();
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("missing.bin"), std::string::npos);
  }
  EXPECT_THROW(write_file_atomically(tmp / "no" / "such" / "dir.txt", "x"), IoError);
}

}  // namespace
}  // namespace difftriage
