/// The evaluation report: `report.html` in an `evaluate` output folder, self-contained (the
/// figures plot_model_eval drew are inlined as PNG data URIs), made from the folder's files so
/// that `difftriage report DIR` can make it again.
///
///   evaluate::write_evaluate_report("eval");   // eval/{metrics.json, run.json, *.png} → eval/report.html
///
/// The page: the per-label metric table (each metric beside its chance level where metrics.json
/// has one), the hit decision and the veto operating point(s), quality and mosaic metrics, the
/// classical baselines side by side with the model, the bootstrap intervals when present, the
/// ROC/PR curves and confusion matrices (the folder's PNGs; none with --no-plots), the dataset,
/// the model and the exact command. Thread-safe (pure functions of the folder's files).
#pragma once

#include <filesystem>
#include <string>

namespace difftriage::evaluate {

/// The report of an evaluate folder (metrics.json required, run.json and PNGs optional).
/// @throws IoError/FormatError naming metrics.json when it is missing or not JSON; IoError
///         naming a PNG that cannot be read.
std::string render_evaluate_report(const std::filesystem::path& folder);

/// Writes FOLDER/report.html atomically; returns its path. Throws as render_evaluate_report.
std::filesystem::path write_evaluate_report(const std::filesystem::path& folder);

}  // namespace difftriage::evaluate
