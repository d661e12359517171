"""False finds of the whole search ``extract`` runs (the probe, then farther on) on 10-second overlay-free clips.

Session 30 made ``extract`` search a video once more where its first ``probe_frames`` do not show the overlay,
with static edges spread over the first :attr:`~nitrogen_datasets.overlay.extract.ExtractConfig.search_seconds`
(:func:`~nitrogen_datasets.overlay.extract.search`). Round 4's guard (``false_finds.py``) reads 24-frame clips,
too short for that second search ever to run; this one plays the same games, seeds, HUD shapes and qualities for
:data:`FRAMES` frames (10 s at 30 fps: every video here goes through both searches) and runs the search as
``extract`` does, through a :class:`~nitrogen_datasets.overlay.decode.VideoProbe`. Same templates (the nine
training sprite styles and four presets), same results format (JSON lines, resumable, ``--shard``).

Usage::

    python experiments/results/overlay_session30/long_false_finds.py [--shard 0/2] [--tag after]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import cv2

from nitrogen_datasets.overlay.decode import VideoProbe
from nitrogen_datasets.overlay.extract import ExtractConfig, search
from nitrogen_datasets.overlay.localize import OverlayNotFound
from nitrogen_datasets.overlay.render import parse_resolution

sys.path.insert(0, str(Path(__file__).parent.parent / "overlay_localize_round4"))
from false_finds import (  # type: ignore[import-not-found]
    VARIANTS,
    append_row,
    clip_name,
    clip_video,
    read_results,
    result_row,
    show_row,
    templates,
)

FRAMES = 300
"""Frames per clip: 10 s, more than the probe's 120, so the farther search runs on every clip."""


def main() -> None:
    """Render the clips (once), search every template in each, append results, print the summary."""
    from nitrogen_envs import all_games

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tag", default="shipped", help="name of this run's results file")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/nitrogen-false-finds-long"))
    parser.add_argument("--games", nargs="*", help="only these games (default: every registered game)")
    parser.add_argument("--size", default="640x360", help="clip size (default: the training and held-out clips')")
    parser.add_argument("--shard", default="0/1", help="i/n: only every n-th game from the i-th (parallel runs)")
    args = parser.parse_args()
    size = parse_resolution(args.size)
    shard, shards = (int(part) for part in args.shard.split("/"))
    cv2.setNumThreads(1)
    config = ExtractConfig()
    args.cache.mkdir(parents=True, exist_ok=True)
    results_path = args.cache / f"results_{args.tag}_{args.size}.jsonl"
    done = read_results(results_path)
    games = [g for g in all_games() if not args.games or g.name in args.games]
    matched = templates()
    with results_path.open("a") as out:
        for game in games[shard::shards]:
            for seed, crf, hud in VARIANTS:
                video = clip_video(args.cache, game.name, seed, crf, hud, size, FRAMES)
                for name, template in matched.items():
                    key = (video.stem, name)
                    if key not in done:
                        start = time.process_time()
                        probe = VideoProbe(video, config.probe_frames)
                        try:
                            found = search(probe, probe.first_frames(), template, config)
                            verdict = f"FALSE FIND ({found.x}, {found.y}, {found.scale:.3f}) {found.score:.3f}"
                        except OverlayNotFound as error:
                            found = None
                            verdict = "none: " + str(error).split("; check")[0]
                        finally:
                            probe.close()
                        false_find = found is not None
                        row = result_row(
                            video.stem, game.engine, hud, name, false_find, verdict, start, frames_searched=probe.seen
                        )
                        append_row(out, done, row)
                    show_row(done[key])
    stems = {clip_name(g.name, seed, crf, hud, size) for g in games for seed, crf, hud in VARIANTS}
    rows = [row for key, row in done.items() if key[0] in stems]
    missing = len(stems) * len(matched) - len(rows)
    if missing:
        print(f"overlay_long_false_finds: incomplete, {missing} (clip, template) pairs not run yet (other shards?)")
        return
    false = [row for row in rows if row["false_find"]]
    by_engine = Counter(row["engine"] for row in false)
    engines = sorted({row["engine"] for row in rows})
    print("false finds per engine: " + ", ".join(f"{e} {by_engine[e]}" for e in engines))
    print("false finds with HUD shapes: " + str(sum(row["hud"] for row in false)))
    searched = statistics.median(row["frames_searched"] for row in rows)
    cpu = [row["cpu"] for row in rows]
    print(
        f"overlay_long_false_finds: false={len(false)} of {len(rows)} clips={len(stems)} "
        f"clips_with_false={len({row['clip'] for row in false})} frames_searched_median={searched:.0f} "
        f"cpu_median={statistics.median(cpu):.2f} cpu_total={sum(cpu):.0f}"
    )


if __name__ == "__main__":
    main()
