"""Knob-matching diagnosis on real-play clips: stick R^2 per clip, style and (CRF, scale) cell, for any settings.

The clips are the overlay evaluation's ``play`` clips (48 frames, 640x360, moving scene, H.264), rendered once
into ``--cache`` and reused, so settings of :class:`~nitrogen_datasets.overlay.knob_match.KnobMatchConfig`
can be compared on the same videos in seconds. The overlay is found as ``extract`` finds it (a clip whose overlay
is not found is listed and left out, unless ``--known`` or ``--true-placement`` gives the renderer's placement),
the knob is chosen on the same reference frames, and every frame is read through
:meth:`KnobStickReader.read_all` (tracking included). Only the sticks are read: no parser runs.

Usage (Round 2 of docs/overlay.md's "Sticks" section; seeds 500 on, one per clip in grid order)::

    python experiments/results/overlay_knob_round2/knob_harness.py --styles sprite-xbox-3 sprite-dualsense-3
        sprite-arcade-3 sprite-xbox-1 sprite-switch-pro-2 sprite-keyboard-2 sprite-switch-pro-3 sprite-keyboard-3
        sprite-arcade-2 --set track_jump=0 min_score=0      # (one line) the matcher before Round 2
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from nitrogen_datasets.overlay import knob_match as km
from nitrogen_datasets.overlay.evaluate import clip_truth, resolve_styles
from nitrogen_datasets.overlay.extract import ExtractConfig, VideoProbe, _locate, spread_indices
from nitrogen_datasets.overlay.layout import STICK_AXES, load_layout
from nitrogen_datasets.overlay.localize import Localization, OverlayNotFound
from nitrogen_datasets.overlay.play_stats import load_play_statistics
from nitrogen_datasets.overlay.region import RegionRGB, overlay_region
from nitrogen_datasets.overlay.synthetic import scrolling_scenes
from nitrogen_datasets.overlay.video import render_overlay_video
from nitrogen_envs import gamepad

FRAMES, FPS, SIZE = 48, 30, (360, 640)


def render(cache: Path, name: str, crf: int, scale: float, seed: int) -> Path:
    """The clip's folder (video, layout, truth, placement), rendered as the evaluation renders a play clip."""
    folder = cache / f"{name}_c{crf}_s{scale:g}_{seed}"
    if not (folder / "truth.npy").exists():
        style = resolve_styles([name])[0]
        folder.mkdir(parents=True, exist_ok=True)
        truth, _ = clip_truth(style, "play", seed, FRAMES, FPS, load_play_statistics(None))
        placed = replace(style, scale=scale)
        clip = render_overlay_video(scrolling_scenes(seed, FRAMES, SIZE), truth, placed, folder / "clip.mp4", FPS, crf)
        np.save(folder / "truth.npy", truth)
        where = clip.placement
        (folder / "placement.json").write_text(json.dumps([where.x, where.y, where.scale]))
    return folder


def decode(folder: Path, placement: str) -> tuple:
    """(layout, template, localization or None, region origin, region RGB frames) as ``extract`` sees them."""
    config = ExtractConfig()
    layout, template = load_layout(folder / "clip.layout.json")
    probe = VideoProbe(folder / "clip.mp4", config.probe_frames)
    try:
        try:
            if placement == "true":
                raise OverlayNotFound("the renderer's placement is asked for")
            where, region, _ = _locate(probe, layout, template, config)
        except OverlayNotFound:
            if placement == "found":
                return layout, template, None, None, []
            x, y, scale = json.loads((folder / "placement.json").read_text())
            where = Localization(x=x, y=y, scale=scale, score=0.0)
            region = overlay_region(layout, where, SIZE, template)
        to_rgb = RegionRGB(region)
        frames = [np.ascontiguousarray(to_rgb(frame)) for frame, _ in probe.frames()]
    finally:
        probe.close()
    return layout, template, where, region[:2], frames


def read(folder: Path, config: km.KnobMatchConfig, placement: str) -> dict | None:
    """Per-stick sums for R^2, the knob chosen, its mean best score; ``None`` when the overlay is not found."""
    layout, template, where, origin, frames = decode(folder, placement)
    if where is None:
        return None
    truth = np.load(folder / "truth.npy")
    reference = [frames[:120][i] for i in spread_indices(len(frames[:120]), 64)]
    start = time.process_time()
    reader = km.KnobStickReader(layout, where, template, reference, config, origin)
    rows = list(reader.read_all(frames))
    cpu = time.process_time() - start
    sticks = {}
    for name, matcher in reader.matchers.items():
        axes = STICK_AXES[name]
        t = truth[:, [gamepad.FLAT_NAMES.index(a) for a in axes]]
        got = np.array([[row[axes[0]], row[axes[1]]] for row in rows])
        sticks[name] = {
            "sse": float(((got - t) ** 2).sum()),
            "n": t.size,
            "sum": float(t.sum()),
            "sumsq": float((t**2).sum()),
            "radii": [round(r, 1) for r in matcher.radii],
            "choice": matcher.choice,
            "visible": matcher.visible,
            "bad": int((np.abs(got - t).max(axis=1) > 0.2).sum()),
        }
    return {"cpu": cpu, "sticks": sticks}


def r2(parts: list[dict]) -> float:
    """Pooled coefficient of determination of stick tallies (as the evaluation's ``Tally.stick_r2``)."""
    n = sum(p["n"] for p in parts)
    total, squares, sse = (sum(p[k] for p in parts) for k in ("sum", "sumsq", "sse"))
    sst = squares - total * total / n if n else 0.0
    return 1.0 - sse / sst if sst > 0 else float("nan")


def main() -> None:
    """Render (once) and read the grid, print per-clip lines (``--verbose``), per-style, per-cell and pooled R^2."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--styles", nargs="+", required=True)
    parser.add_argument("--crfs", nargs="+", type=int, default=[23, 35])
    parser.add_argument("--scales", nargs="+", type=float, default=[0.5, 1.0, 2.0])
    parser.add_argument("--seed0", type=int, default=500, help="seed of the first clip (one more per clip)")
    parser.add_argument("--set", nargs="*", default=[], help="KnobMatchConfig fields, e.g. track_jump=0")
    parser.add_argument("--known", action="store_true", help="read clips whose overlay is not found at the true place")
    parser.add_argument("--true-placement", action="store_true", help="read every clip at the renderer's placement")
    parser.add_argument(
        "--against", nargs="*", help="a second setting read on the same clips: paired 95%% CI of the gain"
    )
    parser.add_argument("--cache", type=Path, default=Path("/tmp/nitrogen-knob-harness"))
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    types = {f.name: type(getattr(km.KnobMatchConfig(), f.name)) for f in fields(km.KnobMatchConfig)}
    overrides: dict[str, Any] = {}
    for item in args.set:
        key, value = item.split("=")
        overrides[key] = value in ("1", "true", "True") if types[key] is bool else types[key](value)
    config = km.KnobMatchConfig(**overrides)
    other = None
    if args.against is not None:
        pairs = [item.split("=") for item in args.against]
        values: dict[str, Any] = {k: v in ("1", "true", "True") if types[k] is bool else types[k](v) for k, v in pairs}
        other = km.KnobMatchConfig(**values)
    clips: list[tuple[list[dict], list[dict]]] = []
    placement = "true" if args.true_placement else "known" if args.known else "found"
    every: list[dict] = []
    by_style: dict[str, list[dict]] = {}
    by_cell: dict[tuple[int, float], list[dict]] = {}
    cpu: list[float] = []
    index = 0
    for name in args.styles:
        for crf in args.crfs:
            for scale in args.scales:
                folder = render(args.cache, name, crf, scale, args.seed0 + index)
                index += 1
                result = read(folder, config, placement)
                if result is None:
                    print(f"{folder.name}: overlay not found")
                    continue
                parts = list(result["sticks"].values())
                if other is not None:
                    against = read(folder, other, placement)
                    assert against is not None
                    clips.append((parts, list(against["sticks"].values())))
                every += parts
                by_style.setdefault(name, []).extend(parts)
                by_cell.setdefault((crf, scale), []).extend(parts)
                cpu.append(result["cpu"])
                if args.verbose:
                    sticks = " ".join(
                        f"{stick}: R2 {r2([p]):.3f} knob {p['radii'][p['choice']]} of {p['radii']} "
                        f"{'seen' if p['visible'] else 'NOT SEEN'} frames off >0.2: {p['bad']}"
                        for stick, p in result["sticks"].items()
                    )
                    print(f"{folder.name}: R2 {r2(parts):.3f} | {sticks}", flush=True)
    for name, parts in by_style.items():
        print(f"  {name}: {r2(parts):.4f}")
    for (crf, scale), parts in sorted(by_cell.items()):
        print(f"  CRF {crf} scale {scale:g}: {r2(parts):.4f}")
    if clips:
        # Paired bootstrap over clips (seed 0, 2000 draws): the pooled R^2 of each setting and their difference.
        rng = np.random.default_rng(0)
        draws = []
        for _ in range(2000):
            pick = rng.integers(0, len(clips), len(clips))
            ours = r2([p for i in pick for p in clips[i][0]])
            theirs = r2([p for i in pick for p in clips[i][1]])
            draws.append((ours, theirs, ours - theirs))
        low, high = np.nanpercentile(np.array(draws), [2.5, 97.5], axis=0)
        base = r2([p for _, parts in clips for p in parts])
        print(
            f"  95% CI (clips resampled): this {low[0]:.4f} to {high[0]:.4f}; against ({' '.join(args.against)}) "
            f"{base:.4f} [{low[1]:.4f}, {high[1]:.4f}]; gain {r2(every) - base:+.4f} [{low[2]:+.4f}, {high[2]:+.4f}]"
        )
    print(
        f"knob_harness: stick_r2={r2(every):.4f} clips={len(cpu)} of {index} "
        f"cpu_s_per_clip={float(np.mean(cpu)) if cpu else 0.0:.3f} (choose + read) set={' '.join(args.set) or '-'}"
    )


if __name__ == "__main__":
    main()
