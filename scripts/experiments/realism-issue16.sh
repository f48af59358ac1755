#!/bin/bash
# Issue 16's evidence: the same brief recipe trained on the simulator before issue 16 (OLD, a
# difftriage binary built at f74725a) and after it (NEW), both scored on both simulators' test
# sets reweighted to the reference's label mixes and on the reference frames, with 95 %
# bootstrap intervals; and the realism score of each simulator's test set.
# Usage: scripts/experiments/realism-issue16.sh OLD_BINARY NEW_BINARY WORKDIR
# (about 40 minutes on the 2-core machine; CPU only).
set -euo pipefail
OLD=$(realpath "$1") NEW=$(realpath "$2") W=$3
R=$(realpath "$(dirname "$0")/../../../shared/reference/nanobragg")
GEOM=$(realpath "$(dirname "$0")/../../docs/geometry/nanobragg-reference.json")
mkdir -p "$W" && cd "$W"
for v in old new; do
  B=$OLD; [ $v = new ] && B=$NEW
  "$B" simulate --out ${v}_train --count 6000 --mix balanced --seed 1001 --threads 2 --quiet
  "$B" simulate --out ${v}_test --count 2000 --mix balanced --seed 9001 --threads 2 --quiet
  "$NEW" train --data ${v}_train --val-fraction 0.1 --out run_$v --epochs 8 --schedule cosine \
    --seed 5 --threads 2 --workers 2 --cache --tune-thresholds --no-plots --quiet
done
for v in old new; do
  for t in old_test new_test; do
    for ref in try1 try2; do
      "$NEW" evaluate --model run_$v/model --data $t --out bs_${v}_on_${t}_rw_$ref --no-plots \
        --no-baseline --bootstrap 1000 --bootstrap-seed 1 --reweight-to $R/$ref > bs_${v}_on_${t}_rw_$ref.txt
    done
  done
  for ref in try1 try2; do
    "$NEW" evaluate --model run_$v/model --data $R/$ref --out bs_${v}_on_$ref --no-plots \
      --no-baseline --bootstrap 1000 --bootstrap-seed 1 > bs_${v}_on_$ref.txt
  done
  for ref in try1 try2; do
    "$NEW" dataset compare ${v}_test $R/$ref --out cmp_${v}_$ref --name-a ours \
      --name-b nanobragg-$ref --geometry-b "$GEOM" > cmp_${v}_$ref.txt
  done
done
