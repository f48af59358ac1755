/// A dataset is a folder with `multiclasses.txt` and/or `categories1.txt`; the rows name images
/// relative to that folder. A file named in both files is one sample carrying both label types.
///
///   auto ds = difftriage::dataset::load_dataset("sim/train");   // throws on bad labels
///   auto report = difftriage::dataset::check_dataset("sim/train"); // lists every problem
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "difftriage/dataset/labels.h"

namespace difftriage::dataset {

/// File names of the two label files inside a dataset folder.
inline constexpr const char* kMultilabelFileName = "multiclasses.txt";
inline constexpr const char* kQualityFileName = "categories1.txt";

/// One image and whatever labels the folder gives it.
struct Sample {
  std::string file;            ///< relative path as written in the label file(s)
  std::filesystem::path path;  ///< root / file
  /// Present when the image has a multiclasses.txt row.
  std::optional<std::array<uint8_t, kNumLabels>> labels;
  /// Present when the image has a categories1.txt row.
  std::optional<Quality> quality;
  double mosaic1 = 0.0;
  double mosaic2 = 0.0;
  int multilabel_line = 0;  ///< 1-based line of its multiclasses.txt row; 0 if none
  int quality_line = 0;     ///< 1-based line of its categories1.txt row; 0 if none
};

/// Samples in label-file order: multiclasses.txt rows first, then categories1.txt rows whose file
/// is not already there.
struct Dataset {
  std::filesystem::path root;
  std::vector<Sample> samples;
  bool has_multilabel_file = false;
  bool has_quality_file = false;
};

/// Loads the label files of `root` (images are not opened).
/// @throws IoError if `root` is not a readable folder or holds neither label file.
/// @throws FormatError listing every bad row (file:line: reason), or a file named in both label
///         files with different mosaic values.
Dataset load_dataset(const std::filesystem::path& root);

/// Everything wrong with a dataset folder.
struct CheckReport {
  int64_t n_samples = 0;
  int64_t n_images_ok = 0;
  std::vector<std::string> problems;  ///< one line each: "file:line: reason" or "image: reason"
  /// Rows that parse but break the label semantics (find_semantic_warnings), "file:line: reason".
  /// Warnings do not make the report fail.
  std::vector<std::string> warnings;
  bool ok() const noexcept { return problems.empty(); }
};

/// Options for check_dataset.
struct CheckOptions {
  bool decode_images = true;  ///< also decode every image (not just test that it exists)
  /// Threads that test/decode images; 0 = one per hardware thread (at most 8).
  int n_threads = 0;
};

/// Validates labels and that every image exists and decodes. Problems are, in this order: every
/// label-row issue of both files, a file named in both with different mosaic values, then per
/// sample (in sample order) "<path>: image file does not exist" or the decoder's error message.
/// Neither label file present is a problem too. Never throws for problems with the data (they
/// are listed); throws IoError only if `root` is not a folder.
CheckReport check_dataset(const std::filesystem::path& root, const CheckOptions& options = {});

}  // namespace difftriage::dataset
