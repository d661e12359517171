"""The :class:`Expert` protocol and the uniform-random baseline every expert is compared with.

An expert is a demonstrator for dataset recording: it sees the NitroGen env at ``reset`` (so it may
use save states or privileged engine state) and returns one gamepad Dict action per ``act`` call.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from nitrogen_datasets.experts.errors import ExpertNotReset, ExpertUnsupported
from nitrogen_envs import gamepad
from nitrogen_envs.base import GamepadEnv

logger = logging.getLogger(__name__)


@runtime_checkable
class Expert(Protocol):
    """A demonstrator that plays a NitroGen env through the gamepad.

    ``reset`` is called right after ``env.reset(seed=seed)``; ``act`` then returns the action for the
    observation and ``info`` the env just produced. Actions are valid for :func:`nitrogen_envs.gamepad.validate`.
    """

    def reset(self, env: gym.Env, seed: int | None) -> None:
        """Prepare for a new episode of ``env`` (a NitroGen env, possibly wrapped)."""
        ...

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> gamepad.GamepadDict:
        """Gamepad Dict action for the current observation and info."""
        ...


def unwrap(env: gym.Env, *, engines: tuple[str, ...] | None = None) -> GamepadEnv:
    """The :class:`GamepadEnv` under Gymnasium wrappers, checked against the engines an expert supports.

    Raises:
        ExpertUnsupported: ``env`` is not a NitroGen env, or runs an engine outside ``engines``.
    """
    base = env.unwrapped
    if not isinstance(base, GamepadEnv):
        raise ExpertUnsupported(f"experts play NitroGen envs (gym.make('NitroGen/...')), got {type(base).__name__}")
    if engines is not None and base.spec_game.engine not in engines:
        raise ExpertUnsupported(
            f"this expert plays {', '.join(engines)} games; {base.spec_game.name} runs on {base.spec_game.engine}"
        )
    return base


def native_action_count(env: GamepadEnv) -> int:
    """Number of native actions of an embedded game (every engine adapter's native space is ``Discrete``).

    Raises:
        TypeError: an adapter whose native space is not ``Discrete`` (experts enumerate native actions).
    """
    space = env.native_action_space()
    if not isinstance(space, gym.spaces.Discrete):
        raise TypeError(f"{type(env).__name__} has a {type(space).__name__} native action space; experts need Discrete")
    return int(space.n)


def episode_rng(base_seed: int, seed: int | None) -> np.random.Generator:
    """Generator for one episode: a pure function of the expert's seed and the episode seed."""
    entropy = (
        [int(base_seed) & 0xFFFFFFFF] if seed is None else [int(base_seed) & 0xFFFFFFFF, int(seed) & 0xFFFFFFFF, 1]
    )
    return np.random.default_rng(entropy)


class RandomExpert:
    """Uniformly random native actions, sent as their canonical gamepad action (the baseline).

    This is the same agent that measured the random-play references of ``score_normalized``, so an
    expert is judged against exactly what the normalized score calls 0.

    Args:
        seed: base seed; with the episode seed it fixes the action sequence.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)
        self._env: GamepadEnv | None = None
        self._rng = np.random.default_rng(self.seed)

    def reset(self, env: gym.Env, seed: int | None) -> None:
        """Bind to ``env`` and reseed from ``(self.seed, seed)``."""
        self._env = unwrap(env)
        self._rng = episode_rng(self.seed, seed)

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> gamepad.GamepadDict:
        """A uniformly random native action as a gamepad action."""
        if self._env is None:
            raise ExpertNotReset("call expert.reset(env, seed) after env.reset() and before act()")
        return self._env.native_to_gamepad(int(self._rng.integers(native_action_count(self._env))))
