"""Reader: action chunks and masks at episode ends, frame-accurate random access, corrupt files, workers, mixtures."""

import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from fixtures.dataset_factories import make_episodes, write_dataset

from nitrogen_datasets import verify
from nitrogen_datasets.errors import CorruptEpisode
from nitrogen_datasets.format import episode_paths
from nitrogen_datasets.mixture import DemoMixture
from nitrogen_datasets.reader import DemoDataset, ReaderConfig
from nitrogen_datasets.writer import DatasetWriter, WriterConfig
from nitrogen_envs import gamepad


@pytest.fixture(scope="module")
def episodes():
    return make_episodes(count=2, steps=8)


@pytest.fixture(scope="module")
def root(tmp_path_factory, episodes):
    return write_dataset(tmp_path_factory.mktemp("reader") / "demos", episodes)


def test_action_chunk_and_mask_stop_at_the_episode_end(root, episodes):
    data = DemoDataset(root, ReaderConfig(action_chunk=5))
    for index in range(len(data)):
        sample = data[index]
        ep = episodes[index // 8]
        t = index % 8
        real = min(5, 8 - t)
        assert sample["actions"].shape == (5, 21) and sample["actions"].dtype == torch.float32
        assert sample["action_mask"].tolist() == [True] * real + [False] * (5 - real)
        np.testing.assert_array_equal(sample["actions"][:real].numpy(), ep.actions[t : t + real])
        # Padding is the no-op action, never the next episode's actions.
        np.testing.assert_array_equal(sample["actions"][real:].numpy(), np.tile(gamepad.noop_flat(), (5 - real, 1)))
        assert int(sample["episode_index"]) == index // 8 and int(sample["frame_index"]) == t
        assert data.game_names[int(sample["game_id"])] == "CoinRun"
        assert data.task_names[int(sample["task_id"])] == ep.task


def test_random_access_returns_the_same_frames_as_sequential_reads(root):
    sequential = [DemoDataset(root)[i]["frame"] for i in range(16)]
    data = DemoDataset(root, ReaderConfig(cache_episodes=1))
    for index in np.random.default_rng(0).permutation(16).tolist() * 2:
        assert torch.equal(data[index]["frame"], sequential[index]), index


def test_dataloader_with_two_workers_yields_every_sample_once(root):
    data = DemoDataset(root, ReaderConfig(action_chunk=16))
    _ = data[3]  # an open container in the parent must not leak into the workers
    loader = torch.utils.data.DataLoader(data, batch_size=4, num_workers=2, shuffle=True)
    seen = []
    for batch in loader:
        assert batch["frame"].shape[1:] == (32, 32, 3) and batch["actions"].shape[1:] == (16, 21)
        seen += (batch["episode_index"] * 100 + batch["frame_index"]).tolist()
    assert sorted(seen) == [e * 100 + t for e in range(2) for t in range(8)]


def _copy(root, tmp_path):
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(root, target)
    return target


def test_truncated_mp4_raises_an_error_naming_the_file(root, tmp_path):
    copy = _copy(root, tmp_path)
    video = copy / episode_paths(1)[1]
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    with pytest.raises(CorruptEpisode, match=r"episode_000001\.mp4 fails its sha256 check \(episode 1\)") as err:
        DemoDataset(copy)
    assert err.value.path == str(video) and err.value.episode_index == 1
    with pytest.raises(CorruptEpisode, match=r"episode_000001\.mp4 \(episode 1\) is corrupt or truncated"):
        DemoDataset(copy, ReaderConfig(verify="header"))


def _flip(path, position):
    """Invert one byte in place and put the old mtime back, as a careless copy tool would."""
    before = path.stat()
    raw = bytearray(path.read_bytes())
    raw[position] ^= 0xFF
    path.write_bytes(bytes(raw))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def _age(root, seconds=3600):
    """Date every file of a dataset back, as if written an hour ago (recent files are always re-hashed)."""
    old = (os.stat(root).st_mtime_ns - seconds * 10**9,) * 2
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, ns=old)


@pytest.fixture
def hashes(monkeypatch):
    """Counts the files hashed (the cache's whole point is that this stays 0 for an unchanged dataset)."""
    calls = []

    def counting(path, *args):
        calls.append(str(path))
        return real(path, *args)

    real = verify.file_sha256
    monkeypatch.setattr(verify, "file_sha256", counting)
    monkeypatch.setattr(verify, "_MEMORY", {})
    return calls


@pytest.mark.parametrize("fraction", [0.0, 0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0])
def test_default_reader_refuses_a_flipped_byte_anywhere_in_the_mp4(root, tmp_path, fraction):
    DemoDataset(root)  # a verified.json copied along with the dataset must vouch for nothing
    copy = _copy(root, tmp_path)
    video = copy / episode_paths(1)[1]
    _flip(video, min(int(fraction * video.stat().st_size), video.stat().st_size - 1))
    with pytest.raises(CorruptEpisode, match=r"episode_000001\.mp4") as err:
        DemoDataset(copy)
    assert err.value.path == str(video)


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.6, 1.0])
def test_default_reader_refuses_a_flipped_byte_in_the_parquet(root, tmp_path, fraction):
    copy = _copy(root, tmp_path)
    table = copy / episode_paths(0)[0]
    _flip(table, min(int(fraction * table.stat().st_size), table.stat().st_size - 1))
    with pytest.raises(CorruptEpisode, match=r"episode_000000\.parquet fails its sha256 check"):
        DemoDataset(copy)


def test_verification_is_remembered_until_the_file_changes(root, tmp_path, hashes):
    copy = _copy(root, tmp_path)
    _age(copy)
    DemoDataset(copy)
    assert len(hashes) == 4  # 2 episodes x (parquet, mp4)
    DemoDataset(copy)[0]
    assert len(hashes) == 4  # same process: remembered in memory
    verify._MEMORY.clear()
    DemoDataset(copy)[0]
    assert len(hashes) == 4  # a new process: remembered in meta/verified.json
    video = copy / episode_paths(1)[1]
    before = verify.FileStamp.of(video)
    _flip(video, video.stat().st_size // 2)
    assert verify.FileStamp.of(video) != before  # ctime moved although size and mtime did not
    with pytest.raises(CorruptEpisode, match=r"episode_000001\.mp4 fails its sha256 check"):
        DemoDataset(copy)
    assert hashes[-1] == str(video) and len(hashes) == 5


def test_recently_written_files_are_hashed_on_every_open(root, tmp_path, hashes):
    copy = _copy(root, tmp_path)
    _age(copy)
    for path in copy.rglob("*.mp4"):
        os.utime(path)  # now: a same-tick write could keep the stamp, so no stamp vouches for it
    DemoDataset(copy)
    DemoDataset(copy)
    assert sum(p.endswith(".mp4") for p in hashes) == 4 and sum(p.endswith(".parquet") for p in hashes) == 2


def test_a_file_changed_after_the_dataset_opened_is_caught_when_read(root, tmp_path, hashes):
    copy = _copy(root, tmp_path)
    _age(copy)
    data = DemoDataset(copy)
    data[0]
    assert len(hashes) == 4
    _flip(copy / episode_paths(1)[1], 100)
    _flip(copy / episode_paths(1)[0], 100)
    with pytest.raises(CorruptEpisode, match=r"episode_000001\.parquet fails its sha256 check"):
        data[8]
    data._stamps.pop(episode_paths(1)[0])  # stop checking the parquet: the video is caught on its own
    with pytest.raises(CorruptEpisode, match=r"episode_000001\.mp4 fails its sha256 check"):
        data[8]
    data[1]  # an unchanged, already open episode is not hashed again
    assert len(hashes) == 6


def test_verify_none_reads_without_hashing(root, hashes):
    data = DemoDataset(root, ReaderConfig(verify="none"))
    assert data[0]["frame"].shape == (32, 32, 3) and len(data) == 16
    assert hashes == []


def test_a_fifo_in_place_of_a_video_is_refused_not_waited_on(root, tmp_path):
    copy = _copy(root, tmp_path)
    video = copy / episode_paths(0)[1]
    video.unlink()
    os.mkfifo(video)
    with pytest.raises(CorruptEpisode, match=r"episode_000000\.mp4 .*not a regular file"):
        DemoDataset(copy)


def test_a_damaged_verified_json_is_ignored(root, tmp_path, hashes):
    copy = _copy(root, tmp_path)
    _age(copy)
    (copy / verify.VERIFIED_PATH).write_text("[" * 100_000)
    assert len(DemoDataset(copy)) == 16 and len(hashes) == 4
    (copy / verify.VERIFIED_PATH).write_text('{"version": 1, "files": {"a": [1, 2], "b": "x"}}')
    verify._MEMORY.clear()
    assert len(DemoDataset(copy)) == 16 and len(hashes) == 8


def test_a_bug_while_reading_keeps_its_traceback(root, monkeypatch):
    data = DemoDataset(root, ReaderConfig(verify="none"))

    def broken(self, index):
        raise TypeError("a bug, not a damaged file")

    monkeypatch.setattr("nitrogen_datasets.reader.VideoReader.read", broken)
    with pytest.raises(TypeError, match="a bug"):
        data[0]


def test_verify_dataset_hashes_everything_and_needs_no_torch(root, tmp_path):
    copy = _copy(root, tmp_path)
    _age(copy)
    DemoDataset(copy)  # remembered: the CLI check must hash anyway, to catch bytes rotted behind the stamp
    _flip(copy / episode_paths(0)[1], 50)
    stamp = verify.FileStamp.of(copy / episode_paths(0)[1])
    rel = episode_paths(0)[1]
    cached = verify._read_cache(copy / verify.VERIFIED_PATH)
    cached[rel] = (stamp, cached[rel][1])  # as if the disk had changed the bytes without a write
    files = {key: [*value[0], value[1]] for key, value in cached.items()}
    (copy / verify.VERIFIED_PATH).write_text(json.dumps({"version": 1, "files": files}))
    verify._MEMORY.clear()
    DemoDataset(copy)  # the documented blind spot of the cache
    ok, problems = verify.verify_dataset(copy)
    assert ok == 1 and [p.episode_index for p in problems] == [0] and "episode_000000.mp4" in str(problems[0])
    code = "import sys, nitrogen_datasets.verify, nitrogen_datasets.cli; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_corrupt_episodes_are_skipped_with_a_warning_when_asked(root, tmp_path, caplog):
    copy = _copy(root, tmp_path)
    video = copy / episode_paths(0)[1]
    raw = bytearray(video.read_bytes())
    raw[len(raw) // 2 : len(raw) // 2 + 64] = bytes(64)  # same size, damaged payload: only the checksum sees it
    video.write_bytes(bytes(raw))
    with pytest.raises(CorruptEpisode, match=r"episode_000000\.mp4 fails its sha256 check"):
        DemoDataset(copy, ReaderConfig(verify="checksum"))
    with caplog.at_level(logging.WARNING):
        data = DemoDataset(copy, ReaderConfig(verify="checksum", skip_corrupt=True))
    assert [ep.episode_index for ep in data.episodes] == [1] and len(data) == 8
    assert "skipping episode 0" in caplog.text and "episode_000000.mp4" in caplog.text
    assert int(data[0]["episode_index"]) == 1


def test_truncated_parquet_is_reported_when_read_lazily(root, tmp_path):
    copy = _copy(root, tmp_path)
    table = copy / episode_paths(0)[0]
    table.write_bytes(table.read_bytes()[:100])
    data = DemoDataset(copy, ReaderConfig(verify="none"))
    with pytest.raises(CorruptEpisode, match=r"episode_000000\.parquet"):
        data[0]


def test_mixture_remaps_game_ids_and_samples_by_weight(root, tmp_path, episodes):
    other = tmp_path / "other"
    with DatasetWriter(other, WriterConfig(fps=15)) as writer:
        ep = episodes[0]
        writer.add_episode(ep.frames, ep.actions, ep.rewards, game="Climber", task="easy")
    mixture = DemoMixture([DemoDataset(root), DemoDataset(other)], weights=[0.0, 1.0])
    assert mixture.game_names == ("Climber", "CoinRun") and len(mixture) == 24
    sample = mixture[20]
    assert mixture.game_names[int(sample["game_id"])] == "Climber"
    assert mixture.task_names[int(sample["task_id"])] == "easy"
    assert mixture.game_names[int(mixture[0]["game_id"])] == "CoinRun"
    drawn = list(mixture.sampler(num_samples=50, seed=0))
    assert len(drawn) == 50 and all(16 <= i < 24 for i in drawn)
    assert drawn == list(mixture.sampler(num_samples=50, seed=0))
    loader = torch.utils.data.DataLoader(mixture, batch_size=5, sampler=mixture.sampler(10, seed=1))
    assert sum(len(batch["frame"]) for batch in loader) == 10


def test_reader_config_rejects_bad_values():
    with pytest.raises(ValueError, match="action_chunk must be >= 1, got 0"):
        ReaderConfig(action_chunk=0)
    with pytest.raises(ValueError, match="verify must be one of"):
        ReaderConfig(verify="full")
