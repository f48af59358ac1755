/// The detector: photon noise, gain, read noise, saturation; binning to the output size and the
/// map to 8 bits. Pure functions, safe to call concurrently.
///
///   Image<float> adu = apply_detector(photons, spec.detector, spec.noise_seed);
///   Image<float> binned = bin_frame(adu, 2, BinningMode::kMax);
///   Image<uint8_t> out = map_to_8bit(binned, spec.intensity_map, spec.detector.pedestal_adu);
#pragma once

#include <cstdint>

#include "difftriage/core/image.h"
#include "difftriage/simulate/scene.h"

namespace difftriage::simulate {

/// Counts the detector records for expected photons per pixel `photons`:
///   ADU = pedestal + gain·Poisson(photons) + N(0, read noise), clipped to [0, saturation].
/// Poisson draws are exact (FastRng::poisson) below mean Rng::kPoissonNormalCutoff; above, photon
/// and read noise are drawn together as one normal of variance gain²·photons + read noise². Each
/// row has its own FastRng seeded from (`seed`, row), so the result is a pure function of the
/// arguments. ADU are rounded half up; saturation is clipped before rounding.
Image<float> apply_detector(const Image<float>& photons, const DetectorSpec& detector,
                            uint64_t seed);

/// Bins `factor`×`factor` blocks (mean or max). Extents must be multiples of `factor`.
/// @throws ConfigError if factor < 1 or does not divide the extents.
Image<float> bin_frame(const Image<float>& image, int32_t factor, BinningMode mode);

/// v = offset_8bit + (ADU − pedestal)/adu_per_level, rounded half up, clipped to [0, 255].
Image<uint8_t> map_to_8bit(const Image<float>& adu, const IntensityMapSpec& map,
                           double pedestal_adu);

/// Full-resolution ADU as 16-bit (clipped to [0, 65535]) or 32-bit integers, rounded.
Image<uint16_t> to_uint16(const Image<float>& adu);
Image<int32_t> to_int32(const Image<float>& adu);

}  // namespace difftriage::simulate
