// The model of the triage commands (classify, stream): --model, else $DIFFTRIAGE_DEFAULT_MODEL
// (a site's model for every run), else the shipped one.
#pragma once

#include <filesystem>
#include <string>

namespace difftriage::cli {

/// Resolves the model folder or file to load. @throws ConfigError (ending "(pass --model DIR)")
/// when none is found.
std::filesystem::path resolve_triage_model(const std::string& model);

}  // namespace difftriage::cli
