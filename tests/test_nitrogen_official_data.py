"""NVIDIA's released NitroGen action dataset: import (with the user's videos) and export, on a synthetic shard.

The shard is made here: two 2-second chunks of one video (10 fps, 64x48; the metadata says 128x96, so the boxes
are scaled) and one chunk whose video the user does not have. Each source frame is red outside the game area,
gray ``20 + 5 * i`` inside it (``i`` = frame index), and white where the controller overlay is drawn, so the
imported frames tell which source frame they came from and whether the crop and the mask were applied.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from nitrogen_datasets.cli import data
from nitrogen_datasets.format import episode_paths, load_info
from nitrogen_datasets.official import importer as importer_module
from nitrogen_datasets.official.exporter import export_nitrogen
from nitrogen_datasets.official.importer import REPORT_PATH, ImportConfig, import_nitrogen
from nitrogen_datasets.official.schema import (
    BUTTON_COLUMNS,
    InvalidNitroGenChunk,
    read_actions,
    read_metadata,
)
from nitrogen_datasets.video_io import VideoReader
from nitrogen_envs import gamepad
from nitrogen_envs.video import H264Encoder

FPS = 10
WIDTH, HEIGHT = 64, 48
GAME_AREA = (16, 8, 48, 40)  # x0, y0, x1, y1 in video pixels: a 32x32 square
OVERLAY = (40, 30, 56, 46)  # reaches outside the game area: masked only where the two overlap
SIZE = 32  # = the game area: no resize, so pixels can be compared exactly (up to the codec)
ROWS = 20  # 2 s at 10 fps
RED = (200, 0, 0)


def gray(index: int) -> int:
    return 20 + 5 * index


def write_video(path: Path, frames: int = 40) -> None:
    encoder = H264Encoder(path, fps=FPS, crf=0, pix_fmt="yuv444p")
    for i in range(frames):
        frame = np.empty((HEIGHT, WIDTH, 3), np.uint8)
        frame[:] = RED
        x0, y0, x1, y1 = GAME_AREA
        frame[y0:y1, x0:x1] = gray(i)
        x0, y0, x1, y1 = OVERLAY
        frame[y0:y1, x0:x1] = 255
        encoder.write(frame)
    encoder.close()


def official_columns(rng: np.random.Generator, rows: int = ROWS) -> dict[str, pa.Array]:
    columns = {name: pa.array(rng.integers(0, 2, rows).astype(bool)) for name in BUTTON_COLUMNS}
    for name in ("j_left", "j_right"):
        pairs = rng.integers(-4, 5, (rows, 2)) / 4.0  # quarters: exact in float32
        columns[name] = pa.array(pairs.tolist(), type=pa.list_(pa.float64()))
    return columns


def metadata(video_id: str, chunk: int, *, by_frames: bool = False) -> dict:
    scale = 2  # the annotation was made on a 128x96 copy
    x0, y0, x1, y1 = OVERLAY
    video: dict = {"video_id": video_id, "source": "youtube", "url": "https://example.test", "resolution": [96, 128]}
    if by_frames:
        video.update(start_frame=chunk * ROWS, end_frame=(chunk + 1) * ROWS)
    else:
        video.update(start_time=chunk * 2.0, end_time=(chunk + 1) * 2.0, duration=2.0)
    return {
        "uuid": f"{video_id}_chunk_{chunk:04d}_actions",
        "chunk_id": f"{chunk:04d}",
        "chunk_size": ROWS,
        "original_video": video,
        "game": "celeste",
        "controller_type": "xboxone",
        "bbox_controller_overlay": [x0 * scale, y0 * scale, (x1 - x0) * scale, (y1 - y0) * scale],
        "bbox_game_area": {
            "xtl": GAME_AREA[0] / WIDTH,
            "ytl": GAME_AREA[1] / HEIGHT,
            "xbr": GAME_AREA[2] / WIDTH,
            "ybr": GAME_AREA[3] / HEIGHT,
        },
    }


def write_chunk(root: Path, video_id: str, chunk: int, rng: np.random.Generator, **kwargs) -> Path:
    folder = root / "SHARD_0000" / video_id / f"{video_id}_chunk_{chunk:04d}"
    folder.mkdir(parents=True)
    pq.write_table(pa.table(official_columns(rng)), folder / "actions_raw.parquet")
    (folder / "metadata.json").write_text(json.dumps(metadata(video_id, chunk, **kwargs)))
    return folder


@pytest.fixture
def shard(tmp_path: Path) -> tuple[Path, Path]:
    """(actions dir, videos dir): vid_a's two chunks (the second placed by frame numbers) and vid_gone's one."""
    rng = np.random.default_rng(0)
    actions, videos = tmp_path / "actions", tmp_path / "videos"
    write_chunk(actions, "vid_a", 0, rng)
    write_chunk(actions, "vid_a", 1, rng, by_frames=True)
    write_chunk(actions, "vid_gone", 0, rng)
    videos.mkdir()
    write_video(videos / "vid_a.mp4")
    return actions, videos


def episode_frames(root: Path, index: int) -> list[np.ndarray]:
    info = load_info(root)
    reader = VideoReader(root / episode_paths(index)[1], info.fps)
    try:
        return [reader.read(k)[:SIZE, :SIZE] for k in range(info.episodes[index].length)]
    finally:
        reader.close()


def episode_actions(root: Path, index: int) -> np.ndarray:
    table = pq.read_table(root / episode_paths(index)[0])
    return np.stack([table.column(name).to_numpy() for name in gamepad.FLAT_NAMES], axis=1)


def run_import(shard: tuple[Path, Path], out: Path, **config) -> importer_module.ImportStats:
    actions, videos = shard
    return import_nitrogen(actions, videos, out, ImportConfig(fps=FPS, size=SIZE, **config), progress=False)


# ---- import ------------------------------------------------------------------------------------------------------
def test_import_writes_one_episode_per_chunk_and_reports_the_missing_video(shard, tmp_path):
    out = tmp_path / "demos"
    stats = run_import(shard, out)
    info = load_info(out)
    assert (stats.imported, stats.frames) == (2, 2 * ROWS)
    assert [e.source for e in info.episodes] == [
        "nitrogen-dataset:vid_a_chunk_0000",
        "nitrogen-dataset:vid_a_chunk_0001",
    ]
    assert {e.game for e in info.episodes} == {"celeste"}
    assert list(stats.skipped) == ["vid_gone_chunk_0000"]
    assert "no local video for 'vid_gone'" in stats.skipped["vid_gone_chunk_0000"]
    report = json.loads((out / REPORT_PATH).read_text())
    assert report["skipped"] == stats.skipped


def test_import_crops_the_game_area_and_masks_the_overlay(shard, tmp_path):
    out = tmp_path / "demos"
    run_import(shard, out)
    for episode, first_source_frame in ((0, 0), (1, ROWS)):  # chunk 1 is placed by frame numbers
        frames = episode_frames(out, episode)
        assert len(frames) == ROWS
        for k, frame in enumerate(frames):
            frame = frame.astype(int)
            expected = gray(first_source_frame + k)
            # The game area fills the frame: no red border left, gray of the right source frame.
            assert abs(frame[4, 4] - expected).max() <= 4, (episode, k, frame[4, 4], expected)
            assert abs(frame[:, 0, 0] - frame[:, 0, 1]).max() <= 8  # left column is gray, not red
            # Overlay ∩ game area = source x 40..48, y 30..40 = output x 24..32, y 22..32: blacked out.
            assert frame[26:32, 26:32].max() <= 6, (episode, k)
            # The overlay's white never shows.
            assert frame.max() < 230


def test_import_keeps_the_actions_with_our_stick_sign(shard, tmp_path):
    out = tmp_path / "demos"
    run_import(shard, out)
    source = pq.read_table(shard[0] / "SHARD_0000/vid_a/vid_a_chunk_0000/actions_raw.parquet")
    actions = episode_actions(out, 0)
    for name in BUTTON_COLUMNS:
        np.testing.assert_array_equal(actions[:, gamepad.FLAT_NAMES.index(name)], source.column(name).to_numpy())
    j_left = np.asarray(source.column("j_left").to_pylist())
    np.testing.assert_array_equal(actions[:, 0], j_left[:, 0])
    np.testing.assert_array_equal(actions[:, 1], -j_left[:, 1])  # release: +y down; ours: +y up


def test_import_resamples_to_a_lower_fps(shard, tmp_path):
    actions, videos = shard
    out = tmp_path / "demos5"
    import_nitrogen(actions, videos, out, ImportConfig(fps=5, size=SIZE), progress=False)
    frames = episode_frames(out, 1)
    assert len(frames) == 10  # 2 s at 5 fps
    assert [round((int(f[4, 4, 1]) - 20) / 5) for f in frames] == list(range(ROWS, 2 * ROWS, 2))
    source = pq.read_table(actions / "SHARD_0000/vid_a/vid_a_chunk_0001/actions_raw.parquet")
    np.testing.assert_array_equal(
        episode_actions(out, 1)[:, gamepad.FLAT_NAMES.index("south")], source.column("south").to_numpy()[::2]
    )


def test_rerun_after_a_crash_writes_nothing_twice(shard, tmp_path, monkeypatch):
    out = tmp_path / "demos"
    real = importer_module.process_chunk
    calls = []

    def crash_on_second(job):
        calls.append(job.key)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(job)

    monkeypatch.setattr(importer_module, "process_chunk", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        run_import(shard, out)
    monkeypatch.setattr(importer_module, "process_chunk", real)
    first = load_info(out)
    assert first.total_episodes == 1
    stats = run_import(shard, out)
    info = load_info(out)
    assert (stats.imported, stats.already) == (1, 1)
    assert [e.source.split(":")[1] for e in info.episodes] == ["vid_a_chunk_0000", "vid_a_chunk_0001"]
    assert info.episodes[0] == first.episodes[0]  # the episode written before the crash is untouched
    again = run_import(shard, out)
    assert (again.imported, again.already, load_info(out).total_episodes) == (0, 2, 2)


def test_rerun_picks_up_a_video_downloaded_since(shard, tmp_path):
    out = tmp_path / "demos"
    run_import(shard, out)
    shutil.copy(shard[1] / "vid_a.mp4", shard[1] / "Some Title [vid_gone].mp4")  # yt-dlp's naming
    stats = run_import(shard, out)
    assert (stats.imported, stats.already, stats.skipped) == (1, 2, {})
    assert json.loads((out / REPORT_PATH).read_text())["skipped"] == {}


def test_a_corrupt_parquet_is_skipped_with_one_line_naming_it(shard, tmp_path):
    bad = shard[0] / "SHARD_0000/vid_a/vid_a_chunk_0001/actions_raw.parquet"
    bad.write_bytes(b"PAR1 this is not a parquet file PAR1")
    stats = run_import(shard, tmp_path / "demos")
    assert stats.imported == 1
    reason = stats.skipped["vid_a_chunk_0001"]
    assert str(bad) in reason and "\n" not in reason


def test_a_video_shorter_than_its_chunk_is_skipped(shard, tmp_path):
    write_video(shard[1] / "vid_a.mp4", frames=30)  # ends at 3 s; chunk 1 runs to 4 s
    stats = run_import(shard, tmp_path / "demos")
    assert stats.imported == 1
    assert "ends at" in stats.skipped["vid_a_chunk_0001"]


def test_a_video_of_another_aspect_ratio_is_skipped(shard, tmp_path):
    meta_path = shard[0] / "SHARD_0000/vid_a/vid_a_chunk_0000/metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["original_video"]["resolution"] = [72, 128]  # 16:9, the local copy is 4:3
    meta_path.write_text(json.dumps(meta))
    stats = run_import(shard, tmp_path / "demos")
    assert "another aspect ratio" in stats.skipped["vid_a_chunk_0000"]


def test_import_refuses_a_dataset_of_another_frame_size(shard, tmp_path):
    out = tmp_path / "demos"
    run_import(shard, out)
    with pytest.raises(Exception, match="--size 32"):
        import_nitrogen(*shard, out, ImportConfig(fps=FPS, size=64), progress=False)


# ---- reading one chunk: checks and sizes ----------------------------------------------------------------------------
def test_read_actions_flips_stick_y_to_ours(tmp_path):
    rng = np.random.default_rng(1)
    columns = official_columns(rng, rows=2)
    columns["j_left"] = pa.array([[0.5, -1.0], [-0.25, 1.0]])  # release: y = -1 is up
    pq.write_table(pa.table(columns), tmp_path / "a.parquet")
    flat = read_actions(tmp_path / "a.parquet")
    assert flat[:, 0:2].tolist() == [[0.5, 1.0], [-0.25, -1.0]]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.pop("west"), r"lacks the column\(s\) \['west'\]"),
        (lambda c: c.update(south=pa.array(["a"] * ROWS)), "button column 'south' must be boolean or numeric"),
        (lambda c: c.update(east=pa.array([2] * ROWS)), "button column 'east' row 0 is 2.0"),
        (lambda c: c.update(j_left=pa.array([[0.0, 0.0, 0.0]] * ROWS)), "'j_left' row 0 is not an \\[x, y\\] pair"),
        (lambda c: c.update(j_right=pa.array([[0.0, 1.5]] * ROWS)), "'j_right' row 0 is \\[0.0, 1.5\\], outside"),
        (lambda c: c.update(j_right=pa.array([[0.0, float("nan")]] * ROWS)), "'j_right' row 0 is"),
    ],
    ids=["missing-column", "string-button", "button-out-of-range", "stick-triple", "stick-out-of-range", "nan"],
)
def test_read_actions_names_the_file_and_the_problem(tmp_path, change, message):
    columns = official_columns(np.random.default_rng(2))
    change(columns)
    path = tmp_path / "actions_raw.parquet"
    pq.write_table(pa.table(columns), path)
    with pytest.raises(InvalidNitroGenChunk, match=message) as info:
        read_actions(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_read_actions_refuses_too_many_rows_before_reading_a_column(tmp_path, monkeypatch):
    path = tmp_path / "actions_raw.parquet"
    pq.write_table(pa.table(official_columns(np.random.default_rng(3))), path)

    def never(*args, **kwargs):
        raise AssertionError("columns were read before the row count was checked")

    monkeypatch.setattr(pq.ParquetFile, "read", never)
    with pytest.raises(InvalidNitroGenChunk, match=f"{path} has 20 rows; a chunk must have between 1 and 10"):
        read_actions(path, max_rows=10)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.update(bbox_controller_overlay=[0, 0, 10**12, 10**12]), "bbox_controller_overlay must be"),
        (lambda m: m["original_video"].update(resolution=[100000, 100000]), "100000x100000 pixels, outside the limit"),
        (lambda m: m["original_video"].update(resolution="720p"), "resolution must be a list of 2 finite numbers"),
        (lambda m: m["original_video"].pop("video_id"), "original_video.video_id must be a string"),
        (lambda m: m.update(bbox_game_area={"xtl": 0.5, "ytl": 0, "xbr": 0.2, "ybr": 1}), "positive width"),
        (lambda m: m["original_video"].update(end_time=-1.0), "end_time must be a number"),
        (lambda m: m["original_video"].update(end_time=1e7), "end_time must be a number"),
        (lambda m: m.update(game=["celeste"]), "game must be a string"),
    ],
    ids=[
        "huge-overlay",
        "huge-resolution",
        "resolution-text",
        "no-video-id",
        "empty-game-area",
        "negative-time",
        "absurd-time",
        "game-list",
    ],
)
def test_read_metadata_names_the_file_and_the_field(tmp_path, change, message):
    meta = metadata("vid", 0)
    change(meta)
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps(meta))
    with pytest.raises(InvalidNitroGenChunk, match=message) as info:
        read_metadata(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_read_metadata_reads_the_game_area_in_every_released_form(tmp_path):
    path = tmp_path / "metadata.json"
    expected = (0.25, 8 / 48, 0.75, 40 / 48)
    for area in (
        {"xtl": 0.25, "ytl": 8 / 48, "xbr": 0.75, "ybr": 40 / 48},
        [0.25, 8 / 48, 0.75, 40 / 48],  # the same corners as a list
        [32, 16, 64, 64],  # [x, y, w, h] pixels at the 128x96 resolution
    ):
        path.write_text(json.dumps({**metadata("vid", 0), "bbox_game_area": area}))
        assert read_metadata(path).game_area == pytest.approx(expected)


# ---- export ----------------------------------------------------------------------------------------------------------
def test_export_gives_back_the_released_actions(shard, tmp_path):
    out = tmp_path / "demos"
    run_import(shard, out)
    exported = tmp_path / "exported"
    stats = export_nitrogen(out, exported, progress=False)
    assert (stats.episodes, stats.chunks) == (2, 2)
    for episode, chunk in ((0, "vid_a_chunk_0000"), (1, "vid_a_chunk_0001")):
        original = pq.read_table(shard[0] / "SHARD_0000/vid_a" / chunk / "actions_raw.parquet")
        vid = f"demos_ep{episode:06d}"
        folder = exported / "actions/SHARD_0000" / vid / f"{vid}_chunk_0000"
        again = pq.read_table(folder / "actions_raw.parquet")
        assert again.column_names == original.column_names
        for name in original.column_names:
            assert again.column(name).to_pylist() == original.column(name).to_pylist(), name
        meta = read_metadata(folder / "metadata.json")  # our own checks accept what we write
        assert (meta.video_id, meta.game, meta.resolution) == (vid, "celeste", (SIZE, SIZE))
        assert (exported / "videos" / f"{vid}.mp4").is_file()


def test_export_splits_long_episodes_and_imports_back(shard, tmp_path):
    out = tmp_path / "demos"
    run_import(shard, out)
    exported = tmp_path / "exported"
    stats = export_nitrogen(out, exported, chunk_seconds=0.5, progress=False)
    assert stats.chunks == 2 * 4  # 2 s episodes cut into 0.5 s chunks
    back = tmp_path / "back"
    again = import_nitrogen(
        exported / "actions", exported / "videos", back, ImportConfig(fps=FPS, size=SIZE), progress=False
    )
    assert (again.imported, again.skipped) == (8, {})
    np.testing.assert_array_equal(np.concatenate([episode_actions(back, k) for k in range(4)]), episode_actions(out, 0))


# ---- command line ----------------------------------------------------------------------------------------------------
def test_cli_imports_lists_the_skipped_chunk_and_exports(shard, tmp_path):
    actions, videos = shard
    out, exported = tmp_path / "demos", tmp_path / "exported"
    args = ["import-nitrogen", str(actions), "--videos", str(videos), "--out", str(out)]
    run = CliRunner().invoke(data, [*args, "--fps", str(FPS), "--size", str(SIZE), "-q"])
    assert run.exit_code == 0, run.output
    assert "skipped: vid_gone_chunk_0000: no local video for 'vid_gone'" in run.output
    assert "imported 2 chunks (40 frames)" in run.output and "1 skipped" in run.output
    run = CliRunner().invoke(data, ["export-nitrogen", str(out), str(exported), "-q"])
    assert run.exit_code == 0, run.output
    assert "exported 2 episodes as 2 chunks (40 frames)" in run.output


def test_cli_refuses_an_output_inside_the_videos_folder(shard):
    actions, videos = shard
    run = CliRunner().invoke(
        data, ["import-nitrogen", str(actions), "--videos", str(videos), "--out", str(videos / "d")]
    )
    assert run.exit_code != 0
    assert "inside the --videos folder" in run.output and "Traceback" not in run.output


def test_workers_give_the_same_dataset_as_one_process(shard, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    run_import(shard, one)
    stats = run_import(shard, two, workers=2)
    assert (stats.imported, list(stats.skipped)) == (2, ["vid_gone_chunk_0000"])
    first, second = load_info(one), load_info(two)
    assert [(e.source, e.length, e.game) for e in first.episodes] == [
        (e.source, e.length, e.game) for e in second.episodes
    ]
    for index in range(2):
        np.testing.assert_array_equal(episode_actions(one, index), episode_actions(two, index))


def test_an_unreadable_video_is_skipped_with_its_reason(shard, tmp_path):
    (shard[1] / "vid_a.mp4").write_bytes(b"\x00" * 4096)
    stats = run_import(shard, tmp_path / "demos")
    assert stats.imported == 0
    assert set(stats.skipped) == {"vid_a_chunk_0000", "vid_a_chunk_0001", "vid_gone_chunk_0000"}
    assert "cannot be opened as a video" in stats.skipped["vid_a_chunk_0000"]


def test_staging_left_by_a_killed_run_is_cleared(shard, tmp_path):
    out = tmp_path / "demos"
    run_import(shard, out)
    leftover = out / ".staging" / "nitrogen-import-000007"
    leftover.mkdir(parents=True)
    run_import(shard, out)
    assert not (out / ".staging").exists()
