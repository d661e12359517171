"""One element of a held-out benchmark clip as the parser sees it: the template's crop, frames at rest, frames pressed.

Renders the clip the overlay benchmark renders for ``STYLE`` at ``CRF`` and ``SCALE`` from ``SEED`` (the benchmark's
clip seed: ``grid seed * 100003 + index``), and writes a strip of 160 px tiles: the template's crop of ``ELEMENT``
(with a margin), then its first three frames at rest and first three pressed. Session 24 used it to see why the
parser reads ``sprite-gamecube-4``'s ``east`` as never pressed (docs/overlay.md, Round 6; docs/img/overlay_missed_press.png).

Usage::

    python experiments/results/overlay_session24/view_press.py sprite-gamecube-4 23 2.0 100023 east out.png
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from nitrogen_datasets.overlay.decode import decode_frames
from nitrogen_datasets.overlay.evaluate import CLIP_KINDS, clip_actions, load_play_statistics, scrolling_scenes
from nitrogen_datasets.overlay.layout import load_layout
from nitrogen_datasets.overlay.render import OverlayRenderer
from nitrogen_datasets.overlay.sprite_styles import sprite_style
from nitrogen_datasets.overlay.video import render_overlay_video
from nitrogen_envs import gamepad

FRAMES, FPS, SIZE, TILE, MARGIN = 48, 30, (360, 640), 160, 10


def main() -> None:
    """Render, cut and write the strip."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("style")
    parser.add_argument("crf", type=int)
    parser.add_argument("scale", type=float)
    parser.add_argument("seed", type=int)
    parser.add_argument("element")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    style = sprite_style(args.style)
    rng = np.random.default_rng((args.seed, CLIP_KINDS.index("play")))
    present = set(OverlayRenderer(style).shapes)
    pressable = [n for n in (*gamepad.TRIGGERS, *gamepad.BUTTON_NAMES) if n in present]
    truth, _ = clip_actions("play", load_play_statistics(None), FRAMES, FPS, rng, pressable)
    with tempfile.TemporaryDirectory() as tmp:
        scenes = scrolling_scenes(args.seed, FRAMES, SIZE)
        clip = render_overlay_video(scenes, truth, replace(style, scale=args.scale), Path(tmp) / "c.mp4", FPS, args.crf)
        layout, template = load_layout(clip.layout)
        frames = [f.to_ndarray(format="rgb24") for f, _, _ in decode_frames(clip.video)]
    box, where = layout.elements[args.element], clip.placement
    x0, y0 = int(box.x - MARGIN), int(box.y - MARGIN)
    x1, y1 = int(box.x + box.w + MARGIN), int(box.y + box.h + MARGIN)

    def tile(image: np.ndarray) -> np.ndarray:
        return cv2.resize(image, (TILE, TILE), interpolation=cv2.INTER_NEAREST)

    column = gamepad.FLAT_NAMES.index(args.element)
    pressed = [i for i in range(len(frames)) if truth[i, column] >= 0.5][:3]
    released = [i for i in range(len(frames)) if truth[i, column] < 0.5][:3]
    fx0, fy0 = int(where.x + x0 * where.scale), int(where.y + y0 * where.scale)
    fx1, fy1 = int(where.x + x1 * where.scale), int(where.y + y1 * where.scale)
    tiles = [tile(template[y0:y1, x0:x1, :3])] + [tile(frames[i][fy0:fy1, fx0:fx1]) for i in released + pressed]
    cv2.imwrite(str(args.out), cv2.cvtColor(np.concatenate(tiles, axis=1), cv2.COLOR_RGB2BGR))
    print(f"{args.out}: template, frames {released} at rest, {pressed} pressed")


if __name__ == "__main__":
    main()
