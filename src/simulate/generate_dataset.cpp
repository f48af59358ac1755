#include "difftriage/simulate/generate_dataset.h"

#include <mutex>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "difftriage/core/atomic_file.h"
#include "difftriage/core/error.h"
#include "difftriage/core/parallel.h"
#include "difftriage/dataset/dataset.h"
#include "difftriage/dataset/labels.h"
#include "difftriage/io/image_io.h"
#include "difftriage/simulate/detector.h"
#include "difftriage/simulate/truth.h"

namespace difftriage::simulate {
namespace fs = std::filesystem;

namespace {

const char* extension(FrameFileFormat format) noexcept {
  return format == FrameFileFormat::kPng ? "png" : "pgm";
}

// The image, the optional full-resolution TIFF and the optional sidecar of one frame.
void write_frame(const GenerateDatasetOptions& o, const SimulatedFrame& f) {
  const std::string stem = frame_file_stem(f.index);
  const std::string image_file = stem + "." + extension(o.format);
  const fs::path image_path = o.out_dir / image_file;
  if (o.format == FrameFileFormat::kPng) {
    io::write_png(image_path, f.image.view());
  } else {
    io::write_pgm(image_path, f.image.view());
  }
  const bool full_frame = o.simulate.keep_full_frame;
  if (full_frame) {
    const fs::path tiff = o.out_dir / (stem + "_full.tif");
    if (o.full_frame_pixel == FullFramePixel::kUint16) {
      io::write_tiff(tiff, AnyImage(to_uint16(f.full_adu)));
    } else {
      io::write_tiff(tiff, AnyImage(to_int32(f.full_adu)));
    }
  }
  if (o.write_sidecars) {
    nlohmann::json truth = frame_truth_json(f);
    truth["file"] = image_file;
    if (full_frame) truth["full_frame_file"] = stem + "_full.tif";
    write_file_atomically(o.out_dir / (stem + ".json"), truth.dump(1) + "\n");
  }
}

// The six labels of a frame in kLabelNames order.
std::array<uint8_t, kNumLabels> label_vector(const FrameLabels& l) {
  return {l.blank, l.photo1, l.photo2, l.multilattice, l.ice, l.badice};
}

}  // namespace

std::string frame_file_name(int64_t index, FrameFileFormat format) {
  return frame_file_stem(index) + "." + extension(format);
}

void validate_generate_dataset_options(const GenerateDatasetOptions& options) {
  DT_CHECK(!options.out_dir.empty(), ConfigError, "out_dir must name a folder");
  DT_CHECK(options.n_frames >= 0 && options.n_frames <= kMaxGeneratedFrames, ConfigError,
           "n_frames must be in 0..", kMaxGeneratedFrames, " (labels are held in memory until "
           "written; split a larger set into several runs), got ", options.n_frames);
  DT_CHECK(options.n_threads >= 0, ConfigError,
           "n_threads must be ≥ 0 (0 = one per hardware thread), got ", options.n_threads);
  const int64_t end = options.part_end < 0 ? options.n_frames : options.part_end;
  DT_CHECK(options.part_begin >= 0 && options.part_begin <= end && end <= options.n_frames,
           ConfigError, "part_begin, part_end must satisfy 0 <= part_begin <= part_end <= "
           "n_frames (part_end -1: n_frames), got ", options.part_begin, ", ", options.part_end,
           " for ", options.n_frames, " frame(s)");
  validate_simulate_options(options.simulate);
}

GenerateDatasetResult write_label_files(const fs::path& out_dir, FrameFileFormat format,
                                        const std::vector<FrameLabels>& labels) {
  GenerateDatasetResult result;
  result.n_frames = static_cast<int64_t>(labels.size());
  std::vector<dataset::MultiLabelRow> multi;
  std::vector<dataset::QualityRow> quality;
  multi.reserve(labels.size());
  quality.reserve(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) {
    const FrameLabels& l = labels[i];
    const std::string file = frame_file_name(static_cast<int64_t>(i), format);
    dataset::MultiLabelRow m;
    m.file = file;
    m.labels = label_vector(l);
    m.mosaic1 = l.mosaic1;
    m.mosaic2 = l.mosaic2;
    multi.push_back(m);
    dataset::QualityRow q;
    q.file = file;
    q.quality = l.quality;
    q.mosaic1 = l.mosaic1;
    q.mosaic2 = l.mosaic2;
    quality.push_back(q);
    ++result.quality_counts[static_cast<size_t>(l.quality)];
    for (size_t k = 0; k < kNumLabels; ++k) result.label_counts[k] += m.labels[k];
  }
  dataset::write_multiclasses(out_dir / dataset::kMultilabelFileName, multi);
  dataset::write_categories(out_dir / dataset::kQualityFileName, quality);
  return result;
}

GenerateDatasetResult generate_dataset(const GenerateDatasetOptions& options) {
  validate_generate_dataset_options(options);
  std::error_code ec;
  fs::create_directories(options.out_dir, ec);
  if (ec || !fs::is_directory(options.out_dir)) {
    throw IoError("cannot create output folder " + options.out_dir.string() + ": " +
                  (ec ? ec.message() : std::string("not a folder")));
  }

  const int64_t begin = options.part_begin;
  const int64_t end = options.part_end < 0 ? options.n_frames : options.part_end;
  const int64_t n_part = end - begin;
  std::vector<FrameLabels> labels(static_cast<size_t>(n_part));
  std::mutex progress_mutex;
  int64_t n_done = 0;
  const int n_threads = resolve_thread_count(options.n_threads, n_part);
  parallel_for(n_part, n_threads, [&](int64_t k) {
    const SimulatedFrame f = simulate_frame(options.simulate, begin + k);
    write_frame(options, f);
    labels[static_cast<size_t>(k)] = f.labels;
    if (options.on_progress) {
      const std::lock_guard<std::mutex> lock(progress_mutex);
      options.on_progress(++n_done, n_part);
    }
  });

  GenerateDatasetResult result;
  if (begin == 0 && end == options.n_frames) {
    result = write_label_files(options.out_dir, options.format, labels);
  } else {  // a part: the caller writes the label files once every part is done
    result.n_frames = n_part;
    for (const FrameLabels& l : labels) {
      ++result.quality_counts[static_cast<size_t>(l.quality)];
      const auto v = label_vector(l);
      for (size_t i = 0; i < kNumLabels; ++i) result.label_counts[i] += v[i];
    }
  }
  result.n_threads = n_threads;
  result.labels = std::move(labels);
  return result;
}

}  // namespace difftriage::simulate
