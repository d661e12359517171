"""`evaluate(..., workers=N)`: episodes played in N processes are the episodes of one process."""

import pytest
from fixtures.games import installed_games

from nitrogen_policies.evaluation import evaluate

GAMES = {g.name for g in installed_games()}
needs_doom = pytest.mark.skipif("DoomBasic" not in GAMES, reason="vizdoom not installed")


@needs_doom
def test_two_workers_return_the_episodes_of_one_worker_in_seed_order():
    seeds = [5, 3, 4]
    one = evaluate("random", "NitroGen/DoomBasic-v0", seeds=seeds, obs_size=32, max_steps=40)
    two = evaluate("random", "NitroGen/DoomBasic-v0", seeds=seeds, obs_size=32, max_steps=40, workers=2)
    assert [vars(r) for r in two] == [vars(r) for r in one]
    assert [r.seed for r in two] == seeds


@needs_doom
def test_a_random_episode_depends_on_its_seed_alone():
    alone = evaluate("random", "NitroGen/DoomBasic-v0", seeds=[4], obs_size=32, max_steps=40)
    after_another = evaluate("random", "NitroGen/DoomBasic-v0", seeds=[3, 4], obs_size=32, max_steps=40)
    assert vars(after_another[1]) == vars(alone[0])


def test_several_workers_need_the_agent_spec_not_an_object():
    class Agent:
        def predict(self, observation, state=None, episode_start=None, deterministic=False):
            raise AssertionError("not played")

    with pytest.raises(ValueError, match="needs the agent's spec"):
        evaluate(Agent(), "NitroGen/DoomBasic-v0", seeds=[0, 1], workers=2)
    with pytest.raises(ValueError, match="workers must be >= 1, got 0"):
        evaluate("random", "NitroGen/DoomBasic-v0", seeds=[0], workers=0)
