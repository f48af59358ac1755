"""difftriage for Python: X-ray diffraction frame triage, one import away.

A thin layer over the C++ library (the extension ``difftriage._difftriage``, pybind11): the
same readers, simulator, spot finder, metrics and triage pipeline as the ``difftriage`` CLI,
with frames as NumPy arrays.

    import difftriage
    array, meta = difftriage.read_frame("frame.cbf")          # pixels keep their dtype
    clf = difftriage.Classifier.load()                         # the shipped default model
    rows = clf.classify([array], geometry=meta["geometry"])    # results.jsonl rows as dicts

Errors: bad options or arguments raise ValueError, unreadable files OSError, malformed files
difftriage.FormatError (a ValueError subclass), model problems RuntimeError; each message
names the file, frame or option at fault.
"""

import os as _os

from ._difftriage import (  # noqa: F401
    PEAK_ROLES,
    Classifier,
    FormatError,
    __git_hash__,
    __version__,
    average_precision,
    count_frames,
    evaluate_binary,
    evaluate_multiclass,
    evaluate_regression,
    expand_inputs,
    find_peaks,
    find_spots,
    find_veto_point,
    ice_score,
    radial_profile,
    read_frame,
    roc_auc,
    simulate,
)

__all__ = [
    "PEAK_ROLES",
    "Classifier",
    "FormatError",
    "average_precision",
    "count_frames",
    "evaluate_binary",
    "evaluate_multiclass",
    "evaluate_regression",
    "expand_inputs",
    "find_peaks",
    "find_spots",
    "find_veto_point",
    "frames",
    "ice_score",
    "radial_profile",
    "read_frame",
    "roc_auc",
    "simulate",
]


def frames(inputs):
    """Iterate over the frames of files, folders, 'PATH //N', globs and @LIST event lists,
    expanded exactly as ``difftriage classify`` expands them (``expand_inputs``).

    Yields ``(path, frame, array, metadata)`` per frame, reading each when it is reached (see
    ``read_frame``). A frame that cannot be read raises its error (OSError or FormatError
    naming the file and frame) at that point of the iteration.
    """
    if isinstance(inputs, (str, bytes, _os.PathLike)):
        inputs = [inputs]
    addresses, _skipped = expand_inputs(list(inputs))
    for path, frame in addresses:
        array, metadata = read_frame(path, frame)
        yield path, frame, array, metadata
