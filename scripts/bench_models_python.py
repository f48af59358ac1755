#!/usr/bin/python3
"""Peer benchmark: the SAME compact network as difftriage's C++ `compact` (see
include/difftriage/models/network.h), built in PyTorch Python, measured at batch 32 with the same
thread count. Prints frames/s and, given the C++ benchmark binary, the C++/Python ratio from one
run of each.

    /usr/bin/python3 scripts/bench_models_python.py --threads 2 \
        --cxx-bench build/benchmarks/models_bench

Architecture (default widths 16,32,64,96, input 128² = a 512² frame max-binned 4×4):
  per block: Conv3x3 stride 2 (no bias) + BatchNorm + ReLU; from the third block on one more
  Conv3x3 stride 1 + BN + ReLU; then global average ‖ global max pooling (192 features);
  heads Linear(192,64) → ReLU → Linear(64, k) for quality (5), labels (6), mosaic (2, sigmoid).
"""
import argparse
import json
import subprocess
import time

import torch
import torch.nn as nn


class Compact(nn.Module):
    def __init__(self, widths=(16, 32, 64, 96), stem_pool=1, hidden=64,
                 heads=(("quality", 5), ("labels", 6), ("mosaic", 2))):
        super().__init__()
        self.stem = nn.MaxPool2d(stem_pool) if stem_pool > 1 else nn.Identity()
        blocks, cin = [], 1
        for b, w in enumerate(widths):
            layers = [nn.Conv2d(cin, w, 3, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            if b >= 2:
                layers += [nn.Conv2d(w, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            blocks.append(nn.Sequential(*layers))
            cin = w
        self.blocks = nn.Sequential(*blocks)
        self.heads = nn.ModuleDict({name: nn.Sequential(nn.Linear(2 * cin, hidden), nn.ReLU(inplace=True),
                                                        nn.Linear(hidden, k)) for name, k in heads})

    def forward(self, x):
        h = self.blocks(self.stem(x))
        f = torch.cat([h.mean((2, 3)), h.amax((2, 3))], 1)
        out = {name: head(f) for name, head in self.heads.items()}
        out["mosaic"] = torch.sigmoid(out["mosaic"])
        return out


def frames_per_second(model, x, min_time=2.0):
    with torch.inference_mode():
        model(x)  # warm up
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < min_time:
            model(x)
            n += 1
        return n * x.shape[0] / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cxx-bench", help="path to models_bench, to report C++/Python ratios")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    cases = {"CompactNetwork128": (Compact().eval(), 128),
             "CompactNetwork512Stem4": (Compact(stem_pool=4).eval(), 512)}
    python = {}
    for name, (model, side) in cases.items():
        # Channels-last, as the C++ network runs (a 1-channel input: same bytes, other strides).
        model = model.to(memory_format=torch.channels_last)
        x = torch.randn(args.batch, 1, side, side).contiguous(memory_format=torch.channels_last)
        runs = [frames_per_second(model, x) for _ in range(args.repeats)]
        python[name] = max(runs)
        print(f"python {name}: " + ", ".join(f"{r:.1f}" for r in runs) + " frames/s (best %.1f)" % max(runs))
    if args.cxx_bench:
        res = subprocess.run([args.cxx_bench, "--benchmark_filter=(" + "|".join(cases) + f")/threads:{args.threads}/",
                              f"--benchmark_repetitions={args.repeats}", "--benchmark_format=json"],
                             check=True, capture_output=True, text=True)
        cxx = {}
        for b in json.loads(res.stdout)["benchmarks"]:
            if b.get("run_type") == "iteration":
                key = b["name"].split("/")[0].removeprefix("BM_")
                cxx[key] = max(cxx.get(key, 0.0), b["items_per_second"])
        for name in cases:
            print(f"C++ {name}: best {cxx[name]:.1f} frames/s; C++/Python = {cxx[name] / python[name]:.2f}")


if __name__ == "__main__":
    main()
