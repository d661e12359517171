"""build-corpus: overlay videos in, one demonstrations dataset out; bad videos skipped and reported; resumable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("cv2")
pytest.importorskip("av")
pytest.importorskip("pyarrow")

from fixtures.overlay_factories import gameplay, random_actions

from nitrogen_datasets.format import load_info
from nitrogen_datasets.overlay.corpus import MANIFEST, CorpusConfig, build_corpus
from nitrogen_datasets.overlay.styles import OverlayStyle, preset_styles
from nitrogen_datasets.overlay.video import render_overlay_video
from nitrogen_datasets.reader import DemoDataset
from nitrogen_datasets.writer import DatasetWriter

STYLE = OverlayStyle(**{**preset_styles()[6].__dict__, "opacity": 1.0, "scale": 1.0, "position": (0.9, 0.9)})


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("videos")
    for index in range(2):
        clip = render_overlay_video(
            gameplay(40, size=(270, 480), seed=index),
            random_actions(40, seed=index),
            STYLE,
            folder / f"stream{index}.mp4",
            fps=30,
            crf=23,
        )
    layout = clip.layout
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 8)
    return folder, layout


def test_corpus_holds_masked_episodes_and_skips_the_corrupt_video(videos, tmp_path):
    folder, layout = videos
    config = CorpusConfig(
        layout=str(layout), game="Stream", fps=15, obs_size=64, min_episode_frames=4, method="reference"
    )
    stats = build_corpus(folder, tmp_path / "corpus", config, workers=2, progress=False)
    assert (stats.processed, stats.failed, stats.skipped) == (3, 1, 0)
    assert stats.failures.get("broken.mp4")
    info = load_info(tmp_path / "corpus")
    assert info.total_episodes == stats.episodes >= 2
    assert info.games == ("Stream",) and {e.source for e in info.episodes} == {
        "overlay:stream0.mp4",
        "overlay:stream1.mp4",
    }
    assert info.frame_height == info.frame_width == 64 and info.fps == 15
    sample = DemoDataset(tmp_path / "corpus")[0]
    assert sample["frame"].shape == (64, 64, 3)
    # The (minimal-family) overlay covers x 279-449, y 160-252 of the 480x270 source frames: black in the corpus.
    inside = np.asarray(sample["frame"], dtype=np.float32)[40:58, 39:58]
    assert inside.mean() < 8, inside.mean()
    assert (tmp_path / "corpus" / MANIFEST).is_file()

    again = build_corpus(folder, tmp_path / "corpus", config, progress=False)
    assert (again.processed, again.skipped) == (0, 3)
    assert load_info(tmp_path / "corpus").total_episodes == info.total_episodes

    from dataclasses import replace

    from nitrogen_datasets.errors import IncompatibleDataset

    with pytest.raises(IncompatibleDataset, match="--obs-size 64") as refused:
        build_corpus(folder, tmp_path / "corpus", replace(config, obs_size=32), retry_failed=True, progress=False)
    # The refused build released the folder's lock (``refused`` keeps its frames alive, so a leak would show).
    DatasetWriter(tmp_path / "corpus").close()
    assert refused.value is not None


def test_a_folder_without_videos_is_refused_with_the_suffixes_looked_for(videos, tmp_path):
    from nitrogen_datasets.overlay.corpus import NoVideosFound

    _, layout = videos
    (tmp_path / "empty").mkdir()
    with pytest.raises(NoVideosFound, match=r"no videos found under .*\.mp4"):
        build_corpus(tmp_path / "empty", tmp_path / "corpus", CorpusConfig(layout=str(layout)), progress=False)
    assert not (tmp_path / "corpus").exists()  # refused before the dataset folder is created


def test_build_corpus_command_reports_failures(videos, tmp_path):
    from nitrogen_envs.cli import cli

    folder, layout = videos
    args = ["overlay", "build-corpus", str(folder), "--layout", str(layout), "--out", str(tmp_path / "c")]
    result = CliRunner().invoke(cli, [*args, "--obs-size", "32"])
    assert result.exit_code == 0, result.output
    assert "3 videos processed" in result.output and "1 failed" in result.output
    assert "failed: broken.mp4" in result.output
    assert np.isfinite(load_info(tmp_path / "c").total_frames)
