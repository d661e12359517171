"""Dataset write-path safety: one writer per folder, nothing deleted, crash-safe adopt, no orphaned workers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from fixtures.dataset_factories import add_random_episode, random_episode_arrays

from nitrogen_datasets.cli import data as data_cli
from nitrogen_datasets.errors import CorruptEpisode, DatasetLocked, DatasetNeedsRepair
from nitrogen_datasets.format import EPISODES_PATH, INFO_PATH, TMP_SUFFIX, episode_paths, load_info
from nitrogen_datasets.import_utils import require_package
from nitrogen_datasets.reader import DemoDataset
from nitrogen_datasets.repair import UNUSABLE_DIR, repair_dataset
from nitrogen_datasets.verify import file_sha256
from nitrogen_datasets.writer import JOURNAL_PATH, STAGING_DIR, DatasetWriter, WriterConfig

pq = require_package("pyarrow.parquet")

_PARENT_OF_SLOW_WORKERS = """
import multiprocessing, threading, time
from nitrogen_datasets.parallel import run_parallel

def report():
    while len(multiprocessing.active_children()) < 2:
        time.sleep(0.05)
    time.sleep(0.5)  # let the initializers arm their watchdogs
    print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)

def run():
    for _ in run_parallel([60.0, 60.0], time.sleep, workers=2):
        pass

threading.Thread(target=report, daemon=True).start()
if {in_thread}:  # no PR_SET_PDEATHSIG then (it follows the spawning thread): the getppid watchdog alone
    worker_thread = threading.Thread(target=run)
    worker_thread.start()
    worker_thread.join()
else:
    run()
"""


def _running(pid: int) -> bool:
    """Alive and not a zombie (a container's pid 1 may never reap the dead worker)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("in_thread", [False, True], ids=["main-thread", "other-thread"])
def test_workers_die_with_their_parent(in_thread):
    code = _PARENT_OF_SLOW_WORKERS.format(in_thread=in_thread)
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        workers = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(workers) == 2, f"the parent did not report its workers: {workers}"
        assert all(_running(pid) for pid in workers)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5.0
        while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        orphans = [pid for pid in workers if _running(pid)]
    finally:
        parent.kill()
    for pid in orphans:  # clean up after a failure; never reached when the workers ended themselves
        os.kill(pid, signal.SIGKILL)
    assert not orphans, f"workers {orphans} outlived their killed parent"


# ---------------------------------------------------------------- one writer per folder, nothing deleted


def _build(root: Path, seeds: list[int]) -> Path:
    with DatasetWriter(root, WriterConfig(fps=15)) as writer:
        for seed in seeds:
            add_random_episode(writer, seed)
    return root


def _verified_rewards(root: Path) -> list[float]:
    """First reward of every listed episode, after checking each file against its sha256."""
    info = load_info(root)
    rewards = []
    for episode in info.episodes:
        data, video = episode_paths(episode.episode_index, info.chunk_size)
        assert file_sha256(root / data) == episode.parquet_sha256, data
        assert file_sha256(root / video) == episode.video_sha256, video
        rewards.append(float(pq.read_table(root / data).column("reward")[0].as_py()))
    assert not list(root.rglob("*" + TMP_SUFFIX)) and not (root / JOURNAL_PATH).exists()
    return rewards


def _snapshot(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): file_sha256(p) for p in root.rglob("*") if p.is_file() and p.name != ".lock"
    }


_HOLDER = """
import sys
sys.path.insert(0, {tests!r})
from fixtures.dataset_factories import add_random_episode
from nitrogen_datasets.writer import DatasetWriter, WriterConfig
writer = DatasetWriter({root!r}, WriterConfig(fps=15))
add_random_episode(writer, 1)
print("HOLDING", flush=True)
sys.stdin.readline()
add_random_episode(writer, 2)
writer.close()
"""


@pytest.mark.slow  # a child writer process: 31 s on 2 busy shared cores
def test_second_writer_is_refused_naming_the_holder_and_nothing_is_lost(tmp_path):
    """Two collects into one folder both 'succeeded' and lost half the episodes before the lock."""
    root = _build(tmp_path / "demos", [0])
    code = _HOLDER.format(tests=str(Path(__file__).parent), root=str(root))
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "HOLDING"
        with pytest.raises(DatasetLocked, match=rf"being written by process {holder.pid} "):
            DatasetWriter(root, WriterConfig(fps=15))
        holder.communicate("go\n", timeout=60)
    finally:
        holder.kill()
    assert holder.returncode == 0
    with DatasetWriter(root, WriterConfig(fps=15)) as writer:  # the lock went with the holder
        add_random_episode(writer, 3)
        with pytest.raises(DatasetLocked, match="already open for writing in this process"):
            DatasetWriter(root, WriterConfig(fps=15))
    assert _verified_rewards(root) == [0.0, 1.0, 2.0, 3.0]


@pytest.mark.slow  # a child writer process, killed: 42 s on 2 busy shared cores
def test_a_killed_writer_leaves_no_stale_lock(tmp_path):
    root = _build(tmp_path / "demos", [0])
    code = _HOLDER.format(tests=str(Path(__file__).parent), root=str(root))
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "HOLDING"
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        holder.kill()
    with DatasetWriter(root, WriterConfig(fps=15)) as writer:
        add_random_episode(writer, 2)
    assert _verified_rewards(root) == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("damage", ["missing", "garbage"])
def test_episodes_without_a_valid_info_json_are_refused_and_kept(tmp_path, damage):
    """The old writer took a folder without info.json for empty and deleted every episode in it."""
    root = _build(tmp_path / "demos", [0, 1])
    info = root / INFO_PATH
    if damage == "missing":
        info.unlink()
    else:
        info.write_text('{"fps": 15, "episo')
    before = _snapshot(root)
    with pytest.raises(DatasetNeedsRepair, match=rf"nitrogen data repair {root}"):
        DatasetWriter(root, WriterConfig(fps=15))
    assert _snapshot(root) == before


# ---------------------------------------------------------------- adopt() survives a crash at every step


class _Crash(BaseException):
    """Stands for the process dying: nothing catches it, and no cleanup may rely on it."""


def _crash_at(monkeypatch, step: int) -> list[str]:
    """Make the ``step``-th filesystem mutation (rename, unlink, fsync) raise before it happens."""
    calls: list[str] = []
    for name in ("replace", "rename", "unlink", "fsync"):
        real = getattr(os, name)

        def hooked(*args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            if len(calls) == step:
                raise _Crash(f"crash before {_name} #{step}")
            return _real(*args, **kwargs)

        monkeypatch.setattr(os, name, hooked)
    return calls


def _staged(tmp_path: Path) -> tuple[Path, Path]:
    root = _build(tmp_path / "demos", [0])
    stage = _build(root / STAGING_DIR / "job", [1, 2])
    return root, stage


def test_adopt_resumes_after_a_crash_at_every_step(tmp_path, monkeypatch):
    """A kill inside adopt() used to jam every rerun (video moved, episode still staged, broken raise)."""
    template = tmp_path / "template"
    _staged(template)
    step, completed = 0, False
    while not completed:
        step += 1
        assert step < 100, "adopt never completed"
        case = tmp_path / f"crash-{step}"
        shutil.copytree(template, case)
        root, stage = case / "demos", case / "demos" / STAGING_DIR / "job"
        writer = DatasetWriter(root, WriterConfig(fps=15))
        with monkeypatch.context() as patch:
            _crash_at(patch, step)
            try:
                writer.adopt(stage)
                completed = True
            except _Crash:
                pass
        writer.close()  # the process is gone: only its lock goes with it
        with DatasetWriter(root, WriterConfig(fps=15)) as resumed:  # completes a recorded commit
            resumed.adopt(stage)  # and moves what is left
        assert _verified_rewards(root) == [0.0, 1.0, 2.0], f"crash at step {step}"
        assert not [p for p in stage.rglob("*") if p.suffix in (".parquet", ".mp4")], f"crash at step {step}"
    assert step > 8, f"only {step - 1} steps were exercised"


_KILLED_ADOPTER = """
import os, sys
from nitrogen_datasets.writer import DatasetWriter, WriterConfig
real_replace = os.replace

def replace_then_die(src, dst, *args, **kwargs):
    real_replace(src, dst, *args, **kwargs)
    if str(src).endswith(".mp4"):  # the staged video moved in, the staged episode still listed: the old jam
        os._exit(9)

os.replace = replace_then_die
DatasetWriter({root!r}, WriterConfig(fps=15)).adopt({stage!r})
"""


def test_adopt_killed_after_moving_a_video_resumes(tmp_path):
    root, stage = _staged(tmp_path)
    code = _KILLED_ADOPTER.format(root=str(root), stage=str(stage))
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 9
    assert load_info(root).total_episodes == 1  # the kill came before info.json listed the episode
    with DatasetWriter(root, WriterConfig(fps=15)) as writer:
        assert writer.num_episodes == 2  # the recorded commit was completed on open
        assert [e.episode_index for e in writer.adopt(stage)] == [2]
    assert _verified_rewards(root) == [0.0, 1.0, 2.0]


def test_damaged_staged_episode_raises_corrupt_episode_naming_it(tmp_path):
    root, stage = _staged(tmp_path)
    _, video = episode_paths(1)
    (stage / video).write_bytes(b"not the recorded video")
    with DatasetWriter(root, WriterConfig(fps=15)) as writer:
        with pytest.raises(CorruptEpisode, match=r"episode_000001\.mp4 is missing or does not match") as caught:
            writer.adopt(stage)
        assert caught.value.episode_index == 1 and caught.value.path == str(stage / video)
    assert _verified_rewards(root) == [0.0, 1.0]  # episode 0 of the stage was adopted before the damaged one


# ---------------------------------------------------------------- nitrogen data repair


def _lost_info_with_a_damaged_episode(root: Path) -> Path:
    """Episodes 0..3 (first reward = seed), info.json gone, episode 1's mp4 cut short (a bad copy)."""
    _build(root, [0, 1, 2, 3])
    (root / INFO_PATH).unlink()
    _, video = episode_paths(1)
    data = (root / video).read_bytes()
    (root / video).write_bytes(data[: len(data) // 2])
    return root


def test_repair_rebuilds_a_usable_dataset_and_deletes_nothing(tmp_path):
    root = _lost_info_with_a_damaged_episode(tmp_path / "demos")
    damaged = {path: (root / path).read_bytes() for path in episode_paths(1)}
    result = CliRunner().invoke(data_cli, ["repair", str(root)])
    assert result.exit_code == 0, result.output
    assert "3 episodes (18 frames) listed in meta/info.json, 2 renumbered" in result.output
    assert "unusable: videos/chunk-000/episode_000001.mp4: mp4" in result.output
    for path, content in damaged.items():  # moved aside, byte for byte
        assert (root / UNUSABLE_DIR / path).read_bytes() == content
    assert _verified_rewards(root) == [0.0, 2.0, 3.0]
    info = load_info(root)
    assert (info.fps, info.frame_height, info.frame_width, info.video_gop) == (15, 32, 32, 16)
    for episode in info.episodes:
        table = pq.read_table(root / episode_paths(episode.episode_index)[0])
        assert set(table.column("episode_index").to_pylist()) == {episode.episode_index}
    with DatasetWriter(root, WriterConfig(fps=15)) as writer:  # no longer refused
        add_random_episode(writer, 4)
    assert _verified_rewards(root) == [0.0, 2.0, 3.0, 4.0]
    assert len(DemoDataset(root)) == 24


def test_repair_lists_unlisted_episodes_and_keeps_what_info_json_knew(tmp_path):
    """A partial sync: the metadata (info.json, episodes.jsonl) is older than the episode files."""
    root = tmp_path / "demos"
    with DatasetWriter(root, WriterConfig(fps=15)) as writer:
        for seed in (10, 11):
            episode = writer.start_episode("CoinRun", "hard", "random", seed=seed)
            for frame, action in zip(*random_episode_arrays(seed), strict=True):
                episode.add(frame, action, float(seed))
            writer.finish_episode(episode)
    stale = {rel: (root / rel).read_bytes() for rel in (INFO_PATH, EPISODES_PATH)}
    _build(root, [12])
    for rel, content in stale.items():
        (root / rel).write_bytes(content)
    with pytest.raises(DatasetNeedsRepair, match="does not list them"):
        DatasetWriter(root, WriterConfig(fps=15))
    report = repair_dataset(root)
    assert (report.episodes, report.renumbered, report.unusable) == (3, 0, {})
    assert [e.seed for e in load_info(root).episodes] == [10, 11, None]  # the third's seed was never listed
    assert _verified_rewards(root) == [10.0, 11.0, 12.0]


def test_repair_interrupted_at_any_step_resumes(tmp_path, monkeypatch):
    template = _lost_info_with_a_damaged_episode(tmp_path / "template")
    step, completed = 0, False
    while not completed:
        step += 1
        assert step < 100, "repair never completed"
        root = tmp_path / f"crash-{step}"
        shutil.copytree(template, root)
        with monkeypatch.context() as patch:
            _crash_at(patch, step)
            try:
                repair_dataset(root)
                completed = True
            except _Crash:
                pass
        report = repair_dataset(root)
        assert _verified_rewards(root) == [0.0, 2.0, 3.0], f"crash at step {step}"
        assert report.episodes == 3 and not (root / "meta/repair.json").exists()
        aside = sorted(p.relative_to(root / UNUSABLE_DIR).as_posix() for p in (root / UNUSABLE_DIR).rglob("*.*"))
        assert aside == sorted(episode_paths(1)), f"crash at step {step}"
    assert step > 8, f"only {step - 1} steps were exercised"


def test_a_crafted_journal_touches_nothing_outside_the_dataset(tmp_path):
    """meta/journal.json comes from disk (a downloaded dataset): it must not move or delete a file elsewhere."""
    root, victim = _build(tmp_path / "demos", [0]), _build(tmp_path / "elsewhere", [1])
    before = _snapshot(victim)
    stolen = load_info(victim).episodes[0]
    data, _ = episode_paths(1)
    shutil.copy(victim / episode_paths(0)[0], root / (data + TMP_SUFFIX))
    commit = {
        "info": load_info(root).with_episode(replace(stolen, episode_index=1)).to_dict(),
        "source": os.path.relpath(victim, root),
        "source_index": 0,
        "source_chunk_size": 1000,
        "source_parquet_sha256": stolen.parquet_sha256,
    }
    (root / JOURNAL_PATH).write_text(json.dumps(commit))
    with DatasetWriter(root, WriterConfig(fps=15)) as writer:
        assert writer.num_episodes == 1
    assert _snapshot(victim) == before
    assert _verified_rewards(root) == [0.0]
