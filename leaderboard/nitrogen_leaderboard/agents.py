"""Agents for ``nitrogen eval``: one string names any policy with SB3's ``predict`` signature.

An agent spec is one of

* ``random``: uniformly random native actions (:class:`nitrogen_policies.evaluation.RandomAgent`);
* a NitroGen checkpoint: a bundled name (``nitrogen-s-procgen6``), a folder with ``config.json`` +
  ``model.safetensors``, or a Hugging Face Hub id;
* a Stable-Baselines3 model folder written by ``nitrogen baseline ppo`` or ``bc`` (JSON config +
  ``policy.safetensors``). SB3's own ``.zip`` files are refused: they hold cloudpickled objects;
* ``module:callable``: your own code. ``callable`` is either an object with ``predict`` (used as is) or a
  factory called with the env that returns one; an optional ``obs_size`` attribute on it sets the frame size.
  The module must be importable (``PYTHONPATH=. nitrogen eval --agent my_agent:make ...``).

Resolution (and the rules for which strings reach the Hub) is :func:`nitrogen_policies.evaluation.resolve_agent`,
shared with ``nitrogen evaluate``; this module adds ``module:callable``, the ``.zip`` refusal, per-episode
seeding and :func:`agent_info`.
"""

from __future__ import annotations

import importlib
import random
import re
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from nitrogen_envs.errors import NitroGenError
from nitrogen_leaderboard.schema import MAX_NAME, AgentInfo, sha256_file
from nitrogen_policies.evaluation import Agent, RandomAgent, agent_obs_size, resolve_agent

MODULE_SPEC = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
"""``package.module:attribute.path``: a spec of this shape that is not an existing path is imported."""
WEIGHT_FILES = ("model.safetensors", "policy.safetensors")
"""Weights files whose hash and size :func:`agent_info` reports (NitroGen, then SB3 baselines)."""


class AgentError(NitroGenError, ValueError):
    """An agent spec that names nothing loadable, a refused format, or an object without ``predict``."""


def is_module_spec(spec: str) -> bool:
    """Whether ``spec`` means ``module:callable`` (and not a path that happens to contain a colon)."""
    return bool(MODULE_SPEC.fullmatch(spec)) and not Path(spec).exists()


def _import_attr(spec: str) -> Any:
    module_name, _, attr_path = spec.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name is not None and module_name.startswith(err.name):  # the named module itself, not its import
            raise AgentError(
                f"agent {spec!r}: no module {module_name!r} on the Python path; run from its folder with "
                "PYTHONPATH=. or install it"
            ) from None
        raise
    for part in attr_path.split("."):
        if not hasattr(target, part):
            raise AgentError(f"agent {spec!r}: module {module_name!r} has no attribute {attr_path!r}")
        target = getattr(target, part)
    return target


def _check_spec(spec: str) -> None:
    if spec.endswith(".zip") or (Path(spec).is_file() and Path(spec).suffix == ".zip"):
        raise AgentError(
            f"agent {spec!r}: SB3 .zip files hold cloudpickled objects, which nitrogen never loads; train with "
            "`nitrogen baseline ppo` (safetensors + JSON) or wrap your model as module:callable"
        )


def obs_size(spec: str) -> int:
    """The frame size (pixels, square) the env must produce for ``spec``; reads configs only, loads no weights."""
    _check_spec(spec)
    if is_module_spec(spec):
        return int(getattr(_import_attr(spec), "obs_size", 256))
    return agent_obs_size(spec)


def load_agent(spec: str, env: gym.Env) -> Agent:
    """The agent named by ``spec`` (see the module docstring), ready to play ``env``.

    ``env`` is an evaluation env (:func:`nitrogen_policies.evaluation.make_eval_env`): random play draws from
    its native actions, and a ``module:callable`` factory is called with it.

    Raises:
        AgentError: a ``.zip``, an unimportable ``module:callable`` or an object without ``predict``.
        CheckpointError: no such checkpoint (the message suggests the closest bundled name or ``random``).
        DependencyNotInstalled: the agent needs an extra that is not installed.
    """
    _check_spec(spec)
    if is_module_spec(spec):
        target = _import_attr(spec)
        has_predict = hasattr(target, "predict") and not isinstance(target, type)
        agent = target if has_predict or not callable(target) else target(env)
        if not callable(getattr(agent, "predict", None)):
            raise AgentError(
                f"agent {spec!r}: got a {type(agent).__name__} without predict(observation, state, episode_start, "
                "deterministic); point at an object with predict, or a factory taking the env that returns one"
            )
        return agent  # type: ignore[no-any-return]
    resolved, _ = resolve_agent(spec)
    if isinstance(resolved, str):  # "random" is built on the env
        return RandomAgent(env)
    return resolved


def seed_agent(agent: Agent, seed: int) -> None:
    """Seed everything an agent may draw from before an episode, so the episode depends on ``seed`` alone.

    Each episode is then the same whichever worker plays it and whatever came before it (parallel runs,
    resumed runs and single runs agree). Covers :class:`RandomAgent`'s action space, Python's and NumPy's
    global generators, and torch's when torch is already imported.
    """
    import sys

    if isinstance(agent, RandomAgent):
        agent.space.seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def set_game(agent: Agent, game: str, track: str) -> None:
    """Tell a game-conditioned agent (NitroGen) which game it plays, except on the zero-shot track.

    Zero-shot means the game is unseen: the agent gets no game identity (NitroGen's unknown-game embedding).
    """
    setter = getattr(agent, "set_game", None)
    if callable(setter):
        setter(None if track == "zero-shot" else game)


def _weights_file(spec: str) -> Path | None:
    if spec == "random" or is_module_spec(spec):
        return None
    folder = Path(spec)
    if not folder.is_dir():
        from nitrogen_policies.errors import CheckpointError
        from nitrogen_policies.hub import resolve_checkpoint  # a bundled name or a Hub id

        try:
            folder = resolve_checkpoint(spec)
        except CheckpointError as err:
            raise CheckpointError(
                f"{err}; --agent also takes 'random', an SB3 baseline folder or module:callable"
            ) from None
    return next((folder / name for name in WEIGHT_FILES if (folder / name).is_file()), None)


def count_parameters(path: Path) -> int:
    """Number of tensor elements in a safetensors file, from its header alone (no weight is read)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        return sum(int(np.prod(handle.get_slice(key).get_shape())) for key in handle.keys())  # noqa: SIM118


def agent_info(spec: str) -> AgentInfo:
    """What a results file records about the agent: a name, and the weights' SHA-256 and size when it has weights.

    The name is ``spec`` for names and ``module:callable``, the folder name for a local path (no local path
    leaks into a submission).

    Raises:
        AgentError, CheckpointError: as :func:`load_agent`.
    """
    _check_spec(spec)
    path = Path(spec)
    name = path.resolve().name if path.exists() else spec
    weights = _weights_file(spec)
    if weights is None:
        return AgentInfo(name=name[:MAX_NAME])
    return AgentInfo(
        name=name[:MAX_NAME], weights_sha256=sha256_file(weights), num_parameters=count_parameters(weights)
    )
