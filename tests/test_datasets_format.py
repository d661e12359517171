"""meta/info.json: validated, JSON round trip, forward compatible, version mismatches explained."""

import json
import logging

import pytest

from nitrogen_datasets.errors import DatasetNotFound, FormatVersionMismatch, InvalidDatasetInfo, SchemaVersionMismatch
from nitrogen_datasets.format import FORMAT_VERSION, INFO_PATH, DatasetInfo, EpisodeInfo, load_info, save_info
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
