"""The ``nitrogen`` command: one entry point, one subcommand group per package.

Subcommands are listed as ``"module:function"`` strings and imported only when run, so
``nitrogen --help`` stays fast and no package imports another it must not (e.g. torch for ``list``).

Usage::

    nitrogen list [--markdown]
    nitrogen info CoinRun
    nitrogen rollout CoinRun --steps 500 --video coinrun.mp4
    nitrogen play CoinRun

A user's mistake (a missing path, a bad file, an unknown name, a missing optional package) is one line on
stderr and a non-zero exit: click's usage errors, every :class:`~nitrogen_envs.errors.NitroGenError` and a
missing third-party module. Anything else is a bug and keeps its traceback (``-vv`` also logs the traceback
of a one-line error).
"""

from __future__ import annotations

import difflib
import importlib
import logging
import re
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from nitrogen_envs.errors import DependencyNotInstalled, NitroGenError

logger = logging.getLogger(__name__)

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
    "convert-official": (
        "nitrogen_policies.official.cli:convert_official_command",
        "Convert NVIDIA's NitroGen ng.pt into our checkpoint format, without running its pickle.",
    ),
    "eval": (
        "nitrogen_leaderboard.cli:eval_command",
        "Run a leaderboard protocol (unseen-v1) with an agent; write a results file (resumable, --workers, --ray).",
    ),
    "leaderboard": (
        "nitrogen_leaderboard.server_cli:leaderboard",
        "Leaderboard server: serve, add submitters (tokens), migrate, verification worker, seed-baselines.",
    ),
    "submit": (
        "nitrogen_leaderboard.client_cli:submit_command",
        "Submit a results file (and weights) to a leaderboard.",
    ),
    "board": (
        "nitrogen_leaderboard.client_cli:board_command",
        "Show a leaderboard track's ranking from a server (no token needed).",
    ),
}


# name -> extras of nitrogen-gym the subcommand needs beyond a bare install (the README table is built from this)
COMMAND_EXTRAS: dict[str, tuple[str, ...]] = {
    "list": (),
    "info": (),
    "rollout": ("games",),
    "play": ("games", "play"),
    "train": ("policy", "data"),
    "finetune": ("policy", "data"),
    "live": ("live",),
    "data": ("games", "data"),
    "collect": ("games", "data"),
    "experts": ("games",),
    "overlay": ("data",),
    "baseline": ("games", "rl"),
    "evaluate": ("games", "policy"),
    "convert-official": ("policy",),
    "eval": ("games", "policy", "leaderboard"),
    "leaderboard": ("games", "policy", "data", "leaderboard"),
    "submit": ("leaderboard",),
    "board": ("leaderboard",),
}
# click >= 8.2 raises this for a group run without a subcommand; its "message" is the help text, shown as is.
HELP_ERRORS: tuple[type[click.ClickException], ...] = tuple(
    error for error in [getattr(click.exceptions, "NoArgsIsHelpError", None)] if error is not None
)
OUR_PACKAGES = frozenset({"nitrogen_envs", "nitrogen_datasets", "nitrogen_policies", "nitrogen_leaderboard"})


def extras_markdown() -> str:
    """The README table of which extra each subcommand needs (generated, so it never goes stale)."""
    lines = ["| Command | Install |", "|---|---|"]
    for name in sorted(SUBCOMMANDS):
        extras = COMMAND_EXTRAS[name]
        install = f"`pip install 'nitrogen-gym[{','.join(extras)}]'`" if extras else "(a bare install)"
        lines.append(f"| `nitrogen {name}` | {install} |")
    return "\n".join(lines)


def missing_dependency(command: str | None, err: ModuleNotFoundError) -> DependencyNotInstalled | None:
    """The one-line error for a third-party module missing under ``nitrogen COMMAND``; ``None`` for our own modules.

    A missing module of ours or of the standard library is a broken install or a bug, so it keeps its traceback.
    """
    top = (err.name or "").split(".")[0]
    if not top or top in OUR_PACKAGES or top in sys.stdlib_module_names:
        return None
    extras = COMMAND_EXTRAS.get(command or "", ())
    where = f"nitrogen {command}" if command else "nitrogen"
    install = f"pip install 'nitrogen-gym[{','.join(extras) or 'all'}]'"
    return DependencyNotInstalled(f"{where} needs the Python package {top!r}, which is not installed: {install}")


def one_line(message: str) -> str:
    """``message`` with its line breaks folded, so an error is always exactly one line."""
    return re.sub(r"\s*\n\s*", " ", message.strip())


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"Error: {one_line(message)}", err=True)
    sys.exit(code)


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use, and whose user errors are one line."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the CLI; a user's error is one line on stderr and exit status 1 (usage errors: 2)."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except HELP_ERRORS as err:
            err.show()
            sys.exit(err.exit_code)
        except click.UsageError as err:
            hint = f" (see '{err.ctx.command_path} --help')" if err.ctx is not None else ""
            _fail(err.format_message() + hint, err.exit_code)
        except click.ClickException as err:
            _fail(err.format_message(), err.exit_code)
        except click.Abort:
            _fail("aborted")
        sys.exit(result if type(result) is int else 0)  # click returns the code of an explicit exit, else the value

    def invoke(self, ctx: click.Context) -> Any:
        """Run a subcommand; our typed errors and missing third-party packages become one-line errors."""
        try:
            return super().invoke(ctx)
        except NitroGenError as err:
            logger.debug("one-line error", exc_info=True)
            raise click.ClickException(str(err)) from err
        except ModuleNotFoundError as err:
            dependency = missing_dependency(ctx.invoked_subcommand, err)
            if dependency is None:
                raise
            logger.debug("missing dependency", exc_info=True)
            raise click.ClickException(str(dependency)) from err

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Subcommand names, without importing them."""
        return sorted(SUBCOMMANDS)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Find the subcommand; an unknown name is a usage error with the closest names."""
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in SUBCOMMANDS:
            close = difflib.get_close_matches(name, list(SUBCOMMANDS), n=3)
            ctx.fail(f"No such command {name!r}." + (f" Did you mean: {', '.join(close)}?" if close else ""))
        return super().resolve_command(ctx, args)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import and return one subcommand."""
        if cmd_name not in SUBCOMMANDS:
            return None
        module_name, attr = SUBCOMMANDS[cmd_name][0].split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:  # a module-level import of an optional package
            dependency = missing_dependency(cmd_name, err)
            if dependency is None:
                raise
            raise dependency from err
        return getattr(module, attr)

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
    """Console-script entry point (also ``python -m nitrogen_envs.cli``, e.g. under ``torchrun``)."""
    cli(prog_name="nitrogen")


if __name__ == "__main__":
    main()
