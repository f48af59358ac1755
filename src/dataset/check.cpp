// check_dataset: the label checks of load_dataset, plus whether every image exists and decodes.
#include <algorithm>
#include <system_error>

#include "difftriage/core/error.h"
#include "difftriage/core/parallel.h"
#include "difftriage/dataset/dataset.h"
#include "difftriage/io/image_io.h"
#include "label_text.h"

namespace difftriage::dataset {
namespace fs = std::filesystem;

namespace {

// Why the image of `sample` is unusable, or an empty string if it is fine.
std::string check_image(const Sample& sample, bool decode) {
  const std::string shown = sample.path.string();
  std::error_code ec;
  const fs::file_status status = fs::status(sample.path, ec);  // follows symlinks
  if (!fs::exists(status)) return shown + ": image file does not exist";
  if (!fs::is_regular_file(status)) return shown + ": not a regular file";
  if (!decode) return {};
  try {
    (void)io::read_image(sample.path);
    return {};
  } catch (const std::exception& e) {
    std::string message = e.what();
    if (message.find(shown) == std::string::npos) message = shown + ": " + message;
    return message;
  }
}

}  // namespace

CheckReport check_dataset(const fs::path& root, const CheckOptions& options) {
  CheckReport report;
  // IoError only if root is not a folder; unreadable label files are listed.
  detail::LoadedLabels loaded = detail::load_labels(root, true);
  const Dataset& dataset = loaded.dataset;
  if (!dataset.has_multilabel_file && !dataset.has_quality_file) {
    report.problems.push_back(detail::concat(root.string(), ": holds neither ", kMultilabelFileName,
                                             " nor ", kQualityFileName));
  }
  report.problems.insert(report.problems.end(), loaded.read_errors.begin(),
                         loaded.read_errors.end());
  for (const LabelIssue& issue : loaded.issues) report.problems.push_back(issue.to_string());
  for (const LabelIssue& issue : loaded.warnings) report.warnings.push_back(issue.to_string());
  report.n_samples = static_cast<int64_t>(dataset.samples.size());

  // Results land in per-sample slots, so the report order does not depend on thread timing.
  const size_t n = dataset.samples.size();
  std::vector<std::string> image_problems(n);
  // Anything check_image does not turn into text (bad_alloc) ends the check and is rethrown.
  const int n_threads =
      options.n_threads > 0 ? options.n_threads : std::min(8, hardware_thread_count());
  parallel_for(static_cast<int64_t>(n), n_threads, [&](int64_t i) {
    const auto k = static_cast<size_t>(i);
    image_problems[k] = check_image(dataset.samples[k], options.decode_images);
  });
  for (std::string& problem : image_problems) {
    if (problem.empty()) {
      ++report.n_images_ok;
    } else {
      report.problems.push_back(std::move(problem));
    }
  }
  return report;
}

}  // namespace difftriage::dataset
