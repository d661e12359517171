"""`nitrogen collect`: parallel expert collection is deterministic, resumable and safe to interrupt."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from fixtures.ray_session import ray_session

from nitrogen_datasets import collect as collect_module
from nitrogen_datasets.collect import STAGING_DIR, CollectConfig, collect
from nitrogen_datasets.errors import DatasetLocked, IncompatibleDataset
from nitrogen_datasets.format import load_info
from nitrogen_datasets.reader import DemoDataset, ReaderConfig
from nitrogen_datasets.writer import DatasetWriter, WriterConfig

pytest.importorskip("procgen")

TINY = {"game": "CoinRun", "obs_size": 32, "max_steps": 12}


def fingerprint(root: Path) -> list[tuple[int | None, int, str]]:
    """What must not depend on how a dataset was collected: seeds, lengths, actions and rewards, in order.

    The parquet checksum covers every action and reward. Video bytes are left out: in a long-lived
    process (the test suite) Procgen occasionally renders an episode's frames slightly differently
    with the same actions and rewards, which a fresh process never showed.
    """
    return [(e.seed, e.length, e.parquet_sha256) for e in load_info(root).episodes]


@pytest.mark.slow  # two collections, one with worker processes: 13 s in a full run on 2 shared cores
def test_workers_do_not_change_the_dataset(tmp_path: Path) -> None:
    serial = collect(CollectConfig(episodes=3, workers=1, **TINY), tmp_path / "serial")
    parallel = collect(CollectConfig(episodes=3, workers=2, **TINY), tmp_path / "parallel")
    assert serial.collected == parallel.collected == 3
    assert serial.returns == parallel.returns
    assert fingerprint(tmp_path / "serial") == fingerprint(tmp_path / "parallel")
    assert [e.seed for e in load_info(tmp_path / "parallel").episodes] == [0, 1, 2]
    assert not (tmp_path / "parallel" / STAGING_DIR).exists()
    sample = DemoDataset(tmp_path / "parallel", ReaderConfig(verify="checksum"))[0]  # adopted files check out
    assert sample["frame"].shape == (32, 32, 3)


@pytest.mark.slow  # four collections: 7 s in a full run on 2 shared cores
def test_rerun_skips_finished_seeds_and_extends(tmp_path: Path) -> None:
    first = collect(CollectConfig(episodes=2, **TINY), tmp_path / "grown")
    again = collect(CollectConfig(episodes=2, **TINY), tmp_path / "grown")
    assert (first.collected, again.collected, again.skipped) == (2, 0, 2)
    extended = collect(CollectConfig(episodes=3, **TINY), tmp_path / "grown")
    assert (extended.collected, extended.skipped) == (1, 2)
    collect(CollectConfig(episodes=3, **TINY), tmp_path / "fresh")
    assert fingerprint(tmp_path / "grown") == fingerprint(tmp_path / "fresh")


@pytest.mark.slow  # two collections: 8 s in a full run on 2 shared cores
def test_crash_keeps_finished_episodes_and_resume_completes(tmp_path: Path, monkeypatch) -> None:
    real_play_job = collect_module.play_job

    def crash_on_seed_2(job):
        if job.seed == 2:
            raise KeyboardInterrupt
        return real_play_job(job)

    monkeypatch.setattr(collect_module, "play_job", crash_on_seed_2)
    with pytest.raises(KeyboardInterrupt):
        collect(CollectConfig(episodes=4, **TINY), tmp_path / "crashed")
    assert [e.seed for e in load_info(tmp_path / "crashed").episodes] == [0, 1]

    monkeypatch.setattr(collect_module, "play_job", real_play_job)
    resumed = collect(CollectConfig(episodes=4, **TINY), tmp_path / "crashed")
    assert (resumed.collected, resumed.skipped) == (2, 2)
    collect(CollectConfig(episodes=4, **TINY), tmp_path / "clean")
    assert fingerprint(tmp_path / "crashed") == fingerprint(tmp_path / "clean")


def test_staged_episode_from_a_crashed_run_is_adopted_not_replayed(tmp_path: Path, monkeypatch) -> None:
    config = CollectConfig(episodes=1, **TINY).resolved()
    root = tmp_path / "staged"
    job = collect_module._Job(config, 0, root / STAGING_DIR / collect_module._job_name(config, 0))
    collect_module.play_job(job)  # a worker finished, then the main process died before adopting

    played = []
    real_record = collect_module.DatasetWriter  # any replay would create a new writer in the staging folder

    def spy(*args, **kwargs):
        played.append(args[0])
        return real_record(*args, **kwargs)

    monkeypatch.setattr(collect_module, "DatasetWriter", spy)
    stats = collect(config, root)
    assert stats.collected == 1
    assert played == [root]  # only the main dataset writer: the staged episode was reused
    assert [e.seed for e in load_info(root).episodes] == [0]


def test_frame_size_mismatch_is_refused_before_playing(tmp_path: Path) -> None:
    collect(CollectConfig(episodes=1, **TINY), tmp_path / "demos")
    with pytest.raises(IncompatibleDataset, match="--obs-size 32"):
        collect(CollectConfig(episodes=2, **{**TINY, "obs_size": 48}), tmp_path / "demos")


@pytest.mark.slow  # a Ray cluster and worker processes: 25 s in a full run on 2 shared cores
def test_ray_matches_local_processes(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    with ray_session(ray, num_cpus=2, include_dashboard=False, log_to_driver=False):
        collect(CollectConfig(episodes=2, workers=2, **TINY), tmp_path / "ray", ray=True)
    collect(CollectConfig(episodes=2, **TINY), tmp_path / "local")
    assert fingerprint(tmp_path / "ray") == fingerprint(tmp_path / "local")


@pytest.mark.slow  # collects through the CLI: 59 s on 2 busy shared cores
def test_cli_collects_and_reports(tmp_path: Path) -> None:
    from nitrogen_envs.cli import cli

    out = tmp_path / "cli"
    args = ["collect", "--game", "NitroGen/CoinRun-v0", "--episodes", "2", "--out", str(out)]
    args += ["--obs-size", "32", "--max-steps", "12", "--workers", "2"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "collected 2 episodes (24 frames)" in result.output
    bad = CliRunner().invoke(cli, ["collect", "--game", "CoinRn", "--out", str(out)])
    assert bad.exit_code != 0
    assert "CoinRun" in str(bad.exception) + bad.output


def test_second_collection_into_the_same_folder_is_refused(tmp_path: Path) -> None:
    """Two collects into one --out both reported success and lost half the episodes before the lock."""
    from nitrogen_envs.cli import cli

    root = tmp_path / "demos"
    with DatasetWriter(root, WriterConfig(fps=15)):  # stands for a collection running into the same folder
        with pytest.raises(DatasetLocked, match="already open for writing"):
            collect(CollectConfig(episodes=1, **TINY), root)
        args = ["collect", "--game", "CoinRun", "--episodes", "1", "--out", str(root), "--obs-size", "32"]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1 and "already open for writing" in result.output
        assert "Traceback" not in result.output
    assert collect(CollectConfig(episodes=1, **TINY), root).collected == 1


def test_staging_left_by_a_run_killed_after_adopting_is_removed(tmp_path: Path) -> None:
    config = CollectConfig(episodes=1, **TINY).resolved()
    root = tmp_path / "demos"
    collect(config, root)
    leftover = root / STAGING_DIR / collect_module._job_name(config, 0)  # adopted, then killed before the rmtree
    (leftover / "meta").mkdir(parents=True)
    (leftover / "meta" / "info.json").write_text("{}")
    stats = collect(config, root)
    assert (stats.collected, stats.skipped) == (0, 1)
    assert not (root / STAGING_DIR).exists()
