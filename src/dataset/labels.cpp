#include "difftriage/dataset/labels.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <string_view>
#include <system_error>
#include <unordered_map>

#include "difftriage/core/atomic_file.h"
#include "difftriage/core/error.h"
#include "label_text.h"

namespace difftriage::dataset {
namespace fs = std::filesystem;

namespace {

constexpr size_t kMultiColumns = 1 + kNumLabels + 2;  // filename, six labels, mosaic1, mosaic2
constexpr size_t kQualityColumns = 4;                 // filename, quality, mosaic1, mosaic2

// Field separators: runs of spaces or tabs. '\r' counts too, so CRLF files read like LF files.
bool is_separator(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_separator(line[i])) ++i;
    const size_t start = i;
    while (i < line.size() && !is_separator(line[i])) ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

std::string single_quoted(std::string_view text) { return detail::concat('\'', text, '\''); }

std::string valid_quality_list() {
  std::string list;
  for (const char* name : kQualityNames) {
    if (!list.empty()) list += ", ";
    list += name;
  }
  return list;
}

// A label cell must be the integer 0 or 1, exactly as the study wrote it.
std::optional<std::string> parse_label(std::string_view text, const char* column, uint8_t& out) {
  if (text == "0" || text == "1") {
    out = static_cast<uint8_t>(text[0] - '0');
    return std::nullopt;
  }
  double ignored = 0.0;
  if (detail::parse_decimal(text, ignored) != detail::DecimalParse::kNotANumber) {
    return detail::concat("column '", column, "' must be 0 or 1, found ", single_quoted(text));
  }
  return detail::concat("column '", column, "' is not a number: ", single_quoted(text));
}

std::optional<std::string> parse_mosaic(std::string_view text, const char* column, double& out) {
  switch (detail::parse_decimal(text, out)) {
    case detail::DecimalParse::kNotANumber:
      return detail::concat("column '", column, "' is not a number: ", single_quoted(text));
    case detail::DecimalParse::kNotFinite:
      return detail::concat("column '", column, "' must be a finite number in [0, 1], found ",
                            single_quoted(text));
    case detail::DecimalParse::kOutOfRange:
      return detail::concat("column '", column,
                            "' is outside the range of a double: ", single_quoted(text));
    case detail::DecimalParse::kOk:
      break;
  }
  if (!(out >= 0.0 && out <= 1.0)) {
    return detail::concat("column '", column, "' must be in [0, 1], found ", single_quoted(text));
  }
  if (out == 0.0) out = 0.0;  // "-0.0" reads as 0 (and writes back as "0.0")
  return std::nullopt;
}

/// Parses the two mosaic columns starting at `first` into row.mosaic1/2; every bad value becomes
/// an issue. Returns false if either was bad.
template <typename Row, typename AddIssue>
bool parse_mosaic_pair(const std::vector<std::string_view>& fields, size_t first, Row& row,
                       const AddIssue& add_issue) {
  bool ok = true;
  if (auto reason = parse_mosaic(fields[first], "mosaic1", row.mosaic1)) {
    add_issue(std::move(*reason));
    ok = false;
  }
  if (auto reason = parse_mosaic(fields[first + 1], "mosaic2", row.mosaic2)) {
    add_issue(std::move(*reason));
    ok = false;
  }
  return ok;
}

// Walks the lines of a label file, handing each non-blank, non-comment line's fields to
// `parse_row`, which appends issues and returns a row or nothing.
template <typename Row, typename ParseRow>
LabelTable<Row> parse_table(const fs::path& path, size_t n_columns, const char* layout,
                            ParseRow parse_row) {
  LabelTable<Row> table;
  table.source = path;
  const std::string text = read_file(path);
  std::string_view rest(text);
  if (rest.substr(0, 3) == "\xEF\xBB\xBF") rest.remove_prefix(3);  // UTF-8 byte-order mark

  // Duplicate detection uses the normalised name, so "a/./x.png" and "a/x.png" collide.
  std::unordered_map<std::string, int> first_line_of;
  int line_number = 0;
  while (!rest.empty()) {
    ++line_number;
    const size_t end = rest.find('\n');
    const std::string_view line = rest.substr(0, end);
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);

    const std::vector<std::string_view> fields = split_fields(line);
    if (fields.empty() || fields.front().front() == '#') continue;
    auto add_issue = [&](std::string reason) {
      table.issues.push_back(LabelIssue{path, line_number, std::move(reason)});
    };
    if (fields.size() != n_columns) {
      add_issue(detail::concat("expected ", n_columns, " columns, found ", fields.size(), " (",
                               layout, ")"));
      continue;
    }
    const std::string file(fields[0]);
    const size_t n_issues_before = table.issues.size();
    if (auto reason = detail::check_relative_file_name(file)) {
      add_issue(std::move(*reason));
    } else {
      const auto [it, inserted] =
          first_line_of.emplace(detail::normalize_relative_path(file), line_number);
      if (!inserted) {
        add_issue(detail::concat("duplicate file name ", single_quoted(file), " (first on line ",
                                 it->second, ")"));
      }
    }
    std::optional<Row> row = parse_row(fields, add_issue);
    if (row && table.issues.size() == n_issues_before) {
      row->file = file;
      row->line = line_number;
      table.rows.push_back(std::move(*row));
    }
  }
  return table;
}

template <typename Row>
std::vector<Row> rows_or_throw(LabelTable<Row> table) {
  if (!table.issues.empty()) throw FormatError(detail::join_issues(table.issues));
  return std::move(table.rows);
}

void check_writable_mosaic(const fs::path& path, size_t index, const std::string& file,
                           double mosaic1, double mosaic2) {
  for (const double value : {mosaic1, mosaic2}) {
    DT_CHECK(std::isfinite(value) && value >= 0.0 && value <= 1.0, FormatError, "cannot write ",
             path.string(), ": row ", index + 1, " (", single_quoted(file),
             ") has a mosaic value outside [0, 1]: ", value);
  }
}

// Every row must read back: a file name without blanks that stays inside the folder, and no
// duplicates.
void check_writable_name(const fs::path& path, size_t index, const std::string& file,
                         std::unordered_map<std::string, size_t>& seen) {
  const bool has_blank = file.find_first_of(" \t\r\n\v\f") != std::string::npos;
  DT_CHECK(!file.empty() && !has_blank, FormatError, "cannot write ", path.string(), ": row ",
           index + 1, " has a file name that is empty or contains blanks: ", single_quoted(file));
  if (auto reason = detail::check_relative_file_name(file)) {
    throw FormatError(
        detail::concat("cannot write ", path.string(), ": row ", index + 1, ": ", *reason));
  }
  const auto [it, inserted] = seen.emplace(detail::normalize_relative_path(file), index);
  DT_CHECK(inserted, FormatError, "cannot write ", path.string(), ": rows ", it->second + 1,
           " and ", index + 1, " name the same file ", single_quoted(file));
}

}  // namespace

namespace detail {

DecimalParse parse_decimal(std::string_view text, double& value) noexcept {
  // from_chars is locale-independent (strtod is not) and rejects hex and trailing junk when we
  // insist that it consumes the whole token. It does not take a leading '+'; strtod does, so we
  // accept one too.
  if (!text.empty() && text.front() == '+') {
    text.remove_prefix(1);
    if (text.empty() || text.front() == '+' || text.front() == '-') {
      return DecimalParse::kNotANumber;
    }
  }
  if (text.empty()) return DecimalParse::kNotANumber;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(first, last, value, std::chars_format::general);
  if (ptr != last) return DecimalParse::kNotANumber;
  if (ec == std::errc::invalid_argument) return DecimalParse::kNotANumber;
  if (ec == std::errc::result_out_of_range) return DecimalParse::kOutOfRange;
  if (!std::isfinite(value)) return DecimalParse::kNotFinite;
  return DecimalParse::kOk;
}

std::string format_mosaic(double value) {
  if (value == 0.0) return "0.0";  // also -0.0
  // Shortest fixed-point text that reads back to the same double; values are in [0, 1], so the
  // buffer bounds the longest subnormal (≈ 330 digits).
  char buffer[400];
  const auto [ptr, ec] =
      std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::fixed);
  if (ec != std::errc()) return std::to_string(value);  // unreachable for finite values in [0,1]
  std::string text(buffer, ptr);
  if (text.find('.') == std::string::npos) text += ".0";
  return text;
}

std::string normalize_relative_path(const std::string& file) {
  std::vector<std::string_view> parts;
  std::string_view rest(file);
  while (true) {
    const size_t slash = rest.find('/');
    const std::string_view part = rest.substr(0, slash);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  std::string normalized;
  for (const std::string_view part : parts) {
    if (!normalized.empty()) normalized += '/';
    normalized += part;
  }
  return normalized;
}

std::optional<std::string> check_relative_file_name(const std::string& file) {
  const bool rooted = !file.empty() && (file.front() == '/' || file.front() == '\\');
  const bool drive = file.size() >= 3 && std::isalpha(static_cast<unsigned char>(file[0])) &&
                     file[1] == ':' && (file[2] == '/' || file[2] == '\\');
  if (rooted || drive) {
    return concat("file name ", single_quoted(file),
                  " is an absolute path; it must be relative to the dataset folder");
  }
  int depth = 0;
  std::string_view rest(file);
  while (true) {
    const size_t slash = rest.find('/');
    const std::string_view part = rest.substr(0, slash);
    if (part == "..") {
      if (--depth < 0) {
        return concat("file name ", single_quoted(file), " escapes the dataset folder via '..'");
      }
    } else if (!part.empty() && part != ".") {
      ++depth;
    }
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  if (depth == 0) {
    return concat("file name ", single_quoted(file),
                  " does not name a file inside the dataset folder");
  }
  return std::nullopt;
}

std::string join_issues(const std::vector<LabelIssue>& issues) {
  std::string text;
  for (const LabelIssue& issue : issues) {
    if (!text.empty()) text += '\n';
    text += issue.to_string();
  }
  return text;
}

}  // namespace detail

std::string LabelIssue::to_string() const {
  if (line <= 0) return detail::concat(file.string(), ": ", reason);
  return detail::concat(file.string(), ':', line, ": ", reason);
}

bool is_contained_relative_path(const std::string& file) noexcept {
  try {
    return !file.empty() && !detail::check_relative_file_name(file).has_value();
  } catch (...) {  // allocation failure while building a message
    return false;
  }
}

MultiLabelTable parse_multiclasses(const fs::path& path) {
  return parse_table<MultiLabelRow>(
      path, kMultiColumns, "filename blank photo1 photo2 multilattice ice badice mosaic1 mosaic2",
      [](const std::vector<std::string_view>& fields, const auto& add_issue) {
        MultiLabelRow row;
        bool ok = true;
        for (size_t i = 0; i < kNumLabels; ++i) {
          if (auto reason = parse_label(fields[1 + i], kLabelNames[i], row.labels[i])) {
            add_issue(std::move(*reason));
            ok = false;
          }
        }
        ok = parse_mosaic_pair(fields, 7, row, add_issue) && ok;
        return ok ? std::optional<MultiLabelRow>(row) : std::nullopt;
      });
}

QualityTable parse_categories(const fs::path& path) {
  return parse_table<QualityRow>(
      path, kQualityColumns, "filename quality mosaic1 mosaic2",
      [](const std::vector<std::string_view>& fields, const auto& add_issue) {
        QualityRow row;
        bool ok = true;
        if (auto quality = parse_quality(std::string(fields[1]))) {
          row.quality = *quality;
        } else {
          add_issue(detail::concat("unknown quality ", single_quoted(fields[1]),
                                   " (valid: ", valid_quality_list(), ")"));
          ok = false;
        }
        ok = parse_mosaic_pair(fields, 2, row, add_issue) && ok;
        return ok ? std::optional<QualityRow>(row) : std::nullopt;
      });
}

std::vector<MultiLabelRow> read_multiclasses(const fs::path& path) {
  return rows_or_throw(parse_multiclasses(path));
}

std::vector<QualityRow> read_categories(const fs::path& path) {
  return rows_or_throw(parse_categories(path));
}

void write_multiclasses(const fs::path& path, const std::vector<MultiLabelRow>& rows) {
  std::unordered_map<std::string, size_t> seen;
  std::string text;
  for (size_t i = 0; i < rows.size(); ++i) {
    const MultiLabelRow& row = rows[i];
    check_writable_name(path, i, row.file, seen);
    check_writable_mosaic(path, i, row.file, row.mosaic1, row.mosaic2);
    text += row.file;
    for (size_t j = 0; j < kNumLabels; ++j) {
      DT_CHECK(row.labels[j] <= 1, FormatError, "cannot write ", path.string(), ": row ", i + 1,
               " (", single_quoted(row.file), ") has ", kLabelNames[j], " = ", int{row.labels[j]},
               ", not 0 or 1");
      text += row.labels[j] ? " 1" : " 0";
    }
    text += ' ';
    text += detail::format_mosaic(row.mosaic1);
    text += ' ';
    text += detail::format_mosaic(row.mosaic2);
    text += '\n';
  }
  write_file_atomically(path, text);
}

void write_categories(const fs::path& path, const std::vector<QualityRow>& rows) {
  std::unordered_map<std::string, size_t> seen;
  std::string text;
  for (size_t i = 0; i < rows.size(); ++i) {
    const QualityRow& row = rows[i];
    check_writable_name(path, i, row.file, seen);
    check_writable_mosaic(path, i, row.file, row.mosaic1, row.mosaic2);
    DT_CHECK(static_cast<size_t>(row.quality) < kNumQualities, FormatError, "cannot write ",
             path.string(), ": row ", i + 1, " (", single_quoted(row.file),
             ") has an invalid quality");
    text += row.file;
    text += ' ';
    text += quality_name(row.quality);
    text += ' ';
    text += detail::format_mosaic(row.mosaic1);
    text += ' ';
    text += detail::format_mosaic(row.mosaic2);
    text += '\n';
  }
  write_file_atomically(path, text);
}

std::vector<LabelIssue> find_semantic_warnings(const MultiLabelTable& table) {
  std::vector<LabelIssue> warnings;
  for (const MultiLabelRow& row : table.rows) {
    auto warn = [&](std::string reason) {
      warnings.push_back(LabelIssue{table.source, row.line,
                                    detail::concat(single_quoted(row.file), ": ", reason)});
    };
    auto has = [&](Label label) { return row.labels[static_cast<size_t>(label)] != 0; };
    if (has(Label::kBadice) && !has(Label::kIce)) {
      warn("badice = 1 but ice = 0 (badice implies ice)");
    }
    if (has(Label::kBlank)) {
      for (Label crystal : {Label::kPhoto1, Label::kPhoto2, Label::kMultilattice}) {
        if (has(crystal)) {
          warn(detail::concat("blank = 1 together with ", kLabelNames[static_cast<size_t>(crystal)],
                              " = 1 (a blank has no crystal)"));
        }
      }
      if (row.mosaic1 > 0.0) {
        warn(detail::concat("blank = 1 but mosaic1 = ", detail::format_mosaic(row.mosaic1),
                            " > 0 (a blank has no mosaic spread)"));
      }
    } else if (row.mosaic1 == 0.0) {
      warn("blank = 0 but mosaic1 = 0 (an image with a crystal has mosaic1 > 0)");
    }
    if (row.mosaic2 > 0.0 && !has(Label::kMultilattice)) {
      warn(detail::concat("mosaic2 = ", detail::format_mosaic(row.mosaic2),
                          " > 0 but multilattice = 0 (mosaic2 is the sub-crystal split)"));
    }
  }
  return warnings;
}

std::vector<LabelIssue> find_semantic_warnings(const QualityTable& table) {
  std::vector<LabelIssue> warnings;
  for (const QualityRow& row : table.rows) {
    const bool crystal = has_crystal(row.quality);
    if (!crystal && row.mosaic1 > 0.0) {
      warnings.push_back(LabelIssue{
          table.source, row.line,
          detail::concat(single_quoted(row.file), ": quality ", quality_name(row.quality),
                         " but mosaic1 = ", detail::format_mosaic(row.mosaic1),
                         " > 0 (no crystal, no mosaic spread)")});
    } else if (crystal && row.mosaic1 == 0.0) {
      warnings.push_back(LabelIssue{
          table.source, row.line,
          detail::concat(single_quoted(row.file), ": quality ", quality_name(row.quality),
                         " but mosaic1 = 0 (an image with a crystal has mosaic1 > 0)")});
    }
  }
  return warnings;
}

std::vector<MultiLabelRow> merge_noxtal_as_blank(const std::vector<MultiLabelRow>& multilabel,
                                                 const std::vector<QualityRow>& quality) {
  std::unordered_map<std::string, const MultiLabelRow*> by_name;
  for (const MultiLabelRow& row : multilabel) {
    by_name.emplace(detail::normalize_relative_path(row.file), &row);
  }
  std::vector<MultiLabelRow> merged = multilabel;
  for (const QualityRow& row : quality) {
    if (row.quality != Quality::kNoxtal) continue;
    const auto [it, inserted] = by_name.emplace(detail::normalize_relative_path(row.file), nullptr);
    if (!inserted) {
      throw FormatError(detail::concat(
          "cannot merge noxtal image ", single_quoted(row.file), " (quality row on line ", row.line,
          ") as blank: it already has a multilabel row",
          it->second && it->second->line > 0 ? detail::concat(" (line ", it->second->line, ")")
                                             : std::string()));
    }
    MultiLabelRow blank;
    blank.file = row.file;
    blank.labels[static_cast<size_t>(Label::kBlank)] = 1;
    merged.push_back(std::move(blank));
  }
  return merged;
}

}  // namespace difftriage::dataset
