/// The triage run report: one self-contained `report.html` (report/html.h: charts as inline SVG,
/// thumbnails as PNG data URIs, no network) in every classify output folder and every stream
/// series folder, and the aggregates the live monitor (monitor.h) shows while a run goes on.
///
///   stream::write_triage_report("cls");   // cls/{results.jsonl, summary.json[, run.json]} → cls/report.html
///
/// The page: the counts exactly as summary.json has them (each in an element
/// `data-count="n_kept"` etc.), decisions, hit rate along the run (rolling, against frame index
/// and against time at the run's mean rate — rows carry no clock), quality, ice and badice along
/// the run, crystal-form (photo1, photo2) and multilattice counts, a strip of example frames per
/// decision (thumbnails through the model's own preprocessing with the brightest spots ringed),
/// the unreadable frames with their errors, the model card summary and the exact command.
/// Size is bounded whatever the run's length: charts aggregate into at most
/// RunTimeline::kMaxBins bins, strips hold at most `n_examples` frames per decision and at most
/// `max_listed_errors` errors are listed (about 150 kB for 100k frames).
#pragma once

#include <array>
#include <limits>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "difftriage/core/image.h"
#include "difftriage/models/model_info.h"
#include "difftriage/stream/triage.h"

namespace difftriage::stream {

/// The five decisions a report shows, in display order; kDecisionNames gives their words.
enum class DecisionKind { kHit, kVeto, kUncertain, kUnreadable, kUntriaged };
inline constexpr std::array<const char*, 5> kDecisionNames = {"kept (hit)", "vetoed", "uncertain",
                                                              "unreadable", "untriaged"};
/// The decision a results.jsonl row (or TriageDecision) falls in.
DecisionKind decision_kind(const TriageDecision& decision) noexcept;

/// A frame as a report shows it: the model's own preprocessing (models::Preprocessor with
/// `preprocess`), scaled to 0..255 between the 1st and 99.9th percentile, reduced by max-pooling
/// to at most `max_side_px`, in gray, with the `n_spots` brightest spots of the spot finder
/// (features::find_spots on the preprocessed input) ringed in red. RGB PNG bytes.
/// @throws ConfigError for an empty frame or max_side_px < 16.
std::vector<uint8_t> make_thumbnail_png(const AnyImage& frame,
                                        const models::PreprocessOptions& preprocess,
                                        int max_side_px = 128, int n_spots = 10);

/// One example of a strip: the thumbnail and its caption (frame name, p_hit).
struct ReportExample {
  std::vector<uint8_t> png;
  std::string caption;
};

/// Aggregates of a run along its frames, in bounded memory: the counts (TriageCounts), quality
/// and label counts, and at most kMaxBins bins along the run (when full, neighbouring bins merge
/// and each bin covers twice the frames). Fed one results.jsonl row at a time. Not thread-safe
/// (the monitor guards it with its own mutex).
class RunTimeline {
 public:
  static constexpr int kMaxBins = 256;

  /// Counts one row (triage.h result_row, or a stream row); `t_s` is its arrival time in
  /// seconds since the run started, NaN when unknown.
  /// @throws FormatError as decision_from_row for a row without a valid decision.
  void add(const nlohmann::json& row, double t_s = std::numeric_limits<double>::quiet_NaN());

  const TriageCounts& counts() const noexcept { return counts_; }
  /// Frames labelled badice (labels.badice == 1) so far.
  int64_t n_badice() const noexcept { return label_counts_[5]; }
  /// Frame index (0-based, of this timeline) of the last badice frame; -1 when none.
  int64_t last_badice_index() const noexcept { return last_badice_index_; }

  /// The charts (report/html.h inline SVG): decisions, hit rate along the run (against frame
  /// index; and against time — real arrival times when every row had one, else the run's mean
  /// rate `elapsed_s` when > 0), ice and badice along the run, quality classes, crystal forms
  /// and multilattice. Each chart is one `<svg>`; together in a `<div class="charts">`.
  std::string charts_html(double elapsed_s = 0.0) const;

  /// The numbers behind the charts, for scripts: {"counts", "quality", "labels", "bins":
  /// {"first_frame", "n_frames", "hit_rate", "p_ice", "p_badice", "t_s"}}.
  nlohmann::json to_json() const;

 private:
  struct Bin {
    int64_t first = 0, n = 0, n_readable = 0, n_kept_readable = 0, n_ice = 0, n_badice = 0;
    int64_t n_p = 0;  // rows with probabilities
    double sum_p_ice = 0, sum_p_badice = 0;
    double t_first = std::numeric_limits<double>::quiet_NaN(), t_last = t_first;
  };
  std::vector<Bin> bins_;
  int64_t bin_width_ = 1;
  TriageCounts counts_;
  std::array<int64_t, 5> quality_counts_{};
  /// Frames per d_min_angstrom bin (kDminBinEdges; the last counts rows without a d_min).
  std::array<int64_t, 8> d_min_counts_{};
  /// Frames per candidate cell called present (results.jsonl cell.names), user cells included.
  std::map<std::string, int64_t> cell_counts_;
  std::array<int64_t, 6> label_counts_{};
  int64_t n_rows_ = 0, n_without_time_ = 0, last_badice_index_ = -1;
};

/// What a report shows besides the rows.
struct TriageReportOptions {
  /// Examples per decision in the strips (0: no strips).
  int n_examples = 8;
  /// Thumbnail side at most, pixels.
  int thumbnail_side_px = 128;
  /// Unreadable frames listed with their errors at most (the rest counted).
  int max_listed_errors = 200;
  /// Examples already made (a live series, whose pixels are not on disk), per DecisionKind;
  /// when a decision has none here, its examples are read from the rows' files (classify).
  std::map<DecisionKind, std::vector<ReportExample>> examples;
  /// The preprocessing of the thumbnails; unset: the model_info in summary.json, else the
  /// sidecar of summary.json's "model".
  std::optional<models::PreprocessOptions> preprocess;
};

/// A report built one row at a time (what render_triage_report does over a results.jsonl, and
/// what a live series does as its frames are triaged, so that closing it does not read the
/// rows again). Memory: the timeline, the listed errors, and the path and caption of each row
/// with a file (example candidates). Not thread-safe.
class TriageReportBuilder {
 public:
  explicit TriageReportBuilder(TriageReportOptions options = {});
  ~TriageReportBuilder();
  TriageReportBuilder(const TriageReportBuilder&) = delete;
  TriageReportBuilder& operator=(const TriageReportBuilder&) = delete;
  /// Counts one results.jsonl row. @throws FormatError for a row without a valid decision.
  void add(const nlohmann::json& row);
  /// The page, given summary.json's object and run.json's (or null); reads the example frames
  /// of rows with a file (see render_triage_report).
  std::string render(const nlohmann::json& summary, const nlohmann::json& run) const;
  /// Options, e.g. to add examples made live before render().
  TriageReportOptions& options() noexcept { return options_; }

 private:
  struct Candidates;
  TriageReportOptions options_;
  RunTimeline timeline_;
  std::unique_ptr<Candidates> candidates_;
  std::string errors_;
  int64_t n_errors_ = 0;
};

/// The report of a triage folder: `results` (results.jsonl), `summary` (summary.json's object)
/// and `run` (run.json's object, or null). A row whose file cannot be read again for its
/// thumbnail is shown without one (the caption says why).
/// @throws IoError naming `results` if it cannot be read; FormatError naming the line of a row
///         that is not JSON or has no valid decision.
std::string render_triage_report(const std::filesystem::path& results,
                                 const nlohmann::json& summary, const nlohmann::json& run,
                                 const TriageReportOptions& options = {});

/// Reads FOLDER/{results.jsonl, summary.json, run.json (optional)} and writes FOLDER/report.html
/// atomically (`difftriage report DIR`). Returns the path written.
/// @throws IoError/FormatError naming the missing or damaged file.
std::filesystem::path write_triage_report(const std::filesystem::path& folder,
                                          const TriageReportOptions& options = {});

}  // namespace difftriage::stream
