"""The unseen-v1 split: held-out games cover every engine and genre, and never enter pretraining data."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from fixtures.dataset_factories import make_episodes, write_dataset

from nitrogen_envs.registry import GENRES, UNKNOWN_GAME, all_games
from nitrogen_envs.splits import (
    HeldOutGameLeak,
    SplitError,
    available_splits,
    check_pretraining_data,
    load_split,
)


def test_unseen_v1_holds_out_at_least_eight_games_of_every_engine_and_genre() -> None:
    split = load_split("unseen-v1")
    games = {game.name: game for game in all_games()}
    assert len(split.held_out) >= 8
    assert {games[g].engine for g in split.held_out} == {g.engine for g in games.values()}
    assert {games[g].genre for g in split.held_out} == set(GENRES)
    assert set(split.held_out).isdisjoint(split.pretrain)
    assert set(split.held_out) | set(split.pretrain) == set(games)
    assert split.is_held_out("NitroGen/Maze-v0") and not split.is_held_out("CoinRun")


def test_unknown_split_names_the_shipped_ones() -> None:
    assert "unseen-v1" in available_splits()
    with pytest.raises(SplitError, match="unseen-v1"):
        load_split("unseen-v9")


def _dataset_of(root: Path, game: str) -> Path:
    episodes = [dataclasses.replace(ep, game=game) for ep in make_episodes(count=1, steps=4)]
    return write_dataset(root, episodes)


def test_pretraining_data_of_pretraining_games_passes(tmp_path: Path) -> None:
    check_pretraining_data([_dataset_of(tmp_path / "coinrun", "CoinRun")], "unseen-v1")


def test_held_out_game_cannot_enter_pretraining_data(tmp_path: Path) -> None:
    good = _dataset_of(tmp_path / "coinrun", "CoinRun")
    leak = _dataset_of(tmp_path / "maze", "Maze")
    with pytest.raises(HeldOutGameLeak, match=r"maze.*'Maze'.*unseen-v1"):
        check_pretraining_data([good, leak], "unseen-v1")


def test_unnamed_game_and_unreadable_folder_are_refused(tmp_path: Path) -> None:
    unnamed = _dataset_of(tmp_path / "overlay", UNKNOWN_GAME)
    with pytest.raises(HeldOutGameLeak, match="--game"):
        check_pretraining_data([unnamed])
    with pytest.raises(HeldOutGameLeak, match=r"info\.json"):
        check_pretraining_data([tmp_path / "empty"])
