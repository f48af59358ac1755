// Checkpoint files (weights archive + JSON sidecar) and transfer between models.
#include "difftriage/models/checkpoint.h"

#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/utils.h>

#include <algorithm>
#include <sstream>

#include "difftriage/core/atomic_file.h"
#include "difftriage/core/error.h"
#include "difftriage/core/json_text.h"

namespace difftriage::models {
namespace {

void check_metadata_matches(const TriageNet& model, const ModelMetadata& m) {
  const auto& a = model->architecture();
  const auto& b = m.architecture;
  DT_CHECK(a.name == b.name && a.widths == b.widths && a.stem_pool == b.stem_pool &&
               a.stem_conv == b.stem_conv &&
               a.head_hidden == b.head_hidden && a.global_pool == b.global_pool &&
               a.dropout == b.dropout,
           ConfigError, "save_checkpoint: metadata.architecture (", b.name,
           ") does not describe the model (", a.name, ")");
  DT_CHECK(model->heads() == m.heads, ConfigError,
           "save_checkpoint: metadata.heads do not match the model's heads");
}

// Reads every parameter and buffer of `module` (and its children, from nested archives) into
// `out` under its full dotted name, checking the shapes. Throws ModelError naming `file`.
void read_tensors(torch::nn::Module& module, torch::serialize::InputArchive& archive,
                  const std::string& prefix, const std::string& file,
                  std::vector<std::pair<torch::Tensor, torch::Tensor>>& out) {
  auto read_one = [&](const std::string& key, const torch::Tensor& dst, bool is_buffer) {
    torch::Tensor t;
    bool found = false;
    try {
      found = archive.try_read(key, t, is_buffer);
    } catch (const c10::Error& e) {
      throw ModelError(detail::concat(file, ": cannot read tensor '", prefix, key, "': ",
                                      e.what_without_backtrace()));
    }
    DT_CHECK(found && t.defined(), ModelError, file, ": tensor '", prefix, key,
             "' is missing (architecture mismatch?)");
    DT_CHECK(t.sizes() == dst.sizes(), ModelError, file, ": tensor '", prefix, key,
             "' has shape ", t.sizes(), ", the model expects ", dst.sizes(),
             " (architecture mismatch)");
    out.emplace_back(dst, t);
  };
  for (const auto& p : module.named_parameters(/*recurse=*/false)) read_one(p.key(), p.value(), false);
  for (const auto& b : module.named_buffers(/*recurse=*/false)) read_one(b.key(), b.value(), true);
  for (const auto& child : module.named_children()) {
    torch::serialize::InputArchive child_archive;
    bool found = false;
    try {
      found = archive.try_read(child.key(), child_archive);
    } catch (const c10::Error& e) {
      throw ModelError(detail::concat(file, ": cannot read module '", prefix, child.key(),
                                      "': ", e.what_without_backtrace()));
    }
    DT_CHECK(found, ModelError, file, ": module '", prefix, child.key(),
             "' is missing (architecture mismatch?)");
    read_tensors(*child.value(), child_archive, prefix + child.key() + ".", file, out);
  }
}

}  // namespace

void save_checkpoint(const std::filesystem::path& path, const TriageNet& model,
                     const ModelMetadata& metadata) {
  check_metadata_matches(model, metadata);
  validate(metadata);  // never write a model that loading would refuse
  const auto files = checkpoint_files(path);
  if (files.weights.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(files.weights.parent_path(), ec);
    DT_CHECK(!ec, IoError, "cannot create checkpoint directory ",
             files.weights.parent_path().string(), ": ", ec.message());
  }
  std::ostringstream bytes;
  {
    torch::serialize::OutputArchive archive;
    model->save(archive);
    archive.save_to(bytes);
  }
  const std::string weights = bytes.str();
  auto json = to_json(metadata);
  json["weights"] = {{"file", files.weights.filename().string()},
                     {"bytes", weights.size()},
                     {"fnv1a64", fnv1a64_hex(weights)}};
  // Weights first, sidecar last: the sidecar names the weights it belongs to, so a crash
  // between the two renames leaves a detectable mismatch, never a silently wrong model.
  write_file_atomically(files.weights, weights);
  write_file_atomically(files.sidecar, dump_json(json, 2) + "\n");
}

LoadedModel load_checkpoint(const std::filesystem::path& path) {
  const auto files = checkpoint_files(path);
  LoadedModel loaded;
  std::string sidecar_text;
  try {
    sidecar_text = read_file(files.sidecar);
  } catch (const IoError& e) {
    throw ModelError(detail::concat("cannot read model metadata ", files.sidecar.string(), ": ",
                                    e.what()));
  }
  nlohmann::json sidecar;
  try {
    sidecar = nlohmann::json::parse(sidecar_text);
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(detail::concat(files.sidecar.string(), ": corrupt model metadata (",
                                    e.what(), ")"));
  }
  loaded.metadata = metadata_from_json(sidecar, files.sidecar.string());
  std::string weights;
  try {
    weights = read_file(files.weights);
  } catch (const IoError& e) {
    throw ModelError(detail::concat("cannot read model weights ", files.weights.string(), ": ",
                                    e.what()));
  }
  if (sidecar.contains("weights") && sidecar["weights"].is_object()) {
    const auto& w = sidecar["weights"];
    if (w.contains("bytes") && w["bytes"].is_number_unsigned()) {
      DT_CHECK(w["bytes"].get<uint64_t>() == weights.size(), ModelError, files.weights.string(),
               ": ", weights.size(), " bytes, the sidecar ", files.sidecar.string(), " expects ",
               w["bytes"].get<uint64_t>(), " (truncated, or from another save)");
    }
    if (w.contains("fnv1a64") && w["fnv1a64"].is_string()) {
      DT_CHECK(w["fnv1a64"].get<std::string>() == fnv1a64_hex(weights), ModelError,
               files.weights.string(), ": checksum does not match the sidecar ",
               files.sidecar.string(), " (corrupt, or from another save)");
    }
  }
  try {
    loaded.model = make_network(loaded.metadata);
  } catch (const ConfigError& e) {
    throw ModelError(detail::concat(files.sidecar.string(), ": ", e.what()));
  }
  torch::serialize::InputArchive archive;
  try {
    std::istringstream in(weights);
    archive.load_from(in);
  } catch (const c10::Error& e) {
    throw ModelError(detail::concat(files.weights.string(), ": not a readable weights archive (",
                                    e.what_without_backtrace(), ")"));
  }
  std::vector<std::pair<torch::Tensor, torch::Tensor>> pairs;
  read_tensors(*loaded.model, archive, "", files.weights.string(), pairs);
  {
    torch::NoGradGuard no_grad;
    for (auto& [dst, src] : pairs) dst.copy_(src);
  }
  loaded.model->eval();
  return loaded;
}

TransferReport copy_matching_parameters(const TriageNet& destination, const TriageNet& source) {
  TransferReport report;
  auto src_params = source->named_parameters();
  auto src_buffers = source->named_buffers();
  torch::NoGradGuard no_grad;
  auto copy = [&](const std::string& name, torch::Tensor& dst, const torch::Tensor* src) {
    if (src == nullptr) {
      report.missing.push_back(name);
    } else if (src->sizes() != dst.sizes()) {
      report.shape_mismatch.push_back(name);
    } else {
      dst.copy_(*src);
      report.copied.push_back(name);
    }
  };
  for (auto& p : destination->named_parameters()) copy(p.key(), p.value(), src_params.find(p.key()));
  for (auto& b : destination->named_buffers()) copy(b.key(), b.value(), src_buffers.find(b.key()));
  return report;
}

TransferReport init_from_checkpoint(const TriageNet& model,
                                    const std::filesystem::path& checkpoint) {
  return copy_matching_parameters(model, load_checkpoint(checkpoint).model);
}

}  // namespace difftriage::models
