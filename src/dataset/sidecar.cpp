// Reading the few sidecar fields evaluation needs (see sidecar.h).
#include "difftriage/dataset/sidecar.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "difftriage/core/error.h"

namespace difftriage::dataset {
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
  if (const auto d = stats->find("d_min_angstrom"); d != stats->end() && !d->is_null()) {
    DT_CHECK(d->is_number() && d->get<double>() > 0, FormatError, path.string(),
             ": the sidecar's stats.d_min_angstrom is not a positive number");
    truth.d_min_angstrom = d->get<double>();
  }
  if (const auto v = stats->find("split_visible"); v != stats->end() && !v->is_null()) {
    DT_CHECK(v->is_boolean(), FormatError, path.string(),
             ": the sidecar's stats.split_visible is not true, false or null");
    truth.split_visible = v->get<bool>();
  }
  if (const auto g = j.find("geometry"); g != j.end()) {
    truth.geometry = geometry_from_sidecar_json(*g, path.string());
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
