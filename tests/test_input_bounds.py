"""User-supplied images, JSON and videos are checked by header before decoding; outputs never overwrite inputs."""

import hashlib
import json
import os
import struct
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
av = pytest.importorskip("av")

from nitrogen_datasets.overlay.layout import InvalidLayout, load_layout  # noqa: E402
from nitrogen_datasets.safe_inputs import (  # noqa: E402
    MAX_IMAGE_SIDE,
    InvalidInputFile,
    OutputOverwritesInput,
    image_header,
    json_depth,
    open_video,
    read_image,
)

LAYOUT = {
    "format": "nitrogen-overlay-layout/1",
    "name": "x",
    "template": "rest.png",
    "elements": {"south": {"box": [1, 1, 10, 10]}},
}


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(side: int = 20000) -> bytes:
    """A valid 1-bit grey PNG of side x side, all zero: about 50 KB on disk, 400 MB once decoded (1.2 GB as RGB)."""
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def write_layout(folder, layout=None, template=True):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "layout.json"
    path.write_text(layout if isinstance(layout, str) else json.dumps(layout or LAYOUT))
    if template:
        cv2.imwrite(str(folder / "rest.png"), np.zeros((50, 80, 4), np.uint8))
    return path


def run_code(code, timeout=60):
    """Run ``code`` in a fresh interpreter (a FIFO would block it, a bomb would swell it): (rc, stdout, stderr)."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout
    )
    return result.returncode, result.stdout, result.stderr


# ---- images -------------------------------------------------------------------------------------------------
def test_decompression_bomb_png_is_refused_within_a_second_and_200_mb(tmp_path):
    folder = tmp_path / "bomb"
    write_layout(folder, template=False)
    (folder / "rest.png").write_bytes(bomb_png())
    code = f"""
        import time
        from nitrogen_datasets.overlay.layout import InvalidLayout, load_layout

        def kb(field):
            with open("/proc/self/status") as status:
                return next(int(line.split()[1]) for line in status if line.startswith(field))

        before = kb("VmRSS:")
        start = time.perf_counter()
        try:
            load_layout({str(folder / "layout.json")!r})
        except InvalidLayout as err:
            print("REFUSED", err)
        print("SECONDS", time.perf_counter() - start)
        print("EXTRA_MB", (kb("VmHWM:") - before) / 1024)
    """
    rc, out, err = run_code(code)
    assert rc == 0, err
    lines = dict(line.split(" ", 1) for line in out.splitlines())
    assert "20000x20000 pixels, outside the limit" in lines["REFUSED"]
    assert float(lines["SECONDS"]) < 1.0
    assert float(lines["EXTRA_MB"]) < 200


def test_sixteen_bit_png_template_is_refused_with_the_fix(tmp_path):
    path = write_layout(tmp_path)
    cv2.imwrite(str(tmp_path / "rest.png"), np.zeros((50, 80, 3), np.uint16))
    with pytest.raises(InvalidLayout, match=r"rest.png is a 16-bit PNG with 3 channels; save it as an 8-bit"):
        load_layout(path)


def test_template_that_is_not_an_image_or_a_device_is_refused(tmp_path):
    path = write_layout(tmp_path, {**LAYOUT, "template": "rest.gif"}, template=False)
    (tmp_path / "rest.gif").write_bytes(b"GIF89a" + bytes(100))
    with pytest.raises(InvalidLayout, match=r"rest.gif cannot be read: it is not a PNG or JPEG"):
        load_layout(path)
    with pytest.raises(InvalidLayout, match=r"/dev/zero is a character device; give the path of a regular file"):
        load_layout(write_layout(tmp_path, {**LAYOUT, "template": "/dev/zero"}, template=False))


def test_png_and_jpeg_headers_give_the_size_without_decoding(tmp_path):
    _, png = cv2.imencode(".png", np.zeros((30, 70, 4), np.uint8))
    header = image_header(png.tobytes())
    assert (header.format, header.width, header.height, header.bit_depth, header.channels) == ("png", 70, 30, 8, 4)
    _, jpeg = cv2.imencode(".jpg", np.zeros((33, 65, 3), np.uint8))
    header = image_header(jpeg.tobytes())
    assert (header.format, header.width, header.height, header.bit_depth, header.channels) == ("jpeg", 65, 33, 8, 3)
    (tmp_path / "a.jpg").write_bytes(jpeg.tobytes())
    assert read_image(tmp_path / "a.jpg").shape == (33, 65, 3)
    (tmp_path / "wide.png").write_bytes(bomb_png(MAX_IMAGE_SIDE + 8)[:200])  # the header alone is enough
    with pytest.raises(InvalidInputFile, match=f"{MAX_IMAGE_SIDE + 8}x{MAX_IMAGE_SIDE + 8} pixels"):
        read_image(tmp_path / "wide.png")


def test_fifo_template_and_layout_are_refused_without_hanging(tmp_path):
    fifo_template = tmp_path / "a"
    write_layout(fifo_template, template=False)
    os.mkfifo(fifo_template / "rest.png")
    fifo_layout = tmp_path / "b"
    fifo_layout.mkdir()
    os.mkfifo(fifo_layout / "layout.json")
    code = f"""
        from nitrogen_datasets.overlay.layout import InvalidLayout, load_layout
        for path in ({str(fifo_template / "layout.json")!r}, {str(fifo_layout / "layout.json")!r}):
            try:
                load_layout(path)
            except InvalidLayout as err:
                print(err)
    """
    rc, out, err = run_code(code, timeout=30)  # the old code blocked forever in open()
    assert rc == 0, err
    assert "rest.png is a FIFO; give the path of a regular file" in out
    assert "layout.json is a FIFO" in out


# ---- JSON ---------------------------------------------------------------------------------------------------
def test_deeply_nested_json_layout_is_refused_without_recursion_error(tmp_path):
    path = write_layout(tmp_path, "[" * 10000 + "]" * 10000)
    with pytest.raises(InvalidLayout, match="nests 10000 levels deep, over the limit of 64"):
        load_layout(path)


def test_oversized_or_non_utf8_json_layout_is_refused(tmp_path):
    path = write_layout(tmp_path, json.dumps({**LAYOUT, "pad": "x" * 2_000_000}))
    with pytest.raises(InvalidLayout, match=r"over the 1048576-byte limit"):
        load_layout(path)
    path.write_bytes(b'{"name": "\xff"}')
    with pytest.raises(InvalidLayout, match="is not UTF-8 text"):
        load_layout(path)


def test_json_depth_ignores_brackets_inside_strings():
    assert json_depth(b'{"a": "[[[[{{{{", "b": [[1]], "c": "\\"[["}') == 3
    assert json_depth(b"1") == 0


# ---- videos -------------------------------------------------------------------------------------------------
def write_audio_only(path):
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=22050)
        stream.layout = "mono"
        for index in range(5):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.rate, frame.pts = 22050, index * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def write_clip(path, frames=4):
    from nitrogen_envs.video import VideoWriter

    with VideoWriter(path) as writer:
        for index in range(frames):
            writer.write(np.full((64, 96, 3), 40 * index, np.uint8))
    return path


def test_audio_only_video_is_a_one_line_error(tmp_path):
    from click.testing import CliRunner

    from nitrogen_datasets.overlay.extract import extract
    from nitrogen_datasets.video_io import VideoReader
    from nitrogen_envs.cli import cli

    audio = write_audio_only(tmp_path / "sound.m4a")
    layout = write_layout(tmp_path / "layout")
    with pytest.raises(InvalidInputFile, match=r"sound.m4a has no video stream \(it holds: audio\); give a video file"):
        extract(audio, layout, tmp_path / "a.parquet")
    with pytest.raises(InvalidInputFile, match="has no video stream"):
        VideoReader(audio, fps=15)
    result = CliRunner().invoke(
        cli, ["overlay", "extract", str(audio), "--layout", str(layout), "--out", str(tmp_path / "a.parquet")]
    )
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output.strip().startswith("Error:") and "has no video stream" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_video_checks_refuse_a_fifo_and_garbage_and_open_a_real_clip(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4")
    with open_video(clip) as container:
        assert container.streams.video[0].codec_context.width == 96
    (tmp_path / "junk.mp4").write_bytes(os.urandom(4096))
    with pytest.raises(InvalidInputFile, match=r"junk.mp4 cannot be opened as a video"):
        open_video(tmp_path / "junk.mp4").__enter__()
    os.mkfifo(tmp_path / "pipe.mp4")
    code = f"""
        from nitrogen_datasets.safe_inputs import InvalidInputFile, open_video
        try:
            open_video({str(tmp_path / "pipe.mp4")!r}).__enter__()
        except InvalidInputFile as err:
            print(err)
    """
    rc, out, err = run_code(code, timeout=30)
    assert rc == 0, err
    assert "pipe.mp4 is a FIFO" in out


def test_garbage_whose_metadata_is_not_utf8_is_refused_as_a_bad_video(tmp_path, monkeypatch):
    """Random bytes that FFmpeg half-parses can carry non-UTF-8 metadata, which PyAV fails to decode inside
    ``av.open`` (seen once in CI on os.urandom bytes): the user gets the one-line refusal, not a traceback."""
    import av

    def undecodable_metadata(path, *args, **kwargs):
        return b"\xcd\xff".decode("utf-8")

    monkeypatch.setattr(av, "open", undecodable_metadata)
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 64)
    with pytest.raises(InvalidInputFile, match=r"junk.mp4 cannot be opened as a video \(its metadata is not text\)"):
        open_video(tmp_path / "junk.mp4").__enter__()


# ---- outputs ------------------------------------------------------------------------------------------------
def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_extract_out_equal_to_the_input_video_is_refused_and_the_video_is_untouched(tmp_path):
    from click.testing import CliRunner

    from nitrogen_datasets.overlay.extract import extract
    from nitrogen_envs.cli import cli

    clip = write_clip(tmp_path / "clip.mp4")
    layout = write_layout(tmp_path / "layout")
    before = _digest(clip)
    result = CliRunner().invoke(cli, ["overlay", "extract", str(clip), "--layout", str(layout), "--out", str(clip)])
    assert result.exit_code == 1
    assert "--out" in result.output and "is the same file as video" in result.output
    os.link(clip, tmp_path / "hardlink.mp4")
    (tmp_path / "symlink.mp4").symlink_to(clip)
    for out in (tmp_path / "hardlink.mp4", tmp_path / "symlink.mp4", tmp_path / "." / "clip.mp4"):
        with pytest.raises(OutputOverwritesInput, match="is the same file as video"):
            extract(clip, layout, out)
    with pytest.raises(OutputOverwritesInput, match=r"--masked-video .* is the same file as video"):
        extract(clip, layout, tmp_path / "a.parquet", masked_video=clip)
    with pytest.raises(OutputOverwritesInput, match="is the same file as layout"):
        extract(clip, layout, layout)
    with pytest.raises(OutputOverwritesInput, match=r"--masked-video .* is the same file as --out"):
        extract(clip, layout, tmp_path / "same", masked_video=tmp_path / "same")
    assert _digest(clip) == before
    assert not (tmp_path / "a.parquet").exists()


def test_render_out_inside_the_dataset_is_refused(tmp_path):
    from click.testing import CliRunner

    from nitrogen_envs.cli import cli

    data = tmp_path / "demos"
    (data / "videos" / "chunk-000").mkdir(parents=True)
    target = data / "videos" / "chunk-000" / "episode_000000.mp4"
    target.write_bytes(b"episode")
    result = CliRunner().invoke(
        cli, ["overlay", "render", "--data", str(data), "--style", "xbox-highlight-00", "--out", str(target)]
    )
    assert result.exit_code == 1
    assert "is inside the dataset" in result.output
    assert target.read_bytes() == b"episode"


def test_build_corpus_out_inside_the_videos_folder_is_refused(tmp_path):
    from click.testing import CliRunner

    from nitrogen_envs.cli import cli

    videos = tmp_path / "clips"
    videos.mkdir()
    layout = write_layout(tmp_path / "layout")
    result = CliRunner().invoke(
        cli, ["overlay", "build-corpus", str(videos), "--layout", str(layout), "--out", str(videos / "dataset")]
    )
    assert result.exit_code == 1
    assert "is inside the VIDEOS folder" in result.output
