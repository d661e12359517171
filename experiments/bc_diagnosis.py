"""Why does behaviour cloning of the planner lose to random? Measurements for issue 15's diagnosis table.

Two stages, each resumable (one JSON result per unit of work, written atomically; a rerun skips what
exists), then a report:

* ``eval``: the shipped ``nitrogen-s-procgen6`` policy under inference settings that differ from the
  documented ones in one thing at a time, against uniform random play and the planner expert it was
  cloned from, on the six training games (``easy``) and on seeds it never trained on (training used
  seeds 0-39; these are 1000+). Paired by seed, so "better than random" is a paired bootstrap.
* ``agreement``: how much of the planner's action is a function of the state at all. At each of its
  planning points the planner is asked again, from the same state, with fresh random candidates; if two
  independent plans agree on the first action hardly more often than two draws from the planner's own
  action frequencies would, a cloned policy has little to learn beyond those frequencies.
* ``report``: prints the Markdown tables (``--write`` puts them between the markers in docs/results.md).

Usage (from the repository root, dev install)::

    python experiments/bc_diagnosis.py eval --episodes 20        # ~1 h on one core
    python experiments/bc_diagnosis.py agreement --seeds 2
    python experiments/bc_diagnosis.py report --write
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

GAMES = ("StarPilot", "FruitBot", "BossFight", "Chaser", "Miner", "Jumper")
TASK = "easy"
FIRST_SEED = 1000
MAX_STEPS = 400
TRAINED_SIZE = 128  # the shipped policy's demonstrations were recorded at 128 px
OUT = Path("runs/bc_diagnosis")
RESULTS_DOC = Path("docs/results.md")
BEGIN, END = "<!-- bc-diagnosis:begin -->", "<!-- bc-diagnosis:end -->"


@dataclass(frozen=True)
class Variant:
    """One way of playing: an agent and the observation size it is given.

    Args:
        name: id in the tables.
        agent: ``random``, ``expert`` or ``policy``.
        obs_size: frame size the env renders (the policy resizes to its own 128 px either way).
        noise: ``fixed`` (``predict(deterministic=True)``: the same noise for every chunk), ``fresh``
            (new noise per chunk, seeded per episode), ``mean8`` (8 samples per chunk: mean sticks and
            triggers, majority buttons) or ``medoid8`` (8 samples; play the one closest to the others, a
            cheap estimate of the most likely chunk that, unlike the mean, never averages left and right
            into standing still).
        n_action_steps: actions played from each chunk before sampling the next.
        holds: the expert plans with ``hold_candidates=True`` (a candidate fix of its labels).
        what: the one thing that differs from the row before, in words.
    """

    name: str
    agent: str
    obs_size: int = 256
    noise: str = "fixed"
    n_action_steps: int = 8
    holds: bool = False
    what: str = ""


VARIANTS = (
    Variant("random", "random", what="uniform native actions"),
    Variant("documented", "policy", what="as docs/policies.md measured it: 256 px frames, fixed noise, 8 of 16"),
    Variant("obs128", "policy", obs_size=TRAINED_SIZE, what="frames at the 128 px the demonstrations had"),
    Variant("fresh-noise", "policy", obs_size=TRAINED_SIZE, noise="fresh", what="new noise per chunk"),
    Variant("mean8", "policy", obs_size=TRAINED_SIZE, noise="mean8", what="mean of 8 samples per chunk"),
    Variant("medoid8", "policy", obs_size=TRAINED_SIZE, noise="medoid8", what="the most typical of 8 samples"),
    Variant("replan4", "policy", obs_size=TRAINED_SIZE, noise="fresh", n_action_steps=4, what="4 of 16, fresh"),
    Variant("expert", "expert", obs_size=TRAINED_SIZE, what="the save-state planner the policy cloned"),
    Variant("expert-holds", "expert", obs_size=TRAINED_SIZE, holds=True, what="the planner with hold candidates"),
)


def atomic_json(path: Path, data: Any) -> None:
    """Write JSON so that a kill leaves either the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


class PolicyAgent:
    """The shipped policy played with one variant's inference settings."""

    def __init__(self, variant: Variant, game: str, checkpoint: str = "nitrogen-s-procgen6") -> None:
        import torch

        from nitrogen_policies import NitroGenPolicy

        self.torch = torch
        self.policy = NitroGenPolicy.from_pretrained(checkpoint)
        self.policy.set_game(game)
        self.variant = variant
        self.queue: list[np.ndarray] = []
        self.generator = torch.Generator()

    def reset(self, seed: int) -> None:
        """Start an episode: empty queue, noise seeded by the episode seed (repeatable)."""
        self.queue = []
        self.generator.manual_seed(seed)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Next action, sampling a new chunk when the played part of the last one is used up."""
        if not self.queue:
            self.queue = list(self._chunk(obs)[: self.variant.n_action_steps])
        return self.queue.pop(0)

    def _chunk(self, obs: np.ndarray) -> np.ndarray:
        from nitrogen_envs import gamepad

        if self.variant.noise == "fixed":
            return self.policy.predict_action_chunk(obs, generator=self.torch.Generator().manual_seed(0))
        if self.variant.noise == "fresh":
            return self.policy.predict_action_chunk(obs, generator=self.generator)
        samples = self.policy.predict_action_chunk(np.stack([obs] * 8), generator=self.generator)
        if self.variant.noise == "medoid8":
            played = samples[:, : self.variant.n_action_steps].reshape(len(samples), -1)
            distances = np.abs(played[:, None] - played[None]).sum(axis=-1).sum(axis=1)
            return samples[int(np.argmin(distances))]
        chunk = samples.mean(axis=0)
        chunk[:, gamepad.BUTTON_SLICE] = (chunk[:, gamepad.BUTTON_SLICE] >= 0.5).astype(np.float32)
        return chunk


def planner_expert(game: str, holds: bool = False, candidates: int | None = None, **changes: Any) -> Any:
    """The shipped planner expert of ``game`` (its engine's default settings, seed 0), optionally changed.

    ``changes`` are further :class:`PlannerConfig` fields (e.g. bc_classifier's reactive labeller).
    """
    from nitrogen_datasets.experts.registry import default_planner_config, make_expert
    from nitrogen_envs.registry import get_game

    config = dataclasses.replace(default_planner_config(get_game(game).engine), hold_candidates=holds, **changes)
    if candidates is not None:
        config = dataclasses.replace(config, candidates=candidates)
    return make_expert("planner", game, planner=config)


def play(variant: Variant, game: str, seed: int, checkpoint: str = "nitrogen-s-procgen6") -> dict[str, Any]:
    """One episode; returns return, success, normalized score, steps and wall time."""
    import gymnasium as gym

    from nitrogen_envs import FlatGamepad, gamepad
    from nitrogen_policies.evaluation import RandomAgent

    env = FlatGamepad(gym.make(f"NitroGen/{game}-v0", task=TASK, obs_size=variant.obs_size))
    started = time.perf_counter()
    try:
        obs, info = env.reset(seed=seed)
        act: Callable[[np.ndarray, dict[str, Any]], np.ndarray]
        if variant.agent == "random":
            random_agent = RandomAgent(env, seed=seed)
            act = lambda o, i: random_agent.predict(o)[0]  # noqa: E731
        elif variant.agent == "expert":
            expert = planner_expert(game, holds=variant.holds)
            expert.reset(env, seed)
            act = lambda o, i: gamepad.to_flat(expert.act(o, i))  # noqa: E731
        else:
            agent = PolicyAgent(variant, game, checkpoint)
            agent.reset(seed)
            act = lambda o, i: agent.act(o)  # noqa: E731
        info, steps = play_out(env, obs, info, act)
    finally:
        env.close()
    return episode_record(seed, info, steps, started)


def play_out(
    env: Any, obs: np.ndarray, info: dict[str, Any], act: Callable[[np.ndarray, dict[str, Any]], Any]
) -> tuple[dict[str, Any], int]:
    """Step ``act``'s actions until the episode ends or :data:`MAX_STEPS`; the last info and the step count."""
    steps, done = 0, False
    while not done:
        obs, _, terminated, truncated, info = env.step(act(obs, info))
        steps += 1
        done = terminated or truncated or steps >= MAX_STEPS
    return info, steps


def episode_record(seed: int, info: dict[str, Any], steps: int, started: float) -> dict[str, Any]:
    """One episode's row in the result files (``started``: its ``time.perf_counter()`` at reset)."""
    return {
        "seed": seed,
        "return": float(info["episode_return"]),
        "success": bool(info["success"]),
        "normalized": info.get("score_normalized"),
        "steps": steps,
        "seconds": round(time.perf_counter() - started, 2),
    }


def run_eval(episodes: int, variants: list[str] | None) -> None:
    """Every (variant, game) pair not already on disk."""
    import torch

    torch.set_num_threads(1)
    chosen = [v for v in VARIANTS if variants is None or v.name in variants]
    for variant in chosen:
        for game in GAMES:
            path = OUT / "eval" / variant.name / f"{game}.json"
            if path.is_file() and len(json.loads(path.read_text())["episodes"]) >= episodes:
                continue
            started = time.perf_counter()
            rows = [play(variant, game, FIRST_SEED + k) for k in range(episodes)]
            atomic_json(path, {"variant": asdict(variant), "game": game, "task": TASK, "episodes": rows})
            print(f"{variant.name:12s} {game:10s} {time.perf_counter() - started:6.0f} s", flush=True)


def pair_agreement(items: list[Any]) -> tuple[int, int]:
    """(equal pairs, pairs) among ``items``."""
    same = sum(a == b for i, a in enumerate(items) for b in items[i + 1 :])
    return same, len(items) * (len(items) - 1) // 2


def run_agreement(
    seeds: int, probes: int, max_steps: int, candidates: int | None, games: list[str], holds: bool = False
) -> None:
    """Planner self-agreement, per game (see the module docstring).

    Three labels are compared between independent plans from the same state: the first native action, its
    left-stick direction, and the majority direction of the whole committed window (what a chunk label
    that keeps only the plan's dominant move would be). ``candidates`` changes the planner's search width
    (default: the shipped expert's), to see whether more search makes the labels more consistent.
    """
    import gymnasium as gym

    tag = "agreement" + ("" if candidates is None else f"-c{candidates}") + ("-holds" if holds else "")
    for game in games:
        path = OUT / tag / f"{game}.json"
        if path.is_file():
            continue
        tallies = {"first": [0, 0], "direction": [0, 0], "plan": [0, 0]}
        firsts, moved, plans, played = [], [], [], []
        started = time.perf_counter()
        for seed in range(FIRST_SEED, FIRST_SEED + seeds):
            env = gym.make(f"NitroGen/{game}-v0", task=TASK, obs_size=64)
            expert: Any = planner_expert(game, holds=holds, candidates=candidates)
            obs, info = env.reset(seed=seed)
            expert.reset(env, seed)
            for step in range(max_steps):
                if not expert._queue:  # the planner is about to plan: ask it `probes` times from here
                    saved = (expert._rng, list(expert._plan), list(expert._visited))
                    answers, windows = [], []
                    for probe in range(probes):
                        expert._rng = np.random.default_rng([seed, step, probe, 7])
                        expert._plan, expert._visited = list(saved[1]), list(saved[2])
                        expert._replan()
                        answers.append(expert._queue[0])
                        windows.append(majority_direction(env, expert._queue))
                    expert._rng, expert._plan, expert._visited = saved[0], saved[1], saved[2]
                    expert._queue = []
                    moves = [direction(env, a) for a in answers]
                    for key, items in (("first", answers), ("direction", moves), ("plan", windows)):
                        same, pairs = pair_agreement(items)
                        tallies[key][0] += same
                        tallies[key][1] += pairs
                    firsts += answers
                    moved += moves
                    plans += windows
                action = expert.act(obs, info)
                played.append(int(unwrap_native(env, action)))
                obs, _, terminated, truncated, info = env.step(action)
                if terminated or truncated:
                    break
            env.close()
        played_arr = np.asarray(played)
        pairs = max(tallies["first"][1], 1)
        atomic_json(
            path,
            {
                "game": game,
                "candidates": candidates,
                "holds": holds,
                "planning_points": tallies["first"][1] // max(probes * (probes - 1) // 2, 1),
                "agreement": tallies["first"][0] / pairs,
                "direction_agreement": tallies["direction"][0] / pairs,
                "plan_direction_agreement": tallies["plan"][0] / pairs,
                # chance: two different draws from the planner's own label frequencies agree
                "chance": unbiased_collision(firsts),
                "direction_chance": unbiased_collision(moved),
                "plan_direction_chance": unbiased_collision(plans),
                "repeat_rate": float((played_arr[1:] == played_arr[:-1]).mean()) if len(played) > 1 else 0.0,
                "distinct_actions": len(set(firsts)),
                "seconds": round(time.perf_counter() - started, 1),
            },
        )
        print(f"{tag} {game}: {json.loads(path.read_text())}", flush=True)


def image_sensitivity(
    checkpoint: str, game: str, obs_size: int, frames: int = 16, task: str | None = TASK
) -> dict[str, float]:
    """How much the policy's output depends on the picture, against how much it depends on the noise.

    ``frames`` frames of different levels (seeds 2000+, after 30 random steps) are each denoised from the
    same noise; the spread of the raw outputs across frames is compared with the spread across 16 noises
    for one frame. A policy that ignores the picture has a ratio near 0.
    """
    import gymnasium as gym
    import torch

    from nitrogen_policies import NitroGenPolicy

    policy = NitroGenPolicy.from_pretrained(checkpoint)
    options: dict[str, Any] = {"task": task} if task else {}
    env = gym.make(f"NitroGen/{game}-v0", obs_size=obs_size, **options)
    images = []
    try:
        for k in range(frames):
            obs, _ = env.reset(seed=2000 + k)
            env.action_space.seed(k)
            for _ in range(30):
                obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
                if terminated or truncated:
                    break
            images.append(obs)
    finally:
        env.close()

    def raw(frame: np.ndarray, seed: int) -> np.ndarray:
        return policy.sample_raw(frame, game=game, generator=torch.Generator().manual_seed(seed))[0].numpy()

    across_frames = float(np.stack([raw(frame, 0) for frame in images]).std(axis=0).mean())
    across_noise = float(np.stack([raw(images[0], seed) for seed in range(16)]).std(axis=0).mean())
    return {"across_frames": across_frames, "across_noise": across_noise, "ratio": across_frames / across_noise}


def run_sensitivity() -> None:
    """Image sensitivity of the shipped policy on each game."""
    for game in GAMES:
        path = OUT / "sensitivity" / f"{game}.json"
        if not path.is_file():
            atomic_json(path, {"game": game, **image_sensitivity("nitrogen-s-procgen6", game, TRAINED_SIZE)})


def majority_direction(env: Any, window: list[int]) -> tuple[int, int]:
    """The most frequent left-stick direction among a committed window of native actions (first on ties)."""
    moves = [direction(env, native) for native in window]
    return max(moves, key=moves.count)


def unbiased_collision(items: list[Any]) -> float:
    """Probability that two different draws from ``items`` are equal (without replacement)."""
    _, counts = np.unique(np.asarray(items).reshape(len(items), -1), axis=0, return_counts=True)
    total = max(len(items), 2)
    return float((counts * (counts - 1)).sum() / (total * (total - 1)))


def direction(env: Any, native: int) -> tuple[int, int]:
    """The left-stick direction (sign of x and y) a native action is sent as: what moves the agent."""
    stick = env.unwrapped.native_to_gamepad(native)["left_stick"]
    return int(np.sign(round(float(stick[0]), 3))), int(np.sign(round(float(stick[1]), 3)))


def unwrap_native(env: Any, action: Any) -> int:
    """The native action index a gamepad action maps to (what the engine receives)."""
    return int(env.unwrapped.gamepad_to_native(action))


def bootstrap_ci(values: np.ndarray, reps: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean."""
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (reps, len(values)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def paired_difference(
    mine: list[dict[str, Any]], base: list[dict[str, Any]]
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Normalized scores of ``mine``, their differences from ``base`` on the same seeds, and its 95% CI."""
    n = min(len(mine), len(base))
    score = np.array([e["normalized"] for e in mine[:n]], float)
    diff = score - np.array([e["normalized"] for e in base[:n]], float)
    low, high = bootstrap_ci(diff)
    return score, diff, low, high


def load_eval() -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Every eval result on disk, by variant then game."""
    found: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for path in sorted((OUT / "eval").glob("*/*.json")):
        data = json.loads(path.read_text())
        found.setdefault(data["variant"]["name"], {})[data["game"]] = data["episodes"]
    return found


def report() -> str:
    """Markdown tables of whatever results exist."""
    found = load_eval()
    lines = [
        f"Seeds {FIRST_SEED}-{FIRST_SEED + 19} (the policy trained on 0-39), `{TASK}` task, {MAX_STEPS}-step cap; "
        "difference = variant minus random on the same seeds, normalized score, mean with a paired 95% "
        "bootstrap interval. Made by `python experiments/bc_diagnosis.py eval && ... report --write`.",
        "",
        "| variant | what changes | " + " | ".join(GAMES) + " | above random (CI > 0) | mean of expert's |",
        "|---|---|" + "---|" * len(GAMES) + "---|---|",
    ]
    random_runs, expert_runs = found.get("random", {}), found.get("expert", {})
    for variant in VARIANTS:
        runs = found.get(variant.name)
        if not runs:
            continue
        cells, above, fractions = [], 0, []
        for game in GAMES:
            mine, base = runs.get(game), random_runs.get(game)
            if not mine or not base:
                cells.append("-")
                continue
            score, diff, low, high = paired_difference(mine, base)
            n = len(score)
            above += low > 0
            success = np.mean([e["success"] for e in mine[:n]])
            cells.append(f"{score.mean():.2f} ({diff.mean():+.2f} [{low:+.2f}, {high:+.2f}]) {success:.0%}")
            expert = expert_runs.get(game)
            if expert:
                expert_mean = np.mean([e["normalized"] for e in expert[:n]])
                if expert_mean > 0:
                    fractions.append(score.mean() / expert_mean)
        share = f"{np.mean(fractions):.2f}" if fractions else "-"
        lines.append(f"| `{variant.name}` | {variant.what} | " + " | ".join(cells) + f" | {above} of 6 | {share} |")
    lines += ["", "Cells: mean normalized score (difference from random [95% CI]) success rate."]
    sensitivity = sorted((OUT / "sensitivity").glob("*.json"))
    if sensitivity:
        rows = [json.loads(path.read_text()) for path in sensitivity]
        lines += [
            "",
            "How much the shipped policy's output depends on the picture (`python experiments/bc_diagnosis.py "
            "sensitivity`): the spread of its raw output across 16 frames of different levels denoised from the "
            "same noise, against the spread across 16 noises for one frame:",
            "",
            "| game | across frames | across noise | ratio |",
            "|---|---|---|---|",
            *(
                f"| {row['game']} | {row['across_frames']:.4f} | {row['across_noise']:.4f} | {row['ratio']:.3f} |"
                for row in rows
            ),
        ]
    folders = sorted(OUT.glob("agreement*"), key=lambda f: (len(f.name), f.name))
    if folders:
        lines += [
            "",
            "Planner self-agreement: at each planning point the planner plans 4 times from the same state with "
            "fresh candidates. Each cell is the share of pairs of plans that agree (on the first native action, "
            "on its left-stick direction, on the majority direction of the 8 committed actions), then in "
            "brackets the chance that two draws from the planner's own frequencies of that label agree. Made by "
            "`python experiments/bc_diagnosis.py agreement --seeds 3 [--candidates 64 --games ...]`.",
            "",
            "| game | candidates | planning points | first action | direction | plan's majority direction "
            "| played action repeats |",
            "|---|---|---|---|---|---|---|",
        ]
        for folder in folders:
            for path in sorted(folder.glob("*.json")):
                row = json.loads(path.read_text())
                plan = (
                    f"{row['plan_direction_agreement']:.2f} ({row['plan_direction_chance']:.2f})"
                    if "plan_direction_agreement" in row
                    else "-"
                )
                lines.append(
                    f"| {row['game']} | {row.get('candidates') or 16}{' + holds' if row.get('holds') else ''} | "
                    f"{row['planning_points']} | "
                    f"{row['agreement']:.2f} ({row['chance']:.2f}) | "
                    f"{row['direction_agreement']:.2f} ({row['direction_chance']:.2f}) | {plan} | "
                    f"{row['repeat_rate']:.2f} |"
                )
    return "\n".join(lines)


def write_report(text: str, begin: str = BEGIN, end: str = END) -> None:
    """Replace the generated block between ``begin`` and ``end`` in docs/results.md (atomically)."""
    doc = RESULTS_DOC.read_text() if RESULTS_DOC.is_file() else f"# Results\n\n{begin}\n{end}\n"
    if begin not in doc:
        doc += f"\n{begin}\n{end}\n"
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    tmp = RESULTS_DOC.with_name(RESULTS_DOC.name + ".partial")
    tmp.write_text(f"{head}{begin}\n{text}\n{end}{tail}")
    os.replace(tmp, RESULTS_DOC)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``eval``, ``agreement`` or ``report``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="stage", required=True)
    ev = sub.add_parser("eval", help="policy variants, random and expert on paired seeds")
    ev.add_argument("--episodes", type=int, default=20)
    ev.add_argument("--variants", nargs="*", default=None, choices=[v.name for v in VARIANTS])
    ag = sub.add_parser("agreement", help="planner self-agreement on the first action")
    ag.add_argument("--seeds", type=int, default=2)
    ag.add_argument("--probes", type=int, default=4)
    ag.add_argument("--max-steps", type=int, default=200)
    ag.add_argument("--candidates", type=int, default=None, help="planner search width (default: the expert's)")
    ag.add_argument("--games", nargs="*", default=list(GAMES), choices=GAMES)
    ag.add_argument("--holds", action="store_true", help="planner with hold_candidates=True")
    sub.add_parser("sensitivity", help="how much the shipped policy's output depends on the picture")
    rp = sub.add_parser("report", help="print the tables (--write: into docs/results.md)")
    rp.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    if args.stage == "eval":
        run_eval(args.episodes, args.variants)
    elif args.stage == "sensitivity":
        run_sensitivity()
    elif args.stage == "agreement":
        run_agreement(args.seeds, args.probes, args.max_steps, args.candidates, args.games, args.holds)
    else:
        text = report()
        print(text)
        if args.write:
            write_report(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
