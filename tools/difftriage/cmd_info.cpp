// difftriage info FILE... — format, size, dtype, detector metadata and pixel statistics.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"
#include "difftriage/core/json_text.h"
#include "difftriage/core/pixel_stats.h"
#include "difftriage/io/image_io.h"
#include "frame_address.h"

namespace difftriage::cli {
namespace {

struct InfoArgs {
  std::vector<std::string> inputs;
  bool json = false;
};

nlohmann::json describe(const std::string& input) {
  const FrameAddress address = parse_frame_address(input);
  io::ReadOptions options;
  options.frame = address.frame;
  const AnyImage image = io::read_image(address.path, options);
  const std::string head = read_head(address.path);
  const auto format = io::probe_format(reinterpret_cast<const uint8_t*>(head.data()), head.size());
  const auto [n_slow, n_fast] = extents(image);
  const auto summary = summarize_pixels(image);
  const auto& md = metadata(image);

  nlohmann::json j;
  j["path"] = address.path.string();
  j["frame"] = address.frame;
  j["format"] = io::format_name(format);
  j["n_slow"] = n_slow;
  j["n_fast"] = n_fast;
  j["dtype"] = pixel_type_name(pixel_type(image));
  j["n_masked"] = summary.n_masked;
  nlohmann::json meta = nlohmann::json::object();
  auto put = [&](const char* key, const std::optional<double>& v) {
    if (v) meta[key] = *v;
  };
  put("pixel_size_mm", md.pixel_size_mm);
  put("distance_mm", md.distance_mm);
  put("wavelength_angstrom", md.wavelength_angstrom);
  put("beam_center_fast_px", md.beam_center_fast_px);
  put("beam_center_slow_px", md.beam_center_slow_px);
  put("exposure_s", md.exposure_s);
  put("saturation_value", md.saturation_value);
  if (!md.detector.empty()) meta["detector"] = md.detector;
  j["metadata"] = meta;
  nlohmann::json stats = {{"min", summary.min},
                          {"max", summary.max},
                          {"mean", summary.mean},
                          {"stddev", summary.stddev}};
  for (size_t k = 0; k < kSummaryPercentiles.size(); ++k) {
    stats["p" + std::to_string(static_cast<int>(kSummaryPercentiles[k]))] = summary.percentiles[k];
  }
  j["pixels"] = stats;
  return j;
}

void print_human(const nlohmann::json& j) {
  std::printf("%s", j["path"].get<std::string>().c_str());
  if (j["frame"].get<int64_t>() != 0) std::printf(" //%lld", static_cast<long long>(j["frame"].get<int64_t>()));
  std::printf("\n  format   %s\n  size     %lld x %lld (slow x fast), %s\n",
              j["format"].get<std::string>().c_str(),
              static_cast<long long>(j["n_slow"].get<int64_t>()),
              static_cast<long long>(j["n_fast"].get<int64_t>()),
              j["dtype"].get<std::string>().c_str());
  std::printf("  masked   %lld pixels\n", static_cast<long long>(j["n_masked"].get<int64_t>()));
  for (const auto& [key, value] : j["metadata"].items()) {
    std::printf("  %-20s %s\n", key.c_str(), value.is_string() ? value.get<std::string>().c_str() : dump_json(value).c_str());
  }
  const auto& p = j["pixels"];
  std::printf("  pixels   min %g  max %g  mean %.4g  sd %.4g\n", p["min"].get<double>(),
              p["max"].get<double>(), p["mean"].get<double>(), p["stddev"].get<double>());
  std::printf("           p1 %g  p5 %g  p50 %g  p95 %g  p99 %g\n", p["p1"].get<double>(),
              p["p5"].get<double>(), p["p50"].get<double>(), p["p95"].get<double>(),
              p["p99"].get<double>());
}

}  // namespace

void register_info(CLI::App& root) {
  auto args = std::make_shared<InfoArgs>();
  CLI::App* cmd = root.add_subcommand(
      "info", "Show format, size, dtype, detector metadata and pixel statistics of frames");
  cmd->add_option("inputs", args->inputs, "Image files; a frame of a multi-frame file as 'PATH //N'")
      ->required();
  cmd->add_flag("--json", args->json, "Print one JSON object per frame instead of text");
  cmd->callback([args] {
    int n_failed = 0;
    for (const auto& input : args->inputs) {
      try {
        const auto j = describe(input);
        if (args->json) {
          std::cout << dump_json(j) << "\n";
        } else {
          print_human(j);
        }
      } catch (const Error& e) {
        std::fflush(stdout);
        std::fprintf(stderr, "difftriage: error: %s\n", e.what());
        ++n_failed;
      }
    }
    std::fflush(stdout);
    if (n_failed > 0) throw ExitRequest{kExitData};
  });
}

}  // namespace difftriage::cli
