// difftriage classify INPUT... --out DIR --model M — triage unlabelled frames with a trained
// model: DIR/results.jsonl (one line per input frame, in input order), DIR/hits.lst (CrystFEL
// event list of the kept frames) and DIR/summary.json.
//
// Inputs are files, folders (their regular files, sorted; label files and *.json sidecars
// skipped) and `@list.lst` event lists (one `path` or `path //N` per line). A plain path means
// frame 0. Frames are decoded on worker threads one batch at a time, then classified as a batch.
//
// Decision (fail-open): a frame is vetoed only when the model is confident it is blank, i.e.
// p_hit = 1 - p(blank) is below the hit threshold (1 - threshold("blank")) and outside the
// uncertainty band. A frame within the band is kept and flagged "uncertain"; a frame that cannot
// be read is kept with its error and the flag "unreadable". Exit 0 when every frame was
// processed (even with per-frame errors), 3 when no input frame could be read.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"
#include "difftriage/core/atomic_file.h"
#include "difftriage/core/error.h"
#include "difftriage/io/image_io.h"
#include "difftriage/models/classifier.h"
#include "difftriage/models/model_info.h"
#include "frame_address.h"

namespace difftriage::cli {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

struct ClassifyArgs {
  std::vector<std::string> inputs;
  std::string out, model;
  int n_threads = 2;
  int64_t batch_size = 32;
};

/// Files of a folder that are frames: regular files, sorted, without label files and sidecars.
std::vector<fs::path> list_frame_files(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    const std::string name = it->path().filename().string();
    if (name == "multiclasses.txt" || name == "categories1.txt") continue;
    if (it->path().extension() == ".json") continue;
    files.push_back(it->path());
  }
  DT_CHECK(!ec, IoError, dir.string(), ": cannot list folder: ", ec.message());
  std::sort(files.begin(), files.end());
  return files;
}

/// Expands the command-line inputs into frame addresses, in order.
/// @throws IoError for an unreadable list file or folder; ConfigError for a bad `//N`.
std::vector<FrameAddress> expand_inputs(const std::vector<std::string>& inputs) {
  std::vector<FrameAddress> frames;
  for (const auto& input : inputs) {
    if (!input.empty() && input[0] == '@') {
      const fs::path list = input.substr(1);
      std::ifstream in(list);
      DT_CHECK(in.good(), IoError, list.string(), ": cannot open list file");
      std::string line;
      int64_t line_no = 0;
      while (std::getline(in, line)) {
        ++line_no;
        const auto first = line.find_first_not_of(" \t\r");
        if (first == std::string::npos || line[first] == '#') continue;
        const auto last = line.find_last_not_of(" \t\r");
        try {
          frames.push_back(parse_frame_address(line.substr(first, last - first + 1)));
        } catch (const ConfigError& e) {
          throw ConfigError(list.string() + ":" + std::to_string(line_no) + ": " + e.what());
        }
      }
    } else if (fs::is_directory(input)) {
      for (const auto& f : list_frame_files(input)) frames.push_back({f, 0});
    } else {
      frames.push_back(parse_frame_address(input));
    }
  }
  return frames;
}

/// One frame's row of results.jsonl.
struct FrameResult {
  json row;
  bool keep = true;
  bool uncertain = false;
  bool error = false;
};

json null_map(const std::vector<std::string>& keys) {
  json m = json::object();
  for (const auto& k : keys) m[k] = nullptr;
  return m;
}

const std::vector<std::string>& label_keys() {
  static const std::vector<std::string> keys(models::kLabelNames.begin(),
                                             models::kLabelNames.end());
  return keys;
}
const std::vector<std::string>& quality_keys() {
  static const std::vector<std::string> keys(models::kQualityClassNames.begin(),
                                             models::kQualityClassNames.end());
  return keys;
}

json base_row(const FrameAddress& address) {
  return {{"path", address.path.string()},
          {"frame", address.frame},
          {"p", null_map(label_keys())},
          {"labels", null_map(label_keys())},
          {"quality", nullptr},
          {"p_quality", null_map(quality_keys())},
          {"mosaic1", nullptr},
          {"mosaic2", nullptr},
          {"decision", "keep"},
          {"flags", json::array()},
          {"error", nullptr}};
}

FrameResult error_result(const FrameAddress& address, const std::string& message) {
  FrameResult r;
  r.row = base_row(address);
  r.row["error"] = message;
  r.row["flags"].push_back("unreadable");
  r.error = true;
  return r;
}

FrameResult prediction_result(const FrameAddress& address, const models::Prediction& p,
                              const models::ModelMetadata& meta) {
  FrameResult r;
  r.row = base_row(address);
  std::optional<double> p_blank;
  auto set_label = [&](const std::string& name, double prob) {
    if (!r.row["p"].contains(name)) return;
    r.row["p"][name] = prob;
    r.row["labels"][name] = prob >= meta.threshold(name) ? 1 : 0;
    if (name == "blank") p_blank = prob;
  };
  for (size_t i = 0; i < p.label_probabilities.size() && i < meta.label_names.size(); ++i) {
    set_label(meta.label_names[i], p.label_probabilities[i]);
  }
  for (const auto& [name, prob] : p.binary) set_label(name, prob);
  for (size_t i = 0; i < p.quality_probabilities.size() && i < meta.quality_names.size(); ++i) {
    if (r.row["p_quality"].contains(meta.quality_names[i])) {
      r.row["p_quality"][meta.quality_names[i]] = p.quality_probabilities[i];
    }
  }
  if (p.quality >= 0 && p.quality < static_cast<int>(meta.quality_names.size())) {
    r.row["quality"] = meta.quality_names[static_cast<size_t>(p.quality)];
  }
  if (p.mosaic.size() >= 2) {
    r.row["mosaic1"] = p.mosaic[0];
    r.row["mosaic2"] = p.mosaic[1];
  }
  if (p_blank) {
    // Hit = not blank; the hit threshold mirrors the blank one so both views agree.
    const double p_hit = 1.0 - *p_blank;
    const auto d = models::decide(p_hit, 1.0 - meta.threshold("blank"), meta.uncertainty_band);
    if (d == models::Decision::kNo) {
      r.keep = false;
      r.row["decision"] = "veto";
    } else if (d == models::Decision::kUncertain) {
      r.uncertain = true;
      r.row["flags"].push_back("uncertain");
    }
  } else {
    r.row["flags"].push_back("no_blank_output");  // the model cannot veto: keep everything
  }
  return r;
}

/// Decodes frames [begin, end) on up to n_threads threads. Errors become messages.
void decode_batch(const std::vector<FrameAddress>& frames, size_t begin, size_t end, int n_threads,
                  std::vector<AnyImage>& images, std::vector<std::string>& errors) {
  const size_t n = end - begin;
  images.assign(n, AnyImage{});
  errors.assign(n, std::string{});
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t k = next++; k < n; k = next++) {
      const auto& a = frames[begin + k];
      try {
        io::ReadOptions opt;
        opt.frame = a.frame;
        images[k] = io::read_image(a.path, opt);
      } catch (const std::exception& e) {
        errors[k] = e.what();
      }
    }
  };
  const size_t n_workers = std::min<size_t>(static_cast<size_t>(std::max(1, n_threads)), n);
  std::vector<std::thread> pool;
  for (size_t t = 1; t < n_workers; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
}

void run_classify(const ClassifyArgs& a) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto frames = expand_inputs(a.inputs);
  DT_CHECK(!frames.empty(), IoError, "classify: the inputs name no frames");
  const auto clf = models::Classifier::load(a.model);
  const auto& meta = clf.metadata();
  at::set_num_threads(a.n_threads);
  const fs::path out = a.out;
  make_output_dir(out);

  std::string results, hits;
  int64_t n_kept = 0, n_veto = 0, n_uncertain = 0, n_errors = 0;
  std::vector<AnyImage> images;
  std::vector<std::string> errors;
  const size_t batch = static_cast<size_t>(a.batch_size);
  for (size_t begin = 0; begin < frames.size(); begin += batch) {
    const size_t end = std::min(frames.size(), begin + batch);
    decode_batch(frames, begin, end, a.n_threads, images, errors);
    std::vector<size_t> ok;
    std::vector<AnyImage> good;
    for (size_t k = 0; k < images.size(); ++k) {
      if (errors[k].empty()) {
        ok.push_back(k);
        good.push_back(std::move(images[k]));
      }
    }
    std::vector<std::optional<models::Prediction>> preds(images.size());
    try {
      auto p = clf.classify(good);
      for (size_t j = 0; j < ok.size(); ++j) preds[ok[j]] = std::move(p[j]);
    } catch (const std::exception&) {
      // One bad frame (e.g. empty) fails the whole batch: classify one by one to isolate it.
      for (size_t j = 0; j < ok.size(); ++j) {
        try {
          preds[ok[j]] = clf.classify(good[j]);
        } catch (const std::exception& e) {
          errors[ok[j]] = e.what();
        }
      }
    }
    for (size_t k = 0; k < images.size(); ++k) {
      const auto& addr = frames[begin + k];
      const FrameResult r = preds[k] ? prediction_result(addr, *preds[k], meta)
                                     : error_result(addr, errors[k]);
      n_errors += r.error;
      n_uncertain += r.uncertain;
      if (r.keep) {
        ++n_kept;
        hits += addr.path.string() + " //" + std::to_string(addr.frame) + "\n";
      } else {
        ++n_veto;
      }
      results += r.row.dump() + "\n";
    }
  }
  const double elapsed_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto n_frames = static_cast<int64_t>(frames.size());
  const int64_t n_readable = n_frames - n_errors;
  write_file_atomically(out / "results.jsonl", results);
  write_file_atomically(out / "hits.lst", hits);
  const json summary = {
      {"n_frames", n_frames},
      {"n_kept", n_kept},
      {"n_veto", n_veto},
      {"n_uncertain", n_uncertain},
      {"n_errors", n_errors},
      // Kept share of the frames that could be read (unreadable frames are kept, not hits).
      {"hit_rate", n_readable > 0 ? static_cast<double>(n_kept - n_errors) / n_readable : 0.0},
      {"frames_per_s", elapsed_s > 0 ? n_frames / elapsed_s : 0.0},
      {"elapsed_s", elapsed_s},
      {"model", a.model}};
  write_file_atomically(out / "summary.json", summary.dump(2) + "\n");
  std::printf("%lld frame(s): %lld kept, %lld vetoed, %lld uncertain, %lld unreadable "
              "(%.1f frames/s)\nwrote %s/{results.jsonl, hits.lst, summary.json}\n",
              static_cast<long long>(n_frames), static_cast<long long>(n_kept),
              static_cast<long long>(n_veto), static_cast<long long>(n_uncertain),
              static_cast<long long>(n_errors), summary["frames_per_s"].get<double>(),
              a.out.c_str());
  if (n_readable == 0) {
    std::fprintf(stderr, "difftriage: error: none of the %lld input frame(s) could be read\n",
                 static_cast<long long>(n_frames));
    throw ExitRequest{kExitData};
  }
}

}  // namespace

void register_classify(CLI::App& root) {
  auto a = std::make_shared<ClassifyArgs>();
  CLI::App* cmd = root.add_subcommand(
      "classify",
      "Triage frames with a trained model: DIR/results.jsonl (probabilities, labels, quality, "
      "mosaic, keep/veto decision per frame), DIR/hits.lst (CrystFEL event list of kept frames) "
      "and DIR/summary.json. Vetoes only frames confidently blank; uncertain and unreadable "
      "frames are kept");
  cmd->add_option("inputs", a->inputs,
                  "Frame files, folders (all frame files inside) or @list.lst event lists "
                  "(`path` or `path //N` per line); a plain path means frame 0")
      ->required();
  cmd->add_option("--out", a->out, "Output folder (created if missing)")->required();
  cmd->add_option("--model", a->model,
                  "Checkpoint (folder with model.pt + model.json). Required for now: no default "
                  "model ships yet")
      ->required();
  cmd->add_option("--threads", a->n_threads, "Decoding threads and Torch compute threads")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_option("--batch", a->batch_size, "Frames per forward pass")
      ->check(CLI::Range(int64_t{1}, int64_t{65536}))
      ->capture_default_str();
  cmd->callback([a] { run_classify(*a); });
}

}  // namespace difftriage::cli
