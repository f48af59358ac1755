// The sidecar reader: absent sidecar → nothing; the bright-spot count; malformed → FormatError.
#include "difftriage/dataset/sidecar.h"

#include <gtest/gtest.h>

#include "difftriage/core/error.h"
#include "support/test_support.h"

namespace difftriage::dataset {
namespace {

using difftriage::testing::TempDir;
using difftriage::testing::write_text;

TEST(Sidecar, AbsentSidecarMeansNothingIsKnown) {
  TempDir dir;
  write_text(dir / "a.pgm", "P5\n1 1\n255\n\x01");
  EXPECT_FALSE(read_sidecar_truth(dir / "a.pgm"));
}

TEST(Sidecar, ReadsTheBrightSpotCount) {
  TempDir dir;
  write_text(dir / "a.json", R"({"stats": {"n_bright": 0, "n_drawn": 12}})");
  write_text(dir / "b.json", R"({"labels": {}, "stats": {"n_bright": 210}})");
  ASSERT_TRUE(read_sidecar_truth(dir / "a.pgm"));
  EXPECT_EQ(read_sidecar_truth(dir / "a.pgm")->bright_spots, 0);
  EXPECT_EQ(read_sidecar_truth(dir / "b.pgm")->bright_spots, 210);
}

TEST(Sidecar, MalformedSidecarIsAnErrorNamingIt) {
  TempDir dir;
  write_text(dir / "a.json", "{\"stats\": ");
  write_text(dir / "b.json", R"({"stats": {"n_drawn": 3}})");
  write_text(dir / "c.json", R"({"stats": {"n_bright": -1}})");
  write_text(dir / "d.json", R"({"stats": {"n_bright": 2.5}})");
  for (const char* name : {"a", "b", "c", "d"}) {
    try {
      (void)read_sidecar_truth(dir / (std::string(name) + ".pgm"));
      ADD_FAILURE() << name << ": no error";
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find(std::string(name) + ".json"), std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace difftriage::dataset
