"""Baseline seeding: a quick protocol under its own name, entries filed into the server's database."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi")

from click.testing import CliRunner

from nitrogen_leaderboard.baselines import BaselineError, BaselineOptions, Job, plan
from nitrogen_leaderboard.protocol import load_protocol


def test_a_restricted_baseline_run_never_carries_the_full_protocols_name():
    full = BaselineOptions().build_protocol()
    assert full.name == "unseen-v1" and full == load_protocol("unseen-v1")
    quick = BaselineOptions(tasks=("Maze/hard",), episodes_per_task=2, max_steps=5).build_protocol()
    assert quick.name == "unseen-v1-quick"
    assert [t.key for t in quick.tasks] == ["Maze/hard"] and quick.tasks[0].max_steps == 5
    assert quick.dev_seeds(quick.tasks[0]) == full.dev_seeds(full.task("Maze/hard"))[:2]  # the same public seeds
    with pytest.raises(BaselineError, match=r"unknown baseline\(s\) \['randm'\]; choose from \['random'"):
        BaselineOptions(only=("randm",))


def test_seed_baselines_files_entries_the_server_then_lists_under_the_quick_protocol(tmp_path):
    from nitrogen_envs.cli import cli
    from nitrogen_leaderboard.server.app import create_app
    from nitrogen_leaderboard.server.settings import ServerSettings

    args = ["leaderboard", "seed-baselines", "--data-dir", str(tmp_path), "--only", "random", "--tasks", "Maze/hard"]
    args += ["--episodes", "2", "--max-steps", "5", "--no-verify", "-q", "--out-dir", str(tmp_path / "out")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "random (zero-shot): entry 1, pending" in result.stdout
    assert "random (from-scratch): entry 2, pending" in result.stdout
    written = json.loads((tmp_path / "protocols" / "unseen-v1-quick.json").read_text())
    assert written["name"] == "unseen-v1-quick" and written["episodes_per_task"] == 2
    assert sorted(p.name for p in (tmp_path / "out").glob("*.json")) == [
        "random.from-scratch.json",
        "random.zero-shot.json",
    ]
    again = CliRunner().invoke(cli, args)  # seeding again plays and files nothing new
    assert again.exit_code == 0, again.output
    assert "random: already filed on zero-shot, from-scratch" in again.stdout and "entry 3" not in again.stdout

    app = create_app(ServerSettings(data_dir=tmp_path))
    from fastapi.testclient import TestClient

    client = TestClient(app)
    board = client.get("/api/v1/leaderboard/unseen-v1-quick/zero-shot", params={"all": "true"}).json()
    assert [row["entry"]["agent_name"] for row in board["entries"]] == ["random"]
    assert board["entries"][0]["entry"]["submitter"] == "baselines"
    page = client.get("/?all=1").text
    assert "unseen-v1-quick" in page and ">random</a>" in page
    app.state.engine.dispose()


def test_every_track_gets_a_baseline_and_each_trained_track_its_own_model():
    options = BaselineOptions()
    assert plan(options, options.build_protocol()) == [
        Job("random", "zero-shot", "random"),
        Job("random", "from-scratch", "random"),
        Job("nitrogen-s-procgen6", "zero-shot", "nitrogen-s-procgen6"),
        Job("fine-tuned", "fine-tuned-1", "nitrogen-s-procgen6-ft1"),
        Job("fine-tuned", "fine-tuned-5", "nitrogen-s-procgen6-ft5"),
        Job("fine-tuned", "fine-tuned-20", "nitrogen-s-procgen6-ft20"),
        Job("from-scratch", "from-scratch", "from-scratch-k20"),  # the fine-tuned-20 budget, from random weights
    ]
    quick = BaselineOptions(
        tracks=("fine-tuned-5", "from-scratch"), only=("fine-tuned", "from-scratch"), scratch_demos=5
    )
    assert [job.agent for job in plan(quick, quick.build_protocol())] == ["nitrogen-s-procgen6-ft5", "from-scratch-k5"]
    with pytest.raises(BaselineError, match=r"unknown track\(s\) \['fine-tuned-2'\]"):
        BaselineOptions(tracks=("fine-tuned-2",))


@pytest.mark.slow  # collect 1 demo, train 2 models 2 steps each, evaluate both: ~30 s on a busy 2-core machine
def test_fine_tuned_and_from_scratch_baselines_are_trained_and_filed_with_their_own_weights(tmp_path):
    from sqlalchemy import select

    from nitrogen_envs.cli import cli
    from nitrogen_leaderboard.schema import read_results, sha256_file
    from nitrogen_leaderboard.server import db
    from nitrogen_leaderboard.server.settings import ServerSettings
    from nitrogen_policies.hub import resolve_checkpoint

    out = tmp_path / "out"
    args = ["leaderboard", "seed-baselines", "--data-dir", str(tmp_path), "--out-dir", str(out), "--no-verify", "-q"]
    args += ["--only", "fine-tuned", "--only", "from-scratch", "--tracks", "fine-tuned-1", "--tracks", "from-scratch"]
    args += ["--tasks", "Maze/hard", "--episodes", "1", "--max-steps", "8", "--steps", "2", "--batch-size", "2"]
    result = CliRunner().invoke(cli, [*args, "--scratch-demos", "1"])
    assert result.exit_code == 0, result.output
    assert "nitrogen-s-procgen6-ft1 (fine-tuned-1): entry 1, pending" in result.stdout
    assert "from-scratch-k1 (from-scratch): entry 2, pending" in result.stdout
    # one expert demonstration of the task, on the first demonstration seed (never a dev or test seed)
    info = json.loads((out / "demos" / "Maze_hard" / "meta" / "info.json").read_text())
    first = json.loads((out / "demos" / "Maze_hard" / "meta" / "episodes.jsonl").read_text().splitlines()[0])
    assert info["total_episodes"] == 1 and first["seed"] == 0

    settings = ServerSettings(data_dir=tmp_path)
    engine = db.make_engine(settings)
    with db.make_sessionmaker(engine)() as session:
        entries = {e.track: e for e in session.scalars(select(db.Entry))}
        for track, entry in entries.items():
            stored = settings.weights_root / str(entry.id)
            assert entry.status == "pending" and entry.weights_sha256 == sha256_file(stored / "model.safetensors")
            assert entry.weights_sha256 == read_results(out / f"{entry.agent_name}.{track}.json").agent.weights_sha256
    engine.dispose()
    shas = {entries[track].weights_sha256 for track in ("fine-tuned-1", "from-scratch")}
    assert len(shas) == 2 and sha256_file(resolve_checkpoint("nitrogen-s-procgen6") / "model.safetensors") not in shas
