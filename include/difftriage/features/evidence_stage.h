/// The spot-evidence stage of the triage (classify, stream, evaluate, calibrate): where each
/// frame's detector geometry comes from, and the spot-level evidence (spot_evidence.h) measured
/// on the native frame, on the decode threads beside the model's preprocessing.
///
///   features::GeometrySource geometry;               // from each frame's metadata or sidecar
///   geometry.fallback = read_geometry_json("geometry.json");   // --geometry
///   auto stage = std::make_shared<const features::EvidenceStage>(
///       geometry, SpotEvidence(features::load_candidate_cells(cells), calibration));
///   features::FrameEvidenceResult r = stage->measure(frame, path);
///
/// A frame's geometry, in order: with `override_all`, the fallback for every frame; else its
/// file's metadata (CBF, SMV, NeXus, stream headers: geometry_from_metadata); else the
/// simulator's sidecar beside the file (`<stem>.json`, read_sidecar_geometry); else the
/// fallback (`--geometry`, or a `geometry.json` beside a dataset's label files); else none, and
/// the frame is flagged `no_geometry`.
#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "difftriage/core/detector_geometry.h"
#include "difftriage/core/image.h"
#include "difftriage/features/spot_evidence.h"

namespace difftriage::features {

/// Frames wider or taller than this are max-binned by the smallest integer factor that brings
/// them within it before the peaks are found (a 16M EIGER frame by 3: 75 µm → 225 µm
/// pixels, still separating the spots of cells up to ~300 Å at usual distances), with the
/// geometry binned alike: the evidence of a 16M frame then costs what a 2M frame's does.
inline constexpr int64_t kMaxEvidenceSidePx = 2048;

/// Where frames' geometries come from (see the top of this header). Plain value type.
struct GeometrySource {
  std::optional<DetectorGeometry> fallback;  ///< the user's geometry (size may be unknown)
  bool override_all = false;                 ///< the fallback replaces every frame's geometry
  bool use_sidecars = true;                  ///< look for the simulator's `<stem>.json`
};

/// The geometry of `frame` read from the file `path`, or why there is none (never throws: a
/// sidecar that cannot be read or a geometry that does not fit the frame's size gives the
/// reason).
GeometryLookup resolve_geometry(const GeometrySource& source, const AnyImage& frame,
                                const std::filesystem::path& path);

/// The spot-level evidence with its candidate names, as one frame's result carries it.
struct FrameEvidenceResult {
  FrameEvidence evidence;
  std::shared_ptr<const std::vector<std::string>> cell_names;  ///< candidates, in order
  /// The max-binning the peaks were found at (kMaxEvidenceSidePx): a peak's frame pixel is its
  /// pixel × binning.
  int64_t binning = 1;
};

/// The frame's cell decision as results.jsonl and explain's evidence.json write it:
/// `{"p": {name: probability}, "score": {name: r}, "names": [names with p >= 0.5]}`, candidates
/// in order; null without a geometry.
nlohmann::json cell_json(const FrameEvidenceResult& result);

/// Geometry source + spot evidence. Immutable; measure() is thread-safe.
class EvidenceStage {
 public:
  EvidenceStage(GeometrySource geometry, SpotEvidence evidence);
  /// Measures the evidence of `frame` (read from the file `path`). Never throws for a frame's
  /// content. @throws ConfigError only for an empty frame.
  FrameEvidenceResult measure(const AnyImage& frame, const std::filesystem::path& path) const;
  /// The same with the frame's geometry already resolved (explain: the geometry its shells
  /// use); with `keep_peaks` the evidence carries its peaks (binned pixels, see binning).
  FrameEvidenceResult measure(const AnyImage& frame, GeometryLookup geometry,
                              bool keep_peaks = false) const;
  const SpotEvidence& spot_evidence() const noexcept { return evidence_; }
  const GeometrySource& geometry_source() const noexcept { return geometry_; }

 private:
  GeometrySource geometry_;
  SpotEvidence evidence_;
  std::shared_ptr<const std::vector<std::string>> names_;
};

/// What a command's flags say about the evidence stage (--geometry, --geometry-override,
/// --cell, --no-spot-evidence). Plain value type.
struct EvidenceArgs {
  std::string geometry_file;               ///< --geometry (empty: none)
  bool geometry_override = false;          ///< --geometry-override
  std::vector<std::string> cell_files;     ///< --cell, in order
  bool disabled = false;                   ///< --no-spot-evidence
};

/// The stage for `args` with the model's spot_evidence calibration (defaults when it has none);
/// null when disabled. @throws ConfigError naming the option (--geometry-override without
/// --geometry, a bad geometry or cell file) or FormatError for a bad calibration in the model.
std::shared_ptr<const EvidenceStage> make_evidence_stage(const EvidenceArgs& args,
                                                         const nlohmann::json& model_calibration);

}  // namespace difftriage::features
