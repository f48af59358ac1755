"""Shared fixtures of the Python module's tests: the CLI, a simulated folder, the model."""
import json
import os
import pathlib
import subprocess

import pytest

SOURCE_DIR = pathlib.Path(os.environ.get("DT_SOURCE_DIR", pathlib.Path(__file__).parents[2]))
BINARY_DIR = pathlib.Path(os.environ.get("DT_BINARY_DIR", SOURCE_DIR / "build"))
CLI = os.environ.get("DT_CLI", str(BINARY_DIR / "tools" / "difftriage" / "difftriage"))
SHARED = SOURCE_DIR.parent / "shared" / "fixtures"


def run_cli(*args, check=True):
    """Runs the difftriage CLI; returns the CompletedProcess (text output)."""
    p = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"difftriage {' '.join(map(str, args))} exited {p.returncode}:\n"
                             f"{p.stderr}")
    return p


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def shared_file(name):
    """A file of ../shared/fixtures, or a skip (visible: the runner reports Skipped)."""
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"{path} not found (../shared beside the clone)")
    return path


SIM_COUNT = 6
SIM_SEED = 11


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory):
    """6 frames of `difftriage simulate --seed 11` (PGM, sidecars, label files)."""
    out = tmp_path_factory.mktemp("sim")
    run_cli("simulate", "--out", out, "--count", SIM_COUNT, "--seed", SIM_SEED, "--quiet")
    return out


@pytest.fixture(scope="session")
def classifier():
    import difftriage
    return difftriage.Classifier.load()
