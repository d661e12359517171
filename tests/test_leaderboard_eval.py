"""`nitrogen eval`: results files, resuming after a kill, parallel workers, agent specs and one-line errors.

Tiny protocols only: two cheap tasks (ALE and ViZDoom start in about a second), two episodes, 20 steps.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner
from fixtures.ray_session import ray_session

from nitrogen_envs import gamepad
from nitrogen_envs.cli import cli
from nitrogen_envs.import_utils import is_available
from nitrogen_leaderboard import runner
from nitrogen_leaderboard.agents import AgentError, agent_info, load_agent
from nitrogen_leaderboard.protocol import load_protocol
from nitrogen_leaderboard.runner import RunMismatch, partial_dir, run_protocol
from nitrogen_leaderboard.schema import read_results

pytestmark = pytest.mark.skipif(
    not (is_available("ale_py") and is_available("vizdoom") and is_available("cv2")),
    reason="needs the atari and vizdoom engines",
)
TASKS = ["Breakout/score", "DoomDefendLine/kill10"]
EPISODES, STEPS = 2, 20


@pytest.fixture(scope="module")
def tiny():
    return load_protocol("unseen-v1").restricted(tasks=TASKS, episodes_per_task=EPISODES, max_steps=STEPS)


@pytest.fixture(scope="module")
def reference(tiny, tmp_path_factory):
    """An uninterrupted in-process run of the random agent."""
    return run_protocol("random", tiny, out=tmp_path_factory.mktemp("ref") / "results.json")


class NoOpAgent:
    """A ``module:callable`` agent for the tests: always the neutral gamepad action."""

    obs_size = 32

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        return gamepad.to_flat(gamepad.noop()), None


def make_noop_agent(env):
    return NoOpAgent()


class SlowInDoomAgent(NoOpAgent):
    """No-op actions; with ``$SLOW_AGENT`` set, 0.2 s per step in ViZDoom games (time to kill the run there)."""

    def __init__(self, env):
        self.slow = bool(os.environ.get("SLOW_AGENT")) and "Doom" in env.spec.id

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        if self.slow:
            time.sleep(0.2)
        return super().predict(observation)


NOT_AN_AGENT = object()


def _eval(args):
    return CliRunner().invoke(cli, ["eval", *args])


def test_eval_cli_writes_a_valid_results_file_and_prints_the_summary(tiny, tmp_path):
    out = tmp_path / "results.json"
    args = ["--agent", "random", "--episodes", str(EPISODES), "--max-steps", str(STEPS), "--out", str(out), "-q"]
    result = _eval([*args, "--tasks", TASKS[0], "--tasks", TASKS[1]])
    assert result.exit_code == 0, result.output
    results = read_results(out)
    assert results.model_dump() == json.loads(out.read_text())  # round-trips
    assert [(e.game, e.task, e.seed) for e in results.episodes] == tiny.episode_keys()
    assert all(0 < e.steps <= STEPS for e in results.episodes)
    assert (results.protocol, results.track, results.seed_set, results.agent.name) == (
        "unseen-v1",
        "zero-shot",
        "dev",
        "random",
    )
    assert results.environment.engine_versions["ale-py"] and results.environment.python
    assert results.wall_time_s > 0
    assert "IQM" in result.output and "Breakout/score" in result.output and str(out) in result.output
    assert not partial_dir(out).exists()  # cleaned up once the file is written


def test_same_arguments_give_the_same_episodes(tiny, reference, tmp_path):
    again = run_protocol("random", tiny, out=tmp_path / "again.json")
    assert again.episodes == reference.episodes


def test_resume_after_a_kill_plays_only_unfinished_tasks_and_gives_the_same_episodes(
    tiny, reference, tmp_path, monkeypatch
):
    out = tmp_path / "results.json"
    real = runner.play_job
    calls = []

    def killed_in_second_task(job, bar=None):
        if job.task.key == TASKS[1]:
            raise KeyboardInterrupt  # the run dies in its second task
        calls.append(job.task.key)
        return real(job, bar)

    monkeypatch.setattr(runner, "play_job", killed_in_second_task)
    with pytest.raises(KeyboardInterrupt):
        run_protocol("random", tiny, out=out)
    assert not out.exists()
    assert len(list(partial_dir(out).glob("000_*.json"))) == 1  # the first task was kept

    calls.clear()

    def counting(job, bar=None):
        calls.append(job.task.key)
        return real(job, bar)

    monkeypatch.setattr(runner, "play_job", counting)
    resumed = run_protocol("random", tiny, out=out)
    assert calls == [TASKS[1]] * EPISODES  # nothing of the finished task was played again
    assert resumed.episodes == reference.episodes
    assert read_results(out).episodes == reference.episodes


def test_eval_killed_with_sigkill_resumes_to_the_uninterrupted_result(tiny, tmp_path):
    agent = "test_leaderboard_eval:SlowInDoomAgent"
    uninterrupted = run_protocol(agent, tiny)
    out = tmp_path / "results.json"
    args = ["eval", "--agent", agent, "--episodes", str(EPISODES), "--max-steps", str(STEPS), "--out", str(out), "-q"]
    args += ["--tasks", TASKS[0], "--tasks", TASKS[1]]
    env = {**os.environ, "SLOW_AGENT": "1", "PYTHONPATH": os.path.dirname(__file__)}
    # Its own process group, killed whole: ViZDoom's engine is a child process that outlives a SIGKILLed parent.
    process = subprocess.Popen([sys.executable, "-m", "nitrogen_envs.cli", *args], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not list(partial_dir(out).glob("000_*.json")) and time.monotonic() < deadline:
            assert process.poll() is None, "the run ended before its first task was written"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert not out.exists() and list(partial_dir(out).glob("000_*.json"))
    result = _eval(args[1:])
    assert result.exit_code == 0, result.output
    assert read_results(out).episodes == uninterrupted.episodes


def test_a_partial_run_of_another_agent_is_not_mixed_in(tiny, tmp_path):
    out = tmp_path / "results.json"
    folder = partial_dir(out)
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps({"agent": "someone-else"}))
    with pytest.raises(RunMismatch, match=r"another agent.*delete that folder"):
        run_protocol("random", tiny, out=out)


def test_two_workers_give_the_episodes_of_one(tiny, reference, tmp_path):
    parallel = run_protocol("random", tiny, workers=2, out=tmp_path / "parallel.json")
    assert parallel.episodes == reference.episodes


def test_test_seeds_come_from_the_secret(tiny):
    secret = "a-server-side-secret-of-some-length"
    results = run_protocol(
        "random", tiny.restricted(tasks=[TASKS[1]], episodes_per_task=1), seed_set="test", secret=secret
    )
    assert results.seed_set == "test"
    assert [e.seed for e in results.episodes] == tiny.test_seeds(tiny.task(TASKS[1]), secret)[:1]


def test_seeds_test_without_the_secret_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.delenv("NITROGEN_LEADERBOARD_TEST_SECRET", raising=False)
    result = _eval(["--agent", "random", "--seeds", "test", "--out", str(tmp_path / "r.json")])
    assert result.exit_code == 1
    assert "--seeds test needs the server's secret" in result.output
    assert "NITROGEN_LEADERBOARD_TEST_SECRET" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--agent", "no-such-agent"], "no checkpoint 'no-such-agent'"),
        (["--agent", "random", "--protocol", "unseen-v7"], "unknown protocol 'unseen-v7'"),
        (["--agent", "random", "--tasks", "Breakout/hard"], "has no task 'Breakout/hard'"),
        (["--agent", "model.zip"], "cloudpickled"),
        (["--agent", "no_such_module_xyz:make"], "no module 'no_such_module_xyz'"),
    ],
    ids=["agent", "protocol", "task", "sb3-zip", "module"],
)
def test_user_mistakes_are_one_line_errors(args, message, tmp_path):
    result = _eval([*args, "--out", str(tmp_path / "r.json"), "-q"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and message in lines[0], result.output
    assert "Traceback" not in result.output


def test_module_callable_agent_plays_at_its_own_frame_size(tiny):
    results = run_protocol("test_leaderboard_eval:make_noop_agent", tiny.restricted(tasks=[TASKS[0]]))
    assert results.agent.name == "test_leaderboard_eval:make_noop_agent"
    assert len(results.episodes) == EPISODES
    assert all(e.episode_return == 0.0 for e in results.episodes)  # Breakout without FIRE scores nothing


def test_a_module_attribute_without_predict_is_refused():
    with pytest.raises(AgentError, match="without predict"):
        load_agent("test_leaderboard_eval:NOT_AN_AGENT", env=None)


def test_agent_info_fingerprints_the_weights():
    pytest.importorskip("torch")
    from nitrogen_policies.hub import resolve_checkpoint

    info = agent_info("nitrogen-s-procgen6")
    weights = resolve_checkpoint("nitrogen-s-procgen6") / "model.safetensors"
    assert info.weights_sha256 == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert info.num_parameters and info.num_parameters > 1_000_000
    assert agent_info("random").weights_sha256 is None


@pytest.mark.slow
def test_ray_gives_the_episodes_of_one_process(tiny, reference):
    ray = pytest.importorskip("ray")
    with ray_session(ray):
        assert run_protocol("random", tiny, workers=2, use_ray=True).episodes == reference.episodes


def test_ray_missing_is_a_one_line_error_naming_the_extra(tiny, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    from nitrogen_envs.errors import DependencyNotInstalled

    with pytest.raises(DependencyNotInstalled, match="scale"):
        run_protocol("random", tiny, use_ray=True)


def test_random_agent_episode_depends_only_on_its_seed(tiny):
    from nitrogen_leaderboard.agents import seed_agent
    from nitrogen_policies.evaluation import make_eval_env

    env = make_eval_env("NitroGen/Breakout-v0", obs_size=32)
    try:
        agent = load_agent("random", env)
        seed_agent(agent, 5)
        first = [agent.predict(None)[0] for _ in range(5)]
        seed_agent(agent, 6)
        agent.predict(None)
        seed_agent(agent, 5)
        assert np.array_equal(np.stack(first), np.stack([agent.predict(None)[0] for _ in range(5)]))
    finally:
        env.close()
