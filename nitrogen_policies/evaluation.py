"""Evaluation as a plain function: play episodes with any ``predict``-style agent, return per-episode results.

Training scripts, baselines, the leaderboard and users share it, so every number is produced the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from nitrogen_envs import FlatGamepad
from nitrogen_envs.base import unwrap
from nitrogen_envs.progress import progress_bar

logger = logging.getLogger(__name__)


class Agent(Protocol):
    """Anything with Stable-Baselines3's ``predict`` returning flat (21,) gamepad actions."""

    def predict(
        self, observation: np.ndarray, state: Any = None, episode_start: Any = None, deterministic: bool = False
    ) -> tuple[np.ndarray, Any]:
        """Next action for one observation."""
        ...


@dataclass
class EpisodeResult:
    """One evaluated episode."""

    seed: int
    episode_return: float
    success: bool
    steps: int
    score_normalized: float | None


class RandomAgent:
    """Uniformly random native actions of the game, sent as their gamepad actions (the 0 of normalized scores)."""

    def __init__(self, env: gym.Env, seed: int = 0) -> None:
        base = unwrap(env)
        self.base = base
        self.space = base.native_action_space()
        self.space.seed(seed)

    def predict(
        self, observation: np.ndarray, state: Any = None, episode_start: Any = None, deterministic: bool = False
    ) -> tuple[np.ndarray, None]:
        """A random native action as a flat gamepad vector."""
        from nitrogen_envs import gamepad

        return gamepad.to_flat(self.base.native_to_gamepad(self.space.sample())), None


def evaluate(
    agent: Agent | str,
    env_id: str,
    seeds: Sequence[int],
    task: str | None = None,
    obs_size: int = 256,
    max_steps: int | None = None,
    deterministic: bool = True,
    progress: bool = False,
) -> list[EpisodeResult]:
    """Play one episode per seed and return its result.

    Args:
        agent: a ``predict``-style agent, or ``"random"``.
        env_id: ``NitroGen/<Game>-v0``.
        seeds: one episode per seed (the leaderboard fixes these).
        task: task name (default: the game's).
        obs_size: observation size handed to the agent.
        max_steps: optional cap per episode (the env's own cap applies anyway).
        deterministic: passed to ``predict``.
        progress: a bar of episodes with ETA on stderr, and the running episode's step count (a line every
            few seconds when stderr is not a terminal; see :func:`nitrogen_envs.progress.progress_bar`).
    """
    env = FlatGamepad(gym.make(env_id, task=task, obs_size=obs_size))
    if isinstance(agent, str):
        if agent != "random":
            raise ValueError(f"unknown built-in agent {agent!r}; use 'random' or pass an object with predict()")
        agent = RandomAgent(env, seed=int(seeds[0]) if len(seeds) else 0)
    results = []
    bar = progress_bar(len(seeds), f"eval {env_id.rpartition('/')[2]}", unit="episode", enabled=progress)
    try:
        for seed in seeds:
            obs, info = env.reset(seed=int(seed))
            reset = getattr(agent, "reset", None)
            if callable(reset):
                reset()
            done, steps, total = False, 0, 0.0
            while not done:
                action, _ = agent.predict(obs, episode_start=np.array([steps == 0]), deterministic=deterministic)
                obs, reward, terminated, truncated, info = env.step(action)
                total += float(reward)
                steps += 1
                done = terminated or truncated or (max_steps is not None and steps >= max_steps)
                _show_step(bar, steps)
            bar.update(1)
            results.append(EpisodeResult(int(seed), total, bool(info["success"]), steps, info.get("score_normalized")))
            logger.info("%s seed %d: return %.2f success %s", env_id, seed, total, info["success"])
    finally:
        bar.close()
        env.close()
    return results


def _show_step(bar: Any, steps: int) -> None:
    """Put the running episode's step count on ``bar``, redrawn at most every ``bar.mininterval`` seconds.

    An episode can take minutes, so the bar must move between episodes too (in a log: a line every few seconds).
    """
    if bar.disable:
        return
    bar.set_postfix_str(f"step {steps}", refresh=False)
    now = time.monotonic()
    if now - getattr(bar, "_step_shown_at", 0.0) >= bar.mininterval:
        bar._step_shown_at = now
        bar.refresh()
