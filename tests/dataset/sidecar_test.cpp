// The sidecar reader: absent sidecar → nothing; the bright-spot count; the written frame's geometry
// and mosaic regime; malformed → FormatError.
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

TEST(Sidecar, GeometryOfTheWrittenFrameAndMosaicRegime) {
  // Full-resolution 1024² detector, 0.1 mm pixels, beam at (512.4, 500), binned 2×2 on writing:
  // the written frame has 0.2 mm pixels, 512², beam at (256.2, 250).
  TempDir dir;
  write_text(dir / "a.json", R"({"stats": {"n_bright": 5},
    "geometry": {"wavelength_angstrom": 1.2, "distance_mm": 150, "pixel_size_mm": 0.1,
                 "n_fast": 1024, "n_slow": 1024, "beam_center_fast_px": 512.4,
                 "beam_center_slow_px": 500, "corner_resolution_angstrom": 1.7,
                 "bin_factor": 2, "binning": "max"},
    "crystals": [{"n_domains": 0}, {"n_domains": 12}]})");
  const auto truth = read_sidecar_truth(dir / "a.pgm");
  ASSERT_TRUE(truth && truth->geometry);
  const DetectorGeometry& g = *truth->geometry;
  EXPECT_DOUBLE_EQ(g.wavelength_angstrom, 1.2);
  EXPECT_DOUBLE_EQ(g.distance_mm, 150.0);
  EXPECT_DOUBLE_EQ(g.pixel_size_mm, 0.2);
  EXPECT_EQ(g.n_fast, 512);
  EXPECT_EQ(g.n_slow, 512);
  EXPECT_DOUBLE_EQ(g.beam_center_fast_px, 256.2);
  EXPECT_DOUBLE_EQ(g.beam_center_slow_px, 250.0);
  EXPECT_EQ(truth->mosaic_regime, "discrete");

  write_text(dir / "b.json", R"({"stats": {"n_bright": 5}, "crystals": [{"n_domains": 0}]})");
  EXPECT_FALSE(read_sidecar_truth(dir / "b.pgm")->geometry);
  EXPECT_EQ(read_sidecar_truth(dir / "b.pgm")->mosaic_regime, "continuous");

  // A bin factor that does not divide the size, or a missing key, names the sidecar.
  write_text(dir / "c.json", R"({"stats": {"n_bright": 5}, "geometry": {"wavelength_angstrom": 1,
    "distance_mm": 100, "pixel_size_mm": 0.1, "n_fast": 1023, "n_slow": 1024,
    "beam_center_fast_px": 5, "beam_center_slow_px": 5, "bin_factor": 2}})");
  write_text(dir / "d.json", R"({"stats": {"n_bright": 5}, "geometry": {"wavelength_angstrom": 1,
    "pixel_size_mm": 0.1, "beam_center_fast_px": 5, "beam_center_slow_px": 5, "bin_factor": 1}})");
  for (const char* name : {"c", "d"}) {
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
