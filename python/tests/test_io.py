"""read_frame / count_frames / frames / expand_inputs against `difftriage info --json` and the
input expansion of `difftriage classify`."""
import gc
import json
import os
import shutil

import numpy as np
import pytest

import difftriage
from conftest import SIM_COUNT, read_jsonl, run_cli, shared_file

METADATA_KEYS = ["pixel_size_mm", "distance_mm", "wavelength_angstrom", "beam_center_fast_px",
                 "beam_center_slow_px", "exposure_s", "saturation_value"]


def info_json(path, frame=0):
    arg = f"{path} //{frame}" if frame else str(path)
    return json.loads(run_cli("info", "--json", arg).stdout)


def check_against_info(path, frame=0):
    array, meta = difftriage.read_frame(path, frame)
    info = info_json(path, frame)
    assert array.shape == (info["n_slow"], info["n_fast"])
    assert (meta["n_slow"], meta["n_fast"]) == array.shape
    assert str(array.dtype) == info["dtype"] == meta["dtype"]
    assert meta["format"] == info["format"]
    assert meta["n_masked"] == info["n_masked"]
    if meta["mask"] is None:
        assert info["n_masked"] == 0
    else:
        assert meta["mask"].dtype == np.bool_ and meta["mask"].shape == array.shape
        assert int(meta["mask"].sum()) == info["n_masked"]
    for key in METADATA_KEYS:
        assert meta[key] == info["metadata"].get(key), key
    assert meta["detector"] == info["metadata"].get("detector", "")
    # pixel statistics over the unmasked pixels, as info computes them
    pixels = array[~meta["mask"]] if meta["mask"] is not None else array.ravel()
    assert float(pixels.min()) == info["pixels"]["min"]
    assert float(pixels.max()) == info["pixels"]["max"]
    assert float(pixels.astype(np.float64).mean()) == pytest.approx(info["pixels"]["mean"],
                                                                   rel=1e-9)
    return array, meta


def test_read_frame_pgm_matches_info(sim_dir):
    array, meta = check_against_info(sim_dir / "fake_00001.pgm")
    assert array.dtype == np.uint8 and array.shape == (512, 512)
    assert meta["geometry"] is None and "lacks" in meta["geometry_why_not"]
    assert meta["mask"] is None


def test_read_frame_cbf_matches_info_with_mask_and_geometry():
    path = shared_file("DLS_I03_smargon_0001.cbf.gz")
    array, meta = check_against_info(path)
    assert array.dtype == np.int32
    assert meta["n_masked"] > 0
    # masked pixels are the CBF gap (-1) and bad (-2) markers
    assert np.all(array[meta["mask"]] < 0) and np.all(array[~meta["mask"]] >= 0)
    g = meta["geometry"]
    assert g is not None and meta["geometry_why_not"] is None
    assert g["wavelength_angstrom"] == meta["wavelength_angstrom"]
    assert g["distance_mm"] == meta["distance_mm"]
    assert g["pixel_size_mm"] == meta["pixel_size_mm"]
    assert g["beam_center_fast_px"] == meta["beam_center_fast_px"]
    assert (g["n_fast"], g["n_slow"]) == (array.shape[1], array.shape[0])


def test_multi_frame_hdf5_count_and_frames_match_info():
    path = shared_file("eiger2_simread7_2datafiles_4images_bslz4_data_000001.h5")
    n = difftriage.count_frames(path)
    assert n >= 2
    check_against_info(path, n - 1)
    with pytest.raises(difftriage.FormatError, match="out of range"):
        difftriage.read_frame(path, n)


def test_array_owns_the_decoded_frame_without_copy(sim_dir):
    array, meta = difftriage.read_frame(sim_dir / "fake_00002.pgm")
    assert not array.flags.owndata and array.flags.c_contiguous
    assert type(array.base).__name__ == "PyCapsule"  # the C++ frame, freed with the array
    expected = array.copy()
    view = array[10:20, 30:40]  # a view keeps the frame alive too
    del array, meta
    gc.collect()
    assert np.array_equal(view, expected[10:20, 30:40])


def test_frames_expand_like_classify(sim_dir, tmp_path):
    # a folder (with non-frame files), a single frame of a file, and an event list
    lst = tmp_path / "some.lst"
    lst.write_text(f"# two frames\n{sim_dir / 'fake_00003.pgm'}\n{sim_dir / 'fake_00001.pgm'} //0\n")
    inputs = [str(sim_dir), f"{sim_dir / 'fake_00002.pgm'} //0", "@" + str(lst)]
    got = [(p, f) for p, f, _, _ in difftriage.frames(inputs)]
    out = tmp_path / "cls"
    run_cli("classify", *inputs, "--out", out, "--quiet", "--no-spot-evidence")
    cli = [(r["path"], r["frame"]) for r in read_jsonl(out / "results.jsonl")]
    assert got == cli
    assert len(got) == SIM_COUNT + 3
    addresses, skipped = difftriage.expand_inputs(inputs)
    assert addresses == got
    summary = json.loads((out / "summary.json").read_text())
    assert sorted(p for p, _ in skipped) == sorted(s["path"] for s in summary["skipped_inputs"])
    assert any(p.endswith("multiclasses.txt") for p, _ in skipped)
    for path, frame, array, meta in difftriage.frames(str(sim_dir / "fake_00004.pgm")):
        assert (path, frame) == (str(sim_dir / "fake_00004.pgm"), 0)
        assert np.array_equal(array, difftriage.read_frame(path)[0])


def test_paths_may_be_pathlike(sim_dir, tmp_path):
    copy = tmp_path / "copy.pgm"
    shutil.copy(sim_dir / "fake_00001.pgm", copy)
    assert difftriage.count_frames(copy) == 1
    assert np.array_equal(difftriage.read_frame(copy)[0],
                          difftriage.read_frame(os.fspath(copy))[0])
