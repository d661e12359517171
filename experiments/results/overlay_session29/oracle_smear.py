"""Why the oracle reads some CRF 35 clips below "nothing pressed": the codec drags the overlay along the scroll.

The oracle bound (:mod:`nitrogen_datasets.overlay.bound`) renders each button pressed and released over the true
game frame and picks the one nearer the decoded frame. Seed 10's and seed 14's lost ``sprite-gamecube-2`` CRF 35 x0.5
clips read 0.1000 and 0.0583 of their buttons that way, where answering "released" everywhere reads 1.0000. This
renders one evaluation clip again (as ``evaluate_clip`` does), writes the decoded frame above the frame that was
encoded (``whole.png``, frame 20) and prints the oracle's reads with both renders blurred (a low-pass codec): the
decoded overlay is smeared into trails along the scene's motion (the encoder predicts its blocks from the scrolled
scene), which no blur of the true render matches.

Usage::

    python experiments/results/overlay_session29/oracle_smear.py sprite-gamecube-2 35 0.5 1400057 OUT_FOLDER
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from nitrogen_datasets.overlay import bound
from nitrogen_datasets.overlay.evaluate import OverlayEvalConfig, clip_truth, resolve_styles
from nitrogen_datasets.overlay.play_stats import load_play_statistics
from nitrogen_datasets.overlay.render import OverlayRenderer, clip_rect
from nitrogen_datasets.overlay.synthetic import scrolling_scenes
from nitrogen_datasets.overlay.video import render_overlay_video
from nitrogen_envs import gamepad

SIGMAS = (0.0, 0.5, 1.0, 1.5, 2.0)


def main() -> None:
    """Render the clip, save the side-by-side image, print the oracle's reads per blur."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("style")
    parser.add_argument("crf", type=int)
    parser.add_argument("scale", type=float)
    parser.add_argument("seed", type=int, help="the clip's seed, as the benchmark's 'not found' line prints it")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    config = OverlayEvalConfig()
    style = replace(resolve_styles([args.style])[0], scale=args.scale)
    truth, _ = clip_truth(style, "play", args.seed, config.frames, config.fps, load_play_statistics(None))
    clip = render_overlay_video(
        scrolling_scenes(args.seed, config.frames, config.frame_size),
        truth,
        style,
        args.out / "clip.mp4",
        fps=config.fps,
        crf=args.crf,
    )
    renderer = OverlayRenderer(style)
    where = clip.placement
    scenes = list(scrolling_scenes(args.seed, config.frames, config.frame_size))
    decoded = list(bound.decoded_frames(clip.video))
    encoded = [renderer.composite(scene, action, where) for scene, action in zip(scenes, truth, strict=True)]
    cv2.imwrite(
        str(args.out / "whole.png"), cv2.cvtColor(np.concatenate([decoded[20], encoded[20]]), cv2.COLOR_RGB2BGR)
    )
    regions = bound.element_regions(renderer, where)
    hits = dict.fromkeys(SIGMAS, 0)
    for scene, frame, action in zip(scenes, decoded, truth, strict=True):
        drawn = renderer.draw(action, scale=where.scale)
        for name, rect in regions.items():
            column = gamepad.FLAT_NAMES.index(name)
            flipped = action.copy()
            flipped[column] = 0.0 if action[column] >= gamepad.BUTTON_THRESHOLD else 1.0
            other = renderer.draw(flipped, scale=where.scale)
            x0, y0, x1, y1 = clip_rect(rect, scene.shape[:2])
            wide = clip_rect((x0 - 4, y0 - 4, x1 + 4, y1 + 4), scene.shape[:2])  # blurred without a border
            right = renderer.blend(scene, drawn, where, wide).astype(np.float32)
            wrong = renderer.blend(scene, other, where, wide).astype(np.float32)
            inside = (slice(y0 - wide[1], y1 - wide[1]), slice(x0 - wide[0], x1 - wide[0]))
            seen = frame[y0:y1, x0:x1].astype(np.float32)
            for sigma in SIGMAS:
                a, b = ((cv2.GaussianBlur(r, (0, 0), sigma) if sigma else r)[inside] for r in (right, wrong))
                hits[sigma] += int(((seen - a) ** 2).sum() <= ((seen - b) ** 2).sum())
    reads = len(decoded) * len(regions)
    pressed = int((truth[:, [gamepad.FLAT_NAMES.index(n) for n in regions]] >= gamepad.BUTTON_THRESHOLD).sum())
    print(f"{args.style} CRF {args.crf} x{args.scale:g} seed {args.seed}: {reads} reads, {pressed} of them pressed")
    for sigma, count in hits.items():
        print(f"oracle with both renders blurred by sigma {sigma}: {count / reads:.4f} of buttons and triggers")
    print(f"answering 'released' everywhere: {1 - pressed / reads:.4f}; image: {args.out / 'whole.png'}")


if __name__ == "__main__":
    main()
