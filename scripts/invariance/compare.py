#!/usr/bin/python3
"""compare.py BEFORE AFTER: issue 15's invariance check on two capture.sh outputs."""
import json, sys, pathlib
b, a = (pathlib.Path(x).resolve() for x in sys.argv[1:3])
bad = 0
def norm(t, root):
    return "\n".join(l.replace(str(root) + "/", "OUT/") for l in t.splitlines()
                     if "run.json" not in l and "frames/s" not in l)
def rows(p):
    root = b if str(p).startswith(str(b) + "/") else a
    return [json.loads(l.replace(str(root) + "/", "OUT/")) for l in open(p)]
def cmp(x, y, path):
    global bad
    if isinstance(x, float) or isinstance(y, float):
        if x is None or y is None or not isinstance(x,(int,float)) or not isinstance(y,(int,float)) or abs(x - y) > 1e-6:
            print(f"  {path}: {x} != {y}"); bad += 1
    elif isinstance(x, dict) and isinstance(y, dict):
        for k in sorted(set(x) | set(y)):
            if k in ("dataset", "inference_frames_per_s", "seconds", "timings", "time_s", "wall_s", "elapsed_s"): continue
            if k not in x or k not in y: print(f"  {path}.{k}: only in {'after' if k not in x else 'before'}"); bad += 1; continue
            cmp(x[k], y[k], f"{path}.{k}")
    elif isinstance(x, list) and isinstance(y, list):
        if len(x) != len(y): print(f"  {path}: length {len(x)} != {len(y)}"); bad += 1; return
        for i, (u, v) in enumerate(zip(x, y)): cmp(u, v, f"{path}[{i}]")
    elif x != y:
        print(f"  {path}: {x!r} != {y!r}"); bad += 1
for run in ("classify", "fixtures", "reference"):
    rb, ra = rows(b / run / "results.jsonl"), rows(a / run / "results.jsonl")
    n0 = bad
    if len(rb) != len(ra): print(f"{run}: {len(rb)} rows before, {len(ra)} after"); bad += 1
    for i, (x, y) in enumerate(zip(rb, ra)):
        x.pop("seconds", None); y.pop("seconds", None)
        cmp(x, y, f"{run}[{i}]")
    for f in ("hits.lst",):
        if norm((b/run/f).read_text(), b) != norm((a/run/f).read_text(), a): print(f"{run}/{f} differs"); bad += 1
    print(f"{run}: {len(rb)} rows, {bad - n0} differences")
db, da = norm((b/"data.sha256").read_text(), b), norm((a/"data.sha256").read_text(), a)
print("simulate: byte-identical" if db == da else "simulate: DIFFERENT"); bad += db != da
for t in ("evaluate.txt", "stats.txt"):
    same = norm((b/t).read_text(), b) == norm((a/t).read_text(), a)
    print(f"{t}: {'identical' if same else 'DIFFERENT'}"); bad += not same
pb, pa = rows(b/"evaluate/predictions.jsonl"), rows(a/"evaluate/predictions.jsonl")
n0 = bad; cmp(pb, pa, "predictions"); print(f"evaluate/predictions.jsonl: {len(pb)} rows, {bad - n0} differences")
mb, ma = json.load(open(b/"evaluate/metrics.json")), json.load(open(a/"evaluate/metrics.json"))
n0 = bad; cmp(mb, ma, "metrics"); print(f"evaluate/metrics.json: {bad - n0} differences")
sys.exit(1 if bad else 0)
