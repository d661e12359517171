"""A new user's first lines: the default model loads offline, and importing our packages prints nothing."""

import importlib.util

import pytest
from fixtures.repo import run_python


def test_from_pretrained_with_no_argument_loads_the_default_shipped_model_offline(monkeypatch):
    pytest.importorskip("torch")
    from nitrogen_policies import NitroGenPolicy, hub

    def no_hub(*args, **kwargs):
        raise AssertionError("the default model must not need the Hub")

    monkeypatch.setattr(hub, "_download", no_hub)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    policy = NitroGenPolicy.from_pretrained()
    assert hub.DEFAULT_MODEL in hub.bundled_names()
    assert not policy.training
    action, _ = policy.predict(__import__("numpy").zeros((64, 64, 3), "uint8"))
    assert action.shape == (21,)


def test_an_unknown_name_suggests_the_closest_bundled_one(monkeypatch):
    pytest.importorskip("torch")
    from nitrogen_policies import hub
    from nitrogen_policies.errors import CheckpointError

    with pytest.raises(CheckpointError, match=r"did you mean 'nitrogen-s-procgen6'\?"):
        hub.resolve_checkpoint("nitrogen-s-procgen")


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param("import nitrogen_envs, nitrogen_datasets, nitrogen_policies", id="packages"),
        pytest.param("from nitrogen_policies import NitroGenPolicy", id="policy"),
        pytest.param(
            "from nitrogen_policies.import_utils import require_package as r; r('stable_baselines3')",
            id="sb3",
            marks=pytest.mark.slow,  # imports SB3 in a fresh interpreter: 5 s on 2 shared cores
        ),
        pytest.param(
            "import gymnasium as gym; gym.make('nitrogen_envs:NitroGen/CoinRun-v0', obs_size=32).reset(seed=0)",
            id="procgen",  # the id form that registers on Gymnasium 0.29 and 1.x alike (docs/install.md)
        ),
    ],
)
def test_importing_prints_no_third_party_banner(statement):
    result = run_python(statement)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr


@pytest.mark.classic
@pytest.mark.slow  # imports SB3 and imitation in a fresh interpreter: 5 s on 2 shared cores
def test_importing_imitation_prints_no_third_party_banner():
    if importlib.util.find_spec("imitation") is None:
        pytest.skip("imitation is on the classic stack only (docs/install.md)")
    result = run_python(
        "from nitrogen_policies.import_utils import require_package as r; r('stable_baselines3'); r('imitation.data.types')"
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr


def test_the_evaluate_help_prints_no_banner():
    result = run_python(
        "from nitrogen_envs.cli import main; import sys; sys.argv = ['nitrogen', 'evaluate', '--help']; main()"
    )
    assert result.returncode == 0 and "--agent" in result.stdout
    assert result.stderr == ""
