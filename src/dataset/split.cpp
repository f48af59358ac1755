#include "difftriage/dataset/split.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <system_error>

#include "difftriage/core/error.h"
#include "difftriage/core/random.h"
#include "label_text.h"

namespace difftriage::dataset {
namespace fs = std::filesystem;

namespace {

// Shares within this of an integer count as that integer, so 0.7 × 10 = 7.000000000000001 and
// 0.29 × 100 = 28.999999999999996 both floor to what a person computes.
constexpr double kShareEpsilon = 1e-9;

std::string list_fractions(const std::vector<double>& fractions) {
  std::string text;
  for (const double f : fractions) {
    if (!text.empty()) text += ',';
    text += detail::concat(f);
  }
  return text;
}

void validate_options(const SplitOptions& options) {
  const auto& fractions = options.fractions;
  DT_CHECK(!fractions.empty(), ConfigError, "fractions must list at least one fraction");
  double sum = 0.0;
  for (size_t k = 0; k < fractions.size(); ++k) {
    DT_CHECK(std::isfinite(fractions[k]) && fractions[k] >= 0.0, ConfigError, "fractions ",
             list_fractions(fractions), ": fraction ", k + 1, " is ", fractions[k],
             "; each must be a number >= 0");
    sum += fractions[k];
  }
  DT_CHECK(std::abs(sum - 1.0) <= 1e-6, ConfigError, "fractions ", list_fractions(fractions),
           " must sum to 1, not ", sum);
  DT_CHECK(options.names.size() == fractions.size(), ConfigError, "names gives ",
           options.names.size(), " part names but fractions gives ", fractions.size(),
           " fractions");
  std::set<std::string> seen;
  for (const std::string& name : options.names) {
    // A name becomes the folder out/<name>: one plain path component.
    DT_CHECK(!name.empty() && name != "." && name != ".." &&
                 name.find_first_of("/\\") == std::string::npos,
             ConfigError, "names: '", name, "' is not a usable folder name");
    DT_CHECK(seen.insert(name).second, ConfigError, "names: '", name, "' appears twice");
  }
}

// FNV-1a: a fixed, platform-independent hash (std::hash is not).
uint64_t hash_key(const std::string& key) noexcept {
  uint64_t h = 0xCBF29CE484222325ULL;
  for (const unsigned char c : key) {
    h ^= c;
    h *= 0x100000001B3ULL;
  }
  return h;
}

// Uniform integer in [0, n), n ≥ 1, without modulo bias: draws below 2^64 mod n are rejected so
// the accepted range is a whole multiple of n. (std::uniform_int_distribution is
// implementation-defined, so it would break same-seed-same-split across standard libraries.)
uint64_t draw_below(std::mt19937_64& rng, uint64_t n) {
  const uint64_t threshold = (0 - n) % n;  // 2^64 mod n
  while (true) {
    const uint64_t x = rng();
    if (x >= threshold) return x % n;
  }
}

// Fisher–Yates (Durstenfeld): every permutation equally likely.
template <typename T>
void shuffle_in_place(std::vector<T>& items, std::mt19937_64& rng) {
  for (size_t i = items.size(); i > 1; --i) {
    const size_t j = static_cast<size_t>(draw_below(rng, i));
    std::swap(items[i - 1], items[j]);
  }
}

// Edmonds–Karp maximum flow (shortest augmenting paths, BFS in insertion order, so the result
// is deterministic). Small graphs only: the split's leftovers have at most a few hundred strata.
class LeftoverFlow {
 public:
  explicit LeftoverFlow(size_t n_nodes) : edges_(n_nodes) {}

  /// Adds an edge and returns its index in the edge list of `from`.
  size_t add_edge(size_t from, size_t to, int64_t capacity) {
    edges_[from].push_back({to, edges_[to].size(), capacity, 0});
    edges_[to].push_back({from, edges_[from].size() - 1, 0, 0});
    return edges_[from].size() - 1;
  }
  void add_capacity(size_t from, size_t edge, int64_t extra) {
    edges_[from][edge].capacity += extra;
  }
  int64_t flow(size_t from, size_t edge) const { return edges_[from][edge].flow; }

  /// Pushes flow from `source` to `sink` until no augmenting path is left.
  void augment(size_t source, size_t sink) {
    const size_t n = edges_.size();
    std::vector<std::pair<size_t, size_t>> parent(n);  // (node, edge index) we came from
    while (true) {
      std::vector<bool> seen(n, false);
      std::vector<size_t> queue = {source};
      seen[source] = true;
      for (size_t head = 0; head < queue.size() && !seen[sink]; ++head) {
        const size_t u = queue[head];
        for (size_t e = 0; e < edges_[u].size(); ++e) {
          const Edge& edge = edges_[u][e];
          if (seen[edge.to] || edge.capacity - edge.flow <= 0) continue;
          seen[edge.to] = true;
          parent[edge.to] = {u, e};
          queue.push_back(edge.to);
        }
      }
      if (!seen[sink]) return;
      int64_t push = std::numeric_limits<int64_t>::max();
      for (size_t v = sink; v != source; v = parent[v].first) {
        const Edge& edge = edges_[parent[v].first][parent[v].second];
        push = std::min(push, edge.capacity - edge.flow);
      }
      for (size_t v = sink; v != source; v = parent[v].first) {
        Edge& edge = edges_[parent[v].first][parent[v].second];
        edge.flow += push;
        edges_[edge.to][edge.reverse].flow -= push;
      }
    }
  }

 private:
  struct Edge {
    size_t to;
    size_t reverse;  // index of the reverse edge in edges_[to]
    int64_t capacity;
    int64_t flow;
  };
  std::vector<std::vector<Edge>> edges_;
};

// The relative link target from `link`'s folder to `target`. Both sides are resolved through
// existing symbolic links first (fs::relative uses weakly_canonical), so ".." steps follow the
// real folders, and a source image that is itself a link (a split of a split) is linked to
// directly.
fs::path relative_link_target(const fs::path& link, const fs::path& target) {
  std::error_code ec;
  fs::path relative = fs::relative(target, link.parent_path(), ec);
  if (ec || relative.empty()) return fs::absolute(target);
  return relative;
}

void replace_symlink(const fs::path& link, const fs::path& target) {
  std::error_code ec;
  const fs::file_status existing = fs::symlink_status(link, ec);
  if (fs::exists(existing) || fs::is_symlink(existing)) {
    DT_CHECK(fs::is_symlink(existing), IoError, link.string(),
             ": exists and is not a symbolic link; refusing to replace it");
    fs::remove(link, ec);
    DT_CHECK(!ec, IoError, link.string(), ": cannot remove the old link: ", ec.message());
  }
  fs::create_directories(link.parent_path(), ec);
  DT_CHECK(!ec, IoError, link.parent_path().string(), ": cannot create folder: ", ec.message());
  fs::create_symlink(relative_link_target(link, target), link, ec);
  DT_CHECK(!ec, IoError, link.string(), ": cannot create symbolic link: ", ec.message());
}

}  // namespace

std::string stratum_key(const Sample& sample) {
  std::string key = "L";
  if (sample.labels) {
    for (const uint8_t label : *sample.labels) key += label ? '1' : '0';
  } else {
    key += '-';
  }
  key += "|Q";
  key += sample.quality ? quality_name(*sample.quality) : "-";
  return key;
}

Split split_dataset(const Dataset& dataset, const SplitOptions& options) {
  validate_options(options);
  const size_t n_parts = options.fractions.size();
  const double sum = std::accumulate(options.fractions.begin(), options.fractions.end(), 0.0);
  std::vector<double> fractions(n_parts);
  for (size_t k = 0; k < n_parts; ++k) fractions[k] = options.fractions[k] / sum;

  // Strata in key order (std::map: the same order everywhere), members in sample order.
  std::map<std::string, std::vector<size_t>> strata_by_key;
  for (size_t i = 0; i < dataset.samples.size(); ++i) {
    strata_by_key[stratum_key(dataset.samples[i])].push_back(i);
  }
  struct Stratum {
    std::vector<size_t> members;
    std::vector<int64_t> counts;    // per part
    std::vector<double> remainder;  // fraction × size − floor, per part
    int64_t n_left = 0;             // members not yet given to a part after the floors
  };
  std::vector<Stratum> strata;
  strata.reserve(strata_by_key.size());
  for (auto& [key, members] : strata_by_key) {
    Stratum stratum;
    stratum.members = std::move(members);
    // Each stratum has its own generator, seeded from the seed and its key, so its shuffle does
    // not depend on which other strata exist.
    std::mt19937_64 rng(splitmix64(options.seed ^ splitmix64(hash_key(key))));
    shuffle_in_place(stratum.members, rng);
    strata.push_back(std::move(stratum));
  }

  // Allocation rule (the guarantee: every part holds floor or ceil of f_k × size of every
  // stratum, and floor or ceil of f_k × N in all):
  //  1. Every stratum gives part k floor(f_k × size) samples.
  //  2. The leftovers (fewer than the number of parts per stratum) form a small transport
  //     problem: stratum h still gives r_h samples, at most one to each part with a non-zero
  //     fractional share f_k × size − floor, and part k receives between floor and ceil of
  //     D_k = f_k × N − (what step 1 gave it). The fractional shares themselves solve it, so an
  //     integral solution exists (flow polytopes are integral); max-flow finds one. First every
  //     part is filled to floor(D_k), then parts get their ceil one at a time in order of the
  //     largest global remainder f_k × N − floor (the Hamilton rule), lower index first on ties.
  //  3. Strata are visited in a seeded random order, and each stratum's parts in order of its
  //     largest fractional share, so leftovers favour no stratum key and go where they are
  //     most due.
  const auto n_total = static_cast<double>(dataset.samples.size());
  std::vector<double> part_due(n_parts);  // D_k
  for (size_t k = 0; k < n_parts; ++k) part_due[k] = fractions[k] * n_total;
  for (Stratum& stratum : strata) {
    const auto size = static_cast<double>(stratum.members.size());
    stratum.counts.resize(n_parts);
    stratum.remainder.resize(n_parts);
    stratum.n_left = static_cast<int64_t>(stratum.members.size());
    for (size_t k = 0; k < n_parts; ++k) {
      const double share = fractions[k] * size;
      stratum.counts[k] = static_cast<int64_t>(std::floor(share + kShareEpsilon));
      stratum.remainder[k] = std::max(0.0, share - static_cast<double>(stratum.counts[k]));
      stratum.n_left -= stratum.counts[k];
      part_due[k] -= static_cast<double>(stratum.counts[k]);
    }
  }
  std::vector<size_t> visit(strata.size());
  std::iota(visit.begin(), visit.end(), size_t{0});
  std::mt19937_64 order_rng(splitmix64(options.seed ^ 0x5354524154554D53ULL));  // "STRATUMS"
  shuffle_in_place(visit, order_rng);

  const size_t kSource = 0, kSink = 1, first_stratum = 2, first_part = 2 + strata.size();
  LeftoverFlow flow(first_part + n_parts);
  struct Cell {
    size_t stratum, part, edge;
  };
  std::vector<Cell> cells;
  std::vector<size_t> parts(n_parts);
  for (const size_t h : visit) {
    const Stratum& stratum = strata[h];
    (void)flow.add_edge(kSource, first_stratum + h, stratum.n_left);
    std::iota(parts.begin(), parts.end(), size_t{0});
    std::stable_sort(parts.begin(), parts.end(), [&](size_t a, size_t b) {
      return stratum.remainder[a] > stratum.remainder[b];
    });
    for (const size_t k : parts) {
      if (stratum.remainder[k] <= kShareEpsilon) continue;
      cells.push_back({h, k, flow.add_edge(first_stratum + h, first_part + k, 1)});
    }
  }
  std::vector<size_t> sink_edge(n_parts);
  std::vector<int64_t> due_floor(n_parts), due_ceil(n_parts);
  for (size_t k = 0; k < n_parts; ++k) {
    due_floor[k] =
        std::max<int64_t>(0, static_cast<int64_t>(std::floor(part_due[k] + kShareEpsilon)));
    due_ceil[k] =
        std::max(due_floor[k], static_cast<int64_t>(std::ceil(part_due[k] - kShareEpsilon)));
    sink_edge[k] = flow.add_edge(first_part + k, kSink, due_floor[k]);
  }
  flow.augment(kSource, kSink);
  std::iota(parts.begin(), parts.end(), size_t{0});
  std::stable_sort(parts.begin(), parts.end(), [&](size_t a, size_t b) {
    return part_due[a] - static_cast<double>(due_floor[a]) >
           part_due[b] - static_cast<double>(due_floor[b]);
  });
  for (const size_t k : parts) {
    if (due_ceil[k] == due_floor[k]) continue;
    flow.add_capacity(first_part + k, sink_edge[k], due_ceil[k] - due_floor[k]);
    flow.augment(kSource, kSink);
  }
  for (const Cell& cell : cells) {
    const int64_t given = flow.flow(first_stratum + cell.stratum, cell.edge);
    strata[cell.stratum].counts[cell.part] += given;
    strata[cell.stratum].n_left -= given;
  }
  // Only rounding trouble could leave samples unplaced; they go to the largest shares.
  for (Stratum& stratum : strata) {
    std::iota(parts.begin(), parts.end(), size_t{0});
    std::stable_sort(parts.begin(), parts.end(), [&](size_t a, size_t b) {
      return stratum.remainder[a] > stratum.remainder[b];
    });
    for (int64_t i = 0; i < stratum.n_left; ++i)
      ++stratum.counts[parts[static_cast<size_t>(i) % n_parts]];
    stratum.n_left = 0;
  }

  Split split;
  split.names = options.names;
  split.parts.resize(n_parts);
  for (const Stratum& stratum : strata) {
    size_t next = 0;
    for (size_t k = 0; k < n_parts; ++k) {
      for (int64_t c = 0; c < stratum.counts[k]; ++c) {
        split.parts[k].push_back(stratum.members[next++]);
      }
    }
  }
  for (auto& part : split.parts) std::sort(part.begin(), part.end());
  return split;
}

void write_split(const Dataset& dataset, const Split& split, const fs::path& out) {
  DT_CHECK(split.names.size() == split.parts.size(), ConfigError, "split has ", split.names.size(),
           " names but ", split.parts.size(), " parts");
  std::error_code ec;
  for (size_t k = 0; k < split.parts.size(); ++k) {
    const std::string& name = split.names[k];
    DT_CHECK(!name.empty() && name != "." && name != ".." &&
                 name.find_first_of("/\\") == std::string::npos,
             ConfigError, "split part name '", name, "' is not a usable folder name");
    const fs::path folder = out / name;
    fs::create_directories(folder, ec);
    DT_CHECK(!ec, IoError, folder.string(), ": cannot create folder: ", ec.message());
    // Writing into the source folder would overwrite its label files and images.
    DT_CHECK(!fs::equivalent(folder, dataset.root, ec), IoError, folder.string(),
             ": is the source dataset folder itself; choose another output folder");

    std::vector<size_t> members = split.parts[k];
    std::sort(members.begin(), members.end());
    std::vector<MultiLabelRow> multi_rows;
    std::vector<QualityRow> quality_rows;
    for (const size_t i : members) {
      DT_CHECK(i < dataset.samples.size(), ConfigError, "split part '", name, "' refers to sample ",
               i, " of a dataset with ", dataset.samples.size());
      const Sample& sample = dataset.samples[i];
      if (sample.labels) {
        MultiLabelRow row;
        row.file = sample.file;
        row.labels = *sample.labels;
        row.mosaic1 = sample.mosaic1;
        row.mosaic2 = sample.mosaic2;
        row.line = sample.multilabel_line;
        multi_rows.push_back(std::move(row));
      }
      if (sample.quality) {
        QualityRow row;
        row.file = sample.file;
        row.quality = *sample.quality;
        row.mosaic1 = sample.mosaic1;
        row.mosaic2 = sample.mosaic2;
        row.line = sample.quality_line;
        quality_rows.push_back(std::move(row));
      }
      replace_symlink(folder / sample.file, dataset.root / sample.file);
    }
    // Samples list multiclasses.txt rows first, so categories1.txt rows of images in both files
    // need their own source order back.
    std::stable_sort(quality_rows.begin(), quality_rows.end(),
                     [](const QualityRow& a, const QualityRow& b) { return a.line < b.line; });
    if (dataset.has_multilabel_file) write_multiclasses(folder / kMultilabelFileName, multi_rows);
    if (dataset.has_quality_file) write_categories(folder / kQualityFileName, quality_rows);
  }
}

}  // namespace difftriage::dataset
