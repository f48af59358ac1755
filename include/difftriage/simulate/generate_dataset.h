/// A labelled dataset on disk from the simulator: the library call behind `difftriage simulate`.
///
/// Frames are rendered by simulate_frame (a pure function of the options and the frame index) on
/// worker threads, each of which writes its own image and sidecar files; the label rows are kept
/// in memory (a few dozen bytes per frame) and the label files are written atomically at the end.
/// Same options (whatever n_threads) ⇒ the same bytes.
///
///   difftriage::simulate::GenerateDatasetOptions options;
///   options.out_dir = "sim/train";
///   options.n_frames = 1000;
///   options.simulate.mix = difftriage::simulate::study_mix();
///   options.simulate.seed = 7;
///   const auto result = difftriage::simulate::generate_dataset(options);
///   // sim/train/fake_00001.pgm … fake_01000.pgm, fake_00001.json … (truth sidecars),
///   // multiclasses.txt, categories1.txt; result.quality_counts: frames per quality class
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <vector>

#include "difftriage/core/labels.h"
#include "difftriage/simulate/simulate.h"

namespace difftriage::simulate {

/// File format of the 8-bit output frames.
enum class FrameFileFormat { kPgm, kPng };
/// Pixel type of the full-resolution TIFF written when simulate.keep_full_frame is set.
enum class FullFramePixel { kUint16, kInt32 };

/// Most frames one generate_dataset call writes (10⁷: about 200 MB of labels in memory).
inline constexpr int64_t kMaxGeneratedFrames = 10'000'000;

/// Options of generate_dataset.
struct GenerateDatasetOptions {
  /// What the frames look like (scene, mix, seed); with keep_full_frame the full-resolution
  /// detector frame (ADU) is also written, as fake_NNNNN_full.tif.
  SimulateOptions simulate;
  std::filesystem::path out_dir;  ///< created if missing; existing files of the same name replaced
  /// Frames fake_00001 … (0 .. kMaxGeneratedFrames). The labels of every frame are held until
  /// the label files are written (about 20 bytes a frame), so the count is capped: 2·10⁹ frames
  /// used to die in bad_alloc before the first frame.
  int64_t n_frames = 100;
  FrameFileFormat format = FrameFileFormat::kPgm;
  FullFramePixel full_frame_pixel = FullFramePixel::kUint16;
  bool write_sidecars = true;  ///< the JSON truth per frame (fake_NNNNN.json, truth.h)
  /// Worker threads; 0 = one per hardware thread (resolve_thread_count). The output does not
  /// depend on it.
  int n_threads = 0;
  /// Render only frames [part_begin, part_end) of the n_frames (0-based; part_end -1 means
  /// n_frames): one process's share of a run split across processes (`mpirun difftriage
  /// simulate`). Frame i's files are the same bytes whatever the part (its seeds derive from
  /// the run seed and i). When the part is not the whole run the label files are not written:
  /// GenerateDatasetResult::labels holds the part's rows, and write_label_files writes them
  /// all once every part is done.
  int64_t part_begin = 0;
  int64_t part_end = -1;
  /// Called after each finished frame with (frames done, n_frames), from a worker thread, one
  /// call at a time. Optional.
  std::function<void(int64_t n_done, int64_t n_frames)> on_progress;
};

/// What generate_dataset wrote.
struct GenerateDatasetResult {
  int64_t n_frames = 0;  ///< frames rendered (those of the part)
  int n_threads = 0;  ///< worker threads used
  /// Frames of each quality class (kQualityNames order) and frames with each label set
  /// (kLabelNames order), as written to the label files.
  std::array<int64_t, kNumQualities> quality_counts{};
  std::array<int64_t, kNumLabels> label_counts{};
  /// The labels of the rendered frames, in frame order (frame part_begin first).
  std::vector<FrameLabels> labels;
};

/// The file name of frame `index` under `format`: index 0 → "fake_00001.pgm".
std::string frame_file_name(int64_t index, FrameFileFormat format);

/// Checks options (simulate included) without writing anything.
/// @throws ConfigError naming the option field.
void validate_generate_dataset_options(const GenerateDatasetOptions& options);

/// Writes multiclasses.txt and categories1.txt of frames 0 .. labels.size()-1 (file names
/// frame_file_name(i, format)) into `out_dir`, atomically, and returns the counts
/// (quality_counts, label_counts, n_frames; n_threads 0, labels empty). What generate_dataset
/// writes at its end; the caller's step when the frames were rendered in parts.
/// @throws IoError naming the file if it cannot be written.
GenerateDatasetResult write_label_files(const std::filesystem::path& out_dir,
                                        FrameFileFormat format,
                                        const std::vector<FrameLabels>& labels);

/// Renders options.n_frames frames into options.out_dir: fake_NNNNN.pgm|png, the sidecars,
/// multiclasses.txt and categories1.txt (dataset/labels.h) — a folder load_dataset reads.
/// With a part (part_begin, part_end) other than the whole run: only the part's frames and
/// sidecars, no label files (see GenerateDatasetOptions::part_begin).
/// The first failure stops the run (frames already written stay; the label files are not
/// written). Safe to call concurrently for different folders.
/// @throws ConfigError on invalid options; IoError if a file cannot be written.
GenerateDatasetResult generate_dataset(const GenerateDatasetOptions& options);

}  // namespace difftriage::simulate
