"""Baseline seeding: a quick protocol under its own name, entries filed into the server's database."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi")

from click.testing import CliRunner

from nitrogen_leaderboard.baselines import BaselineError, BaselineOptions
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
