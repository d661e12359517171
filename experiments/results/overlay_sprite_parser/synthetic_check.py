"""Shipped vs sprite-trained parser on 300 synthetic renders (seed 99): sprite styles of the train split, then parametric.

Run from the repository root after training runs/parser-sprites (see README.md here):
``OMP_NUM_THREADS=1 python experiments/results/overlay_sprite_parser/synthetic_check.py``.
"""

import torch

from nitrogen_datasets.overlay.parser_config import ParserNetConfig
from nitrogen_datasets.overlay.parser_training import evaluate_elements
from nitrogen_datasets.overlay.parser_weights import load_parser
from nitrogen_datasets.overlay.synthetic import ElementSampler


def main() -> None:
    """Print both parsers' validation figures on both sets of renders."""
    torch.set_num_threads(1)
    net = ParserNetConfig(button_margin=0.3)
    for fraction in (1.0, 0.0):
        batch = ElementSampler(99, net=net, sprite_fraction=fraction).sample(300)
        for name, folder in (("shipped", None), ("new", "runs/parser-sprites")):
            figures = evaluate_elements(load_parser(folder), batch)
            print(f"sprite_fraction={fraction} {name}: " + " ".join(f"{k}={v:.4f}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
