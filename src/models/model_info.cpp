// Model metadata and its JSON sidecar. No LibTorch here, so this compiles fast and tools that
// only read metadata do not pay for Torch.
#include "difftriage/models/model_info.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "difftriage/core/atomic_file.h"
#include "difftriage/core/enum_words.h"
#include "difftriage/core/error.h"

namespace difftriage::models {
namespace {



constexpr std::array<std::pair<const char*, InputMode>, 3> kModeTable = {
    {{"bin-mean", InputMode::kBinMean}, {"bin-max", InputMode::kBinMax}, {"crop", InputMode::kCrop}}};
constexpr std::array<std::pair<const char*, IntensityTransform>, 3> kTransformTable = {
    {{"linear", IntensityTransform::kLinear},
     {"sqrt", IntensityTransform::kSqrt},
     {"log1p", IntensityTransform::kLog1p}}};
constexpr std::array<std::pair<const char*, Normalization>, 3> kNormTable = {
    {{"none", Normalization::kNone},
     {"fixed", Normalization::kFixed},
     {"per-frame", Normalization::kPerFrame}}};

template <typename T>
T get_field(const nlohmann::json& j, const char* key, const std::string& where,
            const std::string& source) {
  DT_CHECK(j.is_object() && j.contains(key), ModelError, source, ": missing field '", where, key,
           "'");
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(detail::concat(source, ": field '", where, key, "' has the wrong type (",
                                    e.what(), ")"));
  }
}

template <typename T>
T get_or(const nlohmann::json& j, const char* key, T fallback, const std::string& where,
         const std::string& source) {
  if (!j.is_object() || !j.contains(key)) return fallback;
  return get_field<T>(j, key, where, source);
}

}  // namespace

int head_output_size(const std::string& name) {
  if (name == kQualityHead) return static_cast<int>(kQualityNames.size());
  if (name == kLabelsHead) return static_cast<int>(kLabelNames.size());
  if (name == kMosaicHead) return 2;
  if (name == kSpotsHead || label_index(name) >= 0) return 1;
  throw ConfigError(detail::concat(
      "heads: unknown head '", name,
      "' (accepted: quality, labels, mosaic, spots, blank, photo1, photo2, multilattice, ice, "
      "badice)"));
}

double bright_spots_from_head(double output) noexcept {
  return std::max(0.0, std::pow(10.0, output) - 1.0);
}

ArchitectureConfig default_architecture(const std::string& name) {
  ArchitectureConfig config;
  config.name = name;
  if (name == "vgg16") {
    config.widths = {64, 128, 256, 512, 512};
    config.stem_pool = 1;
    config.head_hidden = 256;
    config.global_pool = "avg";
  } else if (name == "compact") {
    config.widths = {16, 32, 64, 96};
    config.stem_pool = 1;
    config.head_hidden = 64;
    config.global_pool = "avgmax";
  } else {
    throw ConfigError(
        detail::concat("architecture: unknown network '", name, "' (accepted: vgg16, compact)"));
  }
  return config;
}

void validate(const ArchitectureConfig& config) {
  DT_CHECK(config.name == "vgg16" || config.name == "compact", ConfigError,
           "architecture: unknown network '", config.name, "' (accepted: vgg16, compact)");
  if (config.name == "vgg16") {
    DT_CHECK(config.widths.size() == 5, ConfigError,
             "widths: vgg16 has 5 blocks, got ", config.widths.size(), " widths");
    DT_CHECK(config.stem_pool == 1, ConfigError, "stem_pool: vgg16 has no stem pooling, got ",
             config.stem_pool);
  }
  DT_CHECK(!config.widths.empty() && config.widths.size() <= 8, ConfigError,
           "widths: expected 1..8 blocks, got ", config.widths.size());
  for (int64_t w : config.widths)
    DT_CHECK(w >= 1 && w <= 4096, ConfigError, "widths: channel count ", w, " out of 1..4096");
  DT_CHECK(config.stem_pool >= 1 && config.stem_pool <= 16, ConfigError,
           "stem_pool: expected 1..16, got ", config.stem_pool);
  DT_CHECK(config.stem_conv >= 0 && config.stem_conv <= 256, ConfigError,
           "stem_conv: expected 0..256, got ", config.stem_conv);
  DT_CHECK(config.stem_conv == 0 ||
               (config.name == "compact" && config.stem_pool >= 2 && config.stem_pool % 2 == 0),
           ConfigError, "stem_conv: a learned stem needs the compact network and an even stem_pool ≥ 2");
  DT_CHECK(config.head_hidden >= 1 && config.head_hidden <= 8192, ConfigError,
           "head_hidden: expected 1..8192, got ", config.head_hidden);
  DT_CHECK(config.global_pool == "avg" || config.global_pool == "avgmax", ConfigError,
           "global_pool: expected 'avg' or 'avgmax', got '", config.global_pool, "'");
  DT_CHECK(config.dropout >= 0.0 && config.dropout < 1.0, ConfigError,
           "dropout: expected [0, 1), got ", config.dropout);
}

PreprocessOptions default_preprocess(const std::string& architecture) {
  default_architecture(architecture);  // validates the name
  PreprocessOptions options;
  options.input_size = architecture == "compact" ? 128 : 512;
  return options;
}

ModelMetadata default_metadata(const std::string& architecture, std::vector<std::string> heads) {
  ModelMetadata m;
  m.architecture = default_architecture(architecture);
  m.preprocess = default_preprocess(architecture);
  DT_CHECK(!heads.empty(), ConfigError, "heads: a model needs at least one head");
  for (const auto& h : heads) head_output_size(h);
  m.heads = std::move(heads);
  return m;
}

const char* input_mode_name(InputMode mode) noexcept {
  return enum_word(mode, kModeTable);
}
const char* transform_name(IntensityTransform transform) noexcept {
  return enum_word(transform, kTransformTable);
}
const char* normalization_name(Normalization normalization) noexcept {
  return enum_word(normalization, kNormTable);
}
InputMode parse_input_mode(const std::string& word, const std::string& option) {
  return parse_enum_word(word, option, kModeTable);
}
IntensityTransform parse_transform(const std::string& word, const std::string& option) {
  return parse_enum_word(word, option, kTransformTable);
}
Normalization parse_normalization(const std::string& word, const std::string& option) {
  return parse_enum_word(word, option, kNormTable);
}

void validate(const PreprocessOptions& options) {
  DT_CHECK(options.input_size >= 1 && options.input_size <= 8192, ConfigError,
           "input_size: expected 1..8192, got ", options.input_size);
  DT_CHECK(std::isfinite(options.mean), ConfigError, "mean: must be finite");
  DT_CHECK(std::isfinite(options.std) && options.std > 0, ConfigError,
           "std: must be finite and > 0, got ", options.std);
}

namespace {
// Names of a head's outputs: as many as the head has, no name twice (one name for two outputs
// would make `p` and `labels` of results.jsonl, and every threshold, ambiguous).
void check_output_names(const std::vector<std::string>& names, size_t n_outputs, bool used,
                        const char* field) {
  if (used) {
    DT_CHECK(names.size() == n_outputs, ConfigError, field, ": the head has ", n_outputs,
             " outputs, got ", names.size(), " names");
  }
  for (size_t i = 0; i < names.size(); ++i) {
    DT_CHECK(!names[i].empty(), ConfigError, field, "[", i, "]: empty name");
    for (size_t k = 0; k < i; ++k) {
      DT_CHECK(names[k] != names[i], ConfigError, field, ": '", names[i],
               "' names two outputs (", k, " and ", i, ")");
    }
  }
}
}  // namespace

void validate(const ModelMetadata& m) {
  // Thresholds compare probabilities: outside [0, 1] one would keep or veto every frame (a hit
  // threshold of 1.5 vetoes all of them), so such a model is refused, not applied.
  for (const auto& [name, value] : m.thresholds) {
    DT_CHECK(std::isfinite(value) && value >= 0.0 && value <= 1.0, ConfigError, "thresholds.",
             name, ": a probability threshold must be in [0, 1], got ", value);
  }
  DT_CHECK(std::isfinite(m.uncertainty_band) && m.uncertainty_band >= 0.0 &&
               m.uncertainty_band <= 1.0,
           ConfigError, "uncertainty_band: must be in [0, 1], got ", m.uncertainty_band);
  const auto uses = [&](const char* head) {
    return std::find(m.heads.begin(), m.heads.end(), head) != m.heads.end();
  };
  check_output_names(m.label_names, kLabelNames.size(), uses(kLabelsHead), "label_names");
  check_output_names(m.quality_names, kQualityNames.size(), uses(kQualityHead), "quality_names");
}

double ModelMetadata::hit_threshold() const {
  const auto it = thresholds.find("hit");
  return it == thresholds.end() ? 1.0 - threshold("blank") : it->second;
}

double ModelMetadata::threshold(const std::string& label) const {
  const auto it = thresholds.find(label);
  return it == thresholds.end() ? 0.5 : it->second;
}

Decision decide(double probability, double threshold, double band) noexcept {
  if (std::abs(probability - threshold) < band) return Decision::kUncertain;
  return probability >= threshold ? Decision::kYes : Decision::kNo;
}

CheckpointFiles checkpoint_files(const std::filesystem::path& path) {
  const auto ext = path.extension();
  if (ext == ".pt" || ext == ".json") {
    auto weights = path, sidecar = path;
    weights.replace_extension(".pt");
    sidecar.replace_extension(".json");
    return {weights, sidecar};
  }
  return {path / "model.pt", path / "model.json"};
}

nlohmann::json to_json(const ModelMetadata& m) {
  nlohmann::json j;
  j["format_version"] = m.format_version;
  j["architecture"] = {{"name", m.architecture.name},
                       {"widths", m.architecture.widths},
                       {"stem_pool", m.architecture.stem_pool},
                       {"stem_conv", m.architecture.stem_conv},
                       {"head_hidden", m.architecture.head_hidden},
                       {"global_pool", m.architecture.global_pool},
                       {"dropout", m.architecture.dropout}};
  j["heads"] = m.heads;
  const auto& p = m.preprocess;
  j["preprocess"] = {{"mode", input_mode_name(p.mode)},
                     {"input_size", p.input_size},
                     {"transform", transform_name(p.transform)},
                     {"normalization", normalization_name(p.normalization)},
                     {"mean", p.mean},
                     {"std", p.std},
                     {"mask_negative", p.mask_negative}};
  j["label_names"] = m.label_names;
  j["quality_names"] = m.quality_names;
  nlohmann::json thresholds = nlohmann::json::object();
  for (const auto& name : m.label_names) thresholds[name] = m.threshold(name);
  for (const auto& [name, value] : m.thresholds) thresholds[name] = value;
  j["thresholds"] = thresholds;
  j["uncertainty_band"] = m.uncertainty_band;
  j["provenance"] = m.provenance;
  j["metrics"] = m.metrics;
  if (!m.spot_evidence.is_null()) j["spot_evidence"] = m.spot_evidence;
  if (!m.familiarity.is_null()) j["familiarity"] = m.familiarity;
  return j;
}

ModelMetadata metadata_from_json(const nlohmann::json& j, const std::string& source) {
  DT_CHECK(j.is_object(), ModelError, source, ": model metadata must be a JSON object");
  ModelMetadata m;
  m.format_version = get_field<int>(j, "format_version", "", source);
  DT_CHECK(m.format_version == kCheckpointFormatVersion, ModelError, source,
           ": unsupported checkpoint format_version ", m.format_version, " (this build reads ",
           kCheckpointFormatVersion, ")");
  const auto& a = j.contains("architecture") ? j.at("architecture") : nlohmann::json();
  const auto name = get_field<std::string>(a, "name", "architecture.", source);
  try {
    m.architecture = default_architecture(name);
  } catch (const ConfigError& e) {
    throw ModelError(detail::concat(source, ": ", e.what()));
  }
  auto& arch = m.architecture;
  arch.widths = get_or(a, "widths", arch.widths, "architecture.", source);
  arch.stem_pool = get_or(a, "stem_pool", arch.stem_pool, "architecture.", source);
  arch.stem_conv = get_or(a, "stem_conv", arch.stem_conv, "architecture.", source);
  arch.head_hidden = get_or(a, "head_hidden", arch.head_hidden, "architecture.", source);
  arch.global_pool = get_or(a, "global_pool", arch.global_pool, "architecture.", source);
  arch.dropout = get_or(a, "dropout", arch.dropout, "architecture.", source);
  m.heads = get_field<std::vector<std::string>>(j, "heads", "", source);
  const auto& p = j.contains("preprocess") ? j.at("preprocess") : nlohmann::json();
  auto& pre = m.preprocess;
  try {
    validate(arch);
    DT_CHECK(!m.heads.empty(), ConfigError, "heads: a model needs at least one head");
    for (const auto& h : m.heads) head_output_size(h);
    pre.mode = parse_input_mode(get_field<std::string>(p, "mode", "preprocess.", source),
                                "preprocess.mode");
    pre.input_size = get_field<int64_t>(p, "input_size", "preprocess.", source);
    pre.transform = parse_transform(get_or<std::string>(p, "transform", "log1p", "preprocess.",
                                                        source), "preprocess.transform");
    pre.normalization = parse_normalization(
        get_or<std::string>(p, "normalization", "per-frame", "preprocess.", source),
        "preprocess.normalization");
    pre.mean = get_or(p, "mean", pre.mean, "preprocess.", source);
    pre.std = get_or(p, "std", pre.std, "preprocess.", source);
    pre.mask_negative = get_or(p, "mask_negative", pre.mask_negative, "preprocess.", source);
    validate(pre);
  } catch (const ConfigError& e) {
    throw ModelError(detail::concat(source, ": ", e.what()));
  }
  m.label_names = get_or(j, "label_names", m.label_names, "", source);
  m.quality_names = get_or(j, "quality_names", m.quality_names, "", source);
  m.thresholds = get_or(j, "thresholds", m.thresholds, "", source);
  m.uncertainty_band = get_or(j, "uncertainty_band", m.uncertainty_band, "", source);
  if (j.contains("provenance")) m.provenance = j.at("provenance");
  if (j.contains("metrics")) m.metrics = j.at("metrics");
  if (j.contains("spot_evidence")) m.spot_evidence = j.at("spot_evidence");
  if (j.contains("familiarity")) m.familiarity = j.at("familiarity");
  try {
    validate(m);
  } catch (const ConfigError& e) {
    throw ModelError(detail::concat(source, ": ", e.what()));
  }
  return m;
}

ModelMetadata read_model_metadata(const std::filesystem::path& path) {
  const auto files = checkpoint_files(path);
  std::string text;
  try {
    text = read_file(files.sidecar);
  } catch (const IoError& e) {
    throw ModelError(detail::concat("cannot read model metadata ", files.sidecar.string(), ": ",
                                    e.what()));
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(detail::concat(files.sidecar.string(), ": corrupt model metadata (",
                                    e.what(), ")"));
  }
  return metadata_from_json(j, files.sidecar.string());
}

std::string fnv1a64_hex(const std::string& bytes) noexcept {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace difftriage::models
