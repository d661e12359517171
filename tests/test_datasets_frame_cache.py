"""The frame cache: decoded once, the same samples as decoding, reused, renamed by content, refused clearly."""

import pickle
import shutil
from collections import namedtuple

import numpy as np
import pytest
import torch
from fixtures.dataset_factories import make_episodes, write_dataset

from nitrogen_datasets import frame_cache
from nitrogen_datasets.frame_cache import FrameCacheError
from nitrogen_datasets.reader import DemoDataset, ReaderConfig
from nitrogen_datasets.video_io import VideoReader


@pytest.fixture(scope="module")
def episodes():
    return make_episodes(count=3, steps=8)


@pytest.fixture(scope="module")
def root(tmp_path_factory, episodes):
    return write_dataset(tmp_path_factory.mktemp("frame_cache") / "demos", episodes)


def _same_samples(a: DemoDataset, b: DemoDataset) -> None:
    assert len(a) == len(b)
    for index in np.random.default_rng(0).permutation(len(a)).tolist():
        x, y = a[index], b[index]
        assert x.keys() == y.keys()
        for key in x:
            assert torch.equal(x[key], y[key]), (index, key)


def test_cached_samples_equal_decoded_ones_and_a_reopen_decodes_nothing(root, tmp_path, monkeypatch):
    plain = DemoDataset(root, ReaderConfig(action_chunk=5))
    cached = DemoDataset(root, ReaderConfig(action_chunk=5, frame_cache=str(tmp_path)))
    _same_samples(cached, plain)
    assert len(list(tmp_path.glob("*.frames.npy"))) == 1 and not list(tmp_path.glob("*.partial"))

    def no_decoding(*args, **kwargs):
        raise AssertionError("a complete cache must not be decoded again")

    monkeypatch.setattr(VideoReader, "read", no_decoding)
    monkeypatch.setattr(DemoDataset, "_episode_actions", no_decoding)
    reopened = DemoDataset(root, ReaderConfig(action_chunk=5, frame_cache=str(tmp_path)))
    assert torch.equal(reopened[len(reopened) - 1]["frame"], cached[len(cached) - 1]["frame"])


def test_other_content_gets_another_cache_file(root, episodes, tmp_path):
    DemoDataset(root, ReaderConfig(frame_cache=str(tmp_path / "cache")))
    fewer = write_dataset(tmp_path / "fewer", episodes[:2])
    DemoDataset(fewer, ReaderConfig(frame_cache=str(tmp_path / "cache")))
    assert len(list((tmp_path / "cache").glob("*.frames.npy"))) == 2


def test_a_cache_of_the_wrong_shape_is_rebuilt(root, tmp_path):
    DemoDataset(root, ReaderConfig(frame_cache=str(tmp_path)))
    (path,) = tmp_path.glob("*.frames.npy")
    np.save(path, np.zeros((2, 2), np.uint8))  # damaged or foreign: never mapped as frames
    rebuilt = DemoDataset(root, ReaderConfig(frame_cache=str(tmp_path)))
    _same_samples(rebuilt, DemoDataset(root))


def test_a_pickled_dataset_carries_no_frames_and_maps_the_cache_again(root, tmp_path):
    cached = DemoDataset(root, ReaderConfig(frame_cache=str(tmp_path)))
    frames_bytes = sum(path.stat().st_size for path in tmp_path.glob("*.frames.npy"))
    copy = pickle.loads(pickle.dumps(cached))  # what a spawned DataLoader worker gets
    assert len(pickle.dumps(cached)) < frames_bytes
    _same_samples(copy, cached)


def test_dataloader_workers_read_the_cache(root, tmp_path):
    data = DemoDataset(root, ReaderConfig(action_chunk=4, frame_cache=str(tmp_path)))
    loader = torch.utils.data.DataLoader(data, batch_size=4, num_workers=2, shuffle=True)
    seen = [key for batch in loader for key in (batch["episode_index"] * 100 + batch["frame_index"]).tolist()]
    assert sorted(seen) == [e * 100 + t for e in range(3) for t in range(8)]


def test_too_little_disk_is_one_clear_error(root, tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(1 << 30, 1 << 30, 1024))
    with pytest.raises(FrameCacheError, match=r"needs .* GiB in .* free some space or choose another folder"):
        DemoDataset(root, ReaderConfig(frame_cache=str(tmp_path)))
    assert not list(tmp_path.glob("*.npy*"))


def test_a_folder_that_cannot_be_made_is_one_clear_error(root, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(FrameCacheError, match=r"cannot write the frame cache in .*choose another folder"):
        DemoDataset(root, ReaderConfig(frame_cache=str(blocker / "cache")))


def test_auto_is_the_user_cache_folder(root, tmp_path, monkeypatch):
    monkeypatch.setenv(frame_cache.CACHE_ENV, str(tmp_path / "nitrogen"))
    DemoDataset(root, ReaderConfig(frame_cache="auto"))
    assert list((tmp_path / "nitrogen" / "frames").glob("*.frames.npy"))


def test_a_failed_build_leaves_no_partial_files(root, tmp_path, monkeypatch):
    def broken(self, index):
        raise KeyboardInterrupt

    monkeypatch.setattr(VideoReader, "read", broken)
    with pytest.raises(KeyboardInterrupt):
        DemoDataset(root, ReaderConfig(frame_cache=str(tmp_path)))
    assert not list(tmp_path.glob("*.npy*"))


def test_a_truncated_cache_is_rebuilt_not_read(root, tmp_path):
    DemoDataset(root, ReaderConfig(frame_cache=str(tmp_path)))
    (path,) = tmp_path.glob("*.frames.npy")
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size - 100)
    rebuilt = DemoDataset(root, ReaderConfig(frame_cache=str(tmp_path)))
    _same_samples(rebuilt, DemoDataset(root))
