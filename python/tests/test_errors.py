"""Every error mapping: ConfigError → ValueError, IoError → OSError, FormatError →
difftriage.FormatError (a ValueError), ModelError → RuntimeError, with the C++ message."""
import json

import numpy as np
import pytest

import difftriage


def test_format_error_is_a_value_error_naming_the_file(tmp_path):
    assert issubclass(difftriage.FormatError, ValueError)
    junk = tmp_path / "junk.cbf"
    junk.write_bytes(b"this is no frame format at all\n" * 10)
    with pytest.raises(difftriage.FormatError, match=str(junk)):
        difftriage.read_frame(junk)
    with pytest.raises(difftriage.FormatError, match=str(junk)):
        difftriage.count_frames(junk)


def test_frame_out_of_range_is_a_format_error(tmp_path):
    frames, _, _ = difftriage.simulate(1, 3, output_size=64, full_size=128)
    path = tmp_path / "one.pgm"
    # a PGM written by hand: single-frame format
    path.write_bytes(b"P5\n64 64\n255\n" + frames[0].tobytes())
    assert np.array_equal(difftriage.read_frame(path)[0], frames[0])
    with pytest.raises(difftriage.FormatError, match="out of range"):
        difftriage.read_frame(path, 1)


def test_io_error_is_an_os_error_naming_the_file(tmp_path):
    missing = tmp_path / "missing.cbf"
    with pytest.raises(OSError, match=str(missing)) as e:
        difftriage.read_frame(missing)
    assert not isinstance(e.value, ValueError)
    with pytest.raises(OSError, match="nope.lst"):
        difftriage.expand_inputs(["@" + str(tmp_path / "nope.lst")])
    with pytest.raises(OSError, match="geometry"):
        difftriage.ice_score(np.zeros((64, 64)), geometry=str(tmp_path / "geometry.json"))


def test_config_error_is_a_value_error_with_the_message(tmp_path):
    with pytest.raises(ValueError, match="distance_mm") as e:
        difftriage.ice_score(np.zeros((64, 64)), geometry={
            "wavelength_angstrom": 1.0, "distance_mm": -5.0, "pixel_size_mm": 0.1,
            "beam_center_fast_px": 32.0, "beam_center_slow_px": 32.0})
    assert not isinstance(e.value, difftriage.FormatError)
    with pytest.raises(ValueError, match="n_frames|count"):
        difftriage.simulate(-1)
    with pytest.raises(ValueError, match="mix"):
        difftriage.simulate(1, mix="nonsense")
    with pytest.raises(ValueError, match="preset"):
        difftriage.simulate(1, preset="photo3")
    with pytest.raises(ValueError, match="2 scores but 1 truth"):
        difftriage.evaluate_binary([0.1, 0.2], [1])
    with pytest.raises(ValueError, match="2-D"):
        difftriage.find_spots(np.zeros(10))
    with pytest.raises(ValueError, match="dtype"):
        difftriage.find_spots(np.zeros((8, 8), np.complex64))
    with pytest.raises(ValueError, match="bin width"):
        difftriage.radial_profile(np.zeros((8, 8)), bin_width_px=0)
    with pytest.raises(ValueError, match="//x|//"):
        difftriage.expand_inputs([str(tmp_path / "a.h5") + " //x"])


def test_model_error_is_a_runtime_error_naming_the_file(tmp_path):
    with pytest.raises(RuntimeError, match="nowhere"):
        difftriage.Classifier.load(tmp_path / "nowhere")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.json").write_text(json.dumps({"format_version": 999}))
    (bad / "model.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="model") as e:
        difftriage.Classifier.load(bad)
    assert not isinstance(e.value, (ValueError, OSError))


def test_classify_input_errors(classifier, tmp_path):
    with pytest.raises(ValueError, match="frame 1"):
        classifier.classify([np.zeros((8, 8), np.uint8), np.zeros(8, np.uint8)])
    with pytest.raises(ValueError, match="frames must be"):
        classifier.classify("fake_00001.pgm")
    with pytest.raises(ValueError, match="geometry_override"):
        classifier.classify_files([str(tmp_path)], geometry_override=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(OSError, match="no frames"):
        classifier.classify_files([str(empty)])
