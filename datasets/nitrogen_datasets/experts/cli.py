"""``nitrogen experts`` commands: measure the demonstration experts.

Usage::

    nitrogen experts report CoinRun/easy DoomBasic Crafter/collect_wood --episodes 3 --markdown
    python -m nitrogen_datasets.experts.cli report procgen --episodes 3 --max-steps 1000
"""

from __future__ import annotations

import json
import logging

import click

from nitrogen_datasets.experts.report import expert_report, format_report

DEFAULT_TARGETS = ("CoinRun/easy", "Pong", "DoomBasic", "Crafter/collect_wood")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def experts() -> None:
    """Demonstration experts (planner, scripted bots) and how well they play."""


@experts.command()
@click.argument("targets", nargs=-1)
@click.option("--episodes", default=3, show_default=True, help="Episodes per agent and task.")
@click.option("--seed", default=0, show_default=True, help="First episode seed (seeds seed..seed+episodes-1).")
@click.option("--expert", "expert_name", default=None, help="Expert for every task (default: per game).")
@click.option("--max-steps", default=None, type=int, help="Cap on steps per episode (default: the game's).")
@click.option("--obs-size", default=32, show_default=True, help="Frame size of the played env.")
@click.option("--no-random", is_flag=True, help="Skip the random baseline.")
@click.option(
    "--stop-on-success",
    is_flag=True,
    help="End episodes at the first success (same success rate; returns measured up to that point).",
)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Tasks in parallel.")
@click.option("--markdown", is_flag=True, help="Print a Markdown table.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def report(
    targets: tuple[str, ...],
    episodes: int,
    seed: int,
    expert_name: str | None,
    max_steps: int | None,
    obs_size: int,
    no_random: bool,
    stop_on_success: bool,
    workers: int,
    markdown: bool,
    as_json: bool,
    verbose: int,
    quiet: bool,
) -> None:
    """Success rate and return of the experts against random play on TARGETS.

    TARGETS are games (all tasks), GAME/TASK pairs or engine names (procgen, ale, vizdoom, crafter);
    default: a small sample of one task per engine.
    """
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    rows = expert_report(
        targets or DEFAULT_TARGETS,
        episodes=episodes,
        seed=seed,
        expert=expert_name,
        max_steps=max_steps,
        obs_size=obs_size,
        with_random=not no_random,
        stop_on_success=stop_on_success,
        workers=workers,
        progress=not quiet,
    )
    if as_json:
        print(json.dumps([row.to_dict() for row in rows], indent=2))
    else:
        print(format_report(rows, markdown=markdown))


def main() -> None:
    """Run the ``experts`` group without the root ``nitrogen`` command."""
    experts()


if __name__ == "__main__":
    main()
