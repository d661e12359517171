"""NitroGen Gym environments: every game speaks one gamepad action space.

Importing this package registers all ``NitroGen/<Game>-v0`` ids with Gymnasium (Gymnasium 0.29 also
does so by itself on ``import gymnasium`` through our entry-point plugin). No game engine is imported
until ``gym.make`` builds one.

Example:
    >>> import gymnasium as gym
    >>> import nitrogen_envs
    >>> "NitroGen/CoinRun-v0" in gym.registry
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Import Gymnasium first: its plugin loader imports our registry, which must not find this package
# half-initialized behind a Gymnasium import that started from inside it.
import gymnasium  # noqa: F401

from nitrogen_envs.registry import all_games, env_ids, get_game, register_all

__version__ = "0.1.0"

register_all()

_LAZY = {
    "FlatGamepad": "nitrogen_envs.wrappers",
    "NativeActions": "nitrogen_envs.wrappers",
    "GamepadEnv": "nitrogen_envs.base",
    "gamepad": "nitrogen_envs.gamepad",
}

if TYPE_CHECKING:
    from nitrogen_envs import gamepad
    from nitrogen_envs.base import GamepadEnv
    from nitrogen_envs.wrappers import FlatGamepad, NativeActions


def __getattr__(name: str) -> Any:
    # Wrappers and the base class pull in gymnasium.wrappers; keep them out of the plugin import path.
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name])
        return module if module.__name__.endswith(name) else getattr(module, name)
    raise AttributeError(f"module 'nitrogen_envs' has no attribute {name!r}")


__all__ = [
    "FlatGamepad",
    "GamepadEnv",
    "NativeActions",
    "__version__",
    "all_games",
    "env_ids",
    "gamepad",
    "get_game",
    "register_all",
]
