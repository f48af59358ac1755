#include "difftriage/simulate/simulate.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>
#include <vector>

#include "difftriage/core/error.h"
#include "difftriage/simulate/detector.h"
#include "difftriage/simulate/random.h"

namespace difftriage::simulate {
namespace {

// Percentile of an 8-bit histogram (nearest rank).
double histogram_percentile(const std::array<int64_t, 256>& hist, int64_t n, double p) {
  const auto rank = static_cast<int64_t>(std::ceil(p / 100.0 * static_cast<double>(n)));
  int64_t seen = 0;
  for (int v = 0; v < 256; ++v) {
    seen += hist[static_cast<size_t>(v)];
    if (seen >= std::max<int64_t>(rank, 1)) return v;
  }
  return 255;
}

// Bright-spot count wanted for a quality class (log-uniform inside the class's range).
int64_t draw_target_bright(Quality q, Rng& rng, int64_t n_possible) {
  switch (q) {
    case Quality::kWeak:
      // Uniform rather than log-uniform: a weak crystal's Wilson population reaches the noise
      // with tens of faint spots, not mostly one or two (the log-uniform draw put half the weak
      // frames below 10 bright spots, and their 8-bit frames a median of 0 spots > 185).
      return rng.bernoulli(0.1) ? 0 : static_cast<int64_t>(rng.uniform(1.0, 100.0));
    case Quality::kGood:
      return static_cast<int64_t>(rng.log_uniform(kGoodMinBrightSpots, kStrongMinBrightSpots));
    case Quality::kStrong: {
      const double hi = std::max<double>(kStrongMinBrightSpots + 1,
                                         std::min<double>(5000.0, 0.8 * n_possible));
      return static_cast<int64_t>(rng.log_uniform(kStrongMinBrightSpots, hi));
    }
    default: return 0;
  }
}

int64_t class_min_bright(Quality q) {
  return q == Quality::kStrong ? kStrongMinBrightSpots
         : q == Quality::kGood ? kGoodMinBrightSpots
                               : 0;
}

}  // namespace

std::string frame_file_stem(int64_t index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "fake_%05lld", static_cast<long long>(index + 1));
  return buf;
}

void validate_simulate_options(const SimulateOptions& options) {
  validate_scene_options(options.scene);
  validate_mix(options.mix, options.scene.custom_cell.has_value());
  DT_CHECK(options.max_quality_attempts >= 1, ConfigError, "max_quality_attempts must be ≥ 1");
}

FrameLabels labels_from_spec(const FrameSpec& spec, int64_t n_bright) {
  FrameLabels l;
  l.blank = spec.crystals.empty();
  for (const CrystalSpec& c : spec.crystals) {
    l.photo1 = l.photo1 || c.kind == CrystalKind::kPhotosystem1;
    l.photo2 = l.photo2 || c.kind == CrystalKind::kPhotosystem2;
    l.mosaic1 = std::max(l.mosaic1, std::min(1.0, c.mosaic_deg / kMosaicFullScaleDeg));
    if (c.pieces.size() > 1) {
      l.multilattice = true;
      l.mosaic2 = std::max(l.mosaic2, std::min(1.0, c.split_deg / kSplitFullScaleDeg));
    }
  }
  l.ice = spec.ice.present;
  l.badice = spec.ice.present && spec.ice.bad;
  if (!l.blank) {
    l.quality = quality_from_bright_spots(n_bright);
  } else {
    l.quality = (spec.background.solvent || spec.ice.present) ? Quality::kNoxtal : Quality::kBlank;
  }
  return l;
}

namespace {

// The bright reflections (threshold ≤ 1) whose centre is on the detector (full-frame pixel
// lround(x) inside it; a spot whose tail only reaches it is left out), in output-frame pixels:
// output pixel j holds full pixels j·b .. j·b + b − 1, so its centre is full coordinate
// j·b + (b − 1)/2. `n_pixels`: how many distinct output pixels hold such a centre; `d_min`: the
// 5th percentile (nearest rank) of their d (FrameStats::d_min_angstrom).
std::vector<BrightSpot> bright_spots_on_output(const std::vector<Reflection>& reflections,
                                               const std::vector<double>& thresholds,
                                               const FrameSpec& spec, int64_t* n_pixels,
                                               std::optional<double>* d_min) {
  const int64_t bin = std::max<int64_t>(spec.bin_factor, 1);
  const double offset = 0.5 * static_cast<double>(bin - 1);
  const DetectorGeometry& g = spec.geometry;
  std::vector<BrightSpot> spots;
  std::vector<std::pair<int64_t, int64_t>> pixels;
  std::vector<double> d;
  for (size_t i = 0; i < reflections.size(); ++i) {
    if (thresholds[i] > 1.0) continue;
    const Reflection& r = reflections[i];
    const int64_t fast = std::lround(r.fast_px);
    const int64_t slow = std::lround(r.slow_px);
    if (fast < 0 || slow < 0 || fast >= g.n_fast || slow >= g.n_slow) continue;
    spots.push_back({(r.slow_px - offset) / static_cast<double>(bin),
                     (r.fast_px - offset) / static_cast<double>(bin)});
    pixels.emplace_back(slow / bin, fast / bin);
    d.push_back(r.d_angstrom);
  }
  if (!d.empty()) {
    const auto k = static_cast<size_t>(
        std::max(0.0, std::ceil(0.05 * static_cast<double>(d.size())) - 1.0));
    std::nth_element(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(k), d.end());
    *d_min = d[k];
  }
  std::sort(pixels.begin(), pixels.end());
  *n_pixels = static_cast<int64_t>(std::unique(pixels.begin(), pixels.end()) - pixels.begin());
  return spots;
}

// FrameStats::split_visible: unset without a split crystal, else whether split_is_visible holds
// for one of them at the median radius of the frame's bright spots (output pixels).
std::optional<bool> split_visibility(const FrameSpec& spec, const std::vector<BrightSpot>& spots) {
  bool any_split = false;
  for (const CrystalSpec& c : spec.crystals) any_split = any_split || c.pieces.size() > 1;
  if (!any_split) return std::nullopt;
  double median_radius = 0.0;
  if (!spots.empty()) {
    const DetectorGeometry g = output_geometry(spec);  // pixel-edge beam centre, output pixels
    std::vector<double> r;
    r.reserve(spots.size());
    for (const BrightSpot& s : spots) {
      r.push_back(std::hypot(s.fast + 0.5 - g.beam_center_fast_px,
                             s.slow + 0.5 - g.beam_center_slow_px));
    }
    std::nth_element(r.begin(), r.begin() + static_cast<std::ptrdiff_t>(r.size() / 2), r.end());
    median_radius = r[r.size() / 2];
  }
  for (const CrystalSpec& c : spec.crystals) {
    if (c.pieces.size() > 1 && split_is_visible(c.split_deg, c.mosaic_deg, median_radius)) {
      return true;
    }
  }
  return false;
}

// `thresholds`: bright_thresholds() of `reflections` at their current photons (factor by which a
// spot's photons must grow to be bright), computed once per frame and reused here.
SimulatedFrame finish_frame(const FrameSpec& spec, const std::vector<Reflection>& reflections,
                            const std::vector<double>& thresholds, Image<float> photons,
                            bool keep_full_frame) {
  int64_t n_bright = 0;
  for (double t : thresholds) n_bright += (t <= 1.0);
  SimulatedFrame f;
  f.spec = spec;
  f.stats.n_reflections = static_cast<int64_t>(reflections.size());
  f.stats.n_bright = n_bright;
  f.bright_spots = bright_spots_on_output(reflections, thresholds, spec, &f.stats.n_bright_pixels,
                                          &f.stats.d_min_angstrom);
  for (const Reflection& r : reflections) f.stats.bragg_photons += r.photons;
  f.stats.split_visible = split_visibility(spec, f.bright_spots);
  if (spec.ice.present) {
    double peak = 0.0;
    for (int i = 0; i < 8; ++i) peak = std::max(peak, kIceRingRelIntensity[i]);
    f.stats.ice_peak_photons = spec.ice.peak_photons * peak;
  }
  for (int64_t i = 0; i < photons.size(); ++i) f.stats.background_photons += photons.data()[i];
  // Reflections whose expected peak is below kMinDrawnSnr σ of the local background are not
  // drawn: individually invisible, and with large mosaic spreads there are 10⁵ of them.
  {
    const std::vector<double>& t = thresholds;
    std::vector<Reflection> drawn;
    drawn.reserve(reflections.size() / 4);
    for (size_t i = 0; i < reflections.size(); ++i) {
      if (t[i] <= kBrightSpotSnr / kMinDrawnSnr) drawn.push_back(reflections[i]);
    }
    f.stats.n_drawn = static_cast<int64_t>(drawn.size());
    add_spots(photons, drawn);
  }
  apply_beamstop(photons, spec);
  Image<float> adu = apply_detector(photons, spec.detector, spec.noise_seed);
  photons = Image<float>();  // release early: bounded memory per worker
  for (int64_t i = 0; i < adu.size(); ++i) {
    f.stats.n_overloaded += adu.data()[i] >= static_cast<float>(spec.detector.saturation_adu);
  }
  f.image = map_to_8bit(bin_frame(adu, spec.bin_factor, spec.binning), spec.intensity_map,
                        spec.detector.pedestal_adu);
  if (keep_full_frame) f.full_adu = std::move(adu);
  std::array<int64_t, 256> hist{};
  for (int64_t i = 0; i < f.image.size(); ++i) ++hist[f.image.data()[i]];
  const int64_t n = f.image.size();
  f.stats.median_8bit = histogram_percentile(hist, n, 50.0);
  f.stats.p5_8bit = histogram_percentile(hist, n, 5.0);
  f.stats.p95_8bit = histogram_percentile(hist, n, 95.0);
  for (int v = 185; v < 256; ++v) f.stats.n_8bit_ge185 += hist[static_cast<size_t>(v)];
  f.stats.n_8bit_255 = hist[255];
  f.labels = labels_from_spec(spec, n_bright);
  return f;
}

}  // namespace

SimulatedFrame render_frame(const FrameSpec& spec, bool keep_full_frame) {
  const std::vector<Reflection> reflections = predict_reflections(spec);
  Image<float> background = render_background(spec);
  const std::vector<double> thresholds = bright_thresholds(spec, reflections, background);
  return finish_frame(spec, reflections, thresholds, std::move(background), keep_full_frame);
}

SimulatedFrame simulate_frame(const SimulateOptions& options, int64_t index) {
  validate_simulate_options(options);
  const auto idx = static_cast<uint64_t>(index);
  Rng kind_rng(derive_seed(options.seed, idx, RngStream::kScene));
  const FrameKind kind = draw_frame_kind(options.mix, kind_rng);

  FrameSpec spec;
  std::vector<Reflection> reflections;
  Image<float> background;
  std::vector<double> thresholds;
  int32_t attempt = 0;
  for (attempt = 1; attempt <= options.max_quality_attempts; ++attempt) {
    spec = make_frame_spec(options.scene, kind, kind_rng.next());
    reflections = predict_reflections(spec);
    background = render_background(spec);
    // Quality targeting: each reflection becomes bright when the common photon scale reaches
    // its threshold; the k-th smallest threshold is the scale that makes exactly k spots bright.
    // Only order statistics are needed, so partition (O(n)) rather than sort.
    thresholds = bright_thresholds(spec, reflections, background);
    if (!kind.crystal) break;
    std::vector<double> t = thresholds;
    const auto finite_end = std::partition(t.begin(), t.end(), [](double v) {
      return v < std::numeric_limits<double>::infinity();
    });
    const auto n_possible = static_cast<int64_t>(finite_end - t.begin());
    const bool last = attempt == options.max_quality_attempts;
    if (n_possible < std::max<int64_t>(class_min_bright(kind.quality), 1) && !last) continue;
    const int64_t target = std::min(draw_target_bright(kind.quality, kind_rng, n_possible),
                                    std::max<int64_t>(n_possible, 1) - 1);
    spec.target_bright_spots = target;
    // k-th smallest finite threshold (0-based).
    auto kth = [&](int64_t k) {
      std::nth_element(t.begin(), t.begin() + k, finite_end);
      return t[static_cast<size_t>(k)];
    };
    double factor = 1.0;
    if (n_possible == 0) {
      factor = 1.0;
    } else if (target <= 0) {
      factor = *std::min_element(t.begin(), finite_end) * kind_rng.uniform(0.2, 0.9);
    } else if (target < n_possible) {
      const double above = kth(target);  // partitions: everything before is ≤ above
      const double below = *std::max_element(t.begin(), t.begin() + target);
      factor = std::sqrt(below * above);
    } else {
      factor = *std::max_element(t.begin(), finite_end) * 1.5;
    }
    for (CrystalSpec& c : spec.crystals) c.photons_scale *= factor;
    for (Reflection& r : reflections) r.photons *= factor;
    for (double& v : thresholds) v /= factor;  // thresholds scale inversely with the photons
    break;
  }
  spec.target_quality = kind.quality;
  SimulatedFrame f = finish_frame(spec, reflections, thresholds, std::move(background),
                                  options.keep_full_frame);
  f.index = index;
  f.seed = options.seed;
  f.stats.attempts = std::min(attempt, options.max_quality_attempts);
  return f;
}

}  // namespace difftriage::simulate
