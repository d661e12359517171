"""Measure recorded play (demonstrations folders) into the table the overlay evaluation replays.

Usage (repository root, dev install)::

    python experiments/overlay_play_stats.py runs/play_stats/* --out datasets/nitrogen_datasets/overlay/data/play_stats.json

``experiments/overlay_play_stats.sh`` records the expert play the shipped table was measured on and then runs
this line. Any folder in the demonstrations format works (a human's ``nitrogen play --live --record`` too).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from nitrogen_datasets.format import load_info
from nitrogen_datasets.overlay.play_stats import measure_play
from nitrogen_envs import gamepad


def episodes(folders: list[Path], games: set[str]) -> Iterator[tuple[np.ndarray, float]]:
    """(actions, fps) of every episode in the folders, collecting game names into ``games``."""
    for folder in folders:
        fps = float(load_info(folder).fps)
        for path in sorted(folder.glob("data/*/*.parquet")):
            table = pq.read_table(path, columns=[*gamepad.FLAT_NAMES, "game"])
            games.update(str(g) for g in table.column("game").unique().to_pylist())
            yield np.stack([table.column(name).to_numpy() for name in gamepad.FLAT_NAMES], axis=1), fps


def main() -> None:
    """Command line: measure the folders and write the table (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="demonstrations folders")
    parser.add_argument("--out", type=Path, required=True, help="JSON table to write")
    args = parser.parse_args()
    games: set[str] = set()
    source = (
        "experiments/overlay_play_stats.sh: expert demonstrations recorded with `nitrogen data record` "
        "(save-state planner on Procgen and Atari, scripted bots on ViZDoom and Crafter), measured by "
        "`python experiments/overlay_play_stats.py " + " ".join(str(f) for f in args.folders) + "`"
    )
    stats = measure_play(episodes(args.folders, games), source=source)
    stats = dataclasses.replace(stats, games=tuple(sorted(games)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_suffix(".partial")
    partial.write_text(stats.to_json())
    os.replace(partial, args.out)
    print(
        f"overlay_play_stats: frames={stats.frames} seconds={stats.seconds} games={len(stats.games)} "
        f"hold_median_s={stats.press_hold.quantile(0.5):.3f} gap_median_s={stats.press_gap.quantile(0.5):.3f} "
        f"idle_share={stats.idle_frame_share} stick_centred_share={stats.stick_centred_share}",
        file=sys.stdout,
    )


if __name__ == "__main__":
    main()
