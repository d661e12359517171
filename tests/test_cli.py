import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from fixtures.games import one_game_per_engine
from fixtures.repo import REPO_ROOT

from nitrogen_envs.cli import cli
from nitrogen_envs.commands import games_markdown
from nitrogen_envs.registry import all_games


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_console_script_help_lists_subcommands():
    result = subprocess.run(
        [sys.executable, "-m", "nitrogen_envs.cli", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    for name in ("list", "info", "rollout", "play"):
        assert name in result.stdout


def test_list_shows_every_game_and_the_totals():
    result = invoke("list")
    assert result.exit_code == 0
    for game in all_games():
        assert game.env_id in result.output
    assert f"{len(all_games())} games" in result.output


def test_list_filters_by_genre_and_emits_json():
    rows = json.loads(invoke("list", "--genre", "3d-action", "--json").output)
    assert rows and all(row["genre"] == "3d-action" for row in rows)


def test_readme_games_table_is_generated_from_the_registry():
    readme = (REPO_ROOT / "README.md").read_text()
    table = games_markdown(all_games())
    assert table in readme, "README games table is stale: regenerate it with `nitrogen list --markdown`"
    assert invoke("list", "--markdown").output.strip() == table


def test_info_prints_tasks_and_mapping():
    game = one_game_per_engine()[0]
    result = invoke("info", game.name)
    assert result.exit_code == 0
    assert game.default_task.success in result.output
    assert "gamepad -> native actions" in result.output


def test_unknown_game_exits_non_zero_with_suggestions():
    result = CliRunner().invoke(cli, ["info", "CoinRn"])
    assert result.exit_code != 0
    assert "Did you mean: CoinRun" in result.output


def test_rollout_writes_a_playable_mp4_and_prints_the_score(tmp_path: Path):
    av = pytest.importorskip("av")
    video = tmp_path / "run.mp4"
    result = invoke("rollout", "CoinRun", "--steps", "40", "--obs-size", "64", "--video", str(video))
    assert result.exit_code == 0, result.output
    assert "score:" in result.output
    with av.open(str(video)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(frames) >= 41
    assert frames[0].shape == (64, 64, 3)
    assert not list(tmp_path.glob(".*partial"))


def test_rollout_json_reports_episodes():
    result = invoke("rollout", "DoomBasic", "--steps", "200", "--obs-size", "32", "--json")
    payload = json.loads(result.stdout)  # the progress bar is on stderr
    assert payload["game"] == "DoomBasic" and payload["steps"] == 200
    assert len(payload["episode_returns"]) >= 1  # basic times out after 75 steps


def test_rollout_rejects_bad_step_counts():
    result = CliRunner().invoke(cli, ["rollout", "CoinRun", "--steps", "0"])
    assert result.exit_code != 0 and "--steps" in result.output


def test_video_writer_leaves_nothing_behind_on_error(tmp_path: Path):
    pytest.importorskip("av")
    from nitrogen_envs.video import VideoWriter

    target = tmp_path / "broken.mp4"
    with pytest.raises(RuntimeError), VideoWriter(target) as writer:
        writer.write(np.zeros((10, 10, 3), np.uint8))
        raise RuntimeError("crash mid-recording")
    assert list(tmp_path.iterdir()) == []


def test_ci_runs_the_readme_test_command():
    readme = (REPO_ROOT / "README.md").read_text()
    ci_lines = [
        line
        for line in (REPO_ROOT / ".ci" / "run").read_text().splitlines()
        if line and not line.startswith(("#", "set ", "cd ", "export "))
    ]
    assert len(ci_lines) == 1
    assert f"```bash\n{ci_lines[0]}\n```" in readme


@pytest.mark.slow  # builds every game's env for its mapping table: 6 s in a full run on 2 shared cores
def test_games_reference_doc_is_generated_from_the_code():
    from nitrogen_envs.docs import games_reference_markdown

    doc = (REPO_ROOT / "docs" / "games.md").read_text()
    assert doc == games_reference_markdown(), "docs/games.md is stale: run `python scripts/update_docs.py`"


def test_evaluate_prints_progress_lines_off_a_terminal_and_nothing_when_quiet():
    args = ["evaluate", "--agent", "random", "--game", "DoomBasic", "--episodes", "2"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)  # CliRunner's stderr is not a terminal
    assert result.exit_code == 0
    lines = result.stderr.splitlines()
    assert "\r" not in result.stderr and lines[0].startswith("eval DoomBasic-v0:   0%")
    assert "2/2" in lines[-1] and "episode" in lines[-1]
    assert "mean return" in result.stdout
    quiet = CliRunner().invoke(cli, [*args, "--quiet"], catch_exceptions=False)
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert quiet.stdout == result.stdout  # the same episodes, only the bar is gone


@pytest.mark.parametrize(
    "command",
    [
        ["rollout"],
        ["evaluate"],
        ["collect"],
        ["data", "record"],
        ["train"],
        ["finetune"],
        ["overlay", "render"],
        ["overlay", "extract"],
        ["overlay", "train-parser"],
        ["overlay", "eval"],
        ["overlay", "build-corpus"],
        ["experts", "report"],
        ["data", "info"],
        ["data", "repair"],
        ["data", "export-imitation"],
        ["baseline", "ppo"],
        ["baseline", "bc"],
    ],
    ids=" ".join,
)
def test_every_long_running_command_takes_quiet(command):
    result = invoke(*command, "--help")
    assert "-q, --quiet" in result.output
