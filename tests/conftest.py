"""Session-wide test setup: headless SDL, and a guard against tests that leave process-wide state changed.

Helpers and factories live in ``tests/fixtures`` (``from fixtures.games import installed_games``); test modules
never import from this file or from one another.
"""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
