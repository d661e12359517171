#!/usr/bin/env bash
# How the bundled `nitrogen-s-procgen6` weights were made (2 shared CPU cores, about an hour of training).
# Run from the repository root with the dev install; outputs go to runs/bundled/.
set -euo pipefail
out=runs/bundled
games=(StarPilot FruitBot BossFight Chaser Miner Jumper)

# 1. Demonstrations: the save-state planner on the easy task, 40 episodes per game, 400-step cap, 128 px.
for game in "${games[@]}"; do
  nitrogen collect --game "$game" --task easy --episodes 40 --max-steps 400 --obs-size 128 \
    --out "$out/demos/$game" --workers 2
done

# 2. Behaviour cloning: nitrogen-s from scratch, 4000 steps of 32 (resumable: rerun the same line).
nitrogen train --config nitrogen-s --out "$out/run" --steps 4000 --batch-size 32 --lr 3e-4 --warmup-steps 200 \
  --workers 1 --save-every 250 --data "${games[@]/#/$out/demos/}"

# 3. Ship in half precision (about 11 MB), loadable as NitroGenPolicy.from_pretrained("nitrogen-s-procgen6").
python - "$out/run/final" <<'PY'
import sys
import torch
from nitrogen_policies import NitroGenPolicy
NitroGenPolicy.from_pretrained(sys.argv[1]).save_pretrained(
    "nitrogen_policies/weights/nitrogen-s-procgen6", dtype=torch.float16
)
PY

# 4. Measure it against random play on the training games (docs/policies.md).
for game in "${games[@]}"; do
  nitrogen evaluate --agent nitrogen-s-procgen6 --game "$game" --task easy --episodes 10
  nitrogen evaluate --agent random --game "$game" --task easy --episodes 10
done
