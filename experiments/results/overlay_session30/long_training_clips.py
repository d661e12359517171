"""Localization as ``extract`` runs it on 10-second clips of the training sprite styles: the probe alone, and farther.

The second setting is the probe's search and then the farther one of session 30
(:attr:`~nitrogen_datasets.overlay.extract.ExtractConfig.search_seconds`). The clips are Round 2's knob-harness grid (the nine training styles of ``knob_harness.py``, CRF 23/35 x scale
0.5/1/2, seeds 500 on, one per clip in grid order) rendered as the evaluation renders a real-play clip, but
:data:`FRAMES` frames long instead of 48: a 48-frame clip is shorter than the probe, so the farther search never
runs on it. A find counts as right within 2 pixels and 3% of scale of the renderer's placement.

Usage::

    python experiments/results/overlay_session30/long_training_clips.py [--shard 0/2]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import cv2

from nitrogen_datasets.overlay.decode import VideoProbe
from nitrogen_datasets.overlay.evaluate import clip_truth, resolve_styles
from nitrogen_datasets.overlay.extract import ExtractConfig, search
from nitrogen_datasets.overlay.layout import load_layout
from nitrogen_datasets.overlay.localize import Localization, OverlayNotFound
from nitrogen_datasets.overlay.play_stats import load_play_statistics
from nitrogen_datasets.overlay.synthetic import scrolling_scenes
from nitrogen_datasets.overlay.video import render_overlay_video

sys.path.insert(0, str(Path(__file__).parent.parent / "overlay_localize_round4"))
from false_finds import TRAINING_STYLES  # type: ignore[import-not-found]  # Round 2's nine, in its grid order

FRAMES = 300


def render(cache: Path, name: str, crf: int, scale: float, seed: int) -> Path:
    """The clip's folder (video, layout, placement), rendered once as the evaluation renders a play clip."""
    folder = cache / f"{name}_c{crf}_s{scale:g}_{seed}_n{FRAMES}"
    if not (folder / "placement.json").exists():
        folder.mkdir(parents=True, exist_ok=True)
        style = resolve_styles([name])[0]
        truth, _ = clip_truth(style, "play", seed, FRAMES, 30, load_play_statistics(None))
        scenes = scrolling_scenes(seed, FRAMES, (360, 640))
        clip = render_overlay_video(scenes, truth, replace(style, scale=scale), folder / "clip.mp4", 30, crf)
        where = clip.placement
        (folder / "placement.json").write_text(json.dumps([where.x, where.y, where.scale]))
    return folder


def verdict(folder: Path, config: ExtractConfig) -> str:
    """``right``, ``WRONG (x, y, scale)`` or ``not found`` for one clip under one setting."""
    _, template = load_layout(folder / "clip.layout.json")
    x, y, scale = json.loads((folder / "placement.json").read_text())
    probe = VideoProbe(folder / "clip.mp4", config.probe_frames)
    try:
        found: Localization = search(probe, probe.first_frames(), template, config)
    except OverlayNotFound:
        return "not found"
    finally:
        probe.close()
    if abs(found.x - x) <= 2 and abs(found.y - y) <= 2 and abs(found.scale / scale - 1) <= 0.03:
        return "right"
    return f"WRONG ({found.x}, {found.y}, {found.scale:.3f})"


def main() -> None:
    """Render the grid (once), print each clip's verdict both ways and the counts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/nitrogen-long-harness"))
    parser.add_argument("--shard", default="0/1", help="i/n: every n-th clip from the i-th (parallel runs)")
    args = parser.parse_args()
    shard, shards = (int(part) for part in args.shard.split("/"))
    cv2.setNumThreads(1)
    settings = {"probe": ExtractConfig(search_seconds=0), "farther": ExtractConfig()}
    counts = {name: {"right": 0, "wrong": 0} for name in settings}
    clips = [(n, c, s) for n in TRAINING_STYLES for c in (23, 35) for s in (0.5, 1.0, 2.0)]
    for index, (name, crf, scale) in enumerate(clips):
        if index % shards != shard:
            continue
        folder = render(args.cache, name, crf, scale, 500 + index)
        line = []
        for setting, config in settings.items():
            got = verdict(folder, config)
            counts[setting]["right"] += got == "right"
            counts[setting]["wrong"] += got.startswith("WRONG")
            line.append(f"{setting}: {got}")
        print(f"{folder.name}: " + "; ".join(line), flush=True)
    total = len(clips[shard::shards])
    print(
        f"long_training_clips: clips={total} "
        + " ".join(f"{s}_right={c['right']} {s}_wrong={c['wrong']}" for s, c in counts.items())
    )


if __name__ == "__main__":
    main()
