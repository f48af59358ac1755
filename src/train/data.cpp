// Training data: records, targets, augmentation, balance and the threaded batch loader.
#include "difftriage/train/data.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <random>
#include <utility>

#include "difftriage/core/error.h"
#include "difftriage/dataset/sidecar.h"
#include "difftriage/io/image_io.h"
#include "difftriage/models/model_info.h"
#include "difftriage/core/ordered_pipeline.h"
#include "difftriage/core/random.h"

namespace difftriage::train {

std::vector<FrameRecord> make_records(const dataset::Dataset& ds, const RecordOptions& options) {
  std::vector<FrameRecord> records;
  records.reserve(ds.samples.size());
  for (const auto& s : ds.samples) {
    FrameRecord r;
    r.file = s.file;
    r.path = s.path;
    r.source = ds.root.string();
    r.has_mosaic = s.labels.has_value() || s.quality.has_value();
    r.mosaic = {static_cast<float>(s.mosaic1), static_cast<float>(s.mosaic2)};
    if (s.labels) {
      for (size_t j = 0; j < 6; ++j) {
        r.labels[j] = static_cast<float>((*s.labels)[j]);
        r.label_mask[j] = 1;
      }
      r.has_crystal = (*s.labels)[0] == 0;
    }
    if (s.quality) {
      r.quality = static_cast<int>(*s.quality);
      const bool crystal = has_crystal(*s.quality);
      if (!r.has_crystal) r.has_crystal = crystal;
      if (!s.labels && options.derive_blank_from_quality) {
        r.labels[0] = crystal ? 0.0f : 1.0f;
        r.label_mask[0] = 1;
      }
    }
    r.mosaic2_known = s.labels ? (*s.labels)[3] != 0 : (s.quality && s.mosaic2 > 0.0);
    records.push_back(std::move(r));
  }
  return records;
}

std::vector<FrameRecord> load_records(const std::vector<std::filesystem::path>& folders,
                                      const RecordOptions& options) {
  std::vector<FrameRecord> all;
  for (const auto& folder : folders) {
    const auto ds = dataset::load_dataset(folder);
    DT_CHECK(!ds.samples.empty(), FormatError, folder.string(), ": the label files list no images");
    auto part = make_records(ds, options);
    all.insert(all.end(), std::make_move_iterator(part.begin()),
               std::make_move_iterator(part.end()));
  }
  return all;
}

size_t attach_bright_spots(std::vector<FrameRecord>& records) {
  size_t n = 0;
  for (auto& r : records) {
    if (const auto truth = dataset::read_sidecar_truth(r.path)) {
      r.log_bright_spots =
          static_cast<float>(std::log10(1.0 + static_cast<double>(truth->bright_spots)));
      ++n;
    }
  }
  return n;
}

uint64_t derive_seed(uint64_t seed, uint64_t a, uint64_t b) noexcept {
  return splitmix64(splitmix64(splitmix64(seed) ^ (a * 0x632be59bd9b4e019ULL)) ^
                    (b * 0x8cb92ba72f3d8dd7ULL + 1));
}

namespace {

// Unbiased draw in [0, n) (Lemire-free rejection; same on every platform, unlike
// std::uniform_int_distribution).
uint64_t bounded(std::mt19937_64& rng, uint64_t n) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = rng();
  while (x >= limit);
  return x % n;
}
// Uniform in [0, 1) from 53 random bits.
// A uniform double in [0, 1) from the top 53 bits of one draw (core/random.h's unit_double).
double uniform01(std::mt19937_64& rng) { return unit_double(rng()); }

}  // namespace

void augment_in_place(float* data, int64_t side, const AugmentOptions& options, uint64_t seed) {
  std::mt19937_64 rng(seed);
  // Dihedral group of the square: (transpose, flip rows, flip columns). Rotations alone are
  // {id, T+flip cols (90°), flip both (180°), T+flip rows (270°)}; flips alone are the
  // non-transposing elements; both give all 8.
  struct Op { bool t, fr, fc; };
  std::vector<Op> ops = {{false, false, false}};
  if (options.rotations) {
    ops.push_back({true, false, true});
    ops.push_back({false, true, true});
    ops.push_back({true, true, false});
  }
  if (options.flips) {
    ops.push_back({false, true, false});
    ops.push_back({false, false, true});
    if (options.rotations) {
      ops.push_back({true, false, false});
      ops.push_back({true, true, true});
    } else {
      ops.push_back({false, true, true});
    }
  }
  const Op op = ops[bounded(rng, ops.size())];
  const double log_g = std::log(std::max(options.gain_max, 1.0));
  const float gain = static_cast<float>(std::exp((2.0 * uniform01(rng) - 1.0) * log_g));
  const float offset = static_cast<float>((2.0 * uniform01(rng) - 1.0) * options.offset_max);
  const int64_t n = side * side;
  if (op.t || op.fr || op.fc) {
    std::vector<float> src(data, data + n);
    for (int64_t r = 0; r < side; ++r) {
      for (int64_t c = 0; c < side; ++c) {
        int64_t sr = op.t ? c : r, sc = op.t ? r : c;
        if (op.fr) sr = side - 1 - sr;
        if (op.fc) sc = side - 1 - sc;
        data[r * side + c] = src[sr * side + sc];
      }
    }
  }
  if (gain != 1.0f || offset != 0.0f) {
    for (int64_t i = 0; i < n; ++i) data[i] = data[i] * gain + offset;
  }
}

namespace {


double pos_weight(int64_t pos, int64_t neg) {
  if (pos == 0 || neg == 0) return 1.0;
  return std::clamp(static_cast<double>(neg) / static_cast<double>(pos), 0.05, 20.0);
}

}  // namespace

std::map<std::string, std::vector<double>> compute_pos_weights(
    const std::vector<FrameRecord>& records, const std::vector<std::string>& heads) {
  std::array<int64_t, 6> pos{}, neg{};
  for (const auto& r : records) {
    for (size_t j = 0; j < 6; ++j) {
      if (!r.label_mask[j]) continue;
      (r.labels[j] > 0.5f ? pos : neg)[j]++;
    }
  }
  std::map<std::string, std::vector<double>> out;
  for (const auto& h : heads) {
    if (h == models::kLabelsHead) {
      std::vector<double> w(6);
      for (size_t j = 0; j < 6; ++j) w[j] = pos_weight(pos[j], neg[j]);
      out[h] = w;
    } else if (const int j = label_index(h); j >= 0) {
      out[h] = {pos_weight(pos[j], neg[j])};
    }
  }
  return out;
}

std::vector<size_t> shuffled_order(size_t n, uint64_t seed) {
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::mt19937_64 rng(seed);
  for (size_t i = n; i > 1; --i) std::swap(order[i - 1], order[bounded(rng, i)]);
  return order;
}

std::vector<size_t> balanced_order(const std::vector<FrameRecord>& records, uint64_t seed) {
  const size_t n = records.size();
  if (n == 0) return {};
  auto key = [](const FrameRecord& r) {
    if (r.quality >= 0) return r.quality;
    if (r.has_crystal) return *r.has_crystal ? 11 : 10;
    return 12;
  };
  std::map<int, int64_t> counts;
  for (const auto& r : records) counts[key(r)]++;
  std::vector<double> cumulative(n);
  double total = 0;
  for (size_t i = 0; i < n; ++i) {
    total += 1.0 / static_cast<double>(counts[key(records[i])]);
    cumulative[i] = total;
  }
  std::mt19937_64 rng(seed);
  std::vector<size_t> order(n);
  for (size_t k = 0; k < n; ++k) {
    const double u = uniform01(rng) * total;
    order[k] = std::min<size_t>(
        static_cast<size_t>(std::upper_bound(cumulative.begin(), cumulative.end(), u) -
                            cumulative.begin()),
        n - 1);
  }
  return order;
}

// ---- cache ----------------------------------------------------------------------------------

struct TensorCache::Impl {
  int64_t side = 0;
  mutable std::mutex mutex;
  std::vector<std::vector<float>> slots;
};

TensorCache::TensorCache(size_t n_records, int64_t side) : impl_(std::make_unique<Impl>()) {
  impl_->side = side;
  impl_->slots.resize(n_records);
}
TensorCache::~TensorCache() = default;

bool TensorCache::get(size_t index, float* out) const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  const auto& s = impl_->slots.at(index);
  if (s.empty()) return false;
  std::memcpy(out, s.data(), s.size() * sizeof(float));
  return true;
}

void TensorCache::put(size_t index, const float* data) {
  std::vector<float> copy(data, data + impl_->side * impl_->side);
  std::lock_guard<std::mutex> lock(impl_->mutex);
  auto& s = impl_->slots.at(index);
  if (s.empty()) s = std::move(copy);
}

uint64_t TensorCache::bytes_needed(size_t n_records, int64_t side) noexcept {
  return static_cast<uint64_t>(n_records) * static_cast<uint64_t>(side * side) * sizeof(float);
}

// ---- targets --------------------------------------------------------------------------------

namespace {

// A head with one float per frame: [B] target and [B] mask from value(record) → {value, known}.
template <typename Value>
models::HeadTarget per_frame_target(const std::vector<FrameRecord>& records,
                                    const std::vector<size_t>& indices, Value value) {
  const auto b = static_cast<int64_t>(indices.size());
  models::HeadTarget t;
  t.target = torch::empty({b}, torch::kFloat32);
  t.mask = torch::empty({b}, torch::kFloat32);
  auto* tp = t.target.data_ptr<float>();
  auto* mp = t.mask.data_ptr<float>();
  for (int64_t i = 0; i < b; ++i) {
    const auto [v, known] = value(records[indices[i]]);
    tp[i] = v;
    mp[i] = known ? 1.0f : 0.0f;
  }
  return t;
}

}  // namespace

models::Targets make_targets(const std::vector<FrameRecord>& records,
                             const std::vector<size_t>& indices,
                             const std::vector<std::string>& heads) {
  const auto b = static_cast<int64_t>(indices.size());
  models::Targets targets;
  for (const auto& h : heads) {
    models::HeadTarget t;
    if (h == models::kQualityHead) {
      t.target = torch::empty({b}, torch::kInt64);
      t.mask = torch::empty({b}, torch::kFloat32);
      auto* tp = t.target.data_ptr<int64_t>();
      auto* mp = t.mask.data_ptr<float>();
      for (int64_t i = 0; i < b; ++i) {
        const auto& r = records[indices[i]];
        tp[i] = r.quality >= 0 ? r.quality : 0;
        mp[i] = r.quality >= 0 ? 1.0f : 0.0f;
      }
    } else if (h == models::kSpotsHead) {
      t = per_frame_target(records, indices, [](const FrameRecord& r) {
        return std::pair{r.log_bright_spots.value_or(0.0f), r.log_bright_spots.has_value()};
      });
    } else if (h == models::kLabelsHead || h == models::kMosaicHead) {
      const int64_t k = h == models::kLabelsHead ? 6 : 2;
      t.target = torch::empty({b, k}, torch::kFloat32);
      t.mask = torch::empty({b, k}, torch::kFloat32);
      auto* tp = t.target.data_ptr<float>();
      auto* mp = t.mask.data_ptr<float>();
      for (int64_t i = 0; i < b; ++i) {
        const auto& r = records[indices[i]];
        for (int64_t j = 0; j < k; ++j) {
          if (k == 6) {
            tp[i * k + j] = r.labels[j];
            mp[i * k + j] = r.label_mask[j];
          } else {
            tp[i * k + j] = r.mosaic[j];
            mp[i * k + j] = (j == 0 ? r.has_mosaic : r.mosaic2_known) ? 1.0f : 0.0f;
          }
        }
      }
    } else {
      const int j = label_index(h);
      DT_CHECK(j >= 0, ConfigError, "heads: unknown head '", h, "'");
      t = per_frame_target(records, indices, [j](const FrameRecord& r) {
        return std::pair{r.labels[j], r.label_mask[j] != 0};
      });
    }
    targets.emplace(h, std::move(t));
  }
  return targets;
}

// ---- loader ---------------------------------------------------------------------------------

struct BatchLoader::Impl {
  const std::vector<FrameRecord>& records;
  const models::Preprocessor& pre;
  std::vector<size_t> order;
  LoaderOptions options;
  int64_t n_batches = 0;
  std::unique_ptr<detail::OrderedPipeline<Batch>> pipeline;

  Impl(const std::vector<FrameRecord>& r, const models::Preprocessor& p, std::vector<size_t> o,
       LoaderOptions lo)
      : records(r), pre(p), order(std::move(o)), options(std::move(lo)) {}

  Batch make_batch(int64_t k) const {
    const int64_t bs = options.batch_size;
    const int64_t begin = k * bs;
    const int64_t end = std::min<int64_t>(begin + bs, static_cast<int64_t>(order.size()));
    const int64_t s = pre.input_size();
    Batch batch;
    batch.indices.assign(order.begin() + begin, order.begin() + end);
    batch.x = torch::empty({end - begin, 1, s, s}, torch::kFloat32);
    float* base = batch.x.data_ptr<float>();
    for (int64_t i = begin; i < end; ++i) {
      const size_t idx = order[static_cast<size_t>(i)];
      float* out = base + (i - begin) * s * s;
      if (!(options.cache && options.cache->get(idx, out))) {
        const auto image = io::read_image(records[idx].path);
        pre.preprocess_into(image, out);
        if (options.cache) options.cache->put(idx, out);
      }
      if (options.augment) {
        augment_in_place(out, s, options.augment_options,
                         derive_seed(options.augment_seed,
                                     options.augment_positions.empty()
                                         ? static_cast<uint64_t>(i)
                                         : options.augment_positions[static_cast<size_t>(i)]));
      }
    }
    batch.targets = make_targets(records, batch.indices, options.heads);
    return batch;
  }
};

BatchLoader::BatchLoader(const std::vector<FrameRecord>& records,
                         const models::Preprocessor& preprocessor, std::vector<size_t> order,
                         LoaderOptions options) {
  DT_CHECK(options.batch_size >= 1, ConfigError, "LoaderOptions::batch_size must be >= 1, got ",
           options.batch_size);
  DT_CHECK(options.n_workers >= 0, ConfigError, "LoaderOptions::n_workers must be >= 0, got ",
           options.n_workers);
  for (size_t i : order) {
    DT_CHECK(i < records.size(), ConfigError, "BatchLoader: record index ", i, " out of range");
  }
  DT_CHECK(options.augment_positions.empty() || options.augment_positions.size() == order.size(),
           ConfigError, "LoaderOptions::augment_positions has ", options.augment_positions.size(),
           " entries for ", order.size(), " rows");
  impl_ = std::make_unique<Impl>(records, preprocessor, std::move(order), std::move(options));
  const auto n = static_cast<int64_t>(impl_->order.size());
  impl_->n_batches = (n + impl_->options.batch_size - 1) / impl_->options.batch_size;
  Impl* self = impl_.get();
  impl_->pipeline = std::make_unique<detail::OrderedPipeline<Batch>>(
      impl_->n_batches, impl_->options.n_workers, std::max(1, impl_->options.prefetch_batches),
      [self](int64_t k) { return self->make_batch(k); });
}

BatchLoader::~BatchLoader() = default;

std::optional<Batch> BatchLoader::next() { return impl_->pipeline->next(); }

int64_t BatchLoader::n_batches() const noexcept { return impl_->n_batches; }

}  // namespace difftriage::train
