"""Train parsers with sprite styles and real play's press rates: does the press prior invent presses? (#18, part 3).

The parser trained with sprite styles in the mix (docs/overlay.md, "A parser trained with sprite styles in the
mix") read sprite art better on synthetic renders but invented presses in video, where real play presses about
2% of button-frames against the training stream's 30% (and triggers 1.4% against 60%), and its rest image is the
median of 64 frames against 1-3. This script trains that run again with the press rates of the training samples
lowered (variant ``rates``) and with a rest image of 3-5 frames as well (``rates-rest``); everything else is the
earlier run's recipe: the shipped weights trained further on 10,000 renders, half in trained-on sprite styles,
6 epochs, seed 0, one core each. Each variant is skipped when its folder already holds a finished run
(``parser.json`` with 6 epochs done), so the script resumes where it stopped.

Usage::

    python experiments/overlay_parser_mix.py runs/parser-mix                 # both variants, one after the other
    python experiments/overlay_parser_mix.py runs/parser-mix --variant rates # one (run two at once on 2 cores)
    python experiments/overlay_parser_mix.py runs/parser-mix --variant rates-30k --workers 2

``rates-30k`` is the parser shipped since session 28. It started from the parser shipped before (commit 781b9b3);
to train it again, start from that one (``--init``; the default is the parser shipped now)::

    mkdir -p runs/parser-781b9b3 && for f in parser.json parser.safetensors; do
        git show 781b9b3:datasets/nitrogen_datasets/overlay/weights/$f > runs/parser-781b9b3/$f; done
    python experiments/overlay_parser_mix.py runs/parser-mix --variant rates-30k --workers 2 --init runs/parser-781b9b3

Then read them as the earlier run was read (docs/overlay.md lists the commands), e.g.
``python benchmarks/overlay_sprite_baseline.py --parser-weights runs/parser-mix/rates --kinds idle held``.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path

from nitrogen_datasets.overlay.parser_config import ParserTrainConfig, SampleMix
from nitrogen_datasets.overlay.parser_training import train_parser
from nitrogen_datasets.overlay.parser_weights import BUNDLED_WEIGHTS

EPOCHS = 6
RATES = SampleMix(press_rate=0.1, trigger_rate=0.2)


@dataclass(frozen=True)
class Variant:
    """One run: its training stream's mix, how many renders (the earlier run's 10,000 unless said) and its seed."""

    mix: SampleMix
    renders: int = 10000
    seed: int = 0


VARIANTS = {
    "rates": Variant(RATES),
    "rates-rest": Variant(SampleMix(press_rate=0.1, trigger_rate=0.2, rest_frames=(3, 5))),
    "rates-30k": Variant(RATES, renders=30000),  # ``rates`` with three times the data, on both cores (--workers 2)
    # Session 29: the shipped ``rates-30k`` trained further on 30,000 renders it never saw, seed 2's pool (seed 1's
    # pool would be seed 0's validation renders).
    "rates-30k-fresh": Variant(RATES, renders=30000, seed=2),
}


def finished(folder: Path) -> bool:
    """Whether ``folder`` holds a run that finished every epoch."""
    try:
        return json.loads((folder / "parser.json").read_text()).get("epochs_done") == EPOCHS
    except (OSError, ValueError):
        return False


def main() -> None:
    """Train each variant asked for that has not finished."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder of the runs (one subfolder per variant)")
    parser.add_argument("--variant", choices=sorted(VARIANTS), nargs="*", default=sorted(VARIANTS))
    parser.add_argument("--workers", type=int, default=1, help="rendering processes and torch threads")
    parser.add_argument(
        "--init", type=Path, default=BUNDLED_WEIGHTS, help="the parser to start from (default: shipped)"
    )
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.workers))
    for name in args.variant:
        folder = args.out / name
        if finished(folder):
            print(f"{name}: finished already ({folder})")
            continue
        config = ParserTrainConfig(
            renders=VARIANTS[name].renders,
            epochs=EPOCHS,
            workers=args.workers,
            threads=args.workers,
            sprite_fraction=0.5,
            init=str(args.init),
            mix=VARIANTS[name].mix,
            seed=VARIANTS[name].seed,
        )
        result = train_parser(config, folder, progress=False)
        print(
            f"{name}: buttons {result.button_accuracy:.4f} triggers {result.trigger_accuracy:.4f} "
            f"stick R2 {result.stick_r2:.4f} ({result.seconds:.0f} s) -> {folder}"
        )


if __name__ == "__main__":
    main()
