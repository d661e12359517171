#!/usr/bin/env bash
# How datasets/nitrogen_datasets/overlay/data/play_stats.json was made: our experts' recorded play, measured.
# `nitrogen overlay eval` replays these statistics (hold lengths, idle stretches, stick rest and travel) in its
# default clips (nitrogen_datasets.overlay.action_sequences). Run from the repository root with the dev install;
# the demonstrations go to runs/play_stats/ (re-running appends nothing: seeds already recorded are skipped).
# Human recordings (`nitrogen play --live --record DIR`) can be measured the same way: pass their folders to the
# last command.
set -euo pipefail
out=runs/play_stats
record() {  # game task episodes max_steps
  nitrogen data record "$1" --task "$2" --episodes "$3" --max-steps "$4" --obs-size 64 --seed 0 -q --out "$out/$1"
}

# Procgen and Atari: the save-state planner (commits 8 steps of a plan, then replans).
for game in CoinRun Jumper StarPilot BossFight Chaser FruitBot; do record "$game" hard 2 400; done
for game in Breakout MsPacman SpaceInvaders; do record "$game" score 1 500; done
# ViZDoom and Crafter: the privileged scripted bots.
for game in DoomDefendCenter DoomTakeCover DoomHealthGathering DoomMyWayHome DoomDeadlyCorridor; do
  task=$(nitrogen info "$game" | sed -n 's/^    \([a-z0-9_]*\):.*/\1/p' | head -1)
  record "$game" "$task" 3 500
done
record Crafter collect_diamond 2 1000

python experiments/overlay_play_stats.py "$out"/* --out datasets/nitrogen_datasets/overlay/data/play_stats.json
