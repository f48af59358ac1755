"""Classifier against `difftriage classify`: the same rows for the same inputs, in memory and
from files; the GIL released while C++ runs; arrays and rows outliving the classifier."""
import gc
import json
import sys
import threading
import time

import numpy as np
import pytest

import difftriage
from conftest import SIM_COUNT, read_jsonl, run_cli

ROW_KEYS = {"path", "frame", "p", "labels", "quality", "p_quality", "mosaic1", "mosaic2", "cell",
            "d_min_angstrom", "n_bragg_peaks", "decision", "flags", "error"}

GEOMETRY = {"wavelength_angstrom": 1.1, "distance_mm": 120.0, "pixel_size_mm": 0.344,
            "beam_center_fast_px": 250.5, "beam_center_slow_px": 260.0}


def cli_rows(tmp_path, *args):
    out = tmp_path / "cls"
    run_cli("classify", *args, "--out", out, "--quiet")
    return read_jsonl(out / "results.jsonl")


def sim_frames(sim_dir):
    return [difftriage.read_frame(sim_dir / f"fake_{i:05d}.pgm")[0] for i in range(1, SIM_COUNT + 1)]


def test_classify_files_gives_the_cli_rows(sim_dir, classifier, tmp_path):
    # sidecar geometries, spot evidence and all: exactly classify's results.jsonl
    rows = classifier.classify_files([str(sim_dir)])
    expected = cli_rows(tmp_path, sim_dir)
    assert len(rows) == SIM_COUNT
    assert rows == expected
    assert set(rows[0]) == ROW_KEYS
    assert all(r["cell"] is not None for r in rows)  # the sidecars gave each a geometry


def test_classify_arrays_gives_the_cli_rows(sim_dir, classifier, tmp_path):
    frames = sim_frames(sim_dir)
    rows = classifier.classify(frames, spot_evidence=False)
    expected = cli_rows(tmp_path, sim_dir, "--no-spot-evidence")
    assert [r["path"] for r in rows] == [None] * SIM_COUNT
    assert [r["frame"] for r in rows] == list(range(SIM_COUNT))
    for got, want in zip(rows, expected):
        assert set(got) == ROW_KEYS
        want = dict(want, path=None, frame=got["frame"])
        assert got == want


def test_classify_arrays_with_geometry_gives_the_cli_rows(sim_dir, classifier, tmp_path):
    geometry_file = tmp_path / "g.json"
    geometry_file.write_text(json.dumps(GEOMETRY))
    stack = np.stack(sim_frames(sim_dir))  # a 3-D stack is a list of frames
    rows = classifier.classify(stack, GEOMETRY)
    expected = cli_rows(tmp_path, sim_dir, "--geometry", geometry_file, "--geometry-override")
    for got, want in zip(rows, expected):
        assert got == dict(want, path=None, frame=got["frame"])
    assert rows[0]["n_bragg_peaks"] is not None and "no_geometry" not in rows[0]["flags"]
    # the same with the geometry as a file, and without any geometry: flagged no_geometry
    assert classifier.classify(stack, str(geometry_file)) == rows
    bare = classifier.classify(stack[:1])
    assert "no_geometry" in bare[0]["flags"] and bare[0]["cell"] is None


def test_classify_accepts_other_dtypes_like_the_same_values(sim_dir, classifier):
    frame = sim_frames(sim_dir)[0]
    base = classifier.classify(frame)  # one 2-D array: one row
    assert len(base) == 1
    assert classifier.classify([frame.astype(np.int64)]) == classifier.classify(
        [frame.astype(np.int32)])
    assert classifier.classify([frame.astype(np.float64)]) == classifier.classify(
        [frame.astype(np.float32)])
    # a non-contiguous view is copied, not misread
    wide = np.zeros((512, 1024), np.uint8)
    wide[:, ::2] = frame
    assert classifier.classify([wide[:, ::2]]) == base


def test_an_unreadable_file_becomes_an_error_row_as_in_the_cli(sim_dir, classifier, tmp_path):
    bad = tmp_path / "in" / "broken.cbf"
    bad.parent.mkdir()
    bad.write_bytes(b"###CBF: VERSION 1.5\n_array_data.data\ntruncated")
    inputs = [str(sim_dir / "fake_00001.pgm"), str(bad)]
    rows = classifier.classify_files(inputs)
    assert rows == cli_rows(tmp_path, *inputs)
    assert rows[0]["error"] is None
    assert str(bad) in rows[1]["error"] and rows[1]["flags"] == ["unreadable"]
    assert rows[1]["decision"] == "keep"  # fail-open


def test_gil_is_released_while_cpp_classifies(sim_dir, classifier):
    frames = sim_frames(sim_dir) * 16  # 96 frames: 0.2-1 s of C++ with two threads
    ticks = []
    stop = threading.Event()

    def count():
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.001)

    old = sys.getswitchinterval()
    sys.setswitchinterval(0.5)  # without a release the counter could not run inside the call
    t = threading.Thread(target=count)
    t.start()
    try:
        while not ticks:
            time.sleep(0.001)
        start = time.monotonic()
        rows = classifier.classify(frames)
        end = time.monotonic()
    finally:
        stop.set()
        t.join()
        sys.setswitchinterval(old)
    assert len(rows) == len(frames)
    third = (end - start) / 3
    middle = [x for x in ticks if start + third <= x <= end - third]
    # the counter thread ran during the middle third of the call: C++ did not hold the GIL
    # (holding it, the counter cannot run at all inside the call: 0 ticks)
    assert len(middle) >= 3, (len(middle), end - start)


def test_arrays_and_rows_outlive_the_classifier(sim_dir):
    clf = difftriage.Classifier.load(threads=1, batch=4)
    frames = sim_frames(sim_dir)
    before = [sys.getrefcount(f) for f in frames]
    copies = [f.copy() for f in frames]
    rows = clf.classify(frames)
    assert [sys.getrefcount(f) for f in frames] == before  # no reference kept or leaked
    meta = clf.metadata
    del clf
    gc.collect()
    assert all(np.array_equal(a, b) for a, b in zip(frames, copies))  # inputs untouched
    assert len(rows) == SIM_COUNT and rows[0]["decision"] in ("keep", "veto")
    assert meta["label_names"]


def test_load_settings_and_properties(classifier):
    assert classifier.input_size > 0
    assert classifier.path.endswith("default") or classifier.path.endswith("model.json")
    assert "label_names" in classifier.metadata
    with pytest.raises(ValueError, match="batch_size"):
        difftriage.Classifier.load(batch=0)


def test_concurrent_classify_calls_give_the_serial_rows(sim_dir, classifier):
    frames = sim_frames(sim_dir)
    serial = classifier.classify(frames)
    results = [None, None]

    def work(k):
        results[k] = classifier.classify(frames)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[0] == serial and results[1] == serial
