#!/usr/bin/python3
"""Peer benchmark of `difftriage classify`, end to end on a folder of PGM frames: the same
network and preprocessing in PyTorch Python + NumPy/PIL, checked against difftriage's own
results, then both timed on the same frames in one run.

    /usr/bin/python3 scripts/bench_classify_python.py --model M --frames DIR --threads 2 \
        --difftriage build/tools/difftriage/difftriage

1. Rebuilds the network from M/model.json (architecture `compact`: optional max-pool stem
   `stem_pool`, optional learned stem `stem_conv` = Conv2d(1, C, p, stride p, no bias) + BN +
   ReLU on the full input, concatenated after the max-pooled channel; per block a 3x3 stride-2
   conv + BN + ReLU, from the third block one more 3x3 conv + BN + ReLU; global avg ‖ max
   pooling; heads Linear → ReLU → Linear; mosaic sigmoid) and loads the weights of M/model.pt
   (a LibTorch archive: torch.jit.load gives its state_dict with the same dotted names).
2. Reproduces the preprocessing of model.json (src/models/preprocess.cpp, unmasked frames):
   largest centred square → bin-max / bin-mean to input_size (or a centred crop) →
   linear / sqrt / log1p → none / fixed / per-frame standardisation.
3. Runs `difftriage classify --no-spot-evidence` on the folder (same --threads, --batch: the
   work the Python side does; then classify with its default full-resolution spot evidence,
   reported apart with the per-stage times) and compares its
   results.jsonl with Python's probabilities on the first --check frames (max abs diff).
4. Times, on the same files in the same run (interleaved, best of --repeats each):
   - difftriage's pipeline (summary.json: read + preprocess + inference + results, after
     model loading), `classify --threads T`;
   - Python the idiomatic way: read (PIL) + preprocess (NumPy) on a pool of T threads, the
     next batch prefetched while the current one runs through the network with
     torch.set_num_threads(T);
   - Python with difftriage's strategy: T threads each reading, preprocessing and running
     whole batches with one intra-op thread;
   and prints frames/s and the ratio C++/Python (against the idiomatic Python, and against the
   faster of the two). difftriage's whole-process wall time (start-up, input expansion and
   model loading included) is printed too.

Only PGM/PNG/TIFF frames PIL can open are supported (no masks, no beam centre), which is what
the benchmark feeds. Frames are read once before timing so both read from the page cache.
"""
import argparse
import concurrent.futures as cf
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

LABELS = ["blank", "photo1", "photo2", "multilattice", "ice", "badice"]
QUALITY = ["blank", "noxtal", "weak", "good", "strong"]
HEAD_SIZES = {"quality": 5, "labels": 6, "mosaic": 2}


# ---- network ---------------------------------------------------------------------------------

def conv_bn_relu(name, cin, cout, k, stride, padding):
    return [(f"conv{name}", nn.Conv2d(cin, cout, k, stride, padding, bias=False)),
            (f"bn{name}", nn.BatchNorm2d(cout)), (f"relu{name}", nn.ReLU(inplace=True))]


class Compact(nn.Module):
    """difftriage's `compact` trunk + heads (include/difftriage/models/network.h), with the
    checkpoint's module names (block1.conv1.weight, stem_conv.bn.running_mean, head_labels.fc2.bias)."""

    def __init__(self, arch, heads, stem_kernel=None):
        super().__init__()
        if arch.get("name", "compact") != "compact":
            raise SystemExit(f"only the compact architecture is supported, got {arch['name']}")
        self.stem_pool = int(arch.get("stem_pool", 1))
        stem_conv = int(arch.get("stem_conv", 0))
        self.pool = nn.MaxPool2d(self.stem_pool) if self.stem_pool > 1 else nn.Identity()
        cin = 1
        self.stem_conv = None
        if stem_conv > 0:
            # Kernel k (2p in current difftriage; p in early versions), stride p, padding
            # (k - p) / 2: each output sees its p×p patch and (k - p)/2 pixels around it.
            p = self.stem_pool
            k = stem_kernel or 2 * p
            self.stem_conv = nn.Sequential(OrderedDict([
                ("conv", nn.Conv2d(1, stem_conv, k, p, (k - p) // 2, bias=False)),
                ("bn", nn.BatchNorm2d(stem_conv)), ("relu", nn.ReLU(inplace=True))]))
            cin += stem_conv
        self.blocks = []
        for b, w in enumerate(arch["widths"]):
            layers = conv_bn_relu("1", cin, w, 3, 2, 1)
            if b >= 2:
                layers += conv_bn_relu("2", w, w, 3, 1, 1)
            block = nn.Sequential(OrderedDict(layers))
            self.add_module(f"block{b + 1}", block)
            self.blocks.append(block)
            cin = w
        self.avgmax = arch.get("global_pool", "avgmax") == "avgmax"
        features = 2 * cin if self.avgmax else cin
        hidden = int(arch.get("head_hidden", 64))
        self.head_names = list(heads)
        for h in self.head_names:
            layers = [("fc1", nn.Linear(features, hidden)), ("relu", nn.ReLU(inplace=True))]
            if float(arch.get("dropout", 0.0)) > 0:
                layers.append(("dropout", nn.Dropout(float(arch["dropout"]))))
            layers.append(("fc2", nn.Linear(hidden, HEAD_SIZES.get(h, 1))))
            self.add_module(f"head_{h}", nn.Sequential(OrderedDict(layers)))

    def forward(self, x):
        x = x.contiguous(memory_format=torch.channels_last)  # as the C++ network runs
        h = self.pool(x)
        if self.stem_conv is not None:
            h = torch.cat([h, self.stem_conv(x)], 1)
        for block in self.blocks:
            h = block(h)
        f = torch.cat([h.mean((2, 3)), h.amax((2, 3))], 1) if self.avgmax else h.mean((2, 3))
        out = {}
        for name in self.head_names:
            y = getattr(self, f"head_{name}")(f)
            # quality: softmax; labels and binary heads: sigmoid; mosaic: sigmoid in forward.
            out[name] = torch.softmax(y, 1) if name == "quality" else torch.sigmoid(y)
        return out


def load_model(model_dir):
    meta = json.load(open(os.path.join(model_dir, "model.json")))
    state = torch.jit.load(os.path.join(model_dir, meta.get("weights", {}).get("file", "model.pt")),
                           map_location="cpu").state_dict()
    stem = state.get("stem_conv.conv.weight")
    net = Compact(meta["architecture"], meta["heads"],
                  stem_kernel=int(stem.shape[-1]) if stem is not None else None)
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise SystemExit(f"weights do not match the architecture: missing {missing}, "
                         f"unexpected {unexpected}")
    net.eval()
    return net.to(memory_format=torch.channels_last), meta


# ---- preprocessing (src/models/preprocess.cpp, unmasked frames) ------------------------------

def place(centre, side, extent):
    if side > extent:
        return int((extent - side) / 2)  # C++ integer division truncates toward zero
    start = int(np.floor(centre - 0.5 * side + 0.5))  # llround of a non-negative .5 rounds up
    return min(max(start, 0), extent - side)


def bin_starts(length, size):
    # Output bin i holds input rows r with r*size//length == i: first row ceil(i*length/size).
    return np.array([-(-i * length // size) for i in range(size)])


def preprocess(img, p):
    """uint8/uint16/float frame → [S,S] float32 exactly as difftriage (up to float rounding)."""
    S = int(p["input_size"])
    n_slow, n_fast = img.shape
    cs, cf_ = 0.5 * n_slow, 0.5 * n_fast
    mode = p["mode"]
    if mode == "crop":
        side = S
    else:
        side = min(n_slow, n_fast)
    r0, c0 = place(cs, side, n_slow), place(cf_, side, n_fast)
    if mode == "crop":
        out = np.empty((S, S), np.float32)
        rs, re = max(r0, 0), min(r0 + S, n_slow)
        cs0, ce = max(c0, 0), min(c0 + S, n_fast)
        region = img[rs:re, cs0:ce]
        if re - rs < S or ce - cs0 < S:  # padding: the region's (upper) median, as C++
            flat = region.ravel()
            out.fill(np.float32(np.partition(flat, flat.size // 2)[flat.size // 2])
                     if flat.size else 0.0)
        out[rs - r0:re - r0, cs0 - c0:ce - c0] = region
    else:
        sq = img[r0:r0 + side, c0:c0 + side]
        L = side
        if L <= S:
            idx = np.arange(S) * L // S
            out = sq[idx][:, idx].astype(np.float32)
        elif L % S == 0:
            k = L // S
            v = sq.reshape(S, k, S, k)
            out = (v.max(axis=(1, 3)).astype(np.float32) if mode == "bin-max"
                   else v.astype(np.float32).mean(axis=(1, 3), dtype=np.float32))
        else:
            starts = bin_starts(L, S)
            if mode == "bin-max":
                out = np.maximum.reduceat(np.maximum.reduceat(sq, starts, 0), starts, 1)
                out = out.astype(np.float32)
            else:
                sums = np.add.reduceat(np.add.reduceat(sq.astype(np.float64), starts, 0), starts, 1)
                counts = np.diff(np.append(starts, L)).astype(np.float64)
                out = (sums / np.outer(counts, counts)).astype(np.float32)
    t = p.get("transform", "log1p")
    if t == "log1p":
        out = np.log1p(np.maximum(out, 0, dtype=np.float32))
    elif t == "sqrt":
        out = np.sqrt(np.maximum(out, 0, dtype=np.float32))
    norm = p.get("normalization", "per-frame")
    if norm == "fixed":
        out = (out - np.float32(p["mean"])) * np.float32(1.0 / p["std"])
    elif norm == "per-frame":
        d = out.astype(np.float64)
        mean = d.mean()
        sd = np.sqrt(max(0.0, (d * d).mean() - mean * mean))
        out = (out - np.float32(mean)) * np.float32(1.0 if sd < 1e-6 else 1.0 / sd)
    return out.astype(np.float32, copy=False)


def load_and_preprocess(path, p):
    with Image.open(path) as im:
        a = np.asarray(im)
    if a.ndim != 2:
        raise ValueError(f"{path}: not a grayscale frame")
    return preprocess(a, p)


# ---- runs ------------------------------------------------------------------------------------

def python_run(net, meta, files, threads, batch):
    """Idiomatic PyTorch: torch.set_num_threads(threads) intra-op threads for each forward pass;
    read + preprocess on a pool of `threads` threads, the next batch prefetched while the current
    one runs. Returns (seconds, probabilities dict of arrays)."""
    torch.set_num_threads(threads)
    p = meta["preprocess"]
    chunks = [files[i:i + batch] for i in range(0, len(files), batch)]
    outputs = {}
    with cf.ThreadPoolExecutor(threads) as pool, torch.inference_mode():
        def submit(chunk):
            return [pool.submit(load_and_preprocess, f, p) for f in chunk]
        start, cpu0 = time.perf_counter(), time.process_time()
        pending = submit(chunks[0]) if chunks else []
        for i in range(len(chunks)):
            x = np.stack([f.result() for f in pending])
            pending = submit(chunks[i + 1]) if i + 1 < len(chunks) else []
            out = net(torch.from_numpy(x).unsqueeze(1))
            for k, v in out.items():
                outputs.setdefault(k, []).append(v.numpy())
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
    return elapsed, cpu, {k: np.concatenate(v) for k, v in outputs.items()}


def python_run_batches(net, meta, files, threads, batch):
    """difftriage's strategy in Python: `threads` threads, each reading, preprocessing and
    running whole batches with one intra-op thread (PyTorch releases the GIL inside its
    operators). Returns (seconds, probabilities)."""
    torch.set_num_threads(1)
    p = meta["preprocess"]
    chunks = [files[i:i + batch] for i in range(0, len(files), batch)]

    def run(chunk):
        torch.set_num_threads(1)
        with torch.inference_mode():
            x = np.stack([load_and_preprocess(f, p) for f in chunk])
            return {k: v.numpy() for k, v in net(torch.from_numpy(x).unsqueeze(1)).items()}

    start, cpu0 = time.perf_counter(), time.process_time()
    with cf.ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(run, chunks))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
    return elapsed, cpu, {k: np.concatenate([r[k] for r in results]) for k in results[0]}


def cxx_run(binary, model, folder, threads, batch, out, evidence=False):
    """classify; without `evidence` with --no-spot-evidence (the work the Python peer does)."""
    start = time.perf_counter()
    subprocess.run([binary, "classify", folder, "--out", out, "--model", model, "--threads",
                    str(threads), "--batch", str(batch), "--quiet"]
                   + ([] if evidence else ["--no-spot-evidence"]), check=True,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    summary = json.load(open(os.path.join(out, "summary.json")))
    rows = [json.loads(line) for line in open(os.path.join(out, "results.jsonl"))]
    return wall, summary, rows


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="checkpoint folder (model.pt + model.json)")
    ap.add_argument("--frames", required=True, help="folder of frames (PGM)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2, help="timed runs of each, best is kept")
    ap.add_argument("--check", type=int, default=16, help="frames compared with difftriage")
    ap.add_argument("--difftriage", default="build/tools/difftriage/difftriage")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    net, meta = load_model(args.model)
    files = sorted(os.path.join(args.frames, f) for f in os.listdir(args.frames)
                   if f.endswith((".pgm", ".png", ".tif", ".tiff")) and not f.startswith("."))
    if not files:
        raise SystemExit(f"no frames in {args.frames}")
    for f in files:  # page cache: both read warm files
        with open(f, "rb") as fh:
            fh.read()
    arch = meta["architecture"]
    print(f"model {args.model}: {arch['name']} widths {arch['widths']} stem_pool "
          f"{arch.get('stem_pool', 1)} stem_conv {arch.get('stem_conv', 0)}, input "
          f"{meta['preprocess']['mode']} {meta['preprocess']['input_size']}; {len(files)} frames, "
          f"{args.threads} thread(s), batch {args.batch}; torch {torch.__version__}")

    with tempfile.TemporaryDirectory() as tmp:
        cxx_best, py_best, py2_best, ev_best = None, None, None, None
        for r in range(args.repeats):  # interleaved, so both see the same machine load
            wall, summary, rows = cxx_run(args.difftriage, args.model, args.frames, args.threads,
                                          args.batch, os.path.join(tmp, f"cls{r}"))
            if cxx_best is None or summary["frames_per_s"] > cxx_best[1]["frames_per_s"]:
                cxx_best = (wall, summary, rows)
            wall, summary, _ = cxx_run(args.difftriage, args.model, args.frames, args.threads,
                                       args.batch, os.path.join(tmp, f"ev{r}"), evidence=True)
            if ev_best is None or summary["frames_per_s"] > ev_best[1]["frames_per_s"]:
                ev_best = (wall, summary)
            elapsed, cpu, probs = python_run(net, meta, files, args.threads, args.batch)
            if py_best is None or elapsed < py_best[0]:
                py_best = (elapsed, probs, cpu)
            elapsed, cpu, probs = python_run_batches(net, meta, files, args.threads, args.batch)
            if py2_best is None or elapsed < py2_best[0]:
                py2_best = (elapsed, probs, cpu)

    # Agreement on the first --check frames (rows are in input order = sorted file names).
    rows, probs = cxx_best[2], py_best[1]
    by_path = {os.path.realpath(r["path"]): r for r in rows}
    diff = {"p": 0.0, "p_quality": 0.0, "mosaic": 0.0}
    n_checked = 0
    for i, f in enumerate(files[:args.check]):
        row = by_path.get(os.path.realpath(f))
        if row is None or row["error"] is not None:
            continue
        n_checked += 1
        if "labels" in probs:
            diff["p"] = max(diff["p"], max(abs(row["p"][k] - float(probs["labels"][i][j]))
                                           for j, k in enumerate(LABELS)))
        if "quality" in probs:
            diff["p_quality"] = max(diff["p_quality"], max(
                abs(row["p_quality"][k] - float(probs["quality"][i][j]))
                for j, k in enumerate(QUALITY)))
        if "mosaic" in probs:
            diff["mosaic"] = max(diff["mosaic"], abs(row["mosaic1"] - float(probs["mosaic"][i][0])),
                                 abs(row["mosaic2"] - float(probs["mosaic"][i][1])))
    print(f"agreement on {n_checked} frame(s): max |p_C++ - p_Python| labels {diff['p']:.2e}, "
          f"quality {diff['p_quality']:.2e}, mosaic {diff['mosaic']:.2e}")

    n = len(files)
    cxx_fps = cxx_best[1]["frames_per_s"]
    cxx_cpu = cxx_best[1].get("timing", {}).get("cpu_s", 0.0)
    py_fps, py2_fps = n / py_best[0], n / py2_best[0]
    per_cpu = lambda cpu: f"{n / cpu:.1f} frames per CPU-second" if cpu > 0 else "CPU time n/a"
    print(f"difftriage classify: {cxx_fps:.1f} frames/s, {per_cpu(cxx_cpu)} (pipeline, best of "
          f"{args.repeats}); whole process {n / cxx_best[0]:.1f} frames/s ({cxx_best[0]:.2f} s "
          f"incl. start-up and model loading)")
    ev_t = ev_best[1].get("timing", {})
    print(f"difftriage classify with the spot evidence (the default): "
          f"{ev_best[1]['frames_per_s']:.1f} frames/s, {per_cpu(ev_t.get('cpu_s', 0.0))}; "
          f"per frame per thread: read + preprocess + spot evidence "
          f"{1e3 * ev_t.get('decode_s', 0.0) / n:.2f} ms, inference "
          f"{1e3 * ev_t.get('infer_s', 0.0) / n:.2f} ms (without the evidence: "
          f"{1e3 * cxx_best[1].get('timing', {}).get('decode_s', 0.0) / n:.2f} ms and "
          f"{1e3 * cxx_best[1].get('timing', {}).get('infer_s', 0.0) / n:.2f} ms)")
    print(f"python, {args.threads} intra-op thread(s) (PIL + NumPy + PyTorch): {py_fps:.1f} "
          f"frames/s, {per_cpu(py_best[2])} (best of {args.repeats})")
    print(f"python, {args.threads} batch thread(s) x 1 intra-op (difftriage's strategy): "
          f"{py2_fps:.1f} frames/s, {per_cpu(py2_best[2])} (best of {args.repeats})")
    print(f"C++/Python = {cxx_fps / py_fps:.2f} (vs the faster Python: "
          f"{cxx_fps / max(py_fps, py2_fps):.2f}); per CPU-second: "
          + (f"{py_best[2] / cxx_cpu:.2f} ({py2_best[2] / cxx_cpu:.2f})" if cxx_cpu > 0 else "n/a"))
    if max(diff.values()) > 1e-3:
        print("WARNING: outputs disagree by more than 1e-3", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
