// The evaluation report (include/difftriage/evaluate/eval_report.h): metrics.json as tables,
// the folder's figures inlined.
#include "difftriage/evaluate/eval_report.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "difftriage/core/atomic_file.h"
#include "difftriage/core/error.h"
#include "difftriage/core/json_text.h"
#include "difftriage/report/html.h"

namespace difftriage::evaluate {
namespace fs = std::filesystem;
using nlohmann::json;
using report::html_escape;

namespace {

std::string cell(const json& v) {
  if (v.is_null()) return "–";
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v.get<double>());
    return buf;
  }
  if (v.is_string()) return html_escape(v.get<std::string>());
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  std::string text = v.dump();
  if (text.size() > 120) text = text.substr(0, 120) + " …";
  return "<code>" + html_escape(text) + "</code>";
}

// The scalar entries of `o`, nested objects flattened one level ("confusion.tp"); long arrays
// (curves) are left to the figures.
std::vector<std::pair<std::string, json>> scalars(const json& o) {
  std::vector<std::pair<std::string, json>> out;
  if (!o.is_object()) return out;
  for (const auto& [k, v] : o.items()) {
    if (v.is_object()) {
      for (const auto& [k2, v2] : v.items()) {
        if (!v2.is_structured()) out.emplace_back(k + "." + k2, v2);
      }
    } else if (!v.is_array() || v.size() <= 8) {
      out.emplace_back(k, v);
    }
  }
  return out;
}

// Columns in first-seen order, each chance column moved right after the metric it belongs to
// ("accuracy" then "chance_accuracy" / "accuracy_chance").
std::vector<std::string> ordered_columns(const std::vector<std::string>& seen) {
  std::vector<std::string> out;
  auto is_chance = [](const std::string& c) { return c.find("chance") != std::string::npos; };
  for (const auto& c : seen) {
    if (is_chance(c)) continue;
    out.push_back(c);
    for (const auto& d : seen) {
      if (!is_chance(d)) continue;
      std::string stem = d;
      for (const char* cut : {"chance_", "_chance", "chance"}) {
        const auto at = stem.find(cut);
        if (at != std::string::npos) stem.erase(at, std::string(cut).size());
      }
      if (stem == c) out.push_back(d);
    }
  }
  for (const auto& d : seen) {
    if (std::find(out.begin(), out.end(), d) == out.end()) out.push_back(d);
  }
  return out;
}

// A table with one row per entry of `rows` (name → object), columns the union of their scalars.
std::string object_table(const std::vector<std::pair<std::string, json>>& rows,
                         const std::string& id) {
  std::vector<std::string> seen;
  for (const auto& [name, o] : rows) {
    for (const auto& [k, v] : scalars(o)) {
      if (std::find(seen.begin(), seen.end(), k) == seen.end()) seen.push_back(k);
    }
  }
  if (seen.empty()) return "";
  const auto columns = ordered_columns(seen);
  std::string s = "<table id=\"" + html_escape(id) + "\"><tr><th class=\"l\"></th>";
  for (const auto& c : columns) s += "<th>" + html_escape(c) + "</th>";
  s += "</tr>";
  for (const auto& [name, o] : rows) {
    s += "<tr><th class=\"l\">" + html_escape(name) + "</th>";
    const auto values = scalars(o);
    for (const auto& c : columns) {
      const auto it = std::find_if(values.begin(), values.end(),
                                   [&](const auto& kv) { return kv.first == c; });
      s += "<td>" + (it == values.end() ? std::string("–") : cell(it->second)) + "</td>";
    }
    s += "</tr>";
  }
  return s + "</table>\n";
}

std::string named_objects(const json& parent, const std::vector<std::string>& keys,
                          const std::string& id) {
  std::vector<std::pair<std::string, json>> rows;
  for (const auto& k : keys) {
    if (parent.contains(k) && parent[k].is_object()) rows.emplace_back(k, parent[k]);
  }
  return object_table(rows, id);
}

std::string labels_table(const json& labels, const std::string& id) {
  std::vector<std::pair<std::string, json>> rows;
  if (labels.is_object()) {
    for (const auto& [k, v] : labels.items()) rows.emplace_back(k, v);
  }
  return object_table(rows, id);
}

json read_json(const fs::path& path) {
  try {
    return json::parse(read_file(path));
  } catch (const json::exception& e) {
    throw FormatError(path.string() + ": " + e.what());
  }
}

std::string figure(const fs::path& png) {
  const std::string bytes = read_file(png);
  return "<figure><img style=\"max-width:560px;width:100%\" src=\"data:image/png;base64," +
         encode_base64(bytes) +
         "\" alt=\"" + html_escape(png.filename().string()) + "\"><figcaption>" +
         html_escape(png.filename().string()) + "</figcaption></figure>";
}

}  // namespace

std::string render_evaluate_report(const fs::path& folder) {
  const json m = read_json(folder / "metrics.json");
  const json run = fs::exists(folder / "run.json") ? read_json(folder / "run.json") : json();
  std::string body;
  if (run.is_object()) {
    std::string command = run.value("command_line", std::string());
    if (command.empty()) {
      command = "difftriage " + run.value("command", std::string("evaluate"));
      if (run.contains("options") && run["options"].is_object()) {
        for (const auto& [k, v] : run["options"].items()) {
          if (v.is_null() || (v.is_string() && v.get<std::string>().empty())) continue;
          command += " --" + k + " " + (v.is_string() ? v.get<std::string>() : v.dump());
        }
      }
    }
    body += "<p>Command: <code id=\"command\">" + html_escape(command) + "</code></p>\n";
  }
  body += "<table>";
  for (const char* k : {"dataset", "model", "n_frames", "n_errors", "inference_frames_per_s"}) {
    if (m.contains(k)) body += std::string("<tr><th class=\"l\">") + k + "</th><td class=\"l\">" + cell(m[k]) + "</td></tr>";
  }
  body += "</table>\n";
  body += "<h2>Labels (model)</h2>\n<p class=\"muted\">Each metric beside its chance level "
          "where one is defined (always predicting the majority class).</p>\n";
  body += m.contains("labels") ? labels_table(m["labels"], "labels") : "<p>none</p>\n";
  body += "<h2>Hit decision and veto operating point</h2>\n";
  body += named_objects(m, {"hit", "veto", "veto_visible"}, "hit");
  if (m.contains("thresholds")) body += "<p>Thresholds: " + cell(m["thresholds"]) + "</p>\n";
  const std::string other = named_objects(m, {"quality", "mosaic1", "mosaic2", "bright_spots"},
                                          "other");
  if (!other.empty()) body += "<h2>Quality, mosaic and spots</h2>\n" + other;
  if (m.contains("classical_baseline") && m["classical_baseline"].is_object()) {
    body += "<h2>Classical baselines beside the model</h2>\n<p class=\"muted\">The spot-counting "
            "hit finder and the ice-ring score on the same frames.</p>\n";
    const json& b = m["classical_baseline"];
    std::vector<std::pair<std::string, json>> rows;
    if (m.contains("hit") && m["hit"].is_object()) rows.emplace_back("model: hit", m["hit"]);
    if (m.contains("veto") && m["veto"].is_object()) rows.emplace_back("model: veto", m["veto"]);
    for (const auto& [k, v] : b.items()) {
      if (v.is_object()) rows.emplace_back("baseline: " + k, v);
    }
    body += object_table(rows, "baselines");
    if (m.contains("labels") && m["labels"].is_object()) {
      for (const char* label : {"ice", "badice", "blank"}) {
        if (m["labels"].contains(label)) {
          body += object_table({{std::string("model: ") + label, m["labels"][label]}},
                               std::string("model_") + label);
        }
      }
    }
  }
  if (m.contains("bootstrap") && m["bootstrap"].is_object()) {
    body += "<h2>Bootstrap intervals</h2>\n";
    std::vector<std::pair<std::string, json>> rows;
    for (const auto& [k, v] : m["bootstrap"].items()) {
      if (v.is_object()) rows.emplace_back(k, v);
    }
    body += rows.empty() ? "<p>" + cell(m["bootstrap"]) + "</p>" : object_table(rows, "bootstrap");
  }
  std::vector<fs::path> pngs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(folder, ec)) {
    if (e.is_regular_file() && e.path().extension() == ".png") pngs.push_back(e.path());
  }
  std::sort(pngs.begin(), pngs.end());
  body += "<h2>Curves and confusion matrices</h2>\n";
  if (pngs.empty()) {
    body += "<p>No figures (evaluate --no-plots).</p>\n";
  } else {
    for (const char* group : {"roc", "pr", "confusion", ""}) {
      std::string figs;
      for (auto it = pngs.begin(); it != pngs.end();) {
        const std::string name = it->filename().string();
        if (std::string(group).empty() || name.rfind(group, 0) == 0 ||
            name.find(std::string("_") + group) != std::string::npos) {
          figs += figure(*it);
          it = pngs.erase(it);
        } else {
          ++it;
        }
      }
      if (!figs.empty()) body += "<div>" + figs + "</div>\n";
    }
  }
  const std::string raw = m.dump(1);
  if (raw.size() < 200000) {  // the curves' points can be long: the file is beside the report
    body += "<details><summary>metrics.json</summary><pre>" + html_escape(raw) +
            "</pre></details>\n";
  }
  return report::html_page("difftriage evaluation report", body);
}

fs::path write_evaluate_report(const fs::path& folder) {
  const fs::path out = folder / "report.html";
  write_file_atomically(out, render_evaluate_report(folder));
  return out;
}

}  // namespace difftriage::evaluate
