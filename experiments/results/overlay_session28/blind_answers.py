"""What answering "nothing pressed" scores on the buttons of held-out clips that were not found (docs/overlay.md).

The clips are the benchmark's (``overlay_sprite_baseline.py``: 48 frames of real play, clip seed = grid seed *
100003 + cell index); their actions depend on the style and the clip seed alone, so the blind answer is read from
the actions without rendering. The oracle's figures beside it come from the benchmark runs that lost the clips.

Usage::

    python experiments/results/overlay_session28/blind_answers.py [STYLE:SEED ...]
"""

from __future__ import annotations

import sys

from nitrogen_datasets.overlay.evaluate import OverlayEvalConfig, clip_truth
from nitrogen_datasets.overlay.play_stats import load_play_statistics
from nitrogen_datasets.overlay.render import OverlayRenderer
from nitrogen_datasets.overlay.sprite_styles import sprite_style
from nitrogen_envs import gamepad

LOST = (
    "sprite-xbox-6:100030",
    "sprite-xbox-6:500042",
    "sprite-xbox-6:700049",
    "sprite-xbox-6:800051",
    "sprite-xbox-6:300036",
    "sprite-gamecube-2:300021",
)
"""The clips today's code loses on seeds 1-8 (the first four), and two lost only before session 26."""


def main() -> None:
    """One line per clip: the blind answer's button accuracy and how many button-frames were pressed."""
    config = OverlayEvalConfig()
    stats = load_play_statistics(None)
    for item in sys.argv[1:] or LOST:
        name, seed = item.rsplit(":", 1)
        style = sprite_style(name)
        truth, _ = clip_truth(style, "play", int(seed), config.frames, config.fps, stats)
        drawn = set(OverlayRenderer(style).shapes)
        columns = [gamepad.FLAT_NAMES.index(button) for button in gamepad.BUTTON_NAMES if button in drawn]
        pressed = truth[:, columns] >= gamepad.BUTTON_THRESHOLD
        print(
            f"{name} seed {seed}: nothing pressed reads {1 - pressed.mean():.4f}, {pressed.sum()} of {pressed.size} pressed"
        )


if __name__ == "__main__":
    main()
