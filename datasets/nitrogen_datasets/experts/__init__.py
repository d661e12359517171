"""Experts: demonstrators for every embedded task, used to record datasets.

* ``planner`` — save-state lookahead for Procgen and Atari games (:mod:`.planner`).
* ``scripted`` — privileged bots for ViZDoom (:mod:`.doom`) and Crafter (:mod:`.crafter_bot`).
* ``frame`` — played from the current frame alone, so its action is a function of the picture (the labels
  a classifier can learn from pictures): Procgen Chaser, Miner, Heist, FruitBot, Leaper, Plunder and CoinRun
  (easy) (:mod:`.frame_procgen`), and a rule per Atari game on its 210x160 screen (:mod:`.frame_ale`).
* ``random`` — uniform native actions, the baseline every expert is measured against.

Example:
    >>> import gymnasium as gym
    >>> from nitrogen_datasets.experts import make_expert
    >>> env = gym.make("NitroGen/CoinRun-v0", task="easy", obs_size=32)  # doctest: +SKIP
    >>> expert = make_expert("planner", "CoinRun", seed=0)  # doctest: +SKIP
    >>> obs, info = env.reset(seed=0)  # doctest: +SKIP
    >>> expert.reset(env, seed=0)  # doctest: +SKIP
    >>> obs, reward, terminated, truncated, info = env.step(expert.act(obs, info))  # doctest: +SKIP
"""

from nitrogen_datasets.experts.base import Expert, RandomExpert
from nitrogen_datasets.experts.errors import ExpertNotReset, ExpertUnsupported, UnknownExpert
from nitrogen_datasets.experts.planner import PlannerConfig, PlannerExpert
from nitrogen_datasets.experts.registry import EXPERTS, default_expert, default_expert_name, make_expert
from nitrogen_datasets.experts.report import ReportRow, expert_report, format_report, run_episode

__all__ = [
    "EXPERTS",
    "Expert",
    "ExpertNotReset",
    "ExpertUnsupported",
    "PlannerConfig",
    "PlannerExpert",
    "RandomExpert",
    "ReportRow",
    "UnknownExpert",
    "default_expert",
    "default_expert_name",
    "expert_report",
    "format_report",
    "make_expert",
    "run_episode",
]
