"""Frame-free copies of a game for lookahead: load the env's state, step native actions, restore.

The planner needs rewards, episode ends and the task's success, never frames, so each simulator steps
the engine below the gamepad layer and skips rendering:

* Procgen: a second ``ProcgenGym3Env`` built without ``render_mode`` (no 512x512 render per step),
  synced with ``get_state``/``set_state``. Measured ~20,000 steps/s for CoinRun against ~650 for
  the rendering env. A Procgen state carries its RNG, so a rollout is a pure function of the state.
* Atari: the env's own ``ALEInterface`` stepped with ``act`` (frame skip repeated here, no screen
  fetch), snapshotted with ``cloneState(include_rng=True)`` so sticky actions replay identically, and
  restored after planning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from nitrogen_datasets.experts.errors import ExpertUnsupported
from nitrogen_envs.base import GamepadEnv


@dataclass
class SimStep:
    """Outcome of one simulated env step.

    Args:
        reward: the env's reward for the step.
        done: the episode (or, for Atari, a life) ended; the rollout stops here.
        success: the task's success criterion holds after this step.
        failed: the step lost a life or ended the episode without success.
    """

    reward: float
    done: bool
    success: bool
    failed: bool


class Simulator(Protocol):
    """A lookahead copy of one NitroGen env."""

    def sync(self) -> None:
        """Snapshot the env's current state as the root of the next rollouts."""
        ...

    def restore(self) -> None:
        """Put the simulator back at the root snapshot."""
        ...

    def step(self, native: int) -> SimStep:
        """Apply one native action (the env's ``native_action_space`` index) for one env step."""
        ...

    def close(self) -> None:
        """Free engine resources (and leave the env exactly at the root state)."""
        ...


def frame_signature(rgb: np.ndarray) -> np.ndarray:
    """A 16x16 grey thumbnail (float32, 0-1) of a frame: cheap to compare, blind to small sprites' detail.

    Where nothing rewarding is in reach, the planner prefers rollouts whose last thumbnail is unlike every
    place it has been: with the agent-centred cameras of most Procgen games, that means going somewhere new.
    """
    grey = np.asarray(rgb, dtype=np.float32).mean(axis=-1)
    height, width = grey.shape
    return grey.reshape(16, height // 16, 16, width // 16).mean(axis=(1, 3)) / 255.0


class ProcgenSimulator:
    """A non-rendering Procgen engine kept in sync with a :class:`ProcgenEnv` through save states."""

    def __init__(self, env: GamepadEnv) -> None:
        self._env: Any = env
        self._sim = env._procgen.ProcgenGym3Env(  # type: ignore[attr-defined]
            num=1,
            env_name=env.spec_game.engine_game,
            distribution_mode=env.task_spec.name,
            rand_seed=0,
            **env._options,  # type: ignore[attr-defined]
        )
        self._root: list[bytes] | None = None

    def sync(self) -> None:
        """Copy the env engine's state (the level, entities and RNG)."""
        self._root = self._env._engine.get_state()

    def restore(self) -> None:
        """Reload the root state into the simulator engine."""
        self._sim.set_state(self._root)

    def signature(self) -> np.ndarray:
        """:func:`frame_signature` of the simulator's current 64x64 observation (no extra rendering)."""
        _, obs, _ = self._sim.observe()
        return frame_signature(obs["rgb"][0])

    def step(self, native: int) -> SimStep:
        """One Procgen step; at a level end, success is Procgen's ``prev_level_complete``."""
        self._sim.act(np.array([native], dtype=np.int32))
        reward, _, first = self._sim.observe()
        if not bool(first[0]):
            return SimStep(float(reward[0]), False, False, False)
        complete = bool(self._sim.get_info()[0].get("prev_level_complete", 0))
        return SimStep(float(reward[0]), True, complete, not complete)

    def close(self) -> None:
        """Free the simulator engine."""
        close = getattr(self._sim, "close", None)
        if close is not None:
            close()


class AleSimulator:
    """The Atari env's own emulator, stepped without screens and restored after planning."""

    def __init__(self, env: GamepadEnv) -> None:
        self._env: Any = env
        engine = env._engine  # type: ignore[attr-defined]
        self._ale = engine.ale
        self._frame_skip = int(engine._frameskip) if isinstance(engine._frameskip, int) else 4
        self._actions = [engine._action_set[full] for full in env._minimal_full_index]  # type: ignore[attr-defined]
        self._threshold = env.task_spec.threshold
        self._root: Any = None
        self._base_return = 0.0
        self._return = 0.0
        self._lives = 0

    def sync(self) -> None:
        """Clone the emulator state (RNG included) and the episode return so far."""
        self._root = self._ale.cloneState(include_rng=True)
        self._base_return = float(self._env._episode_return)
        self.restore()

    def restore(self) -> None:
        """Restore the emulator to the root clone."""
        self._ale.restoreState(self._root)
        self._return = self._base_return
        self._lives = int(self._ale.lives())

    def step(self, native: int) -> SimStep:
        """One env step (frame skip repeated); losing a life counts as a failure and ends the rollout."""
        action = self._actions[native]
        reward = 0.0
        for _ in range(self._frame_skip):
            reward += self._ale.act(action, 1.0)
        self._return += reward
        over = bool(self._ale.game_over(with_truncation=False))
        lives = int(self._ale.lives())
        lost = lives < self._lives
        self._lives = lives
        success = self._threshold is not None and self._return >= self._threshold
        return SimStep(reward, over or lost, success, (over or lost) and not success)

    def close(self) -> None:
        """Leave the env's emulator at the root state."""
        if self._root is not None:
            self._ale.restoreState(self._root)


def make_simulator(env: GamepadEnv) -> Simulator:
    """The lookahead simulator for ``env``'s engine.

    Raises:
        ExpertUnsupported: the engine has no save states (ViZDoom, Crafter).
    """
    engine = env.spec_game.engine
    if engine == "procgen":
        return ProcgenSimulator(env)
    if engine == "ale":
        return AleSimulator(env)
    raise ExpertUnsupported(
        f"the planner needs save states; {env.spec_game.name} ({engine}) has none. "
        "Use make_expert('scripted', ...) for ViZDoom and Crafter games."
    )
