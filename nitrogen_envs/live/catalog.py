"""The live-game catalog: TOML rows (package data plus an optional user file) parsed into specs.

Games are data, not code, so a user adds one by writing a few TOML lines (see ``data/games.toml`` for
the fields) and pointing :data:`CATALOG_ENV_VAR` or ``catalog=`` at the file; a user entry with the
same id replaces the packaged one.

Example:
    >>> spec = load_catalog()["SuperTux"]
    >>> spec.input, spec.fps, spec.key_table().names[:2]
    ('keyboard', 20, ['left', 'right'])
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from nitrogen_envs import gamepad
from nitrogen_envs.live.errors import CatalogError
from nitrogen_envs.live.keys import check_key
from nitrogen_envs.mapping import Binding, ButtonTable, binding_to_gamepad

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CATALOG_ENV_VAR = "NITROGEN_LIVE_CATALOG"
"""Path of a user TOML catalog merged over the packaged one."""

INPUT_KINDS = ("gamepad", "keyboard")
PLATFORMS = ("windows", "linux")
START_HOLD_RANGE_S = (0.05, 5.0)
"""How long a start key may be held: a tap shorter than a slow game's frame can be missed."""
START_WAIT_RANGE_S = (0.0, 60.0)
"""How long to wait after a start key (a menu fade, a level load)."""


@dataclass(frozen=True)
class StartKey:
    """One step of the way into gameplay: hold ``key`` for ``hold_s``, release it, wait ``wait_s``.

    Args:
        key: a key of the game's ``keys`` map; it is sent as that binding's gamepad input, through the
            env's own input (so the focus guard and kill switch apply as for any step).
        hold_s: seconds the key is held (long enough for the game to see it at a low frame rate).
        wait_s: seconds to wait after releasing it (a fade, a load) before the next step.
    """

    key: str
    hold_s: float = 0.25
    wait_s: float = 1.0


@dataclass(frozen=True)
class LiveGameSpec:
    """One live game of the catalog.

    Args:
        id: CamelCase id; the env id is ``NitroGen/<id>-v0``.
        title: case-insensitive substring of the game's window title.
        process: process names that identify the game (used to find, suspend and stop it).
        platforms: platforms the game runs on natively.
        fps: control frequency in env steps per second.
        input: ``"gamepad"`` or ``"keyboard"``, the input kind the game is played with by default.
        keys: gamepad -> key bindings (``Binding.native`` is the key name); needed for keyboard input.
        pause: how a person pauses the game.
        launch: argv that starts the game, empty when unknown.
        steam_appid: Steam app id, used to build a launch command when ``launch`` is empty.
        notes: advice for users (anti-cheat, online play, renderer).
        start_level: level file to append to ``launch`` when the env starts the game, so it opens in
            a level instead of its title menu; several paths (one per distribution's layout) may be
            listed and the first that exists is used.
        start_keys: keys sent once after the env started the game and its window shows a rendered
            frame (e.g. from the title menu into a level, or past a level's title card).
    """

    id: str
    title: str
    process: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ("windows",)
    fps: int = 15
    input: str = "gamepad"
    keys: tuple[Binding, ...] = ()
    pause: str = "start"
    launch: tuple[str, ...] = ()
    steam_appid: int | None = None
    notes: str = ""
    start_level: tuple[str, ...] = ()
    start_keys: tuple[StartKey, ...] = ()

    def __post_init__(self) -> None:
        if not self.id.isidentifier():
            raise CatalogError(f"live game id must be a CamelCase identifier, got {self.id!r}")
        if not self.title and not self.process:
            raise CatalogError(f"live game {self.id!r} needs a window `title` or a `process` name to find it")
        if not 1 <= self.fps <= 240:
            raise CatalogError(f"live game {self.id!r} has fps={self.fps}; use 1..240 control steps per second")
        if self.input not in INPUT_KINDS:
            raise CatalogError(f"live game {self.id!r} has input={self.input!r}; use one of {INPUT_KINDS}")
        if self.input == "keyboard" and not self.keys:
            raise CatalogError(f"live game {self.id!r} uses keyboard input but defines no `keys` map")
        unknown = set(self.platforms) - set(PLATFORMS)
        if unknown:
            raise CatalogError(f"live game {self.id!r} lists unknown platforms {sorted(unknown)}; use {PLATFORMS}")
        self._check_start()

    def _check_start(self) -> None:
        """The way into gameplay must be usable: a level needs a command to append to, keys need the key map."""
        if self.start_level and not self.launch:
            raise CatalogError(
                f"live game {self.id!r} has a `start_level` but no `launch` command to pass it to; add `launch`"
            )
        if any(not path for path in self.start_level):
            raise CatalogError(f"live game {self.id!r} has an empty path in `start_level`")
        names = {binding.native for binding in self.keys}
        for step in self.start_keys:
            if step.key not in names:
                raise CatalogError(
                    f"live game {self.id!r}: start key {step.key!r} is not in its `keys` map {sorted(names)}; "
                    "start keys are sent through the key map, so add a binding for it"
                )
            low, high = START_HOLD_RANGE_S
            if not low <= step.hold_s <= high:
                raise CatalogError(
                    f"live game {self.id!r}: start key {step.key!r} has hold_s={step.hold_s}; use {low}..{high} s"
                )
            low, high = START_WAIT_RANGE_S
            if not low <= step.wait_s <= high:
                raise CatalogError(
                    f"live game {self.id!r}: start key {step.key!r} has wait_s={step.wait_s}; use {low}..{high} s"
                )

    @property
    def env_id(self) -> str:
        """Gymnasium id, e.g. ``NitroGen/EldenRing-v0``."""
        return f"NitroGen/{self.id}-v0"

    def key_table(self) -> ButtonTable:
        """The keyboard map as a :class:`~nitrogen_envs.mapping.ButtonTable` (one native button per key)."""
        return ButtonTable(self.keys)

    def runs_natively_on(self, platform: str) -> bool:
        """Whether the catalog lists ``platform`` (``"windows"`` or ``"linux"``) for this game."""
        return platform in self.platforms

    def existing_start_level(self) -> str | None:
        """The first ``start_level`` path that exists on this machine, or ``None``."""
        paths = (Path(path).expanduser() for path in self.start_level)
        return next((str(path) for path in paths if path.is_file()), None)

    def start_key_action(self, key: str) -> gamepad.GamepadDict:
        """The gamepad action that presses ``key`` through the key map (its binding's canonical input)."""
        binding = next(binding for binding in self.keys if binding.native == key)
        return binding_to_gamepad(binding)

    def launch_command(self, platform: str) -> list[str]:
        """The argv that starts the game on ``platform`` (``"windows"`` or ``"linux"``), or ``[]``."""
        if self.launch:
            return list(self.launch)
        if self.steam_appid is None:
            return []
        url = f"steam://rungameid/{self.steam_appid}"
        return ["cmd", "/c", "start", "", url] if platform == "windows" else ["steam", url]


def _binding(game: str, row: Any) -> Binding:
    if not isinstance(row, dict) or "key" not in row:
        raise CatalogError(f"live game {game!r}: each `keys` entry needs a `key`, got {row!r}")
    unknown = set(row) - {"key", "move", "look", "inputs", "meaning"}
    if unknown:
        raise CatalogError(f"live game {game!r}: unknown field(s) {sorted(unknown)} in key {row['key']!r}")
    try:
        return Binding(
            native=check_key(str(row["key"])),
            move=tuple(row.get("move", (0, 0))),  # type: ignore[arg-type]
            look=tuple(row.get("look", (0, 0))),  # type: ignore[arg-type]
            inputs=tuple(row.get("inputs", ())),
            meaning=str(row.get("meaning", "")),
        )
    except ValueError as err:
        raise CatalogError(f"live game {game!r}: bad key binding {row!r}: {err}") from err


def _start_key(game: str, row: Any) -> StartKey:
    if isinstance(row, str):
        row = {"key": row}
    if not isinstance(row, dict) or "key" not in row:
        raise CatalogError(f"live game {game!r}: each `start_keys` entry needs a `key`, got {row!r}")
    unknown = set(row) - {"key", "hold_s", "wait_s"}
    if unknown:
        raise CatalogError(
            f"live game {game!r}: unknown field(s) {sorted(unknown)} in start key {row['key']!r}; "
            "known: ['hold_s', 'key', 'wait_s']"
        )
    try:
        return StartKey(
            key=check_key(str(row["key"])),
            hold_s=_seconds(row.get("hold_s", StartKey.hold_s)),
            wait_s=_seconds(row.get("wait_s", StartKey.wait_s)),
        )
    except (TypeError, ValueError) as err:
        raise CatalogError(f"live game {game!r}: bad start key {row!r}: {err}") from err


def _seconds(value: Any) -> float:
    """A duration from TOML: an int or float (a string or a boolean is a mistake, not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"durations are numbers of seconds, got {value!r}")
    return float(value)


def _start_level(game: str, value: Any) -> tuple[str, ...]:
    paths = [value] if isinstance(value, str) else value
    if not isinstance(paths, list) or not all(isinstance(path, str) for path in paths):
        raise CatalogError(f"live game {game!r}: `start_level` must be a path or a list of paths, got {value!r}")
    return tuple(paths)


def _start_keys(game: str, value: Any) -> tuple[StartKey, ...]:
    if not isinstance(value, list):
        raise CatalogError(f"live game {game!r}: `start_keys` must be a list of {{ key = ... }} entries, got {value!r}")
    return tuple(_start_key(game, row) for row in value)


_FIELDS = {
    "title",
    "process",
    "platforms",
    "fps",
    "input",
    "keys",
    "pause",
    "launch",
    "steam_appid",
    "notes",
    "start_level",
    "start_keys",
}


def parse_catalog(text: str, source: str = "<string>") -> dict[str, LiveGameSpec]:
    """Parse catalog TOML text into specs keyed by id.

    Raises:
        CatalogError: invalid TOML, an unknown field or a bad value (the message names the source and game).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise CatalogError(f"live-game catalog {source} is not valid TOML: {err}") from err
    games = data.get("games", {})
    if not isinstance(games, dict):
        raise CatalogError(f"live-game catalog {source}: `games` must be a table of [games.<Id>] entries")
    specs: dict[str, LiveGameSpec] = {}
    for game_id, row in games.items():
        unknown = set(row) - _FIELDS
        if unknown:
            raise CatalogError(
                f"live game {game_id!r} in {source}: unknown field(s) {sorted(unknown)}; known: {sorted(_FIELDS)}"
            )
        specs[game_id] = LiveGameSpec(
            id=game_id,
            title=str(row.get("title", "")),
            process=tuple(row.get("process", ())),
            platforms=tuple(row.get("platforms", ("windows",))),
            fps=int(row.get("fps", 15)),
            input=str(row.get("input", "gamepad")),
            keys=tuple(_binding(game_id, key) for key in row.get("keys", ())),
            pause=str(row.get("pause", "start")),
            launch=tuple(row.get("launch", ())),
            steam_appid=row.get("steam_appid"),
            notes=str(row.get("notes", "")),
            start_level=_start_level(game_id, row.get("start_level", [])),
            start_keys=_start_keys(game_id, row.get("start_keys", [])),
        )
    return specs


def load_catalog(user_path: str | os.PathLike[str] | None = None) -> dict[str, LiveGameSpec]:
    """The packaged catalog merged with the user's (``user_path`` or :data:`CATALOG_ENV_VAR`).

    Raises:
        CatalogError: the user catalog is missing or malformed.
    """
    text = resources.files("nitrogen_envs.live").joinpath("data/games.toml").read_text(encoding="utf-8")
    specs = parse_catalog(text, "nitrogen_envs/live/data/games.toml")
    path = user_path if user_path is not None else os.environ.get(CATALOG_ENV_VAR) or None
    if path is not None:
        user_file = Path(path).expanduser()
        if not user_file.is_file():
            raise CatalogError(
                f"user live-game catalog {str(user_file)!r} does not exist (set by catalog= or ${CATALOG_ENV_VAR})"
            )
        specs.update(parse_catalog(user_file.read_text(encoding="utf-8"), str(user_file)))
    return specs


def get_live_game(game_id: str, user_path: str | os.PathLike[str] | None = None) -> LiveGameSpec:
    """Look up one game by id (``"EldenRing"`` or ``"NitroGen/EldenRing-v0"``).

    Raises:
        CatalogError: unknown id; the message lists close matches.
    """
    import difflib

    key = game_id.removeprefix("NitroGen/").rsplit("-v", 1)[0]
    specs = load_catalog(user_path)
    if key in specs:
        return specs[key]
    close = difflib.get_close_matches(key, list(specs), n=3)
    hint = f" Did you mean {close}?" if close else ""
    raise CatalogError(
        f"unknown live game {game_id!r}.{hint} Catalog games: {sorted(specs)}; add yours with ${CATALOG_ENV_VAR}"
    )
