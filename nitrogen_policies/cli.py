"""``nitrogen train`` and ``nitrogen finetune``: parse flags into a TrainConfig, train, report.

Usage::

    nitrogen train --config nitrogen-s --data demos/coinrun demos/pong --out runs/s1 --steps 20000
    nitrogen finetune --from runs/s1/final --data demos/mygame --out runs/ft --head-only
    torchrun --nproc_per_node 8 -m nitrogen_envs.cli train --config nitrogen-500m --data demos --out runs/big
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

_COMMON = [
    click.option(
        "--data",
        "data",
        multiple=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="Demonstration dataset folder (repeat, or list several after it).",
    ),
    click.argument("more_data", nargs=-1, type=click.Path(file_okay=False, path_type=Path)),
    click.option("--weights", multiple=True, type=float, help="Sampling weight per --data folder, in order."),
    click.option(
        "--imitation",
        "imitation_paths",
        multiple=True,
        type=click.Path(exists=True, path_type=Path),
        help="Trajectories saved by imitation.data.serialize.save (FlatGamepad actions); converted first. Read "
        "without pickle: the folder serialize.save writes or an .npz of plain arrays; pickle files are refused.",
    ),
    click.option(
        "--imitation-game",
        default=None,
        help="Game the --imitation data comes from; required unless the trajectories name it (`nitrogen data "
        "export-imitation` does); '<unknown>' for a game the policy has no id for.",
    ),
    click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run folder."),
    click.option("--steps", default=1000, show_default=True, type=click.IntRange(min=1)),
    click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1)),
    click.option("--lr", default=3e-4, show_default=True, type=float),
    click.option("--warmup-steps", default=100, show_default=True, type=click.IntRange(min=0)),
    click.option("--workers", default=2, show_default=True, type=click.IntRange(min=0), help="DataLoader workers."),
    click.option("--seed", default=0, show_default=True, type=int),
    click.option("--save-every", default=500, show_default=True, type=click.IntRange(min=1)),
    click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"])),
    click.option("-q", "--quiet", is_flag=True, help="No progress bar."),
]


def _common(function):  # type: ignore[no-untyped-def]
    for decorator in reversed(_COMMON):
        function = decorator(function)
    return function


def _with_imitation(
    out: Path, data: tuple[Path, ...], imitation_paths: tuple[Path, ...], game: str | None
) -> tuple[Path, ...]:
    """Convert ``--imitation`` trajectories into datasets under the run folder and add them to ``data``."""
    from nitrogen_envs.errors import NitroGenError
    from nitrogen_policies.training.data import import_imitation_trajectories

    try:
        converted = tuple(
            import_imitation_trajectories(path, out / "imitation_data" / f"{i:02d}", game=game)
            for i, path in enumerate(imitation_paths)
        )
    except (NitroGenError, ValueError) as err:
        raise click.ClickException(f"could not import imitation trajectories: {err}") from err
    return data + converted


def _run(config_kwargs: dict, data: tuple[Path, ...], weights: tuple[float, ...], quiet: bool = False) -> None:
    from nitrogen_envs.errors import NitroGenError
    from nitrogen_policies.nitrogen import NitroGenPolicy
    from nitrogen_policies.training import TrainConfig, train
    from nitrogen_policies.training.data import load_training_data

    try:
        config = TrainConfig(progress=not quiet, **config_kwargs)
        if config.init_from:
            policy_config = NitroGenPolicy.from_pretrained(config.init_from).config
        else:
            policy_config = NitroGenPolicy.from_config(config.policy, **config.policy_overrides).config
        dataset, sampler = load_training_data(data, policy_config, weights or None)
        result = train(config, dataset, sampler=sampler)
    except (NitroGenError, ValueError) as err:
        raise click.ClickException(str(err)) from err
    click.echo(
        f"trained {result.steps} steps: final loss {result.final_loss:.4f}, "
        f"{result.samples_per_second:.1f} samples/s, data wait {100 * result.data_wait_fraction:.1f}%"
    )
    click.echo(f"policy: {result.out / 'final'}  (TensorBoard: tensorboard --logdir {result.out / 'tb'})")


def _overrides(pairs: tuple[str, ...]) -> dict:
    """``KEY=VALUE`` pairs -> config overrides (values parsed as JSON, else kept as strings)."""
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--set")
        try:
            result[key] = json.loads(value)
        except ValueError:
            result[key] = value
    return result


def _start(specific: dict, options: dict) -> None:
    """Shared body of train/finetune: the common flags become TrainConfig fields, then train."""
    kwargs = {
        **specific,
        "out": str(options["out"]),
        "steps": options["steps"],
        "batch_size": options["batch_size"],
        "lr": options["lr"],
        "warmup_steps": options["warmup_steps"],
        "num_workers": options["workers"],
        "seed": options["seed"],
        "save_every": options["save_every"],
        "device": options["device"],
    }
    data = tuple(options["data"]) + tuple(options["more_data"])
    data = _with_imitation(options["out"], data, tuple(options["imitation_paths"]), options["imitation_game"])
    _run(kwargs, data, tuple(options["weights"]), quiet=options["quiet"])


@click.command()
@click.option(
    "--config", "preset", default="nitrogen-s", show_default=True, help="Policy preset to train from scratch."
)
@click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a preset field (--set n_layers=2)."
)
@_common
def train(preset: str, overrides: tuple[str, ...], **options: Any) -> None:
    """Train a NitroGen policy from scratch on demonstration datasets (resumes an interrupted run)."""
    _start({"policy": preset, "policy_overrides": _overrides(overrides)}, options)


@click.command()
@click.option("--from", "init_from", required=True, help="Checkpoint folder, bundled name or Hub id to start from.")
@click.option("--head-only", is_flag=True, help="Freeze the image encoder; train the action head only.")
@_common
def finetune(init_from: str, head_only: bool, **options: Any) -> None:
    """Fine-tune a pretrained NitroGen policy on demonstration datasets or `imitation` trajectories."""
    _start({"init_from": init_from, "head_only": head_only}, options)
