#!/usr/bin/python3
"""Can a network count the bright spots of a 512² frame if it is shown where they are?

Quality is cut from the bright-spot count (weak < 100 ≤ good < 1000 ≤ strong). The shipped
model reads it off a 4×4 max-binned 128² input with one frame-level label. This experiment gives
a network every pixel (the 512² frame pixel-unshuffled 4×4 into 16 channels at 128²) and dense
supervision: a 32×32 map of how many bright reflections (sidecar `bright_spots`) lie in each
16×16-pixel cell. The predicted count is the map's sum; quality is cut from it at 100 and 1000.
Loss: Poisson NLL per cell + squared error of log(1 + total). Preprocessing as the product's
(log1p, per-frame standardisation); horizontal flips (before unshuffling) as augmentation.

Usage: /usr/bin/python3 scripts/experiments/spot_density.py TRAIN_DIR TEST_DIR [N_TRAIN]
Environment: EPOCHS (default 12), SEED (0). Both folders from `difftriage simulate` (sidecars
with `bright_spots`). Prints the per-class count error and the quality accuracy on TEST's crystal
frames beside chance; CPU only (2 threads).
"""
import glob
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

CLASSES = ["blank", "noxtal", "weak", "good", "strong"]
CELL = 16  # density cell, output pixels


def load(folder, limit=None):
    """Frames (uint8 [N,512,512]), density maps [N,32,32], n_bright and quality index."""
    images, maps, n_bright, quality = [], [], [], []
    for path in sorted(glob.glob(os.path.join(folder, "fake_*.json"))):
        with open(path) as f:
            truth = json.load(f)
        if "bright_spots" not in truth:
            sys.exit(f"{path}: no bright_spots (simulate again with this version)")
        image = np.array(Image.open(path[:-5] + ".pgm"), dtype=np.uint8)
        side = image.shape[0]
        density = np.zeros((side // CELL, side // CELL), np.float32)
        for slow, fast in truth["bright_spots"]:
            i = min(max(int(np.floor(slow + 0.5)), 0), side - 1) // CELL
            j = min(max(int(np.floor(fast + 0.5)), 0), side - 1) // CELL
            density[i, j] += 1
        images.append(image)
        maps.append(density)
        n_bright.append(truth["stats"]["n_bright"])
        quality.append(CLASSES.index(truth["labels"]["quality"]))
        if limit and len(images) >= limit:
            break
    return np.stack(images), np.stack(maps), np.array(n_bright), np.array(quality)


def prepare(images):
    x = torch.log1p(torch.from_numpy(images).float())[:, None]
    mean = x.mean((2, 3), keepdim=True)
    std = x.std((2, 3), keepdim=True).clamp(min=1e-6)
    return F.pixel_unshuffle((x - mean) / std, 4)  # [N,16,128,128]


def conv(c_in, c_out, stride):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


class DensityNet(nn.Module):
    """128² → 64² → 32² trunk; per-cell counts from local features + a global context vector."""

    def __init__(self, widths=(32, 48, 64)):
        super().__init__()
        w = widths
        self.trunk = nn.Sequential(conv(16, w[0], 1), conv(w[0], w[0], 2), conv(w[0], w[1], 2),
                                   conv(w[1], w[2], 1), conv(w[2], w[2], 1))
        self.context = nn.Sequential(nn.Linear(2 * w[2], 32), nn.ReLU(inplace=True))
        self.density = nn.Sequential(nn.Conv2d(w[2] + 32, 32, 1), nn.ReLU(inplace=True),
                                     nn.Conv2d(32, 1, 1))

    def forward(self, x):
        f = self.trunk(x)
        g = self.context(torch.cat([f.mean((2, 3)), f.amax((2, 3))], 1))
        g = g[:, :, None, None].expand(-1, -1, f.shape[2], f.shape[3])
        return F.softplus(self.density(torch.cat([f, g], 1)))[:, 0]  # [N,32,32] counts


def train(images, maps, epochs, seed, batch=32):
    torch.manual_seed(seed)
    rng = np.random.RandomState(seed)
    net = DensityNet()
    optimizer = torch.optim.Adam(net.parameters(), 1e-3)
    steps = epochs * ((len(images) + batch - 1) // batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 2e-3, total_steps=steps)
    start = time.time()
    for epoch in range(epochs):
        net.train()
        order = rng.permutation(len(images))
        total = 0.0
        for b in range(0, len(order), batch):
            idx = order[b:b + batch]
            x8, d = images[idx], torch.from_numpy(maps[idx])
            if rng.rand() < 0.5:  # flip the frame, then unshuffle (flipping 16 channels would not)
                x8, d = np.ascontiguousarray(x8[:, :, ::-1]), d.flip(2)
            p = net(prepare(x8))
            loss = (F.poisson_nll_loss(p, d, log_input=False, eps=1e-4) +
                    F.mse_loss(torch.log1p(p.sum((1, 2))), torch.log1p(d.sum((1, 2)))))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(idx)
        print(f"epoch {epoch + 1}/{epochs}: loss {total / len(images):.4f} "
              f"({time.time() - start:.0f} s)", flush=True)
    return net


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    torch.set_num_threads(2)
    n_train = int(sys.argv[3]) if len(sys.argv) > 3 else None
    train_set = load(sys.argv[1], n_train)
    test_set = load(sys.argv[2])
    print(f"{len(train_set[0])} training frames, {len(test_set[0])} test frames", flush=True)
    net = train(train_set[0], train_set[1], int(os.environ.get("EPOCHS", 12)),
                int(os.environ.get("SEED", 0)))
    net.eval()
    with torch.no_grad():
        count = np.concatenate([net(prepare(test_set[0][b:b + 64])).sum((1, 2)).numpy()
                                for b in range(0, len(test_set[0]), 64)])
    n_bright, quality = test_set[2], test_set[3]
    for k, name in enumerate(CLASSES):
        sel = quality == k
        if not sel.any():
            continue
        r = np.log((count[sel] + 1) / (n_bright[sel] + 1))
        print(f"  {name:6s} {sel.sum():5d} frames: median predicted count {np.median(count[sel]):8.1f}"
              f" (true {np.median(n_bright[sel]):8.1f}), ln((pred+1)/(true+1)) median "
              f"{np.median(r):+.2f}, median absolute deviation {np.median(np.abs(r - np.median(r))):.2f}")
    crystal = quality >= 2
    called = np.where(count >= 1000, 4, np.where(count >= 100, 3, 2))
    accuracy = float((called[crystal] == quality[crystal]).mean())
    chance = np.bincount(quality[crystal]).max() / crystal.sum()
    print(f"quality of the {crystal.sum()} crystal frames, cut at 100 / 1000 predicted bright spots: "
          f"{100 * accuracy:.1f} % (chance {100 * chance:.1f} %)")


if __name__ == "__main__":
    main()
