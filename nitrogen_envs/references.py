"""Measure the random-play reference scores (the 0 of ``score_normalized``) that the package ships.

This is the measuring half of the references: it plays games, so it imports the envs and wrappers.
Envs read the result at run time through :mod:`nitrogen_envs.scores`, which imports none of this.
``nitrogen_envs/data/random_scores.json`` is produced by::

    python -m nitrogen_envs.references --episodes 10 --out nitrogen_envs/data/random_scores.json

which plays uniformly random gamepad actions (the canonical action of a uniformly random native
action) over fixed seeds and records the mean episode return per game and task.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import gymnasium as gym
import numpy as np

from nitrogen_envs.registry import all_games
from nitrogen_envs.wrappers import NativeActions

logger = logging.getLogger(__name__)


def measure_random_score(env_id: str, task: str, episodes: int, seed: int = 0) -> list[float]:
    """Play ``episodes`` episodes of uniformly random native actions and return their returns."""
    env = NativeActions(gym.make(env_id, task=task, obs_size=64))
    env.action_space.seed(seed)
    returns = []
    for episode in range(episodes):
        env.reset(seed=seed + episode)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return returns


def main(argv: list[str] | None = None) -> None:
    """Measure random-play scores for every task that has an expert reference."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--games", nargs="*", help="only these game names")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    existing = json.loads(args.out.read_text())["scores"] if args.out.exists() else {}
    for game in all_games():
        if args.games and game.name not in args.games:
            continue
        for task in game.tasks:
            if task.expert_score is None:
                continue
            returns = measure_random_score(game.env_id, task.name, args.episodes, args.seed)
            existing[f"{game.name}/{task.name}"] = {
                "mean": float(np.mean(returns)),
                "std": float(np.std(returns)),
                "episodes": len(returns),
            }
            logger.info("%s/%s: %.2f +- %.2f", game.name, task.name, np.mean(returns), np.std(returns))
            payload = {"how": "python -m nitrogen_envs.references", "seed": args.seed, "scores": existing}
            tmp = args.out.with_suffix(".tmp")
            tmp.write_text(json.dumps(payload, indent=1, sort_keys=True))
            tmp.replace(args.out)


if __name__ == "__main__":
    main()
