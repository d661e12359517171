"""``nitrogen data`` commands: record demonstrations into a dataset, inspect and verify one.

Usage::

    nitrogen data record CoinRun --out demos/coinrun --episodes 20 --expert planner --obs-size 256
    nitrogen data info demos/coinrun [--verify] [--json]
    nitrogen collect --game CoinRun --episodes 100 --out demos/coinrun --workers 2 [--ray]
    nitrogen data repair demos/coinrun
    nitrogen data export-imitation demos/coinrun --out demos/coinrun_imitation
    nitrogen data import-nitrogen nitrogen/actions --videos my_videos --out demos/nitrogen [--workers 4]
    nitrogen data export-nitrogen demos/coinrun coinrun_nitrogen
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from nitrogen_datasets.errors import DatasetError
from nitrogen_datasets.format import load_info


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def data() -> None:
    """Demonstration datasets (parquet actions + mp4 frames + meta/info.json)."""


@data.command()
@click.argument("game")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Dataset folder.")
@click.option("--episodes", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--expert", "expert_name", default=None, help="Expert that plays (default: the game's default expert).")
@click.option("--task", default=None, help="Task name (default: the game's default task).")
@click.option("--seed", default=None, type=int, help="First episode seed (default: continue after existing episodes).")
@click.option("--obs-size", default=256, show_default=True, type=click.IntRange(min=8), help="Square frame size.")
@click.option("--max-steps", default=None, type=click.IntRange(min=1), help="Cap on steps per episode.")
@click.option("--crf", default=18, show_default=True, type=click.IntRange(0, 51), help="x264 quality.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def record(
    game: str,
    out: Path,
    episodes: int,
    expert_name: str | None,
    task: str | None,
    seed: int | None,
    obs_size: int,
    max_steps: int | None,
    crf: int,
    quiet: bool,
) -> None:
    """Record EPISODES more episodes of GAME played by an expert; appends when OUT already holds a dataset.

    The same as `nitrogen collect` with one worker, seeds starting after the episodes already in OUT
    (or at --seed; seeds this game, task and expert already have in OUT are not played again).
    """
    from nitrogen_datasets.collect import CollectConfig
    from nitrogen_datasets.collect import collect as run_collection
    from nitrogen_datasets.errors import DatasetNotFound

    if seed is None:
        try:
            seed = load_info(out).total_episodes
        except DatasetNotFound:
            seed = 0
    config = CollectConfig(
        game=game,
        task=task,
        episodes=episodes,
        expert=expert_name,
        seed=seed,
        obs_size=obs_size,
        max_steps=max_steps,
        crf=crf,
    )
    try:
        stats = run_collection(config, out, progress=not quiet)
    except DatasetError as err:  # a locked or unlisted folder: one line that says what to do
        raise click.ClickException(str(err)) from err
    click.echo(
        f"recorded {stats.collected} episodes ({stats.frames} frames) into {out}; mean return {stats.mean_return:.2f}"
    )


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--game", required=True, help="Game name or env id, e.g. CoinRun or NitroGen/CoinRun-v0.")
@click.option("--task", default=None, help="Task name (default: the game's default task).")
@click.option("--episodes", default=10, show_default=True, type=click.IntRange(min=1), help="Episodes in total.")
@click.option("--expert", "expert_name", default=None, help="planner, scripted or random (default: the game's best).")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Dataset folder.")
@click.option("--seed", default=0, show_default=True, type=int, help="First episode seed; episode k uses seed + k.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Parallel processes.")
@click.option("--ray", "use_ray", is_flag=True, help="Run episodes as Ray tasks (pip install 'nitrogen-gym[scale]').")
@click.option("--ray-address", default=None, help="Ray cluster address (default: start a local Ray instance).")
@click.option("--obs-size", default=256, show_default=True, type=click.IntRange(min=8), help="Square frame size.")
@click.option("--max-steps", default=None, type=click.IntRange(min=1), help="Cap on steps per episode.")
@click.option("--crf", default=18, show_default=True, type=click.IntRange(0, 51), help="x264 quality.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def collect(
    game: str,
    task: str | None,
    episodes: int,
    expert_name: str | None,
    out: Path,
    seed: int,
    workers: int,
    use_ray: bool,
    ray_address: str | None,
    obs_size: int,
    max_steps: int | None,
    crf: int,
    quiet: bool,
) -> None:
    """Collect expert demonstrations of one game into OUT, in parallel, resumably.

    Episode k is played from seed SEED + k, so the dataset is the same for any --workers. Rerunning
    the same command after a crash or Ctrl-C plays only the missing seeds; a larger --episodes extends it.
    """
    from nitrogen_datasets.collect import CollectConfig
    from nitrogen_datasets.collect import collect as run_collection

    config = CollectConfig(
        game=game,
        task=task,
        episodes=episodes,
        expert=expert_name,
        seed=seed,
        obs_size=obs_size,
        max_steps=max_steps,
        crf=crf,
        workers=workers,
    )
    try:
        stats = run_collection(config, out, ray=use_ray, ray_address=ray_address, progress=not quiet)
    except DatasetError as err:  # a locked or unlisted folder: one line that says what to do
        raise click.ClickException(str(err)) from err
    click.echo(
        f"collected {stats.collected} episodes ({stats.frames} frames) into {out} in {stats.seconds:.1f} s; "
        f"{stats.skipped} already there; mean return of new episodes {stats.mean_return:.2f}"
    )


@data.command()
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--verify", is_flag=True, help="Check every file against its sha256 and decode headers.")
@click.option("--json", "as_json", is_flag=True, help="Print the metadata (info.json and every episode) as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar (with --verify).")
def info(root: Path, verify: bool, as_json: bool, quiet: bool) -> None:
    """Summarize (and optionally verify) the dataset in ROOT."""
    meta = load_info(root)
    if as_json:
        click.echo(json.dumps(meta.to_dict(), indent=1))
    else:
        click.echo(
            f"{root}: {meta.total_episodes} episodes, {meta.total_frames} frames at {meta.fps} fps, "
            f"{meta.frame_height}x{meta.frame_width}, format v{meta.format_version}, schema v{meta.schema_version}\n"
            f"games: {', '.join(meta.games) or '-'}; tasks: {', '.join(meta.tasks) or '-'}"
        )
    if verify:
        from nitrogen_datasets.verify import verify_dataset

        ok, problems = verify_dataset(
            root, meta, progress=not quiet
        )  # hashes every file: also catches bit rot the cache cannot see
        for problem in problems:
            click.echo(f"corrupt: {problem}", err=True)
        click.echo(f"verified: {ok} episodes ok, {len(problems)} corrupt (listed above)")
        if problems:
            raise SystemExit(1)


@data.command()
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def repair(root: Path, quiet: bool) -> None:
    """Rebuild ROOT/meta/info.json from the episodes that verify; unusable files go to ROOT/unusable/.

    For a folder a writer refuses (episode files that no valid info.json lists). Nothing is deleted;
    episodes after a gap are renumbered. Safe to rerun, also after an interrupted repair.
    """
    from nitrogen_datasets.repair import UNUSABLE_DIR, repair_dataset

    try:
        report = repair_dataset(root, progress=not quiet)
    except DatasetError as err:
        raise click.ClickException(str(err)) from err
    for path, reason in report.unusable.items():
        click.echo(f"unusable: {path}: {reason}", err=True)
    if not report.info_written:
        raise click.ClickException(f"no episode in {root} verified; meta/info.json was not written")
    moved = f"; {len(report.unusable)} files moved to {root / UNUSABLE_DIR} (listed above)" if report.unusable else ""
    click.echo(
        f"repaired {root}: {report.episodes} episodes ({report.frames} frames) listed in meta/info.json, "
        f"{report.renumbered} renumbered{moved}"
    )


@data.command("export-imitation")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Trajectories folder to create.")
@click.option(
    "--obs-size",
    default=128,
    show_default=True,
    type=click.IntRange(min=0),
    help="Square side of the stored frames (128: NitroGenPolicy's input; 0 keeps the dataset's size).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def export_imitation(root: Path, out: Path, obs_size: int, quiet: bool) -> None:
    """Export the dataset in ROOT as `imitation` trajectories in OUT (what imitation.data.serialize.load reads).

    Frames are stored once, uint8, at --obs-size; OUT also names each trajectory's game and task for
    `nitrogen finetune --imitation OUT`. imitation's own BC trains an SB3 policy on them (`nitrogen baseline bc`).
    """
    from nitrogen_datasets.imitation_bridge import save_trajectories
    from nitrogen_datasets.reader import DemoDataset
    from nitrogen_envs.errors import NitroGenError

    if 0 < obs_size < 8:
        raise click.BadParameter("give 0 (keep the dataset's size) or a side of at least 8", param_hint="--obs-size")
    try:
        summary = save_trajectories(DemoDataset(root), out, obs_size=obs_size or None, progress=not quiet)
    except NitroGenError as err:  # missing/empty dataset, OUT exists, imitation not installed: one line each
        raise click.ClickException(str(err)) from err
    click.echo(
        f"exported {summary.trajectories} trajectories ({summary.frames} frames at {summary.obs_size} px, "
        f"{summary.bytes / 1e6:.1f} MB, {summary.bytes_per_frame / 1e3:.1f} kB per frame) to {out}"
    )


@data.command("import-nitrogen")
@click.argument("actions_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--videos",
    "videos_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Your copies of the chunks' videos, named <video_id>.mp4 (or yt-dlp's 'Title [<video_id>].mp4').",
)
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Dataset folder.")
@click.option("--fps", default=15, show_default=True, type=click.IntRange(min=1), help="Dataset frame rate.")
@click.option("--size", default=256, show_default=True, type=click.IntRange(min=8), help="Square frame size.")
@click.option("--crf", default=18, show_default=True, type=click.IntRange(0, 51), help="x264 quality.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Parallel processes.")
@click.option("--ray", "use_ray", is_flag=True, help="Run chunks as Ray tasks (pip install 'nitrogen-gym[scale]').")
@click.option("--ray-address", default=None, help="Ray cluster address (default: a local Ray instance).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def import_nitrogen_command(
    actions_dir: Path,
    videos_dir: Path,
    out: Path,
    fps: int,
    size: int,
    crf: int,
    workers: int,
    use_ray: bool,
    ray_address: str | None,
    quiet: bool,
) -> None:
    """Import NVIDIA's released NitroGen action chunks under ACTIONS_DIR, with your videos, into a dataset.

    One episode per chunk: the overlay box blacked out, the game area cropped, resampled to --fps and
    --size, the game name kept. A chunk whose video is missing or unreadable is skipped and listed (also
    in OUT/meta/nitrogen_import.json); the rest import. Rerun the same command to resume or to pick up
    videos downloaded since: chunks already in OUT are not written again.
    """
    from nitrogen_datasets.official.importer import REPORT_PATH, ImportConfig, import_nitrogen
    from nitrogen_datasets.safe_inputs import refuse_inside
    from nitrogen_envs.errors import NitroGenError

    config = ImportConfig(fps=fps, size=size, crf=crf, workers=workers)
    try:
        # The dataset's own mp4s must not become input videos, nor its files land among the user's.
        refuse_inside(out, videos_dir, "--out", "--videos folder")
        refuse_inside(videos_dir, out, "--videos", "--out dataset folder")
        stats = import_nitrogen(
            actions_dir, videos_dir, out, config, ray=use_ray, ray_address=ray_address, progress=not quiet
        )
    except (NitroGenError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from err
    for key, reason in stats.skipped.items():
        click.echo(f"skipped: {key}: {reason}", err=True)
    listed = f" (listed above and in {out / REPORT_PATH})" if stats.skipped else ""
    click.echo(
        f"imported {stats.imported} chunks ({stats.frames} frames) into {out} in {stats.seconds:.1f} s; "
        f"{stats.already} already there; {len(stats.skipped)} skipped{listed}"
    )


@data.command("export-nitrogen")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--chunk-seconds",
    default=20.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Split episodes into chunks this long, as released (0: one chunk per episode).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def export_nitrogen_command(root: Path, out_dir: Path, chunk_seconds: float, quiet: bool) -> None:
    """Write the dataset in ROOT to OUT_DIR in the released NitroGen layout (actions tree + videos).

    OUT_DIR/actions/SHARD_0000/<video_id>/<video_id>_chunk_NNNN/{actions_raw.parquet, metadata.json} and
    OUT_DIR/videos/<video_id>.mp4, one video per episode, so NVIDIA's tools read a dataset made here.
    """
    from nitrogen_datasets.official.exporter import export_nitrogen
    from nitrogen_envs.errors import NitroGenError

    try:
        stats = export_nitrogen(root, out_dir, chunk_seconds=chunk_seconds, progress=not quiet)
    except NitroGenError as err:
        raise click.ClickException(str(err)) from err
    click.echo(
        f"exported {stats.episodes} episodes as {stats.chunks} chunks ({stats.frames} frames) to "
        f"{out_dir / 'actions'} and {out_dir / 'videos'}"
    )
