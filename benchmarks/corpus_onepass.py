"""``build-corpus`` in one pass against the two-encode path it replaced, and its memory at 1x and 10x length.

Renders a gameplay-like clip with an overlay (1280x720 by default, H.264 CRF 28), then times, side by side in one
run: decoding every frame to RGB (the floor), the two-pass build (``extract`` writing the full-size masked mp4 at
CRF 23, then decoding it again, resizing and writing the dataset at CRF 18: how ``build-corpus`` worked before)
and the one-pass build (``build_corpus``: masked, resized frames from the one decode straight to the dataset
writer). Both read the same actions and write the same episodes; ``speedup`` is two-pass time over one-pass
time, ``ratio`` the one-pass build's frame rate over decoding's (target >= 0.3 on 2 cores). Peak RSS of a
one-pass build is measured in a fresh process on the clip and on one ten times longer: it must not grow with
the video (frames are streamed and spooled to disk, never held).

Usage::

    python benchmarks/corpus_onepass.py                 # 300-frame and 3000-frame 720p clips, learned parser
    python benchmarks/corpus_onepass.py --frames 150 --parser reference

Prints the figures last as one line: ``corpus_onepass: key=value ...``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from overlay_throughput import decode_seconds, render_clip

# Peak RSS of this process alone (Linux's VmHWM starts afresh at exec; ru_maxrss would carry the parent's peak).
RSS_SCRIPT = """
import json, resource, sys
from nitrogen_datasets.overlay.corpus import CorpusConfig, build_corpus
build_corpus(sys.argv[1], sys.argv[2], CorpusConfig(layout=sys.argv[3], method=sys.argv[4]), progress=False)
try:
    hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")]
    rss_mb = int(hwm[0].split()[1]) / 1024
except (OSError, IndexError):
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rss_mb": rss_mb}))
"""


def two_pass_build(video: Path, layout: Path, out: Path, method: str, fps: int = 15, size: int = 256) -> int:
    """The build as it was: masked mp4 (CRF 23) from extract, decoded again, resized, written at CRF 18."""
    import av
    import cv2
    import pyarrow.parquet as pq

    from nitrogen_datasets.overlay.corpus import dataset_actions
    from nitrogen_datasets.overlay.extract import ExtractConfig, extract
    from nitrogen_datasets.overlay.resample import dataset_sources
    from nitrogen_datasets.writer import DatasetWriter, WriterConfig

    work = out.parent / f"{out.name}-staging"
    work.mkdir(parents=True, exist_ok=True)
    extract(video, layout, work / "a.parquet", work / "masked.mp4", ExtractConfig(method=method))
    table = pq.read_table(work / "a.parquet")
    from nitrogen_envs import gamepad

    actions = dataset_actions(np.stack([table.column(n).to_numpy() for n in gamepad.FLAT_NAMES], axis=1))
    keep = table.column("keep").to_numpy()
    sources = dataset_sources(table.column("time_s").to_numpy(), fps)
    written, position, episode = 0, 0, None
    with DatasetWriter(out, WriterConfig(fps=fps)) as writer, av.open(str(work / "masked.mp4")) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if position >= len(sources):
                break
            if sources[position] != index:
                continue
            image = cv2.resize(frame.to_ndarray(format="rgb24"), (size, size), interpolation=cv2.INTER_AREA)
            while position < len(sources) and sources[position] == index:
                if keep[index]:
                    episode = episode or writer.start_episode("x", "play")
                    episode.add(image, actions[index])
                elif episode is not None:
                    written += _close(writer, episode)
                    episode = None
                position += 1
        if episode is not None:
            written += _close(writer, episode)
    shutil.rmtree(work)
    return written


def _close(writer, episode, min_frames: int = 16) -> int:
    """Keep runs of ``CorpusConfig.min_episode_frames`` or more, as the build does; frames stored."""
    if len(episode) < min_frames:
        writer.abort_episode(episode)
        return 0
    writer.finish_episode(episode)
    return len(episode)


def one_pass_build(folder: Path, layout: Path, out: Path, method: str) -> int:
    from nitrogen_datasets.format import load_info
    from nitrogen_datasets.overlay.corpus import CorpusConfig, build_corpus

    build_corpus(folder, out, CorpusConfig(layout=str(layout), method=method), progress=False)
    return load_info(out).total_frames


def timed(fn, *args) -> tuple[float, int]:
    start = time.perf_counter()
    frames = fn(*args)
    return time.perf_counter() - start, frames


def peak_rss_mb(folder: Path, out: Path, layout: Path, method: str) -> float:
    result = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT, str(folder), str(out), str(layout), method],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(json.loads(result.stdout.strip().splitlines()[-1])["rss_mb"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=300, help="frames of the timed clip (the RSS clip is 10x)")
    parser.add_argument("--parser", choices=["learned", "reference"], default="learned")
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds (best is kept)")
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="corpus-bench-") as tmp:
        root = Path(tmp)
        size = (args.height, args.width)
        (root / "v1").mkdir()
        (root / "v10").mkdir()
        video, layout = render_clip(root / "v1" / "clip.mp4", args.frames, size=size)
        _, long_layout = render_clip(root / "v10" / "long.mp4", 10 * args.frames, seed=1, size=size)
        for stray in (root / "v1").glob("clip.*.*"):  # the layout and template: outside the videos folder
            stray.rename(root / stray.name)
        for stray in (root / "v10").glob("long.*.*"):
            stray.rename(root / stray.name)
        layout, long_layout = root / layout.name, root / long_layout.name
        decode, two, one = [], [], []
        frames = two_frames = one_frames = 0
        for round_ in range(args.rounds):
            frames, seconds = decode_seconds(video)
            decode.append(seconds)
            seconds, two_frames = timed(two_pass_build, video, layout, root / f"two{round_}", args.parser)
            two.append(seconds)
            seconds, one_frames = timed(one_pass_build, root / "v1", layout, root / f"one{round_}", args.parser)
            one.append(seconds)
        if one_frames != two_frames:
            raise SystemExit(f"the builds disagree: one pass stored {one_frames} frames, two passes {two_frames}")
        rss_1x = peak_rss_mb(root / "v1", root / "r1", layout, args.parser)
        rss_10x = peak_rss_mb(root / "v10", root / "r10", long_layout, args.parser)
    decode_fps, two_fps, one_fps = (frames / min(values) for values in (decode, two, one))
    print(
        f"corpus_onepass: parser={args.parser} frames={frames} size={args.width}x{args.height} "
        f"stored={one_frames} decode_fps={decode_fps:.0f} two_pass_fps={two_fps:.0f} one_pass_fps={one_fps:.0f} "
        f"speedup={one_fps / two_fps:.2f} ratio={one_fps / decode_fps:.2f} two_pass_ratio={two_fps / decode_fps:.2f} "
        f"rss_1x_mb={rss_1x:.0f} rss_10x_mb={rss_10x:.0f}"
    )


if __name__ == "__main__":
    main()
