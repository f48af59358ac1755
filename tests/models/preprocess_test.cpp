// Preprocessing by hand on small frames, and the metadata JSON round trip.
#include "difftriage/models/preprocess.h"

#include <gtest/gtest.h>

#include <cmath>

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
