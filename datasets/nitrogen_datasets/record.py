"""Record demonstrations from any policy callable into a dataset.

A policy is anything with ``act(obs, info) -> action`` (an object with an ``act`` method, or a plain
callable); the action is a gamepad Dict or a flat (21,) vector. If the policy has ``reset(env, seed)``, it
is called after every ``env.reset`` so experts can take save states or reseed. Recording takes no
dependency on :mod:`nitrogen_policies`.

Episode ``k`` is reset with seed ``seed + k``, so the same seed and a deterministic policy give the same
dataset, and a resumed recording can continue with ``seed + writer.num_episodes``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from nitrogen_datasets.format import EpisodeInfo
from nitrogen_datasets.writer import DatasetWriter
from nitrogen_envs import gamepad
from nitrogen_envs.progress import progress_bar

logger = logging.getLogger(__name__)


@runtime_checkable
class Policy(Protocol):
    """What :func:`record_episodes` plays with (``reset`` is optional)."""

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> Any:
        """Gamepad Dict or flat (21,) action for the current observation."""
        ...


PolicyLike = Policy | Callable[[np.ndarray, dict[str, Any]], Any]


@dataclass(frozen=True)
class RecordStats:
    """What a recording produced.

    Args:
        episodes: the episodes written, in order.
        steps: env steps taken (equals frames written).
        returns: episode returns, in order.
    """

    episodes: tuple[EpisodeInfo, ...]
    steps: int
    returns: tuple[float, ...]


def _act_fn(policy: PolicyLike) -> Callable[[np.ndarray, dict[str, Any]], Any]:
    act = getattr(policy, "act", None)
    if callable(act):
        return act
    if callable(policy):
        return policy
    raise TypeError(f"policy must be callable as act(obs, info) or have an act method, got {type(policy).__name__}")


def record_episodes(
    env: gym.Env,
    policy: PolicyLike,
    episodes: int,
    writer: DatasetWriter,
    *,
    seed: int | None = 0,
    source: str = "",
    max_steps: int | None = None,
    progress: bool | None = None,
) -> RecordStats:
    """Play ``episodes`` episodes of ``env`` with ``policy`` and append each to ``writer``.

    Args:
        env: a NitroGen env (``gym.make("NitroGen/...")``, embedded or live), with Dict actions or wrapped in
            ``FlatGamepad``; ``info`` must carry ``game`` and ``task``.
        policy: ``act(obs, info)`` callable or object, optionally with ``reset(env, seed)``.
        episodes: number of episodes to record.
        writer: where episodes go (each is committed when it ends).
        seed: episode ``k`` is reset with ``seed + k``; ``None`` resets unseeded and stores no seed
            (live games, which cannot be seeded).
        source: stored in every row (e.g. ``"random"``, ``"expert:planner"``).
        max_steps: end an episode after this many steps (recorded as truncated); ``None`` keeps the env's limit.
        progress: show a progress bar of episodes (a line every few seconds when stderr is not a terminal);
            ``None`` shows it only when stderr is a TTY.

    Returns:
        The episodes written, total steps and returns.

    Raises:
        ValueError: the policy returned a malformed action (the message names the field).
    """
    if episodes < 0:
        raise ValueError(f"episodes must be >= 0, got {episodes}")
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    name = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
    flat_actions = isinstance(env.action_space, gym.spaces.Box) and env.action_space.shape == (gamepad.FLAT_SIZE,)
    act = _act_fn(policy)
    reset = getattr(policy, "reset", None)
    bar = progress_bar(episodes, f"recording {name}", unit="episode", enabled=_show(progress))
    written: list[EpisodeInfo] = []
    returns: list[float] = []
    steps = 0
    try:
        for k in range(episodes):
            entry, episode_return, n = _record_one(
                env, act, reset, writer, None if seed is None else seed + k, source, max_steps, flat_actions
            )
            written.append(entry)
            returns.append(episode_return)
            steps += n
            bar.update(1)
            bar.set_postfix(steps=steps, ret=f"{episode_return:.2f}")
    finally:
        bar.close()
    logger.info("recorded %d episodes (%d steps) of %s into %s", episodes, steps, name, writer.root)
    return RecordStats(tuple(written), steps, tuple(returns))


def _show(progress: bool | None) -> bool:
    return sys.stderr.isatty() if progress is None else progress


def _record_one(
    env: gym.Env,
    act: Callable[[np.ndarray, dict[str, Any]], Any],
    reset: Any,
    writer: DatasetWriter,
    episode_seed: int | None,
    source: str,
    max_steps: int | None,
    flat_actions: bool,
) -> tuple[EpisodeInfo, float, int]:
    obs, info = env.reset(seed=episode_seed)
    if callable(reset):
        reset(env, episode_seed)
    episode = writer.start_episode(game=str(info["game"]), task=str(info["task"]), source=source, seed=episode_seed)
    episode_return = 0.0
    try:
        while True:
            flat = gamepad.as_flat_action(act(obs, info))
            next_obs, reward, terminated, truncated, info = env.step(flat if flat_actions else gamepad.from_flat(flat))
            limit = max_steps is not None and len(episode) + 1 >= max_steps
            episode.add(obs, flat, float(reward), bool(terminated), bool(truncated) or (limit and not terminated))
            episode_return += float(reward)
            obs = next_obs
            if terminated or truncated or limit:
                break
    except BaseException:
        writer.abort_episode(episode)
        raise
    steps = len(episode)
    return writer.finish_episode(episode), episode_return, steps
