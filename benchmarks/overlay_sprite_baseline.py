"""How well the shipped extractor reads held-out sprite-sheet overlays: the baseline of issue #18 part 3.

Runs the overlay evaluation's own clip (``evaluate_clip``: render over a moving scene, H.264, full
``extract``, compare with the actions that drew it) for sprite styles of the held-out half of
``SPRITE_SPLIT`` (families never trained on, or drawing treatments never trained on) at every CRF, scale
and kind of clip asked for, and prints the evaluation's tables. The shipped parser was trained on the four
parametric families only, so every sprite style is new to it; the held-out ones stay new after part 3.

Usage::

    python benchmarks/overlay_sprite_baseline.py                       # 6 held-out styles x CRF 23/35 x scale 0.5/1/2
    python benchmarks/overlay_sprite_baseline.py --styles sprite-gamecube-4 --crfs 28 --scales 1 --parser reference

Prints the figures last as one line: ``overlay_sprite_baseline: key=value ...`` (pooled over every clip,
a clip whose overlay is not found scores all its readings wrong), with peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import time

from nitrogen_datasets.overlay.eval_report import format_evaluation
from nitrogen_datasets.overlay.evaluate import OverlayEvalConfig, Tally, _job
from nitrogen_datasets.overlay.sprite_styles import SPRITE_SPLIT, sprite_style
from nitrogen_datasets.parallel import run_parallel

DEFAULT_STYLES = (
    "sprite-dualshock-1",  # held-out family, gradient
    "sprite-dualshock-5",  # held-out family, sticker
    "sprite-gamecube-2",  # held-out family, textured
    "sprite-gamecube-4",  # held-out family, glossy
    "sprite-xbox-6",  # held-out treatment (neon) on a trained family
    "sprite-keyboard-7",  # held-out treatment (pixel) on a trained family
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--styles", nargs="+", default=list(DEFAULT_STYLES))
    parser.add_argument("--crfs", nargs="+", type=int, default=[23, 35])
    parser.add_argument("--scales", nargs="+", type=float, default=[0.5, 1.0, 2.0])
    parser.add_argument("--kinds", nargs="+", default=["play"])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--parser", default="learned", choices=["learned", "reference"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    styles = [sprite_style(name) for name in args.styles]
    trained = [style.name for style in styles if not SPRITE_SPLIT.is_held_out(style)]
    if trained:
        print(f"note: {trained} are in the trained-on half of SPRITE_SPLIT")
    config = OverlayEvalConfig(
        crfs=tuple(args.crfs),
        scales=tuple(args.scales),
        frames=args.frames,
        method=args.parser,
        seed=args.seed,
        kinds=tuple(args.kinds),
    )
    cells = [(style, crf, scale) for style in styles for crf in config.crfs for scale in config.scales]
    jobs = [
        (style, crf, scale, config, config.seed * 100_003 + index, kind)
        for index, (style, crf, scale) in enumerate(cells)
        for kind in config.kinds
    ]
    start = time.perf_counter()
    results = [result for _, result in run_parallel(jobs, _job, workers=args.workers)]
    seconds = time.perf_counter() - start
    print(format_evaluation(results))
    pooled = Tally()
    for result in results:
        pooled.add(result.total)
    located = sum(result.located for result in results)
    for result in results:
        if not result.located:
            print(f"not found: {result.style} CRF {result.crf} scale {result.scale} ({result.kind})")
    rss = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    print(
        f"overlay_sprite_baseline: parser={args.parser} clips={len(results)} located={located} "
        f"button={pooled.button_accuracy:.4f} trigger={pooled.trigger_accuracy:.4f} stick_r2={pooled.stick_r2:.4f} "
        f"seconds={seconds:.0f} peak_rss_mb={rss / 1024:.0f}"
    )


if __name__ == "__main__":
    main()
