"""False finds of overlay localization on overlay-free clips of every embedded engine, with and without HUD shapes.

Issue #18 asks for zero false finds on >= 100 overlay-free clips "that include real frames of every engine and
HUD-like shapes". Round 3's guard (``localize_check.py negatives``) is 24 synthetic scrolling scenes; this set is
real play instead: every game of the registry (Procgen, Atari/ALE, ViZDoom, Crafter; 37 games) played with random
held actions from three seeds (111 clips of :data:`FRAMES` frames), each clip letterboxed as the renderer's
``--resolution`` does (:func:`~nitrogen_datasets.overlay.render.letterbox`, bilinear upscaling) and encoded to
H.264. The first seed is the game alone; the other two add static HUD shapes drawn the same in every frame (score
box with changing digits, health bar, minimap, ring and rounded-rectangle "buttons", a cross-shaped d-pad, a
translucent panel), which stay put as an overlay does and therefore survive both the intensity median and the
static-edge median that localization relies on.

The default size is 640x360, the size of the training and held-out clips localization is tuned and gated on; a
call costs about 1.4 CPU s there (failing calls, the common case here) and the 1221 calls about 30 minutes on
one core. ``--size 1280x720`` (:data:`~nitrogen_datasets.overlay.render.STREAM_RESOLUTION`) costs about 6 s a
call, over two hours for the whole set, so run it with ``--games`` on a subset.

Every clip is matched with every template of the nine training sprite styles and four presets (the set of
``localize_check.py negatives``). Results are appended to a JSON-lines file, one line per (clip, template), so an
interrupted run resumes where it stopped; ``--module`` measures another ``localize.py`` on the same clips
(its own results file). The last line is ``overlay_false_finds: key=value ...``.

Usage::

    python experiments/results/overlay_localize_round4/false_finds.py [--module OTHER_localize.py] [--tag before]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import cv2
import numpy as np

from nitrogen_datasets.overlay import OverlayRenderer, preset_styles
from nitrogen_datasets.overlay.decode import decode_frames
from nitrogen_datasets.overlay.render import letterbox, parse_resolution
from nitrogen_datasets.overlay.sprite_styles import sprite_style
from nitrogen_envs.video import VideoWriter

sys.path.insert(0, str(Path(__file__).parent.parent / "overlay_localize_round3"))
from localize_check import load_module  # type: ignore[import-not-found]  # shipped localize, or one at a path

TRAINING_STYLES = (
    "sprite-xbox-3",
    "sprite-dualsense-3",
    "sprite-arcade-3",
    "sprite-xbox-1",
    "sprite-switch-pro-2",
    "sprite-keyboard-2",
    "sprite-switch-pro-3",
    "sprite-keyboard-3",
    "sprite-arcade-2",
)
"""The training sprite styles of Rounds 2-3 (the knob harness's clips); four presets are added as ``negatives`` does."""
FRAMES = 24
"""Frames per clip: localization reads the median of the first 9 and the static edges of up to 16."""
WARMUP_STEPS = 40
"""Random steps before recording, so the clip shows play rather than every game's first frame."""
ACTION_HOLD = 6
"""A random action is held this many steps, as a player holds a direction."""
VARIANTS = ((0, 23, False), (1, 23, True), (2, 35, True))
"""(seed, CRF, HUD shapes drawn) of each game's clips: the game alone, then with HUD shapes at two qualities."""


def game_frames(game: str, seed: int, frames: int = FRAMES) -> Iterator[np.ndarray]:
    """``frames`` RGB frames of ``game`` played with held random actions after :data:`WARMUP_STEPS` steps."""
    import gymnasium as gym

    import nitrogen_envs  # noqa: F401 (registers the ids)

    env = gym.make(f"NitroGen/{game}-v0", obs_size="native")
    env.action_space.seed(seed)
    try:
        obs, _ = env.reset(seed=seed)
        action = env.action_space.sample()
        for step in range(WARMUP_STEPS + frames):
            if step % ACTION_HOLD == 0:
                action = env.action_space.sample()
            obs, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                obs, _ = env.reset(seed=seed + 1000)
            if step >= WARMUP_STEPS:
                yield np.ascontiguousarray(obs[..., :3])
    finally:
        env.close()


def _rounded_rectangle(
    image: np.ndarray, box: tuple[int, int, int, int], radius: int, colour: tuple[int, ...] | int, thick: int
) -> None:
    """A rounded rectangle (filled with ``thick`` -1), the shape of shoulder buttons and HUD panels."""
    x0, y0, x1, y1 = box
    radius = max(1, min(radius, (x1 - x0) // 2, (y1 - y0) // 2))
    if thick < 0:
        cv2.rectangle(image, (x0 + radius, y0), (x1 - radius, y1), colour, -1, cv2.LINE_AA)
        cv2.rectangle(image, (x0, y0 + radius), (x1, y1 - radius), colour, -1, cv2.LINE_AA)
    else:
        cv2.line(image, (x0 + radius, y0), (x1 - radius, y0), colour, thick, cv2.LINE_AA)
        cv2.line(image, (x0 + radius, y1), (x1 - radius, y1), colour, thick, cv2.LINE_AA)
        cv2.line(image, (x0, y0 + radius), (x0, y1 - radius), colour, thick, cv2.LINE_AA)
        cv2.line(image, (x1, y0 + radius), (x1, y1 - radius), colour, thick, cv2.LINE_AA)
    for cx, cy, start in ((x0 + radius, y0 + radius, 180), (x1 - radius, y0 + radius, 270)):
        cv2.ellipse(image, (cx, cy), (radius, radius), 0, start, start + 90, colour, thick, cv2.LINE_AA)
    for cx, cy, start in ((x1 - radius, y1 - radius, 0), (x0 + radius, y1 - radius, 90)):
        cv2.ellipse(image, (cx, cy), (radius, radius), 0, start, start + 90, colour, thick, cv2.LINE_AA)


def hud_layer(rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, tuple]:  # noqa: C901
    """(RGB layer, alpha in [0, 1], score box) of HUD shapes at random places, the same in every frame.

    Shapes a game's HUD or a webcam frame puts on a stream and that resemble an input overlay's parts: a minimap,
    a health bar, a translucent panel, rings with letters (face buttons), rounded rectangles (shoulder buttons)
    and a d-pad cross. The score box's digits are drawn per frame by :func:`with_hud`.
    """
    width, height = size
    unit = height / 720  # the sizes below are for a 720p stream
    layer = np.zeros((height, width, 3), np.uint8)
    alpha = np.zeros((height, width), np.float32)

    def colour() -> tuple[int, ...]:
        return tuple(int(c) for c in rng.integers(40, 256, 3))

    def draw(opacity: float, paint: object) -> None:
        shape = np.zeros((height, width), np.uint8)
        paint(layer, shape)  # type: ignore[operator]
        alpha[:] = np.maximum(alpha, (shape > 0) * opacity)

    def at(w: int, h: int) -> tuple[int, int]:
        return int(rng.integers(8, width - w - 8)), int(rng.integers(8, height - h - 8))

    def sized(low: float, high: float) -> int:
        return max(2, round(float(rng.uniform(low, high)) * unit))

    # Minimap: bordered square with a few dots.
    side = sized(100, 200)
    mx, my = at(side, side)
    fill, edge = colour(), colour()

    def minimap(img: np.ndarray, mask: np.ndarray) -> None:
        for target, value in ((img, fill), (mask, 255)):
            cv2.rectangle(target, (mx, my), (mx + side, my + side), value, -1)
        for target, value in ((img, edge), (mask, 255)):
            cv2.rectangle(target, (mx, my), (mx + side, my + side), value, 3)
        for _ in range(6):
            dot = (mx + int(rng.integers(10, side - 10)), my + int(rng.integers(10, side - 10)))
            cv2.circle(img, dot, 4, colour(), -1, cv2.LINE_AA)

    draw(float(rng.uniform(0.6, 1.0)), minimap)
    # Health bar: outline and a partly filled bar.
    bw, bh = sized(150, 320), sized(14, 30)
    bx, by = at(bw, bh)
    bar, frame = colour(), colour()

    def health(img: np.ndarray, mask: np.ndarray) -> None:
        for target, value in ((img, bar), (mask, 255)):
            cv2.rectangle(target, (bx, by), (bx + int(bw * rng.uniform(0.3, 1.0)), by + bh), value, -1)
        for target, value in ((img, frame), (mask, 255)):
            _rounded_rectangle(target, (bx, by, bx + bw, by + bh), bh // 2, value, 2)

    draw(1.0, health)
    # Translucent panel (chat box, webcam frame).
    pw, ph = sized(200, 400), sized(100, 220)
    px, py = at(pw, ph)
    panel = colour()

    def chat_box(img: np.ndarray, mask: np.ndarray) -> None:
        for target, value in ((img, panel), (mask, 255)):
            _rounded_rectangle(target, (px, py, px + pw, py + ph), 16, value, -1)

    draw(float(rng.uniform(0.3, 0.6)), chat_box)
    # Face-button rings with letters, a shoulder-button rounded rectangle, a d-pad cross: at overlay-like spacing.
    radius = sized(14, 34)
    cx, cy = at(7 * radius, 9 * radius)
    ring, opacity = colour(), float(rng.uniform(0.3, 1.0))
    thick = int(rng.choice([2, 3, -1]))

    def buttons(img: np.ndarray, mask: np.ndarray) -> None:
        centres = [(cx + 3 * radius, cy + 3 * radius), (cx + 5 * radius, cy + 5 * radius)]
        centres += [(cx + 3 * radius, cy + 7 * radius), (cx + radius, cy + 5 * radius)]
        for (x, y), letter in zip(centres, "YBAX", strict=True):
            for target, value in ((img, ring), (mask, 255)):
                cv2.circle(target, (x, y), radius, value, thick, cv2.LINE_AA)
            cv2.putText(
                img, letter, (x - radius // 3, y + radius // 3), cv2.FONT_HERSHEY_SIMPLEX, radius / 30, colour(), 2
            )
            cv2.putText(mask, letter, (x - radius // 3, y + radius // 3), cv2.FONT_HERSHEY_SIMPLEX, radius / 30, 255, 2)
        for target, value in ((img, ring), (mask, 255)):
            _rounded_rectangle(target, (cx, cy, cx + 6 * radius, cy + int(1.2 * radius)), radius // 2, value, thick)

    draw(opacity, buttons)
    dx, dy = at(6 * radius, 6 * radius)
    pad = colour()

    def dpad(img: np.ndarray, mask: np.ndarray) -> None:
        for target, value in ((img, pad), (mask, 255)):
            cv2.rectangle(target, (dx + 2 * radius, dy), (dx + 4 * radius, dy + 6 * radius), value, thick)
            cv2.rectangle(target, (dx, dy + 2 * radius), (dx + 6 * radius, dy + 4 * radius), value, thick)

    draw(opacity, dpad)
    sw, sh = sized(140, 240), sized(40, 64)
    score_box = (*at(sw, sh), sw, sh, colour(), colour())
    return layer, alpha, score_box


def with_hud(frame: np.ndarray, hud: tuple, index: int) -> np.ndarray:
    """``frame`` with the HUD blended in and the score box showing a score that rises with ``index``."""
    layer, alpha, (x, y, w, h, box, text) = hud
    out = (frame * (1 - alpha[..., None]) + layer * alpha[..., None]).astype(np.uint8)
    cv2.rectangle(out, (x, y), (x + w, y + h), box, -1)
    cv2.rectangle(out, (x, y), (x + w, y + h), text, 2)
    cv2.putText(out, f"{1200 + 35 * (index // 4):06d}", (x + 8, y + h - 12), cv2.FONT_HERSHEY_SIMPLEX, h / 45, text, 2)
    return out


def clip_name(game: str, seed: int, crf: int, hud: bool, size: tuple[int, int]) -> str:
    """The clip's name in results and its file's stem."""
    return f"{game}_s{seed}_c{crf}{'_hud' if hud else ''}_{size[0]}x{size[1]}"


def clip_video(
    cache: Path, game: str, seed: int, crf: int, hud: bool, size: tuple[int, int], frames: int = FRAMES
) -> Path:
    """The clip's H.264 file in ``cache``, rendered once: the game letterboxed to ``size``, with HUD shapes if asked."""
    video = cache / f"{clip_name(game, seed, crf, hud, size)}.mp4"
    if not video.exists():
        shapes = hud_layer(np.random.default_rng((seed, len(game))), size) if hud else None
        with VideoWriter(video, fps=30, crf=crf) as writer:
            for index, frame in enumerate(game_frames(game, seed, frames)):
                big = letterbox(frame, size)
                writer.write(with_hud(big, shapes, index) if shapes is not None else big)
    return video


def templates() -> dict[str, np.ndarray]:
    """Every distinct template: the training sprite styles' and four presets' (as ``localize_check.py negatives``).

    Presets that differ only in how a press is drawn share their rest template (``xbox-grow-12`` is
    ``xbox-highlight-00``'s, ``minimal-highlight-18`` is ``minimal-color-06``'s) and would only repeat a result; a
    repeat is named after the first, ``first=second``.
    """
    named = {name: OverlayRenderer(sprite_style(name)).template() for name in TRAINING_STYLES}
    named |= {style.name: OverlayRenderer(style).template() for style in preset_styles()[:24:6]}
    distinct: dict[str, np.ndarray] = {}
    for name, template in named.items():
        same = next((other for other, seen in distinct.items() if np.array_equal(seen, template)), None)
        if same is None:
            distinct[name] = template
        else:
            distinct[f"{same}={name}"] = distinct.pop(same)
    return distinct


def read_results(path: Path) -> dict[tuple[str, str], dict]:
    """The rows of a results file by (clip, template); a line cut short by an interrupted run is skipped."""
    rows: dict[tuple[str, str], dict] = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        rows[(row["clip"], row["template"])] = row
    return rows


def result_row(
    clip: str, engine: str, hud: bool, template: str, false_find: bool, verdict: str, cpu_start: float, **more: object
) -> dict:
    """One (clip, template) result as the results file keeps it, with the CPU seconds since ``cpu_start``."""
    row = {"clip": clip, "engine": engine, "hud": hud, "template": template, "false_find": false_find}
    return row | more | {"verdict": verdict, "cpu": round(time.process_time() - cpu_start, 3)}


def append_row(out: TextIO, done: dict[tuple[str, str], dict], row: dict) -> None:
    """Append one result line, flushed (an interrupted run resumes after it), and keep it in ``done``."""
    out.write(json.dumps(row) + "\n")
    out.flush()
    done[(row["clip"], row["template"])] = row


def show_row(row: dict) -> None:
    """Print one (clip, template) result as the run goes."""
    print(f"{row['clip']} {row['template']}: {row['verdict']} [{row['cpu']:.2f} s]", flush=True)


def main() -> None:
    """Render the clips (once), localize every template in each, append results, print the summary."""
    from nitrogen_envs import all_games

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", type=Path, help="another localize.py to run instead of the shipped one")
    parser.add_argument("--tag", default="shipped", help="name of this run's results file")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/nitrogen-false-finds"))
    parser.add_argument("--games", nargs="*", help="only these games (default: every registered game)")
    parser.add_argument("--size", default="640x360", help="clip size (default: the training and held-out clips')")
    parser.add_argument("--shard", default="0/1", help="i/n: only every n-th game from the i-th (parallel runs)")
    parser.add_argument(
        "--only-found",
        metavar="TAG",
        help="run only the pairs run TAG found an overlay in and carry its verdict over for the rest: exact for a "
        "localize.py that only adds conditions to accepting a match (every candidate the old one rejected stays rejected)",
    )
    args = parser.parse_args()
    size = parse_resolution(args.size)
    shard, shards = (int(part) for part in args.shard.split("/"))
    cv2.setNumThreads(1)
    module = load_module(args.module)
    args.cache.mkdir(parents=True, exist_ok=True)
    results_path = args.cache / f"results_{args.tag}_{args.size}.jsonl"
    done = read_results(results_path)
    pending: set[tuple[str, str]] = set()  # pairs the --only-found run has not reached yet: skipped for now
    if args.only_found:
        carried = read_results(args.cache / f"results_{args.only_found}_{args.size}.jsonl")
        for key, row in carried.items():
            if not row["false_find"] and key not in done:
                done[key] = {**row, "carried": args.only_found}
    games = [g for g in all_games() if not args.games or g.name in args.games]
    matched = templates()
    with results_path.open("a") as out:
        for game in games[shard::shards]:
            for seed, crf, hud in VARIANTS:
                stem = clip_name(game.name, seed, crf, hud, size)
                if args.only_found and not any((stem, name) in carried for name in matched):
                    pending.update((stem, name) for name in matched)
                    continue
                video = clip_video(args.cache, game.name, seed, crf, hud, size)
                frames: list[np.ndarray] | None = None
                for name, template in matched.items():
                    key = (video.stem, name)
                    if args.only_found and key not in carried:
                        pending.add(key)
                        continue
                    if key not in done:
                        if frames is None:
                            frames = [
                                np.ascontiguousarray(f.to_ndarray(format="rgb24")) for f, _, _ in decode_frames(video)
                            ]
                        start = time.process_time()
                        try:
                            found = module.localize(frames, template)
                            verdict = f"FALSE FIND ({found.x}, {found.y}, {found.scale:.3f}) {found.score:.3f}"
                        except module.OverlayNotFound as error:
                            found = None
                            verdict = "none: " + str(error).split("; check")[0].removeprefix("no overlay found: ")
                        row = result_row(video.stem, game.engine, hud, name, found is not None, verdict, start)
                        append_row(out, done, row)
                    show_row(done[key])
    rows = [done[key] for key in done if any(key[0].startswith(g.name + "_s") for g in games)]
    missing = len(games) * len(VARIANTS) * len(matched) - len(rows)
    if missing:
        print(
            f"overlay_false_finds: incomplete, {missing} (clip, template) pairs not run yet (other shards?"
            f"{f' {len(pending)} not run by {args.only_found} yet' if pending else ''})"
        )
        return
    false = [row for row in rows if row["false_find"]]
    clips = {row["clip"] for row in rows}
    by_engine = Counter(row["engine"] for row in false)
    by_template = Counter(row["template"] for row in false)
    engines = sorted({row["engine"] for row in rows})
    print("false finds per engine: " + ", ".join(f"{e} {by_engine[e]}" for e in engines))
    print("false finds per template: " + ", ".join(f"{t} {by_template[t]}" for t in matched))
    print("false finds with HUD shapes: " + str(sum(row["hud"] for row in false)))
    cpu = [row["cpu"] for row in rows if "carried" not in row]  # CPU seconds of the calls this run made
    print(
        f"overlay_false_finds: false={len(false)} of {len(rows)} clips={len(clips)} "
        f"clips_with_false={len({row['clip'] for row in false})} run={len(cpu)} carried={len(rows) - len(cpu)} "
        f"cpu_median={statistics.median(cpu) if cpu else float('nan'):.2f} cpu_total={sum(cpu):.0f}"
    )


if __name__ == "__main__":
    main()
