"""Procgen (``procgen-mirror``; ``procgen2`` is the same code) games: 16 procedurally generated 2D games.

Frames come from Procgen's 512x512 human render (``info["rgb"]``), downscaled to ``obs_size`` — not
the 64x64 agent view upscaled.

Gamepad mapping (all 16 games share Procgen's 15 actions):

=====  ==========  ===============================
index  native      gamepad
=====  ==========  ===============================
0-8    directions  left stick or d-pad (dead zone 0.5), diagonals included; no direction is index 4
9      D           south
10     A           east
11     W           west
12     S           north
13     Q           left_shoulder
14     E           right_shoulder
=====  ==========  ===============================

Procgen cannot combine a direction with an action key: when both are held, the key wins only when it
is more specific (a diagonal ties with a key, and the diagonal wins as the earlier row).

Seeding: ``reset(seed=s)`` builds the engine with ``rand_seed`` drawn from ``s``; following episodes
come from Procgen's own level sequence, so ``reset()`` after a finished episode costs nothing.
``num_levels``/``start_level`` restrict the level set as in the Procgen paper.

Save states: yes (``ProcgenGym3Env.get_state``/``set_state``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import gymnasium as gym
import numpy as np

from nitrogen_envs import gamepad
from nitrogen_envs.base import EngineStep, GamepadEnv
from nitrogen_envs.errors import InvalidSaveState
from nitrogen_envs.import_utils import require_package_quietly
from nitrogen_envs.mapping import Binding, ChoiceTable

logger = logging.getLogger(__name__)

PROCGEN_TABLE = ChoiceTable(
    bindings=(
        Binding("LEFT+DOWN", move=(-1, -1)),
        Binding("LEFT", move=(-1, 0)),
        Binding("LEFT+UP", move=(-1, 1)),
        Binding("DOWN", move=(0, -1)),
        Binding("NOOP"),
        Binding("UP", move=(0, 1)),
        Binding("RIGHT+DOWN", move=(1, -1)),
        Binding("RIGHT", move=(1, 0)),
        Binding("RIGHT+UP", move=(1, 1)),
        Binding("D", inputs=("south",), meaning="primary action (fire, special move)"),
        Binding("A", inputs=("east",)),
        Binding("W", inputs=("west",)),
        Binding("S", inputs=("north",)),
        Binding("Q", inputs=("left_shoulder",)),
        Binding("E", inputs=("right_shoulder",)),
    ),
    noop_index=4,
)


class ProcgenEnv(GamepadEnv):
    """A Procgen game with gamepad actions. Tasks: ``hard`` (default) and ``easy`` distribution modes.

    Args:
        game: registry name (``CoinRun``, ...).
        task: ``"hard"`` or ``"easy"``.
        obs_size: observation size (default 256; ``"native"`` is 512).
        render_mode: ``"rgb_array"`` or ``"human"``.
        num_levels: number of distinct levels (0 = unlimited), as in the Procgen paper.
        start_level: first level id of the restricted set.
        use_backgrounds: draw Procgen's background images.
    """

    native_size = (512, 512)
    fresh_frames = False  # frames are views of the engine's own buffer (see _engine_step)

    def __init__(
        self,
        game: str,
        task: str | None = None,
        obs_size: int | tuple[int, int] | str | None = 256,
        render_mode: str | None = None,
        num_levels: int = 0,
        start_level: int = 0,
        use_backgrounds: bool = True,
    ) -> None:
        super().__init__(game, task, obs_size, render_mode)
        if num_levels < 0 or start_level < 0:
            raise ValueError(f"num_levels and start_level must be >= 0, got {num_levels} and {start_level}")
        self._procgen = require_package_quietly("procgen")
        self._options = {
            "num_levels": int(num_levels),
            "start_level": int(start_level),
            "use_backgrounds": bool(use_backgrounds),
        }
        self._engine: Any = None
        self._pending_frame: np.ndarray | None = None

    # -- engine hooks --
    def _build(self, rand_seed: int) -> None:
        self.close_engine()
        self._engine = self._procgen.ProcgenGym3Env(
            num=1,
            env_name=self.spec_game.engine_game,
            distribution_mode=self.task_spec.name,
            render_mode="rgb_array",
            rand_seed=rand_seed,
            **self._options,
        )

    def _render(self) -> np.ndarray:
        return self._engine.get_info()[0]["rgb"]

    def _step_info(self) -> dict[str, np.ndarray]:
        """This step's info (``rgb`` included) as views of the engine's buffers, without rendering again.

        gym3's ``observe()`` and ``get_info()`` each call ``libenv_observe``, and Procgen renders both the
        agent view and the 512x512 frame on every such call: ``observe()`` then ``get_info()`` paints the
        same frame twice and copies it once more (about half of a CoinRun step). ``observe()`` has already
        filled the info buffers (``CEnv._info``; gym3 is frozen since 2020), so they are read in place;
        the frame is a view that the next step overwrites, which ``fresh_frames = False`` makes the base
        class copy when it is not resized.
        """
        return {key: values[0] for key, values in self._engine._info.items()}

    def _engine_reset(self, engine_seed: int, reseeded: bool) -> np.ndarray:
        if reseeded or self._engine is None or self._pending_frame is None:
            self._build(engine_seed)
            self._pending_frame = None
            return self._render().copy()
        # The previous episode ended inside Procgen, which already started the next level.
        frame, self._pending_frame = self._pending_frame, None
        return frame

    def _engine_step(self, action: gamepad.GamepadDict) -> EngineStep:
        if self._pending_frame is not None:
            raise gym.error.ResetNeeded("the episode is over; call env.reset()")
        self._engine.act(np.array([PROCGEN_TABLE.to_native(action)], dtype=np.int32))
        reward, _, first = self._engine.observe()
        info = self._step_info()
        if bool(first[0]):
            # Procgen resets by itself: keep the new level's frame for reset() and end this episode on
            # its last frame (the final frame of the finished level is never rendered by Procgen).
            self._pending_frame = info["rgb"].copy()
            complete = bool(info.get("prev_level_complete", 0))
            return EngineStep(
                None,
                float(reward[0]),
                terminated=True,
                success=complete,
                extra={"level_seed": int(info["prev_level_seed"])},
            )
        return EngineStep(
            info["rgb"], float(reward[0]), terminated=False, extra={"level_seed": int(info["level_seed"])}
        )

    def _engine_save(self) -> bytes:
        header = json.dumps(
            {"pending": self._pending_frame is not None, **self._options, "mode": self.task_spec.name}
        ).encode()
        blob = self._engine.get_state()[0]
        pending = self._pending_frame.tobytes() if self._pending_frame is not None else b""
        return len(header).to_bytes(4, "little") + header + len(blob).to_bytes(8, "little") + blob + pending

    def _engine_load(self, blob: bytes) -> None:
        # The envelope (base.load_state) already checked length and checksum; this re-checks the inner
        # layout so no slice handed to Procgen is short: its set_state exits the process on a bad blob.
        header, state, pending = _split_state(blob)
        if header.get("mode") != self.task_spec.name:
            raise InvalidSaveState(
                f"save state is for task {header.get('mode')!r}, this env runs {self.task_spec.name!r}"
            )
        frame_bytes = self.native_size[0] * self.native_size[1] * 3
        if len(pending) != (frame_bytes if header.get("pending") else 0):
            raise InvalidSaveState(f"corrupt Procgen save state: {len(pending)} bytes of pending frame")
        if self._engine is None:
            self._build(0)
        self._engine.set_state([state])
        self._pending_frame = (
            np.frombuffer(pending, dtype=np.uint8).reshape(*self.native_size, 3).copy() if header["pending"] else None
        )

    def close_engine(self) -> None:
        """Free the Procgen engine."""
        if self._engine is not None:
            close = getattr(self._engine, "close", None)
            if close is not None:
                close()
            self._engine = None

    def _engine_close(self) -> None:
        self.close_engine()

    # -- action translation --
    def native_action_space(self) -> gym.spaces.Discrete:
        """Procgen's 15 discrete actions."""
        return gym.spaces.Discrete(len(PROCGEN_TABLE.bindings))

    def native_to_gamepad(self, native: Any) -> gamepad.GamepadDict:
        """Canonical gamepad action for a Procgen action index."""
        return PROCGEN_TABLE.to_gamepad(int(native))

    def gamepad_to_native(self, action: dict[str, Any]) -> int:
        """Procgen action index for a gamepad action."""
        return PROCGEN_TABLE.to_native(gamepad.validate(action))

    def mapping_rows(self) -> list[tuple[str, str, str]]:
        """The mapping table shown by ``nitrogen info``."""
        return PROCGEN_TABLE.rows()


def _split_state(blob: bytes) -> tuple[dict[str, Any], bytes, bytes]:
    """(header, Procgen state, pending frame) of an adapter state, every length checked against ``blob``.

    Raises:
        InvalidSaveState: a length that points outside ``blob`` or a header that is not a JSON object.
    """
    header_len = int.from_bytes(blob[:4], "little")
    offset = 4 + header_len
    if len(blob) < offset + 8:
        raise InvalidSaveState(f"corrupt Procgen save state: {len(blob)} bytes, too short for its header")
    try:
        header = json.loads(blob[4:offset])
    except ValueError as err:
        raise InvalidSaveState(f"corrupt Procgen save state: {err}") from err
    state_len = int.from_bytes(blob[offset : offset + 8], "little")
    if not isinstance(header, dict) or state_len == 0 or len(blob) < offset + 8 + state_len:
        raise InvalidSaveState(f"corrupt Procgen save state: an engine state of {state_len} bytes does not fit")
    return header, blob[offset + 8 : offset + 8 + state_len], blob[offset + 8 + state_len :]
