/// Where `classify` finds its model when none is named: the shipped `models/default`.
///
///   auto model = difftriage::stream::resolve_model_path(user_choice);  // "" → the default
///
/// Candidates, in order: the source tree's `models/default` (its absolute path compiled in,
/// so a build run from anywhere uses the model of its own checkout), then the installed
/// `<datadir>/difftriage/models/default` (CMAKE_INSTALL_FULL_DATADIR at configure time). A
/// candidate counts when its `model.json` exists. Thread-safe (reads the file system only).
#pragma once

#include <filesystem>
#include <vector>

namespace difftriage::stream {

/// The default model folders looked at, in order (existing or not).
std::vector<std::filesystem::path> default_model_candidates();

/// `explicit_model` when it is not empty (not checked here: loading reports its problems),
/// else the first of `candidates` holding a model.json.
/// @throws ConfigError listing the folders looked at when none holds one.
std::filesystem::path resolve_model_path(const std::filesystem::path& explicit_model,
                                         const std::vector<std::filesystem::path>& candidates);

/// resolve_model_path with default_model_candidates().
std::filesystem::path resolve_model_path(const std::filesystem::path& explicit_model = {});

}  // namespace difftriage::stream
