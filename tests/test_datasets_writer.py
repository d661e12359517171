"""Writer: exact round trip, atomic and resumable episodes, survives SIGKILL mid-episode."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fixtures.dataset_factories import make_episodes, write_dataset

from nitrogen_datasets.errors import DatasetNeedsRepair, IncompatibleDataset, InvalidEpisode
from nitrogen_datasets.format import COLUMNS, TMP_SUFFIX, episode_paths, load_info
from nitrogen_datasets.reader import DemoDataset, ReaderConfig
from nitrogen_datasets.writer import DatasetWriter, WriterConfig

# Measured on CoinRun 32x32 with yuv420p, crf 18: mean abs error 2.2 (of 255). 4 leaves room for codec builds.
FRAME_MAE_TOLERANCE = 4.0


@pytest.fixture(scope="module")
def episodes():
    return make_episodes(count=2, steps=8)


def test_round_trip_is_exact_for_actions_and_rewards_and_close_for_frames(tmp_path, episodes):
    root = write_dataset(tmp_path / "demos", episodes)
    data = DemoDataset(root, ReaderConfig(action_chunk=1))
    assert len(data) == sum(len(ep.frames) for ep in episodes)
    errors = []
    for position, ep in enumerate(episodes):
        table = data.read_episode_table(position)
        assert table.column("frame_index").to_pylist() == list(range(len(ep.frames)))
        np.testing.assert_array_equal(table.column("reward").to_numpy(), ep.rewards)
        assert table.column("game").to_pylist() == [ep.game] * len(ep.frames)
        for t in range(len(ep.frames)):
            sample = data[int(data._starts[position]) + t]
            np.testing.assert_array_equal(sample["actions"][0].numpy(), ep.actions[t])
            frame = sample["frame"].numpy()
            assert frame.shape == ep.frames[t].shape and frame.dtype == np.uint8
            errors.append(np.abs(frame.astype(np.int16) - ep.frames[t]).mean())
    assert np.mean(errors) < FRAME_MAE_TOLERANCE, f"mean abs frame error {np.mean(errors):.2f}"


def test_info_lists_checksums_counts_and_names(tmp_path, episodes):
    info = load_info(write_dataset(tmp_path / "demos", episodes))
    assert info.total_episodes == 2 and info.total_frames == 16
    assert info.games == ("CoinRun",) and info.frame_height == info.frame_width == 32
    assert all(len(ep.parquet_sha256) == 64 and len(ep.video_sha256) == 64 for ep in info.episodes)


def test_parquet_columns_are_the_format_schema_in_order(tmp_path, episodes):
    import pyarrow.parquet as pq

    root = write_dataset(tmp_path / "demos", episodes)
    for index in range(len(episodes)):
        assert pq.read_schema(root / episode_paths(index)[0]).names == list(COLUMNS)


def test_reopening_appends_after_finished_episodes(tmp_path, episodes):
    root = write_dataset(tmp_path / "demos", episodes[:1])
    write_dataset(root, episodes[1:])
    info = load_info(root)
    assert [ep.episode_index for ep in info.episodes] == [0, 1]
    assert len(DemoDataset(root)) == 16


def test_reopening_removes_only_its_own_partial_files(tmp_path, episodes):
    root = write_dataset(tmp_path / "demos", episodes[:1])
    stray = root / "videos/chunk-000" / ("episode_000001.mp4" + TMP_SUFFIX)
    stray.write_bytes(b"half an episode")
    note = root / "videos/chunk-000/notes.txt"
    note.write_text("a user's file")
    DatasetWriter(root, WriterConfig(fps=15)).close()
    assert not stray.exists() and note.exists()
    assert load_info(root).total_episodes == 1


def test_unlisted_episode_files_are_refused_not_deleted(tmp_path, episodes):
    """The old writer deleted every parquet and mp4 that info.json did not list (a stale copy lost episodes)."""
    root = write_dataset(tmp_path / "demos", episodes[:1])
    orphan = root / "data/chunk-000/episode_000001.parquet"
    orphan.write_bytes(b"an episode info.json does not know about")
    with pytest.raises(DatasetNeedsRepair, match=r"does not list them.*nitrogen data repair"):
        DatasetWriter(root, WriterConfig(fps=15))
    assert orphan.read_bytes() == b"an episode info.json does not know about"
    assert load_info(root).total_episodes == 1


def test_writer_rejects_other_fps_and_frame_size(tmp_path, episodes):
    root = write_dataset(tmp_path / "demos", episodes[:1])
    with pytest.raises(IncompatibleDataset, match="recorded at 15 fps"):
        DatasetWriter(root, WriterConfig(fps=30))
    writer = DatasetWriter(root, WriterConfig(fps=15))
    small = np.zeros((3, 16, 16, 3), dtype=np.uint8)
    with pytest.raises(IncompatibleDataset, match=r"16x16 but .* holds 32x32"):
        writer.add_episode(small, np.zeros((3, 21), np.float32), game="CoinRun", task="hard")
    with pytest.raises(InvalidEpisode, match="got 3 frames, 2 actions"):
        writer.add_episode(small, np.zeros((2, 21), np.float32), game="CoinRun", task="hard")
    assert load_info(root).total_episodes == 1
    assert not list(root.rglob("*" + TMP_SUFFIX))


def test_writer_rejects_out_of_range_action_naming_the_field(tmp_path, episodes):
    writer = DatasetWriter(tmp_path / "demos")
    bad = episodes[0].actions.copy()
    bad[2, 4] = 2.0  # left_trigger
    with pytest.raises(ValueError, match="left_trigger"):
        writer.add_episode(episodes[0].frames, bad, game="CoinRun", task="hard")


_KILLED_WRITER = """
import sys, time
import numpy as np
sys.path.insert(0, {tests!r})
from fixtures.dataset_factories import make_episodes, write_dataset
from nitrogen_datasets.writer import DatasetWriter, WriterConfig
episodes = make_episodes(count=3, steps=8)
write_dataset({root!r}, episodes[:2])
writer = DatasetWriter({root!r}, WriterConfig(fps=15))
episode = writer.start_episode("CoinRun", "hard", "random")
for t in range(64):  # enough frames for x264's lookahead to emit packets, so the partial mp4 exists
    episode.add(episodes[2].frames[t % 8], episodes[2].actions[t % 8], 0.0)
print("MID-EPISODE", flush=True)
time.sleep(60)
"""


@pytest.mark.slow  # a child writer process, killed: 42 s on 2 busy shared cores
def test_sigkill_mid_episode_keeps_every_finished_episode(tmp_path):
    root = tmp_path / "demos"
    code = _KILLED_WRITER.format(tests=str(Path(__file__).parent), root=str(root))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "MID-EPISODE", f"writer did not reach the episode: {line!r}"
        time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert list(root.rglob("*" + TMP_SUFFIX)), "the killed episode should have left a partial video"
    data = DemoDataset(root, ReaderConfig(verify="checksum"))  # no half-written episode is visible
    assert len(data.episodes) == 2 and len(data) == 16
    _ = data[15]
    writer = DatasetWriter(root, WriterConfig(fps=15))  # resumes: cleans the partial files and appends
    assert not list(root.rglob("*" + TMP_SUFFIX))
    frames = np.zeros((4, 32, 32, 3), dtype=np.uint8)
    writer.add_episode(frames, np.zeros((4, 21), np.float32), game="CoinRun", task="hard")
    assert load_info(root).total_episodes == 3


def test_writer_converts_a_version_1_dataset_and_keeps_its_episodes(tmp_path, episodes):
    import json

    from nitrogen_datasets.format import EPISODES_PATH, INFO_PATH, LEGACY_FORMAT_VERSION

    root = write_dataset(tmp_path / "demos", episodes[:1])
    old = load_info(root)
    # The version-1 layout, made here: every episode inside info.json, no episodes.jsonl.
    (root / INFO_PATH).write_text(json.dumps({**old.to_dict(), "format_version": LEGACY_FORMAT_VERSION}))
    (root / EPISODES_PATH).unlink()
    assert len(DemoDataset(root)) == 8
    write_dataset(root, episodes[1:])
    info = load_info(root)
    assert json.loads((root / INFO_PATH).read_text())["format_version"] == info.format_version == 2
    assert info.episodes[0] == old.episodes[0] and info.total_episodes == 2
    assert len(DemoDataset(root)) == 16
