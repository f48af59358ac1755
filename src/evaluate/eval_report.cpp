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

// One table of metrics.json objects: rows (title, object), columns (heading, key path "a.b"),
// "–" where a row lacks a value.
std::string metric_table(const std::vector<std::pair<std::string, const json*>>& rows,
                         const std::vector<std::pair<std::string, std::string>>& columns,
                         const std::string& id) {
  std::string s = "<table id=\"" + html_escape(id) + "\"><tr><th class=\"l\"></th>";
  for (const auto& c : columns) s += "<th>" + html_escape(c.first) + "</th>";
  s += "</tr>";
  for (const auto& [title, o] : rows) {
    if (o == nullptr || !o->is_object()) continue;
    s += "<tr><th class=\"l\">" + html_escape(title) + "</th>";
    for (const auto& c : columns) {
      const json* v = o;
      size_t start = 0;
      while (v != nullptr && start <= c.second.size()) {
        const size_t dot = c.second.find('.', start);
        const std::string key = c.second.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        v = v->is_object() && v->contains(key) ? &(*v)[key] : nullptr;
        if (dot == std::string::npos) break;
        start = dot + 1;
      }
      s += "<td>" + (v == nullptr ? std::string("–") : cell(*v)) + "</td>";
    }
    s += "</tr>";
  }
  return s + "</table>\n";
}

const json* find(const json& o, const std::vector<std::string>& path) {
  const json* v = &o;
  for (const auto& k : path) {
    if (!v->is_object() || !v->contains(k)) return nullptr;
    v = &(*v)[k];
  }
  return v;
}

// The binary metrics as the CLI prints them: each accuracy beside chance (always the majority
// class) and PR-AUC beside its chance (the positive fraction).
const std::vector<std::pair<std::string, std::string>> kBinaryColumns = {
    {"n", "n"},
    {"positives", "n_positive"},
    {"threshold", "threshold"},
    {"accuracy", "accuracy"},
    {"chance", "majority_accuracy"},
    {"balanced accuracy", "balanced_accuracy"},
    {"precision", "precision"},
    {"recall", "recall"},
    {"specificity", "specificity"},
    {"F1", "f1"},
    {"ROC-AUC", "roc_auc"},
    {"PR-AUC", "pr_auc"},
    {"PR-AUC chance", "positive_fraction"},
    {"TP", "confusion.tp"},
    {"FP", "confusion.fp"},
    {"TN", "confusion.tn"},
    {"FN", "confusion.fn"}};
const std::vector<std::pair<std::string, std::string>> kVetoColumns = {
    {"keep target", "keep_fraction_target"},
    {"threshold", "threshold"},
    {"hits kept", "n_positive_kept"},
    {"of hits", "n_positive"},
    {"kept fraction", "kept_fraction"},
    {"blanks rejected", "n_negative_rejected"},
    {"of blanks", "n_negative"},
    {"rejected fraction", "rejected_fraction"}};

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
  for (const char* k : {"dataset", "model", "n_frames", "n_errors", "hit_score", "inference_frames_per_s"}) {
    if (m.contains(k)) body += std::string("<tr><th class=\"l\">") + k + "</th><td class=\"l\">" + cell(m[k]) + "</td></tr>";
  }
  body += "</table>\n";
  body += "<h2>Labels and the hit decision</h2>\n<p class=\"muted\">chance = accuracy of always "
          "predicting the majority class; PR-AUC chance = the positive fraction. \"hit\" is "
          "classify's keep decision (p_hit against the hit threshold, uncertain kept).</p>\n";
  std::vector<std::pair<std::string, const json*>> label_rows;
  if (m.contains("labels") && m["labels"].is_object()) {
    for (const auto& [k, v] : m["labels"].items()) label_rows.emplace_back(k, &v);
  }
  label_rows.emplace_back("hit (p_hit)", find(m, {"hit"}));
  body += metric_table(label_rows, kBinaryColumns, "labels");
  if (m.contains("thresholds")) body += "<p>Thresholds: " + cell(m["thresholds"]) + "</p>\n";
  body += "<h2>Veto operating point</h2>\n<p class=\"muted\">The p_hit threshold that keeps the "
          "target share of crystal frames (\"visible\": hits are crystal frames with at least "
          "one bright spot), beside the spot-count baseline's.</p>\n";
  body += metric_table({{"model: veto (p_hit)", find(m, {"veto"})},
                        {"model: veto, visible hits", find(m, {"veto_visible"})},
                        {"baseline: veto (n_spots)", find(m, {"classical_baseline", "hit_finder", "veto"})},
                        {"baseline: veto (n_spots), visible hits",
                         find(m, {"classical_baseline", "hit_finder", "veto_visible"})}},
                       kVetoColumns, "veto");
  if (const json* q = find(m, {"quality"}); q != nullptr && q->is_object()) {
    body += "<h2>Quality</h2>\n";
    body += metric_table({{"quality", q}},
                         {{"n", "n"}, {"accuracy", "accuracy"}, {"chance", "majority_accuracy"},
                          {"chance class", "majority_class"}, {"balanced accuracy", "balanced_accuracy"},
                          {"macro F1", "macro_f1"}},
                         "quality");
    if (q->contains("class_names") && q->contains("confusion") && (*q)["confusion"].is_array()) {
      const json& names = (*q)["class_names"];
      std::string t = "<table id=\"quality_confusion\"><tr><th class=\"l\">true \\ predicted</th>";
      for (const auto& n : names) t += "<th>" + cell(n) + "</th>";
      t += "</tr>";
      for (size_t i = 0; i < (*q)["confusion"].size() && i < names.size(); ++i) {
        t += "<tr><th class=\"l\">" + cell(names[i]) + "</th>";
        for (const auto& c : (*q)["confusion"][i]) t += "<td>" + cell(c) + "</td>";
        t += "</tr>";
      }
      body += t + "</table>\n";
    }
  }
  std::vector<std::pair<std::string, const json*>> regression;
  for (const char* k : {"mosaic1", "mosaic2", "bright_spots"}) regression.emplace_back(k, find(m, {k}));
  body += "<h2>Mosaic and spots (regression)</h2>\n" +
          metric_table(regression, {{"n", "n"}, {"MAE", "mae"}, {"RMSE", "rmse"}, {"R2", "r2"},
                                    {"baseline MAE", "baseline_mae"}, {"baseline RMSE", "baseline_rmse"}},
                       "regression");
  if (const json* b = find(m, {"classical_baseline"}); b != nullptr && b->is_object()) {
    body += "<h2>Classical baselines beside the model</h2>\n<p class=\"muted\">The spot-counting "
            "hit finder (n_spots) and the ice-ring score on the same frames.</p>\n";
    body += metric_table({{"model: hit (p_hit)", find(m, {"hit"})},
                          {"baseline: hit (n_spots)", find(*b, {"hit_finder", "metrics"})},
                          {"model: ice", find(m, {"labels", "ice"})},
                          {"baseline: ice (ice_score)", find(*b, {"ice", "metrics"})},
                          {"model: badice", find(m, {"labels", "badice"})},
                          {"baseline: badice (ice_score)", find(*b, {"badice", "metrics"})}},
                         kBinaryColumns, "baselines");
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
