"""``LiveEnv``: a running game behind the same gamepad action space and RGB frames as the embedded games.

Each step sends the action through the chosen input backend, lets the game run for one control
period (``sync=True``: resumes the suspended process for exactly ``1 / fps`` s; ``sync=False``:
waits for the next real-time tick) and captures the window. Safety is part of the env, not an
add-on: input is released on close, on any exception inside ``step``, on SIGINT/SIGTERM, at exit and
by the kill-switch key; ``dry_run=True`` never creates an input device at all.

Example (needs a running SuperTux; see docs/live_windows_checklist.md for Windows)::

    env = gym.make("NitroGen/SuperTux-v0", launch=True, sync=True)
    obs, info = env.reset()
    obs, reward, terminated, truncated, info = env.step(gamepad.make_action(left_stick=(1.0, 0.0)))
    env.close()  # keys released, game resumed and (as we launched it) stopped
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from nitrogen_envs import gamepad
from nitrogen_envs.base import EpisodeCounters, parse_obs_size
from nitrogen_envs.errors import EnvClosed
from nitrogen_envs.live.capture import MssCapture, is_rendered
from nitrogen_envs.live.catalog import LiveGameSpec, StartKey, get_live_game
from nitrogen_envs.live.config import LiveConfig, RewardFn, TerminationFn
from nitrogen_envs.live.errors import FocusLost, GameNotRunning, KillSwitchPressed, WindowBlank, WindowUnavailable
from nitrogen_envs.live.input import InputController, choose_backend, make_controller
from nitrogen_envs.live.process import GameProcess, find_process
from nitrogen_envs.live.safety import KillSwitch, SafetyNet, make_kill_switch_probe
from nitrogen_envs.live.window import Rect, WindowBackend, make_window_backend
from nitrogen_envs.mapping import Binding, ButtonTable
from nitrogen_envs.types import Obs

logger = logging.getLogger(__name__)

_PLATFORM = "windows" if sys.platform == "win32" else "linux"
RENDER_POLL_S = 0.1
"""How often ``reset`` looks again at a window that is still black."""
SETTLE_INTERVAL_S = 0.25
SETTLE_WINDOW_S = 1.0
SETTLE_MAX_RELATIVE_CHANGE = 0.02
"""A launched game's picture has settled when its mean brightness stayed within this fraction (of the
mean, at least 1 grey level) for ``SETTLE_WINDOW_S``. A fade changes every pixel, gameplay animation only
a few; a window over a whole second, not two grabs, because a slow game can show one frame for 0.25 s."""
SETTLE_MAX_S = 15.0
"""Settling is best effort: a game whose whole picture keeps changing is returned after this long."""


class LiveEnv(EpisodeCounters, gym.Env[Obs, dict]):
    """A live game driven through screen capture and a virtual gamepad or keyboard.

    Args:
        game: catalog id (``"SuperTux"``); ``None`` for the generic ``NitroGen/Live-v0``, which then
            needs ``window=`` or ``process=``.
        obs_size: observation (height, width) or one int; default 256 like the embedded games.
        reward_fn: ``reward_fn(previous_obs, obs, info) -> float``; reward is 0 without it.
        termination_fn: ``termination_fn(obs, info) -> bool``; never terminates without it.
        catalog: extra TOML catalog path (else ``$NITROGEN_LIVE_CATALOG``).
        keymap: key bindings overriding the catalog's (``mapping.Binding`` rows, ``native`` = key).
        render_mode: ``"rgb_array"`` or ``None``.
        window_backend: injected window backend (tests); chosen for the OS when ``None``.
        controller: injected input controller (tests); built from the config when ``None``.
        **options: the fields of :class:`~nitrogen_envs.live.config.LiveConfig` (``window``,
            ``process``, ``launch``, ``input``, ``sync``, ``dry_run``, ``fps``, ``kill_switch``, ...).

    ``info`` has the layout of the embedded games (:class:`~nitrogen_envs.base.EpisodeCounters`): ``game``,
    ``task`` (``"play"``), ``success`` (False: live games have no built-in criterion), ``episode_return``,
    ``episode_steps``; then ``fps_target``, ``sync``, ``dry_run`` and ``input_sent``; after a step also
    timing: ``step_ms``, ``capture_ms``, ``input_ms`` and, when ``sync=False``, ``jitter_ms`` (how late
    the tick came). ``reward_fn`` and ``termination_fn`` see ``info`` with the counters before this step.

    Raises:
        GameNotRunning: no matching window/process (the message says how to start it, or pass ``launch=True``).
        BackendUnavailable: no input backend fits (e.g. gamepad input on Linux without /dev/uinput).
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 15}  # noqa: RUF012

    def __init__(
        self,
        game: str | None = None,
        obs_size: int | tuple[int, int] | str = 256,
        reward_fn: RewardFn | None = None,
        termination_fn: TerminationFn | None = None,
        catalog: str | None = None,
        keymap: Sequence[Binding] | None = None,
        render_mode: str | None = None,
        window_backend: WindowBackend | None = None,
        controller: InputController | None = None,
        **options: Any,
    ) -> None:
        self.config = LiveConfig(**options)
        self.spec_game: LiveGameSpec | None = get_live_game(game, catalog) if game is not None else None
        cfg, spec = self.config, self.spec_game
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be 'rgb_array' or None, got {render_mode!r}")
        self.render_mode = render_mode
        self.title = cfg.window if cfg.window is not None else (spec.title if spec else None)
        self.process_names = tuple(cfg.process or (spec.process if spec else ()))
        if self.title is None and not self.process_names:
            raise ValueError("NitroGen/Live-v0 needs window='title substring' or process='name' to find the game")
        self.fps = float(cfg.fps if cfg.fps is not None else (spec.fps if spec else 15))
        self.period = 1.0 / self.fps
        self.metadata = {**self.metadata, "render_fps": self.fps}
        self.reward_fn, self.termination_fn = reward_fn, termination_fn
        self.name = spec.id if spec else (self.title or self.process_names[0])

        self._closed = False
        self._killed = False
        self._fresh_launch = False
        self._start_keys: tuple[StartKey, ...] = ()
        self._kill_switch: KillSwitch | None = None
        self._kill_probe_close: Any = None
        self.controller: InputController | None = None
        self.game: GameProcess | None = None
        self.window: WindowBackend = window_backend or make_window_backend(cfg.display)
        self._capture: MssCapture | None = None
        try:
            self.game = self._connect()
            if self.game is None and cfg.sync:
                raise GameNotRunning(f"sync=True needs the game's process to suspend it; pass process= for {self.name}")
            rect = self.window.rect()
            self.obs_size = parse_obs_size(obs_size, (rect.height, rect.width))  # type: ignore[arg-type]
            self._capture = MssCapture(self.obs_size, cfg.display)
            if not cfg.dry_run:
                self.controller = controller or self._make_controller(keymap)
                SafetyNet.register(self)
                if cfg.kill_switch is not None:
                    is_pressed, self._kill_probe_close = make_kill_switch_probe(cfg.kill_switch, cfg.display)
                    self._kill_switch = KillSwitch(is_pressed, self._on_kill)
        except BaseException:
            self.close()
            raise
        self.observation_space = gym.spaces.Box(0, 255, shape=(*self.obs_size, 3), dtype=np.uint8)
        self.action_space = gamepad.dict_space()
        self._frame: np.ndarray | None = None
        self._start_episode()
        self._deadline = 0.0

    # ---- setup ---------------------------------------------------------------------------------------
    def _how_to_start(self) -> str:
        """The advice sentence of the "not running" error: how to start the game on this platform."""
        spec = self.spec_game
        command = spec.launch_command(_PLATFORM) if spec else []
        if spec is not None and not spec.runs_natively_on(_PLATFORM):
            return self._other_platform_route(spec, command)
        start = f"start it with `{' '.join(command)}`" if command else "start it"
        return f"Please {start} (or pass launch=True / launch=[...] to gym.make so the env starts it)"

    @staticmethod
    def _other_platform_route(spec: LiveGameSpec, command: list[str]) -> str:
        native = " and ".join(platform.capitalize() for platform in spec.platforms)
        if _PLATFORM != "linux":
            return f"The catalog lists {spec.id} for {native} only; run it there, or add launch= and platforms in a user catalog"
        launched = (
            f"; launch=True runs `{' '.join(command)}`, which needs Proton enabled for it in Steam" if command else ""
        )
        return (
            f"The catalog lists {spec.id} for {native} only: on Linux run it through Steam Play (Proton) or Wine, "
            "whose window under X11 our X11 backend finds by its title like a native one (untested with Proton), "
            f"then make the env again{launched}"
        )

    def _connect(self) -> GameProcess | None:
        """Find the running game, or launch it when asked; return its process (``None`` if unknown)."""
        cfg = self.config
        pid = find_process(self.process_names) if self.process_names else None
        searchable = self.title is not None or pid is not None  # never match "any window"
        if searchable and self.window.find(self.title, pid if self.title is None else None):
            pid = self.window.pid() or pid
            return GameProcess(pid) if pid else None
        if cfg.launch in (None, False):
            what = f"window title containing {self.title!r}" if self.title else f"process {list(self.process_names)}"
            raise GameNotRunning(f"{self.name} is not running (no {what}). {self._how_to_start()}.")
        command = (
            list(cfg.launch)  # type: ignore[arg-type]
            if cfg.launch is not True
            else (self.spec_game.launch_command(_PLATFORM) if self.spec_game else [])
        )
        if not command:
            raise GameNotRunning(f"launch=True but no launch command is known for {self.name}; pass launch=[argv]")
        if self.spec_game is not None and not self.spec_game.runs_natively_on(_PLATFORM):
            logger.warning("%s: %s", self.name, self._other_platform_route(self.spec_game, command))
        command, start_keys = self._way_into_gameplay(command)
        env = dict(cfg.launch_env)
        if cfg.display:
            env["DISPLAY"] = cfg.display
        if os.environ.get("SDL_VIDEODRIVER") in ("dummy", "offscreen") and "SDL_VIDEODRIVER" not in env:
            # A headless SDL driver inherited from our process (tests, servers) would give the game no window.
            env["SDL_VIDEODRIVER"] = "windows" if _PLATFORM == "windows" else "x11"
        game = GameProcess.launch(command, env)
        deadline = time.monotonic() + cfg.launch_timeout_s
        while time.monotonic() < deadline:
            if not game.is_running():
                game.stop()
                raise GameNotRunning(f"{self.name} exited right after launch with {command}; run it by hand to see why")
            if self.window.find(self.title, game.pid) or (self.title and self.window.find(self.title, None)):
                window_pid = self.window.pid()
                if window_pid and window_pid != game.pid:
                    # Started through a launcher (Steam, a shell script): the window's process is the game,
                    # so that is the one to suspend, stop and record for cleanup.
                    owner = GameProcess(window_pid, launched=True)
                    owner.record()
                    game = owner
                self._fresh_launch, self._start_keys = True, start_keys
                return game
            time.sleep(0.25)
        game.stop()
        raise GameNotRunning(
            f"{self.name} was launched ({command}) but no window appeared in {cfg.launch_timeout_s:.0f} s"
        )

    def _way_into_gameplay(self, command: list[str]) -> tuple[list[str], tuple[StartKey, ...]]:
        """The launch command with the catalog's start level appended, and the start keys to send after."""
        spec = self.spec_game
        if spec is None or not self.config.start_gameplay:
            return command, ()
        if not spec.start_level:
            return command, spec.start_keys
        level = spec.existing_start_level()
        if level is None:
            logger.warning(
                "%s: none of the catalog's start_level files exist (%s), so the game opens on its title menu; "
                "add the level's path on this machine in a user catalog ($NITROGEN_LIVE_CATALOG) or pass "
                "start_gameplay=False",
                self.name,
                ", ".join(spec.start_level),
            )
            return command, ()
        return [*command, level], spec.start_keys

    def _make_controller(self, keymap: Sequence[Binding] | None) -> InputController:
        spec = self.spec_game
        kind = self.config.input or (spec.input if spec else "gamepad")
        table = ButtonTable(tuple(keymap)) if keymap else (spec.key_table() if spec and spec.keys else None)
        backend = choose_backend(kind, self.config.input_backend, table is not None, self.name)
        if self.config.kill_switch is not None and table is not None and self.config.kill_switch in table.names:
            raise ValueError(
                f"kill_switch {self.config.kill_switch!r} is also a game key; choose another kill-switch key"
            )
        logger.info("%s: %s input through %s", self.name, kind, backend)
        return make_controller(backend, table, self.config.display)

    # ---- safety --------------------------------------------------------------------------------------
    def _on_kill(self) -> None:
        self._killed = True
        if self.controller is not None:
            self.controller.disable()

    def emergency_stop(self, final: bool = False) -> None:
        """Release all input and resume a suspended game (signal handlers and atexit call this).

        Args:
            final: the interpreter is exiting (atexit, SIGTERM): also stop a game we launched. The
                normal :meth:`close` is not used here because it would reuse connections the
                interrupted code may be in the middle of.
        """
        if self._closed:
            return
        if self.controller is not None:
            self.controller.emergency_release()
        if self.game is not None:
            self.game.resume()
            if final and self.game.launched and self.config.stop_launched:
                self.game.stop()

    def _fail_safe(self) -> None:
        """After an exception inside ``step``: release input and let the game run."""
        try:
            if self.controller is not None:
                self.controller.release_all()
        finally:
            if self.game is not None:
                self.game.resume()

    # ---- Gymnasium API -------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Obs, dict]:
        """Release all input, bring the window to the front and return the first rendered frame.

        A live game cannot be re-seeded or rewound: ``reset`` continues from wherever the game is. It
        returns once the window shows a rendered frame (not black, not one flat colour), so a game
        still loading is waited for up to ``render_timeout_s``. The first ``reset`` after the env
        launched the game also waits for the opening fade to end and sends the catalog's
        ``start_keys``, so a game with a way into gameplay starts in a level.

        Raises:
            WindowBlank: the window stayed black for ``render_timeout_s``.
            FocusLost: start keys were due but the game window is not in front.
        """
        super().reset(seed=seed)
        self._check_usable()
        try:
            if self.controller is not None:
                self.controller.enable()
                self.controller.release_all()
                if self.config.activate_on_reset and not self.window.is_foreground() and not self.window.activate():
                    logger.warning("%s: could not bring the game window to the front", self.name)
            frame = self._ready_frame()
            if self.config.sync and self.game is not None:
                self.game.suspend()
        except BaseException:
            self._fail_safe()
            raise
        self._frame = frame
        self._start_episode()
        self._deadline = time.perf_counter() + self.period
        return frame, self._info({})

    def _ready_frame(self) -> np.ndarray:
        """A rendered frame; after a launch, the settled frame past the catalog's start keys."""
        if not self._fresh_launch:
            return self._wait_for_render(settle=False)
        keys, self._start_keys, self._fresh_launch = self._start_keys, (), False
        frame = self._wait_for_render(settle=True)
        if not keys:
            return frame
        self._send_start_keys(keys)
        return self._wait_for_render(settle=True)

    def _wait_for_render(self, settle: bool) -> np.ndarray:
        """Poll the window until it shows a rendered frame (and, with ``settle``, no fade is under way).

        A suspended game (``sync=True``) is resumed while waiting, since a frozen black window never changes.
        """
        timeout = self.config.render_timeout_s
        start = time.monotonic()
        frame = self._grab()
        if is_rendered(frame) and not settle:
            return frame
        if self.game is not None:
            self.game.resume()
        while not is_rendered(frame):
            if time.monotonic() - start > timeout:
                raise WindowBlank(
                    f"{self.name}'s window showed only black or one-colour frames for {timeout:.0f} s "
                    "(render_timeout_s): check that the game is not stuck loading or behind a dialog and that it "
                    "can render on this display (under Xvfb use a software renderer), or raise render_timeout_s"
                )
            time.sleep(RENDER_POLL_S)
            frame = self._grab()
        if settle:
            frame = self._settle(frame, min(start + timeout, time.monotonic() + SETTLE_MAX_S))
        return frame

    def _settle(self, frame: np.ndarray, deadline: float) -> np.ndarray:
        """Wait until the picture's brightness stops changing (a fade in has ended); best effort until ``deadline``."""
        first = time.monotonic()
        samples = [(first, float(frame.mean()))]
        while time.monotonic() < deadline:
            time.sleep(SETTLE_INTERVAL_S)
            frame = self._grab()
            now = time.monotonic()
            samples = [(at, mean) for at, mean in samples if now - at <= SETTLE_WINDOW_S] + [(now, float(frame.mean()))]
            means = [mean for _, mean in samples]
            steady = max(means) - min(means) < SETTLE_MAX_RELATIVE_CHANGE * max(
                means[-1], 1.0 / SETTLE_MAX_RELATIVE_CHANGE
            )
            if now - first >= SETTLE_WINDOW_S and steady and is_rendered(frame):
                return frame
        logger.info("%s: the picture was still changing as a whole after the launch; continuing", self.name)
        return frame

    def _send_start_keys(self, keys: Sequence[StartKey]) -> None:
        """Tap the catalog's start keys through the env's own input (focus guard and kill switch apply)."""
        spec = self.spec_game
        if self.controller is None or spec is None:
            logger.warning("%s: dry_run sends no input, so the catalog's start_keys were not sent", self.name)
            return
        for step in keys:
            self._check_usable()
            self._guard_focus()
            self.controller.apply(gamepad.validate(spec.start_key_action(step.key)))
            time.sleep(step.hold_s)
            self.controller.apply(gamepad.noop())
            time.sleep(step.wait_s)
        self._check_usable()

    def _guard_focus(self) -> None:
        """Refuse input (release everything, raise ``FocusLost``) when the window is not in front."""
        if self.controller is None or not self.config.focus_guard or self.window.is_foreground():
            return
        self.controller.release_all()
        raise FocusLost(
            f"{self.name}'s window is not in front, so input would go to another program; all input "
            "was released. Click the game window (or call env.reset(), which activates it), or pass "
            "focus_guard=False if the game reads input in the background"
        )

    def step(self, action: dict[str, Any]) -> tuple[Obs, SupportsFloat, bool, bool, dict]:
        """Send one gamepad action, let the game run one control period, capture the window.

        Raises:
            ValueError: a malformed action (nothing is sent).
            FocusLost: the game window is not in front (input released, nothing sent).
            KillSwitchPressed: the kill-switch key was pressed (input released; close the env).
            WindowUnavailable: the window was closed or minimized.
        """
        if self._frame is None:
            raise gym.error.ResetNeeded("call env.reset() before env.step()")
        self._check_usable()
        clean = gamepad.validate(action)
        try:
            extra = self._advance(clean)
        except BaseException:
            self._fail_safe()
            raise
        if self._killed:
            raise KillSwitchPressed(self._kill_message())
        previous, self._frame = self._frame, extra.pop("frame")
        info = self._info(extra)
        reward = float(self.reward_fn(previous, self._frame, info)) if self.reward_fn else 0.0
        terminated = bool(self.termination_fn(self._frame, info)) if self.termination_fn else False
        self._count_step(reward)
        info.update(self._episode_fields())
        return self._frame, reward, terminated, False, info

    def _advance(self, clean: gamepad.GamepadDict) -> dict[str, Any]:
        start = time.perf_counter()
        if self.controller is not None:
            self._guard_focus()
            self.controller.apply(clean)
        sent = time.perf_counter()
        extra: dict[str, Any] = {"input_ms": (sent - start) * 1e3}
        if self.config.sync and self.game is not None:
            self.game.resume()
            time.sleep(self.period)
            self.game.suspend()
        else:
            now = time.perf_counter()
            if now < self._deadline:
                time.sleep(self._deadline - now)
            extra["jitter_ms"] = (time.perf_counter() - self._deadline) * 1e3
            self._deadline = max(self._deadline + self.period, time.perf_counter())
        grab_start = time.perf_counter()
        extra["frame"] = self._grab()
        end = time.perf_counter()
        extra["capture_ms"] = (end - grab_start) * 1e3
        extra["step_ms"] = (end - start) * 1e3
        return extra

    def _grab(self) -> np.ndarray:
        if self._capture is None:
            raise WindowUnavailable("the env is closed")
        rect = self.window.rect().clip(self.window.screen())
        if rect is None:
            raise WindowUnavailable(f"{self.name}'s window is entirely off screen; move it back to capture it")
        return self._capture.grab(rect)

    def set_sync(self, sync: bool) -> None:
        """Switch between synchronous (suspended between steps) and real-time stepping.

        Useful to walk menus in real time and then play in sync; switching off resumes the game.
        """
        if sync and self.game is None:
            raise GameNotRunning(f"sync=True needs the game's process to suspend it; pass process= for {self.name}")
        self.config.sync = bool(sync)
        if self.game is not None:
            if sync and self._frame is not None:
                self.game.suspend()
            elif not sync:
                self.game.resume()
                self._deadline = time.perf_counter() + self.period

    def window_rect(self) -> Rect:
        """The game window's client area on screen right now."""
        return self.window.rect()

    def _check_usable(self) -> None:
        if self._closed:
            raise EnvClosed(f"{self.name}: this live env is closed; make a new one")
        if self._killed:
            raise KillSwitchPressed(self._kill_message())

    def _kill_message(self) -> str:
        return (
            f"the kill switch ({self.config.kill_switch!r}) was pressed: all input was released and this env sends "
            "no more; close it and make a new one to continue"
        )

    def _game_and_task(self) -> tuple[str, str]:
        return self.name, "play"

    def _info_fields(self) -> dict[str, Any]:
        return {
            "fps_target": self.fps,
            "sync": self.config.sync,
            "dry_run": self.config.dry_run,
            "input_sent": self.controller is not None and not self._killed,
        }

    def render(self) -> Obs | None:  # type: ignore[override]
        """The last observation (``rgb_array``)."""
        return None if self._frame is None else self._frame.copy()

    def close(self) -> None:
        """Release every input, remove the virtual pad, resume the game and stop it if we launched it."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._kill_switch is not None:
                self._kill_switch.close()
            if self._kill_probe_close is not None:
                self._kill_probe_close()
            if self.controller is not None:
                self.controller.close()
        finally:
            SafetyNet.unregister(self)
            if self.game is not None:
                self.game.resume()
                if self.game.launched and self.config.stop_launched:
                    self.game.stop()
            if self._capture is not None:
                self._capture.close()
            self.window.close()
