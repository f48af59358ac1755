#!/usr/bin/python3
"""How well could quality be read off the 512² frame at all?

Quality is cut from `stats.n_bright` (reflections whose expected peak is ≥ 15 σ of the local
background): weak < 100 ≤ good < 1000 ≤ strong. In the binned output frame several bright
reflections can share one pixel; `stats.n_bright_pixels` counts the output pixels that hold at
least one. This script asks what an observer that counted those pixels perfectly would score:
it picks the two cuts on n_bright_pixels that classify the crystal frames of TUNE best, and
applies them to the crystal frames of TEST. Beside it, the crowding (1 − n_bright_pixels /
n_bright) per class, and optionally a model's quality accuracy on the same crystal frames
(`difftriage evaluate ... --out EVAL`, EVAL/predictions.jsonl).

Usage: /usr/bin/python3 scripts/experiments/quality_ceiling.py TUNE_DIR TEST_DIR [EVAL_DIR...]
Both folders come from `difftriage simulate` (sidecars with stats.n_bright_pixels).
"""
import glob
import json
import os
import sys

import numpy as np

CLASSES = ["weak", "good", "strong"]


def crystal_frames(folder):
    """(file, n_bright, n_bright_pixels, class index) of every crystal frame, sorted by file."""
    rows = []
    for path in sorted(glob.glob(os.path.join(folder, "fake_*.json"))):
        with open(path) as f:
            truth = json.load(f)
        if not truth["crystals"]:
            continue
        stats = truth["stats"]
        if "n_bright_pixels" not in stats:
            sys.exit(f"{path}: no stats.n_bright_pixels (simulate again with this version)")
        image = os.path.basename(path)[:-5] + ".pgm"
        rows.append((image, stats["n_bright"], stats["n_bright_pixels"],
                     CLASSES.index(truth["labels"]["quality"])))
    if not rows:
        sys.exit(f"{folder}: no crystal frame with a sidecar")
    return rows


def classify(pixels, cut_good, cut_strong):
    return np.where(pixels >= cut_strong, 2, np.where(pixels >= cut_good, 1, 0))


def best_cuts(pixels, quality):
    best = (-1.0, 0, 0)
    values = np.unique(pixels)
    for cut_good in values[(values > 10) & (values <= 200)]:
        for cut_strong in values[(values > 200) & (values <= 2000)]:
            acc = float((classify(pixels, cut_good, cut_strong) == quality).mean())
            if acc > best[0]:
                best = (acc, int(cut_good), int(cut_strong))
    return best


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    tune, test = crystal_frames(sys.argv[1]), crystal_frames(sys.argv[2])
    acc_tune, cut_good, cut_strong = best_cuts(np.array([r[2] for r in tune]),
                                               np.array([r[3] for r in tune]))
    n = np.array([r[1] for r in test])
    pixels = np.array([r[2] for r in test])
    quality = np.array([r[3] for r in test])
    print(f"crowding in {sys.argv[2]} (1 - n_bright_pixels / n_bright), crystal frames with "
          "a bright spot:")
    for k, name in enumerate(CLASSES):
        sel = (quality == k) & (n > 0)
        crowd = 1.0 - pixels[sel] / n[sel]
        print(f"  {name:6s} {sel.sum():5d} frames  median {np.median(crowd):.3f}  "
              f"90th percentile {np.percentile(crowd, 90):.3f}")
    acc = float((classify(pixels, cut_good, cut_strong) == quality).mean())
    chance = max(np.bincount(quality, minlength=3)) / len(quality)
    print(f"perfect count of bright pixels, cuts {cut_good} / {cut_strong} tuned on "
          f"{sys.argv[1]} ({100 * acc_tune:.1f} % there): quality accuracy on the {len(test)} "
          f"crystal frames of {sys.argv[2]}: {100 * acc:.1f} % (chance {100 * chance:.1f} %)")
    truth_of = {r[0]: r[3] for r in test}
    for folder in sys.argv[3:]:
        right = total = 0
        with open(os.path.join(folder, "predictions.jsonl")) as f:
            for line in f:
                p = json.loads(line)
                if p["file"] not in truth_of or p.get("quality") is None:
                    continue
                total += 1
                right += p["quality"] == CLASSES[truth_of[p["file"]]]
        print(f"model {folder}: quality accuracy on the same crystal frames {100 * right / total:.1f} %"
              f" ({total} frames)")


if __name__ == "__main__":
    main()
