"""`evaluate(..., workers=N)`: episodes played in N processes are the episodes of one process."""

import concurrent.futures
import time

import pytest
from fixtures.games import game_params, installed_games, one_game_per_engine

from nitrogen_policies import evaluation
from nitrogen_policies.evaluation import evaluate

GAMES = {g.name for g in installed_games()}
needs_doom = pytest.mark.skipif("DoomBasic" not in GAMES, reason="vizdoom not installed")
needs_coinrun = pytest.mark.skipif("CoinRun" not in GAMES, reason="procgen not installed")


def _worker_plays_first(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make this process wait for the spawned worker's first claim before taking any seed; its claims, listed.

    Without it, short test episodes may all be played here before the worker has started (it is then not
    waited for), and a 2-worker test would never see an episode played in another process.
    """
    claim, mine = evaluation._claim, []

    def after_the_worker(shared, total):
        deadline = time.monotonic() + 600
        while shared.claimed.value == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        index = claim(shared, total)
        if index is not None:
            mine.append(index)
        return index

    monkeypatch.setattr(evaluation, "_claim", after_the_worker)  # this process only; the worker's is the real one
    return mine


@pytest.mark.slow
@needs_doom
def test_two_workers_return_the_episodes_of_one_worker_in_seed_order(monkeypatch):
    seeds = [5, 3, 4, 6, 2]  # more seeds than players: each player takes several, in claim order
    one = evaluate("random", "NitroGen/DoomBasic-v0", seeds=seeds, obs_size=32, max_steps=40)
    here = _worker_plays_first(monkeypatch)
    two = evaluate("random", "NitroGen/DoomBasic-v0", seeds=seeds, obs_size=32, max_steps=40, workers=2)
    assert [vars(r) for r in two] == [vars(r) for r in one]
    assert [r.seed for r in two] == seeds
    assert 0 not in here and len(here) < len(seeds)  # the worker played the first seed at least


@pytest.mark.slow
@needs_coinrun
def test_procgen_episodes_with_two_workers_are_those_of_one(monkeypatch):
    """The benchmark's game: one engine build per process, then reset(seed=...) for each claimed episode."""
    seeds = [0, 1, 2, 3]
    one = evaluate("random", "NitroGen/CoinRun-v0", seeds=seeds, obs_size=32, max_steps=60)
    here = _worker_plays_first(monkeypatch)
    two = evaluate("random", "NitroGen/CoinRun-v0", seeds=seeds, obs_size=32, max_steps=60, workers=2)
    assert [vars(r) for r in two] == [vars(r) for r in one]
    assert 0 not in here and len(here) < len(seeds)


def test_a_calls_shared_counter_lives_until_every_worker_of_the_call_is_done():
    """A call returns without waiting on a worker still starting; its counter must outlive the call.

    Freed at once, its shared memory became the next call's counter: the late worker took one of the next
    call's seeds, sent the result to its own call's queue, which nobody read, and the next call hung (seen
    in the benchmark). Futures stand in for the workers' parts of the call.
    """
    shared = evaluation._Shared(claimed=object(), results=object())
    started, starting = concurrent.futures.Future(), concurrent.futures.Future()
    evaluation._keep_while_running(shared, [started, starting])
    key = id(shared)
    del shared  # the call has returned
    assert key in evaluation._IN_USE
    started.set_result(None)
    assert key in evaluation._IN_USE  # the other worker may still take a seed
    starting.set_exception(RuntimeError("died while starting"))
    assert key not in evaluation._IN_USE


@pytest.mark.slow
@pytest.mark.parametrize("game", game_params(one_game_per_engine()))
def test_a_reused_env_plays_the_episode_of_a_fresh_env(game):
    """Every player reuses one env across its episodes; an episode must not depend on the ones before it.

    Seed 4 after seeds 5 and 3 (each cut by ``max_steps`` mid-episode, or ended by the game) must equal seed 4
    on a fresh env, for each engine.
    """
    alone = evaluate("random", game.env_id, seeds=[4], obs_size=32, max_steps=40)
    after_two = evaluate("random", game.env_id, seeds=[5, 3, 4], obs_size=32, max_steps=40)
    assert vars(after_two[2]) == vars(alone[0])


@pytest.mark.slow
@needs_doom
def test_an_unknown_agent_with_two_workers_fails_fast_and_names_it():
    """This process loads the agent while the worker starts: its error, not the pool's, ends the call."""
    with pytest.raises(ValueError, match="unknown built-in agent 'no-such-agent'"):
        evaluate("no-such-agent", "NitroGen/DoomBasic-v0", seeds=list(range(20)), obs_size=32, workers=2)


def test_several_workers_need_the_agent_spec_not_an_object():
    class Agent:
        def predict(self, observation, state=None, episode_start=None, deterministic=False):
            raise AssertionError("not played")

    with pytest.raises(ValueError, match="needs the agent's spec"):
        evaluate(Agent(), "NitroGen/DoomBasic-v0", seeds=[0, 1], workers=2)
    with pytest.raises(ValueError, match="workers must be >= 1, got 0"):
        evaluate("random", "NitroGen/DoomBasic-v0", seeds=[0], workers=0)
