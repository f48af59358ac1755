#!/usr/bin/python3
"""How many split crystals could any observer see as split on the 512² frame?

A multilattice frame holds a crystal cut into 2–3 pieces misoriented by up to `split_deg`. The
split shows only where it moves a spot further than the crystal's own mosaic spread smears it
and by at least an output pixel. This counts, over the multilattice frames of a simulated set,
those where the split is below the mosaic spread (`mosaic_deg`, the same angular measure) or
moves a spot 150 output pixels from the beam (mid-detector on 512²) by less than one pixel. Such
frames look like one mosaic crystal; an observer can only guess on them, which bounds the
multilattice label's balanced accuracy at about 1 − share/4 even with every other frame right.

Usage: /usr/bin/python3 scripts/experiments/multilattice_ambiguity.py DATA_DIR
DATA_DIR from `difftriage simulate` (JSON sidecars).
"""
import glob
import json
import math
import os
import sys


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    n_split = n_below_mosaic = n_below_pixel = n_either = 0
    for path in sorted(glob.glob(os.path.join(sys.argv[1], "fake_*.json"))):
        with open(path) as f:
            truth = json.load(f)
        for crystal in truth["crystals"]:
            if crystal["split_deg"] <= 0:
                continue
            n_split += 1
            below_mosaic = crystal["split_deg"] < crystal["mosaic_deg"]
            below_pixel = 150.0 * math.radians(crystal["split_deg"]) < 1.0
            n_below_mosaic += below_mosaic
            n_below_pixel += below_pixel
            n_either += below_mosaic or below_pixel
    if n_split == 0:
        sys.exit(f"{sys.argv[1]}: no split crystal")
    share = n_either / n_split
    print(f"{n_split} split crystals: split below the mosaic spread {n_below_mosaic} "
          f"({100 * n_below_mosaic / n_split:.1f} %), moving a spot at 150 px by < 1 px "
          f"{n_below_pixel} ({100 * n_below_pixel / n_split:.1f} %), either {n_either} "
          f"({100 * share:.1f} %)")
    print(f"balanced accuracy of multilattice if those are guessed and everything else is right: "
          f"{100 * (1 - share / 4):.1f} %")


if __name__ == "__main__":
    main()
