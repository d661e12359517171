"""Extraction on the pixel formats and codecs real recordings use: does it run, and how fast (session 25).

Re-encodes the throughput benchmark's 720p clip (``benchmarks/overlay_throughput.py``'s ``render_clip``, 300 frames)
as 10-bit HEVC and AV1 (OBS's HEVC/AV1 recordings), 4:4:4 and 10-bit H.264, VP9 and full-range H.264, extracts each
and prints its seconds and how its readings agree with the original clip's (a second lossy generation, so not 1).

Usage::

    python experiments/results/overlay_session25/formats.py [--work /tmp/overlay-formats]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq

from nitrogen_datasets.overlay.extract import extract
from nitrogen_envs import gamepad

VARIANTS = {
    "hevc10.mkv": ("libx265", "yuv420p10le", {"crf": "28"}),
    "av1_10.mkv": ("libsvtav1", "yuv420p10le", {"crf": "35", "preset": "10"}),
    "h264_444.mp4": ("libx264", "yuv444p", {"crf": "28"}),
    "h264_10.mp4": ("libx264", "yuv420p10le", {"crf": "28"}),
    "vp9.webm": ("libvpx-vp9", "yuv420p", {"crf": "32", "b": "0", "deadline": "realtime", "cpu-used": "8"}),
    "h264_full.mp4": ("libx264", "yuvj420p", {"crf": "28"}),
}


def reencode(source: Path, target: Path, codec: str, pix_fmt: str, options: dict[str, str]) -> None:
    """``source``'s frames encoded again with ``codec`` in ``pix_fmt``."""
    with av.open(str(source)) as inp, av.open(str(target), "w") as out:
        stream = out.add_stream(codec, rate=30, options=options)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, pix_fmt
        for frame in inp.decode(video=0):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def columns(path: Path) -> dict[str, np.ndarray]:
    """The columns of an actions parquet file."""
    table = pq.read_table(path)
    return {name: np.asarray(table.column(name)) for name in table.column_names}


def main() -> None:
    """Encode each variant once, then extract the original and each, timed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/overlay-formats"))
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
    from overlay_throughput import render_clip

    args.work.mkdir(parents=True, exist_ok=True)
    video, layout = render_clip(args.work / "clip.mp4", 300, size=(720, 1280))
    for name, (codec, pix_fmt, options) in VARIANTS.items():
        if not (args.work / name).exists():
            reencode(video, args.work / name, codec, pix_fmt, options)
    extract(video, layout, args.work / "warm.parquet")  # a process's first extraction pays its imports
    start = time.perf_counter()
    base = columns(extract(video, layout, args.work / "clip.parquet").actions)
    print(f"clip.mp4 (yuv420p H.264): {time.perf_counter() - start:.2f} s")
    for name in VARIANTS:
        start = time.perf_counter()
        got = columns(extract(args.work / name, layout, args.work / f"{name}.parquet").actions)
        seconds = time.perf_counter() - start
        agree = np.mean([((got[b] >= 0.5) == (base[b] >= 0.5)).mean() for b in gamepad.BUTTON_NAMES])
        sticks = np.mean([np.abs(got[c] - base[c]).mean() for c in ("left_x", "left_y", "right_x", "right_y")])
        print(f"{name}: {seconds:.2f} s, buttons agree with the original's {agree:.4f}, sticks differ {sticks:.3f}")


if __name__ == "__main__":
    main()
