"""Action wrappers: the flat 21-float gamepad vector and each game's native discrete actions."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from nitrogen_envs import gamepad
from nitrogen_envs.base import unwrap


class FlatGamepad(gym.ActionWrapper):
    """Accept the canonical flat (21,) float32 gamepad vector instead of the Dict action.

    Sticks in [-1, 1], triggers in [0, 1], buttons pressed at :data:`~nitrogen_envs.gamepad.BUTTON_THRESHOLD`, in
    :data:`nitrogen_envs.gamepad.FLAT_NAMES` order. This is what Stable-Baselines3, ``imitation`` and
    NitroGen policies produce.

    Example:
        >>> import gymnasium as gym, nitrogen_envs  # doctest: +SKIP
        >>> env = FlatGamepad(gym.make("NitroGen/CoinRun-v0"))  # doctest: +SKIP
        >>> env.action_space.shape  # doctest: +SKIP
        (21,)
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.action_space = gamepad.flat_space()

    def action(self, action: Any) -> gamepad.GamepadDict:
        """Flat vector -> Dict action (raises ``ValueError`` naming the bad field)."""
        return gamepad.from_flat(action)


class NativeActions(gym.ActionWrapper):
    """Expose the game's own discrete action set (for DQN-style baselines).

    Each native index is sent as its canonical gamepad action, so the game sees exactly what a
    gamepad user pressing those inputs would produce. The per-game tables are in ``nitrogen info GAME``.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.game = unwrap(env)
        self.action_space = self.game.native_action_space()

    def action(self, action: Any) -> gamepad.GamepadDict:
        """Native index -> canonical gamepad action."""
        if isinstance(action, np.ndarray):
            action = action.item()
        return self.game.native_to_gamepad(action)
