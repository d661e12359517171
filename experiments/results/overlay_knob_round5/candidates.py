"""Knob choice diagnosis (Round 5): every candidate ring of every stick of the harness's clips, forced in turn.

For each clip the overlay is found as ``extract`` finds it (clips not found are skipped, as in the harness), the
knob is chosen as :meth:`StickMatcher.choose` chooses it, and then each candidate is forced and the clip read
through the track. Per candidate it prints the statistics the choice sees on its 24 frames (mean best score,
spread of the best placements, median contrast, mean score at rest) and the stick's squared error when read with
it, so a choice rule can be set against the candidate that reads best. Clips come from the harness's cache
(rendered by ``knob_harness.py``'s ``render``).

Usage::

    python experiments/results/overlay_knob_round5/candidates.py --styles sprite-xbox-3 ... [--set field=value]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from nitrogen_datasets.overlay import knob_match as km
from nitrogen_datasets.overlay.extract import spread_indices
from nitrogen_datasets.overlay.layout import STICK_AXES
from nitrogen_envs import gamepad

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("knob_harness", HERE.parent / "overlay_knob_round2" / "knob_harness.py")
assert _spec is not None and _spec.loader is not None
harness = importlib.util.module_from_spec(_spec)
sys.modules["knob_harness"] = harness
_spec.loader.exec_module(harness)


def stats(matcher: km.StickMatcher, frames: list[np.ndarray]) -> list[dict]:
    """What :meth:`StickMatcher.choose` sees of each candidate on ``frames`` (already picked)."""
    out = []
    for index, knob in enumerate(matcher.knobs):
        found, contrast, rest = [], [], []
        for frame in frames:
            result = matcher.score_map(frame, index)
            _, peak, _, (px, py) = cv2.minMaxLoc(result)
            found.append(matcher.offset(result, px, py, index))
            contrast.append(peak - float(np.median(result)))
            rest.append(float(result[knob.rest[1], knob.rest[0]]))
        located = np.array(found)
        out.append(
            {
                "radius": round(matcher.radii[index], 1),
                "score": float(located[:, 2].mean()),
                "spread": float(np.hypot(*located[:, :2].std(axis=0))),
                "contrast": float(np.median(contrast)),
                "rest": float(np.mean(rest)),
                "travel": float(max(matcher.travel)),
                "pos": located[:, :2].round(2).tolist(),
                "scores": located[:, 2].round(3).tolist(),
                "rests": np.round(rest, 3).tolist(),
            }
        )
    return out


def main() -> None:
    """Read every candidate of every clip found; print one line per stick (``*`` chosen, ``+`` best read)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--styles", nargs="+", required=True)
    parser.add_argument("--crfs", nargs="+", type=int, default=[23, 35])
    parser.add_argument("--scales", nargs="+", type=float, default=[0.5, 1.0, 2.0])
    parser.add_argument("--seed0", type=int, default=500)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/nitrogen-knob-harness"))
    parser.add_argument("--json", type=Path, help="write every row here too")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    config = km.KnobMatchConfig()
    rows = []
    index = 0
    for name in args.styles:
        for crf in args.crfs:
            for scale in args.scales:
                folder = harness.render(args.cache, name, crf, scale, args.seed0 + index)
                index += 1
                layout, template, where, origin, frames = harness.decode(folder, "found")
                if where is None:
                    print(f"{folder.name}: overlay not found", flush=True)
                    continue
                truth = np.load(folder / "truth.npy")
                reference = [frames[:120][i] for i in spread_indices(len(frames[:120]), 64)]
                reader = km.KnobStickReader(layout, where, template, reference, config, origin)
                picks = np.linspace(0, len(reference) - 1, config.choose_frames).round().astype(int)
                chosen_frames = [reference[i] for i in picks]
                for stick, matcher in reader.matchers.items():
                    axes = STICK_AXES[stick]
                    t = truth[:, [gamepad.FLAT_NAMES.index(a) for a in axes]]
                    default = matcher.choice
                    cands = stats(matcher, chosen_frames)
                    # forced reads: each candidate with the contrast and gate the choice would have given it
                    for i, cand in enumerate(cands):
                        matcher.choice = i
                        matcher.contrast = max(cand["contrast"], 1e-3)
                        matcher.visible = cand["score"] >= config.min_score
                        track = matcher.tracker()
                        got = []
                        for frame in frames:
                            for result, px, py in track.push(matcher.score_map(frame)):
                                got.append(matcher.axes(*matcher.offset(result, px, py)[:2]))
                        for result, px, py in track.flush():
                            got.append(matcher.axes(*matcher.offset(result, px, py)[:2]))
                        cand["sse"] = float(((np.array(got) - t) ** 2).sum())
                    row = {
                        "clip": folder.name,
                        "stick": stick,
                        "moving": bool(np.abs(t).max() > 0.05),
                        "sst": float((t**2).sum() - t.sum() ** 2 / t.size),
                        "sumsq": float((t**2).sum()),
                        "default": default,
                        "cands": cands,
                    }
                    rows.append(row)
                    best = int(np.argmin([c["sse"] for c in cands]))
                    line = " ".join(
                        f"{'*' if i == default else ' '}{'+' if i == best else ' '}r{c['radius']}"
                        f"[s{c['score']:.2f} sp{c['spread']:.2f} c{c['contrast']:.2f} rest{c['rest']:.2f} sse{c['sse']:.1f}]"
                        for i, c in enumerate(cands)
                    )
                    print(
                        f"{folder.name} {stick} {'moving' if row['moving'] else 'idle  '} tr{cands[0]['travel']:.1f}: {line}",
                        flush=True,
                    )
    if args.json:
        args.json.write_text(json.dumps(rows))


if __name__ == "__main__":
    main()
