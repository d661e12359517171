"""Can the nitrogen-s network learn actions from the picture at all? A control for the BC diagnosis.

The cloned policies of experiments/bc_diagnosis.py and bc_labels.py barely depend on the picture. This
rules the network in or out: synthetic 64 px frames of dark noise with one bright square, whose position
alone sets the action (square on the right: left stick right, else left; square at the top: ``south``
pressed). Same network, loss and optimizer as bc_labels.py. If these labels are learned, the image pathway
works and the cloned policies' blindness comes from their data (labels, size, budget).

Usage: ``python experiments/bc_probe.py [--steps 400] [--seed 0]`` (about 2 minutes on 2 cores); the last
line is ``bc_probe: step=... stick_sign_acc=... button_acc=...`` on 256 held-out frames.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

SIZE = 64
POLICY = {"image_size": SIZE, "cnn_channels": (32, 64, 128, 256)}


def frames_and_actions(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``n`` frames, their 16-step action chunks, and the two facts the actions encode."""
    from nitrogen_envs import gamepad

    frames = rng.integers(0, 60, (n, SIZE, SIZE, 3), dtype=np.uint8)
    right, top = rng.integers(0, 2, n), rng.integers(0, 2, n)
    for i in range(n):
        x0, y0 = (40 if right[i] else 8), (8 if top[i] else 40)
        frames[i, y0 : y0 + 16, x0 : x0 + 16] = 255
    actions = np.zeros((n, 16, gamepad.FLAT_SIZE), np.float32)
    actions[:, :, 0] = np.where(right, 1.0, -1.0)[:, None]
    actions[:, :, gamepad.BUTTON_SLICE.start] = top[:, None]
    return frames, actions, right, top


def main(argv: list[str] | None = None) -> int:
    """Train on fresh synthetic batches; print held-out accuracy every 100 steps."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args(argv)

    import torch

    from nitrogen_envs import gamepad
    from nitrogen_policies import NitroGenPolicy

    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    policy = NitroGenPolicy.from_config("nitrogen-s", **POLICY)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=args.lr)
    test_frames, _, test_right, test_top = frames_and_actions(rng, 256)
    started, line = time.perf_counter(), ""
    for step in range(1, args.steps + 1):
        frames, actions, _, _ = frames_and_actions(rng, 32)
        policy.train()
        loss, _ = policy({"frames": torch.from_numpy(frames), "actions": torch.from_numpy(actions)})
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 100 == 0 or step == args.steps:
            policy.eval()
            chunk = policy.predict_action_chunk(test_frames, generator=torch.Generator().manual_seed(1))
            stick = float(((chunk[:, :, 0] > 0) == test_right[:, None]).mean())
            button = float(((chunk[:, :, gamepad.BUTTON_SLICE.start] > 0.5) == test_top[:, None]).mean())
            line = f"bc_probe: step={step} loss={loss.item():.3f} stick_sign_acc={stick:.2f} button_acc={button:.2f}"
            print(f"{line} seconds={time.perf_counter() - started:.0f}", flush=True)
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
