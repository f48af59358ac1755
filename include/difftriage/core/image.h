/// In-memory detector frames: `Image<T>` owns pixels, `ImageView<T>` borrows them.
/// Pixels are stored slow × fast, row-major: pixel (slow, fast) lives at `slow * n_fast + fast`.
///
///   difftriage::Image<uint16_t> img(512, 1024);        // 512 rows (slow) × 1024 columns (fast)
///   img(10, 20) = 7;                                   // slow = 10, fast = 20
///   img.metadata().wavelength_angstrom = 0.9763;
///   img.set_mask(std::vector<uint8_t>(img.size(), 0)); // 0 = good pixel, non-zero = masked
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "difftriage/core/error.h"

namespace difftriage {

/// Largest accepted extent of either axis, and largest pixel count of one frame. Readers reject
/// headers beyond these (a corrupt header must not make us allocate terabytes).
inline constexpr int64_t kMaxImageExtent = 1 << 16;
inline constexpr int64_t kMaxImagePixels = int64_t{1} << 28;

/// Pixel types a frame can have.
enum class PixelType { kUint8, kUint16, kInt32, kFloat32 };

/// "uint8", "uint16", "int32", "float32".
const char* pixel_type_name(PixelType type) noexcept;

template <typename T>
constexpr PixelType pixel_type_of() {
  if constexpr (std::is_same_v<T, uint8_t>) return PixelType::kUint8;
  else if constexpr (std::is_same_v<T, uint16_t>) return PixelType::kUint16;
  else if constexpr (std::is_same_v<T, int32_t>) return PixelType::kInt32;
  else {
    static_assert(std::is_same_v<T, float>, "Image<T>: T must be uint8_t, uint16_t, int32_t or float");
    return PixelType::kFloat32;
  }
}

/// Shape of the detector's sensitive surface, as far as the format says.
enum class DetectorSurface {
  kFlat,      ///< one plane (assumed unless the format says otherwise)
  kCylinder,  ///< modules on a cylinder around the sample (the DLS I23 PILATUS 12M)
};

/// "flat", "cylinder".
const char* detector_surface_name(DetectorSurface surface) noexcept;

/// Detector and beam facts that came with a frame. Every field is optional: a PGM has none, a
/// CBF header has most. Lengths in mm, wavelength in Å, beam centre in pixels (fast, slow) from
/// the first pixel's corner as DIALS/CrystFEL count.
struct DetectorMetadata {
  std::optional<double> pixel_size_mm;
  std::optional<double> distance_mm;
  std::optional<double> wavelength_angstrom;
  std::optional<double> beam_center_fast_px;
  std::optional<double> beam_center_slow_px;
  std::optional<double> exposure_s;
  /// Counts at or above this value are overloaded (not trustworthy).
  std::optional<double> saturation_value;
  /// Free text: detector model, format variant.
  std::string detector;
  /// Not kFlat when the reader knows the detector is not one plane: such a frame has no
  /// DetectorGeometry (core/detector_geometry.h), and the other fields describe it only roughly.
  DetectorSurface surface = DetectorSurface::kFlat;
};

/// Non-owning view of a row-major slow × fast pixel block. Cheap to copy; valid while the
/// owner lives. Not thread-safe for concurrent writes (it is read-only).
template <typename T>
class ImageView {
 public:
  ImageView() = default;
  /// `data` holds `n_slow * n_fast` pixels; `mask` is null or holds as many bytes (non-zero =
  /// masked).
  ImageView(const T* data, int64_t n_slow, int64_t n_fast, const uint8_t* mask = nullptr,
            const DetectorMetadata* metadata = nullptr)
      : data_(data), mask_(mask), metadata_(metadata), n_slow_(n_slow), n_fast_(n_fast) {}

  int64_t n_slow() const noexcept { return n_slow_; }
  int64_t n_fast() const noexcept { return n_fast_; }
  int64_t size() const noexcept { return n_slow_ * n_fast_; }
  bool empty() const noexcept { return size() == 0; }
  const T* data() const noexcept { return data_; }
  const T& operator()(int64_t slow, int64_t fast) const noexcept {
    return data_[slow * n_fast_ + fast];
  }
  /// Null when the frame has no mask.
  const uint8_t* mask() const noexcept { return mask_; }
  bool is_masked(int64_t index) const noexcept { return mask_ != nullptr && mask_[index] != 0; }
  /// Null when the owner has no metadata to offer.
  const DetectorMetadata* metadata() const noexcept { return metadata_; }

 private:
  const T* data_ = nullptr;
  const uint8_t* mask_ = nullptr;
  const DetectorMetadata* metadata_ = nullptr;
  int64_t n_slow_ = 0;
  int64_t n_fast_ = 0;
};

/// An owned frame. Copyable and movable; not thread-safe for concurrent mutation.
template <typename T>
class Image {
 public:
  using value_type = T;

  Image() = default;
  /// A frame of `n_slow` rows and `n_fast` columns filled with `fill`.
  /// @throws ConfigError if an extent is negative or the frame exceeds kMaxImagePixels.
  Image(int64_t n_slow, int64_t n_fast, T fill = T{}) : n_slow_(n_slow), n_fast_(n_fast) {
    DT_CHECK(n_slow >= 0 && n_fast >= 0 && n_slow <= kMaxImageExtent && n_fast <= kMaxImageExtent &&
                 n_slow * n_fast <= kMaxImagePixels,
             ConfigError, "image size ", n_slow, " x ", n_fast, " (slow x fast) is out of range");
    pixels_.assign(static_cast<size_t>(n_slow * n_fast), fill);
  }

  int64_t n_slow() const noexcept { return n_slow_; }
  int64_t n_fast() const noexcept { return n_fast_; }
  int64_t size() const noexcept { return n_slow_ * n_fast_; }
  bool empty() const noexcept { return size() == 0; }
  static constexpr PixelType pixel_type() { return pixel_type_of<T>(); }

  T* data() noexcept { return pixels_.data(); }
  const T* data() const noexcept { return pixels_.data(); }
  std::vector<T>& pixels() noexcept { return pixels_; }
  const std::vector<T>& pixels() const noexcept { return pixels_; }
  T& operator()(int64_t slow, int64_t fast) noexcept { return pixels_[slow * n_fast_ + fast]; }
  const T& operator()(int64_t slow, int64_t fast) const noexcept {
    return pixels_[slow * n_fast_ + fast];
  }

  DetectorMetadata& metadata() noexcept { return metadata_; }
  const DetectorMetadata& metadata() const noexcept { return metadata_; }

  bool has_mask() const noexcept { return !mask_.empty(); }
  /// Empty when the frame has no mask; otherwise one byte per pixel, non-zero = masked.
  const std::vector<uint8_t>& mask() const noexcept { return mask_; }
  /// @throws ConfigError if `mask` is neither empty nor one byte per pixel.
  void set_mask(std::vector<uint8_t> mask) {
    DT_CHECK(mask.empty() || static_cast<int64_t>(mask.size()) == size(), ConfigError,
             "mask has ", mask.size(), " entries, image has ", size(), " pixels");
    mask_ = std::move(mask);
  }
  /// Number of masked pixels (0 without a mask).
  int64_t n_masked() const noexcept {
    int64_t n = 0;
    for (uint8_t m : mask_) n += (m != 0);
    return n;
  }

  ImageView<T> view() const noexcept {
    return ImageView<T>(pixels_.data(), n_slow_, n_fast_, has_mask() ? mask_.data() : nullptr,
                        &metadata_);
  }
  operator ImageView<T>() const noexcept { return view(); }  // NOLINT: views are cheap

 private:
  std::vector<T> pixels_;
  std::vector<uint8_t> mask_;
  DetectorMetadata metadata_;
  int64_t n_slow_ = 0;
  int64_t n_fast_ = 0;
};

/// A frame whose pixel type is known only at run time (what readers return).
using AnyImage = std::variant<Image<uint8_t>, Image<uint16_t>, Image<int32_t>, Image<float>>;

/// Pixel type of `image`.
PixelType pixel_type(const AnyImage& image) noexcept;
/// Extents of `image` as {n_slow, n_fast}.
std::pair<int64_t, int64_t> extents(const AnyImage& image) noexcept;
/// Metadata of `image`.
const DetectorMetadata& metadata(const AnyImage& image) noexcept;
DetectorMetadata& metadata(AnyImage& image) noexcept;

/// Converts any frame to float pixels (mask and metadata kept).
Image<float> to_float(const AnyImage& image);

}  // namespace difftriage
