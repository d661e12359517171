"""Versioned game splits: which games a pretrained model may never see (``unseen-v1`` and later).

A split file (``nitrogen_envs/data/splits/<name>.json``) names only the held-out games; every other
registry game is a pretraining game. The foundation-model recipe and the leaderboard read the same file,
so "unseen" means one thing everywhere. :func:`check_pretraining_data` is the guard a pretraining run
calls on its data folders: a held-out game's episodes, or episodes whose game is not named at all, make
it refuse to start.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from nitrogen_envs.errors import NitroGenError
from nitrogen_envs.registry import GENRES, UNKNOWN_GAME, all_games, get_game

DEFAULT_SPLIT = "unseen-v1"


class SplitError(NitroGenError, ValueError):
    """An unknown split name or a split file that contradicts the registry."""


class HeldOutGameLeak(NitroGenError, ValueError):
    """Pretraining data contains a held-out game (or a game it cannot name)."""


@dataclass(frozen=True)
class GameSplit:
    """A fixed partition of the registry's games.

    Args:
        name: the split's id, e.g. ``unseen-v1``.
        version: integer version inside the file.
        held_out: games never used for pretraining (zero-shot and fine-tuning evaluation).
        pretrain: every other registry game, in registry order.
    """

    name: str
    version: int
    held_out: tuple[str, ...]
    pretrain: tuple[str, ...]

    def is_held_out(self, game: str) -> bool:
        """Whether ``game`` (a name or env id) is held out."""
        return get_game(game).name in self.held_out


def available_splits() -> list[str]:
    """Names of the split files shipped with the package."""
    folder = resources.files("nitrogen_envs") / "data" / "splits"
    return sorted(entry.name.removesuffix(".json") for entry in folder.iterdir() if entry.name.endswith(".json"))


def load_split(name: str = DEFAULT_SPLIT) -> GameSplit:
    """Read a shipped split and check it against the registry.

    Raises:
        SplitError: unknown name, or a file that names an unknown game, misses an engine or a genre.
    """
    if name not in available_splits():
        raise SplitError(f"unknown split {name!r}; shipped splits are {available_splits()}")
    raw = json.loads((resources.files("nitrogen_envs") / "data" / "splits" / f"{name}.json").read_text())
    games = {game.name: game for game in all_games()}
    unknown = [game for game in raw["held_out"] if game not in games]
    if unknown:
        raise SplitError(f"split {name!r} holds out games the registry does not have: {unknown}")
    held = tuple(raw["held_out"])
    held_engines = {games[g].engine for g in held}
    held_genres = {games[g].genre for g in held}
    missing = sorted(({game.engine for game in games.values()} - held_engines) | (set(GENRES) - held_genres))
    if missing:
        raise SplitError(f"split {name!r} holds out no game of {missing}; every engine and genre must be covered")
    pretrain = tuple(game for game in games if game not in held)
    return GameSplit(name=str(raw["name"]), version=int(raw["version"]), held_out=held, pretrain=pretrain)


def dataset_games(folder: str | Path) -> set[str]:
    """The game names a dataset folder declares in ``meta/info.json``.

    Every episode's game is listed there, overlay corpora included (``build-corpus --game NAME`` stores the
    name with each episode).

    Raises:
        HeldOutGameLeak: the folder has no ``meta/info.json`` (its games cannot be checked).
    """
    info = Path(folder) / "meta" / "info.json"
    if not info.is_file():
        raise HeldOutGameLeak(f"{folder}: no meta/info.json, so its games cannot be checked against the split")
    return {str(game) for game in json.loads(info.read_text()).get("games", [])}


def check_pretraining_data(folders: list[str | Path], split: GameSplit | str = DEFAULT_SPLIT) -> None:
    """Refuse pretraining data that contains a held-out game or an unnamed one.

    Raises:
        HeldOutGameLeak: names the folder and the offending games.
    """
    split = load_split(split) if isinstance(split, str) else split
    for folder in folders:
        games = dataset_games(folder)
        if UNKNOWN_GAME in games:
            raise HeldOutGameLeak(
                f"{folder}: has episodes of an unnamed game ({UNKNOWN_GAME}); build the corpus with --game NAME "
                f"so it can be checked against split {split.name!r}"
            )
        leaked = sorted(game for game in games if game in split.held_out)
        if leaked:
            raise HeldOutGameLeak(
                f"{folder}: contains {leaked}, held out by split {split.name!r}; pretraining may only use "
                f"{split.name}'s pretraining games"
            )
