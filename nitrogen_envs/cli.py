"""The ``nitrogen`` command: one entry point, one subcommand group per package.

Subcommands are listed as ``"module:function"`` strings and imported only when run, so
``nitrogen --help`` stays fast and no package imports another it must not (e.g. torch for ``list``).

Usage::

    nitrogen list [--markdown]
    nitrogen info CoinRun
    nitrogen rollout CoinRun --steps 500 --video coinrun.mp4
    nitrogen play CoinRun
"""

from __future__ import annotations

import importlib
import logging

import click

# name -> (import path, one-line help shown by `nitrogen --help` without importing the command)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "list": ("nitrogen_envs.commands:list_games", "List games, tasks and genres."),
    "info": ("nitrogen_envs.commands:info", "Show a game's tasks, mapping table and settings."),
    "rollout": ("nitrogen_envs.commands:rollout", "Play an embedded game with a simple agent; write an mp4."),
    "play": ("nitrogen_datasets.play_cli:play", "Play a game yourself (keyboard or gamepad), optionally recording it."),
    "train": ("nitrogen_policies.cli:train", "Train a NitroGen policy on demonstration datasets."),
    "finetune": ("nitrogen_policies.cli:finetune", "Fine-tune a pretrained NitroGen policy."),
    "live": ("nitrogen_envs.live.cli:live", "Live games: list the catalog, clean up stuck keys and launched games."),
    "data": ("nitrogen_datasets.cli:data", "Demonstration datasets: record with an expert, inspect, verify."),
    "collect": (
        "nitrogen_datasets.cli:collect",
        "Collect expert demonstrations in parallel (--workers, --ray), resumably.",
    ),
    "experts": ("nitrogen_datasets.experts.cli:experts", "Demonstration experts: measure them against random play."),
    "overlay": (
        "nitrogen_datasets.overlay.cli:overlay",
        "Input overlays: render onto gameplay, extract actions from videos.",
    ),
    "baseline": ("nitrogen_policies.baselines.cli:baseline", "Train baselines (SB3 PPO from reward, ...)."),
    "evaluate": ("nitrogen_policies.baselines.cli:evaluate", "Evaluate an agent (random, PPO, NitroGen) on a game."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Subcommand names, without importing them."""
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import and return one subcommand."""
        if cmd_name not in SUBCOMMANDS:
            return None
        module_name, attr = SUBCOMMANDS[cmd_name][0].split(":")
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Help listing from the static table, so ``--help`` imports no subcommand."""
        rows = [(name, SUBCOMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.version_option(package_name="nitrogen-gym")
def cli(verbose: int) -> None:
    """NitroGen Gym: gamepad-controlled games, datasets, policies and a leaderboard."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def main() -> None:
    """Console-script entry point."""
    cli()


if __name__ == "__main__":
    main()
