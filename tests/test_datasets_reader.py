"""Reader: action chunks and masks at episode ends, frame-accurate random access, corrupt files, workers, mixtures."""

import logging

import numpy as np
import pytest
import torch
from fixtures.dataset_factories import make_episodes, write_dataset

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
    with pytest.raises(CorruptEpisode, match=r"episode_000001\.mp4 \(episode 1\) is corrupt or truncated") as err:
        DemoDataset(copy)
    assert err.value.path == str(video) and err.value.episode_index == 1


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
