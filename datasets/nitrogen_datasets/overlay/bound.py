"""How much of a rendered clip's button and trigger state survives compression: an oracle reader.

Why: a press that the H.264 encoder smoothed away cannot be read back by any parser, so an extractor's
accuracy alone does not say whether the parser or the video is to blame. The oracle is handed everything
an extractor has to work out for itself (the game frame behind the overlay, the style, where it is
placed, and the true state of every other element) and decides one element at a time: it renders the
frame with that element pressed and released, and picks the render closer (sum of squared RGB
differences) to the decoded frame around the element. That is the maximum-likelihood choice under
Gaussian coding noise, so its accuracy is what a reader with perfect knowledge of everything else gets;
``nitrogen overlay eval --bound`` prints it beside the extractor's.

It is not a strict ceiling frame by frame (coding noise is not Gaussian, and a parser may be luckier on
a tie), but a cell of the evaluation grid where it falls below a target is a cell where the target asks
for information the video does not hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from nitrogen_datasets.overlay.decode import decode_frames
from nitrogen_datasets.overlay.render import OverlayRenderer, Placement, clip_rect
from nitrogen_envs import gamepad

BOUND_MARGIN = 0.3
"""The compared region reaches this fraction of the element's larger side past its box (as the parser's
crops do), which also covers a press drawn larger than the box (the ``grow`` effect)."""


def decoded_frames(video: str | Path) -> Iterator[np.ndarray]:
    """The frames of a video as RGB arrays, streamed by the extractor's own decoder loop."""
    for frame, _, _ in decode_frames(Path(video)):
        yield frame.to_ndarray(format="rgb24")


def element_regions(renderer: OverlayRenderer, placement: Placement) -> dict[str, tuple[int, int, int, int]]:
    """Frame rectangles (x0, y0, x1, y1) around every button and trigger the style draws."""
    regions = {}
    scale = placement.scale
    for name, box in renderer.layout().elements.items():
        if name not in gamepad.BUTTON_NAMES and name not in gamepad.TRIGGERS:
            continue
        margin = BOUND_MARGIN * max(box.w, box.h)
        regions[name] = (
            int(np.floor(placement.x + (box.x - margin) * scale)),
            int(np.floor(placement.y + (box.y - margin) * scale)),
            int(np.ceil(placement.x + (box.x + box.w + margin) * scale)),
            int(np.ceil(placement.y + (box.y + box.h + margin) * scale)),
        )
    return regions


def oracle_hits(
    renderer: OverlayRenderer,
    placement: Placement,
    scenes: Iterable[np.ndarray],
    decoded: Iterable[np.ndarray],
    actions: np.ndarray,
) -> dict[str, int]:
    """Frames on which the oracle reads each button and trigger's pressed state right.

    Args:
        renderer: the style the clip was rendered with.
        placement: where the overlay was composited.
        scenes: the game frames under the overlay, in order.
        decoded: the clip's decoded frames, in order (compared up to the shorter of the three inputs).
        actions: (N, 21) flat actions the clip was drawn from; a trigger counts as pressed at >= 0.5.

    Returns:
        ``{element: frames read right}``; divide by the frames compared (the shortest input's length).
    """
    regions = element_regions(renderer, placement)
    columns = {name: gamepad.FLAT_NAMES.index(name) for name in regions}
    hits = dict.fromkeys(regions, 0)
    for scene, frame, action in zip(scenes, decoded, actions, strict=False):
        drawn = renderer.draw(action, scale=placement.scale)
        for name, rect in regions.items():
            column = columns[name]
            flipped = action.copy()
            flipped[column] = 0.0 if action[column] >= gamepad.BUTTON_THRESHOLD else 1.0
            other = renderer.draw(flipped, scale=placement.scale)
            x0, y0, x1, y1 = clip_rect(rect, (scene.shape[0], scene.shape[1]))
            if x1 <= x0 or y1 <= y0:
                continue
            seen = frame[y0:y1, x0:x1].astype(np.float32)
            truth = renderer.blend(scene, drawn, placement, rect).astype(np.float32)
            wrong = renderer.blend(scene, other, placement, rect).astype(np.float32)
            hits[name] += int(((seen - truth) ** 2).sum() <= ((seen - wrong) ** 2).sum())
    return hits
