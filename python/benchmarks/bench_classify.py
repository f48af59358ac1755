#!/usr/bin/env python3
"""Classify in-memory 512² frames through Python (Classifier.classify: arrays → C++ pipeline →
row dicts) and through the C++ library's own in-memory path (stream::run_triage with a frame
loader over owned images, timed in C++), in the same run, alternating, and print frames/s of
each (wall clock, and per CPU-second of the whole process, which does not depend on what else
the machine runs) and their ratios. Both give the same rows (checked).

    PYTHONPATH=build/python /usr/bin/python3 python/benchmarks/bench_classify.py \
        [--frames 256] [--repeats 6] [--threads 2] [--model DIR] [--no-spot-evidence]
"""
import argparse
import statistics
import time

import difftriage


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=256, help="in-memory 512x512 frames")
    ap.add_argument("--repeats", type=int, default=6, help="timed runs of each path")
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
    py_wall, py_cpu, cpp_wall, cpp_cpu = [], [], [], []

    def run_python():
        t0, c0 = time.perf_counter(), time.process_time()
        rows = clf.classify(frames, spot_evidence=evidence)
        py_cpu.append(time.process_time() - c0)
        py_wall.append(time.perf_counter() - t0)
        return rows

    def run_cpp():
        wall, cpu, rows = clf._classify_in_memory_cpp(frames, spot_evidence=evidence)
        cpp_wall.append(wall)
        cpp_cpu.append(cpu)
        return rows

    for k in range(a.repeats):  # alternating which goes first (ABBA), so drift hits both
        first, second = (run_python, run_cpp) if k % 2 == 0 else (run_cpp, run_python)
        assert first() == second(), "the two paths gave different rows"

    def rate(seconds):
        return a.frames / statistics.median(seconds)

    def best(seconds):
        return a.frames / min(seconds)

    def runs(seconds):
        return ", ".join(f"{a.frames / s:.1f}" for s in seconds)

    print(f"{a.frames} frames 512x512 uint8, model {clf.path}, threads {a.threads}, "
          f"spot evidence {'on' if evidence else 'off'}, median of {a.repeats} runs each, alternating")
    print(f"  C++ in-memory path : {rate(cpp_wall):7.1f} frames/s, "
          f"{rate(cpp_cpu):7.1f} frames per CPU-s   (runs: {runs(cpp_wall)})")
    print(f"  Python classify()  : {rate(py_wall):7.1f} frames/s, "
          f"{rate(py_cpu):7.1f} frames per CPU-s   (runs: {runs(py_wall)})")
    print(f"  Python / C++       : {rate(py_wall) / rate(cpp_wall):7.3f} (wall), "
          f"{rate(py_cpu) / rate(cpp_cpu):7.3f} (per CPU-s); best runs: "
          f"{best(py_wall) / best(cpp_wall):.3f} (wall), {best(py_cpu) / best(cpp_cpu):.3f} (per CPU-s)")


if __name__ == "__main__":
    main()
