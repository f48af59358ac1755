#!/usr/bin/env bash
# capture.sh REPO OUTDIR: the behaviour-invariance workload used for refactors (issue 15).
# With REPO's build: simulates the main job's 300 frames (seed 7) and 40 more (seed 11),
# classifies them, every fixture and the reference frames with models/default, evaluates, stats.
# Compare two captures with scripts/invariance/compare.py BEFORE AFTER (exit 1 on a difference).
set -uo pipefail
repo=$(cd "$1" && pwd); out=$2
dt=$repo/build/tools/difftriage/difftriage
rm -rf "$out"; mkdir -p "$out"
cd "$repo"
"$dt" simulate --out "$out/data" --count 300 --mix balanced --seed 7 --threads 2 --quiet
"$dt" simulate --out "$out/data2" --count 40 --mix balanced --seed 11 --threads 1 --quiet
"$dt" classify "$out/data" --out "$out/classify" --threads 2 --quiet > /dev/null
"$dt" classify ../shared/fixtures --out "$out/fixtures" --threads 2 --quiet > /dev/null
"$dt" classify ../shared/reference/nanobragg/try1 ../shared/reference/nanobragg/try2 --out "$out/reference" --threads 2 --quiet > /dev/null
"$dt" evaluate --model models/default --data "$out/data" --out "$out/evaluate" --threads 2 > "$out/evaluate.txt"
"$dt" dataset stats "$out/data" --out "$out/stats" > "$out/stats.txt"
(cd "$out" && find data data2 -type f | sort | xargs sha256sum) > "$out/data.sha256"
echo "captured $out"
