"""A minimal pygame window for ``render_mode="human"`` and ``nitrogen play`` (imported only when used)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from nitrogen_envs.import_utils import require_package


class FrameWindow:
    """Shows RGB frames at a steady rate; closing the window raises ``KeyboardInterrupt`` in the caller.

    Args:
        title: window caption.
        size: (height, width) of the frames; the window is scaled to at least 512 pixels high.
    """

    def __init__(self, title: str, size: tuple[int, int]) -> None:
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        self.pygame: Any = require_package("pygame")
        self.pygame.display.init()
        height, width = size
        scale = max(1, 512 // max(height, 1))
        self.window_size = (width * scale, height * scale)
        self.surface = self.pygame.display.set_mode(self.window_size)
        self.pygame.display.set_caption(title)
        self.clock = self.pygame.time.Clock()
        self.closed = False

    def show(self, frame: np.ndarray, fps: float | None = None) -> None:
        """Draw one (H, W, 3) uint8 frame and wait to keep ``fps``."""
        pygame = self.pygame
        for event in pygame.event.get(pygame.QUIT):
            if event.type == pygame.QUIT:
                self.close()
                raise KeyboardInterrupt("window closed")
        image = pygame.surfarray.make_surface(np.ascontiguousarray(frame.transpose(1, 0, 2)))
        image = pygame.transform.scale(image, self.window_size)
        self.surface.blit(image, (0, 0))
        pygame.display.flip()
        if fps:
            self.clock.tick(fps)

    def close(self) -> None:
        """Close the window (idempotent)."""
        if not self.closed:
            self.pygame.display.quit()
            self.closed = True
