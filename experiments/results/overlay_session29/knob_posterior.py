"""Knob readings as the track's posterior mean instead of its best path, offline on the harness clips' score maps.

The knob track (:class:`~nitrogen_datasets.overlay.knob_match.KnobTrack`) reads each frame at the best path's
placement (fixed-lag Viterbi). Stick R^2 is a squared error, which the posterior *mean* minimizes: where a look-alike
outscores the knob for a while, or the knob is not in the video, the posterior spreads and its mean falls toward the
middle of the sweep box instead of committing to the wrong place. Here scores become likelihoods
``exp(score / (temperature * contrast))``, a move beyond the free window weighs ``exp(-jump / temperature)`` (the
Viterbi track's costs as temperature goes to 0), and a fixed-lag forward-backward pass gives each frame's posterior
given the ``lag`` frames after it.

``cache`` reads every training-harness clip the shipped extraction finds (``knob_harness.py``'s clips in
``--cache``: Round 2's 54, the second training set's 48 and the four presets' 24, seeds 500/700/800 on), chooses
the knobs as ``extract`` does and saves each stick's score maps of the chosen knob; ``compare`` reads them with the
shipped track (``map``, which reproduces the harness's pooled R^2) and with the posterior mean at several
temperatures. Not shipped (docs/overlay.md, "Session 29").

Usage::

    python experiments/results/overlay_session29/knob_posterior.py cache /tmp/s29/maps
    python experiments/results/overlay_session29/knob_posterior.py compare /tmp/s29/maps
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from nitrogen_datasets.overlay import knob_match as km
from nitrogen_datasets.overlay.extract import spread_indices
from nitrogen_datasets.overlay.layout import STICK_AXES
from nitrogen_envs import gamepad

HARNESS = Path(__file__).resolve().parents[1] / "overlay_knob_round2" / "knob_harness.py"
_spec = importlib.util.spec_from_file_location("knob_harness", HARNESS)
assert _spec is not None and _spec.loader is not None
knob_harness = importlib.util.module_from_spec(_spec)
sys.modules["knob_harness"] = knob_harness
_spec.loader.exec_module(knob_harness)

SETS = {
    "train": (
        500,
        "sprite-xbox-3 sprite-dualsense-3 sprite-arcade-3 sprite-xbox-1 sprite-switch-pro-2 sprite-keyboard-2 "
        "sprite-switch-pro-3 sprite-keyboard-3 sprite-arcade-2",
    ),
    "val": (
        700,
        "sprite-xbox-0 sprite-switch-pro-1 sprite-dualsense-2 sprite-arcade-4 sprite-keyboard-5 sprite-keyboard-0 "
        "sprite-switch-pro-4 sprite-dualsense-5",
    ),
    "presets": (800, "xbox-highlight-00 minimal-color-06 xbox-grow-12 minimal-highlight-18"),
}
Stick = dict[str, Any]


def cache(out: Path, clips: Path) -> None:
    """Each found clip's sticks: score maps of the chosen knob, truth and what a reading needs, one .npz a stick."""
    out.mkdir(parents=True, exist_ok=True)
    config = km.KnobMatchConfig()
    for set_name, (seed0, styles) in SETS.items():
        index = 0
        for name in styles.split():
            for crf in (23, 35):
                for scale in (0.5, 1.0, 2.0):
                    folder = knob_harness.render(clips, name, crf, scale, seed0 + index)
                    index += 1
                    layout, template, where, origin, frames = knob_harness.decode(folder, "found")
                    if where is None:
                        continue
                    truth = np.load(folder / "truth.npy")
                    reference = [frames[:120][i] for i in spread_indices(len(frames[:120]), 64)]
                    reader = km.KnobStickReader(layout, where, template, reference, config, origin)
                    for stick, matcher in reader.matchers.items():
                        columns = [gamepad.FLAT_NAMES.index(a) for a in STICK_AXES[stick]]
                        np.savez(
                            out / f"{set_name}__{folder.name}__{stick}.npz",
                            maps=np.stack([matcher.score_map(frame) for frame in frames]),
                            truth=truth[:, columns],
                            rest=np.array(matcher.knobs[matcher.choice].rest, float),
                            step=matcher.step,
                            travel=np.array(matcher.travel),
                            contrast=matcher.contrast,
                            visible=matcher.visible,
                            free=matcher.tracker().free,
                        )
                    print(set_name, folder.name, flush=True)


def _axes(stick: Stick, offset_x: float, offset_y: float) -> tuple[float, float]:
    if not stick["visible"]:
        return 0.0, 0.0
    travel_x, travel_y = stick["travel"]
    return float(np.clip(offset_x / travel_x, -1, 1)), float(np.clip(-offset_y / travel_y, -1, 1))


def read_best_path(stick: Stick) -> np.ndarray:
    """The shipped reading: the fixed-lag Viterbi track's placement, refined to a fraction of a pixel."""
    contrast = float(stick["contrast"])
    config = km.KnobMatchConfig()
    track = km.KnobTrack(
        int(stick["free"]), config.track_jump * contrast, config.track_lag, False, config.track_clear * contrast
    )
    decided = []
    for score_map in stick["maps"]:
        decided += track.push(score_map)
    decided += track.flush()
    out = []
    for result, px, py in decided:
        dx, dy = km._refine(result, px, py)
        offset = ((px + dx - stick["rest"][0]) * stick["step"], (py + dy - stick["rest"][1]) * stick["step"])
        out.append(_axes(stick, *offset))
    return np.array(out)


def _box(a: np.ndarray, reach: int) -> np.ndarray:
    if reach <= 0:
        return a
    side = 2 * reach + 1
    return np.asarray(cv2.boxFilter(a, -1, (side, side), normalize=False, borderType=cv2.BORDER_CONSTANT))


def read_posterior_mean(stick: Stick, temperature: float, jump: float = 0.35, lag: int = 15) -> np.ndarray:
    """Each frame's posterior-mean placement given the frames up to ``lag`` after it."""
    maps = stick["maps"].astype(np.float64)
    count, height, width = maps.shape
    far = np.exp(-jump / temperature)  # a move beyond the free window, against one within it
    free = int(stick["free"])
    likelihood = np.exp((maps - maps.reshape(count, -1).max(1)[:, None, None]) / (temperature * stick["contrast"]))
    ys, xs = np.mgrid[0:height, 0:width]
    forward: list[np.ndarray] = []
    alpha: np.ndarray | None = None
    for t in range(count):
        prior = np.ones((height, width)) if alpha is None else (1 - far) * _box(alpha, free) + far * alpha.sum()
        alpha = likelihood[t] * prior
        alpha /= alpha.sum()
        forward.append(alpha)
    out = []
    for t in range(count):
        beta = np.ones((height, width))
        for k in range(min(count - 1, t + lag), t, -1):
            message = likelihood[k] * beta
            beta = (1 - far) * _box(message, free) + far * message.sum()
            beta /= beta.max()
        posterior = forward[t] * beta
        posterior /= posterior.sum()
        mean_x, mean_y = float((posterior * xs).sum()), float((posterior * ys).sum())
        offset = ((mean_x - stick["rest"][0]) * stick["step"], (mean_y - stick["rest"][1]) * stick["step"])
        out.append(_axes(stick, *offset))
    return np.array(out)


def pooled_r2(sticks: list[Stick], read: Callable[[Stick], np.ndarray]) -> float:
    """Stick R^2 pooled over every reading (the evaluation's ``Tally.stick_r2``)."""
    n = total = squares = sse = 0.0
    for stick in sticks:
        truth = stick["truth"]
        n += truth.size
        total += float(truth.sum())
        squares += float((truth**2).sum())
        sse += float(((read(stick) - truth) ** 2).sum())
    return 1.0 - sse / (squares - total * total / n)


def compare(folder: Path) -> None:
    """One line per reading rule: pooled stick R^2 on each set."""
    sets = {name: [dict(np.load(path)) for path in sorted(folder.glob(f"{name}__*.npz"))] for name in SETS}
    print("sticks:", {name: len(sticks) for name, sticks in sets.items()})
    rules: dict[str, Callable[[Stick], np.ndarray]] = {"best path (shipped)": read_best_path}
    for temperature in (0.02, 0.05, 0.1, 0.2):
        rules[f"posterior mean, temperature {temperature}"] = functools.partial(
            read_posterior_mean, temperature=temperature
        )
    for label, rule in rules.items():
        print(label + ": " + " ".join(f"{name}={pooled_r2(sticks, rule):.4f}" for name, sticks in sets.items()))


def main() -> None:
    """Cache the score maps, or compare the reading rules on them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=["cache", "compare"])
    parser.add_argument("folder", type=Path, help="where the score maps are (cache writes them there)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/nitrogen-knob-harness"), help="the harness's clips")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    if args.step == "cache":
        cache(args.folder, args.cache)
    else:
        compare(args.folder)


if __name__ == "__main__":
    main()
