# Type stubs of the difftriage package (the C++ extension difftriage._difftriage and frames()).
import os
from typing import Any, Iterator, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str
__git_hash__: str

PathLike = Union[str, bytes, os.PathLike]
Geometry = Union[Mapping[str, float], str, os.PathLike]
Frames = Union[npt.ArrayLike, Sequence[npt.ArrayLike]]

class FormatError(ValueError):
    """A file was read but its content is malformed (the message names the file and frame)."""

def read_frame(path: PathLike, frame: int = 0) -> Tuple[np.ndarray, dict[str, Any]]:
    """Read frame `frame` of an image file: (array keeping the pixel dtype, metadata dict with
    n_slow, n_fast, dtype, format, the detector facts, geometry (or None, geometry_why_not),
    mask (bool array or None), n_masked). Raises OSError, FormatError."""

def count_frames(path: PathLike) -> int:
    """Number of frames in an image file. Raises OSError, FormatError."""

def expand_inputs(
    inputs: Union[PathLike, Sequence[PathLike]]
) -> Tuple[list[Tuple[str, int]], list[Tuple[str, str]]]:
    """The (path, frame) list `classify` triages for these inputs, and the (path, reason) of
    folder entries left out. Raises OSError, ValueError."""

def frames(
    inputs: Union[PathLike, Sequence[PathLike]]
) -> Iterator[Tuple[str, int, np.ndarray, dict[str, Any]]]:
    """(path, frame, array, metadata) for every frame `classify` would triage."""

class Classifier:
    """A loaded triage model with the pipeline settings of its runs. Thread-safe."""

    @staticmethod
    def load(
        path: Optional[PathLike] = None,
        *,
        threads: int = 2,
        decode_threads: Optional[int] = None,
        torch_threads: int = 1,
        batch: int = 32,
        queue: int = 64,
    ) -> "Classifier":
        """Load a model (None: the one `difftriage classify` uses without --model).
        Raises RuntimeError (bad model), ValueError (bad settings, no default model)."""
    @property
    def path(self) -> str:
        """The model path that was loaded."""
    @property
    def metadata(self) -> dict[str, Any]:
        """The model's metadata (model.json)."""
    @property
    def input_size(self) -> int:
        """Side of the square model input, pixels."""
    def classify(
        self, frames: Frames, geometry: Optional[Geometry] = None, *, spot_evidence: bool = True
    ) -> list[dict[str, Any]]:
        """results.jsonl rows (path None, frame = index) for in-memory frames."""
    def classify_files(
        self,
        inputs: Union[PathLike, Sequence[PathLike]],
        geometry: Optional[Geometry] = None,
        *,
        geometry_override: bool = False,
        cells: Sequence[str] = (),
        spot_evidence: bool = True,
    ) -> list[dict[str, Any]]:
        """The rows `difftriage classify INPUTS` writes to results.jsonl, in order."""
    def _classify_in_memory_cpp(
        self, frames: Frames, geometry: Optional[Geometry] = None, *, spot_evidence: bool = True
    ) -> Tuple[float, float, list[dict[str, Any]]]:
        """Benchmark only: the C++ in-memory path, timed in C++: (wall s, CPU s, rows)."""

def simulate(
    count: int,
    seed: int = 0,
    mix: Union[str, Mapping[str, float], os.PathLike] = "balanced",
    *,
    output_size: int = 512,
    full_size: int = 1024,
    binning: str = "max",
    wavelength_angstrom: Optional[float] = None,
    distance_mm: Optional[float] = None,
    pixel_size_mm: Optional[float] = None,
    preset: Optional[str] = None,
    cell: Optional[Tuple[float, float, float, float, float, float]] = None,
    format: str = "pgm",
    threads: int = 0,
) -> Tuple[np.ndarray, list[dict[str, Any]], list[dict[str, Any]]]:
    """(frames uint8 (count, side, side), label rows, truth sidecars), as `difftriage
    simulate` writes them for the same seed and options. Raises ValueError."""

def find_spots(
    image: npt.ArrayLike,
    mask: Optional[npt.ArrayLike] = None,
    *,
    background_radius_px: int = 6,
    peak_radius_px: int = 2,
    n_sigma: float = 5.0,
    min_excess: float = 8.0,
    min_pixels: int = 1,
    max_pixels: int = 200,
    border_px: int = 2,
) -> np.ndarray:
    """Spots as a structured array (fast_px, slow_px, peak, background, snr, n_pixels)."""

PEAK_ROLES: Tuple[str, str, str, str]

def find_peaks(
    image: npt.ArrayLike,
    mask: Optional[npt.ArrayLike] = None,
    *,
    geometry: Optional[Geometry] = None,
    background_radius_px: int = 5,
    peak_radius_px: int = 1,
    n_sigma: float = 4.0,
    min_excess: float = 3.0,
    border_px: int = 3,
    max_peaks: int = 3000,
) -> np.ndarray:
    """Peaks as a structured array (fast_px, slow_px, height, snr, d_angstrom, role), highest
    SNR first; with a geometry d_angstrom and role (index into PEAK_ROLES) are set."""

def radial_profile(
    image: npt.ArrayLike,
    mask: Optional[npt.ArrayLike] = None,
    *,
    center_fast_px: Optional[float] = None,
    center_slow_px: Optional[float] = None,
    bin_width_px: float = 1.0,
) -> dict[str, Any]:
    """Mean per radial shell: center_*, bin_width_px, radius_px, mean, n_pixels arrays."""

def ice_score(
    image: npt.ArrayLike,
    mask: Optional[npt.ArrayLike] = None,
    *,
    geometry: Optional[Geometry] = None,
    center_fast_px: Optional[float] = None,
    center_slow_px: Optional[float] = None,
    bin_width_px: float = 1.0,
    ring_half_width_bins: int = 1,
    flank_bins: int = 6,
    min_radius_px: float = 20.0,
) -> dict[str, Any]:
    """Ice-ring score: score, radius_px, d_angstrom, used_geometry."""

def evaluate_binary(
    scores: npt.ArrayLike, truth: npt.ArrayLike, *, threshold: float = 0.5, with_curves: bool = True
) -> dict[str, Any]:
    """Binary metrics beside their chance baselines (NaN as None)."""

def roc_auc(scores: npt.ArrayLike, truth: npt.ArrayLike) -> float:
    """Mann-Whitney ROC-AUC."""

def average_precision(scores: npt.ArrayLike, truth: npt.ArrayLike) -> float:
    """Average precision."""

def evaluate_multiclass(
    truth: npt.ArrayLike, predicted: npt.ArrayLike, class_names: Sequence[str]
) -> dict[str, Any]:
    """Multiclass metrics (NaN as None)."""

def evaluate_regression(
    truth: npt.ArrayLike, predicted: npt.ArrayLike, mask: Optional[npt.ArrayLike] = None
) -> dict[str, Any]:
    """Regression errors and baselines (NaN as None)."""

def find_veto_point(
    scores: npt.ArrayLike, truth: npt.ArrayLike, *, keep_fraction: float = 0.999
) -> dict[str, Any]:
    """The veto operating point (NaN as None)."""
