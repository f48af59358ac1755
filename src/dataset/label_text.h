// Private helpers of the dataset module: number parsing and formatting of label cells and the
// file-name rules shared by the parsers, the writers and load_dataset.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "difftriage/core/error.h"
#include "difftriage/dataset/dataset.h"
#include "difftriage/dataset/labels.h"

namespace difftriage::dataset::detail {

using ::difftriage::detail::concat;

enum class DecimalParse { kOk, kNotANumber, kNotFinite, kOutOfRange };

/// Parses a whole token as a decimal floating-point number (locale-independent; an optional
/// leading '+'; no hex). "nan"/"inf" give kNotFinite.
DecimalParse parse_decimal(std::string_view text, double& value) noexcept;

/// Shortest fixed-point text that reads back to `value`, with at least one decimal ("0.0").
std::string format_mosaic(double value);

/// "a/./b/../c.png" → "a/c.png": the key that identifies one image inside a folder.
std::string normalize_relative_path(const std::string& file);

/// Why `file` cannot name an image inside a dataset folder (absolute, escaping via "..", the
/// folder itself), or nothing if it can.
std::optional<std::string> check_relative_file_name(const std::string& file);

/// Issues as "file:line: reason", one per line.
std::string join_issues(const std::vector<LabelIssue>& issues);

}  // namespace difftriage::dataset::detail

namespace difftriage::dataset::detail {

/// The label files of a dataset folder, parsed and joined into samples, plus every issue found
/// (row issues of both files, then files named in both with different mosaic values) and the
/// semantic warnings. Images are not opened.
struct LoadedLabels {
  Dataset dataset;
  std::vector<std::string> read_errors;  ///< label files that exist but cannot be read
  std::vector<LabelIssue> issues;
  std::vector<LabelIssue> warnings;
};

/// @throws IoError if `root` is not a folder, or if a present label file cannot be read and
///         `collect_read_errors` is false (when true, the message goes to `read_errors`).
LoadedLabels load_labels(const std::filesystem::path& root, bool collect_read_errors);

}  // namespace difftriage::dataset::detail
