"""simulate() against `difftriage simulate`: the same frames, label rows and sidecars."""
import json

import numpy as np

import difftriage
from conftest import SIM_COUNT, SIM_SEED, run_cli


def label_files(folder):
    multi = [line.split() for line in (folder / "multiclasses.txt").read_text().splitlines()]
    cats = [line.split() for line in (folder / "categories1.txt").read_text().splitlines()]
    return multi, cats


def check_same(folder, frames, labels, truth, ext="pgm"):
    multi, cats = label_files(folder)
    assert len(multi) == len(cats) == len(labels) == len(truth) == frames.shape[0]
    names = ["blank", "photo1", "photo2", "multilattice", "ice", "badice"]
    for i, (row, m, c, t) in enumerate(zip(labels, multi, cats, truth)):
        name = f"fake_{i + 1:05d}.{ext}"
        assert row["file"] == m[0] == c[0] == name
        assert [row[k] for k in names] == [int(v) for v in m[1:7]]
        assert (row["mosaic1"], row["mosaic2"]) == (float(m[7]), float(m[8]))
        assert row["quality"] == c[1]
        on_disk = json.loads((folder / f"fake_{i + 1:05d}.json").read_text())
        assert t == on_disk
        pixels, _ = difftriage.read_frame(folder / name)
        assert pixels.dtype == np.uint8
        assert np.array_equal(frames[i], pixels)


def test_simulate_matches_the_cli(sim_dir):
    frames, labels, truth = difftriage.simulate(SIM_COUNT, SIM_SEED)
    assert frames.shape == (SIM_COUNT, 512, 512) and frames.dtype == np.uint8
    check_same(sim_dir, frames, labels, truth)


def test_simulate_options_match_the_cli(tmp_path):
    out = tmp_path / "sim"
    run_cli("simulate", "--out", out, "--count", 3, "--seed", 5, "--mix", "study",
            "--output-size", 128, "--full-size", 256, "--binning", "mean", "--preset", "photo2",
            "--wavelength", 1.2, "--format", "png", "--quiet")
    frames, labels, truth = difftriage.simulate(
        3, 5, "study", output_size=128, full_size=256, binning="mean", preset="photo2",
        wavelength_angstrom=1.2, format="png", threads=1)
    check_same(out, frames, labels, truth, ext="png")


def test_simulate_mix_as_dict_equals_mix_file(tmp_path):
    mix = {"blank": 1, "noxtal": 0, "weak": 0, "good": 0, "strong": 1, "photo1": 1,
           "photo2": 0, "both": 0, "custom": 0, "multilattice": 0, "ice": 0.5,
           "badice_given_ice": 0}
    path = tmp_path / "mix.json"
    path.write_text(json.dumps(mix))
    a = difftriage.simulate(4, 9, mix, output_size=64, full_size=128)
    b = difftriage.simulate(4, 9, str(path), output_size=64, full_size=128, threads=1)
    assert np.array_equal(a[0], b[0]) and a[1] == b[1] and a[2] == b[2]
    assert all(row["photo2"] == 0 for row in a[1])


def test_simulate_does_not_depend_on_threads_and_frames_outlive_nothing():
    a = difftriage.simulate(3, 21, output_size=64, full_size=128, threads=1)
    b = difftriage.simulate(3, 21, output_size=64, full_size=128, threads=3)
    assert np.array_equal(a[0], b[0]) and a[1] == b[1] and a[2] == b[2]
    c = difftriage.simulate(3, 22, output_size=64, full_size=128)
    assert not np.array_equal(a[0], c[0])
    assert a[0].flags.owndata and a[0].flags.writeable
