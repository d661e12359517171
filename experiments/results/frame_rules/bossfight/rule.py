"""The BossFight frame rule as evaluated in session 16, kept as the record of a negative result (not shipped).

It lives about twice as long as random and kills the boss (11 points) in 2 of 20 ``easy`` and 1 of 20 ``hard``
episodes on seeds 1000-1019, where random scores 0 in all: the paired 95% CI's low end is 0, so it does not pass
the gate's criterion and is not in ``frame_procgen_shooters.PARSERS`` (experiments/results/frame_rules/bossfight.md
has the figures and how it fails). Evaluated once with ``P.update(rock=60, clear=6, speed=2.5)`` by patching
``frame_procgen_shooters.PARSERS["BossFight"] = parse_bossfight`` in one process, then ``bc_gate.play`` (random,
expert) on ``(("BossFight", "easy"), ("BossFight", "hard"))`` and ``bc_frame_expert.versus``. Run from the
repository root: ``python experiments/results/frame_rules/bossfight/rule.py easy expert 20 [key=value ...]``
plays training seeds 0..n-1.
"""

# ruff: noqa: D101, D102, D103  (an archived one-off: the module docstring says what it is)
import sys
import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

import nitrogen_envs  # noqa
from nitrogen_datasets.experts.frame_procgen import FIRE, PARSE_SIZE, as_parse_frame, blobs
from nitrogen_datasets.experts.frame_procgen_shooters import STARPILOT_MOVES, box_mean
from nitrogen_envs.base import unwrap

P = {
    "band": 96,
    "align": 4,
    "speed": 3.0,
    "radius": 6.0,
    "step": 4.0,
    "horizon": 4,
    "clear": 3.0,
    "goal_row": 118.0,
    "minpx": 6,
    "edge": 6.0,
    "white": 200,
    "boss_px": 40,
    "own": 3,
    "boss_r": 14,
    "own_w": 99,
    "rock": 30,
}


@dataclass(frozen=True)
class BossFightView:
    player: tuple[float, float] | None
    boss: tuple[float, float] | None
    threats: tuple = ()  # (row, col, drow, dcol)

    def clearance(self, dr, dc):
        r0, c0 = self.player
        norm = float(np.hypot(dr, dc)) or 1.0
        lo, hi = 2.0, PARSE_SIZE - 2.0
        t = np.array(self.threats, dtype=float).reshape(-1, 4)
        worst = float("inf")
        for k in range(1, int(P["horizon"]) + 1):
            r = min(max(r0 + dr / norm * P["step"] * k, lo), hi)
            c = min(max(c0 + dc / norm * P["step"] * k, lo), hi)
            worst = min(worst, c - P["edge"], PARSE_SIZE - P["edge"] - c)
            if len(t):
                tr = t[:, 0] + t[:, 2] * P["speed"] * k
                tc = t[:, 1] + t[:, 3] * P["speed"] * k
                worst = min(worst, float((np.hypot(r - tr, c - tc) - P["radius"]).min()))
        return worst

    def action(self) -> int:
        if self.player is None:
            return FIRE
        row, col = self.player
        scored = [(self.clearance(dr, dc), dr, dc, a) for dr, dc, a in STARPILOT_MOVES]
        goal = self.boss[1] if self.boss is not None else 64.0
        if abs(goal - col) <= P["align"] and scored[0][0] >= P["clear"]:
            return FIRE
        clear = [s for s in scored if s[0] >= P["clear"]]
        if not clear:
            return max(scored, key=lambda s: s[0])[3]

        def cost(s):
            r = row + s[1] * P["step"]
            c = col + s[2] * P["step"]
            return abs(goal - c) + 0.5 * abs(P["goal_row"] - r)

        return min(clear, key=cost)[3]


def parse_bossfight(frame):
    f = as_parse_frame(frame)
    bright = f.max(axis=2)
    sprite = bright - box_mean(bright, 4) >= 45
    grown = sprite.copy()
    grown[1:] |= sprite[:-1]
    grown[:-1] |= sprite[1:]
    grown[:, 1:] |= grown[:, :-1].copy()
    grown[:, :-1] |= grown[:, 1:].copy()
    parts = blobs(grown)
    best = None
    boss = None
    for i, (gr, gc) in enumerate(parts):
        n = len(gr)
        h, wd = np.ptp(gr) + 1, np.ptp(gc) + 1
        if boss is None or n > len(parts[boss][0]):
            boss = i
        k = int(sprite[gr, gc].sum())
        mc = f[gr, gc][sprite[gr, gc]].mean(axis=0) if k else np.zeros(3)
        rock = mc[0] - mc[2] >= P["rock"] and mc[0] <= 175
        shaped = gr.mean() >= P["band"] and 5 <= h <= 12 and 5 <= wd <= 12 and k >= 8 and n <= 90
        if not rock and shaped and (best is None or k > int(sprite[parts[best]].sum())):
            best = i
    player = None
    if best is not None:
        player = (float(parts[best][0].mean()), float(parts[best][1].mean()))
    white = (f.min(axis=2) >= P["white"]).astype(float)
    dens = box_mean(white, 10)
    bosspos = None
    if dens.max() * 441 >= P["boss_px"]:
        br, bc = np.unravel_index(int(np.argmax(dens)), dens.shape)
        bosspos = (float(br), float(bc))
    boss = None
    threats = []
    for i, (gr, gc) in enumerate(parts):
        if i in (best, boss):
            continue
        inside = sprite[gr, gc]
        if inside.sum() < P["minpx"]:
            continue
        r, c = float(gr[inside].mean()), float(gc[inside].mean())
        if (
            player is not None
            and abs(c - player[1]) <= P["own"]
            and r < player[0]
            and np.ptp(gc[inside]) + 1 <= P["own_w"]
        ):
            continue
        if bosspos is not None and np.hypot(r - bosspos[0], c - bosspos[1]) < P["boss_r"]:
            continue
        if bosspos is not None:
            d = np.array([r - bosspos[0], c - bosspos[1]])
            n = float(np.hypot(*d)) or 1.0
            threats.append((r, c, d[0] / n, d[1] / n))
        else:
            threats.append((r, c, 1.0, 0.0))
    return BossFightView(player, bosspos, tuple(threats))


def episode(seed, task, who, cap=400):
    env = gym.make("NitroGen/BossFight-v0", obs_size=128, task=task)
    base = unwrap(env)
    space = base.native_action_space()
    space.seed(seed)
    obs, _ = env.reset(seed=seed)
    ret = 0.0
    steps = 0
    for steps in range(1, cap + 1):  # noqa: B007  (the episode's length is returned)
        a = parse_bossfight(obs).action() if who == "expert" else int(space.sample())
        obs, r, te, tr, _info = env.step(base.native_to_gamepad(a))
        ret += r
        if te or tr:
            break
    env.close()
    return ret, steps


if __name__ == "__main__":
    task, who, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    for kv in sys.argv[4:]:
        k, v = kv.split("=")
        P[k] = float(v)
    t = time.time()
    rs = []
    for seed in range(n):
        rs.append(episode(seed, task, who))
    print(
        task,
        who,
        sys.argv[4:],
        "mean",
        np.mean([r for r, _ in rs]),
        "nz",
        sum(r > 0 for r, _ in rs),
        "len",
        np.mean([s for _, s in rs]),
        rs,
        f"{time.time() - t:.0f}s",
    )
