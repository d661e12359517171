"""Composite an overlay onto a whole gameplay clip and write lossy H.264, plus the style's layout files."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nitrogen_datasets.overlay.layout import save_layout
from nitrogen_datasets.overlay.render import OverlayRenderer, Placement
from nitrogen_datasets.overlay.styles import OverlayStyle

logger = logging.getLogger(__name__)


@dataclass
class RenderResult:
    """What was written."""

    video: Path
    layout: Path
    frames: int
    placement: Placement


def render_overlay_video(
    frames: Iterable[np.ndarray],
    actions: np.ndarray,
    style: OverlayStyle,
    out: str | Path,
    fps: int = 30,
    crf: int = 28,
) -> RenderResult:
    """Draw ``actions[t]`` onto ``frames[t]`` and encode the clip.

    Args:
        frames: RGB uint8 frames (any iterable, streamed: the clip is never held in memory).
        actions: (N, 21) flat gamepad actions, one per frame.
        style: overlay look, size and place.
        out: output ``.mp4``; the layout goes to ``<out stem>.layout.json`` with its template PNG beside it.
        fps: frame rate of the output.
        crf: x264 quality (23-35 mimics streaming compression).

    Raises:
        ValueError: fewer actions than frames, or a malformed action (the message names the field).
    """
    from nitrogen_envs.video import VideoWriter

    out = Path(out)
    renderer = OverlayRenderer(style)
    actions = np.asarray(actions, dtype=np.float32)
    placement = None
    count = 0
    with VideoWriter(out, fps=fps, crf=crf) as writer:
        for index, frame in enumerate(frames):
            if index >= len(actions):
                raise ValueError(f"got more frames than actions ({len(actions)}); give one action per frame")
            placement = placement or renderer.placement(frame.shape[:2])
            writer.write(renderer.composite(frame, actions[index], placement))
            count += 1
    layout_path = out.with_name(f"{out.stem}.layout.json")
    layout = renderer.layout(template_file=f"{out.stem}.rest.png")
    save_layout(layout, renderer.template(), layout_path)
    logger.info("rendered %d frames with style %s into %s", count, style.name, out)
    return RenderResult(out, layout_path, count, placement or Placement(0, 0, style.scale))
