"""Overlay extraction and corpus building speed against pure decoding of the same video, and memory at 1x and 10x length.

Renders a gameplay-like clip with an overlay (1280x720 by default, H.264 CRF 28), then times, side by side in one
run: decoding every frame to RGB (the floor any extractor pays), the full ``extract`` (localization, learned
parser, knob-matched sticks, quality filter, parquet), the same writing the full-size masked video
(``--masked-video``, ``masked_*``), and ``build-corpus`` end to end on the clip (``corpus_*``: the one-pass
build, extraction with the masked frames resized and spooled from the same decode, then the dataset's own
256 px encode of the kept frames: what ``nitrogen overlay build-corpus`` does by default). The decode,
extract and corpus build are timed again on a clip ten times longer (``*_10x``): there the per-clip costs
(localization, the knob choice, the parser's setup, the dataset writer's) weigh ten times less, so it shows
the steady rate an hour-long stream gets. Peak RSS of an extraction is measured in a fresh process on both clips, to show that memory
does not grow with the video (frames are streamed, never held). The timed rounds follow one untimed extraction
and build of the short clip, whose seconds are printed as ``cold_extract_s`` and ``cold_corpus_s``: a process's
first one also pays its imports (pyarrow, the dataset writer) and torch's and OpenCV's first calls, once per
process rather than per clip.

Usage::

    python benchmarks/overlay_throughput.py --rounds 3                    # 300-frame and 3000-frame 720p clips
    python benchmarks/overlay_throughput.py --rounds 3 --height 360 --width 640
    python benchmarks/overlay_throughput.py --frames 150 --parser reference

Prints the figures last as one line: ``overlay_throughput: key=value ...`` (``load`` is the 1-minute load
average when the timing ended; the ratios are only comparable on an idle machine). Targets (issue #18, 2 cores):
``ratio`` >= 0.5 on the 10-second clip and ``ratio_10x`` >= 0.5 on the long one; ``corpus_ratio`` >= 0.3 (the
issue states no clip length for the corpus: ``corpus_ratio`` is the 10-second clip's, ``corpus_ratio_10x`` the
100-second one's, and both are printed). ``locate_s``, ``first_frames_s``, ``setup_s`` and ``parse_s`` split the
fastest extraction of the 10-second clip into its stages (``Extraction.seconds``): the first three are the per-clip
cost that short clips pay.
Before the corpus build was one pass, ``masked_ratio`` (extract writing the masked mp4, which the two-pass
build then decoded again) was what the corpus figure meant; it stays for users of ``--masked-video``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

# Peak RSS of this process alone: Linux's VmHWM starts afresh at exec, while ru_maxrss carries over the peak of
# the parent that forked it (this benchmark, over 1 GB after rendering), which is what it used to report.
RSS_SCRIPT = """
import json, resource, sys
from nitrogen_datasets.overlay.extract import ExtractConfig, extract
extract(sys.argv[1], sys.argv[2], sys.argv[3], config=ExtractConfig(method=sys.argv[4]))
try:
    hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")]
    rss_mb = int(hwm[0].split()[1]) / 1024
except (OSError, IndexError):
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rss_mb": rss_mb}))
"""


def render_clip(path: Path, frames: int, seed: int = 0, size: tuple[int, int] = (360, 640)) -> tuple[Path, Path]:
    """A scrolling synthetic scene of (height, width) with a preset overlay and random actions."""
    from nitrogen_datasets.overlay.styles import preset_styles
    from nitrogen_datasets.overlay.synthetic import random_action, scrolling_scenes
    from nitrogen_datasets.overlay.video import render_overlay_video

    rng = np.random.default_rng(seed)
    actions = np.stack([random_action(rng) for _ in range(frames)])
    style = replace(preset_styles()[5], opacity=0.8, scale=1.0)
    scenes = scrolling_scenes(seed, frames, size, step=4, turn=200)  # back and forth: any length
    clip = render_overlay_video(scenes, actions, style, path, fps=30, crf=28)
    return clip.video, clip.layout


def decode_seconds(video: Path) -> tuple[int, float]:
    import av

    start = time.perf_counter()
    count = 0
    with av.open(str(video)) as container:
        for frame in container.decode(video=0):
            frame.to_ndarray(format="rgb24")
            count += 1
    return count, time.perf_counter() - start


def extract_seconds(video: Path, layout: Path, out: Path, method: str, masked: Path | None = None) -> float:
    return extract_stages(video, layout, out, method, masked)[0]


def extract_stages(
    video: Path, layout: Path, out: Path, method: str, masked: Path | None = None
) -> tuple[float, dict[str, float]]:
    """Seconds of one extraction, and of its stages (``ExtractResult.seconds``: locate, first_frames, setup, parse)."""
    from nitrogen_datasets.overlay.extract import ExtractConfig, extract

    start = time.perf_counter()
    result = extract(video, layout, out, masked_video=masked, config=ExtractConfig(method=method))
    return time.perf_counter() - start, result.seconds


def corpus_seconds(videos: Path, layout: Path, out: Path, method: str) -> tuple[float, int]:
    """Seconds of a one-pass ``build-corpus`` of the folder ``videos`` into a fresh ``out``, and frames stored."""
    from nitrogen_datasets.format import load_info
    from nitrogen_datasets.overlay.corpus import CorpusConfig, build_corpus

    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    build_corpus(videos, out, CorpusConfig(layout=str(layout), method=method), progress=False)
    seconds = time.perf_counter() - start
    return seconds, load_info(out).total_frames


def peak_rss_mb(video: Path, layout: Path, out: Path, method: str) -> float:
    result = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT, str(video), str(layout), str(out), method],
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
    parser.add_argument("--height", type=int, default=720, help="clip height (streams are 720p-1080p)")
    parser.add_argument("--width", type=int, default=1280, help="clip width")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory(prefix="overlay-bench-") as tmp:
        folder = Path(tmp)
        size = (args.height, args.width)
        (folder / "v1").mkdir()  # a folder per clip: build-corpus reads every video of its folder
        (folder / "v10").mkdir()
        video, layout = render_clip(folder / "v1" / "clip.mp4", args.frames, size=size)
        long_video, long_layout = render_clip(folder / "v10" / "long.mp4", 10 * args.frames, seed=1, size=size)
        # One untimed pass first: a process's first extraction and build also import pyarrow and the dataset
        # writer and warm up torch and OpenCV (0.3-0.5 s at 720p, measured), once per process, not per clip; with
        # --rounds 1 that used to land in the timed round. Their times are printed apart (cold_*).
        decode_seconds(video)
        cold_extract = extract_seconds(video, layout, folder / "w.parquet", args.parser)
        cold_corpus, _ = corpus_seconds(folder / "v1", layout, folder / "corpus", args.parser)
        extract: list[float] = []
        decode, masked, corpus, decode_10x, extract_10x, corpus_10x = [], [], [], [], [], []
        frames = frames_10x = stored = stored_10x = 0
        best_stages: dict[str, float] = {}
        for _ in range(args.rounds):
            frames, seconds = decode_seconds(video)
            decode.append(seconds)
            seconds, stages = extract_stages(video, layout, folder / "a.parquet", args.parser)
            if not extract or seconds < min(extract):
                best_stages = stages  # the stages of the round the ratio is taken from
            extract.append(seconds)
            masked.append(extract_seconds(video, layout, folder / "b.parquet", args.parser, folder / "masked.mp4"))
            seconds, stored = corpus_seconds(folder / "v1", layout, folder / "corpus", args.parser)
            corpus.append(seconds)
            frames_10x, seconds = decode_seconds(long_video)
            decode_10x.append(seconds)
            extract_10x.append(extract_seconds(long_video, long_layout, folder / "c.parquet", args.parser))
            seconds, stored_10x = corpus_seconds(folder / "v10", long_layout, folder / "corpus10", args.parser)
            corpus_10x.append(seconds)
        load = os.getloadavg()[0]
        decode_fps, extract_fps, masked_fps, corpus_fps = (
            frames / min(values) for values in (decode, extract, masked, corpus)
        )
        decode_10x_fps, extract_10x_fps, corpus_10x_fps = (
            frames_10x / min(values) for values in (decode_10x, extract_10x, corpus_10x)
        )
        rss_1x = peak_rss_mb(video, layout, folder / "r1.parquet", args.parser)
        rss_10x = peak_rss_mb(long_video, long_layout, folder / "r10.parquet", args.parser)
    print(
        f"overlay_throughput: parser={args.parser} frames={frames} size={args.width}x{args.height} decode_fps={decode_fps:.0f} "
        f"extract_fps={extract_fps:.0f} ratio={extract_fps / decode_fps:.2f} masked_extract_fps={masked_fps:.0f} "
        f"masked_ratio={masked_fps / decode_fps:.2f} corpus_fps={corpus_fps:.0f} corpus_ratio={corpus_fps / decode_fps:.2f} "
        f"corpus_stored={stored} decode_10x_fps={decode_10x_fps:.0f} "
        f"extract_10x_fps={extract_10x_fps:.0f} ratio_10x={extract_10x_fps / decode_10x_fps:.2f} "
        f"corpus_10x_fps={corpus_10x_fps:.0f} corpus_ratio_10x={corpus_10x_fps / decode_10x_fps:.2f} "
        f"corpus_stored_10x={stored_10x} "
        f"rss_1x_mb={rss_1x:.0f} rss_10x_mb={rss_10x:.0f} "
        + "".join(f"{stage}_s={value:.2f} " for stage, value in best_stages.items())
        + f"cold_extract_s={cold_extract:.2f} "
        f"cold_corpus_s={cold_corpus:.2f} load={load:.1f}"
    )


if __name__ == "__main__":
    main()
