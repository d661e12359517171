"""Shared fixtures: which engines are installed, headless SDL, env factories."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest

import nitrogen_envs  # noqa: F401  (registers the ids)
from nitrogen_envs.import_utils import is_available
from nitrogen_envs.registry import GameSpec, all_games

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
ENGINE_MODULES = {"procgen": "procgen", "ale": "ale_py", "vizdoom": "vizdoom", "crafter": "crafter"}


def engine_installed(game: GameSpec) -> bool:
    return is_available(ENGINE_MODULES[game.engine]) and is_available("cv2")


def installed_games() -> list[GameSpec]:
    """Games whose engine is installed (CI installs them all; see the README test command)."""
    return [game for game in all_games() if engine_installed(game)]


def game_params(games: list[GameSpec] | None = None) -> list:
    return [pytest.param(game, id=game.name) for game in (games if games is not None else installed_games())]


def one_game_per_engine() -> list[GameSpec]:
    seen: dict[str, GameSpec] = {}
    for game in installed_games():
        seen.setdefault(game.engine, game)
    return list(seen.values())


def make(game: GameSpec, **kwargs) -> gym.Env:
    kwargs.setdefault("obs_size", 64)
    return gym.make(game.env_id, **kwargs)


def run_python(code: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter (for import rules and plugin behaviour)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd or REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
