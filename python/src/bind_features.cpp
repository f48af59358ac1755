// Features and metrics on NumPy arrays: the spot finder, the radial profile, the ice score and
// the evaluation metrics (features/*.h, evaluate/metrics.h), each the library's own function.
#include <pybind11/stl.h>

#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "bindings.h"
#include "convert.h"
#include "difftriage/core/error.h"
#include "difftriage/evaluate/metrics.h"
#include "difftriage/features/ice.h"
#include "difftriage/features/lattice.h"
#include "difftriage/features/peaks.h"
#include "difftriage/features/radial.h"
#include "difftriage/features/spots.h"

namespace difftriage::python {
namespace {
namespace ft = difftriage::features;
namespace ev = difftriage::evaluate;

template <typename T>
py::array_t<T> to_numpy(const std::vector<T>& values) {
  py::array_t<T> out(static_cast<py::ssize_t>(values.size()));
  if (!values.empty()) std::memcpy(out.mutable_data(), values.data(), values.size() * sizeof(T));
  return out;
}

// The thresholds the spot finder and the peak finder share (same names in both option structs).
template <typename Options>
Options finder_options(int background_radius_px, int peak_radius_px, double n_sigma,
                       double min_excess, int border_px) {
  Options o;
  o.background_radius_px = background_radius_px;
  o.peak_radius_px = peak_radius_px;
  o.n_sigma = n_sigma;
  o.min_excess = min_excess;
  o.border_px = border_px;
  return o;
}

py::array find_spots(py::handle image, py::handle mask, int background_radius_px,
                     int peak_radius_px, double n_sigma, double min_excess, int min_pixels,
                     int max_pixels, int border_px) {
  const Image<float> frame = float_frame(image, mask);
  auto o = finder_options<ft::SpotFinderOptions>(background_radius_px, peak_radius_px, n_sigma,
                                                 min_excess, border_px);
  o.min_pixels = min_pixels;
  o.max_pixels = max_pixels;
  std::vector<ft::Spot> spots;
  {
    py::gil_scoped_release release;
    spots = ft::find_spots(frame.view(), o);
  }
  return to_numpy(spots);
}

// One row of find_peaks' structured array: the peak, its resolution and its role.
struct PeakRow {
  double fast_px, slow_px, height, snr, d_angstrom;
  int32_t role;
};

py::array find_peaks(py::handle image, py::handle mask, py::handle geometry,
                     int background_radius_px, int peak_radius_px, double n_sigma,
                     double min_excess, int border_px, int64_t max_peaks) {
  const Image<float> frame = float_frame(image, mask);
  const std::optional<DetectorGeometry> g = geometry_from_py(geometry);
  if (g) {
    DT_CHECK(!g->has_size() || (g->n_fast == frame.n_fast() && g->n_slow == frame.n_slow()),
             ConfigError, "geometry is for a ", g->n_fast, " x ", g->n_slow,
             " frame, the image is ", frame.n_fast(), " x ", frame.n_slow());
  }
  auto o = finder_options<ft::PeakFinderOptions>(background_radius_px, peak_radius_px, n_sigma,
                                                 min_excess, border_px);
  o.max_peaks = max_peaks;
  std::vector<PeakRow> rows;
  {
    py::gil_scoped_release release;
    const std::vector<ft::Peak> peaks = ft::find_peaks(frame.view(), o);
    rows.reserve(peaks.size());
    for (const ft::Peak& p : peaks) {
      PeakRow r{p.fast_px, p.slow_px, p.height, p.snr, std::numeric_limits<double>::quiet_NaN(),
                -1};
      if (g) {
        const double inv_d =
            norm(g->scattering_vector_per_angstrom(p.fast_px - 0.5, p.slow_px - 0.5));
        r.d_angstrom = inv_d > 0 ? 1.0 / inv_d : std::numeric_limits<double>::infinity();
        r.role = static_cast<int32_t>(ft::peak_role(p, *g));
      }
      rows.push_back(r);
    }
  }
  return to_numpy(rows);
}

ft::RadialProfileOptions profile_options(const std::optional<double>& center_fast_px,
                                         const std::optional<double>& center_slow_px,
                                         double bin_width_px) {
  ft::RadialProfileOptions o;
  o.center_fast_px = center_fast_px;
  o.center_slow_px = center_slow_px;
  o.bin_width_px = bin_width_px;
  return o;
}

py::dict radial_profile(py::handle image, py::handle mask, std::optional<double> center_fast_px,
                        std::optional<double> center_slow_px, double bin_width_px) {
  const Image<float> frame = float_frame(image, mask);
  const auto o = profile_options(center_fast_px, center_slow_px, bin_width_px);
  ft::RadialProfile p;
  {
    py::gil_scoped_release release;
    p = ft::radial_profile(frame.view(), o);
  }
  py::dict d;
  d["center_fast_px"] = p.center_fast_px;
  d["center_slow_px"] = p.center_slow_px;
  d["bin_width_px"] = p.bin_width_px;
  d["radius_px"] = to_numpy(p.radius_px);
  d["mean"] = to_numpy(p.mean);
  d["n_pixels"] = to_numpy(p.n_pixels);
  return d;
}

py::dict ice_score(py::handle image, py::handle mask, py::handle geometry,
                   std::optional<double> center_fast_px, std::optional<double> center_slow_px,
                   double bin_width_px, int ring_half_width_bins, int flank_bins,
                   double min_radius_px) {
  Image<float> frame = float_frame(image, mask);
  ft::IceScoreOptions o;
  o.profile = profile_options(center_fast_px, center_slow_px, bin_width_px);
  o.geometry = geometry_from_py(geometry);
  o.ring_half_width_bins = ring_half_width_bins;
  o.flank_bins = flank_bins;
  o.min_radius_px = min_radius_px;
  ft::IceScore s;
  {
    py::gil_scoped_release release;
    s = ft::ice_score(frame.view(), o);
  }
  py::dict d;
  d["score"] = s.score;
  d["radius_px"] = s.radius_px;
  d["d_angstrom"] = s.d_angstrom;
  d["used_geometry"] = s.used_geometry;
  return d;
}

std::vector<double> doubles(py::handle values, const char* what) {
  auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(values);
  DT_CHECK(a && a.ndim() == 1, ConfigError, what, " must be a 1-D sequence of numbers");
  return std::vector<double>(a.data(), a.data() + a.size());
}

// 0/1 truth (or a mask): values other than 0 and 1 become 2, which the library rejects naming
// the index (a mask only tests != 0, so for it any non-zero value counts as 1).
std::vector<uint8_t> zero_one(py::handle values, const char* what) {
  const auto v = doubles(values, what);
  std::vector<uint8_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = v[i] == 0.0 ? 0 : v[i] == 1.0 ? 1 : 2;
  return out;
}

std::vector<int> class_indices(py::handle values, const char* what) {
  const auto v = doubles(values, what);
  std::vector<int> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    DT_CHECK(v[i] == static_cast<double>(static_cast<int>(v[i])), ConfigError, what, "[", i,
             "] = ", v[i], " is not a class index");
    out[i] = static_cast<int>(v[i]);
  }
  return out;
}

}  // namespace

void bind_features(py::module_& m) {
  PYBIND11_NUMPY_DTYPE(ft::Spot, fast_px, slow_px, peak, background, snr, n_pixels);
  m.def("find_spots", &find_spots, py::arg("image"), py::arg("mask") = py::none(), py::kw_only(),
        py::arg("background_radius_px") = 6, py::arg("peak_radius_px") = 2,
        py::arg("n_sigma") = 5.0, py::arg("min_excess") = 8.0, py::arg("min_pixels") = 1,
        py::arg("max_pixels") = 200, py::arg("border_px") = 2,
        R"(The classical spot finder (features/spots.h) on a 2-D frame (mask: True/non-zero =
masked). Returns a structured array with fields fast_px, slow_px (centroid, pixel-centre
coordinates), peak, background, snr (float64) and n_pixels (int64), one record per spot.
Raises ValueError for bad options or arrays.)");
  PYBIND11_NUMPY_DTYPE(PeakRow, fast_px, slow_px, height, snr, d_angstrom, role);
  m.def("find_peaks", &find_peaks, py::arg("image"), py::arg("mask") = py::none(), py::kw_only(),
        py::arg("geometry") = py::none(), py::arg("background_radius_px") = 5,
        py::arg("peak_radius_px") = 1, py::arg("n_sigma") = 4.0, py::arg("min_excess") = 3.0,
        py::arg("border_px") = 3, py::arg("max_peaks") = 3000,
        R"(The spot evidence's peak finder (features/peaks.h): every local maximum that stands
out of its local background, on the frame as given (classify max-bins frames larger than
2048 pixels a side first). Returns a structured array sorted by SNR, highest first, with fields
fast_px, slow_px (centroid, pixel-edge coordinates: pixel f spans [f, f + 1)), height, snr,
d_angstrom and role. With a geometry (dict or JSON path, for this frame's size) d_angstrom is
the peak's resolution and role what the triage counts it as: PEAK_ROLES[role], one of bragg
(counts for the veto guard and d_min), weak, ice_ring, near_beam; without one d_angstrom is NaN
and role -1. Raises ValueError for bad options, arrays or a geometry of another size.)");
  m.attr("PEAK_ROLES") = py::make_tuple("bragg", "weak", "ice_ring", "near_beam");
  m.def("radial_profile", &radial_profile, py::arg("image"), py::arg("mask") = py::none(),
        py::kw_only(), py::arg("center_fast_px") = py::none(),
        py::arg("center_slow_px") = py::none(), py::arg("bin_width_px") = 1.0,
        R"(Mean of unmasked pixels per radial shell around the beam centre (default: the frame
centre). Returns a dict: center_fast_px, center_slow_px, bin_width_px and the arrays radius_px
(shell centres), mean (0 where a shell has no pixel) and n_pixels.)");
  m.def("ice_score", &ice_score, py::arg("image"), py::arg("mask") = py::none(), py::kw_only(),
        py::arg("geometry") = py::none(), py::arg("center_fast_px") = py::none(),
        py::arg("center_slow_px") = py::none(), py::arg("bin_width_px") = 1.0,
        py::arg("ring_half_width_bins") = 1, py::arg("flank_bins") = 6,
        py::arg("min_radius_px") = 20.0,
        R"(The classical ice-ring score (features/ice.h): with a geometry (dict or JSON path)
it looks at the ice d-spacings, without one at every radius. Returns a dict: score,
radius_px, d_angstrom (0 without geometry), used_geometry.)");
  m.def(
      "evaluate_binary",
      [](py::handle scores, py::handle truth, double threshold, bool with_curves) {
        ev::BinaryOptions o;
        o.threshold = threshold;
        o.with_curves = with_curves;
        return json_to_py(ev::to_json(
            ev::evaluate_binary(doubles(scores, "scores"), zero_one(truth, "truth"), o)));
      },
      py::arg("scores"), py::arg("truth"), py::kw_only(), py::arg("threshold") = 0.5,
      py::arg("with_curves") = true,
      R"(Binary metrics of scores (score >= threshold is positive) against 0/1 truth, each
beside its chance baseline: a dict with evaluate/metrics.h BinaryMetrics' keys (confusion, roc
and pr nested); undefined values (NaN) are None.)");
  m.def(
      "roc_auc",
      [](py::handle scores, py::handle truth) {
        return ev::roc_auc(doubles(scores, "scores"), zero_one(truth, "truth"));
      },
      py::arg("scores"), py::arg("truth"),
      "Mann-Whitney ROC-AUC of scores against 0/1 truth (NaN unless both classes occur).");
  m.def(
      "average_precision",
      [](py::handle scores, py::handle truth) {
        return ev::average_precision(doubles(scores, "scores"), zero_one(truth, "truth"));
      },
      py::arg("scores"), py::arg("truth"),
      "Average precision (sklearn's definition) of scores against 0/1 truth (NaN without "
      "positives).");
  m.def(
      "evaluate_multiclass",
      [](py::handle truth, py::handle predicted, const std::vector<std::string>& class_names) {
        return json_to_py(ev::to_json(ev::evaluate_multiclass(
            class_indices(truth, "truth"), class_indices(predicted, "predicted"), class_names)));
      },
      py::arg("truth"), py::arg("predicted"), py::arg("class_names"),
      R"(Multiclass metrics of class indices in [0, len(class_names)): a dict with accuracy,
majority_accuracy, balanced_accuracy, macro_f1, the confusion matrix (truth rows) and
per_class; NaN values are None.)");
  m.def(
      "evaluate_regression",
      [](py::handle truth, py::handle predicted, py::handle mask) {
        return json_to_py(ev::to_json(ev::evaluate_regression(
            doubles(truth, "truth"), doubles(predicted, "predicted"),
            mask.is_none() ? std::vector<uint8_t>{} : zero_one(mask, "mask"))));
      },
      py::arg("truth"), py::arg("predicted"), py::arg("mask") = py::none(),
      R"(Regression errors (n, mae, rmse, r2, truth_mean and the predict-the-mean baselines),
optionally on the samples where mask is non-zero; NaN values are None.)");
  m.def(
      "find_veto_point",
      [](py::handle scores, py::handle truth, double keep_fraction) {
        ev::VetoOptions o;
        o.keep_fraction = keep_fraction;
        return json_to_py(ev::to_json(
            ev::find_veto_point(doubles(scores, "scores"), zero_one(truth, "truth"), o)));
      },
      py::arg("scores"), py::arg("truth"), py::kw_only(), py::arg("keep_fraction") = 0.999,
      R"(The veto operating point: the highest threshold that keeps keep_fraction of the
positives (truth 1), and how many negatives it rejects. A dict; NaN values are None.)");
}

}  // namespace difftriage::python
