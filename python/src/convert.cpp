#include "convert.h"

#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>
#include <variant>

#include "difftriage/core/error.h"
#include "difftriage/core/json_text.h"

namespace difftriage::python {

py::object json_to_py(const nlohmann::json& value) {
  using T = nlohmann::json::value_t;
  switch (value.type()) {
    case T::boolean:
      return py::bool_(value.get<bool>());
    case T::number_integer:
      return py::int_(value.get<int64_t>());
    case T::number_unsigned:
      return py::int_(value.get<uint64_t>());
    case T::number_float:
      return py::float_(value.get<double>());
    case T::string:
      return py::str(value.get_ref<const std::string&>());
    case T::array: {
      py::list list;
      for (const auto& item : value) list.append(json_to_py(item));
      return std::move(list);
    }
    case T::object: {
      py::dict dict;
      for (const auto& [key, item] : value.items()) dict[py::str(key)] = json_to_py(item);
      return std::move(dict);
    }
    default:  // null, binary, discarded
      return py::none();
  }
}

nlohmann::json py_to_json(py::handle value, const std::string& what) {
  if (value.is_none()) return nullptr;
  if (py::isinstance<py::bool_>(value)) return value.cast<bool>();
  if (py::isinstance<py::int_>(value)) return value.cast<int64_t>();
  if (py::isinstance<py::float_>(value)) return value.cast<double>();
  if (py::isinstance<py::str>(value)) return value.cast<std::string>();
  if (py::isinstance<py::dict>(value)) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [key, item] : value.cast<py::dict>()) {
      DT_CHECK(py::isinstance<py::str>(key), ConfigError, what, ": keys must be strings");
      const auto name = key.cast<std::string>();
      out[name] = py_to_json(item, what + "." + name);
    }
    return out;
  }
  if (py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value)) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : value) out.push_back(py_to_json(item, what));
    return out;
  }
  if (py::isinstance<py::array>(value) && value.cast<py::array>().ndim() == 0) {
    return py_to_json(value.attr("item")(), what);  // a NumPy scalar array
  }
  if (py::hasattr(value, "dtype") && py::hasattr(value, "item")) {
    return py_to_json(value.attr("item")(), what);  // a NumPy scalar (np.float64, np.int32)
  }
  throw ConfigError(what + ": cannot convert a " +
                    py::str(py::type::of(value).attr("__name__")).cast<std::string>() +
                    " to JSON");
}

namespace {

template <typename T>
py::array owned_array(Image<T>&& image) {
  auto* owned = new Image<T>(std::move(image));
  py::capsule keeper(owned, [](void* p) { delete static_cast<Image<T>*>(p); });
  const auto n_fast = static_cast<py::ssize_t>(owned->n_fast());
  const auto n_slow = static_cast<py::ssize_t>(owned->n_slow());
  return py::array_t<T>({n_slow, n_fast},
                        {n_fast * static_cast<py::ssize_t>(sizeof(T)),
                         static_cast<py::ssize_t>(sizeof(T))},
                        owned->data(), keeper);
}

template <typename T>
py::array typed(py::handle array) {
  return py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(array);
}

std::string dtype_name(const py::dtype& dt) {
  return py::str(static_cast<const py::handle&>(dt)).cast<std::string>();
}

std::string shape_text(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t k = 0; k < a.ndim(); ++k) {
    if (k > 0) s += ", ";
    s += std::to_string(a.shape(k));
  }
  return s + (a.ndim() == 1 ? ",)" : ")");
}

}  // namespace

py::array image_to_array(AnyImage&& image) {
  return std::visit([](auto& img) { return owned_array(std::move(img)); }, image);
}

py::dict metadata_to_dict(const AnyImage& image) {
  const auto [n_slow, n_fast] = extents(image);
  const DetectorMetadata& md = metadata(image);
  py::dict d;
  d["n_slow"] = n_slow;
  d["n_fast"] = n_fast;
  d["dtype"] = pixel_type_name(pixel_type(image));
  auto put = [&](const char* key, const std::optional<double>& v) {
    d[key] = v ? py::object(py::float_(*v)) : py::object(py::none());
  };
  put("wavelength_angstrom", md.wavelength_angstrom);
  put("distance_mm", md.distance_mm);
  put("pixel_size_mm", md.pixel_size_mm);
  put("beam_center_fast_px", md.beam_center_fast_px);
  put("beam_center_slow_px", md.beam_center_slow_px);
  put("exposure_s", md.exposure_s);
  put("saturation_value", md.saturation_value);
  d["detector"] = to_utf8_lossy(md.detector);
  d["surface"] = detector_surface_name(md.surface);
  const GeometryLookup found = geometry_from_metadata(md, n_fast, n_slow);
  d["geometry"] = found ? py::object(geometry_to_dict(*found.geometry)) : py::object(py::none());
  d["geometry_why_not"] = found ? py::object(py::none()) : py::object(py::str(found.why_not));
  std::visit(
      [&](const auto& img) {
        if (!img.has_mask()) {
          d["mask"] = py::none();
          d["n_masked"] = 0;
          return;
        }
        py::array_t<bool> mask({static_cast<py::ssize_t>(n_slow), static_cast<py::ssize_t>(n_fast)});
        bool* out = mask.mutable_data();
        const auto& in = img.mask();
        int64_t n_masked = 0;
        for (size_t i = 0; i < in.size(); ++i) {
          out[i] = in[i] != 0;
          n_masked += out[i];
        }
        d["mask"] = std::move(mask);
        d["n_masked"] = n_masked;
      },
      image);
  return d;
}

py::array as_frame_array(py::handle object, const std::string& what) {
  py::array a = py::array::ensure(object);
  DT_CHECK(a, ConfigError, what, " is not an array");
  DT_CHECK(a.ndim() == 2, ConfigError, what, " must be a 2-D array (slow, fast), has shape ",
           shape_text(a));
  const int64_t n_slow = a.shape(0), n_fast = a.shape(1);
  DT_CHECK(n_slow > 0 && n_fast > 0 && n_slow <= kMaxImageExtent && n_fast <= kMaxImageExtent &&
               n_slow * n_fast <= kMaxImagePixels,
           ConfigError, what, ": frame size ", n_slow, " x ", n_fast,
           " (slow x fast) is out of range");
  const py::dtype dt = a.dtype();
  const char kind = dt.kind();
  const auto size = dt.itemsize();
  if (kind == 'u' && size == 1) return typed<uint8_t>(a);
  if (kind == 'u' && size == 2) return typed<uint16_t>(a);
  if (kind == 'i' && size == 4) return typed<int32_t>(a);
  if (kind == 'f' && size == 4) return typed<float>(a);
  if (kind == 'b') return typed<uint8_t>(a);
  if (kind == 'f' && (size == 8 || size == 2)) return typed<float>(a);
  if (kind == 'i' || kind == 'u') {
    if (size > 2) {  // int64, uint32, uint64: only when every value fits int32
      const auto lo = a.attr("min")().cast<double>();
      const auto hi = a.attr("max")().cast<double>();
      DT_CHECK(lo >= std::numeric_limits<int32_t>::min() && hi <= std::numeric_limits<int32_t>::max(),
               ConfigError, what, ": ", dtype_name(dt),
               " values outside the int32 range (", lo, " .. ", hi, ")");
    }
    return typed<int32_t>(a);
  }
  throw ConfigError(what + ": dtype " + dtype_name(dt) +
                    " is not a pixel type (uint8, uint16, int32 or float32; other integers and "
                    "floats are converted)");
}

FrameBuffer frame_buffer(const py::array& frame) {
  FrameBuffer b;
  const py::dtype dt = frame.dtype();
  const char kind = dt.kind();
  const auto size = dt.itemsize();
  if (kind == 'u' && size == 1) b.type = PixelType::kUint8;
  else if (kind == 'u' && size == 2) b.type = PixelType::kUint16;
  else if (kind == 'i' && size == 4) b.type = PixelType::kInt32;
  else if (kind == 'f' && size == 4) b.type = PixelType::kFloat32;
  else throw ConfigError("internal: frame_buffer of a dtype as_frame_array does not return");
  b.data = frame.data();
  b.n_slow = frame.shape(0);
  b.n_fast = frame.shape(1);
  return b;
}

namespace {
template <typename T>
AnyImage copy_as(const FrameBuffer& f) {
  Image<T> img(f.n_slow, f.n_fast);
  std::memcpy(img.data(), f.data, static_cast<size_t>(img.size()) * sizeof(T));
  return img;
}
}  // namespace

AnyImage copy_frame(const FrameBuffer& f) {
  switch (f.type) {
    case PixelType::kUint8: return copy_as<uint8_t>(f);
    case PixelType::kUint16: return copy_as<uint16_t>(f);
    case PixelType::kInt32: return copy_as<int32_t>(f);
    case PixelType::kFloat32: return copy_as<float>(f);
  }
  throw ConfigError("internal: unknown pixel type");
}

std::vector<py::array> frame_arrays(py::handle frames) {
  std::vector<py::array> out;
  if (py::isinstance<py::array>(frames)) {
    const auto a = frames.cast<py::array>();
    if (a.ndim() == 3) {
      for (py::ssize_t k = 0; k < a.shape(0); ++k) {
        out.push_back(as_frame_array(frames[py::int_(k)], "frame " + std::to_string(k)));
      }
      return out;
    }
    DT_CHECK(a.ndim() == 2, ConfigError,
             "frames must be a 2-D array, a 3-D stack (frame, slow, fast) or a sequence of 2-D "
             "arrays; got an array of shape ", shape_text(a));
    out.push_back(as_frame_array(frames, "frame 0"));
    return out;
  }
  DT_CHECK(py::isinstance<py::sequence>(frames) && !py::isinstance<py::str>(frames), ConfigError,
           "frames must be a 2-D array, a 3-D stack (frame, slow, fast) or a sequence of 2-D "
           "arrays");
  const auto seq = frames.cast<py::sequence>();
  out.reserve(seq.size());
  for (size_t k = 0; k < seq.size(); ++k) {
    out.push_back(as_frame_array(seq[k], "frame " + std::to_string(k)));
  }
  return out;
}

Image<float> float_frame(py::handle array, py::handle mask) {
  const py::array a = as_frame_array(array, "image");
  Image<float> img = to_float(copy_frame(frame_buffer(a)));
  if (!mask.is_none()) {
    auto m = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>::ensure(mask);
    DT_CHECK(m, ConfigError, "mask is not an array");
    DT_CHECK(m.ndim() == 2 && m.shape(0) == img.n_slow() && m.shape(1) == img.n_fast(),
             ConfigError, "mask has shape ", shape_text(m), ", the image (", img.n_slow(), ", ",
             img.n_fast(), ")");
    img.set_mask(std::vector<uint8_t>(m.data(), m.data() + m.size()));
  }
  return img;
}

std::filesystem::path to_path(py::handle path) {
  const py::module_ os = py::module_::import("os");
  const py::bytes bytes = os.attr("fsencode")(path);  // str, bytes or os.PathLike
  return std::filesystem::path(bytes.cast<std::string>());
}

std::optional<DetectorGeometry> geometry_from_py(py::handle geometry) {
  if (geometry.is_none()) return std::nullopt;
  if (py::isinstance<py::dict>(geometry)) {
    return geometry_from_json(py_to_json(geometry, "geometry").dump(), "geometry");
  }
  const py::module_ os = py::module_::import("os");
  DT_CHECK(py::isinstance<py::str>(geometry) || py::isinstance(geometry, os.attr("PathLike")),
           ConfigError,
           "geometry must be None, a dict with the geometry keys (wavelength_angstrom, "
           "distance_mm, pixel_size_mm, beam_center_fast_px, beam_center_slow_px[, n_fast, "
           "n_slow]) or the path of a geometry JSON file");
  return read_geometry_json(to_path(geometry));
}

py::dict geometry_to_dict(const DetectorGeometry& geometry) {
  return json_to_py(geometry_to_json(geometry)).cast<py::dict>();
}

}  // namespace difftriage::python
