// difftriage simulate — labelled training frames from diffraction physics (DESIGN.md
// "Simulator"): flags → simulate::GenerateDatasetOptions, simulate::generate_dataset does the
// work (simulate/generate_dataset.h); this file adds run.json and progress (the shared
// ProgressLine of cli_common.h). Under mpirun (mpi_world.h) each rank renders a contiguous block
// of the frames into the same folder and rank 0 writes the label files from every rank's labels:
// the same bytes as one process.
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <memory>
#include <type_traits>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"
#include "difftriage/core/atomic_file.h"
#include "difftriage/core/error.h"
#include "difftriage/core/parallel.h"
#include "difftriage/simulate/generate_dataset.h"
#include "difftriage/simulate/simulate.h"
#include "mpi_world.h"

namespace difftriage::cli {
namespace {

namespace fs = std::filesystem;
namespace sim = difftriage::simulate;

struct SimulateArgs {
  std::string out;
  int64_t count = 100;
  std::string mix = "balanced";
  uint64_t seed = 0;
  int threads = 0;
  std::string format = "pgm";
  std::string binning = "max";
  bool full_frame = false;
  int full_frame_bits = 16;
  int output_size = 512;
  int full_size = 1024;
  std::string preset;
  std::string cell;
  double wavelength = 0.0;
  double distance = 0.0;
  double pixel_size = 0.0;
  bool no_sidecar = false;
  bool quiet = false;
};

sim::UnitCell parse_cell(const std::string& text) {
  std::vector<double> v;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      size_t used = 0;
      v.push_back(std::stod(item, &used));
      DT_CHECK(used == item.size(), ConfigError, "--cell: '", item, "' is not a number");
    } catch (const std::logic_error&) {
      throw ConfigError("--cell: '" + item + "' is not a number");
    }
  }
  DT_CHECK(v.size() == 6, ConfigError, "--cell needs six numbers a,b,c,alpha,beta,gamma; got ",
           v.size());
  sim::UnitCell c{v[0], v[1], v[2], v[3], v[4], v[5]};
  try {
    sim::validate_cell(c);
  } catch (const ConfigError& e) {
    throw ConfigError(std::string("--cell: ") + e.what());
  }
  return c;
}

// Flags → options. Ranges the library checks (sizes, wavelength, distance, pixel size, counts)
// are left to validate_generate_dataset_options; here only what needs the flags' own words.
sim::GenerateDatasetOptions resolve_options(const SimulateArgs& a) {
  sim::GenerateDatasetOptions g;
  g.out_dir = a.out;
  g.n_frames = a.count;
  g.n_threads = a.threads;
  g.write_sidecars = !a.no_sidecar;
  DT_CHECK(a.full_frame_bits == 16 || a.full_frame_bits == 32, ConfigError,
           "--full-frame-bits must be 16 or 32, got ", a.full_frame_bits);
  g.full_frame_pixel =
      a.full_frame_bits == 16 ? sim::FullFramePixel::kUint16 : sim::FullFramePixel::kInt32;
  DT_CHECK(a.format == "pgm" || a.format == "png", ConfigError,
           "--format must be pgm or png, got '", a.format, "'");
  g.format = a.format == "png" ? sim::FrameFileFormat::kPng : sim::FrameFileFormat::kPgm;

  sim::SimulateOptions& o = g.simulate;
  o.scene.output_size = a.output_size;
  o.scene.full_size = a.full_size;
  DT_CHECK(a.binning == "mean" || a.binning == "max", ConfigError,
           "--binning must be mean or max, got '", a.binning, "'");
  o.scene.binning = a.binning == "max" ? sim::BinningMode::kMax : sim::BinningMode::kMean;
  // 0 means "not given" (CLI11 defaults); other values are checked by the library.
  if (a.wavelength != 0.0) o.scene.wavelength_angstrom = a.wavelength;
  if (a.distance != 0.0) o.scene.distance_mm = a.distance;
  if (a.pixel_size != 0.0) o.scene.pixel_size_mm = a.pixel_size;
  if (a.mix == "balanced") {
    o.mix = sim::balanced_mix();
  } else if (a.mix == "study") {
    o.mix = sim::study_mix();
  } else {
    DT_CHECK(fs::is_regular_file(a.mix), ConfigError, "--mix must be balanced, study or a JSON file; '",
             a.mix, "' is none of these");
    try {
      o.mix = sim::mix_from_json(read_file(a.mix), a.mix);
    } catch (const ConfigError& e) {
      throw ConfigError(std::string("--mix: ") + e.what());
    }
  }
  if (!a.cell.empty()) {
    o.scene.custom_cell = parse_cell(a.cell);
    if (a.preset.empty()) o.mix.photo1 = o.mix.photo2 = o.mix.both = 0.0;
    o.mix.custom = 1.0;
  }
  if (!a.preset.empty()) {
    if (a.preset == "photo1") {
      o.mix.photo2 = o.mix.both = 0.0;
      o.mix.photo1 = 1.0;
    } else if (a.preset == "photo2") {
      o.mix.photo1 = o.mix.both = 0.0;
      o.mix.photo2 = 1.0;
    } else if (a.preset == "both") {
      o.mix.photo1 = o.mix.photo2 = 0.0;
      o.mix.both = 1.0;
    } else {
      throw ConfigError("--preset: unknown crystal preset '" + a.preset +
                        "' (known: photo1, photo2, both)");
    }
  }
  o.keep_full_frame = a.full_frame;
  o.seed = a.seed;
  sim::validate_generate_dataset_options(g);
  return g;
}

nlohmann::json options_json(const SimulateArgs& a, int threads) {
  return {{"out", a.out},           {"count", a.count},
          {"mix", a.mix},           {"seed", a.seed},
          {"threads", threads},     {"format", a.format},
          {"binning", a.binning},   {"full_frame", a.full_frame},
          {"full_frame_bits", a.full_frame_bits},
          {"output_size", a.output_size},
          {"full_size", a.full_size},
          {"preset", a.preset},     {"cell", a.cell},
          {"wavelength_angstrom", a.wavelength},
          {"distance_mm", a.distance},
          {"pixel_size_mm", a.pixel_size},
          {"sidecar", !a.no_sidecar},
          {"seed_derivation", "splitmix64(splitmix64(splitmix64(seed) ^ index) ^ stream)"}};
}

void run_simulate(const SimulateArgs& a) {
  sim::GenerateDatasetOptions options = resolve_options(a);
  const int threads = resolve_thread_count(a.threads, a.count);
  const fs::path out = a.out;
  make_output_dir(out);
  write_run_json(out, "simulate", options_json(a, threads));
  ProgressLine progress("simulate", "frames", a.count, a.quiet);
  options.on_progress = [&progress](int64_t n_done, int64_t) { progress.update(n_done); };
  const sim::GenerateDatasetResult result = sim::generate_dataset(options);
  progress.finish(result.n_frames);
}

// The labels of a part as bytes for MpiWorld::gather (ranks run the same binary).
static_assert(std::is_trivially_copyable_v<sim::FrameLabels>);
std::string labels_bytes(const std::vector<sim::FrameLabels>& labels) {
  std::string bytes(labels.size() * sizeof(sim::FrameLabels), '\0');
  if (!labels.empty()) std::memcpy(bytes.data(), labels.data(), bytes.size());
  return bytes;
}

// mpirun -n N difftriage simulate: frames [begin, end) on each rank (rank_block), the label
// files and run.json by rank 0 once every rank has rendered its part.
void run_simulate_ranks(const SimulateArgs& a, const MpiWorld& world) {
  sim::GenerateDatasetOptions options;
  int threads = 0;
  run_step_on_all_ranks(world, [&] {
    options = resolve_options(a);
    // --threads 0 (all cores) shares a node's cores among its ranks.
    threads = a.threads > 0 ? a.threads
                            : std::max(1, resolve_thread_count(0, a.count) / world.local_size());
    options.n_threads = threads;
    const auto [begin, end] = rank_block(a.count, world.rank(), world.size());
    options.part_begin = begin;
    options.part_end = end;
    if (world.rank() == 0) make_output_dir(a.out);
  });
  // Every rank writes its frames into rank 0's folder: it must be on a shared file system.
  run_step_on_all_ranks(world, [&] {
    DT_CHECK(fs::is_directory(a.out), IoError, a.out, " (made by rank 0) is not visible on ",
             world.describe(), ": --out must be on a file system every rank sees");
  });
  const auto [begin, end] = rank_block(a.count, world.rank(), world.size());
  if (world.rank() == 0 && !a.quiet) {
    std::fprintf(stderr, "simulate: %lld frame(s) across %d ranks, %d thread(s) each; rank 0 "
                 "renders frames %lld..%lld\n",
                 static_cast<long long>(a.count), world.size(), threads,
                 static_cast<long long>(begin), static_cast<long long>(end - 1));
  }
  sim::GenerateDatasetResult part;
  run_part_or_abort(world, [&] {
    ProgressLine progress("simulate (rank 0)", "frames", end - begin,
                          a.quiet || world.rank() != 0);
    options.on_progress = [&progress](int64_t n_done, int64_t) { progress.update(n_done); };
    part = sim::generate_dataset(options);
    progress.finish(part.n_frames);
  });
  const std::vector<std::string> parts = world.gather(labels_bytes(part.labels));
  run_step_on_all_ranks(world, [&] {
    if (world.rank() != 0) return;
    std::vector<sim::FrameLabels> labels;
    labels.reserve(static_cast<size_t>(a.count));
    for (const std::string& bytes : parts) {
      const size_t n = bytes.size() / sizeof(sim::FrameLabels);
      const size_t at = labels.size();
      labels.resize(at + n);
      if (n > 0) std::memcpy(&labels[at], bytes.data(), n * sizeof(sim::FrameLabels));
    }
    DT_CHECK(static_cast<int64_t>(labels.size()) == a.count, IoError, "simulate: the ranks "
             "returned the labels of ", labels.size(), " frame(s) for ", a.count);
    sim::write_label_files(a.out, options.format, labels);
    nlohmann::json o = options_json(a, threads);
    o["mpi_world_size"] = world.size();
    write_run_json(a.out, "simulate", o);
  });
}

}  // namespace

void register_simulate(CLI::App& root) {
  auto args = std::make_shared<SimulateArgs>();
  CLI::App* cmd = root.add_subcommand(
      "simulate",
      "Simulate labelled diffraction frames (Bragg spots, solvent, air, ice, detector noise): "
      "fake_NNNNN.pgm/png 8-bit frames, multiclasses.txt, categories1.txt and a JSON truth "
      "sidecar per frame. Same seed => same bytes, whatever --threads. Under mpirun -n N each "
      "rank renders a contiguous block of the frames into --out (a folder every rank sees) and "
      "rank 0 writes the label files: the same bytes as one process (run.json adds "
      "mpi_world_size); --threads 0 then shares each node's cores among its ranks.");
  cmd->add_option("--out", args->out, "Output folder (created if missing)")->required();
  cmd->add_option("--count", args->count, "Number of frames")->capture_default_str();
  cmd->add_option("--mix", args->mix,
                  "Label proportions: 'balanced' (every quality class equally often), 'study' "
                  "(the study's imbalance), or a JSON file with keys blank, noxtal, weak, good, "
                  "strong (quality weights), photo1, photo2, both, custom (lattice weights), "
                  "multilattice, ice, badice_given_ice (probabilities)")
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "Run seed (frame i uses seeds derived from seed and i)")
      ->capture_default_str();
  cmd->add_option("--threads", args->threads, "Worker threads (0 = all cores)")
      ->capture_default_str();
  cmd->add_option("--format", args->format, "8-bit output format: pgm or png")
      ->capture_default_str();
  cmd->add_option("--binning", args->binning,
                  "Downsampling of the full frame to the output: max (default; keeps spot peaks) "
                  "or mean (as the study; dilutes 1-4 px spots)")
      ->capture_default_str();
  cmd->add_flag("--full-frame", args->full_frame,
                "Also write the full-resolution detector frame (ADU) as fake_NNNNN_full.tif");
  cmd->add_option("--full-frame-bits", args->full_frame_bits,
                  "Pixel type of the full frame: 16 (uint16) or 32 (int32)")
      ->capture_default_str();
  cmd->add_option("--output-size", args->output_size, "Output frame size in pixels per axis")
      ->capture_default_str();
  cmd->add_option("--full-size", args->full_size,
                  "Full-resolution detector size in pixels per axis (an integer multiple of "
                  "--output-size; the binning factor is their ratio)")
      ->capture_default_str();
  cmd->add_option("--preset", args->preset,
                  "Restrict crystals to one preset: photo1 (PSI, P6_3, 281x281x165 A), photo2 "
                  "(PSII, P2_12_12_1, 117x223x310 A) or both (both on every crystal frame)");
  cmd->add_option("--cell", args->cell,
                  "A user unit cell 'a,b,c,alpha,beta,gamma' (A, degrees; space group P1) used "
                  "for crystal frames (with --preset: added to the preset)");
  cmd->add_option("--wavelength", args->wavelength,
                  "Fix the wavelength in A (default: random in [0.9, 1.8] per frame)");
  cmd->add_option("--distance", args->distance,
                  "Fix the sample-detector distance in mm (default: per frame, so that the "
                  "detector edge sees 1.7-3.4 A)");
  cmd->add_option("--pixel-size", args->pixel_size,
                  "Fix the full-resolution pixel size in mm (default: random in [0.075, 0.172])");
  cmd->add_flag("--no-sidecar", args->no_sidecar, "Do not write the per-frame JSON truth");
  cmd->add_flag("--quiet", args->quiet, "No progress on stderr");
  cmd->callback([args] {
    const MpiWorld& world = MpiWorld::join();
    if (world.size() > 1) {
      run_simulate_ranks(*args, world);
    } else {
      run_simulate(*args);
    }
  });
}

}  // namespace difftriage::cli
