// `difftriage merge`: several stream workers' folders as one accounting per series (see
// include/difftriage/stream/merge.h).
#include "difftriage/stream/merge.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include "difftriage/core/atomic_file.h"
#include "difftriage/core/error.h"
#include "difftriage/core/json_text.h"
#include "difftriage/stream/run_report.h"
#include "difftriage/stream/triage.h"
#include "difftriage/version.h"

namespace difftriage::stream {
namespace fs = std::filesystem;
using ::difftriage::detail::concat;
using nlohmann::json;

namespace {

constexpr const char* kTopSummary = "stream_summary.json";

json read_json_object(const fs::path& path) {
  const std::string text = read_file(path);  // IoError naming the file
  json j = json::parse(text, nullptr, false);
  DT_CHECK(!j.is_discarded() && j.is_object(), FormatError, path.string(),
           ": not a JSON object (damaged or half-written?)");
  return j;
}

bool is_series_folder_name(const std::string& name) { return name.rfind("series_", 0) == 0; }

// One series folder of one worker.
struct WorkerSeries {
  int worker = 0;
  fs::path folder;  // input / series_<id>[_k]
  json summary;
  int64_t series_id = 0;
  TriageCounts counts;
};

// One results row, kept as its text until it is written.
struct Row {
  int64_t series = 0, frame = 0;
  int worker = 0;
  size_t folder = 0;  // index into the WorkerSeries list
  int64_t line = 0;
  std::string text;
};

// One worker's stream output folder, checked (see merge.h for what is refused).
struct WorkerRun {
  fs::path dir;
  json top;  // its stream_summary.json
  std::vector<std::string> series_folders;
};

WorkerRun check_worker_dir(const fs::path& dir) {
  WorkerRun w;
  w.dir = dir;
  std::error_code ec;
  DT_CHECK(fs::is_directory(dir, ec), IoError, dir.string(), ": not a folder");
  DT_CHECK(!fs::exists(dir / ".partial", ec), IoError, (dir / ".partial").string(),
           ": an unfinished output set (a run still writing, or killed); not a stream output "
           "folder to merge");
  if (!fs::exists(dir / kTopSummary, ec)) {
    std::string why = "not a stream output folder";
    if (fs::is_regular_file(dir / "run.json", ec)) {
      json run = json::parse(read_file(dir / "run.json"), nullptr, false);
      const std::string command =
          run.is_object() && run.contains("command") && run["command"].is_string()
              ? run["command"].get<std::string>()
              : std::string();
      why = command == "stream"
                ? "the stream is still running or was killed (it writes stream_summary.json "
                  "when it exits; series folders may be open)"
                : command.empty() ? why : concat("a ", command, " output folder, not a stream's");
    }
    throw IoError(concat(dir.string(), ": no ", kTopSummary, ": ", why));
  }
  w.top = read_json_object(dir / kTopSummary);
  DT_CHECK(!w.top.contains("merged_from"), IoError, (dir / kTopSummary).string(),
           ": a merge output; give the workers' stream folders instead");
  DT_CHECK(w.top.contains("series_folders") && w.top["series_folders"].is_array(), FormatError,
           (dir / kTopSummary).string(), ": no series_folders list");
  std::set<std::string> listed;
  for (const auto& f : w.top["series_folders"]) {
    DT_CHECK(f.is_string() && is_series_folder_name(f.get<std::string>()) &&
                 fs::path(f.get<std::string>()).filename() == f.get<std::string>(),
             FormatError, (dir / kTopSummary).string(), ": series_folders holds ", f.dump(),
             ", not a series_<id> folder name");
    listed.insert(f.get<std::string>());
    w.series_folders.push_back(f.get<std::string>());
  }
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (!e.is_directory() || !is_series_folder_name(name)) continue;
    DT_CHECK(!fs::exists(e.path() / "results.jsonl.partial", ec), IoError,
             (e.path() / "results.jsonl.partial").string(),
             ": the series is still open (its stream is running, or was killed)");
    DT_CHECK(listed.count(name) == 1, IoError, e.path().string(), ": not listed in ",
             (dir / kTopSummary).string(),
             " (written by a later stream run into the same folder, which may still be running)");
  }
  for (const auto& name : w.series_folders) {
    for (const char* file : {"summary.json", "results.jsonl"}) {
      DT_CHECK(fs::is_regular_file(dir / name / file, ec), IoError, (dir / name / file).string(),
               ": missing (listed in ", (dir / kTopSummary).string(), ")");
    }
  }
  return w;
}

int64_t int_field(const json& j, const char* key, const fs::path& file) {
  DT_CHECK(j.contains(key) && j[key].is_number_integer(), FormatError, file.string(), ": \"", key,
           "\" is missing or not an integer");
  return j[key].get<int64_t>();
}

bool bool_field(const json& j, const char* key, bool fallback) {
  return j.contains(key) && j[key].is_boolean() ? j[key].get<bool>() : fallback;
}

// Reads one worker series folder: its summary, and its rows into `rows` (checked).
WorkerSeries read_worker_series(int worker, const fs::path& folder, size_t index,
                                std::vector<Row>& rows) {
  WorkerSeries ws;
  ws.worker = worker;
  ws.folder = folder;
  const fs::path summary_path = folder / "summary.json";
  ws.summary = read_json_object(summary_path);
  ws.series_id = int_field(ws.summary, "series", summary_path);
  TriageCounts declared;
  try {
    declared = TriageCounts::from_json(ws.summary);
  } catch (const FormatError& e) {
    throw FormatError(concat(summary_path.string(), ": ", e.what()));
  }
  const fs::path results = folder / "results.jsonl";
  const std::string text = read_file(results);
  size_t pos = 0;
  int64_t line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    const std::string where = concat(results.string(), ":", line_no);
    const json row = json::parse(line, nullptr, false);
    DT_CHECK(!row.is_discarded() && row.is_object(), FormatError, where,
             ": not a JSON object (damaged or half-written?)");
    DT_CHECK(row.contains("frame") && row["frame"].is_number_integer(), FormatError, where,
             ": no integer \"frame\"");
    DT_CHECK(row.contains("series") && row["series"].is_number_integer() &&
                 row["series"].get<int64_t>() == ws.series_id,
             FormatError, where, ": \"series\" is not ", ws.series_id, " (its summary.json's)");
    try {
      ws.counts.add(decision_from_row(row));
    } catch (const FormatError& e) {
      throw FormatError(concat(where, ": ", e.what()));
    }
    rows.push_back({ws.series_id, row["frame"].get<int64_t>(), worker, index, line_no,
                    std::move(line)});
  }
  const json got = ws.counts.to_json(), said = declared.to_json();
  for (const char* key :
       {"n_frames", "n_kept", "n_veto", "n_uncertain", "n_unreadable", "n_untriaged"}) {
    DT_CHECK(got[key] == said[key], FormatError, summary_path.string(), ": ", key, " is ",
             said[key].dump(), " but ", results.string(), " has ", got[key].dump(),
             " such row(s)");
  }
  return ws;
}

// What identifies the model a series was triaged with.
std::string model_identity(const json& summary) {
  if (summary.contains("model_info") && summary["model_info"].is_object()) {
    return dump_json(summary["model_info"]);
  }
  return "path " + (summary.contains("model") ? dump_json(summary["model"]) : std::string("?"));
}

double number_or_zero(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : 0.0;
}

// OUT may be new, empty, or an earlier merge's output (with a killed merge's leftovers).
void check_out_folder(const fs::path& out) {
  std::error_code ec;
  if (!fs::exists(out, ec)) return;
  DT_CHECK(fs::is_directory(out, ec), IoError, out.string(), ": not a folder");
  if (fs::is_regular_file(out / kTopSummary, ec)) {
    const json top = json::parse(read_file(out / kTopSummary), nullptr, false);
    DT_CHECK(top.is_object() && top.contains("merged_from"), IoError, out.string(),
             ": holds a stream output (", kTopSummary,
             " without merged_from), not a merge's; choose a new or empty folder");
  }
  for (const auto& e : fs::directory_iterator(out)) {
    const std::string name = e.path().filename().string();
    const bool ok = name == ".partial" || name == "run.json" || name == kTopSummary ||
                    is_atomic_temporary_name(name) ||
                    (e.is_directory() && is_series_folder_name(name));
    DT_CHECK(ok, IoError, out.string(), ": holds ", name,
             ", so it is no earlier merge output; choose a new or empty folder");
  }
}

json ranges_json(const std::vector<std::pair<int64_t, int64_t>>& ranges) {
  json a = json::array();
  for (const auto& [first, last] : ranges) a.push_back({first, last});
  return a;
}

}  // namespace

MergeSummary merge_stream_runs(const MergeOptions& options) {
  DT_CHECK(!options.inputs.empty(), ConfigError, "merge: no input folder");
  DT_CHECK(!options.out.empty(), ConfigError, "MergeOptions::out is empty");
  std::error_code ec;
  const fs::path out_canonical = fs::weakly_canonical(options.out, ec);
  std::map<fs::path, size_t> seen;
  for (size_t k = 0; k < options.inputs.size(); ++k) {
    const fs::path c = fs::weakly_canonical(options.inputs[k], ec);
    DT_CHECK(c != out_canonical, ConfigError, "merge: the output folder ",
             options.out.string(), " is also an input");
    const auto [it, fresh] = seen.emplace(c, k);
    DT_CHECK(fresh, ConfigError, "merge: ", options.inputs[k].string(), " is given twice (as input ",
             it->second, " and ", k, ")");
  }

  // Read and check everything before writing anything.
  std::vector<WorkerRun> runs;
  for (const auto& dir : options.inputs) runs.push_back(check_worker_dir(dir));
  std::vector<WorkerSeries> folders;
  std::vector<Row> rows;
  for (size_t k = 0; k < runs.size(); ++k) {
    for (const auto& name : runs[k].series_folders) {
      folders.push_back(
          read_worker_series(static_cast<int>(k), runs[k].dir / name, folders.size(), rows));
    }
  }
  for (const auto& f : folders) {
    DT_CHECK(model_identity(f.summary) == model_identity(folders.front().summary), FormatError,
             (f.folder / "summary.json").string(), ": triaged with another model than ",
             (folders.front().folder / "summary.json").string(), " (model ",
             dump_json(f.summary.value("model", json())), " vs ",
             dump_json(folders.front().summary.value("model", json())),
             "): merged counts would mix two veto operating points");
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return std::tie(a.series, a.frame, a.worker, a.folder, a.line) <
           std::tie(b.series, b.frame, b.worker, b.folder, b.line);
  });
  for (size_t i = 1; i < rows.size(); ++i) {
    const Row& a = rows[i - 1];
    const Row& b = rows[i];
    DT_CHECK(!(a.series == b.series && a.frame == b.frame), FormatError, "series ", a.series,
             " frame ", a.frame, " is in ", (folders[a.folder].folder / "results.jsonl").string(),
             ":", a.line, " and in ", (folders[b.folder].folder / "results.jsonl").string(), ":",
             b.line, " (a series id the detector used twice, or one worker's output given "
             "twice?): a frame must be counted once");
  }

  // Series by series.
  std::map<int64_t, std::vector<size_t>> by_series;  // series id → indices into `folders`
  for (size_t i = 0; i < folders.size(); ++i) by_series[folders[i].series_id].push_back(i);
  struct Merged {
    fs::path name;
    json summary;
    std::string results;
  };
  std::vector<Merged> merged;
  MergeSummary result;
  size_t row_index = 0;
  for (const auto& [series, members] : by_series) {
    Merged m;
    m.name = concat("series_", series);
    TriageCounts counts;
    std::optional<int64_t> n_expected;
    const fs::path* expected_from = nullptr;
    bool header = false, end = false, interrupted = false;
    int64_t n_no_header = 0, n_kept_written = 0, n_kept_not_written = 0;
    double cpu_s = 0, decode_s = 0, infer_s = 0, elapsed_s = 0;
    int64_t n_batches = 0;
    std::set<std::string> protocols;
    json workers = json::array(), kept_files = json::array();
    for (size_t i : members) {
      const WorkerSeries& f = folders[i];
      const json& s = f.summary;
      const fs::path summary_path = f.folder / "summary.json";
      const bool got_header = bool_field(s, "header_received", false);
      const std::string status = s.value("status", std::string());
      const bool got_end = bool_field(s, "end_received", status == "complete");
      header |= got_header;
      end |= got_end;
      interrupted |= status == "interrupted";
      if (s.contains("n_images_expected") && s["n_images_expected"].is_number_integer()) {
        const int64_t n = s["n_images_expected"].get<int64_t>();
        DT_CHECK(!n_expected || *n_expected == n, FormatError, summary_path.string(),
                 ": n_images_expected ", n, " but ", expected_from->string(), " says ",
                 *n_expected, " for the same series");
        n_expected = n;
        expected_from = &folders[i].folder;
      }
      n_no_header += s.value("n_no_header", int64_t{0});
      n_kept_written += s.value("n_kept_written", int64_t{0});
      n_kept_not_written += s.value("n_kept_not_written", int64_t{0});
      if (s.contains("timing") && s["timing"].is_object()) {
        cpu_s += number_or_zero(s["timing"], "cpu_s");
        decode_s += number_or_zero(s["timing"], "decode_s");
        infer_s += number_or_zero(s["timing"], "infer_s");
        n_batches += static_cast<int64_t>(number_or_zero(s["timing"], "n_batches"));
      }
      elapsed_s = std::max(elapsed_s, number_or_zero(s, "elapsed_s"));
      if (s.contains("protocol") && s["protocol"].is_string()) {
        protocols.insert(s["protocol"].get<std::string>());
      }
      json kept_file = nullptr;
      if (s.contains("kept_file") && s["kept_file"].is_string()) {
        const fs::path kept = f.folder / s["kept_file"].get<std::string>();
        DT_CHECK(fs::is_regular_file(kept, ec), IoError, kept.string(), ": missing (named by ",
                 summary_path.string(), ")");
        kept_file = kept.string();
        kept_files.push_back({{"worker", f.worker},
                              {"path", kept.string()},
                              {"n_kept_written", s.value("n_kept_written", int64_t{0})}});
      }
      json w = {{"worker", f.worker},
                {"dir", options.inputs[static_cast<size_t>(f.worker)].string()},
                {"folder", f.folder.filename().string()},
                {"status", status},
                {"closed_by", s.value("closed_by", json())},
                {"fan_out", s.value("fan_out", json())},
                {"header_received", got_header},
                {"end_received", got_end},
                {"n_no_header", s.value("n_no_header", int64_t{0})},
                {"kept_file", kept_file}};
      w.update(f.counts.to_json());
      workers.push_back(std::move(w));
      counts.merge(f.counts);
    }
    // The rows of this series: contiguous in `rows`, sorted by frame.
    std::vector<std::pair<int64_t, int64_t>> missing;
    int64_t n_missing = 0, n_outside = 0, next = 0;
    for (; row_index < rows.size() && rows[row_index].series == series; ++row_index) {
      const Row& r = rows[row_index];
      json row = json::parse(r.text);
      row["worker"] = r.worker;
      m.results += dump_json(row);
      m.results += '\n';
      if (!n_expected) continue;
      if (r.frame < 0 || r.frame >= *n_expected) {
        ++n_outside;
        continue;
      }
      if (r.frame > next) {
        missing.emplace_back(next, r.frame - 1);
        n_missing += r.frame - next;
      }
      next = r.frame + 1;
    }
    if (n_expected && next < *n_expected) {
      missing.emplace_back(next, *n_expected - 1);
      n_missing += *n_expected - next;
    }
    const std::string status = end && (!n_expected || n_missing == 0) ? "complete"
                               : interrupted                           ? "interrupted"
                                                                       : "incomplete";
    std::string protocol;
    for (const auto& p : protocols) protocol += (protocol.empty() ? "" : ",") + p;
    const json& first = folders[members.front()].summary;
    json summary = {
        {"series", series},
        {"merged", true},
        {"protocol", protocol},
        {"status", status},
        {"header_received", header},
        {"end_received", end},
        {"n_images_expected", n_expected ? json(*n_expected) : json()},
        {"n_missing", n_expected ? json(n_missing) : json()},
        {"missing_frames", ranges_json(missing)},
        {"n_outside_expected", n_outside},
        {"n_no_header", n_no_header},
        {"n_workers", static_cast<int64_t>(members.size())},
        {"workers", workers},
        {"kept_files", kept_files},
        {"n_kept_written", n_kept_written},
        {"n_kept_not_written", n_kept_not_written},
        {"frames_per_s", elapsed_s > 0 ? static_cast<double>(counts.n_frames) / elapsed_s : 0.0},
        {"elapsed_s", elapsed_s},
        {"model", first.value("model", json())},
        {"model_info", first.value("model_info", json())},
        {"timing",
         {{"cpu_s", cpu_s}, {"decode_s", decode_s}, {"infer_s", infer_s}, {"n_batches", n_batches}}},
        {"version", kVersion},
        {"git_hash", kGitHash}};
    summary.update(counts.to_json());
    DT_CHECK(counts.consistent(), FormatError, "series ", series,
             ": the merged counts break n_frames = n_kept + n_veto");
    m.summary = std::move(summary);
    result.n_frames += counts.n_frames;
    result.n_kept += counts.n_kept;
    result.n_veto += counts.n_veto;
    result.n_missing += n_missing;
    result.series.push_back({series, options.out / m.name, status, counts.n_frames,
                             counts.n_kept, counts.n_veto, n_missing,
                             static_cast<int64_t>(members.size())});
    merged.push_back(std::move(m));
  }
  result.n_series = static_cast<int64_t>(merged.size());

  json top_workers = json::array();
  int64_t n_stray = 0;
  json stray_errors = json::array();
  for (size_t k = 0; k < runs.size(); ++k) {
    const json& t = runs[k].top;
    top_workers.push_back({{"worker", static_cast<int64_t>(k)},
                           {"dir", options.inputs[k].string()},
                           {"host", t.value("host", json())},
                           {"pid", t.value("pid", json())},
                           {"endpoint", t.value("endpoint", json())},
                           {"fan_out", t.value("fan_out", json())},
                           {"n_messages", t.value("n_messages", json())},
                           {"n_stray_messages", t.value("n_stray_messages", json())},
                           {"n_series", t.value("n_series", json())},
                           {"n_frames", t.value("n_frames", json())}});
    n_stray += t.value("n_stray_messages", int64_t{0});
    if (t.contains("stray_errors") && t["stray_errors"].is_array()) {
      for (const auto& e : t["stray_errors"]) {
        if (stray_errors.size() < 20) stray_errors.push_back(e);
      }
    }
  }
  json top = {{"merged_from", json::array()},
              {"workers", top_workers},
              {"n_series", result.n_series},
              {"n_frames", result.n_frames},
              {"n_kept", result.n_kept},
              {"n_veto", result.n_veto},
              {"n_missing", result.n_missing},
              {"n_stray_messages", n_stray},
              {"stray_errors", stray_errors},
              {"series_folders", json::array()},
              {"version", kVersion},
              {"git_hash", kGitHash}};
  for (const auto& in : options.inputs) top["merged_from"].push_back(in.string());
  for (const auto& m : merged) top["series_folders"].push_back(m.name.string());

  // Write the set into OUT/.partial/, then publish it (stream_summary.json last).
  check_out_folder(options.out);
  StagedOutputs staged(options.out, {});
  const fs::path partial = staged.partial();
  json run;
  std::vector<std::string> files;
  if (!options.run_json.empty()) {
    write_file_atomically(partial / "run.json", options.run_json);
    files.push_back("run.json");
    run = json::parse(options.run_json, nullptr, false);
    if (run.is_discarded()) run = json();
  }
  for (const auto& m : merged) {
    fs::create_directories(partial / m.name, ec);
    DT_CHECK(!ec, IoError, "cannot create ", (partial / m.name).string(), ": ", ec.message());
    write_file_atomically(partial / m.name / "results.jsonl", m.results);
    files.push_back((m.name / "results.jsonl").string());
    if (options.write_reports) {
      write_file_atomically(partial / m.name / "report.html",
                            render_triage_report(partial / m.name / "results.jsonl", m.summary,
                                                 run, TriageReportOptions{}));
      files.push_back((m.name / "report.html").string());
    }
    write_file_atomically(partial / m.name / "summary.json", dump_json(m.summary, 2) + "\n");
    files.push_back((m.name / "summary.json").string());
  }
  write_file_atomically(partial / kTopSummary, dump_json(top, 2) + "\n");
  files.push_back(kTopSummary);
  // The old set goes first: its marker, then its series folders (OUT claims no complete set
  // from here until the new marker is in place), then the new files move in.
  fs::remove(options.out / kTopSummary, ec);
  DT_CHECK(!ec, IoError, "cannot remove ", (options.out / kTopSummary).string(), ": ",
           ec.message());
  std::vector<fs::path> old_series;
  for (const auto& e : fs::directory_iterator(options.out)) {
    if (e.is_directory() && is_series_folder_name(e.path().filename().string())) {
      old_series.push_back(e.path());
    }
  }
  for (const auto& p : old_series) {
    fs::remove_all(p, ec);
    DT_CHECK(!ec, IoError, "cannot remove ", p.string(), ": ", ec.message());
  }
  for (const auto& m : merged) {
    fs::create_directories(options.out / m.name, ec);
    DT_CHECK(!ec, IoError, "cannot create ", (options.out / m.name).string(), ": ", ec.message());
  }
  staged.publish(files, kTopSummary);
  return result;
}

}  // namespace difftriage::stream
