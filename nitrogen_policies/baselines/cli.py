"""``nitrogen baseline ...`` and ``nitrogen evaluate``: baselines and evaluation under one protocol.

Usage::

    nitrogen baseline ppo --game CoinRun --timesteps 200000 --out runs/ppo_coinrun
    nitrogen baseline bc --data demos/coinrun --batches 2000 --out runs/bc_coinrun
    nitrogen evaluate --agent runs/ppo_coinrun --game CoinRun --episodes 10
    nitrogen evaluate --agent runs/s1/final --game CoinRun --episodes 10      # a NitroGen checkpoint
    nitrogen evaluate --agent random --game CoinRun --episodes 10

The package's typed errors become one line (the root command does that); anything else keeps its traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


@click.group()
def baseline() -> None:
    """Train baselines: PPO from reward, BC with `imitation` (NitroGen from scratch is `nitrogen train`)."""


@baseline.command()
@click.option("--game", required=True, help="Game name or env id.")
@click.option("--task", default=None)
@click.option("--timesteps", default=100_000, show_default=True, type=click.IntRange(min=1))
@click.option("--envs", default=1, show_default=True, type=click.IntRange(min=1), help="Parallel environments.")
@click.option("--obs-size", default=64, show_default=True, type=click.IntRange(16, 512))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def ppo(
    game: str, task: str | None, timesteps: int, envs: int, obs_size: int, seed: int, out: Path, quiet: bool
) -> None:
    """Stable-Baselines3 PPO from the game's reward, on the flat gamepad action space."""
    from nitrogen_policies.import_utils import require_package

    require_package("stable_baselines3")  # one line naming the `rl` extra when missing; no gym banner
    from nitrogen_policies.baselines.ppo import PPOConfig, train_ppo

    folder = train_ppo(
        PPOConfig(game=game, task=task, timesteps=timesteps, n_envs=envs, obs_size=obs_size, seed=seed),
        out,
        progress=not quiet,
    )
    click.echo(f"PPO policy: {folder}")


@baseline.command()
@click.option(
    "--data",
    multiple=True,
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Dataset folder (repeatable).",
)
@click.option("--batches", default=1000, show_default=True, type=click.IntRange(min=1), help="Gradient steps.")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1))
@click.option("--obs-size", default=64, show_default=True, type=click.IntRange(36, 512))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def bc(data: tuple[Path, ...], batches: int, batch_size: int, obs_size: int, seed: int, out: Path, quiet: bool) -> None:
    """Behaviour cloning with `imitation` and an SB3 CNN policy on the same demonstrations."""
    from nitrogen_policies.import_utils import require_package

    for package in ("stable_baselines3", "imitation"):  # one line naming the `rl` / `imitation` extra when missing
        require_package(package)
    from nitrogen_policies.baselines.bc import BCConfig, train_bc

    config = BCConfig(
        data=[str(d) for d in data], n_batches=batches, batch_size=batch_size, obs_size=obs_size, seed=seed
    )
    folder = train_bc(config, out, progress=not quiet)
    click.echo(f"BC policy: {folder}")


def load_agent(spec: str) -> tuple[Any, int]:
    """An agent and its observation size (see :func:`nitrogen_policies.evaluation.resolve_agent`)."""
    from nitrogen_policies.evaluation import resolve_agent

    return resolve_agent(spec)


@click.command()
@click.option(
    "--agent", "agent_spec", required=True, help="'random', a PPO folder, or a NitroGen checkpoint / name / Hub id."
)
@click.option("--game", required=True)
@click.option("--task", default=None)
@click.option("--episodes", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=int, help="First seed; episodes use seed, seed+1, ...")
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Processes playing episodes at once."
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON (no progress bar).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def evaluate(
    agent_spec: str, game: str, task: str | None, episodes: int, seed: int, workers: int, as_json: bool, quiet: bool
) -> None:
    """Evaluate an agent on a game: per-episode return, success and normalized score (progress on stderr)."""
    from nitrogen_envs.registry import get_game
    from nitrogen_policies.evaluation import evaluate as run_evaluation

    spec = get_game(game)
    agent, obs_size = load_agent(agent_spec)  # a bad spec is one line here, before any worker starts
    results = run_evaluation(
        agent if workers == 1 else agent_spec,  # each worker loads its own
        spec.env_id,
        seeds=range(seed, seed + episodes),
        task=task,
        obs_size=obs_size,
        progress=not (quiet or as_json),
        workers=workers,
        game=spec.name,
    )
    rows = [vars(result) for result in results]
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    for row in rows:
        normalized = "" if row["score_normalized"] is None else f"  normalized {row['score_normalized']:.3f}"
        click.echo(
            f"seed {row['seed']}: return {row['episode_return']:.2f}  success {row['success']}  steps {row['steps']}{normalized}"
        )
    returns = [row["episode_return"] for row in rows]
    click.echo(
        f"mean return {sum(returns) / len(returns):.2f}, success rate {sum(r['success'] for r in rows) / len(rows):.2f}"
    )
