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

__version__ = "0.1.0"

# Every public name resolves through this table until the imports at the end have run, so code that
# Gymnasium's plugin hook runs while this module is still importing Gymnasium finds the package whole.
# Wrappers and the base class pull in gymnasium.wrappers, so they stay lazy for good.
_LAZY = {
    "FlatGamepad": "nitrogen_envs.wrappers",
    "NativeActions": "nitrogen_envs.wrappers",
    "GamepadEnv": "nitrogen_envs.base",
    "gamepad": "nitrogen_envs.gamepad",
    "all_games": "nitrogen_envs.registry",
    "env_ids": "nitrogen_envs.registry",
    "get_game": "nitrogen_envs.registry",
    "register_all": "nitrogen_envs.registry",
}

if TYPE_CHECKING:
    from nitrogen_envs import gamepad
    from nitrogen_envs.base import GamepadEnv
    from nitrogen_envs.wrappers import FlatGamepad, NativeActions


def __getattr__(name: str) -> Any:
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

# Registration goes last, once every name above resolves. Gymnasium is imported before the registry
# on purpose: its 0.29 plugin hook imports nitrogen_envs.registry and registers from inside that import,
# which must not find the registry half-imported (the registry's errors import gymnasium.error). The
# hook then registers every id; the call below is for Gymnasium 1.x, which has no hook, and skips the
# ids already registered.
import gymnasium  # noqa: E402, F401

from nitrogen_envs.registry import all_games, env_ids, get_game, register_all  # noqa: E402

register_all()
