// Input expansion for `classify`: lists, folders, globs, multi-frame files.
#include "difftriage/stream/sources.h"

#include <glob.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <fstream>
#include <set>
#include <system_error>

#include "difftriage/core/error.h"
#include "difftriage/core/json_text.h"
#include "difftriage/io/image_io.h"

namespace difftriage::stream {
namespace {
namespace fs = std::filesystem;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::string eiger_master_prefix(const std::string& name) {
  static const std::string kSuffix = "_master.h5";
  return ends_with(name, kSuffix) ? name.substr(0, name.size() - kSuffix.size()) : std::string();
}

std::string eiger_data_prefix(const std::string& name) {
  static const std::string kMid = "_data_";
  if (!ends_with(name, ".h5")) return {};
  const auto pos = name.rfind(kMid);
  if (pos == std::string::npos) return {};
  const std::string digits = name.substr(pos + kMid.size(), name.size() - 3 - pos - kMid.size());
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) return {};
  return name.substr(0, pos);
}

namespace {

// Drops EIGER data files whose master ("X_master.h5" in the same folder) is also listed.
std::vector<fs::path> drop_eiger_data_files(std::vector<fs::path> files) {
  std::set<fs::path> masters;
  for (const auto& f : files) {
    const std::string name = f.filename().string();
    if (ends_with(name, "_master.h5"))
      masters.insert(f.parent_path() / name.substr(0, name.size() - 10));
  }
  if (masters.empty()) return files;
  files.erase(std::remove_if(files.begin(), files.end(),
                             [&](const fs::path& f) {
                               const std::string prefix = eiger_data_prefix(f.filename().string());
                               return !prefix.empty() &&
                                      masters.count(f.parent_path() / prefix) > 0;
                             }),
              files.end());
  return files;
}

// True when the first bytes say PGM, PNG, SMV or CBF (also inside gzip): formats with one
// frame per file, so the file need not be read (or inflated) whole just to count to one.
bool is_single_frame_format(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return false;
  uint8_t head[io::kProbeBytes];
  in.read(reinterpret_cast<char*>(head), sizeof head);
  switch (io::probe_format(head, static_cast<size_t>(in.gcount()))) {
    case io::ImageFormat::kPgm:
    case io::ImageFormat::kPng:
    case io::ImageFormat::kSmv:
    case io::ImageFormat::kCbf:
      return true;
    default:
      return false;
  }
}

bool is_glob_pattern(const std::string& text) {
  return text.find_first_of("*?[") != std::string::npos;
}

void append(std::vector<FrameAddress>& out, std::vector<FrameAddress> more) {
  out.insert(out.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
}

// A folder or a plain file path, expanded.
void expand_path(const fs::path& path, std::vector<FrameAddress>& out,
                 std::vector<SkippedInput>* skipped) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    for (const auto& f : list_frame_files(path, skipped)) append(out, expand_file(f));
  } else {
    append(out, expand_file(path));
  }
}

bool has_frame_extension(std::string name) {
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* wrap : {".gz", ".bz2"}) {
    if (ends_with(name, wrap)) name.resize(name.size() - std::char_traits<char>::length(wrap));
  }
  for (const char* ext : {".cbf", ".h5", ".hdf5", ".nxs", ".cxi", ".tif", ".tiff", ".img", ".smv",
                          ".pgm", ".png", ".cbor"}) {
    if (ends_with(name, ext)) return true;
  }
  return false;
}

// Drops EIGER data files beside their master, recording them as skipped.
std::vector<fs::path> drop_eiger_data_files(std::vector<fs::path> files,
                                            std::vector<SkippedInput>* skipped) {
  auto kept = drop_eiger_data_files(files);
  if (skipped != nullptr && kept.size() != files.size()) {
    const std::set<fs::path> left(kept.begin(), kept.end());
    for (const auto& f : files) {
      if (left.count(f) == 0) skipped->push_back({f, "an EIGER data file (its master lists its frames)"});
    }
  }
  return kept;
}

}  // namespace

bool is_non_frame_file(const std::string& name) {
  if (name.empty() || name[0] == '.') return true;
  if (name == "multiclasses.txt" || name == "categories1.txt") return true;
  return ends_with(name, ".json") || ends_with(name, ".lst");
}

nlohmann::json skipped_inputs_json(const std::vector<SkippedInput>& skipped) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : skipped) {
    nlohmann::json entry = {{"reason", s.reason}};
    set_path(entry, s.path);
    out.push_back(std::move(entry));
  }
  return out;
}

std::string non_frame_reason(const fs::path& path) {
  std::error_code ec;
  const auto link = fs::symlink_status(path, ec);
  const auto target = fs::status(path, ec);
  if (fs::is_symlink(link) && !fs::exists(target)) return "a broken symbolic link";
  if (fs::is_directory(target)) return "a folder (not searched recursively)";
  if (!fs::is_regular_file(target)) return "not a regular file (a FIFO, socket or device)";
  const std::string name = path.filename().string();
  if (!name.empty() && name[0] == '.') return "a hidden file";
  if (name == "multiclasses.txt" || name == "categories1.txt") return "a label file";
  if (ends_with(name, ".json")) return "a JSON sidecar";
  if (ends_with(name, ".lst")) return "an event list";
  if (has_frame_extension(name)) return {};
  std::ifstream in(path, std::ios::binary);
  if (!in) return "not a frame file (no frame extension, and it cannot be opened to probe)";
  uint8_t head[io::kProbeBytes];
  in.read(reinterpret_cast<char*>(head), sizeof head);
  if (io::probe_format(head, static_cast<size_t>(in.gcount())) != io::ImageFormat::kUnknown) {
    return {};
  }
  return "not a frame file (no frame extension, content of no known format)";
}

std::vector<fs::path> list_frame_files(const fs::path& folder,
                                       std::vector<SkippedInput>* skipped) {
  std::vector<fs::path> files;
  std::vector<SkippedInput> left_out;
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    std::string reason = non_frame_reason(it->path());
    if (reason.empty()) {
      files.push_back(it->path());
    } else {
      left_out.push_back({it->path(), std::move(reason)});
    }
  }
  DT_CHECK(!ec, IoError, folder.string(), ": cannot list folder: ", ec.message());
  std::sort(files.begin(), files.end());
  files = drop_eiger_data_files(std::move(files), &left_out);
  std::sort(left_out.begin(), left_out.end(),
            [](const SkippedInput& a, const SkippedInput& b) { return a.path < b.path; });
  if (skipped != nullptr) skipped->insert(skipped->end(), left_out.begin(), left_out.end());
  return files;
}

std::vector<FrameAddress> expand_file(const fs::path& file) {
  int64_t n = 1;
  try {
    if (!is_single_frame_format(file)) n = io::count_frames(file);
  } catch (const std::exception&) {
    n = 1;  // fail-open: reading frame 0 later reports the problem in the file's error row
  }
  std::vector<FrameAddress> frames;
  frames.reserve(static_cast<size_t>(std::max<int64_t>(n, 1)));
  for (int64_t k = 0; k < std::max<int64_t>(n, 1); ++k) frames.push_back({file, k});
  return frames;
}

std::vector<fs::path> expand_glob(const std::string& pattern) {
  glob_t g{};
  const int rc = ::glob(pattern.c_str(), GLOB_ERR, nullptr, &g);
  std::vector<fs::path> matches;
  if (rc == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) matches.emplace_back(g.gl_pathv[i]);
  }
  globfree(&g);
  DT_CHECK(rc != GLOB_NOMATCH, ConfigError, "'", pattern, "': the pattern matches no file");
  DT_CHECK(rc == 0, IoError, "'", pattern, "': glob failed (",
           rc == GLOB_ABORTED ? "a folder cannot be read" : "out of memory", ")");
  std::sort(matches.begin(), matches.end());  // glob sorts by the locale's collation
  return matches;
}

std::vector<FrameAddress> read_event_list(const fs::path& list) {
  std::error_code ec;
  DT_CHECK(!fs::is_directory(list, ec), IoError, list.string(),
           ": cannot read list file: is a folder");
  std::ifstream in(list);
  DT_CHECK(in.good(), IoError, list.string(), ": cannot open list file");
  std::vector<FrameAddress> frames;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    const auto last = line.find_last_not_of(" \t\r");
    const std::string text = line.substr(first, last - first + 1);
    try {
      if (text.find("//") != std::string::npos) {
        const FrameAddress a = parse_frame_address(text);
        if (a.path.string() != text) {
          frames.push_back(a);
          continue;
        }
      }
      append(frames, expand_file(text));
    } catch (const ConfigError& e) {
      throw ConfigError(detail::concat(list.string(), ":", line_no, ": ", e.what()));
    }
  }
  DT_CHECK(!in.bad(), IoError, list.string(), ": read error after line ", line_no);
  return frames;
}

std::vector<FrameAddress> expand_inputs(const std::vector<std::string>& inputs,
                                        std::vector<SkippedInput>* skipped) {
  std::vector<FrameAddress> frames;
  for (const auto& input : inputs) {
    if (!input.empty() && input[0] == '@') {
      append(frames, read_event_list(input.substr(1)));
      continue;
    }
    std::error_code ec;
    if (fs::exists(input, ec)) {
      expand_path(input, frames, skipped);
    } else if (input.find("//") != std::string::npos &&
               parse_frame_address(input).path.string() != input) {
      frames.push_back(parse_frame_address(input));
    } else if (is_glob_pattern(input)) {
      std::vector<fs::path> files;
      for (const auto& match : expand_glob(input)) {
        std::error_code dir_ec;
        std::string reason;
        if (fs::is_directory(match, dir_ec) || (reason = non_frame_reason(match)).empty()) {
          files.push_back(match);
        } else if (skipped != nullptr) {
          skipped->push_back({match, std::move(reason)});
        }
      }
      for (const auto& f : drop_eiger_data_files(std::move(files), skipped)) {
        expand_path(f, frames, skipped);
      }
    } else {
      frames.push_back({input, 0});  // missing: fails later as an error row
    }
  }
  return frames;
}

}  // namespace difftriage::stream
