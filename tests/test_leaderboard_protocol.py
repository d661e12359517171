"""The unseen-v1 protocol (tasks, seeds) and the scoring (IQM, stratified bootstrap CIs, ranking)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nitrogen_envs.registry import get_game
from nitrogen_envs.splits import load_split
from nitrogen_leaderboard.metrics import Summary, TaskSummary, iqm, overlaps, rank, summarize
from nitrogen_leaderboard.protocol import (
    DEV_SEED_LOW,
    SEED_HIGH,
    TEST_SEED_LOW,
    CoverageError,
    ProtocolError,
    load_protocol,
    split_tasks,
)
from nitrogen_leaderboard.schema import TRACKS, AgentInfo, EpisodeRecord, ResultsFile, RunEnvironment

SECRET = "server-secret-0123456789"


@pytest.fixture(scope="module")
def protocol():
    return load_protocol("unseen-v1")


# ---- protocol ---------------------------------------------------------------------------------------


def test_unseen_v1_has_every_task_of_every_held_out_game_and_no_pretraining_game(protocol):
    split = load_split(protocol.split)
    assert [(t.game, t.task) for t in protocol.tasks] == list(split_tasks("unseen-v1"))
    assert {t.game for t in protocol.tasks} == set(split.held_out)
    assert not {t.game for t in protocol.tasks} & set(split.pretrain)
    assert all(t.env_id == get_game(t.game).env_id for t in protocol.tasks)
    assert protocol.episodes_per_task >= 20
    assert protocol.tracks == TRACKS


def test_step_limits_never_exceed_the_games_own_cap(protocol):
    for task in protocol.tasks:
        assert 1 <= task.max_steps <= get_game(task.game).max_episode_steps, task.key


def test_dev_seeds_are_public_deterministic_and_far_from_training_seeds(protocol):
    task = protocol.tasks[0]
    seeds = protocol.dev_seeds(task)
    assert seeds == load_protocol("unseen-v1").dev_seeds(task)
    assert len(seeds) == protocol.episodes_per_task == len(set(seeds))
    assert min(seeds) >= DEV_SEED_LOW and max(seeds) < TEST_SEED_LOW


def test_test_seeds_are_deterministic_secret_dependent_and_disjoint_from_dev(protocol):
    for task in protocol.tasks:
        test = protocol.test_seeds(task, SECRET)
        assert test == protocol.test_seeds(task, SECRET)
        assert len(set(test)) == protocol.episodes_per_task
        assert all(TEST_SEED_LOW <= seed < SEED_HIGH for seed in test)
        assert not set(test) & set(protocol.dev_seeds(task))
        assert set(test) != set(protocol.test_seeds(task, SECRET + "x"))
    # tasks get different test seeds (an agent tuned on one task's leaked seeds learns nothing about another)
    assert protocol.test_seeds(protocol.tasks[0], SECRET) != protocol.test_seeds(protocol.tasks[1], SECRET)


def test_test_seeds_need_a_long_enough_secret(protocol):
    with pytest.raises(ProtocolError, match="secret"):
        protocol.seeds(protocol.tasks[0], "test", None)
    with pytest.raises(ProtocolError, match="at least 16"):
        protocol.test_seeds(protocol.tasks[0], "short")


def test_restricted_keeps_name_and_first_seeds_and_caps_steps(protocol):
    tiny = protocol.restricted(tasks=["Breakout/score", "BigFish/hard"], episodes_per_task=2, max_steps=30)
    assert tiny.name == protocol.name
    assert [t.key for t in tiny.tasks] == ["Breakout/score", "BigFish/hard"]
    assert all(t.max_steps == 30 for t in tiny.tasks)
    assert tiny.dev_seeds(tiny.tasks[0]) == protocol.dev_seeds(protocol.task("Breakout/score"))[:2]
    assert tiny.fingerprint() != protocol.fingerprint()


def test_restricted_rejects_unknown_tasks_and_more_episodes(protocol):
    with pytest.raises(ProtocolError, match="did you mean BigFish/hard"):
        protocol.restricted(tasks=["BigFish/hrad"])
    with pytest.raises(ProtocolError, match="episodes per task"):
        protocol.restricted(episodes_per_task=protocol.episodes_per_task + 1)


def test_unknown_protocol_name_lists_the_shipped_ones():
    with pytest.raises(ProtocolError, match=r"unknown protocol 'unseen-v9'.*\['unseen-v1'\]"):
        load_protocol("unseen-v9")


def test_protocol_round_trips_through_a_json_file(protocol, tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(protocol.restricted(tasks=["Qbert/score"]).to_dict()))
    loaded = load_protocol(str(path))
    assert loaded == protocol.restricted(tasks=["Qbert/score"])


def test_protocol_file_with_an_unknown_task_is_refused(tmp_path):
    raw = load_protocol().to_dict()
    raw["tasks"][0]["task"] = "nightmare"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ProtocolError, match="BigFish has no task 'nightmare'"):
        load_protocol(str(path))


def _results(protocol, keys) -> ResultsFile:
    episodes = [EpisodeRecord(game=g, task=t, seed=s, episode_return=0.0, success=False, steps=1) for g, t, s in keys]
    return ResultsFile(
        protocol=protocol.name,
        track="zero-shot",
        seed_set="dev",
        agent=AgentInfo(name="random"),
        environment=RunEnvironment(package_version="0"),
        wall_time_s=1.0,
        episodes=episodes,
    )


def test_coverage_check_accepts_a_complete_run_and_refuses_a_partial_one(protocol):
    tiny = protocol.restricted(tasks=["Qbert/score", "Boxing/score"], episodes_per_task=3)
    keys = tiny.episode_keys()
    tiny.check_coverage(_results(tiny, keys))
    with pytest.raises(CoverageError, match="1 missing"):
        tiny.check_coverage(_results(tiny, keys[:-1]))
    with pytest.raises(CoverageError, match="1 repeated"):
        tiny.check_coverage(_results(tiny, [*keys, keys[0]]))


# ---- metrics ----------------------------------------------------------------------------------------


def _episodes(task_scores: dict[str, list[float]]) -> list[EpisodeRecord]:
    return [
        EpisodeRecord(
            game=key.split("/")[0],
            task=key.split("/")[1],
            seed=i,
            episode_return=float(score),
            success=bool(score >= 1.0),
            steps=10,
            score_normalized=float(score),
        )
        for key, scores in task_scores.items()
        for i, score in enumerate(scores)
    ]


def test_iqm_drops_the_outer_quarters():
    assert float(iqm(np.array([0.0, 1.0, 2.0, 100.0]))) == 1.5  # 0 and 100 trimmed
    assert float(iqm(np.arange(8.0))) == 3.5  # mean of 2, 3, 4, 5
    assert float(iqm(np.array([0.2, 0.9, 0.4]))) == pytest.approx(0.5)  # 3 tasks: nothing trimmed


def test_summary_iqm_is_over_per_task_means():
    # Per-task means 0.1, 0.2, 0.4, 0.9: the IQM trims 0.1 and 0.9 and averages 0.2 and 0.4.
    summary = summarize(
        _episodes({"A/t": [0.0, 0.2], "B/t": [0.2, 0.2], "C/t": [0.3, 0.5], "D/t": [0.8, 1.0]}), reps=500
    )
    assert summary.iqm == pytest.approx(0.3)
    assert summary.per_task["D/t"].score_mean == pytest.approx(0.9)
    assert summary.per_task["D/t"].success_rate == 0.5
    assert summary.episodes == 8


def test_score_falls_back_to_success_without_a_normalized_score():
    eps = [
        EpisodeRecord(game="DoomDefendLine", task="kill10", seed=s, episode_return=3.0, success=s < 1, steps=5)
        for s in range(4)
    ]
    assert summarize(eps, reps=100).per_task["DoomDefendLine/kill10"].score_mean == 0.25


def test_interval_contains_the_estimate_and_narrows_with_more_episodes():
    rng = np.random.default_rng(1)
    widths = []
    for n in (5, 80):
        scores = {f"G{k}/t": list(rng.uniform(0, 1, n) * (k + 1) / 6) for k in range(6)}
        summary = summarize(_episodes(scores), reps=1000)
        assert summary.ci_low <= summary.iqm <= summary.ci_high
        for task in summary.per_task.values():
            assert task.ci_low <= task.score_mean <= task.ci_high
        widths.append(summary.ci_high - summary.ci_low)
    assert widths[1] < widths[0] / 2


def test_bootstrap_is_repeatable_for_a_seed():
    eps = _episodes({"A/t": [0.0, 1.0, 0.5], "B/t": [0.2, 0.9, 0.1]})
    assert summarize(eps, seed=3) == summarize(eps, seed=3)


def test_summary_round_trips_through_json():
    summary = summarize(_episodes({"A/t": [0.0, 1.0], "B/t": [0.5, 0.5]}), reps=100)
    assert Summary.from_dict(json.loads(json.dumps(summary.to_dict()))) == summary


def _summary(point: float, low: float, high: float) -> Summary:
    task = TaskSummary(success_rate=0.0, score_mean=point, ci_low=low, ci_high=high, episodes=1)
    return Summary(per_task={"A/t": task}, iqm=point, ci_low=low, ci_high=high, episodes=1)


def test_overlap_and_ranking_name_which_neighbours_are_not_separated():
    board = {"low": _summary(0.2, 0.1, 0.3), "best": _summary(0.8, 0.7, 0.9), "close": _summary(0.75, 0.65, 0.85)}
    assert overlaps(board["best"], board["close"]) and not overlaps(board["close"], board["low"])
    rows = rank(board)
    assert [r.name for r in rows] == ["best", "close", "low"]
    assert [r.position for r in rows] == [1, 2, 3]
    assert (rows[0].overlaps_above, rows[0].overlaps_below) == (False, True)
    assert (rows[1].overlaps_above, rows[1].overlaps_below) == (True, False)
    assert (rows[2].overlaps_above, rows[2].overlaps_below) == (False, False)
    assert rows[0].overlaps_with == ("close",) and rows[2].overlaps_with == ()
