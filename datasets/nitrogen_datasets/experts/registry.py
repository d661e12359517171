"""Expert names, which games each plays, and the default expert per engine.

Example:
    >>> sorted(EXPERTS)
    ['frame', 'planner', 'random', 'scripted']
    >>> default_expert_name("CoinRun"), default_expert_name("DoomBasic")
    ('planner', 'scripted')
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from nitrogen_datasets.experts.base import Expert, RandomExpert
from nitrogen_datasets.experts.errors import ExpertUnsupported, UnknownExpert
from nitrogen_datasets.experts.planner import PlannerConfig, PlannerExpert
from nitrogen_envs.registry import get_game


@dataclass(frozen=True)
class ExpertInfo:
    """One registered expert.

    Args:
        name: the name passed to :func:`make_expert`.
        engines: engines whose games it plays.
        description: one line for help texts and reports.
    """

    name: str
    engines: tuple[str, ...]
    description: str


EXPERTS: dict[str, ExpertInfo] = {
    info.name: info
    for info in (
        ExpertInfo("planner", ("procgen", "ale"), "save-state random-shooting lookahead (no learning)"),
        ExpertInfo("scripted", ("vizdoom", "crafter"), "privileged rule-based bot reading engine state"),
        ExpertInfo("random", ("procgen", "ale", "vizdoom", "crafter"), "uniform native actions (baseline)"),
        ExpertInfo(
            "frame",
            ("procgen", "ale"),
            "reads the current frame only: Procgen at >= 128 px (grid search: Chaser, Miner, Heist, Dodgeball; "
            "lanes: FruitBot, Leaper; platforms: CoinRun easy, Ninja, Jumper; shooters: Plunder, StarPilot), a rule "
            "per Atari game",
        ),
    )
}
DEFAULT_BY_ENGINE: dict[str, str] = {
    "procgen": "planner",
    "ale": "planner",
    "vizdoom": "scripted",
    "crafter": "scripted",
}


def default_planner_config(engine: str, seed: int = 0) -> PlannerConfig:
    """Planner settings per engine.

    Atari rewards are sparse but frequent enough that a 40-step look (2.7 s of play) finds them, and an
    Atari simulator step costs ~5x a Procgen one, so the horizon is not extended there.
    """
    if engine == "ale":
        return PlannerConfig(candidates=16, horizon=40, commit=8, max_horizon=40, seed=seed)
    return PlannerConfig(candidates=16, horizon=40, commit=8, max_horizon=80, seed=seed)


def make_expert(name: str, env_id_or_game: str, *, seed: int = 0, planner: PlannerConfig | None = None) -> Expert:
    """Build the expert ``name`` for a game (name such as ``CoinRun`` or env id ``NitroGen/CoinRun-v0``).

    Args:
        name: ``planner``, ``scripted``, ``frame`` or ``random``.
        env_id_or_game: the game it will play (checked against the expert's engines).
        seed: base seed; with each episode seed it makes play deterministic.
        planner: planner settings (``planner`` only); default :func:`default_planner_config`.

    Raises:
        UnknownExpert: ``name`` is not registered (the message lists the valid names).
        ExpertUnsupported: the expert cannot play this game's engine.
        nitrogen_envs.errors.UnknownGame: the game is not registered.
    """
    if name not in EXPERTS:
        close = difflib.get_close_matches(name, list(EXPERTS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownExpert(f"unknown expert {name!r}.{hint} Valid experts: {', '.join(sorted(EXPERTS))}")
    game = get_game(env_id_or_game)
    info = EXPERTS[name]
    if game.engine not in info.engines:
        default = DEFAULT_BY_ENGINE[game.engine]
        raise ExpertUnsupported(
            f"expert {name!r} plays {', '.join(info.engines)} games; {game.name} runs on {game.engine}. "
            f"Use {default!r} (or 'random') for it."
        )
    if name == "random":
        return RandomExpert(seed=seed)
    if name == "frame" and game.engine == "ale":
        from nitrogen_datasets.experts.frame_ale import RULES, AleFrameExpert, unsupported_message

        if game.name not in RULES:
            raise ExpertUnsupported(unsupported_message(game.name))
        return AleFrameExpert(seed=seed)
    if name == "frame":
        from nitrogen_datasets.experts import frame_procgen

        if game.name not in frame_procgen.rule_tables().parsers:
            raise ExpertUnsupported(frame_procgen.unsupported_message(game.name))
        return frame_procgen.FrameExpert(seed=seed)
    if name == "planner":
        return PlannerExpert(planner if planner is not None else default_planner_config(game.engine, seed))
    if game.engine == "vizdoom":
        from nitrogen_datasets.experts.doom import DoomBot

        return DoomBot(seed=seed)
    from nitrogen_datasets.experts.crafter_bot import CrafterBot

    return CrafterBot(seed=seed)


def default_expert_name(env_id_or_game: str) -> str:
    """Name of the best expert for a game: ``planner`` with save states, else ``scripted``."""
    return DEFAULT_BY_ENGINE[get_game(env_id_or_game).engine]


def default_expert(env_id_or_game: str, *, seed: int = 0) -> Expert:
    """The default expert (see :func:`default_expert_name`) for a game, ready for ``reset``."""
    return make_expert(default_expert_name(env_id_or_game), env_id_or_game, seed=seed)
