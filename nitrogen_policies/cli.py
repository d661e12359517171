"""``nitrogen train`` and ``nitrogen finetune``: flags -> TrainConfig + DataConfig -> one library call -> report.

Usage::

    nitrogen train --config nitrogen-s --data demos/coinrun demos/pong --out runs/s1 --steps 20000
    nitrogen finetune --from runs/s1/final --data demos/mygame --out runs/ft --head-only
    torchrun --nproc_per_node 8 -m nitrogen_envs.cli train --config nitrogen-500m --data demos --out runs/big

The run's flags are built from the fields of :class:`~nitrogen_policies.training.TrainConfig` (type, default
and help text), so a default lives in the dataclass only; the work is
:func:`~nitrogen_policies.training.train_on_folders`, which a Python user calls the same way. The package's
typed errors become one line (the root command does that); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from nitrogen_envs.registry import UNKNOWN_GAME

F = TypeVar("F", bound=Callable[..., Any])

OWN_FLAGS = frozenset({"out", "policy", "policy_overrides", "init_from", "head_only", "progress"})
"""TrainConfig fields with flags of their own: ``--out`` (required: a command run names its folder),
``--config``/``--set``, ``--from``/``--head-only`` and ``--quiet``. Every other field is a flag of both commands."""

FLAG_NAMES = {"num_workers": "--workers"}
"""Flags not spelled as their field (``--workers`` is the first release's name); others are ``--field-name``."""


def train_flags() -> dict[str, str]:
    """TrainConfig field -> flag, for every field both commands expose (a new field gets its flag for free)."""
    from nitrogen_policies.training import TrainConfig

    return {
        field.name: FLAG_NAMES.get(field.name, "--" + field.name.replace("_", "-"))
        for field in dataclasses.fields(TrainConfig)
        if field.name not in OWN_FLAGS
    }


TRAIN_RANGES: dict[str, click.ParamType] = {
    "steps": click.IntRange(min=1),
    "batch_size": click.IntRange(min=1),
    "warmup_steps": click.IntRange(min=0),
    "num_workers": click.IntRange(min=0),
    "log_every": click.IntRange(min=1),
    "save_every": click.IntRange(min=1),
    "threads": click.IntRange(min=1),
    "device": click.Choice(["auto", "cpu", "cuda"]),
}
"""Bounds the flags check before TrainConfig is built (it checks only steps, batch_size and device itself)."""


def field_help(cls: type) -> dict[str, str]:
    """Each field's help: its ``metadata["help"]``, else its entry in the class docstring's ``Args:`` block.

    The docstring is where the fields are documented already (several short ones may share a line, as in
    ``steps: optimizer steps. batch_size: samples per step.``), so a flag's help is never a second copy.
    """
    names = [field.name for field in dataclasses.fields(cls)]
    doc = (cls.__doc__ or "").split("Args:", 1)[-1].split("\n\n", 1)[0]
    text = " ".join(doc.split()).replace("``", "")
    parts = re.split(rf"(?:^|\s)({'|'.join(map(re.escape, names))}):\s", text)
    found = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}
    return {field.name: field.metadata.get("help", found.get(field.name, "")) for field in dataclasses.fields(cls)}


def dataclass_options(
    cls: type, flags: Mapping[str, str], types_: Mapping[str, click.ParamType] | None = None
) -> Callable[[F], F]:
    """Click options for the fields of ``cls`` named in ``flags``: type, default and help come from the field.

    A ``bool`` field becomes an ``--x/--no-x`` switch; ``X | None`` takes an ``X``. ``types_`` replaces the
    click type of a field (a range or a choice the dataclass does not check itself).
    """
    hints = typing.get_type_hints(cls)
    helps = field_help(cls)
    fields = {field.name: field for field in dataclasses.fields(cls)}
    decorators = []
    for name, flag in flags.items():
        field = fields[name]
        default = None if field.default is dataclasses.MISSING else field.default  # flags are scalar fields
        kind = _bare_type(hints[name])
        declared = [f"{flag}/--no-{flag[2:]}"] if kind is bool else [flag]
        decorators.append(
            click.option(
                *declared,
                name,
                default=default,
                show_default=True,
                type=None if kind is bool else (types_ or {}).get(name, click.types.convert_type(kind)),
                help=helps[name],
            )
        )

    def apply(function: F) -> F:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


def _bare_type(hint: Any) -> type:
    """``int`` for ``int``, ``str`` for ``str | None``."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        (kind,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _bare_type(kind)
    return typing.cast(type, hint)


def _run_options(function: F) -> F:
    """The flags both commands share: the run's TrainConfig fields, then its DataConfig."""
    from nitrogen_policies.training import DataConfig, TrainConfig

    helps, run_helps = field_help(DataConfig), field_help(TrainConfig)
    folder = click.Path(file_okay=False, path_type=Path)
    decorators = [
        click.option(
            "--data", "folders", multiple=True, type=folder, help=f"{helps['folders']} Repeat, or list after it."
        ),
        click.argument("more_folders", nargs=-1, type=folder),
        click.option("--weights", multiple=True, type=float, help=helps["weights"]),
        click.option(
            "--imitation", multiple=True, type=click.Path(exists=True, path_type=Path), help=helps["imitation"]
        ),
        click.option("--imitation-game", default=None, help=f"{helps['imitation_game']} That id is {UNKNOWN_GAME!r}."),
        click.option("--out", required=True, type=folder, help=run_helps["out"]),
        dataclass_options(TrainConfig, train_flags(), TRAIN_RANGES),
        click.option("-q", "--quiet", is_flag=True, help="No progress bar."),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def _overrides(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs -> config overrides (values parsed as JSON, else kept as strings)."""
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--set")
        try:
            result[key] = json.loads(value)
        except ValueError:
            result[key] = value
    return result


def _configs(specific: dict[str, Any], options: dict[str, Any]) -> tuple[Any, Any]:
    """The flags as (TrainConfig, DataConfig); their own checks become usage errors."""
    from nitrogen_policies.training import DataConfig, TrainConfig

    fields = {name: options.pop(name) for name in train_flags()}
    fields["out"] = str(options.pop("out"))
    try:  # only the dataclasses' checks of the flag values run here
        config = TrainConfig(progress=not options.pop("quiet"), **specific, **fields)
        data = DataConfig(
            folders=tuple(options.pop("folders")) + tuple(options.pop("more_folders")),
            weights=tuple(options.pop("weights")),
            imitation=tuple(options.pop("imitation")),
            imitation_game=options.pop("imitation_game"),
        )
    except ValueError as err:
        raise click.UsageError(str(err)) from err
    return config, data


def _report(result: Any) -> None:
    click.echo(
        f"trained {result.steps} steps: final loss {result.final_loss:.4f}, "
        f"{result.samples_per_second:.1f} samples/s, data wait {100 * result.data_wait_fraction:.1f}%"
    )
    click.echo(f"policy: {result.out / 'final'}  (TensorBoard: tensorboard --logdir {result.out / 'tb'})")


@click.command()
@click.option(
    "--config", "preset", default="nitrogen-s", show_default=True, help="Policy preset to train from scratch."
)
@click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a preset field (--set n_layers=2)."
)
@_run_options
def train(preset: str, overrides: tuple[str, ...], **options: Any) -> None:
    """Train a NitroGen policy from scratch on demonstration datasets (resumes an interrupted run)."""
    from nitrogen_policies.training import train_on_folders

    config, data = _configs({"policy": preset, "policy_overrides": _overrides(overrides)}, options)
    _report(train_on_folders(config, data))


@click.command()
@click.option("--from", "init_from", required=True, help="Checkpoint folder, bundled name or Hub id to start from.")
@click.option("--head-only", is_flag=True, help="Freeze the image encoder; train the action head only.")
@_run_options
def finetune(init_from: str, head_only: bool, **options: Any) -> None:
    """Fine-tune a pretrained NitroGen policy on demonstration datasets or `imitation` trajectories."""
    from nitrogen_policies.training import train_on_folders

    config, data = _configs({"init_from": init_from, "head_only": head_only}, options)
    _report(train_on_folders(config, data))


__all__: Sequence[str] = ["dataclass_options", "field_help", "finetune", "train"]
