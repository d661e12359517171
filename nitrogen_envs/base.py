"""The base class every embedded game shares: gamepad actions in, RGB frames out, one ``info`` layout.

An engine adapter subclasses :class:`GamepadEnv` and implements a few small hooks (reset, step, close,
save states, native action translation). Everything a user relies on across games — action validation,
the observation size, ``info`` keys, success and normalized score, rendering, save-state framing — lives
here once. The episode counters and the common ``info`` keys (:class:`EpisodeCounters`) are shared with the
live games' ``LiveEnv`` too, so an agent reads the same ``info`` from every NitroGen env.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, SupportsFloat

import gymnasium as gym
import numpy as np

from nitrogen_envs import gamepad
from nitrogen_envs.errors import EnvClosed, InvalidSaveState, SaveStateUnsupported
from nitrogen_envs.image import resize_frame
from nitrogen_envs.mapping import MAX_CACHED_ACTIONS
from nitrogen_envs.registry import GameSpec, TaskSpec, get_game
from nitrogen_envs.savestate import pack_state, unpack_state
from nitrogen_envs.scores import reference_range
from nitrogen_envs.types import Obs

logger = logging.getLogger(__name__)

_UNSET = object()


@dataclass
class EngineStep:
    """What an engine adapter returns for one step.

    Args:
        frame: RGB uint8 frame at the engine's render size; ``None`` repeats the previous observation
            (used when an engine has no final frame for a finished episode).
        reward: reward of this step.
        terminated: the episode ended inside the game (death, goal, game over).
        truncated: the game's own time limit ended the episode.
        success: the task's success criterion holds (checked by the adapter, which knows the game).
        extra: engine facts worth exposing in ``info`` (lives, kills, achievements, ...).
    """

    frame: np.ndarray | None
    reward: float
    terminated: bool
    truncated: bool = False
    success: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class EpisodeCounters:
    """Episode counters and the ``info`` layout shared by every NitroGen env, embedded or live.

    ``info`` starts with ``game``, ``task``, ``success`` (the task's criterion, latched once reached),
    ``episode_return`` and ``episode_steps``; then the env's own fields (:meth:`_info_fields`); then
    what the step adds (``extra``). A subclass says which game and task it plays
    (:meth:`_game_and_task`), calls :meth:`_start_episode` on reset and :meth:`_count_step` once per step.
    """

    _episode_return: float = 0.0
    _episode_steps: int = 0
    _success: bool = False

    def _game_and_task(self) -> tuple[str, str]:
        """The ``game`` and ``task`` names that ``info`` reports."""
        raise NotImplementedError

    def _info_fields(self) -> dict[str, Any]:
        """Fields of this kind of env, placed after the episode counters (none by default)."""
        return {}

    def _start_episode(self) -> None:
        """Zero the counters (on reset)."""
        self._episode_return, self._episode_steps, self._success = 0.0, 0, False

    def _count_step(self, reward: float, success: bool = False) -> None:
        """Add one step's reward; ``success`` stays true once reached."""
        self._episode_return += float(reward)
        self._episode_steps += 1
        self._success = self._success or bool(success)

    def _episode_fields(self) -> dict[str, Any]:
        """``success``, ``episode_return`` and ``episode_steps`` as they stand now."""
        return {
            "success": self._success,
            "episode_return": self._episode_return,
            "episode_steps": self._episode_steps,
        }

    def _info(self, extra: dict[str, Any]) -> dict[str, Any]:
        game, task = self._game_and_task()
        info: dict[str, Any] = {"game": game, "task": task, **self._episode_fields(), **self._info_fields()}
        info.update(extra)
        return info


def parse_obs_size(obs_size: int | tuple[int, int] | None, native: tuple[int, int]) -> tuple[int, int]:
    """Normalize ``obs_size`` to (height, width); ``None`` or ``"native"`` keeps the engine's size.

    Raises:
        ValueError: a non-positive or malformed size.
    """
    if obs_size is None or obs_size == "native":
        return native
    if isinstance(obs_size, int | np.integer):
        size = (int(obs_size), int(obs_size))
    else:
        try:
            size = (int(obs_size[0]), int(obs_size[1]))
            if len(obs_size) != 2:
                raise ValueError
        except (TypeError, ValueError, IndexError) as err:
            raise ValueError(f"obs_size must be an int or (height, width), got {obs_size!r}") from err
    if min(size) < 8 or max(size) > 4096:
        raise ValueError(f"obs_size must be between 8 and 4096 pixels per side, got {obs_size!r}")
    return size


class GamepadEnv(EpisodeCounters, gym.Env[Obs, dict]):
    """A game played with the unified gamepad; observations are RGB uint8 (H, W, 3) frames.

    Args:
        game: registry name of the game (set by the registered entry point).
        task: task name; ``None`` selects the game's default task.
        obs_size: observation (height, width) or one int for square frames; default 256 (the model's
            input). ``"native"`` keeps the engine's own render size.
        render_mode: ``"rgb_array"`` returns the current frame from ``render()``; ``"human"`` shows it in
            a window (needs ``pygame-ce``, installed with the ``play`` extra, and a display).

    ``info`` always holds ``game``, ``task``, ``success`` (the task's criterion, latched once reached),
    ``episode_return`` and ``episode_steps``; ``score_normalized`` (0 = random play, 1 = the expert
    reference) is added wherever the task has a reference.
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array", "human"], "render_fps": 15}  # noqa: RUF012
    native_size: ClassVar[tuple[int, int]] = (256, 256)
    fresh_frames: ClassVar[bool] = False
    """True when the engine returns a newly allocated frame every step (no defensive copy needed)."""

    def __init__(
        self,
        game: str,
        task: str | None = None,
        obs_size: int | tuple[int, int] | str | None = 256,
        render_mode: str | None = None,
    ) -> None:
        self.spec_game: GameSpec = get_game(game)
        self.task_spec: TaskSpec = self.spec_game.task(task)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": self.spec_game.native_fps}
        self.obs_size = parse_obs_size(obs_size, self.native_size)  # type: ignore[arg-type]
        self.observation_space = gym.spaces.Box(0, 255, shape=(*self.obs_size, 3), dtype=np.uint8)
        self.action_space = gamepad.dict_space()
        self._frame: np.ndarray | None = None
        self._clean_actions: dict[tuple, gamepad.GamepadDict] = {}
        self._start_episode()
        self._reference: Any = _UNSET
        self._window: Any = None
        self._closed = False

    # ---- hooks for engine adapters ------------------------------------------------------------------
    def _engine_reset(self, engine_seed: int, reseeded: bool) -> np.ndarray:
        """Start a new episode and return its first frame.

        Args:
            engine_seed: drawn from ``np_random``; the episode must be fully determined by it and the
                engine's state so far.
            reseeded: ``reset`` got an explicit seed, so the engine must be re-seeded from ``engine_seed``
                (otherwise an adapter may continue its own deterministic sequence of levels).
        """
        raise NotImplementedError

    def _engine_step(self, action: gamepad.GamepadDict) -> EngineStep:
        """Advance the game by one env step with a validated gamepad action."""
        raise NotImplementedError

    def _engine_save(self) -> bytes:
        raise SaveStateUnsupported(
            f"{self.spec_game.name} ({self.spec_game.engine}) cannot save states; games with save states: "
            "the Procgen and Atari ones (see `nitrogen list`)"
        )

    def _engine_load(self, blob: bytes) -> None:
        self._engine_save()  # raises SaveStateUnsupported

    def _engine_close(self) -> None:
        """Free the engine; called once, by :meth:`close`."""

    def native_action_space(self) -> gym.Space:
        """The game's own action space (used by the :class:`NativeActions` wrapper)."""
        raise NotImplementedError

    def native_to_gamepad(self, native: Any) -> gamepad.GamepadDict:
        """Canonical gamepad action that produces native action ``native``."""
        raise NotImplementedError

    def gamepad_to_native(self, action: dict[str, Any]) -> Any:
        """The native action a gamepad action maps to (after validation)."""
        raise NotImplementedError

    def mapping_rows(self) -> list[tuple[str, str, str]]:
        """(native index, native name, gamepad input) rows documenting this game's mapping."""
        raise NotImplementedError

    # ---- Gymnasium API ------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Obs, dict]:
        """Start a new episode. The same ``seed`` gives the same level and, with the same actions, the same frames.

        Raises:
            EnvClosed: the env was closed.
        """
        self._check_open("reset")
        super().reset(seed=seed)
        engine_seed = int(self.np_random.integers(0, 2**31 - 1))
        frame = self._engine_reset(engine_seed, reseeded=seed is not None or self._frame is None)
        self._start_episode()
        self._frame = self._to_obs(frame)
        if self.render_mode == "human":
            self.render()
        return self._frame, self._info({})

    def step(self, action: dict[str, Any]) -> tuple[Obs, SupportsFloat, bool, bool, dict]:
        """Apply a Dict-space gamepad action (see :mod:`nitrogen_envs.gamepad`).

        Raises:
            ValueError: the action has a wrong shape, NaN or an out-of-range field (named in the message).
            gymnasium.error.ResetNeeded: ``step`` before the first ``reset``.
            EnvClosed: ``step`` after ``close`` (engines would fail in their own ways, or keep playing).
        """
        self._check_open("step")
        if self._frame is None:
            raise gym.error.ResetNeeded("call env.reset() before env.step()")
        clean = self._validate(action)
        result = self._engine_step(clean)
        self._count_step(float(result.reward), bool(result.success))
        if result.frame is not None:
            self._frame = self._to_obs(result.frame)
        else:
            # No new frame (an engine with no final frame for a finished episode repeats the last one): still
            # a new array, so that no two steps hand out the same object (a user's buffer keeps both).
            self._frame = self._frame.copy()
        if self.render_mode == "human":
            self.render()
        return (
            self._frame,
            float(result.reward),
            bool(result.terminated),
            bool(result.truncated),
            self._info(result.extra),
        )

    def _validate(self, action: dict[str, Any]) -> gamepad.GamepadDict:
        """``gamepad.validate(action)``, memoized on the action's exact :func:`gamepad.fingerprint`.

        Validation was the largest share of our per-step Python (docs/performance.md), and an agent
        repeats few exact actions. The memoized arrays are shared by later steps, so they are read-only:
        an adapter that tried to change one would fail loudly instead of changing later steps' actions.
        """
        key = gamepad.fingerprint(action)
        if key is None:
            return gamepad.validate(action)
        clean = self._clean_actions.get(key)
        if clean is None:
            clean = gamepad.validate(action)
            if len(self._clean_actions) < MAX_CACHED_ACTIONS:
                for array in clean.values():
                    array.flags.writeable = False
                self._clean_actions[key] = clean
        return clean

    def render(self) -> Obs | None:  # type: ignore[override]
        """Return the current frame (``rgb_array``) or show it in a window (``human``)."""
        if self._frame is None:
            return None
        if self.render_mode == "human":
            from nitrogen_envs.window import FrameWindow

            if self._window is None:
                self._window = FrameWindow(f"NitroGen - {self.spec_game.name}", self.obs_size)
            self._window.show(self._frame, fps=self.metadata["render_fps"])
            return None
        return self._frame.copy()

    def close(self) -> None:
        """Release the engine and any window. Closing twice is harmless; using the env afterwards raises :class:`EnvClosed`."""
        if self._closed:
            return
        self._closed = True
        try:
            self._engine_close()
        finally:
            if self._window is not None:
                self._window.close()
                self._window = None

    def _check_open(self, action: str) -> None:
        if self._closed:
            raise EnvClosed(
                f"{action}() on a closed {self.spec_game.name} env: close() freed its engine; "
                f"make a new one with gym.make({self.spec_game.env_id!r})"
            )

    # ---- save states --------------------------------------------------------------------------------
    def save_state(self) -> bytes:
        """Snapshot the whole game (engine, episode counters, frame) as bytes. No pickle is involved.

        The bytes are framed by :mod:`nitrogen_envs.savestate` (engine, game, length, sha256), so
        :meth:`load_state` can refuse a damaged or foreign state before the engine sees it.

        Raises:
            SaveStateUnsupported: the engine cannot snapshot (ViZDoom, Crafter).
            EnvClosed: the env was closed.
        """
        self._check_open("save_state")
        if self._frame is None:
            raise gym.error.ResetNeeded("call env.reset() before save_state()")
        engine = self._engine_save()
        header = {
            "engine": self.spec_game.engine,
            "game": self.spec_game.name,
            "task": self.task_spec.name,
            "obs_shape": list(self._frame.shape),
            "episode_return": self._episode_return,
            "episode_steps": self._episode_steps,
            "success": self._success,
        }
        return pack_state(header, self._frame.tobytes() + engine)

    def load_state(self, state: bytes) -> None:
        """Restore a snapshot made by :meth:`save_state` of the same game, task and observation size.

        Every check runs before the engine is touched, so a refused state leaves the env as it was.

        Raises:
            InvalidSaveState: the bytes are not an intact snapshot of this game (the message says why).
            EnvClosed: the env was closed.
        """
        self._check_open("load_state")
        header, payload = unpack_state(state)
        shape = tuple(self.observation_space.shape or ())
        found = (header.get("engine"), header.get("game"), header.get("task"), tuple(header.get("obs_shape") or ()))
        wanted = (self.spec_game.engine, self.spec_game.name, self.task_spec.name, shape)
        if found != wanted:
            raise InvalidSaveState(
                f"save state is for game {found[1]!r} ({found[0]}, task {found[2]!r}) with frames {list(found[3])}, "
                f"but this env is {wanted[1]!r} ({wanted[0]}, task {wanted[2]!r}) with frames {list(shape)}"
            )
        counters = (header.get("episode_return"), header.get("episode_steps"), header.get("success"))
        if not (
            isinstance(counters[0], int | float)
            and isinstance(counters[1], int)
            and counters[1] >= 0
            and isinstance(counters[2], bool)
        ):
            raise InvalidSaveState(f"save state has malformed episode counters {counters}")
        frame_len = math.prod(shape)
        if len(payload) < frame_len:
            raise InvalidSaveState(
                f"save state holds {len(payload)} payload bytes, fewer than its {frame_len}-byte frame"
            )
        self._engine_load(bytes(payload[frame_len:]))
        self._frame = np.frombuffer(payload[:frame_len], dtype=np.uint8).reshape(shape).copy()
        self._episode_return = float(counters[0])
        self._episode_steps = counters[1]
        self._success = counters[2]

    # ---- helpers ------------------------------------------------------------------------------------
    def _to_obs(self, frame: np.ndarray) -> Obs:
        # Engines may reuse their frame buffer, so an unresized frame is copied (unless the engine hands
        # out a fresh array every step); a resized one is new anyway.
        obs = resize_frame(frame, self.obs_size)
        if not self.fresh_frames and (obs is frame or obs.base is frame):
            return obs.copy()
        return obs

    def _game_and_task(self) -> tuple[str, str]:
        return self.spec_game.name, self.task_spec.name

    def _info_fields(self) -> dict[str, Any]:
        normalized = self.normalize_score(self._episode_return)
        return {} if normalized is None else {"score_normalized": normalized}

    def normalize_score(self, episode_return: float) -> float | None:
        """Map an episode return to 0 (random play) .. 1 (expert reference); ``None`` without references."""
        if self._reference is _UNSET:
            self._reference = reference_range(self.spec_game, self.task_spec)
        if self._reference is None:
            return None
        random, expert = self._reference
        return (episode_return - random) / (expert - random)


def unwrap(env: gym.Env) -> GamepadEnv:
    """The NitroGen env under any stack of Gymnasium wrappers.

    Raises:
        TypeError: ``env`` is not a NitroGen env (the message names what it is).
    """
    base = env.unwrapped
    if not isinstance(base, GamepadEnv):
        raise TypeError(
            f"expected a NitroGen env (gym.make('NitroGen/...')), got {type(base).__name__}; "
            "gamepad mappings and native actions exist only for NitroGen games"
        )
    return base
