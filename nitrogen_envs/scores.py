"""Reference scores that ``score_normalized`` maps onto 0 .. 1: shipped random play and the registry's experts.

This is the run-time half of the references: a lookup that reads the shipped
``nitrogen_envs/data/random_scores.json`` once and imports nothing of ours beyond the registry's types,
so the env base class can use it at module level. The file is written by the measuring script,
:mod:`nitrogen_envs.references`, which plays games and therefore imports the envs.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from importlib import resources

from nitrogen_envs.registry import GameSpec, TaskSpec

logger = logging.getLogger(__name__)

RANDOM_SCORES_FILE = "random_scores.json"
"""Name of the shipped random-play file under ``nitrogen_envs/data/``."""


@lru_cache(maxsize=1)
def _load() -> dict[str, float]:
    try:
        text = (resources.files("nitrogen_envs") / "data" / RANDOM_SCORES_FILE).read_text()
    except FileNotFoundError:
        logger.warning("no random-score reference file shipped; score_normalized is unavailable")
        return {}
    return {key: float(value["mean"]) for key, value in json.loads(text)["scores"].items()}


def random_score(game: str, task: str) -> float | None:
    """Mean episode return of random play for ``game``/``task``, or ``None`` when not measured."""
    return _load().get(f"{game}/{task}")


def reference_range(game: GameSpec, task: TaskSpec) -> tuple[float, float] | None:
    """``(random, expert)`` episode returns that map to 0 and 1, or ``None`` when either is missing.

    ``None`` too when both are equal, since no return could then be placed between them.
    """
    expert = task.expert_score
    if expert is None:
        return None
    random = random_score(game.name, task.name)
    if random is None or random == expert:
        return None
    return random, expert
