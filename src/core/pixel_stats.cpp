#include "difftriage/core/pixel_stats.h"

#include <algorithm>
#include <cmath>

namespace difftriage {

double percentile_inplace(std::vector<double>& values, double p) {
  DT_CHECK(!values.empty(), ConfigError, "percentile of an empty set");
  DT_CHECK(p >= 0.0 && p <= 100.0, ConfigError, "percentile ", p, " is outside [0, 100]");
  // Nearest rank: the smallest value with at least p % of the values at or below it.
  const auto n = static_cast<double>(values.size());
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * n));
  if (rank > 0) --rank;
  rank = std::min(rank, values.size() - 1);
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(rank), values.end());
  return values[rank];
}

PixelSummary summarize_pixels(const AnyImage& image) {
  return std::visit(
      [](const auto& img) {
        PixelSummary s;
        s.n_pixels = img.size();
        std::vector<double> values;
        values.reserve(static_cast<size_t>(img.size()));
        const auto view = img.view();
        for (int64_t i = 0; i < img.size(); ++i) {
          if (view.is_masked(i)) continue;
          values.push_back(static_cast<double>(img.data()[i]));
        }
        s.n_masked = s.n_pixels - static_cast<int64_t>(values.size());
        if (values.empty()) return s;
        double sum = 0, sum2 = 0;
        s.min = values.front();
        s.max = values.front();
        for (double v : values) {
          sum += v;
          sum2 += v * v;
          s.min = std::min(s.min, v);
          s.max = std::max(s.max, v);
        }
        const double n = static_cast<double>(values.size());
        s.mean = sum / n;
        s.stddev = std::sqrt(std::max(0.0, sum2 / n - s.mean * s.mean));
        for (size_t k = 0; k < kSummaryPercentiles.size(); ++k)
          s.percentiles[k] = percentile_inplace(values, kSummaryPercentiles[k]);
        return s;
      },
      image);
}

}  // namespace difftriage
