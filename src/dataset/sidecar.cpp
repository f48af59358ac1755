// Reading the few sidecar fields evaluation needs (see sidecar.h).
#include "difftriage/dataset/sidecar.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "difftriage/core/error.h"

namespace difftriage::dataset {
namespace {

// The written frame's geometry from the sidecar's full-resolution `geometry` and `bin_factor`.
DetectorGeometry output_geometry_of(const nlohmann::json& g, const std::filesystem::path& path) {
  auto field = [&](const char* key) {
    const auto it = g.find(key);
    DT_CHECK(it != g.end() && it->is_number(), FormatError, path.string(),
             ": the sidecar's geometry.", key, " is missing or not a number");
    return it->get<double>();
  };
  const double bin = field("bin_factor");
  DT_CHECK(bin >= 1 && bin <= 64 && bin == std::floor(bin), FormatError, path.string(),
           ": the sidecar's geometry.bin_factor must be an integer in [1, 64]");
  DetectorGeometry out;
  out.wavelength_angstrom = field("wavelength_angstrom");
  out.distance_mm = field("distance_mm");
  out.pixel_size_mm = field("pixel_size_mm");
  out.beam_center_fast_px = field("beam_center_fast_px");
  out.beam_center_slow_px = field("beam_center_slow_px");
  const double n_fast = field("n_fast"), n_slow = field("n_slow");
  DT_CHECK(n_fast >= 1 && n_slow >= 1 && n_fast <= kMaxImageExtent && n_slow <= kMaxImageExtent,
           FormatError, path.string(), ": the sidecar's geometry size is out of range");
  out.n_fast = static_cast<int32_t>(n_fast);
  out.n_slow = static_cast<int32_t>(n_slow);
  try {
    out.validate();
    return out.binned(static_cast<int32_t>(bin));
  } catch (const ConfigError& e) {
    throw FormatError(path.string() + ": the sidecar's geometry: " + e.what());
  }
}

}  // namespace

std::optional<SidecarTruth> read_sidecar_truth(const std::filesystem::path& image) {
  std::filesystem::path path = image;
  path.replace_extension(".json");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  DT_CHECK(in, IoError, path.string(), ": cannot open the sidecar");
  std::ostringstream text;
  text << in.rdbuf();
  DT_CHECK(!in.bad(), IoError, path.string(), ": cannot read the sidecar");
  const auto j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  DT_CHECK(!j.is_discarded(), FormatError, path.string(), ": the sidecar is not valid JSON");
  const auto stats = j.find("stats");
  DT_CHECK(stats != j.end() && stats->is_object(), FormatError, path.string(),
           ": the sidecar has no \"stats\" object");
  const auto n = stats->find("n_bright");
  DT_CHECK(n != stats->end() && n->is_number_integer() && n->get<int64_t>() >= 0, FormatError,
           path.string(), ": the sidecar's stats.n_bright is missing or not a count");
  SidecarTruth truth;
  truth.bright_spots = n->get<int64_t>();
  if (const auto g = j.find("geometry"); g != j.end()) {
    truth.geometry = output_geometry_of(*g, path);
  }
  if (const auto crystals = j.find("crystals"); crystals != j.end() && crystals->is_array()) {
    for (const auto& c : *crystals) {
      const auto domains = c.find("n_domains");
      const bool discrete = domains != c.end() && domains->is_number() && domains->get<double>() > 0;
      if (discrete || truth.mosaic_regime.empty()) truth.mosaic_regime = discrete ? "discrete" : "continuous";
      if (discrete) break;
    }
  }
  return truth;
}

}  // namespace difftriage::dataset
