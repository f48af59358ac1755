#include "difftriage/dataset/dataset.h"

#include <optional>
#include <system_error>
#include <unordered_map>

#include "difftriage/core/error.h"
#include "label_text.h"

namespace difftriage::dataset {
namespace fs = std::filesystem;

namespace detail {

LoadedLabels load_labels(const fs::path& root, bool collect_read_errors) {
  std::error_code ec;
  const fs::file_status status = fs::status(root, ec);
  DT_CHECK(fs::exists(status), IoError, root.string(), ": dataset folder does not exist");
  DT_CHECK(fs::is_directory(status), IoError, root.string(), ": not a folder");

  LoadedLabels loaded;
  Dataset& dataset = loaded.dataset;
  dataset.root = root;
  const fs::path multi_path = root / kMultilabelFileName;
  const fs::path quality_path = root / kQualityFileName;
  dataset.has_multilabel_file = fs::exists(multi_path, ec);
  dataset.has_quality_file = fs::exists(quality_path, ec);

  // Sample index by normalised file name, so "./a.png" in one file meets "a.png" in the other.
  std::unordered_map<std::string, size_t> index_of;
  // Reads one label file; an unreadable one is either thrown or noted, as the caller chose.
  auto parse = [&](auto parse_file, const fs::path& path) {
    using Table = decltype(parse_file(path));
    try {
      return std::optional<Table>(parse_file(path));
    } catch (const IoError& e) {
      if (!collect_read_errors) throw;
      loaded.read_errors.push_back(e.what());
      return std::optional<Table>();
    }
  };
  std::optional<MultiLabelTable> multi_table;
  std::optional<QualityTable> quality_table;
  if (dataset.has_multilabel_file) multi_table = parse(parse_multiclasses, multi_path);
  if (dataset.has_quality_file) quality_table = parse(parse_categories, quality_path);

  if (multi_table) {
    MultiLabelTable& table = *multi_table;
    loaded.issues = std::move(table.issues);
    loaded.warnings = find_semantic_warnings(table);
    dataset.samples.reserve(table.rows.size());
    for (MultiLabelRow& row : table.rows) {
      index_of.emplace(normalize_relative_path(row.file), dataset.samples.size());
      Sample sample;
      sample.path = root / row.file;
      sample.file = std::move(row.file);
      sample.labels = row.labels;
      sample.mosaic1 = row.mosaic1;
      sample.mosaic2 = row.mosaic2;
      sample.multilabel_line = row.line;
      dataset.samples.push_back(std::move(sample));
    }
  }
  if (quality_table) {
    QualityTable& table = *quality_table;
    loaded.issues.insert(loaded.issues.end(), table.issues.begin(), table.issues.end());
    const std::vector<LabelIssue> warnings = find_semantic_warnings(table);
    loaded.warnings.insert(loaded.warnings.end(), warnings.begin(), warnings.end());
    for (QualityRow& row : table.rows) {
      const auto [it, inserted] =
          index_of.emplace(normalize_relative_path(row.file), dataset.samples.size());
      if (!inserted) {
        Sample& sample = dataset.samples[it->second];
        // Both files carry the mosaic; one image must have one mosaic.
        if (sample.mosaic1 != row.mosaic1 || sample.mosaic2 != row.mosaic2) {
          loaded.issues.push_back(LabelIssue{
              quality_path, row.line,
              concat("mosaic (", format_mosaic(row.mosaic1), ", ", format_mosaic(row.mosaic2),
                     ") of '", row.file, "' differs from ", kMultilabelFileName, " line ",
                     sample.multilabel_line, " (", format_mosaic(sample.mosaic1), ", ",
                     format_mosaic(sample.mosaic2), ")")});
          continue;
        }
        sample.quality = row.quality;
        sample.quality_line = row.line;
        continue;
      }
      Sample sample;
      sample.path = root / row.file;
      sample.file = std::move(row.file);
      sample.quality = row.quality;
      sample.mosaic1 = row.mosaic1;
      sample.mosaic2 = row.mosaic2;
      sample.quality_line = row.line;
      dataset.samples.push_back(std::move(sample));
    }
  }
  return loaded;
}

}  // namespace detail

Dataset load_dataset(const fs::path& root) {
  detail::LoadedLabels loaded = detail::load_labels(root, false);
  DT_CHECK(loaded.dataset.has_multilabel_file || loaded.dataset.has_quality_file, IoError,
           root.string(), ": holds neither ", kMultilabelFileName, " nor ", kQualityFileName);
  if (!loaded.issues.empty()) throw FormatError(detail::join_issues(loaded.issues));
  return std::move(loaded.dataset);
}

}  // namespace difftriage::dataset
