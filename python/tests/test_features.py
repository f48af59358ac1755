"""Spot finder, radial profile, ice score and metrics on NumPy arrays, checked against values
computed independently here."""
import math

import numpy as np
import pytest

import difftriage


def planted_spots():
    rng = np.random.default_rng(4)
    image = rng.poisson(20.0, size=(128, 160)).astype(np.uint16)
    spots = [(30, 40), (90, 100), (64, 20)]  # (slow, fast)
    for s, f in spots:
        image[s, f] += 400
        image[s, f + 1] += 200
    return image, spots


def test_find_spots_returns_a_structured_array_at_the_planted_spots():
    image, spots = planted_spots()
    found = difftriage.find_spots(image)
    assert found.dtype.names == ("fast_px", "slow_px", "peak", "background", "snr", "n_pixels")
    assert found.dtype["n_pixels"] == np.int64 and found.dtype["snr"] == np.float64
    assert len(found) == len(spots)
    got = sorted((round(float(s)), round(float(f))) for f, s in zip(found["fast_px"],
                                                                   found["slow_px"]))
    # centroid of 400 at f and 200 at f + 1 (pixel centres at +0.5): f + 0.5 + 1/3
    assert got == sorted((s, f + 1) for s, f in spots)
    for spot in found:
        assert spot["peak"] >= 400 and spot["snr"] > 5 and spot["n_pixels"] >= 1
    # a masked spot is not found
    mask = np.zeros(image.shape, bool)
    mask[28:33, 38:44] = True
    assert len(difftriage.find_spots(image, mask)) == len(spots) - 1
    assert len(difftriage.find_spots(image, n_sigma=1e6)) == 0


def test_find_peaks_gives_each_peak_its_resolution_and_role():
    geometry = {"wavelength_angstrom": 1.0, "distance_mm": 50.0, "pixel_size_mm": 0.2,
                "beam_center_fast_px": 128.0, "beam_center_slow_px": 128.0}

    def radius_px(d):  # flat detector: r = D tan 2θ, sin θ = λ / 2d
        return 50.0 * math.tan(2 * math.asin(1.0 / (2 * d))) / 0.2

    rng = np.random.default_rng(7)
    image = rng.poisson(20.0, size=(256, 256)).astype(np.float32)
    # (fast, slow) pixels: a Bragg peak at d = 3.0 Å, one on the 3.669 Å ice ring, one 3 pixels
    # from the beam centre (d ≈ 170 Å) and a faint one (SNR between 4 and 10).
    bragg = (128 + round(radius_px(3.0)), 128)
    ice = (128, 128 + round(radius_px(3.669)))
    near = (131, 128)
    for f, s in (bragg, ice, near):
        image[s, f] += 600
    faint = (60, 60)
    image[faint[1], faint[0]] += 35
    peaks = difftriage.find_peaks(image, geometry=geometry)
    assert peaks.dtype.names == ("fast_px", "slow_px", "height", "snr", "d_angstrom", "role")
    assert peaks.dtype["role"] == np.int32 and difftriage.PEAK_ROLES[0] == "bragg"

    def at(pixel):
        hit = [p for p in peaks if abs(p["fast_px"] - pixel[0] - 0.5) < 0.5 and
               abs(p["slow_px"] - pixel[1] - 0.5) < 0.5]
        assert len(hit) == 1, pixel
        return hit[0]

    # the centroid sits at the pixel's centre (f + 0.5, pixel-edge coordinates) give or take the
    # noise in its 3 x 3, so d follows from the pixel's distance to the beam centre
    p = at(bragg)
    r = math.hypot(p["fast_px"] - 128.0, p["slow_px"] - 128.0) * 0.2
    assert p["d_angstrom"] == pytest.approx(1.0 / (2 * math.sin(math.atan(r / 50.0) / 2)),
                                            rel=1e-9)
    assert p["d_angstrom"] == pytest.approx(3.0, rel=0.01)
    assert difftriage.PEAK_ROLES[p["role"]] == "bragg" and p["snr"] >= 10
    assert difftriage.PEAK_ROLES[at(ice)["role"]] == "ice_ring"
    assert difftriage.PEAK_ROLES[at(near)["role"]] == "near_beam"
    assert at(near)["d_angstrom"] > 60
    f = at(faint)
    assert 4 <= f["snr"] < 10 and difftriage.PEAK_ROLES[f["role"]] == "weak"
    assert list(peaks["snr"]) == sorted(peaks["snr"], reverse=True)
    # without a geometry: the same peaks, no resolution, no role
    plain = difftriage.find_peaks(image)
    assert len(plain) == len(peaks) and np.isnan(plain["d_angstrom"]).all()
    assert (plain["role"] == -1).all()
    assert np.array_equal(plain["fast_px"], peaks["fast_px"])
    with pytest.raises(ValueError, match="geometry is for a 100 x 100 frame"):
        difftriage.find_peaks(image, geometry=dict(geometry, n_fast=100, n_slow=100))
    with pytest.raises(ValueError, match="max_peaks"):
        difftriage.find_peaks(image, max_peaks=0)


def test_radial_profile_equals_shell_means():
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 100, size=(40, 50)).astype(np.float32)
    p = difftriage.radial_profile(image, center_fast_px=20.0, center_slow_px=15.0)
    slow, fast = np.indices(image.shape)
    r = np.hypot(fast + 0.5 - 20.0, slow + 0.5 - 15.0)
    shell = np.floor(r).astype(int)
    assert (p["center_fast_px"], p["center_slow_px"]) == (20.0, 15.0)
    for k in (0, 3, 10, 25):
        sel = shell == k
        assert p["n_pixels"][k] == sel.sum()
        assert p["mean"][k] == pytest.approx(image[sel].astype(np.float64).mean(), rel=1e-9)
    assert p["radius_px"][3] == pytest.approx(3.5)


def test_ice_score_finds_a_ring_at_the_ice_spacing():
    geometry = {"wavelength_angstrom": 1.0, "distance_mm": 100.0, "pixel_size_mm": 0.2,
                "beam_center_fast_px": 128.0, "beam_center_slow_px": 128.0}
    d = 3.669
    radius = 100.0 * math.tan(2 * math.asin(1.0 / (2 * d))) / 0.2
    slow, fast = np.indices((256, 256))
    r = np.hypot(fast + 0.5 - 128, slow + 0.5 - 128)
    rng = np.random.default_rng(2)
    image = rng.poisson(30.0, size=r.shape).astype(np.float64)
    image[np.abs(r - radius) < 1.0] += 60
    s = difftriage.ice_score(image, geometry=geometry)
    assert s["used_geometry"] is True
    assert s["score"] > 5
    assert s["radius_px"] == pytest.approx(radius, abs=1.5)
    assert s["d_angstrom"] == pytest.approx(d, rel=0.02)
    flat = difftriage.ice_score(rng.poisson(30.0, size=r.shape), geometry=geometry)
    assert flat["score"] < s["score"] / 3


def test_binary_metrics_by_hand():
    scores = np.array([0.9, 0.8, 0.4, 0.3, 0.2])
    truth = np.array([1, 0, 1, 0, 0])
    m = difftriage.evaluate_binary(scores, truth, threshold=0.5)
    assert m["confusion"] == {"tp": 1, "fp": 1, "tn": 2, "fn": 1}
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["majority_accuracy"] == pytest.approx(3 / 5)
    assert m["precision"] == pytest.approx(0.5) and m["recall"] == pytest.approx(0.5)
    # positives 0.9, 0.4 against negatives 0.8, 0.3, 0.2: 5 of 6 pairs ordered
    assert m["roc_auc"] == pytest.approx(5 / 6)
    assert difftriage.roc_auc(scores, truth) == pytest.approx(5 / 6)
    # AP: recall 0.5 at precision 1 (t = 0.9), recall 1 at precision 2/3 (t = 0.4)
    assert difftriage.average_precision(scores, truth) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert len(m["roc"]["fpr"]) == len(m["roc"]["tpr"]) > 2
    one_class = difftriage.evaluate_binary([0.1, 0.2], [0, 0])
    assert one_class["roc_auc"] is None and math.isnan(difftriage.roc_auc([0.1, 0.2], [0, 0]))


def test_multiclass_regression_and_veto_metrics():
    m = difftriage.evaluate_multiclass([0, 1, 2, 2], [0, 2, 2, 2], ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["confusion"] == [[1, 0, 0], [0, 0, 1], [0, 0, 2]]
    assert m["majority_class"] == "c"
    truth = np.array([0.1, 0.4, 0.5, 0.9])
    pred = np.array([0.2, 0.4, 0.3, 0.7])
    r = difftriage.evaluate_regression(truth, pred)
    assert r["mae"] == pytest.approx(np.abs(pred - truth).mean())
    assert r["rmse"] == pytest.approx(math.sqrt(((pred - truth) ** 2).mean()))
    masked = difftriage.evaluate_regression(truth, pred, mask=[1, 1, 0, 0])
    assert masked["n"] == 2 and masked["mae"] == pytest.approx(0.05)
    v = difftriage.find_veto_point([0.9, 0.7, 0.2, 0.1, 0.05], [1, 1, 0, 0, 1], keep_fraction=2 / 3)
    assert v["threshold"] == pytest.approx(0.7)
    assert v["n_positive_kept"] == 2 and v["n_negative_rejected"] == 2
    with pytest.raises(ValueError, match="truth"):
        difftriage.evaluate_binary([0.1, 0.2], [0, 3])
