#include "difftriage/features/evidence_stage.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
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

// `image` max-binned factor × factor (the right and bottom remainders dropped); a masked pixel
// does not contribute, an output pixel whose inputs are all masked is masked.
Image<float> max_binned(const Image<float>& image, int64_t factor) {
  const int64_t nf = image.n_fast() / factor, ns = image.n_slow() / factor;
  Image<float> out(ns, nf);
  std::vector<uint8_t> mask(static_cast<size_t>(ns * nf), 0);
  const ImageView<float> in = image.view();
  bool any_masked = false;
  for (int64_t s = 0; s < ns; ++s) {
    for (int64_t f = 0; f < nf; ++f) {
      float best = -std::numeric_limits<float>::infinity();
      for (int64_t ds = 0; ds < factor; ++ds) {
        for (int64_t df = 0; df < factor; ++df) {
          const int64_t i = (s * factor + ds) * image.n_fast() + f * factor + df;
          if (!in.is_masked(i)) best = std::max(best, in.data()[i]);
        }
      }
      const bool masked = !std::isfinite(best);
      out(s, f) = masked ? 0.0f : best;
      mask[static_cast<size_t>(s * nf + f)] = masked ? 1 : 0;
      any_masked = any_masked || masked;
    }
  }
  if (any_masked) out.set_mask(mask);
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
  GeometryLookup g = resolve_geometry(geometry_, frame, path);
  Image<float> pixels = to_float(frame);
  const int64_t factor = (std::max(pixels.n_fast(), pixels.n_slow()) + kMaxEvidenceSidePx - 1) /
                         kMaxEvidenceSidePx;
  if (factor > 1) {
    pixels = max_binned(pixels, factor);
    if (g.geometry) {
      g.geometry->n_fast = static_cast<int32_t>(pixels.n_fast() * factor);
      g.geometry->n_slow = static_cast<int32_t>(pixels.n_slow() * factor);
      g.geometry = g.geometry->binned(static_cast<int32_t>(factor));
    }
  }
  FrameEvidenceResult r;
  r.evidence = evidence_.measure(pixels.view(), g.geometry, g.why_not);
  r.cell_names = names_;
  return r;
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
