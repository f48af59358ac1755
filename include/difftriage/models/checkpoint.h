/// Checkpoints: a weights file plus a JSON sidecar (see model_info.h for the sidecar fields and
/// checkpoint_files() for the layout), and transfer between models. This header includes Torch.
///
///   difftriage::models::save_checkpoint("runs/a/model", net, meta);  // model/{model.pt,json}
///   auto loaded = difftriage::models::load_checkpoint("runs/a/model");
///   auto report = difftriage::models::init_from_checkpoint(new_net, "runs/a/model");
///   new_net->freeze_blocks(3);
///
/// The weights file is a LibTorch archive (torch::serialize::OutputArchive, nested per
/// submodule exactly as torch::save(module) writes it). The sidecar records its size and
/// FNV-1a-64 checksum, so a truncated file or a weights/sidecar pair from different saves is
/// detected before any tensor is read.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "difftriage/models/model_info.h"
#include "difftriage/models/network.h"

namespace difftriage::models {

/// Writes `model`'s parameters and buffers and `metadata` (weights first, then the sidecar,
/// each to a temporary file renamed into place; a reader never sees half a file). Creates the
/// directory of a directory-style path. The model is not modified. Safe to call concurrently
/// for different paths while nobody trains `model`.
/// @throws ConfigError if metadata.architecture or metadata.heads do not describe `model`;
/// IoError naming the file if writing fails.
void save_checkpoint(const std::filesystem::path& path, const TriageNet& model,
                     const ModelMetadata& metadata);

/// A loaded model (in eval mode) and its metadata.
struct LoadedModel {
  TriageNet model{nullptr};
  ModelMetadata metadata;
};

/// Loads a checkpoint written by save_checkpoint (`path` as in checkpoint_files()).
/// @throws ModelError naming the file for a missing, corrupt or truncated file, a wrong
/// format_version, an unknown architecture, a weights file that does not match its sidecar,
/// and missing or wrongly shaped tensors. Thread-safe (each call builds its own model).
LoadedModel load_checkpoint(const std::filesystem::path& path);

/// What init_from_checkpoint / copy_matching_parameters copied: full dotted names
/// ("block2.conv1.weight", "block2.bn1.running_mean", ...).
struct TransferReport {
  std::vector<std::string> copied;          ///< same name and shape: copied
  std::vector<std::string> shape_mismatch;  ///< same name, other shape: left as initialised
  std::vector<std::string> missing;         ///< not in the source: left as initialised
};

/// Copies every parameter and buffer of `source` whose name and shape match one of
/// `destination` (transfer learning: a trunk trained on quality → a multilabel model).
/// Not thread-safe with respect to either model.
TransferReport copy_matching_parameters(const TriageNet& destination, const TriageNet& source);

/// load_checkpoint(checkpoint) then copy_matching_parameters(model, loaded).
/// @throws ModelError as load_checkpoint.
TransferReport init_from_checkpoint(const TriageNet& model,
                                    const std::filesystem::path& checkpoint);

}  // namespace difftriage::models
