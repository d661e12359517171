"""Packages import one way and stay light; our folders never shadow installed packages."""

import json

import gymnasium as gym
import pytest
from conftest import run_python

pytestmark = pytest.mark.classic  # also run on the classic stack (README test command)

# cv2 is left out: gymnasium.wrappers imports OpenCV itself whenever it is installed.
HEAVY = ["torch", "procgen", "ale_py", "vizdoom", "crafter", "av", "pygame"]
OURS = ["nitrogen_policies", "nitrogen_datasets", "nitrogen_leaderboard"]


def _modules_after(statement: str) -> set[str]:
    result = run_python(f"{statement}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))")
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_importing_nitrogen_envs_pulls_in_no_engine_torch_or_other_package_of_ours():
    loaded = _modules_after("import nitrogen_envs")
    assert not loaded & set(HEAVY + OURS)


GYMNASIUM_1 = int(gym.__version__.split(".")[0]) >= 1
needs_plugins = pytest.mark.skipif(GYMNASIUM_1, reason="Gymnasium 1.x has no entry-point plugins (docs/install.md)")


@needs_plugins
def test_import_gymnasium_registers_our_envs_without_importing_an_engine():
    result = run_python(
        "import gymnasium as gym, sys\n"
        "assert 'NitroGen/CoinRun-v0' in gym.registry, 'plugin did not register'\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.skipif(not GYMNASIUM_1, reason="gym.register_envs is new in Gymnasium 1.0")
def test_register_envs_registers_our_envs_without_importing_an_engine():
    result = run_python(
        "import gymnasium as gym, sys, nitrogen_envs\n"
        "gym.register_envs(nitrogen_envs)\n"
        "assert 'NitroGen/CoinRun-v0' in gym.registry\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    "env_id",
    ["nitrogen_envs:NitroGen/CoinRun-v0", pytest.param("NitroGen/CoinRun-v0", marks=needs_plugins)],
    ids=["module-prefix", "plugin"],
)
def test_gym_make_works_with_no_import_of_ours(env_id):
    result = run_python(
        "import gymnasium as gym\n"
        f"env = gym.make({env_id!r}, obs_size=32)\n"
        "obs, info = env.reset(seed=0)\n"
        "print(obs.shape, info['game'])"
    )
    assert result.returncode == 0, result.stderr
    assert "(32, 32, 3) CoinRun" in result.stdout


@pytest.mark.parametrize("package", OURS)
def test_placeholder_packages_import_cleanly(package):
    loaded = _modules_after(f"import {package}")
    assert package in loaded


def test_repo_folders_do_not_shadow_hugging_face_datasets():
    pytest.importorskip("imitation")
    result = run_python("import datasets, imitation.data.serialize\nprint(datasets.__file__)")
    assert result.returncode == 0, result.stderr
    assert "site-packages" in result.stdout


def test_cli_help_is_fast_and_imports_no_engine():
    loaded = _modules_after("from nitrogen_envs.cli import cli")
    assert not loaded & set(HEAVY + OURS)


def test_importing_nitrogen_policies_is_light_until_the_policy_is_used():
    assert "torch" not in _modules_after("import nitrogen_policies")
    loaded = _modules_after("from nitrogen_policies import NitroGenPolicy")
    assert "torch" in loaded
    assert not loaded & {"nitrogen_datasets", "nitrogen_leaderboard"}
