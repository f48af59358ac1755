// Preprocessing by hand on small frames, and the metadata JSON round trip.
#include "difftriage/models/preprocess.h"

#include <gtest/gtest.h>

#include <cmath>
#include <utility>
#include <vector>

#include "difftriage/core/error.h"
#include "difftriage/models/model_info.h"

namespace difftriage::models {
namespace {

PreprocessOptions raw(InputMode mode, int64_t size) {
  PreprocessOptions o;
  o.mode = mode;
  o.input_size = size;
  o.transform = IntensityTransform::kLinear;
  o.normalization = Normalization::kNone;
  return o;
}

std::vector<float> run(const Preprocessor& pre, const AnyImage& frame) {
  const int64_t s = pre.input_size();
  std::vector<float> out(static_cast<size_t>(s * s));
  pre.preprocess_into(frame, out.data());
  return out;
}

TEST(Preprocess, BinMaxKeepsASingleBrightPixelAndBinMeanAveragesIt) {
  Image<uint8_t> img(8, 8, 10);
  img(5, 2) = 250;  // bin (2, 1) of a 4×4 output (2×2 bins)
  const auto mx = run(Preprocessor(raw(InputMode::kBinMax, 4)), AnyImage(img));
  const auto mean = run(Preprocessor(raw(InputMode::kBinMean, 4)), AnyImage(img));
  EXPECT_FLOAT_EQ(mx[2 * 4 + 1], 250.0f);
  EXPECT_FLOAT_EQ(mean[2 * 4 + 1], (250.0f + 3 * 10.0f) / 4.0f);
  EXPECT_FLOAT_EQ(mx[0], 10.0f);
  EXPECT_FLOAT_EQ(mean[15], 10.0f);
}

TEST(Preprocess, NonIntegerBinningCoversEveryPixelOnce) {
  Image<float> img(7, 7, 1.0f);
  img(6, 6) = 50.0f;
  const auto mx = run(Preprocessor(raw(InputMode::kBinMax, 3)), AnyImage(img));
  EXPECT_FLOAT_EQ(mx[8], 50.0f);  // last bin keeps the corner pixel
  const auto mean = run(Preprocessor(raw(InputMode::kBinMean, 3)), AnyImage(Image<float>(7, 7, 2.0f)));
  for (float v : mean) EXPECT_FLOAT_EQ(v, 2.0f);
}

TEST(Preprocess, CropTakesTheCentreAndFollowsTheBeamCentre) {
  Image<uint16_t> img(6, 8);
  for (int64_t s = 0; s < 6; ++s)
    for (int64_t f = 0; f < 8; ++f) img(s, f) = static_cast<uint16_t>(100 * s + f);
  const auto c = run(Preprocessor(raw(InputMode::kCrop, 2)), AnyImage(img));
  EXPECT_EQ(c, (std::vector<float>{203, 204, 303, 304}));
  img.metadata().beam_center_fast_px = 1.0;  // near the left edge: clamped into the frame
  img.metadata().beam_center_slow_px = 5.0;
  const auto b = run(Preprocessor(raw(InputMode::kCrop, 2)), AnyImage(img));
  EXPECT_EQ(b, (std::vector<float>{400, 401, 500, 501}));
}

TEST(Preprocess, BinningSquaresTheFrameAroundTheCentre) {
  Image<int32_t> img(4, 8, 0);  // square side 4, centred: columns 2..5
  img(0, 1) = 99;               // outside the square: ignored
  img(0, 2) = 7;
  const auto mx = run(Preprocessor(raw(InputMode::kBinMax, 2)), AnyImage(img));
  EXPECT_EQ(mx, (std::vector<float>{7, 0, 0, 0}));
}

TEST(Preprocess, MaskedAndNegativePixelsTakeTheBackground) {
  Image<int32_t> img(4, 4, 20);
  img(0, 0) = 30;
  img(1, 1) = 5000;  // masked hot pixel
  img(2, 2) = -1;    // detector gap marker
  std::vector<uint8_t> mask(16, 0);
  mask[1 * 4 + 1] = 1;
  img.set_mask(mask);
  const auto mx = run(Preprocessor(raw(InputMode::kBinMax, 2)), AnyImage(img));
  EXPECT_EQ(mx, (std::vector<float>{30, 20, 20, 20}));  // median of the unmasked = 20
  Image<uint8_t> u(2, 2, 9);
  u.set_mask({1, 0, 0, 0});
  u(0, 0) = 200;
  const auto m = run(Preprocessor(raw(InputMode::kBinMean, 1)), AnyImage(u));
  EXPECT_FLOAT_EQ(m[0], 9.0f);
}

// Bin-max of 8/16/32-bit detector frames takes a banded one-pass route (histogram fill,
// vertical max in the pixel type); the same frame as float32 takes the general per-pixel route.
// Both must give bit-identical inputs, masked pixels, gap markers, uneven bins and an off-centre
// beam included.
template <typename T>
Image<T> detector_like(int64_t n_slow, int64_t n_fast, uint32_t seed, T marker, bool with_mask,
                       int offset = 0) {
  Image<T> img(n_slow, n_fast);
  uint32_t x = seed;
  std::vector<uint8_t> mask(static_cast<size_t>(n_slow * n_fast), 0);
  for (int64_t i = 0; i < img.size(); ++i) {
    x = x * 1664525u + 1013904223u;  // fixed LCG
    const uint32_t u = x >> 8;
    T v = static_cast<T>((u % 7 == 0 ? u % 200 : u % 3) + offset);
    if (u % 997 == 0) v = marker;  // gap / bad-pixel marker
    if (with_mask && (i / n_fast) % 17 == 3) mask[static_cast<size_t>(i)] = 1;  // module gap row
    if (with_mask && u % 1009 == 0) {
      mask[static_cast<size_t>(i)] = 1;
      v = static_cast<T>(u % 60000 % 250);
    }
    img.data()[i] = v;
  }
  if (with_mask) img.set_mask(mask);
  img.metadata().beam_center_slow_px = 0.45 * static_cast<double>(n_slow);
  img.metadata().beam_center_fast_px = 0.55 * static_cast<double>(n_fast);
  return img;
}

template <typename T>
Image<float> as_float(const Image<T>& img) {
  Image<float> f(img.n_slow(), img.n_fast());
  for (int64_t i = 0; i < img.size(); ++i) f.data()[i] = static_cast<float>(img.data()[i]);
  if (img.has_mask()) f.set_mask(img.mask());
  f.metadata() = img.metadata();
  return f;
}

TEST(Preprocess, BandedBinMaxOfCountsEqualsTheGeneralPath) {
  PreprocessOptions o;  // the shipped model's: bin-max, log1p, per-frame
  o.mode = InputMode::kBinMax;
  for (const int64_t size : {16, 32}) {
    o.input_size = size;
    const Preprocessor pre(o);
    for (const bool with_mask : {false, true}) {
      for (const auto& [slow, fast] : {std::pair<int64_t, int64_t>{203, 171}, {160, 160}, {97, 130}}) {
        const auto u16 = detector_like<uint16_t>(slow, fast, 7, 65535, with_mask);
        EXPECT_EQ(run(pre, AnyImage(u16)), run(pre, AnyImage(as_float(u16))))
            << "uint16 " << slow << " x " << fast << " mask " << with_mask << " size " << size;
        const auto u8 = detector_like<uint8_t>(slow, fast, 11, 255, with_mask);
        EXPECT_EQ(run(pre, AnyImage(u8)), run(pre, AnyImage(as_float(u8))))
            << "uint8 " << slow << " x " << fast;
        // A background above 3 counts: the fill comes from the full histogram.
        const auto bright = detector_like<uint16_t>(slow, fast, 5, 65535, with_mask, 40);
        EXPECT_EQ(run(pre, AnyImage(bright)), run(pre, AnyImage(as_float(bright))))
            << "uint16, background 40, " << slow << " x " << fast;
        const auto i32 = detector_like<int32_t>(slow, fast, 13, -1, with_mask);
        EXPECT_EQ(run(pre, AnyImage(i32)), run(pre, AnyImage(as_float(i32))))
            << "int32 " << slow << " x " << fast;
      }
    }
  }
  // Raw values (no transform, no normalisation): a masked bin takes max(its unmasked, median).
  Image<uint16_t> img(6, 6, 2);
  img(0, 0) = 40000;  // masked hot pixel, bin (0, 0)
  img(5, 5) = 65535;  // masked by the caller too
  std::vector<uint8_t> mask(36, 0);
  mask[0] = 1;
  mask[35] = 1;
  img.set_mask(mask);
  img(3, 0) = 1;
  const auto mx = run(Preprocessor(raw(InputMode::kBinMax, 2)), AnyImage(img));
  EXPECT_EQ(mx, (std::vector<float>{2, 2, 2, 2}));
}

TEST(Preprocess, TransformsAndNormalisation) {
  Image<float> img(2, 2);
  img.pixels() = {0.0f, 3.0f, 8.0f, 15.0f};
  auto o = raw(InputMode::kBinMax, 2);
  o.transform = IntensityTransform::kLog1p;
  auto y = run(Preprocessor(o), AnyImage(img));
  EXPECT_FLOAT_EQ(y[3], std::log1p(15.0f));
  o.transform = IntensityTransform::kSqrt;
  o.normalization = Normalization::kFixed;
  o.mean = 1.0;
  o.std = 2.0;
  y = run(Preprocessor(o), AnyImage(img));
  EXPECT_FLOAT_EQ(y[2], (std::sqrt(8.0f) - 1.0f) / 2.0f);
  o.normalization = Normalization::kPerFrame;
  y = run(Preprocessor(o), AnyImage(img));
  double sum = 0, sum2 = 0;
  for (float v : y) sum += v, sum2 += v * v;
  EXPECT_NEAR(sum / 4, 0.0, 1e-6);
  EXPECT_NEAR(sum2 / 4, 1.0, 1e-5);
  // A constant frame standardises to zeros, not NaN.
  y = run(Preprocessor(o), AnyImage(Image<float>(2, 2, 5.0f)));
  for (float v : y) EXPECT_EQ(v, 0.0f);
}

TEST(Preprocess, BatchHasShapeN1SS) {
  std::vector<AnyImage> frames = {Image<uint8_t>(16, 16, 1), Image<uint16_t>(32, 20, 2),
                                  Image<float>(9, 9, 3.0f)};
  const Preprocessor pre(raw(InputMode::kBinMean, 8));
  const auto t = pre.preprocess_batch(frames);
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{3, 1, 8, 8}));
  EXPECT_EQ(t.scalar_type(), torch::kFloat32);
  EXPECT_FLOAT_EQ(t[1].mean().item<float>(), 2.0f);
  EXPECT_FLOAT_EQ(t[2].mean().item<float>(), 3.0f);  // 9 → 8: uneven bins
  EXPECT_THROW(pre.preprocess(AnyImage(Image<float>())), ConfigError);
}

TEST(Preprocess, BadOptionsNameTheOption) {
  PreprocessOptions o;
  o.input_size = 0;
  try {
    Preprocessor p(o);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("input_size"), std::string::npos);
  }
  EXPECT_THROW(parse_input_mode("bin-median"), ConfigError);
  EXPECT_EQ(parse_input_mode("crop"), InputMode::kCrop);
}

TEST(ModelInfo, JsonRoundTripAndVersionCheck) {
  auto m = default_metadata("compact", {"quality", "labels", "mosaic", "ice"});
  m.thresholds["ice"] = 0.3;
  m.provenance = {{"seed", 7}};
  const auto j = to_json(m);
  const auto back = metadata_from_json(j, "test");
  EXPECT_EQ(back.heads, m.heads);
  EXPECT_EQ(back.architecture.widths, m.architecture.widths);
  EXPECT_EQ(back.preprocess.input_size, 128);
  EXPECT_DOUBLE_EQ(back.threshold("ice"), 0.3);
  EXPECT_DOUBLE_EQ(back.threshold("blank"), 0.5);
  EXPECT_EQ(back.provenance["seed"], 7);
  auto bad = j;
  bad["format_version"] = 99;
  EXPECT_THROW(metadata_from_json(bad, "test"), ModelError);
  bad = j;
  bad["architecture"]["name"] = "resnet";
  EXPECT_THROW(metadata_from_json(bad, "test"), ModelError);
  EXPECT_THROW(default_metadata("compact", {"quality", "cats"}), ConfigError);
  EXPECT_EQ(head_output_size("multilattice"), 1);
}

}  // namespace
}  // namespace difftriage::models
