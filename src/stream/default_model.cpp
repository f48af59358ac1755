#include "difftriage/stream/default_model.h"

#include <system_error>

#include "difftriage/core/error.h"
#include "difftriage/detail/default_model_paths.h"

namespace difftriage::stream {
namespace fs = std::filesystem;

std::vector<fs::path> default_model_candidates() {
  return {fs::path(detail::kSourceDefaultModelDir), fs::path(detail::kInstalledDefaultModelDir)};
}

fs::path resolve_model_path(const fs::path& explicit_model, const std::vector<fs::path>& candidates) {
  if (!explicit_model.empty()) return explicit_model;
  std::string looked;
  for (const auto& dir : candidates) {
    std::error_code ec;
    if (fs::is_regular_file(dir / "model.json", ec)) return dir;
    looked += (looked.empty() ? "" : ", ") + dir.string();
  }
  throw ConfigError("no model named and no default model found (looked for model.json in " +
                    looked + "); train one with `difftriage train` and name its folder");
}

fs::path resolve_model_path(const fs::path& explicit_model) {
  return resolve_model_path(explicit_model, default_model_candidates());
}

}  // namespace difftriage::stream
