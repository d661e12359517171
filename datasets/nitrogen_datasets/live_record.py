"""Record a person playing a live game into the demonstrations format.

The live env runs with ``dry_run=True``: it captures the game window at the control rate and sends
nothing, while the person plays with their own keyboard or controller. Each step pairs the captured
frame with what the person was holding at that moment, read by
:class:`~nitrogen_envs.live.human.LiveHumanInput`, so the recording is exactly the (frame, action)
stream a policy will later produce through the same env.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from nitrogen_datasets.format import EpisodeInfo
from nitrogen_datasets.record import RecordStats, record_episodes
from nitrogen_datasets.writer import DatasetWriter
from nitrogen_envs import gamepad
from nitrogen_envs.live.human import LiveHumanInput

logger = logging.getLogger(__name__)


class _EndOnRequest(gym.Wrapper):
    """Truncates the episode when the person presses the end or stop key."""

    def __init__(self, env: gym.Env, human: LiveHumanInput) -> None:
        super().__init__(env)
        self.human = human

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        requested = self.human.end_requested or self.human.stop_requested
        return obs, reward, terminated, truncated or requested, info


class _PersonPolicy:
    """``act`` returns what the person holds; the env itself waits for the next control tick."""

    def __init__(self, human: LiveHumanInput) -> None:
        self.human = human

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> gamepad.GamepadDict:
        return self.human.poll()


def record_live(
    env: gym.Env,
    human: LiveHumanInput,
    writer: DatasetWriter,
    *,
    episodes: int | None = None,
    max_steps: int | None = None,
    on_episode: Callable[[EpisodeInfo], None] | None = None,
) -> RecordStats:
    """Record episodes of a person playing until ``episodes`` are saved or the stop key is pressed.

    Args:
        env: a live env made with ``dry_run=True`` (the person, not the env, sends input).
        human: the person's input reader.
        writer: the dataset to append to; each episode is committed when it ends.
        episodes: how many episodes to record; ``None`` records until the stop key.
        max_steps: end an episode after this many steps.
        on_episode: called after each saved episode (the CLI prints a line).

    Returns:
        What was saved. On Ctrl-C the episode in progress is dropped; saved ones stay.

    Raises:
        ValueError: the env sends input (not a dry run), which would fight the person.
    """
    base = env.unwrapped
    if not getattr(getattr(base, "config", None), "dry_run", False):
        raise ValueError("record_live needs a live env made with dry_run=True, so that only the person sends input")
    wrapped = _EndOnRequest(env, human)
    policy = _PersonPolicy(human)
    written: list[EpisodeInfo] = []
    returns: list[float] = []
    steps = 0
    k = 0
    while episodes is None or k < episodes:
        human.new_episode()
        stats = record_episodes(
            wrapped, policy, 1, writer, seed=None, source="human", max_steps=max_steps, progress=False
        )
        written.extend(stats.episodes)
        returns.extend(stats.returns)
        steps += stats.steps
        if on_episode is not None:
            on_episode(stats.episodes[0])
        k += 1
        if human.stop_requested:
            break
    return RecordStats(tuple(written), steps, tuple(returns))
