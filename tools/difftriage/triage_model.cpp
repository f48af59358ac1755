#include "triage_model.h"

#include <cstdlib>

#include "difftriage/core/error.h"
#include "difftriage/stream/default_model.h"

namespace difftriage::cli {
namespace fs = std::filesystem;

fs::path resolve_triage_model(const std::string& model) {
  try {
    const char* site = std::getenv("DIFFTRIAGE_DEFAULT_MODEL");
    if (model.empty() && site != nullptr && *site != '\0') {
      return stream::resolve_model_path({}, {fs::path(site)});
    }
    return stream::resolve_model_path(model);
  } catch (const ConfigError& e) {
    throw ConfigError(std::string(e.what()) + " (pass --model DIR)");
  }
}

}  // namespace difftriage::cli
