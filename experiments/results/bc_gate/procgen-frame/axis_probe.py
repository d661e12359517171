"""Does v1 read the frame, or play each stick axis's marginal? Its per-axis probabilities on its training frames.

Why: v1 predicts "nothing" on almost every Chaser frame (docs/results.md section 14). Two readings fit that: the
factorized head's per-axis argmax lands on the centre although the network reads the frame (a decoding problem a
joint head would fix), or the network does not read the frame and outputs the label marginals (underfitting).
This prints, per task, each axis's mean probability of below / at / above centre, its spread over frames, the
argmax over the five moves under the head's independence, and the probability of x < 0 on LEFT- against
RIGHT-labelled frames: equal values mean the output does not depend on what the frame shows.

Run from the repository root, after ``experiments/bc_gate.py collect/train --engine procgen``:

    python experiments/results/bc_gate/procgen-frame/axis_probe.py [--run chaser1 --tasks Chaser/easy]

``--run`` probes another run's final weights (``single_task.py``'s ``chaser1``: one task, 64,000 samples;
``bc_gate.py``'s ``budget1``, or ``joint1``, whose joint stick cells give the moves' probabilities directly).
It also counts the frames labelled a move on which the likeliest left-stick cell is "nothing", with the head's
own probability of "nothing" there (below 0.5 means the per-axis argmax, not the network, chose it).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np
import torch

sys.path.insert(0, "experiments")
import bc_gate
from bc_classifier import load_episodes, native_labels

from nitrogen_policies.nitrogen import discrete_head

TASKS = (("Chaser", "easy"), ("Miner", "easy"), ("Heist", "hard"))
FRAMES = 600  # the fit stage's frames per task
LEFT, NOTHING, RIGHT = 1, 4, 7  # Procgen native indices


def main() -> None:
    """Print the probe for each of :data:`TASKS` on the v1 weights."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="v1", help="v1, or a run name whose weights are under runs/")
    parser.add_argument("--tasks", nargs="+", default=[f"{g}/{t}" for g, t in TASKS], metavar="GAME/TASK")
    args = parser.parse_args()
    bc_gate.use_engine("procgen", "frame")
    torch.set_num_threads(1)
    run = bc_gate.RUNS.get(args.run) or bc_gate.RunConfig(args.run)
    policy, _, _ = bc_gate.load_policy(run)
    print(f"run {run.name}")
    captured: list[torch.Tensor] = []
    decode = discrete_head.decode_logits

    def grab(logits: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        captured.append(logits.detach().float().cpu())
        return decode(logits, *args, **kwargs)

    discrete_head.decode_logits = grab  # type: ignore[assignment]
    bins = policy.config.stick_bins
    centre = bins // 2
    for game, task in (name.split("/") for name in args.tasks):
        captured.clear()
        frames, actions, _ = load_episodes(bc_gate.demo_folder(game, task))
        frames, actions = frames[:FRAMES], actions[:FRAMES]
        for i in range(0, len(frames), 200):
            policy.predict_action_chunk(frames[i : i + 200], game=game)
        logits = torch.cat(captured)
        logits = logits if logits.dim() == 2 else logits[:, 0]
        if policy.config.joint_sticks:  # the left stick's cells, x_bin * bins + y_bin: the moves are read off
            cells = logits[:, : bins * bins].softmax(-1).unflatten(-1, (bins, bins))
            px, py = cells.sum(-1), cells.sum(-2)
        else:  # per-axis categoricals: a move's probability is the product of its axes' (the head's independence)
            sticks = logits[:, : 4 * bins].unflatten(-1, (4, bins)).softmax(-1)
            px, py = sticks[:, 0], sticks[:, 1]
            cells = px[:, :, None] * py[:, None, :]
        lo, hi = px[:, :centre].sum(-1), px[:, centre + 1 :].sum(-1)
        dn, up = py[:, :centre].sum(-1), py[:, centre + 1 :].sum(-1)
        labels = native_labels(bc_gate.FAMILY, game, actions)
        moves = {"x-": cells[:, :centre, centre].sum(-1), "x+": cells[:, centre + 1 :, centre].sum(-1)}
        moves |= {"y-": cells[:, centre, :centre].sum(-1), "y+": cells[:, centre, centre + 1 :].sum(-1)}
        moves["none"] = cells[:, centre, centre]
        best = np.array(list(moves))[torch.stack(list(moves.values()), -1).argmax(-1).numpy()]

        def r(values: tuple[torch.Tensor, ...]) -> list[float]:
            return [round(float(v), 3) for v in values]

        print(f"{game}/{task}: frames {len(labels)}")
        print(
            f"  P(x<0, x=0, x>0) mean {r((lo.mean(), px[:, centre].mean(), hi.mean()))} std over frames "
            f"{r((lo.std(), px[:, centre].std(), hi.std()))}"
        )
        print(f"  P(y<0, y=0, y>0) mean {r((dn.mean(), py[:, centre].mean(), up.mean()))}")
        print(
            f"  argmax over the five moves: { ({k: int((best == k).sum()) for k in moves}) }; labels (native "
            f"0-8): {np.bincount(labels, minlength=9).tolist()}"
        )
        played = cells.flatten(1).argmax(-1).numpy()  # the likeliest cell of the left stick
        nothing = (played == centre * bins + centre) & (labels != NOTHING)
        print(
            f"  plays nothing on {int(nothing.sum())} frames labelled a move; the head's P(nothing) on them: "
            f"{float(moves['none'][torch.from_numpy(nothing)].mean()) if nothing.any() else float('nan'):.3f}"
        )
        left, right = labels == LEFT, labels == RIGHT
        print(
            f"  P(x<0) on LEFT-labelled frames {float(lo[left].mean()):.3f}, on RIGHT-labelled "
            f"{float(lo[right].mean()):.3f}; P(x>0) on RIGHT {float(hi[right].mean()):.3f}, on LEFT "
            f"{float(hi[left].mean()):.3f}"
        )


if __name__ == "__main__":
    main()
