#include "difftriage/core/image.h"

namespace difftriage {

const char* pixel_type_name(PixelType type) noexcept {
  switch (type) {
    case PixelType::kUint8: return "uint8";
    case PixelType::kUint16: return "uint16";
    case PixelType::kInt32: return "int32";
    case PixelType::kFloat32: return "float32";
  }
  return "unknown";
}

const char* detector_surface_name(DetectorSurface surface) noexcept {
  switch (surface) {
    case DetectorSurface::kFlat: return "flat";
    case DetectorSurface::kCylinder: return "cylinder";
  }
  return "unknown";
}

PixelType pixel_type(const AnyImage& image) noexcept {
  return std::visit([](const auto& img) { return img.pixel_type(); }, image);
}

std::pair<int64_t, int64_t> extents(const AnyImage& image) noexcept {
  return std::visit([](const auto& img) { return std::make_pair(img.n_slow(), img.n_fast()); },
                    image);
}

const DetectorMetadata& metadata(const AnyImage& image) noexcept {
  return std::visit([](const auto& img) -> const DetectorMetadata& { return img.metadata(); },
                    image);
}

DetectorMetadata& metadata(AnyImage& image) noexcept {
  return std::visit([](auto& img) -> DetectorMetadata& { return img.metadata(); }, image);
}

Image<float> to_float(const AnyImage& image) {
  return std::visit(
      [](const auto& img) {
        Image<float> out(img.n_slow(), img.n_fast());
        const auto* src = img.data();
        float* dst = out.data();
        for (int64_t i = 0; i < img.size(); ++i) dst[i] = static_cast<float>(src[i]);
        out.metadata() = img.metadata();
        out.set_mask(img.mask());
        return out;
      },
      image);
}

}  // namespace difftriage
