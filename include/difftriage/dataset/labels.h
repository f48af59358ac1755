/// The study's label files, exactly as users already have them.
///
/// `multiclasses.txt` — space-separated, no header, one row per image:
///   `filename blank photo1 photo2 multilattice ice badice mosaic1 mosaic2`
/// `categories1.txt` — `filename quality mosaic1 mosaic2`, quality ∈ {blank, noxtal, weak, good,
///   strong}.
///
///   auto table = difftriage::dataset::parse_multiclasses("data/multiclasses.txt");
///   if (!table.issues.empty()) { /* every bad row, with file:line and reason */ }
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "difftriage/core/labels.h"

namespace difftriage::dataset {

// The label vocabulary (kLabelNames, Label, Quality, kQualityNames, quality_name, parse_quality)
// is core's: difftriage/core/labels.h.

/// One row of multiclasses.txt.
struct MultiLabelRow {
  std::string file;                          ///< as written in the label file (relative path)
  std::array<uint8_t, kNumLabels> labels{};  ///< 0 or 1 each, kLabelNames order
  double mosaic1 = 0.0;                      ///< mosaic spread, normalised to [0, 1]
  double mosaic2 = 0.0;                      ///< sub-crystal split, normalised to [0, 1]
  int line = 0;                              ///< 1-based line in the source file (0 if built)
};

/// One row of categories1.txt.
struct QualityRow {
  std::string file;
  Quality quality = Quality::kBlank;
  double mosaic1 = 0.0;
  double mosaic2 = 0.0;
  int line = 0;
};

/// A problem with one row of a label file.
struct LabelIssue {
  std::filesystem::path file;
  int line = 0;  ///< 1-based; 0 when the problem concerns the whole file
  std::string reason;
  /// "file:line: reason"
  std::string to_string() const;
};

/// A parsed label file: the good rows plus every problem found (nothing is silently skipped).
template <typename Row>
struct LabelTable {
  std::filesystem::path source;
  std::vector<Row> rows;
  std::vector<LabelIssue> issues;
};
using MultiLabelTable = LabelTable<MultiLabelRow>;
using QualityTable = LabelTable<QualityRow>;

/// Parses multiclasses.txt. Rows with the wrong column count, non-numeric values, labels outside
/// {0,1}, mosaic outside [0,1], duplicate file names, absolute paths or paths with `..` that
/// escape the folder become issues (the row is left out of `rows`). Blank lines and lines
/// starting with '#' are ignored. Fields are separated by runs of spaces or tabs; CRLF line ends
/// and a UTF-8 byte-order mark are accepted. Labels must be exactly "0" or "1"; mosaic values
/// are finite decimals (an exponent is accepted; "nan", "inf" and hex are not). A row can yield
/// several issues (one per bad column). Duplicates compare normalised names ("./a.png" equals
/// "a.png") and cite the line of the first occurrence.
/// @throws IoError if the file cannot be read.
MultiLabelTable parse_multiclasses(const std::filesystem::path& path);
/// Parses categories1.txt with the same checks (quality must be one of kQualityNames).
QualityTable parse_categories(const std::filesystem::path& path);

/// Like the parse functions, but throws FormatError listing every issue ("file:line: reason",
/// one per line) when there are any.
std::vector<MultiLabelRow> read_multiclasses(const std::filesystem::path& path);
std::vector<QualityRow> read_categories(const std::filesystem::path& path);

/// Writes the files atomically in the study's format (mosaic values with the shortest decimal
/// form that reads back to the same double, at least one decimal: "0.0", "0.3306"), one row per
/// line ending in '\n', fields separated by one space. `line` members are ignored.
/// @throws FormatError if a row would not read back (a file name that is empty, contains blanks,
///         is absolute, escapes the folder or repeats; a label other than 0/1; a mosaic value
///         outside [0, 1]); nothing is written then.
/// @throws IoError on failure.
void write_multiclasses(const std::filesystem::path& path, const std::vector<MultiLabelRow>& rows);
void write_categories(const std::filesystem::path& path, const std::vector<QualityRow>& rows);

/// Label combinations that the file format allows but the physics does not (DESIGN.md, Labels):
/// badice without ice; blank together with photo1, photo2 or multilattice; mosaic1 > 0 on a blank
/// or mosaic1 = 0 on a non-blank; mosaic2 > 0 without multilattice. The parsers accept such rows
/// (the study's data and users' data bend these rules); `dataset check` shows them as warnings.
/// One LabelIssue per broken rule, in row order, with `file` = table.source and the row's line.
/// Pure function; thread-safe.
std::vector<LabelIssue> find_semantic_warnings(const MultiLabelTable& table);
/// The same for categories1.txt: mosaic1 > 0 with quality blank or noxtal, mosaic1 = 0 with a
/// crystal (weak, good, strong).
std::vector<LabelIssue> find_semantic_warnings(const QualityTable& table);

/// The study's merge: every noxtal image of a quality set joins the multilabel set as blank = 1,
/// all other labels 0, mosaic 0. Other quality rows are not added. Returns multilabel rows
/// followed by the converted noxtal rows.
/// @throws FormatError if a converted file name already appears in `multilabel`.
std::vector<MultiLabelRow> merge_noxtal_as_blank(const std::vector<MultiLabelRow>& multilabel,
                                                 const std::vector<QualityRow>& quality);

/// True if `file` is a relative path that stays inside its folder (no root, no escaping `..`)
/// and names something below it ("." or "a/.." name the folder itself and are rejected).
bool is_contained_relative_path(const std::string& file) noexcept;

}  // namespace difftriage::dataset
