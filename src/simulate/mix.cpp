#include "difftriage/simulate/mix.h"

#include <cmath>
#include <initializer_list>
#include <utility>

#include <nlohmann/json.hpp>

#include "difftriage/core/error.h"

namespace difftriage::simulate {
namespace {

// Index drawn with probability ∝ weights.
size_t draw_weighted(Rng& rng, std::initializer_list<double> weights) {
  double total = 0.0;
  for (double w : weights) total += w;
  double u = rng.uniform() * total;
  size_t i = 0;
  for (double w : weights) {
    if (u < w) return i;
    u -= w;
    ++i;
  }
  // Rounding: the last positive weight.
  size_t last = 0;
  i = 0;
  for (double w : weights) {
    if (w > 0.0) last = i;
    ++i;
  }
  return last;
}

const std::pair<const char*, double Mix::*> kFields[] = {
    {"blank", &Mix::blank},   {"noxtal", &Mix::noxtal},
    {"weak", &Mix::weak},     {"good", &Mix::good},
    {"strong", &Mix::strong}, {"photo1", &Mix::photo1},
    {"photo2", &Mix::photo2}, {"both", &Mix::both},
    {"custom", &Mix::custom}, {"multilattice", &Mix::multilattice},
    {"ice", &Mix::ice},       {"badice_given_ice", &Mix::badice_given_ice}};

}  // namespace

Mix balanced_mix() { return Mix{}; }

Mix study_mix() {
  Mix m;
  // 21 % no crystal (75/358), split 1:2 blank:noxtal; 79 % crystal, qualities 1:1:1.
  m.blank = 0.07, m.noxtal = 0.14, m.weak = 0.263, m.good = 0.263, m.strong = 0.264;
  m.photo1 = 114, m.photo2 = 114, m.both = 55;  // crystal frames of the job list
  m.multilattice = 84.0 / 283.0;
  m.ice = 123.0 / 358.0;
  m.badice_given_ice = 42.0 / 123.0;
  return m;
}

void validate_mix(const Mix& m, bool custom_cell_available) {
  for (const auto& [name, field] : kFields) {
    const double v = m.*field;
    DT_CHECK(std::isfinite(v) && v >= 0.0, ConfigError, "mix: '", name,
             "' must be a number ≥ 0, got ", v);
  }
  for (auto [name, v] : {std::pair{"multilattice", m.multilattice}, {"ice", m.ice},
                         {"badice_given_ice", m.badice_given_ice}}) {
    DT_CHECK(v <= 1.0, ConfigError, "mix: '", name, "' is a probability and must be ≤ 1, got ", v);
  }
  DT_CHECK(m.blank + m.noxtal + m.weak + m.good + m.strong > 0.0, ConfigError,
           "mix: the quality weights (blank, noxtal, weak, good, strong) are all 0");
  if (m.weak + m.good + m.strong > 0.0) {
    DT_CHECK(m.photo1 + m.photo2 + m.both + m.custom > 0.0, ConfigError,
             "mix: crystal frames are asked for (weak/good/strong > 0) but the lattice weights "
             "(photo1, photo2, both, custom) are all 0");
  }
  DT_CHECK(m.custom == 0.0 || custom_cell_available, ConfigError,
           "mix: 'custom' > 0 needs a user cell (SceneOptions::custom_cell)");
}

Mix mix_from_json(const std::string& text, const std::string& source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError("mix file " + source + " is not valid JSON: " + e.what());
  }
  DT_CHECK(j.is_object(), ConfigError, "mix file ", source, " must hold a JSON object");
  Mix m = balanced_mix();
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (const auto& [name, field] : kFields) {
      if (key != name) continue;
      known = true;
      DT_CHECK(value.is_number(), ConfigError, "mix file ", source, ": '", key,
               "' must be a number");
      m.*field = value.get<double>();
    }
    DT_CHECK(known, ConfigError, "mix file ", source, ": unknown key '", key, "'");
  }
  return m;
}

FrameKind draw_frame_kind(const Mix& m, Rng& rng) {
  FrameKind k;
  const size_t q = draw_weighted(rng, {m.blank, m.noxtal, m.weak, m.good, m.strong});
  k.quality = static_cast<Quality>(q);
  if (k.quality == Quality::kBlank) {
    k.solvent = false;
    return k;
  }
  k.solvent = true;
  k.ice = rng.bernoulli(m.ice);
  k.badice = k.ice && rng.bernoulli(m.badice_given_ice);
  if (k.quality == Quality::kNoxtal) return k;
  k.crystal = true;
  switch (draw_weighted(rng, {m.photo1, m.photo2, m.both, m.custom})) {
    case 0: k.photo1 = true; break;
    case 1: k.photo2 = true; break;
    case 2: k.photo1 = k.photo2 = true; break;
    default: k.custom = true; break;
  }
  k.multilattice = rng.bernoulli(m.multilattice);
  return k;
}

}  // namespace difftriage::simulate
