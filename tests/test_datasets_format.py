"""meta/info.json and meta/episodes.jsonl: validated, JSON round trip, append-only, version 1 still read."""

import json
import logging

import pytest

from nitrogen_datasets.errors import DatasetNotFound, FormatVersionMismatch, InvalidDatasetInfo, SchemaVersionMismatch
from nitrogen_datasets.format import (
    EPISODES_PATH,
    FORMAT_VERSION,
    INFO_PATH,
    LEGACY_FORMAT_VERSION,
    DatasetInfo,
    EpisodeInfo,
    append_episode,
    load_info,
    save_info,
)
from nitrogen_envs import gamepad


def _info() -> DatasetInfo:
    info = DatasetInfo(fps=15, frame_height=32, frame_width=48)
    return info.with_episode(EpisodeInfo(0, 8, "CoinRun", "hard", "random", "a" * 64, "b" * 64))


def test_info_round_trips_through_json_file(tmp_path):
    info = _info()
    save_info(tmp_path, info)
    assert load_info(tmp_path) == info
    data = json.loads((tmp_path / INFO_PATH).read_text())
    assert data["action_names"] == list(gamepad.FLAT_NAMES)
    assert data["schema_version"] == gamepad.SCHEMA_VERSION
    assert data["total_frames"] == 8 and data["games"] == ["CoinRun"]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"fps": 0}, "fps must be a positive integer, got 0"),
        ({"frame_width": -3}, "frame_width must be a positive integer, got -3"),
        ({"action_names": ["a"]}, "action_names must be nitrogen_envs.gamepad.FLAT_NAMES"),
        ({"total_frames": 9}, "total_frames is 9 but the episodes hold 8"),
        ({"games": []}, "game 'CoinRun' is not in games"),
        ({"video_pix_fmt": "rgb24"}, "video_pix_fmt must be"),
    ],
    ids=["fps", "frame_width", "action_names", "total_frames", "games", "pix_fmt"],
)
def test_info_rejects_bad_values_with_the_field_named(change, match):
    data = {**_info().to_dict(), **change}
    with pytest.raises(InvalidDatasetInfo, match=match):
        DatasetInfo.from_dict(data)


def test_info_warns_on_unknown_keys_instead_of_failing(caplog):
    data = {**_info().to_dict(), "added_by_a_newer_writer": 1}
    with caplog.at_level(logging.WARNING):
        info = DatasetInfo.from_dict(data)
    assert info == _info()
    assert "added_by_a_newer_writer" in caplog.text


def test_loader_rejects_other_format_version_and_says_what_to_do(tmp_path):
    save_info(tmp_path, _info())
    path = tmp_path / INFO_PATH
    path.write_text(json.dumps({**json.loads(path.read_text()), "format_version": FORMAT_VERSION + 1}))
    with pytest.raises(FormatVersionMismatch, match=rf"format_version {FORMAT_VERSION + 1}.*upgrade nitrogen-gym"):
        load_info(tmp_path)


def test_loader_rejects_other_schema_version_and_says_how_to_convert(tmp_path):
    save_info(tmp_path, _info())
    path = tmp_path / INFO_PATH
    path.write_text(json.dumps({**json.loads(path.read_text()), "schema_version": 0}))
    with pytest.raises(SchemaVersionMismatch, match=r"schema_version 0.*SCHEMA_VERSION 1.*convert"):
        load_info(tmp_path)


def test_loader_on_empty_folder_says_how_to_create_a_dataset(tmp_path):
    with pytest.raises(DatasetNotFound, match=r"meta/info\.json is missing"):
        load_info(tmp_path)


def test_info_is_frozen():
    with pytest.raises(AttributeError):
        _info().fps = 30  # type: ignore[misc]


def _episode(index: int, game: str = "CoinRun") -> EpisodeInfo:
    return EpisodeInfo(index, 8, game, "hard", "random", "a" * 64, "b" * 64, seed=index)


def _appended(root, count: int) -> DatasetInfo:
    info = DatasetInfo(fps=15, frame_height=32, frame_width=48)
    for index in range(count):
        info = info.with_episode(_episode(index))
        append_episode(root, info)
    return info


def test_appending_adds_one_line_and_leaves_info_json_the_same_size(tmp_path):
    _appended(tmp_path, 2)  # 16 frames, 2 episodes: as many digits as 72 frames, 9 episodes
    size_after_two = (tmp_path / INFO_PATH).stat().st_size
    info = _appended(tmp_path / "longer", 9)
    assert (tmp_path / "longer" / INFO_PATH).stat().st_size == size_after_two
    data = json.loads((tmp_path / "longer" / INFO_PATH).read_text())
    assert "episodes" not in data and data["total_episodes"] == 9 and data["games"] == ["CoinRun"]
    lines = (tmp_path / "longer" / EPISODES_PATH).read_text().splitlines()
    assert [json.loads(line)["episode_index"] for line in lines] == list(range(9))
    assert load_info(tmp_path / "longer") == info


def test_a_torn_last_line_is_never_read_and_the_next_append_cuts_it(tmp_path):
    info = _appended(tmp_path, 2)
    path = tmp_path / EPISODES_PATH
    with open(path, "ab") as handle:  # a crash part-way through appending episode 2
        handle.write(b'{"episode_index":2,"length":8,"ga')
    assert load_info(tmp_path) == info
    info = info.with_episode(_episode(2))
    append_episode(tmp_path, info)
    assert load_info(tmp_path) == info
    assert path.read_bytes().count(b"\n") == 3 and b'"ga{' not in path.read_bytes()


def test_with_episode_refuses_an_index_out_of_order():
    with pytest.raises(InvalidDatasetInfo, match="next episode must have episode_index 1, got 2"):
        _info().with_episode(_episode(2))


def test_a_version_1_dataset_with_episodes_inside_info_json_still_reads(tmp_path):
    info = _info().with_episode(_episode(1, game="Maze"))
    (tmp_path / "meta").mkdir()
    (tmp_path / INFO_PATH).write_text(json.dumps({**info.to_dict(), "format_version": LEGACY_FORMAT_VERSION}))
    loaded = load_info(tmp_path)
    assert loaded.format_version == LEGACY_FORMAT_VERSION
    assert loaded.episodes == info.episodes and loaded.games == ("CoinRun", "Maze")


def test_a_lost_episodes_file_is_an_error_naming_repair(tmp_path):
    _appended(tmp_path, 2)
    (tmp_path / EPISODES_PATH).unlink()
    with pytest.raises(InvalidDatasetInfo, match=r"episodes.jsonl is missing but meta/info.json counts 2.*repair"):
        load_info(tmp_path)


def test_a_damaged_episode_line_names_the_file_and_line(tmp_path):
    _appended(tmp_path, 2)
    path = tmp_path / EPISODES_PATH
    path.write_bytes(path.read_bytes().replace(b'"length":8', b'"length":0', 1))
    with pytest.raises(InvalidDatasetInfo, match=r"episode 0: length must be >= 1"):
        load_info(tmp_path)
