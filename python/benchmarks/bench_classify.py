#!/usr/bin/env python3
"""Classify in-memory 512² frames through Python (Classifier.classify: arrays → C++ pipeline →
row dicts) and through the C++ library's own in-memory path (stream::run_triage with a frame
loader over owned images, timed in C++), in the same run, alternating, and print frames/s of
each and their ratio. Both give the same rows (checked).

    PYTHONPATH=build/python /usr/bin/python3 python/benchmarks/bench_classify.py \
        [--frames 256] [--repeats 3] [--threads 2] [--model DIR]
"""
import argparse
import statistics
import time

import difftriage


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=256, help="in-memory 512x512 frames")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each path")
    ap.add_argument("--threads", type=int, default=2, help="Classifier.load(threads=...)")
    ap.add_argument("--model", default=None, help="model (default: the shipped one)")
    ap.add_argument("--no-spot-evidence", action="store_true")
    a = ap.parse_args()

    # simulated frames, 8-bit like the study's; cycled to the requested count
    base, _, _ = difftriage.simulate(min(a.frames, 32), seed=1)
    frames = [base[i % len(base)] for i in range(a.frames)]
    clf = difftriage.Classifier.load(a.model, threads=a.threads)
    evidence = not a.no_spot_evidence

    clf.classify(frames[:64], spot_evidence=evidence)  # warm-up (allocator, Torch)
    py_s, cpp_s = [], []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        py_rows = clf.classify(frames, spot_evidence=evidence)
        py_s.append(time.perf_counter() - t0)
        seconds, cpp_rows = clf._classify_in_memory_cpp(frames, spot_evidence=evidence)
        cpp_s.append(seconds)
        assert py_rows == cpp_rows, "the two paths gave different rows"
    py = a.frames / statistics.median(py_s)
    cpp = a.frames / statistics.median(cpp_s)
    print(f"{a.frames} frames 512x512 uint8, model {clf.path}, threads {a.threads}, "
          f"spot evidence {'on' if evidence else 'off'}, median of {a.repeats}")
    print(f"  C++ in-memory path : {cpp:8.1f} frames/s  (runs: "
          + ", ".join(f"{a.frames / s:.1f}" for s in cpp_s) + ")")
    print(f"  Python classify()  : {py:8.1f} frames/s  (runs: "
          + ", ".join(f"{a.frames / s:.1f}" for s in py_s) + ")")
    print(f"  Python / C++       : {py / cpp:8.3f}")


if __name__ == "__main__":
    main()
