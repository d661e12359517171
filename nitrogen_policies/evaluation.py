"""Evaluation as a plain function: play episodes with any ``predict``-style agent, return per-episode results.

Training scripts, baselines, the leaderboard and users share it, so every number is produced the same way.
"""

from __future__ import annotations

import difflib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from nitrogen_envs import FlatGamepad
from nitrogen_envs.base import unwrap
from nitrogen_envs.progress import progress_bar

logger = logging.getLogger(__name__)

RANDOM_OBS_SIZE = 64
"""Frame size for random play: it ignores frames, so the smallest cheap size."""
POLICY_OBS_SIZE = 256
"""Frame size handed to NitroGen and BC policies (they resize to their own input size)."""
PPO_CONFIG = "ppo_config.json"
BC_CONFIG = "bc_config.json"


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
    env = make_eval_env(env_id, task=task, obs_size=obs_size)
    if isinstance(agent, str):
        if agent != "random":
            raise ValueError(f"unknown built-in agent {agent!r}; use 'random' or pass an object with predict()")
        agent = RandomAgent(env, seed=int(seeds[0]) if len(seeds) else 0)
    results = []
    bar = progress_bar(len(seeds), f"eval {env_id.rpartition('/')[2]}", unit="episode", enabled=progress)
    try:
        for seed in seeds:
            results.append(
                play_episode(agent, env, int(seed), max_steps=max_steps, deterministic=deterministic, bar=bar)
            )
            bar.update(1)
    finally:
        bar.close()
        env.close()
    return results


def make_eval_env(env_id: str, task: str | None = None, obs_size: int = 256) -> gym.Env:
    """The env every evaluation plays: ``env_id``'s task with flat (21,) gamepad actions and square frames."""
    return FlatGamepad(gym.make(env_id, task=task, obs_size=obs_size))


def play_episode(
    agent: Agent,
    env: gym.Env,
    seed: int,
    max_steps: int | None = None,
    deterministic: bool = True,
    bar: Any = None,
) -> EpisodeResult:
    """Play one episode from ``env.reset(seed=seed)`` to its end or ``max_steps``; ``bar`` shows the step count."""
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
        if bar is not None:
            _show_step(bar, steps)
    logger.info("%s seed %d: return %.2f success %s", env.spec.id if env.spec else env, seed, total, info["success"])
    return EpisodeResult(int(seed), total, bool(info["success"]), steps, info.get("score_normalized"))


def agent_obs_size(spec: str) -> int:
    """The frame size the agent named by ``spec`` plays at (read from its config, without loading weights)."""
    if spec == "random":
        return RANDOM_OBS_SIZE
    if (Path(spec) / PPO_CONFIG).is_file():
        return int(json.loads((Path(spec) / PPO_CONFIG).read_text())["obs_size"])
    return POLICY_OBS_SIZE


def resolve_agent(spec: str) -> tuple[Agent | str, int]:
    """An agent and its observation size from ``random``, a PPO or BC folder, or a NitroGen checkpoint/name/Hub id.

    ``random`` comes back as the string ``"random"`` (:func:`evaluate` builds it on the env). Weights are read
    from safetensors and JSON only: nothing is unpickled.

    Raises:
        DependencyNotInstalled: the agent needs an extra that is not installed (``rl`` for PPO/BC, ``policy``).
        CheckpointError: no such agent; the message suggests the closest bundled name, or ``random``.
    """
    from nitrogen_policies.import_utils import require_package

    if spec == "random":
        return "random", RANDOM_OBS_SIZE
    folder = Path(spec)
    if (folder / PPO_CONFIG).is_file():
        require_package("stable_baselines3")
        from nitrogen_policies.baselines.ppo import load_ppo

        return load_ppo(folder), agent_obs_size(spec)
    if (folder / BC_CONFIG).is_file():
        require_package("imitation")
        from nitrogen_policies.baselines.bc import load_bc

        return load_bc(folder), POLICY_OBS_SIZE
    from nitrogen_policies import NitroGenPolicy  # one line naming the `policy` extra when torch is missing
    from nitrogen_policies.errors import CheckpointError

    try:
        return NitroGenPolicy.from_pretrained(spec), POLICY_OBS_SIZE
    except CheckpointError as err:
        hint = (
            "did you mean 'random'?"
            if difflib.get_close_matches(spec.lower(), ["random"], cutoff=0.6)
            else ("--agent also takes 'random' (uniformly random play)")
        )
        raise CheckpointError(f"{err}; {hint}") from err


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
