#include "difftriage/features/evidence_stage.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <type_traits>
#include <variant>
#include <utility>

#include "difftriage/core/error.h"

namespace difftriage::features {

GeometryLookup resolve_geometry(const GeometrySource& source, const AnyImage& frame,
                                const std::filesystem::path& path) {
  const auto [ns, nf] = extents(frame);
  auto fitted = [&](const DetectorGeometry& g, const std::string& what) {
    GeometryLookup out;
    try {
      out.geometry = g.with_frame_size(nf, ns);
    } catch (const std::exception& e) {
      out.why_not = what + " does not fit the frame: " + e.what();
    }
    return out;
  };
  if (source.override_all && source.fallback) return fitted(*source.fallback, "--geometry");
  GeometryLookup found = geometry_from_metadata(metadata(frame), nf, ns);
  if (found) return found;
  if (source.use_sidecars) {
    try {
      if (auto g = read_sidecar_geometry(path)) return fitted(*g, "the sidecar's geometry");
    } catch (const std::exception& e) {
      found.why_not = e.what();
      if (!source.fallback) return found;
    }
  }
  if (source.fallback) return fitted(*source.fallback, "--geometry");
  return found;
}

namespace {

// `image` max-binned factor × factor into float pixels (the right and bottom remainders
// dropped), straight from the frame's own pixel type: a 16M frame is read once, without a float
// copy of it. A masked pixel does not contribute; an output pixel whose inputs are all masked,
// or whose maximum is not finite, is masked (value 0). Per output row, the rows of its band are
// reduced into a row buffer (contiguous, vectorised), then each bin of columns.
template <typename T>
Image<float> max_binned(const Image<T>& image, int64_t factor) {
  const int64_t nf = image.n_fast() / factor, ns = image.n_slow() / factor;
  const int64_t width = nf * factor, stride = image.n_fast();
  Image<float> out(ns, nf);
  out.metadata() = image.metadata();
  std::vector<uint8_t> mask(static_cast<size_t>(ns * nf), 0);
  const uint8_t* in_mask = image.has_mask() ? image.mask().data() : nullptr;
  const T lowest = std::is_floating_point_v<T> ? -std::numeric_limits<T>::infinity()
                                               : std::numeric_limits<T>::lowest();
  std::vector<T> vmax(static_cast<size_t>(width));
  std::vector<uint8_t> vgood(static_cast<size_t>(width));
  bool any_masked = false;
  for (int64_t s = 0; s < ns; ++s) {
    std::fill(vmax.begin(), vmax.end(), lowest);
    std::fill(vgood.begin(), vgood.end(), static_cast<uint8_t>(in_mask == nullptr));
    for (int64_t ds = 0; ds < factor; ++ds) {
      const int64_t base = (s * factor + ds) * stride;
      const T* p = image.data() + base;
      T* vm = vmax.data();
      if (in_mask == nullptr) {
        for (int64_t c = 0; c < width; ++c) vm[c] = std::max(vm[c], p[c]);
        continue;
      }
      const uint8_t* m = in_mask + base;
      uint8_t* vg = vgood.data();
      if constexpr (std::is_unsigned_v<T>) {
        // Branch-free, so that it vectorises: a masked pixel contributes 0, the type's lowest.
        for (int64_t c = 0; c < width; ++c) {
          const T keep = static_cast<T>(T{0} - static_cast<T>(m[c] == 0));
          vm[c] = std::max(vm[c], static_cast<T>(p[c] & keep));
        }
      } else {
        for (int64_t c = 0; c < width; ++c) vm[c] = std::max(vm[c], m[c] == 0 ? p[c] : lowest);
      }
      for (int64_t c = 0; c < width; ++c) vg[c] |= static_cast<uint8_t>(m[c] == 0);
    }
    for (int64_t f = 0; f < nf; ++f) {
      T best = lowest;
      uint8_t good = 0;
      for (int64_t df = 0; df < factor; ++df) {
        const auto c = static_cast<size_t>(f * factor + df);
        best = std::max(best, vmax[c]);
        good |= vgood[c];
      }
      const float value = static_cast<float>(best);
      const bool masked = good == 0 || !std::isfinite(value);
      out(s, f) = masked ? 0.0f : value;
      mask[static_cast<size_t>(s * nf + f)] = masked ? 1 : 0;
      any_masked = any_masked || masked;
    }
  }
  if (any_masked) out.set_mask(std::move(mask));
  return out;
}

}  // namespace

EvidenceStage::EvidenceStage(GeometrySource geometry, SpotEvidence evidence)
    : geometry_(std::move(geometry)), evidence_(std::move(evidence)) {
  auto names = std::make_shared<std::vector<std::string>>();
  for (const auto& c : evidence_.cells()) names->push_back(c.name);
  names_ = std::move(names);
}

FrameEvidenceResult EvidenceStage::measure(const AnyImage& frame,
                                           const std::filesystem::path& path) const {
  return measure(frame, resolve_geometry(geometry_, frame, path));
}

FrameEvidenceResult EvidenceStage::measure(const AnyImage& frame, GeometryLookup g,
                                           bool keep_peaks) const {
  const auto [n_slow, n_fast] = extents(frame);
  const int64_t factor = (std::max(n_fast, n_slow) + kMaxEvidenceSidePx - 1) / kMaxEvidenceSidePx;
  Image<float> pixels = factor > 1 ? std::visit([&](const auto& img) {
    return max_binned(img, factor);
  }, frame) : to_float(frame);
  if (factor > 1) {
    if (g.geometry) {
      g.geometry->n_fast = static_cast<int32_t>(pixels.n_fast() * factor);
      g.geometry->n_slow = static_cast<int32_t>(pixels.n_slow() * factor);
      g.geometry = g.geometry->binned(static_cast<int32_t>(factor));
    }
  }
  FrameEvidenceResult r;
  r.evidence = evidence_.measure(pixels.view(), g.geometry, g.why_not, keep_peaks);
  r.cell_names = names_;
  r.binning = factor;
  return r;
}

nlohmann::json cell_json(const FrameEvidenceResult& result) {
  const FrameEvidence& e = result.evidence;
  if (!e.has_geometry || !result.cell_names) return nullptr;
  nlohmann::json cell = {{"p", nlohmann::json::object()},
                         {"score", nlohmann::json::object()},
                         {"names", nlohmann::json::array()}};
  const auto& names = *result.cell_names;
  for (size_t k = 0; k < names.size() && k < e.cell_probabilities.size(); ++k) {
    cell["p"][names[k]] = e.cell_probabilities[k];
    cell["score"][names[k]] = e.cell_scores[k];
    if (e.cell_probabilities[k] >= 0.5) cell["names"].push_back(names[k]);
  }
  return cell;
}

std::shared_ptr<const EvidenceStage> make_evidence_stage(const EvidenceArgs& args,
                                                         const nlohmann::json& model_calibration) {
  DT_CHECK(!args.geometry_override || !args.geometry_file.empty(), ConfigError,
           "--geometry-override needs --geometry FILE.json");
  if (args.disabled) return nullptr;
  GeometrySource source;
  source.override_all = args.geometry_override;
  if (!args.geometry_file.empty()) {
    try {
      source.fallback = read_geometry_json(args.geometry_file);
    } catch (const Error& e) {
      throw ConfigError(std::string("--geometry: ") + e.what());
    }
  }
  std::vector<std::filesystem::path> files(args.cell_files.begin(), args.cell_files.end());
  std::vector<CandidateCell> cells;
  try {
    cells = load_candidate_cells(files);
  } catch (const Error& e) {
    throw ConfigError(std::string("--cell: ") + e.what());
  }
  SpotEvidenceCalibration calibration;
  if (!model_calibration.is_null()) {
    calibration = spot_evidence_calibration_from_json(model_calibration,
                                                                "the model's spot_evidence");
  }
  return std::make_shared<const EvidenceStage>(
      std::move(source), SpotEvidence(std::move(cells), std::move(calibration)));
}

}  // namespace difftriage::features
