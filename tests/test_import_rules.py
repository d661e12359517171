"""Packages import one way and stay light; our folders never shadow installed packages."""

import json

import gymnasium as gym
import pytest
from fixtures.repo import run_python

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


# What importing each package may load, from the table of rooms (docs/STYLE "Rooms and doors"): imports
# point one way, and heavy dependencies wait until the feature that needs them is used.
MAY_IMPORT = {
    "nitrogen_policies": {"nitrogen_envs"},
    "nitrogen_datasets": {"nitrogen_envs"},
    "nitrogen_leaderboard": {"nitrogen_envs", "nitrogen_policies"},
}


@pytest.mark.parametrize("package", OURS)
def test_each_package_imports_only_the_rooms_it_may_and_nothing_heavy(package):
    loaded = _modules_after(f"import {package}")
    forbidden = (set(OURS) - {package} - MAY_IMPORT[package]) | set(HEAVY)
    assert not loaded & forbidden, f"import {package} pulled in {sorted(loaded & forbidden)}"


# Run in a fresh interpreter: when the live catalog is first imported (registration reaches it from
# Gymnasium's plugin hook, possibly while nitrogen_envs itself is still importing Gymnasium), report
# which public names of nitrogen_envs could not yet be resolved.
_PROBE = """
import importlib.abc, json, sys
seen = []
class Probe(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "nitrogen_envs.live.catalog" and not seen:
            package = sys.modules["nitrogen_envs"]
            names = vars(package).get("__all__")
            lazy = vars(package).get("_LAZY", {})
            seen.append(None if names is None else [n for n in names if n not in vars(package) and n not in lazy])
        return None
sys.meta_path.insert(0, Probe())
{statement}
import gymnasium
print(json.dumps({"missing": seen, "registered": "NitroGen/CoinRun-v0" in gymnasium.registry}))
"""


# Gymnasium first: on 0.29 `import gymnasium` alone registers through our plugin hook (while nitrogen_envs may
# itself be importing Gymnasium); 1.x has no plugins, so users import gymnasium, then register as docs/install.md says.
GYMNASIUM_FIRST = (
    "import gymnasium as gym, nitrogen_envs\ngym.register_envs(nitrogen_envs)" if GYMNASIUM_1 else "import gymnasium"
)


@pytest.mark.parametrize("statement", ["import nitrogen_envs", GYMNASIUM_FIRST], ids=["ours-first", "gymnasium-first"])
def test_registration_finds_nitrogen_envs_whole_in_either_import_order(statement):
    result = run_python(_PROBE.replace("{statement}", statement))
    assert result.returncode == 0, result.stderr
    assert "plugin:" not in result.stderr, result.stderr  # Gymnasium's warning when our hook raised
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"missing": [[]], "registered": True}


@pytest.mark.slow  # fresh interpreters: 8 s in a full run on 2 shared cores
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


def test_playing_an_episode_loads_the_score_lookup_but_not_the_measuring_script():
    result = run_python(
        "import sys, gymnasium as gym\n"
        "env = gym.make('nitrogen_envs:NitroGen/CoinRun-v0', obs_size=32)\n"  # either Gymnasium (no plugins on 1.x)
        "obs, info = env.reset(seed=0)\n"
        "print('score_normalized' in info, 'nitrogen_envs.scores' in sys.modules, "
        "'nitrogen_envs.references' in sys.modules)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "True True False"
