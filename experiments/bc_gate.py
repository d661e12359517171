"""The gate of issue 15 on the Doom pretraining tasks: does one nitrogen-s cloned by the product trainer beat random?

Section 8 of docs/results.md showed nitrogen-s with the discrete head (``action_head="discrete"``) at lr 5e-4
cloning the scripted Doom bot on DefendCenter in a private loop. This script runs the gate the issue asks for
through the *product* path instead: ``nitrogen collect``'s machinery records the bot on every ViZDoom task of
the split's pretraining games (unseen-v1: every Doom game but DefendLine and HealthGathering), ``nitrogen
train``'s :func:`~nitrogen_policies.training.train_on_folders` trains ONE multi-game nitrogen-s on all of them,
and each task is played on evaluation seeds the demonstrations never used, beside random play and the bot
itself on the same seeds.

    python experiments/bc_gate.py collect          # the bot's demonstrations, seeds 0.. (resumable)
    python experiments/bc_gate.py train            # one nitrogen-s on all of them (resumes its checkpoints)
    python experiments/bc_gate.py play --arm random   # random, expert, policy on seeds 1000-1019
    python experiments/bc_gate.py fit              # the final weights on their own training frames
    python experiments/bc_gate.py report [--write] # section 9 of docs/results.md

Every stage after ``collect`` takes ``--run`` (default ``v1``, the first run, whose files keep their names);
``--run v2`` is the second run: v1's final weights trained further with equal sampling weight per task::

    python experiments/bc_gate.py train --run v2   # = --balance equal --init runs/bc_gate/train/final --steps 2500
    python experiments/bc_gate.py play --run v2 && ... fit --run v2 && ... report --write

The train stage is the same run as::

    nitrogen train --out runs/bc_gate/train --data runs/bc_gate/demos/* --steps 1500 --batch-size 32
        --lr 5e-4 --workers 1 --save-every 250 --device cpu --set image_size=64
        --set cnn_channels=[32,64,128,256] --set chunk_size=1 --set n_action_steps=1 --set action_head=discrete

(one command line).

``--engine ale`` runs the same gate on the Atari tasks of the split's pretraining games (section 11), with the
save-state planner (the only Atari expert) as the demonstrator; its files go to ``runs/bc_gate/ale`` and
``experiments/results/bc_gate/ale``, and ViZDoom stays the default::

    python experiments/bc_gate.py collect --engine ale   # the planner, 400-step demonstrations (round-robin)
    python experiments/bc_gate.py train --engine ale     # equal weight per task, checkpoints every 100 steps
    python experiments/bc_gate.py play --engine ale --arm random   # then --arm marginal, --arm policy
    python experiments/bc_gate.py report --engine ale --write      # section 11 of docs/results.md

The planner plays 10-40 steps/s on the shared cores, too slow to play the 20 evaluation seeds as well: the
Atari table's expert column is the planner's own demonstrations (seeds 0.., the evaluation's 400-step cap),
not paired with the evaluation seeds. The ``marginal`` arm plays each game's native actions at the frequencies
the planner's demonstrations hold them, blind to the frame: the policy has to beat it to show that it reads
the picture rather than the label statistics.

``--expert frame`` runs the Atari gate on the frame expert's demonstrations instead (section 12): a rule per game
on the current screen (``nitrogen_datasets.experts.frame_ale``), fast enough to play the evaluation seeds too, so
its expert column is paired; MontezumaRevenge, which it has no rule for, is demonstrated by random play. Its
files go to ``runs/bc_gate/ale-frame`` and ``experiments/results/bc_gate/ale-frame``::

    python experiments/bc_gate.py collect --engine ale --expert frame   # then train, play --arm random/expert/
    python experiments/bc_gate.py report --engine ale --expert frame --write   # marginal/policy, fit, report

Section 13 is one DAgger iteration on that gate: ``relabel`` lets a run's policy play every task on training seeds
(100-107, disjoint from the demonstrations' and the evaluation's) and stores every frame it sees with the frame
expert's action as the label, in the demonstrations' format (``runs/bc_gate/ale-frame/dagger/<run>/``); the run
``dagger1`` trains v1's final weights further on the demonstrations plus v1's relabelled frames::

    python experiments/bc_gate.py relabel --engine ale --expert frame --run v1   # [--beta 0.5: the expert acts]
    python experiments/bc_gate.py train --engine ale --expert frame --run dagger1   # then play, fit --run dagger1
    python experiments/bc_gate.py report --engine ale --expert frame --run dagger1 --write   # section 13

``--engine procgen`` (``--expert frame``, its only demonstrator) runs the gate on the Procgen frame expert
(``nitrogen_datasets.experts.frame_procgen``, section 14) over the Procgen pretraining tasks it beats random on,
fixed in :data:`PROCGEN_FRAME_TASKS`; the engine's other pretraining tasks (no frame rule when it was fixed) count as not
passing. The expert parses 128 px frames and the policy sees 64 px, so the expert plays (and labels) an env made
at 128 px while the demonstrations store each frame shrunk to 64 px by the env's own resize (area average: the
policy's 64 px env frame up to rounding); its files go to ``runs/bc_gate/procgen-frame`` and
``experiments/results/bc_gate/procgen-frame``, the same stages as ``--engine ale --expert frame``::

    python experiments/bc_gate.py collect --engine procgen   # then train, play --arm random/expert/marginal/policy,
    python experiments/bc_gate.py report --engine procgen --write   # fit, relabel/--run dagger1 (section 14)
    python experiments/bc_gate.py play --engine procgen --temperature 1   # v1 sampled, not argmax (arm policy-t1)

Run from the repository root. Demonstrations and weights go to ``runs/bc_gate`` (not committed); per-episode
results to ``experiments/results/bc_gate``. Every stage skips what is already on disk, so a killed run resumes
by running the same command again.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bc_classifier import EVAL_EPISODES, make_env, play_seeds, with_score
from bc_diagnosis import FIRST_SEED, MAX_STEPS, atomic_json, episode_record, paired_difference, write_report

OUT = Path("runs/bc_gate")
RESULTS = Path(__file__).parent / "results" / "bc_gate"
BEGIN, END = "<!-- bc-gate:begin -->", "<!-- bc-gate:end -->"
ENGINE = "vizdoom"
EXPERT = "scripted"  # the engine's demonstrator (nitrogen_datasets.experts.registry)
EXPERT_ARM = "expert"  # whose episodes the expert column reads: the expert on the evaluation seeds
WORDS = {"games": "Doom", "expert": "the scripted bot", "short": "bot"}
ARMS = ("random", "expert", "policy", "marginal")
FAMILY = "doom"  # bc_classifier's env family: 64 px frames and the game's default task (any engine's game)
GATE_SHARE = 0.8  # issue 15: beat random on at least 80% of the pretraining games' tasks
TARGET_SHARE = 0.5  # issue 15: at least 50% of the expert's normalized score on average


@dataclass(frozen=True)
class GateConfig:
    """The run's settings; the train stage writes them beside the weights so the table can quote them."""

    split: str = "unseen-v1"
    episodes: int = 30  # demonstrations per task, seeds 0..episodes-1 (evaluation uses FIRST_SEED on)
    demo_max_steps: int = 300  # the bc experiments' demonstration cap
    obs_size: int = 64  # section 8's frame size
    steps: int = 1500
    batch_size: int = 32
    lr: float = 5e-4  # section 8: lr 1e-3 stalls even the discrete head; the trainer's default is 3e-4
    save_every: int = 250
    policy: dict[str, Any] = field(
        default_factory=lambda: {
            "image_size": 64,
            "cnn_channels": [32, 64, 128, 256],
            "chunk_size": 1,
            "n_action_steps": 1,
            "action_head": "discrete",
        }
    )


CONFIG = GateConfig()
BALANCES = ("none", "equal", "sqrt")
"""Per-task sampling: every frame alike (a task weighs its frame count), each task alike, or each task by the
square root of its frame count (the trainer's ``--weights``, one weight per task folder)."""


def check_levels(levels: int) -> None:
    """Refuse a level count whose seeds would reach the evaluation's (0 means the gate's own count)."""
    if not 0 <= levels <= FIRST_SEED:
        raise SystemExit(f"Error: --levels must be 1-{FIRST_SEED} (evaluation seeds start there), got {levels}")


@dataclass(frozen=True)
class RunConfig:
    """One training run of the gate: its budget, its per-task sampling and the weights it starts from.

    ``init`` is a policy folder (``None``: a fresh nitrogen-s); the trainer restarts its warm-up and cosine
    schedule over ``steps``. The run's files are named after it, v1's as the first run left them.
    """

    name: str
    steps: int = CONFIG.steps
    balance: str = "none"
    init: str | None = None
    save_every: int = CONFIG.save_every
    seed: int = (
        0  # the trainer's seed (sampling order, python/numpy/torch); every run before section 13's replicates: 0
    )
    dagger: tuple[str, ...] = ()
    """Relabelled sets (``relabel`` stage, named after the run whose policy played them) trained on beside the
    demonstrations: DAgger's aggregated data."""
    policy: tuple[tuple[str, Any], ...] = ()
    """Policy settings over the gate's (``GateConfig.policy``) for a fresh network, e.g. ``(("joint_sticks",
    True),)``; a run from ``init`` keeps its checkpoint's."""
    retrains: str = ""
    """The run whose recipe this one trains again (same demonstrations, seed and settings), when that run's weights
    are gone: the report says so and counts the tasks where the two argmax arms differ."""
    levels: int = 0
    """Levels of demonstrations per task it trains and is fitted on (seeds 0..levels-1, ``collect --levels``'s
    folder); 0: the gate's ``CONFIG.episodes`` in ``demos/``."""
    home: str = ""
    """The run's trainer folder when it was trained elsewhere and its weights are committed (``gpu1``: the device
    machine, ``procgen_gpu.py``); empty: under ``OUT``."""

    def __post_init__(self) -> None:
        if self.balance not in BALANCES:
            raise SystemExit(f"Error: unknown --balance {self.balance!r}; choose from {', '.join(BALANCES)}")
        if self.steps < 1 or self.save_every < 1:
            raise SystemExit(f"Error: --steps and --save-every must be >= 1, got {self.steps} and {self.save_every}")
        check_levels(self.levels)

    @property
    def suffix(self) -> str:
        """What the run's file names carry: nothing for v1 (its files predate the option)."""
        return "" if self.name == "v1" else f"-{self.name}"

    @property
    def folder(self) -> Path:
        """The trainer's run folder (checkpoints, TensorBoard, final weights)."""
        return Path(self.home) if self.home else OUT / f"train{self.suffix}"

    @property
    def arm(self) -> str:
        """The play arm its policy's episodes are filed under."""
        return f"policy{self.suffix}"

    def result(self, stem: str) -> Path:
        """One of its summary files (``train``, ``fit``)."""
        return RESULTS / f"{stem}{self.suffix}.json"


RUNS = {
    "v1": RunConfig("v1"),
    # section 9's two untested fixes: each task sampled alike (Basic and PredictPosition were 0.9% and 2.8% of the
    # samples), and more steps, from v1's weights; checkpoints every 100 steps (about 3 minutes) so a killed
    # session loses little
    "v2": RunConfig("v2", steps=2500, balance="equal", init=str(OUT / "train" / "final"), save_every=100),
}
RETRAIN_NOTE = (
    "{of}'s recipe trained again in session 17 on a fresh collection of the same demonstrations (identical frame "
    "counts), the same seed and settings, so that its sampled arm has its own argmax beside it: the weights are not "
    "bit-identical to {of}'s (its argmax episodes differ on {differ} of {tasks} tasks)"
)
"""What the report says of a run that ``retrains`` another: the committed weights were not on session 17's machine."""
# session 17: v1 and v2 again, so that v2's sampled arm has the argmax of the same weights beside it
RUNS["v1b"] = replace(RUNS["v1"], name="v1b", retrains="v1")
RUNS["v2b"] = replace(RUNS["v2"], name="v2b", init=str(OUT / "train-v1b" / "final"), retrains="v2")


ALE_CONFIG = replace(CONFIG, episodes=8, demo_max_steps=MAX_STEPS, steps=2500, save_every=100)
"""The Atari gate: demonstrations at the evaluation's cap (so they double as the expert's score), collected
round-robin over the games up to ``episodes`` each (the planner's speed sets how many fit), and one run from a
fresh nitrogen-s with each task sampled alike (section 9's v2 finding)."""


FRAME_CONFIG = replace(ALE_CONFIG, episodes=16)
"""The Atari gate on the frame expert's demonstrations (section 12): the same settings as section 11's, with as many
episodes per task as the frame expert (200 steps/s, MsPacman's maze search 14) records in about 15 minutes."""
FALLBACK_EXPERT = "random"
"""Who demonstrates a game the chosen expert refuses (the Atari frame expert has no Montezuma rule)."""
RELABEL_SEEDS = tuple(range(100, 108))
"""DAgger's training seeds (section 13): the policy plays them and the frame expert labels every frame it sees;
disjoint from the demonstrations' seeds (0-15) and the evaluation's (1000-1019)."""
DAGGER_STEPS = 1500
"""The DAgger run's optimizer steps from v1's weights (about 12 minutes at v1's 70 samples/s on 1 thread)."""
PROCGEN_BUDGET_STEPS = 16_000
"""Procgen's ``budget1``: 16,000 steps of 32 = 64,000 samples for each of the 8 tasks, what one task alone needed
to read its frames (single_task.py: Chaser 0.95 training accuracy and above random, where v1's 10,000 gave 0.05)."""
DAGGER_BEGIN, DAGGER_END = "<!-- bc-gate-ale-dagger:begin -->", "<!-- bc-gate-ale-dagger:end -->"

PROCGEN_FRAME_TASKS: tuple[tuple[str, str], ...] = (
    ("Chaser", "easy"),
    ("Miner", "easy"),
    ("Heist", "hard"),
    ("Heist", "easy"),
    ("FruitBot", "hard"),
    ("FruitBot", "easy"),
    ("Leaper", "hard"),
    ("Leaper", "easy"),
)
"""The Procgen tasks of section 14's gate: those the frame expert played above random on seeds 1000-1019 (success
rate, 1000-step episodes; docs/experts.md) when the run was made. Fixed here, not read from ``frame_procgen.PARSERS``, so that rules added to the
expert later do not change a run under way or the report of one that ended."""
PROCGEN_PASSED_TASKS: tuple[tuple[str, str], ...] = (
    ("Chaser", "hard"),
    ("Chaser", "easy"),
    ("CoinRun", "easy"),
    ("Dodgeball", "hard"),
    ("Dodgeball", "easy"),
    ("Heist", "hard"),
    ("Heist", "easy"),
    ("Jumper", "hard"),
    ("Jumper", "easy"),
    ("Leaper", "hard"),
    ("Leaper", "easy"),
    ("Miner", "hard"),
    ("Miner", "easy"),
    ("Ninja", "hard"),
    ("Ninja", "easy"),
    ("Plunder", "hard"),
    ("Plunder", "easy"),
    ("StarPilot", "hard"),
    ("StarPilot", "easy"),
)
"""The 19 Procgen pretraining tasks the frame expert beats random on over 100 evaluation episodes (section 15's
ceiling, ``wide_eval.py ceiling --engine procgen``): what ``gpu1`` (``procgen_gpu.py``, section 17) trains on."""
PROCGEN_CONFIG = replace(FRAME_CONFIG, episodes=64)
"""The Procgen gate: section 12's settings (64 px policy frames, 400-step demonstrations, 2500 steps, each task
sampled alike) with 64 levels per task (seeds 0-63): the expert ends many levels in 30-200 steps (Miner, Heist,
Leaper), so 16 would give those tasks a few hundred frames, and the expert records 64 in minutes."""
PROCGEN_EXPERT_SIZE = 128
"""The frame size the Procgen frame expert plays and labels at (``frame_procgen.PARSE_SIZE``: it refuses less)."""


def use_engine(engine: str, expert: str | None = None) -> None:
    """Point the module at one engine's gate: its tasks, expert, folders, report block, settings and runs.

    ``expert`` (``None``: the engine's default) names another demonstrator; its gate gets its own folders and
    report block (``frame`` on ``ale``: ``runs/bc_gate/ale-frame``, section 12).
    """
    global OUT, RESULTS, BEGIN, END, ENGINE, EXPERT, EXPERT_ARM, WORDS, CONFIG, RUNS, DAGGER_BEGIN, DAGGER_END
    if engine not in ("vizdoom", "ale", "procgen"):
        raise SystemExit(f"Error: unknown --engine {engine!r}; choose from vizdoom, ale, procgen")
    gates = (("vizdoom", "scripted"), ("ale", "planner"), ("ale", "frame"), ("procgen", "frame"))
    if expert is not None and (engine, expert) not in gates:
        raise SystemExit(
            f"Error: --expert {expert!r} has no gate on {engine}; choose: vizdoom scripted, ale planner/frame, "
            "procgen frame"
        )
    if engine == "vizdoom":
        return
    if engine == "procgen":  # section 14: the frame expert is Procgen's only demonstrator here
        OUT, RESULTS = OUT / "procgen-frame", RESULTS / "procgen-frame"
        BEGIN, END = "<!-- bc-gate-procgen-frame:begin -->", "<!-- bc-gate-procgen-frame:end -->"
        DAGGER_BEGIN, DAGGER_END = "<!-- bc-gate-procgen-dagger:begin -->", "<!-- bc-gate-procgen-dagger:end -->"
        ENGINE, EXPERT, EXPERT_ARM, CONFIG = "procgen", "frame", "expert", PROCGEN_CONFIG
        WORDS = {"games": "Procgen", "expert": "the frame expert", "short": "frame expert"}
    else:
        OUT, RESULTS = OUT / "ale", RESULTS / "ale"
        BEGIN, END = "<!-- bc-gate-ale:begin -->", "<!-- bc-gate-ale:end -->"
        ENGINE, EXPERT, EXPERT_ARM, CONFIG = "ale", "planner", "expert-demos", ALE_CONFIG
        WORDS = {"games": "Atari", "expert": "the save-state planner", "short": "planner"}
    if expert == "frame" and engine == "ale":  # fast enough to play the evaluation seeds: the expert column is paired
        OUT, RESULTS = OUT.with_name("ale-frame"), RESULTS.with_name("ale-frame")
        BEGIN, END = "<!-- bc-gate-ale-frame:begin -->", "<!-- bc-gate-ale-frame:end -->"
        EXPERT, EXPERT_ARM, CONFIG = "frame", "expert", FRAME_CONFIG
        WORDS = {"games": "Atari", "expert": "the frame expert", "short": "frame expert"}
    RUNS = {"v1": RunConfig("v1", steps=CONFIG.steps, balance="equal", save_every=CONFIG.save_every)}
    if EXPERT == "frame":
        # section 13: one DAgger iteration. v1's policy plays the training seeds, the frame expert labels every
        # frame it sees, and v1's weights train further on the demonstrations plus those frames (each task alike)
        RUNS["dagger1"] = RunConfig(
            "dagger1",
            steps=DAGGER_STEPS,
            balance="equal",
            init=str(OUT / "train" / "final"),
            save_every=100,
            dagger=("v1",),
        )
        # its control: the same steps from v1's weights on the demonstrations alone, so that what the relabelled
        # frames change is told apart from what more training changes
        RUNS["control1"] = replace(RUNS["dagger1"], name="control1", dagger=())
        if ENGINE == "ale":
            # session 17: v1 again (its weights were gone), for a sampled arm beside the same weights' argmax
            RUNS["v1b"] = replace(RUNS["v1"], name="v1b", retrains="v1")
            # section 12's v1 again with one categorical per stick: MsPacman's argmax was NOOP on 414 of its 600
            # training frames (labelled 16) under the per-axis head
            RUNS["joint1"] = replace(RUNS["v1"], name="joint1", policy=(("joint_sticks", True),))
        if ENGINE == "procgen":  # section 14 runs dagger1 (and its control, time permitting), no replicates
            # section 14's follow-up: the one-task runs' 64,000 samples (single_task.py) for each of the 8 tasks,
            # from a fresh nitrogen-s, each task alike; checkpoints every 500 steps (about 3 minutes)
            RUNS["budget1"] = RunConfig("budget1", steps=PROCGEN_BUDGET_STEPS, balance="equal", save_every=500)
            # its follow-up: the same run with one categorical per stick (joint_sticks), since budget1's shared
            # network played "nothing" on Chaser frames where its own probability of "nothing" was 0.28
            RUNS["joint1"] = replace(RUNS["budget1"], name="joint1", policy=(("joint_sticks", True),))
            # session 18: joint1 on 512 levels per task (seeds 0-511, ``collect --levels 512``) at the samples per
            # task that fitted Heist's 512 levels and beat random on unseen ones (heist1l512n6000: 6,000 steps of
            # 32); at 2,000 the one-task runs underfit 512 levels (levels_table.py). About 4 h of one thread: it
            # resumes from its checkpoints (every 500 steps), so it runs in pieces
            RUNS["levels1"] = replace(RUNS["joint1"], name="levels1", levels=512, steps=3 * PROCGEN_BUDGET_STEPS)
            # session 22 (section 17): levels1's network on all 19 tasks the demonstrator passes, collected and
            # trained in one command on the device machine (procgen_gpu.py); its weights are committed
            RUNS["gpu1"] = replace(RUNS["levels1"], name="gpu1", levels=0, home=str(RESULTS / "gpu1"))
            # gpu1's weights further on levels 148.. in the rest of the same lease (procgen_gpu.py --init)
            RUNS["gpu2"] = replace(
                RUNS["gpu1"], name="gpu2", init=str(RESULTS / "gpu1" / "final"), home=str(RESULTS / "gpu2")
            )
            return
        # the second iteration: dagger1's policy relabelled too, every set so far aggregated, from dagger1's weights
        # training seed 1 of dagger1 and of its control: is the relabelled frames' effect larger than the seed's?
        RUNS["dagger1s1"] = replace(RUNS["dagger1"], name="dagger1s1", seed=1)
        RUNS["control1s1"] = replace(RUNS["control1"], name="control1s1", seed=1)
        RUNS["dagger2"] = replace(
            RUNS["dagger1"], name="dagger2", init=str(OUT / "train-dagger1" / "final"), dagger=("v1", "dagger1")
        )


def expert_for(game: str) -> str:
    """The demonstrator of ``game``: :data:`EXPERT`, or :data:`FALLBACK_EXPERT` for a game it refuses."""
    from nitrogen_datasets.experts.errors import ExpertUnsupported
    from nitrogen_datasets.experts.registry import make_expert

    try:
        make_expert(EXPERT, game)
    except ExpertUnsupported:
        return FALLBACK_EXPERT
    return EXPERT


def engine_tasks(split: str = CONFIG.split) -> list[tuple[str, str]]:
    """(game, task) of every task of the engine among the split's pretraining games, in registry order."""
    from nitrogen_envs.registry import get_game
    from nitrogen_envs.splits import load_split

    games = [get_game(name) for name in load_split(split).pretrain]
    return [(game.name, task.name) for game in games if game.engine == ENGINE for task in game.tasks]


def gate_tasks(split: str = CONFIG.split) -> list[tuple[str, str]]:
    """The tasks the gate trains and plays: every engine task, but on Procgen only :data:`PROCGEN_FRAME_TASKS`.

    The other Procgen tasks (:func:`engine_tasks`) had no frame rule when the list was fixed (some have one since).

    Raises:
        RuntimeError: a fixed Procgen task is not a pretraining task of ``split``.
    """
    tasks = engine_tasks(split)
    if ENGINE != "procgen":
        return tasks
    missing = sorted(set(PROCGEN_FRAME_TASKS) - set(tasks))
    if missing:
        raise RuntimeError(f"{missing} are not Procgen pretraining tasks of {split}")
    return [pair for pair in tasks if pair in PROCGEN_FRAME_TASKS]


def task_env(game: str, task: str, size: int | None = None) -> Any:
    """The env an arm plays ``game``/``task`` in.

    Doom and Atari: bc_classifier's (64 px, the game's default task: their pretraining games have one task
    each), whatever ``size``. Procgen: the task itself (two per game) at ``size`` px, by default the policy's
    :attr:`GateConfig.obs_size`; the frame expert needs :data:`PROCGEN_EXPERT_SIZE`. The frame size changes
    what is drawn, not the level a seed gives, so every arm plays the same levels.
    """
    if ENGINE != "procgen":
        return make_env(FAMILY, game)
    import gymnasium as gym

    return gym.make(f"NitroGen/{game}-v0", obs_size=size or CONFIG.obs_size, task=task)


def policy_view(frame: np.ndarray) -> np.ndarray:
    """The frame as the policy is trained on it (other engines' frames as they are).

    Procgen: the expert-size frame shrunk to the policy's size by the env's own area-average resize, which is the
    policy's 64 px env frame up to rounding (both come from the 512 px render).
    """
    if ENGINE != "procgen":
        return frame
    from nitrogen_envs.image import resize_frame

    return resize_frame(frame, (CONFIG.obs_size, CONFIG.obs_size))


def gate_size(split: str = CONFIG.split) -> int:
    """How many tasks the pretraining games have in all (every engine): the gate's denominator."""
    from nitrogen_envs.registry import get_game
    from nitrogen_envs.splits import load_split

    return sum(len(get_game(name).tasks) for name in load_split(split).pretrain)


def gate_levels(levels: int) -> bool:
    """Whether ``levels`` names the gate's own demonstrations (0, or ``CONFIG.episodes`` itself)."""
    return levels in (0, CONFIG.episodes)


def demo_folder(game: str, task: str, levels: int = 0) -> Path:
    """One task's demonstrations: the gate's (``levels`` 0), or ``collect --levels``'s on seeds 0..levels-1."""
    if gate_levels(levels):
        return OUT / "demos" / f"{game}-{task}"
    return OUT / f"demos-l{levels}" / f"{game}-{task}"


def demo_summary_path(levels: int = 0) -> Path:
    """Where :func:`demo_summary` of the gate's (``levels`` 0) or another level count's demonstrations goes."""
    return RESULTS / ("demos.json" if gate_levels(levels) else f"demos-l{levels}.json")


def collect_demos(workers: int, levels: int = 0) -> None:
    """The expert on every task, seeds 0..episodes-1 (``nitrogen collect``'s resumable machinery).

    Doom: each task's episodes at once. Atari: round-robin, one more episode of every game per pass, so a
    collection stopped early leaves every game alike. ``levels`` (Procgen only) collects seeds 0..levels-1 into
    their own folder for runs that train on more levels than the gate's (:attr:`RunConfig.levels`).
    """
    from nitrogen_datasets.collect import CollectConfig, collect

    if ENGINE == "procgen":
        collect_procgen(levels)
        atomic_json(demo_summary_path(levels), demo_summary(levels))
        return
    if levels:
        raise SystemExit("Error: --levels is for --engine procgen (a level per seed); drop it")
    passes = range(1, CONFIG.episodes + 1) if ENGINE == "ale" else [CONFIG.episodes]
    for episodes in passes:
        for game, task in gate_tasks():
            config = CollectConfig(
                game=game,
                task=task,
                episodes=episodes,
                expert=expert_for(game),
                seed=0,
                obs_size=CONFIG.obs_size,
                max_steps=CONFIG.demo_max_steps,
                workers=workers,
            )
            stats = collect(config, demo_folder(game, task), progress=False)
            print(f"collect {game}/{task}: {stats.collected} new episodes, {stats.frames} frames", flush=True)
    atomic_json(RESULTS / "demos.json", demo_summary())
    if EXPERT_ARM != "expert":
        for game, task in gate_tasks():
            atomic_json(play_path(EXPERT_ARM, game, task), demo_episodes(game, task))


def collect_procgen(levels: int = 0) -> None:
    """The Procgen frame expert's demonstrations: round-robin over the tasks, one seed per pass (as Atari's).

    ``nitrogen collect`` records the frames the expert reads; here the expert reads the env's
    :data:`PROCGEN_EXPERT_SIZE` px frame and the demonstrations hold it shrunk to the policy's size
    (:func:`policy_view`), as Atari's frame expert reads the emulator's screen while 64 px frames are recorded.
    Steps are recorded as ``nitrogen_datasets.record`` does (the cap marks the last step truncated); each
    episode is committed atomically and seeds already in a folder are skipped, so a killed run resumes.
    """
    from nitrogen_datasets.writer import DatasetWriter, WriterConfig
    from nitrogen_envs.registry import get_game

    check_levels(levels)
    for seed in range(levels or CONFIG.episodes):
        for game, task in gate_tasks():
            folder = demo_folder(game, task, levels)
            writer = DatasetWriter(folder, WriterConfig(fps=get_game(game).native_fps))
            try:
                if seed in {e.seed for e in (writer.info.episodes if writer.info else ())}:
                    continue
                started = time.perf_counter()
                buffer = writer.start_episode(game=game, task=task, source=f"expert:{EXPERT}", seed=seed)
                try:
                    total = expert_episode(game, task, seed, buffer.add)
                except BaseException:
                    writer.abort_episode(buffer)
                    raise
                writer.finish_episode(buffer)
            finally:
                writer.close()
            print(
                f"collect {game}/{task} seed {seed}: {len(buffer)} frames, return {total:g}, "
                f"{time.perf_counter() - started:.1f} s",
                flush=True,
            )


def expert_episode(game: str, task: str, seed: int, record: Any) -> float:
    """The Procgen frame expert plays one level; returns its return.

    Each step goes to ``record(frame, label, reward, terminated, truncated)`` as the demonstrations store it: the
    policy's view of the frame the expert read (:func:`policy_view`), the expert's flat gamepad label, and the
    cap at :attr:`GateConfig.demo_max_steps` marking the last step truncated (as ``nitrogen_datasets.record``).
    """
    from nitrogen_datasets.experts.registry import make_expert
    from nitrogen_envs import gamepad

    env = task_env(game, task, PROCGEN_EXPERT_SIZE)
    expert = make_expert(EXPERT, game)
    try:
        obs, info = env.reset(seed=seed)
        expert.reset(env, seed)
        total, steps = 0.0, 0
        while True:
            label = gamepad.as_flat_action(expert.act(obs, info))
            after, reward, terminated, truncated, info = env.step(gamepad.from_flat(label))
            steps += 1
            limit = steps >= CONFIG.demo_max_steps
            truncated = bool(truncated) or (limit and not terminated)
            record(policy_view(obs), label, float(reward), bool(terminated), truncated)
            total += float(reward)
            obs = after
            if terminated or truncated:
                return total
    finally:
        env.close()


def demo_summary(levels: int = 0) -> dict[str, Any]:
    """Per task: episodes, frames, seeds and the bot's mean return in its own demonstrations."""
    from nitrogen_datasets.format import load_info

    rows = {}
    for game, task in gate_tasks():
        info = load_info(demo_folder(game, task, levels))
        seeds = sorted(int(e.seed) for e in info.episodes if e.seed is not None)
        overlap = sorted(set(seeds) & set(range(FIRST_SEED, FIRST_SEED + EVAL_EPISODES)))
        if overlap:
            raise RuntimeError(f"{game}/{task}: demonstration seeds {overlap} are evaluation seeds")
        rows[f"{game}/{task}"] = {
            **({} if EXPERT != "frame" else {"expert": expert_for(game)}),  # earlier gates keep their keys
            "episodes": len(info.episodes),
            "frames": int(sum(e.length for e in info.episodes)),
            "seeds": [seeds[0], seeds[-1]] if seeds else [],
        }
    return {"config": asdict(replace(CONFIG, episodes=levels or CONFIG.episodes)), "tasks": rows}


def demo_episodes(game: str, task: str) -> dict[str, Any]:
    """The expert's demonstrations as play results: per episode its seed, return, normalized score and length."""
    import pyarrow.parquet as pq

    from nitrogen_datasets.format import load_info

    folder = demo_folder(game, task)
    env = make_env(FAMILY, game)
    try:
        base = env.unwrapped
        threshold = base.task_spec.threshold
        rows = []
        for episode in load_info(folder).episodes:
            (path,) = folder.glob(f"data/*/episode_{episode.episode_index:06d}.parquet")
            rewards = pq.read_table(path, columns=["reward"])["reward"].to_numpy()
            total = float(np.sum(rewards))
            # the env's success: the return reached the task's threshold at some step (latched)
            success = threshold is not None and float(np.max(np.cumsum(rewards))) >= threshold
            rows.append(
                {
                    "seed": episode.seed,
                    "return": total,
                    "success": bool(success),
                    "normalized": base.normalize_score(total),
                    "steps": episode.length,
                }
            )
    finally:
        env.close()
    return {"game": game, "task": task, "arm": EXPERT_ARM, "max_steps": CONFIG.demo_max_steps, "episodes": rows}


def task_weights(balance: str, folders: list[Path]) -> tuple[float, ...]:
    """The trainer's per-folder sampling weights for ``balance`` (empty: every frame alike)."""
    from nitrogen_datasets.format import load_info

    if balance == "none":
        return ()
    frames = [sum(e.length for e in load_info(folder).episodes) for folder in folders]
    return tuple(1.0 if balance == "equal" else float(np.sqrt(n)) for n in frames)


def dagger_data(run: RunConfig) -> tuple[list[Path], tuple[float, ...]]:
    """The demonstrations plus ``run``'s relabelled sets, and per-folder sampling weights.

    A task's weight is the run's ``balance`` over its frames in all its folders (``equal``: each task alike);
    inside a task every frame weighs alike, demonstrated or relabelled (DAgger's aggregate). A game the expert
    has no rule for (Montezuma) has no relabelled folder and trains on its demonstrations alone.

    Raises:
        SystemExit: a relabelled set is missing or unfinished for a game the expert plays.
    """
    from nitrogen_datasets.format import load_info

    folders: list[Path] = []
    frames: list[int] = []
    task_of: list[int] = []
    for index, (game, task) in enumerate(gate_tasks()):
        mine = [demo_folder(game, task)]
        for name in run.dagger if expert_for(game) == EXPERT else ():
            folder = relabel_folder(name, game, task)
            done = len(load_info(folder).episodes) if (folder / "meta" / "info.json").is_file() else 0
            if done < len(RELABEL_SEEDS):
                raise SystemExit(
                    f"Error: {folder} holds {done} of {len(RELABEL_SEEDS)} episodes; run: python "
                    f"experiments/bc_gate.py relabel --engine {ENGINE} --expert frame --run {name}"
                )
            mine.append(folder)
        for folder in mine:
            folders.append(folder)
            frames.append(sum(e.length for e in load_info(folder).episodes))
            task_of.append(index)
    if run.balance == "none":
        return folders, ()
    totals = np.bincount(task_of, weights=frames)
    weights = [
        (1.0 if run.balance == "equal" else float(np.sqrt(totals[t]))) * n / totals[t]
        for n, t in zip(frames, task_of, strict=True)
    ]
    return folders, tuple(float(w) for w in weights)


def train_policy(run: RunConfig, threads: int, device: str = "cpu") -> None:
    """ONE nitrogen-s on every task's demonstrations through the product trainer (resumes its checkpoints)."""
    import torch

    from nitrogen_envs.splits import check_pretraining_data
    from nitrogen_policies.training import DataConfig, TrainConfig, train_on_folders

    out = run.folder
    if (out / "final" / "model.safetensors").is_file():
        return
    if run.init and not (Path(run.init) / "model.safetensors").is_file():
        raise SystemExit(f"Error: --init {run.init} holds no model.safetensors; train the run it names first")
    folders: list[Path] = [demo_folder(game, task, run.levels) for game, task in gate_tasks()]
    missing = [folder for folder in folders if not (folder / "meta" / "info.json").is_file()]
    if missing:
        raise SystemExit(
            f"Error: {missing[0]} holds no demonstrations; run: python experiments/bc_gate.py collect --engine "
            f"{ENGINE}" + (f" --levels {run.levels}" if run.levels else "")
        )
    if run.dagger:
        folders, weights = dagger_data(run)
    else:
        weights = task_weights(run.balance, folders)
    check_pretraining_data(list(folders), CONFIG.split)
    torch.set_num_threads(threads)
    config = TrainConfig(
        out=str(out),
        init_from=run.init,
        policy_overrides={} if run.init else dict(CONFIG.policy) | dict(run.policy),  # a checkpoint brings its own
        steps=run.steps,
        seed=run.seed,
        batch_size=CONFIG.batch_size,
        lr=CONFIG.lr,
        num_workers=1,
        save_every=run.save_every,
        device=device,  # cpu for every run reported so far; cuda or auto on a GPU machine
        frame_cache="auto",  # session 20: same samples, without a seek, a decode and a parquet read per sample
    )
    started = time.perf_counter()
    result = train_on_folders(config, DataConfig(folders=tuple(folders), weights=weights))
    summary = {
        "train_config": asdict(config),
        "steps": result.steps,
        "final_loss": result.final_loss,
        "samples_per_second": result.samples_per_second,
        "data_wait_fraction": result.data_wait_fraction,
        "seconds_this_run": round(time.perf_counter() - started, 1),
        "threads": threads,
    }
    if run.name != "v1":  # v1's summary keeps the keys it was committed with
        described = {
            key: value
            for key, value in asdict(run).items()
            if key not in ("dagger", "seed", "policy", "retrains", "levels") or value
        }
        names = [str(f.relative_to(OUT)) if run.dagger else f.name for f in folders]
        summary |= {"run": described, "weights": dict(zip(names, weights, strict=True))}
    atomic_json(run.result("train"), summary)
    print(f"train: {summary}", flush=True)


def play_path(arm: str, game: str, task: str) -> Path:
    """One arm's per-episode results on one task."""
    return RESULTS / "play" / arm / f"{game}-{task}.json"


def make_act_for(arm: str, game: str, task: str) -> Any:
    """``act_for(env, seed)`` for :func:`bc_classifier.play_seeds`: uniform native actions or the expert.

    ``marginal``: native actions drawn at the frequencies the demonstrations hold them, blind to the frame.
    """
    from nitrogen_envs.base import unwrap

    if arm == "random":

        def random_act(env: Any, seed: int) -> Any:
            base = unwrap(env)
            space = base.native_action_space()
            space.seed(seed)
            return lambda obs, info: base.native_to_gamepad(space.sample())

        return random_act
    if arm == "marginal":
        frequencies = action_frequencies(game, task)

        def marginal_act(env: Any, seed: int) -> Any:
            base = unwrap(env)
            rng = np.random.default_rng(seed)
            return lambda obs, info: base.native_to_gamepad(int(rng.choice(len(frequencies), p=frequencies)))

        return marginal_act
    from nitrogen_datasets.experts.registry import make_expert

    def expert_act(env: Any, seed: int) -> Any:
        expert = make_expert(expert_for(game), game)
        # the bot restarts the engine with object info on and replays reset(seed); play_seeds resets again
        expert.reset(env, seed)
        return expert.act

    return expert_act


def action_frequencies(game: str, task: str) -> np.ndarray:
    """How often the task's demonstrations hold each native action (0 = nothing, then the game's table)."""
    from bc_classifier import load_episodes, native_labels

    from nitrogen_datasets.experts.base import native_action_count
    from nitrogen_envs.base import unwrap

    _, actions, _ = load_episodes(demo_folder(game, task))
    env = task_env(game, task)
    try:
        size = native_action_count(unwrap(env))
    finally:
        env.close()
    counts = np.bincount(native_labels(FAMILY, game, actions), minlength=size).astype(float)
    return counts / counts.sum()


def play_policy(policy: Any, game: str, task: str, generator: Any = None) -> list[dict[str, Any]]:
    """The policy on every evaluation seed at once: one forward over the frames of all running episodes.

    The same episodes as :func:`bc_classifier.play_seeds` (same envs, seeds, cap; the likeliest action is
    deterministic), in a fraction of the time: a forward over 20 frames costs about 3 times one frame's on a CPU
    core, and the network, not ViZDoom, is what a step costs. ``seconds`` is the whole batch's time. ``generator``
    draws the actions of a policy whose ``temperature`` is above 0 (seeded: the same episodes on a rerun).
    """
    from nitrogen_envs import gamepad

    seeds = [FIRST_SEED + k for k in range(EVAL_EPISODES)]
    envs = [task_env(game, task) for _ in seeds]
    rows: dict[int, dict[str, Any]] = {}
    started = time.perf_counter()
    try:
        observations, infos = zip(*(env.reset(seed=seed) for env, seed in zip(envs, seeds, strict=True)), strict=True)
        obs, info = list(observations), list(infos)
        steps = [0] * len(seeds)
        running = list(range(len(seeds)))
        while running:
            frames = np.stack([obs[i] for i in running])
            actions = policy.predict_action_chunk(frames, game=game, generator=generator)[:, 0]
            for i, action in zip(list(running), actions, strict=True):
                obs[i], _, terminated, truncated, info[i] = envs[i].step(gamepad.from_flat(action))
                steps[i] += 1
                if terminated or truncated or steps[i] >= MAX_STEPS:
                    rows[i] = episode_record(seeds[i], info[i], steps[i], started)
                    running.remove(i)
    finally:
        for env in envs:
            env.close()
    return [rows[i] for i in range(len(seeds))]


def play(
    arm: str,
    games: list[str] | None = None,
    run: RunConfig = RUNS["v1"],
    temperature: float = 0.0,
    tasks: list[tuple[str, str]] | None = None,
) -> None:
    """``arm`` on every task's (or ``games``') evaluation seeds (``FIRST_SEED`` on), one result file per task.

    The policy arm plays ``run``'s weights: its final ones, or its newest checkpoint while it trains (the file
    records which, and the step). Processes given disjoint ``games`` play side by side. ``temperature`` above 0
    samples the policy's discrete head instead of taking each axis's likeliest bin (arm ``<run arm>-t<T>``,
    actions drawn from a generator seeded 0 per task): the argmax of a factorized head can be an action the
    expert never labels (section 14). ``tasks`` (default :func:`gate_tasks`) plays other tasks of the engine, such as
    every Procgen task for the gate's ceiling.
    """
    import torch

    unknown = sorted(set(games or ()) - {game for game, _ in gate_tasks()})
    if unknown:
        raise SystemExit(
            f"Error: {unknown} are not {WORDS['games']} pretraining games; choose from {sorted(set(dict(gate_tasks())))}"
        )
    torch.set_num_threads(1)
    name = run.arm if arm == "policy" else arm
    if temperature > 0:
        if arm != "policy":
            raise SystemExit("Error: --temperature applies to --arm policy only")
        name = sampled_arm(run, temperature)
    for game, task in tasks or gate_tasks():
        if games and game not in games:
            continue
        path = play_path(name, game, task)
        if path.is_file():
            continue
        started = time.perf_counter()
        record: dict[str, Any] = {"game": game, "task": task, "arm": name, "max_steps": MAX_STEPS}
        if arm == "policy":
            policy, folder, step = load_policy(run)
            generator = None
            if temperature > 0:
                policy.config.temperature = temperature
                generator = torch.Generator().manual_seed(0)
                record |= {"temperature": temperature}
            rows = play_policy(policy, game, task, generator)
            if run.name != "v1" or temperature > 0:  # v1's argmax files keep the keys they were committed with
                record |= {"weights": str(folder), "step": step}
        else:
            rows = play_seeds_task(game, task, make_act_for(arm, game, task), expert=arm == "expert")
        atomic_json(path, record | {"episodes": rows})
        print(f"play {name} {game}/{task}: {time.perf_counter() - started:.0f} s", flush=True)


def sampled_arm(run: RunConfig, temperature: float) -> str:
    """The play arm of ``run``'s policy sampled at ``temperature`` (``policy-t1``)."""
    return f"{run.arm}-t{temperature:g}"


def run_weights(run: RunConfig) -> tuple[Path, int]:
    """``run``'s final weights, or its newest checkpoint before it finished, and the training step they are at."""
    from nitrogen_policies.training.trainer import latest_checkpoint

    if (run.folder / "final" / "model.safetensors").is_file():
        config = json.loads((run.folder / "train_config.json").read_text())
        return run.folder / "final", int(config["steps"])
    checkpoint = latest_checkpoint(run.folder)
    if checkpoint is None:
        raise SystemExit(
            f"Error: run {run.name} has no weights yet; run: python experiments/bc_gate.py train --run {run.name}"
        )
    return checkpoint, int(checkpoint.name.removeprefix("step_"))


def load_policy(run: RunConfig = RUNS["v1"]) -> tuple[Any, Path, int]:
    """The run's weights (see :func:`run_weights`) in inference mode (temperature 0: its config's default)."""
    from nitrogen_policies import NitroGenPolicy

    folder, step = run_weights(run)
    return NitroGenPolicy.from_pretrained(str(folder)).eval(), folder, step


def relabel_set(run: RunConfig, beta: float = 0.0) -> str:
    """The name of the set ``run``'s policy plays (``v1``; ``v1-beta0.5`` with the expert acting half the time)."""
    return run.name if beta == 0 else f"{run.name}-beta{beta:g}"


def relabel_folder(name: str, game: str, task: str) -> Path:
    """One task's frames of relabelled set ``name``, labelled by the expert."""
    return OUT / "dagger" / name / f"{game}-{task}"


def relabel(run: RunConfig, beta: float = 0.0, games: list[str] | None = None) -> None:
    """DAgger's data: ``run``'s policy plays every task on :data:`RELABEL_SEEDS`; the expert labels each frame.

    The policy acts (the likeliest action, as ``play``), or the expert does with probability ``beta`` per step;
    either way the frame is stored with the expert's action as its label, in the demonstrations' format
    (:class:`~nitrogen_datasets.writer.DatasetWriter`, what ``collect`` writes; each episode committed
    atomically) under ``OUT/dagger/<set>/<Game>-<task>``. A game the expert has no rule for is skipped. Seeds
    already written are skipped, so a killed run resumes; a task's summary (the policy's return on the training
    seeds, how often its action is the expert's) goes to ``relabel-<set>.json``.
    """
    import torch

    from nitrogen_datasets.writer import DatasetWriter, WriterConfig
    from nitrogen_envs.registry import get_game

    if EXPERT != "frame":
        raise SystemExit("Error: relabel needs an expert that labels any frame: --engine ale --expert frame")
    if not 0 <= beta <= 1:
        raise SystemExit(f"Error: --beta must be in [0, 1], got {beta}")
    reserved = set(range(FIRST_SEED, FIRST_SEED + EVAL_EPISODES)) | set(range(CONFIG.episodes))
    if reserved & set(RELABEL_SEEDS):
        raise RuntimeError(f"relabel seeds {sorted(reserved & set(RELABEL_SEEDS))} are evaluation or demo seeds")
    torch.set_num_threads(1)
    name = relabel_set(run, beta)
    policy, weights, step = load_policy(run)
    path = RESULTS / f"relabel-{name}.json"
    summary = json.loads(path.read_text()) if path.is_file() else {"tasks": {}}
    summary |= {"set": name, "weights": str(weights), "step": step, "beta": beta, "seeds": list(RELABEL_SEEDS)}
    summary["max_steps"] = MAX_STEPS
    for game, task in gate_tasks():
        if games and game not in games:
            continue
        if expert_for(game) != EXPERT:
            print(f"relabel {game}/{task}: skipped, {WORDS['expert']} has no rule for it", flush=True)
            continue
        folder = relabel_folder(name, game, task)
        writer = DatasetWriter(folder, WriterConfig(fps=get_game(game).native_fps))
        try:
            done = {e.seed for e in (writer.info.episodes if writer.info else ())}
            seeds = [seed for seed in RELABEL_SEEDS if seed not in done]
            if not seeds:
                continue
            started = time.perf_counter()
            episodes = labelled_rollouts(policy, game, task, seeds, beta)
            rows = summary["tasks"].setdefault(f"{game}/{task}", [])
            for seed, (steps, row) in zip(seeds, episodes, strict=True):
                buffer = writer.start_episode(game=game, task=task, source=f"dagger:{name}/expert:{EXPERT}", seed=seed)
                try:
                    for frame, label, reward, terminated, truncated in steps:
                        buffer.add(frame, label, reward, terminated, truncated)
                except BaseException:
                    writer.abort_episode(buffer)
                    raise
                writer.finish_episode(buffer)
                rows[:] = [r for r in rows if r["seed"] != seed] + [row]
        finally:
            writer.close()
        summary["tasks"][f"{game}/{task}"].sort(key=lambda r: r["seed"])
        atomic_json(path, summary)
        mean = np.mean([r["agreement"] for r in summary["tasks"][f"{game}/{task}"]])
        print(
            f"relabel {game}/{task}: {len(seeds)} episodes, agreement {mean:.2f}, {time.perf_counter() - started:.0f} s",
            flush=True,
        )


def labelled_rollouts(
    policy: Any, game: str, task: str, seeds: list[int], beta: float
) -> list[tuple[list[tuple[np.ndarray, np.ndarray, float, bool, bool]], dict[str, Any]]]:
    """The policy on ``seeds`` at once (batched as :func:`play_policy`), the expert labelling every frame.

    Per episode: its steps (frame, the expert's flat action, reward, terminated, truncated as ``collect``
    records them: the cap marks the last step truncated) and its row (:func:`episode_record`'s, plus the share
    of steps where the policy's native action is the expert's and the share the expert acted). On Procgen the
    env runs at the expert's size and the policy reads, and the step stores, :func:`policy_view`'s frame.
    """
    from nitrogen_datasets.experts.registry import make_expert
    from nitrogen_envs import gamepad
    from nitrogen_envs.base import unwrap

    envs = [task_env(game, task, PROCGEN_EXPERT_SIZE) for _ in seeds]
    experts = [make_expert(EXPERT, game) for _ in seeds]
    draws = [np.random.default_rng([int(seed), 15]) for seed in seeds]
    steps: list[list[tuple[np.ndarray, np.ndarray, float, bool, bool]]] = [[] for _ in seeds]
    agree, expert_acted = [0] * len(seeds), [0] * len(seeds)
    rows: dict[int, dict[str, Any]] = {}
    started = time.perf_counter()
    try:
        obs, info = [], []
        for env, expert, seed in zip(envs, experts, seeds, strict=True):
            first, first_info = env.reset(seed=int(seed))
            expert.reset(env, int(seed))
            obs.append(first)
            info.append(first_info)
        running = list(range(len(seeds)))
        while running:
            actions = policy.predict_action_chunk(np.stack([policy_view(obs[i]) for i in running]), game=game)[:, 0]
            for i, action in zip(list(running), actions, strict=True):
                base = unwrap(envs[i])
                label = gamepad.as_flat_action(experts[i].act(obs[i], info[i]))  # reads the screen of obs[i]
                native = base.gamepad_to_native(gamepad.from_flat(label))
                agree[i] += int(base.gamepad_to_native(gamepad.from_flat(action)) == native)
                by_expert = beta > 0 and bool(draws[i].random() < beta)
                take = label if by_expert else np.asarray(action, dtype=np.float32)
                expert_acted[i] += int(by_expert)
                frame = policy_view(obs[i])
                obs[i], reward, terminated, truncated, info[i] = envs[i].step(gamepad.from_flat(take))
                limit = len(steps[i]) + 1 >= MAX_STEPS
                steps[i].append(
                    (frame, label, float(reward), bool(terminated), bool(truncated) or (limit and not terminated))
                )
                if terminated or truncated or limit:
                    n = len(steps[i])
                    rows[i] = episode_record(int(seeds[i]), info[i], n, started) | {
                        "agreement": round(agree[i] / n, 4),
                        "expert_acted": round(expert_acted[i] / n, 4),
                    }
                    running.remove(i)
    finally:
        for env in envs:
            env.close()
    return [(steps[i], rows[i]) for i in range(len(seeds))]


def play_seeds_task(game: str, task: str, act_for: Any, expert: bool = False) -> list[dict[str, Any]]:
    """bc_classifier's per-seed loop on :data:`FAMILY` (64 px frames, the game's default task).

    Procgen: the same loop on the task itself (:func:`task_env`), at the frame expert's size when ``expert``.
    """
    from nitrogen_envs.registry import get_game

    if ENGINE == "procgen":
        return play_seeds(FAMILY, game, act_for, lambda: task_env(game, task, PROCGEN_EXPERT_SIZE if expert else None))

    if get_game(game).tasks[0].name != task:
        raise RuntimeError(f"{game}/{task}: play_seeds plays the default task only")
    return play_seeds(FAMILY, game, act_for)


FIT_FRAMES = 600  # demonstration frames per task the fit stage reads back (the first ones, all of DoomBasic's)


def fit(run: RunConfig = RUNS["v1"]) -> None:
    """How well the run's weights reproduce the bot's labels on its own demonstration frames, per task.

    The likeliest action's native index against the label: accuracy and how often each native action is
    labelled and predicted. Low accuracy on frames it trained on is underfitting, not a failure to generalise.
    """
    import torch
    from bc_classifier import load_episodes, native_labels

    torch.set_num_threads(1)
    policy, folder, step = load_policy(run)
    rows = {}
    for game, task in gate_tasks():
        frames, actions, _ = load_episodes(demo_folder(game, task, run.levels), limit=FIT_FRAMES)
        played = np.concatenate(
            [policy.predict_action_chunk(frames[i : i + 200], game=game)[:, 0] for i in range(0, len(frames), 200)]
        )
        labels, predicted = native_labels(FAMILY, game, actions), native_labels(FAMILY, game, played)
        size = int(max(labels.max(), predicted.max())) + 1
        rows[f"{game}/{task}"] = {
            "frames": len(labels),
            "accuracy": round(float(np.mean(labels == predicted)), 3),
            "labelled": np.bincount(labels, minlength=size).tolist(),
            "predicted": np.bincount(predicted, minlength=size).tolist(),
        }
        print(f"fit {game}/{task}: {rows[f'{game}/{task}']}", flush=True)
    extra = {} if run.name == "v1" else {"weights": str(folder), "step": step}
    atomic_json(run.result("fit"), {"frames_per_task": FIT_FRAMES, **extra, "tasks": rows})


def fit_table(run: RunConfig = RUNS["v1"]) -> list[str]:
    """The fit stage's label reproduction for ``run``, or nothing before it ran."""
    path = run.result("fit")
    if not path.is_file():
        return []
    data = json.loads(path.read_text())
    what = "The final weights" if run.name == "v1" else f"{run.name}'s weights (step {data['step']})"
    lines = [
        "",
        f"{what} on their own training frames (the first {data['frames_per_task']} demonstration frames of "
        f"each task; `... fit{'' if run.name == 'v1' else ' --run ' + run.name}`): the likeliest action's native "
        f"index against the {WORDS['short']}'s label, and how often each native action ("
        + (
            "Procgen's table: 0 LEFT+DOWN, 1 LEFT, 2 LEFT+UP, 3 DOWN, 4 nothing, 5 UP, 6 RIGHT+DOWN, 7 RIGHT, "
            "8 RIGHT+UP; up to the highest index used"
            if ENGINE == "procgen"
            else "0 = nothing, then the game's actions in its table's order"
        )
        + ") is labelled and predicted.",
        "",
        "| task | frames | accuracy | labelled | predicted |",
        "|---|---|---|---|---|",
    ]
    for name, row in data["tasks"].items():
        lines.append(
            f"| {name} | {row['frames']} | {row['accuracy']:.2f} | {' / '.join(map(str, row['labelled']))} | "
            f"{' / '.join(map(str, row['predicted']))} |"
        )
    return lines


@dataclass(frozen=True)
class TaskResult:
    """One task's three arms on the same seeds."""

    game: str
    task: str
    expert: float
    random: float
    policy: float
    diff: float
    low: float
    high: float
    share: float  # (policy - random) / (expert - random): the expert's normalized score the policy reaches
    successes: dict[str, int]


def scored(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Episodes with the score the tables compare: the return on Atari, else bc_classifier's.

    Atari's normalized score is an affine map of the return whose references are whole episodes: tiny under the
    400-step cap, and the paired comparison and the share are the same on either.
    """
    if ENGINE == "ale":
        return [{**row, "normalized": row["return"]} for row in rows]
    return with_score(rows)


def played_episodes(arms: list[str], game: str, task: str) -> list[list[dict[str, Any]]] | None:
    """Each arm's scored episodes on one task, in ``arms`` order, or ``None`` until every one of them played it."""
    paths = [play_path(arm, game, task) for arm in arms]
    if not all(path.is_file() for path in paths):
        return None
    return [scored(json.loads(path.read_text())["episodes"]) for path in paths]


def task_result(game: str, task: str, arm: str = "policy") -> TaskResult | None:
    """The paired comparison of the policy ``arm`` on one task, or ``None`` until it, random and the bot played it."""
    arms = {"random": "random", "expert": EXPERT_ARM, "policy": arm}
    episodes = played_episodes(list(arms.values()), game, task)
    if episodes is None:
        return None
    runs = dict(zip(arms, episodes, strict=True))
    score, diff, low, high = paired_difference(runs["policy"], runs["random"])
    means = {name: float(np.mean([e["normalized"] for e in rows])) for name, rows in runs.items()}
    span = means["expert"] - means["random"]
    return TaskResult(
        game=game,
        task=task,
        expert=means["expert"],
        random=means["random"],
        policy=float(score.mean()),
        diff=float(diff.mean()),
        low=low,
        high=high,
        share=(means["policy"] - means["random"]) / span if span else float("nan"),
        successes={name: sum(bool(e["success"]) for e in rows) for name, rows in runs.items()},
    )


def play_table(arm: str, demos: dict[str, Any]) -> tuple[list[str], list[TaskResult]]:
    """One policy arm's table rows beside random and the bot, and the tasks all three have played."""
    lines = [
        f"| task | demo frames | expert ({WORDS['short']}) | random | nitrogen-s | nitrogen-s - random | share of expert |",
        "|---|---|---|---|---|---|---|",
    ]
    results = []
    for game, task in gate_tasks():
        row = demos["tasks"].get(f"{game}/{task}", {})
        result = task_result(game, task, arm)
        if result is None:
            lines.append(f"| {game}/{task} | {row.get('frames', '-')} | - | - | - | - | - |")
            continue
        results.append(result)
        s = result.successes
        lines.append(
            f"| {game}/{task} | {row.get('frames', '-')} | {result.expert:.2f} ({s['expert']}) | "
            f"{result.random:.2f} ({s['random']}) | {result.policy:.2f} ({s['policy']}) | "
            f"{result.diff:+.2f} [{result.low:+.2f}, {result.high:+.2f}] | {result.share:.2f} |"
        )
    return lines, results


def gated_table(arm: str, demos: dict[str, Any]) -> tuple[list[str], list[TaskResult]]:
    """:func:`play_table`'s rows, with :func:`gate_line` under them once any task has all its arms played."""
    table, results = play_table(arm, demos)
    return ([*table, "", gate_line(results)] if results else table), results


def gate_counts(results: list[TaskResult], total: int) -> tuple[list[TaskResult], list[float], int]:
    """The tasks that beat random (CI above 0), the finite shares of the expert, and the wins the gate needs."""
    wins = [r for r in results if r.low > 0]
    shares = [r.share for r in results if np.isfinite(r.share)]
    return wins, shares, int(np.ceil(GATE_SHARE * total))


def gate_line(results: list[TaskResult]) -> str:
    """How many tasks beat random (CI above 0), as a share of the 41-task gate, and the mean share of the expert."""
    if ENGINE == "procgen":
        return procgen_gate_line(results)
    total = gate_size()
    wins, shares, need = gate_counts(results, total)
    return (
        f"Beats random with the CI above 0 on **{len(wins)} of the {len(results)} {WORDS['games']} pretraining tasks** "
        f"({', '.join(f'{r.game}/{r.task}' for r in wins) or 'none'}): {len(wins)} of the gate's {total} tasks "
        f"({len(wins) / total:.0%}; the gate needs {need}, {GATE_SHARE:.0%}). Mean share of the expert's score "
        f"over these tasks: {np.mean(shares):.2f} (target {TARGET_SHARE:.2f})."
    )


def procgen_gate_line(results: list[TaskResult]) -> str:
    """:func:`gate_line` on Procgen, whose tasks the frame expert does not all play.

    The played tasks' wins, then the engine's tasks it has no rule for counted as not passing, and the gate's 41.
    """
    total, engine = gate_size(), len(engine_tasks())
    uncovered = engine - len(gate_tasks())
    wins, shares, need = gate_counts(results, total)
    return (
        f"Beats random with the CI above 0 on **{len(wins)} of the {len(results)} Procgen tasks the frame expert "
        f"plays** ({', '.join(f'{r.game}/{r.task}' for r in wins) or 'none'}); the other {uncovered} Procgen "
        f"pretraining tasks are not in the gate's list (no frame rule when it was fixed) and do not pass: **{len(wins)} of the {engine} Procgen pretraining "
        f"tasks**, {len(wins)} of the gate's {total} tasks ({len(wins) / total:.0%}; the gate needs {need}, "
        f"{GATE_SHARE:.0%}). Mean share of the expert's score over the {len(results)} played tasks: "
        f"{np.mean(shares):.2f} (target {TARGET_SHARE:.2f})."
    )


def train_budget(trained: dict[str, Any] | None) -> str:
    """The first run's training budget as the report quotes it (from its ``train.json``)."""
    from nitrogen_policies.training.trainer import ADAMW_BETAS

    return (
        f"{trained['steps']} steps of {trained['train_config']['batch_size']} (lr {trained['train_config']['lr']:g}, "
        f"cosine with {trained['train_config']['warmup_steps']} warm-up steps, AdamW betas {ADAMW_BETAS}, weight decay "
        f"{trained['train_config']['weight_decay']:g}, clipping at {trained['train_config']['grad_clip']:g}; final "
        f"loss {trained['final_loss']:.3f}; {trained['samples_per_second']:.0f} samples/s on 1 thread of the shared "
        f"2 cores, data wait {trained['data_wait_fraction']:.0%})"
        if trained
        else "not trained yet"
    )


def report() -> str:
    """Section 9's tables: v1's, then every later run's that has trained, each with its fit table."""
    demos = json.loads((RESULTS / "demos.json").read_text()) if (RESULTS / "demos.json").is_file() else {"tasks": {}}
    trained = json.loads((RESULTS / "train.json").read_text()) if (RESULTS / "train.json").is_file() else None
    tasks = gate_tasks()
    frames = sum(row["frames"] for row in demos["tasks"].values())
    budget = train_budget(trained)
    lines = [
        f"ONE nitrogen-s (`action_head=discrete`, {CONFIG.obs_size} px, one action per frame) trained by "
        f"`nitrogen_policies.training.train_on_folders` (what `nitrogen train` runs) on the scripted bot's "
        f"demonstrations of all {len(tasks)} ViZDoom tasks of {CONFIG.split}'s pretraining games: "
        f"{CONFIG.episodes} episodes per task on seeds 0-{CONFIG.episodes - 1} ({CONFIG.demo_max_steps}-step cap), "
        f"{frames} frames in all; {budget}. Play: {EVAL_EPISODES} episodes per task on seeds {FIRST_SEED}-"
        f"{FIRST_SEED + EVAL_EPISODES - 1} ({MAX_STEPS}-step cap), the likeliest action every frame (temperature 0); "
        "random (uniform native actions) and the bot on the same seeds. Cells: mean episode return (successes of 20); "
        "difference from random [paired 95% bootstrap CI]; share = (policy - random) / (expert - random). Made by "
        "`python experiments/bc_gate.py collect && ... train && ... play --arm random && ... play --arm expert && "
        "... play --arm policy && ... report --write`.",
        "",
    ]
    table, results = gated_table("policy", demos)
    lines += table
    lines += fit_table()
    summaries = [f"v1: {gate_summary(results)}"] if results else []
    for run in RUNS.values():
        if run.name == "v1" or (
            not run.result("train").is_file()
            and not any(play_path(run.arm, game, task).is_file() for game, task in tasks)
        ):
            continue
        run_lines, run_results = run_report(run, demos)
        lines += ["", *run_lines]
        if run_results:
            summaries.append(f"{run.name}: {gate_summary(run_results)}")
    if len(summaries) > 1:
        lines += ["", "Side by side: " + "; ".join(summaries) + "."]
    return "\n".join(lines)


def ale_report() -> str:
    """Section 11: the Atari gate's paragraph, table, gate line, the marginal baseline and the fit table."""
    demos = json.loads((RESULTS / "demos.json").read_text()) if (RESULTS / "demos.json").is_file() else {"tasks": {}}
    trained = json.loads((RESULTS / "train.json").read_text()) if (RESULTS / "train.json").is_file() else None
    run = RUNS["v1"]
    frames = sum(row["frames"] for row in demos["tasks"].values())
    episodes = sorted({row["episodes"] for row in demos["tasks"].values()}) or [0]
    lines = [
        f"ONE nitrogen-s (`action_head=discrete`, {CONFIG.obs_size} px, one action per frame, each task sampled "
        f"alike) trained by `nitrogen_policies.training.train_on_folders` on {WORDS['expert']}'s demonstrations of "
        f"all {len(gate_tasks())} Atari tasks of {CONFIG.split}'s pretraining games: "
        f"{'-'.join(map(str, (episodes[0], episodes[-1]))) if len(episodes) > 1 else episodes[0]} episodes per task "
        f"from seed 0 ({CONFIG.demo_max_steps}-step cap, the evaluation's), {frames} frames in all; "
        f"{train_budget(trained)}; the final weights play. Play: {EVAL_EPISODES} episodes per task on seeds "
        f"{FIRST_SEED}-{FIRST_SEED + EVAL_EPISODES - 1} ({MAX_STEPS}-step cap, 4 frames a step, sticky actions "
        "0.25), the likeliest action every frame (temperature 0); random (uniform native actions) on the same seeds. "
        "Cells: mean episode return (successes of 20: the task's threshold is the human reference score); "
        "difference from random [paired 95% bootstrap CI]. The expert column is the planner's own "
        "demonstrations (not the evaluation seeds: the planner plays 10-40 steps/s here), so share = (policy - "
        "random) / (expert - random) compares means of different seeds. Made by `python experiments/bc_gate.py "
        "collect --engine ale && ... train --engine ale && ... play --engine ale --arm random && ... play --engine "
        "ale --arm marginal && ... play --engine ale && ... fit --engine ale && ... report --engine ale --write`.",
        "",
    ]
    lines += gated_table(run.arm, demos)[0]
    lines += marginal_table(run)
    return "\n".join(lines + fit_table(run))


def frame_report() -> str:
    """Section 12: the Atari gate on the frame expert's demonstrations (paired expert column), marginal and fit."""
    demos = json.loads((RESULTS / "demos.json").read_text()) if (RESULTS / "demos.json").is_file() else {"tasks": {}}
    trained = json.loads((RESULTS / "train.json").read_text()) if (RESULTS / "train.json").is_file() else None
    run = RUNS["v1"]
    frames = sum(row["frames"] for row in demos["tasks"].values())
    episodes = sorted({row["episodes"] for row in demos["tasks"].values()}) or [0]
    stand_ins = [name.split("/")[0] for name, row in demos["tasks"].items() if row.get("expert", EXPERT) != EXPERT]
    lines = [
        f"ONE nitrogen-s (`action_head=discrete`, {CONFIG.obs_size} px, one action per frame, each task sampled "
        f"alike) trained by `nitrogen_policies.training.train_on_folders` on {WORDS['expert']}'s demonstrations "
        f"(`datasets/nitrogen_datasets/experts/frame_ale.py`: a rule per game on the current 210x160 screen, no save "
        f"state, no RAM, no randomness) of all {len(gate_tasks())} Atari tasks of {CONFIG.split}'s pretraining games"
        + (f" ({', '.join(stand_ins)}: random play, the expert has no rule for it)" if stand_ins else "")
        + f": {'-'.join(map(str, (episodes[0], episodes[-1]))) if len(episodes) > 1 else episodes[0]} episodes "
        f"per task from seed 0 ({CONFIG.demo_max_steps}-step cap, the evaluation's), {frames} frames in all; "
        f"{train_budget(trained)}; the final weights play. Play: {EVAL_EPISODES} episodes per task on seeds "
        f"{FIRST_SEED}-{FIRST_SEED + EVAL_EPISODES - 1} ({MAX_STEPS}-step cap, 4 frames a step, sticky actions "
        "0.25), the likeliest action every frame (temperature 0); random (uniform native actions) and the frame "
        "expert on the same seeds (the expert's column is paired, unlike section 11's). Cells: mean episode return "
        "(successes of 20: the task's threshold is the human reference score); difference from random [paired 95% "
        "bootstrap CI]; share = (policy - random) / (expert - random). Made by `python experiments/bc_gate.py "
        "collect --engine ale --expert frame && ... train --engine ale --expert frame && ... play --engine ale "
        "--expert frame --arm random && ... --arm expert && ... --arm marginal && ... play --engine ale --expert "
        "frame && ... fit --engine ale --expert frame && ... report --engine ale --expert frame --write`.",
        "",
    ]
    lines += gated_table(run.arm, demos)[0]
    lines += marginal_table(run)
    lines += fit_table(run)
    retrain = RUNS["v1b"]
    if any(play_path(retrain.arm, game, task).is_file() for game, task in gate_tasks()):
        lines += ["", *retrain_report(retrain, run, demos)]
    joint = RUNS["joint1"]
    if joint.result("train").is_file() or any(
        play_path(joint.arm, game, task).is_file() for game, task in gate_tasks()
    ):
        lines += ["", *joint_report(joint, run, demos)]
    return "\n".join(lines)


def procgen_report() -> str:
    """Section 14: the Procgen gate on the frame expert's tasks, the tasks it has no rule for, marginal and fit."""
    demos = json.loads((RESULTS / "demos.json").read_text()) if (RESULTS / "demos.json").is_file() else {"tasks": {}}
    trained = json.loads((RESULTS / "train.json").read_text()) if (RESULTS / "train.json").is_file() else None
    run = RUNS["v1"]
    tasks = gate_tasks()
    others = [pair for pair in engine_tasks() if pair not in tasks]
    frames = sum(row["frames"] for row in demos["tasks"].values())
    episodes = sorted({row["episodes"] for row in demos["tasks"].values()}) or [0]
    lines = [
        f"ONE nitrogen-s (`action_head=discrete`, {CONFIG.obs_size} px, one action per frame, each task sampled "
        f"alike) trained by `nitrogen_policies.training.train_on_folders` on {WORDS['expert']}'s demonstrations "
        f"(`datasets/nitrogen_datasets/experts/frame_procgen.py`: a rule per game on the current frame, read at "
        f"{PROCGEN_EXPERT_SIZE} px; no save state, no engine state, no randomness) of the {len(tasks)} Procgen tasks "
        f"of {CONFIG.split}'s pretraining games it plays above random ({', '.join(f'{g}/{t}' for g, t in tasks)}; "
        "fixed in `PROCGEN_FRAME_TASKS`): "
        f"{'-'.join(map(str, (episodes[0], episodes[-1]))) if len(episodes) > 1 else episodes[0]} episodes per task "
        f"on seeds 0-{CONFIG.episodes - 1} (one level each, {CONFIG.demo_max_steps}-step cap, the evaluation's; the "
        f"expert plays the env at {PROCGEN_EXPERT_SIZE} px and the demonstrations hold each frame shrunk to "
        f"{CONFIG.obs_size} px), {frames} frames in all; {train_budget(trained)}; the final weights play. Play: "
        f"{EVAL_EPISODES} episodes per task on seeds {FIRST_SEED}-{FIRST_SEED + EVAL_EPISODES - 1} ({MAX_STEPS}-step "
        f"cap, {CONFIG.obs_size} px frames), the likeliest action every frame (temperature 0); random (uniform native "
        f"actions) and the frame expert (at {PROCGEN_EXPERT_SIZE} px) on the same seeds. Cells: mean normalized score "
        "(the env's `score_normalized`, an affine map of the return: 0 at the registry's random-play reference, 1 at "
        "the task's expert score; successes of 20: levels completed); difference from random [paired 95% bootstrap CI]; share = (policy - random) / "
        f"(expert - random). The other {len(others)} Procgen pretraining tasks had no frame rule when the list was fixed: not trained, not "
        "played, counted as not passing. Made by `python experiments/bc_gate.py collect --engine procgen && ... train "
        "--engine procgen --threads 1 && ... play --engine procgen --arm random && ... --arm expert && ... --arm "
        "marginal && ... play --engine procgen && ... fit --engine procgen && ... report --engine procgen --write`.",
        "",
    ]
    table, results = play_table(run.arm, demos)
    lines += table + [f"| {game}/{task} | - | not in the list | - | - | - | - |" for game, task in others]
    if results:
        lines += ["", gate_line(results)]
    lines += returns_table(run)
    lines += sampled_table(run, demos)
    lines += marginal_table(run)
    lines += fit_table(run)
    budget = RUNS.get("budget1")
    if budget is not None and (
        budget.result("train").is_file() or any(play_path(budget.arm, game, task).is_file() for game, task in tasks)
    ):
        lines += ["", *budget_report(budget, demos)]
    joint = RUNS.get("joint1")
    if joint is not None and (
        joint.result("train").is_file() or any(play_path(joint.arm, game, task).is_file() for game, task in tasks)
    ):
        lines += ["", *joint_report(joint, RUNS["budget1"], demos)]
    levels = RUNS.get("levels1")
    if levels is not None and any(play_path(levels.arm, game, task).is_file() for game, task in tasks):
        lines += ["", *levels_report(levels, RUNS["joint1"], demos)]
    return "\n".join(lines)


def levels_report(run: RunConfig, before: RunConfig, demos: dict[str, Any]) -> list[str]:
    """``before`` again on ``run.levels`` levels per task at more samples: does the clone carry to unseen levels?

    Why: joint1 reads its 64 levels' frames and beats random on none of the 8 tasks on unseen levels, while a
    one-task nitrogen-s on 512 levels at 6,000 steps beat random on unseen Heist levels where 64 levels at the same
    steps did not (``single_task.py``, ``levels.txt``).
    """
    per_task = run.steps * CONFIG.batch_size // len(gate_tasks())
    lines = [
        f"**{run.name}**: {before.name}'s recipe (a fresh nitrogen-s with one categorical per stick, each task alike) on "
        f"{run.levels} levels of demonstrations per task (seeds 0-{run.levels - 1}, `collect --engine procgen --levels "
        f"{run.levels}`: {demo_frames(run.levels):,} frames) instead of {CONFIG.episodes}, for {run.steps:,} steps of "
        f"{CONFIG.batch_size} ({per_task:,} samples per task, what fitted Heist's 512 levels alone); "
        f"{session_budget(train_summary(run))}. Made by `python experiments/bc_gate.py train --engine procgen --run "
        f"{run.name} --threads 1 && ... play --engine procgen --run {run.name} && ... --temperature 1 && ... fit "
        f"--engine procgen --run {run.name} && ... report --engine procgen --write`.",
        "",
    ]
    return lines + run_tables(run, before, demos, "argmax")


def run_tables(run: RunConfig, before: RunConfig, demos: dict[str, Any], what: str = "") -> list[str]:
    """A later run's tables: its play, sampled, against ``before`` and fit on its own frames.

    Procgen's play table carries the gate line, other engines' is the gated table; ``what`` names the arm compared.
    """
    if ENGINE == "procgen":
        table, results = play_table(run.arm, demos)
        played = table + (["", procgen_gate_line(results)] if results else [])
    else:
        played = gated_table(run.arm, demos)[0]
    return played + sampled_table(run, demos) + versus_table(run, before, what) + fit_table(run)


def demo_frames(levels: int) -> int:
    """Frames in the demonstrations of ``levels`` levels per task (their summary file; 0 before it exists)."""
    path = demo_summary_path(levels)
    if not path.is_file():
        return 0
    return sum(row["frames"] for row in json.loads(path.read_text())["tasks"].values())


def train_summary(run: RunConfig) -> dict[str, Any] | None:
    """The train stage's summary of ``run`` (``train-<run>.json``), or ``None`` before it finished."""
    path = run.result("train")
    return json.loads(path.read_text()) if path.is_file() else None


def session_budget(trained: dict[str, Any] | None) -> str:
    """A later run's training cost as its report quotes it: final loss, throughput, minutes."""
    if trained is None:
        return "training not finished"
    return (
        f"final loss {trained['final_loss']:.3f}, {trained['samples_per_second']:.0f} samples/s on 1 thread of the "
        f"shared 2 cores ({trained['seconds_this_run'] / 60:.0f} minutes in its last session)"
    )


def budget_report(run: RunConfig, demos: dict[str, Any]) -> list[str]:
    """Section 14's follow-up: a fresh nitrogen-s given, for each task, the samples one task alone needed.

    Why: single_task.py's one-task runs read their frames after 64,000 samples (v1 gave each task about
    10,000); whether eight tasks in one network still do, and beat random, is what the gate asks.
    """
    trained = train_summary(run)
    per_task = run.steps * CONFIG.batch_size // len(gate_tasks())
    budget = session_budget(trained)
    lines = [
        f"**{run.name}**: a fresh nitrogen-s trained as v1 on the same demonstrations, each task alike, for "
        f"{run.steps:,} steps of {CONFIG.batch_size} instead of {RUNS['v1'].steps:,}: {per_task:,} samples per task, "
        "what one task alone needed to read its frames (`experiments/results/bc_gate/procgen-frame/single_task.py`: "
        f"Chaser's training accuracy 0.95 and above random, against v1's 0.05); {budget}. The same seeds, random and "
        f"expert episodes as v1. Made by `python experiments/bc_gate.py train --engine procgen --run {run.name} "
        f"--threads 1 && ... play --engine procgen --run {run.name} && ... --temperature 1 && ... fit --engine "
        f"procgen --run {run.name} && ... report --engine procgen --write`.",
        "",
    ]
    return lines + run_tables(run, RUNS["v1"], demos)


JOINT_WHY = {
    "procgen": (
        'budget1 plays "nothing" on 319 of Chaser\'s first 600 training frames, every one labelled a move, where its '
        'own probability of "nothing" is 0.28 on average: with the mass spread over four directions each axis\'s '
        "likeliest bin is its centre (`python experiments/results/bc_gate/procgen-frame/axis_probe.py --run budget1 "
        "--tasks Chaser/easy Heist/hard Miner/easy`, output in `axis_probe_budget1.txt`: also 98 of Heist hard's and "
        "29 of Miner's frames)"
    ),
    "ale": (
        "v1's likeliest action is NOOP on 414 of MsPacman's first 600 training frames, 16 of which are labelled NOOP "
        "(the fit table above): in a maze the expert turns one of four ways, and each axis's likeliest bin is then "
        "its centre"
    ),
}
"""Why each engine's ``joint1`` was run: what the per-axis head's argmax did on the run it repeats."""


def joint_report(run: RunConfig, before: RunConfig, demos: dict[str, Any]) -> list[str]:
    """``before`` again with one categorical per stick: does the likeliest action stop being "nothing"?

    Why: a per-axis head's likeliest action is "nothing" on frames labelled a move where its own probability of
    "nothing" is well below one half (each axis's likeliest bin is its centre when the mass is spread over four
    directions). A joint head's likeliest cell is a direction; whether the network behind it reads enough of the
    frame to pick the right one is what this measures, on the same seeds as ``before``.
    """
    budget = session_budget(train_summary(run))
    flags = "--engine procgen" if ENGINE == "procgen" else f"--engine {ENGINE} --expert {EXPERT}"
    lines = [
        f"**{run.name}**: {before.name} again (a fresh nitrogen-s, the same demonstrations, steps, sampling and "
        "training seed) with one categorical per stick (`joint_sticks=true`: each stick's (x, y) one of 25 cells) "
        f"instead of one per axis. Why: {JOINT_WHY[ENGINE]}; {budget}. Made by `python experiments/bc_gate.py train "
        f"{flags} --run {run.name} --threads 1 && ... play {flags} --run {run.name} && ... --temperature 1 && ... "
        f"fit {flags} --run {run.name} && ... report {flags} --write`.",
        "",
    ]
    return lines + run_tables(run, before, demos, "argmax")


SAMPLED_TEMPERATURE = 1.0
"""The temperature section 14 samples v1 at: the head's own distribution, neither sharpened nor flattened."""


def sampled_table(run: RunConfig, demos: dict[str, Any]) -> list[str]:
    """``run``'s policy sampled at :data:`SAMPLED_TEMPERATURE` beside random and the expert, once it has played.

    Why: a factorized head's likeliest action can be "nothing" on frames where the expert always moves; sampling
    plays the moves the head gives probability to.
    """
    arm = sampled_arm(run, SAMPLED_TEMPERATURE)
    table, results = play_table(arm, demos)
    if not results:
        return []
    wins = ", ".join(f"{r.game}/{r.task}" for r in results if r.low > 0) or "none"
    drawn = "stick's cell" if dict(run.policy).get("joint_sticks") else "stick axis's bin"
    return [
        "",
        f"The same weights sampled at temperature {SAMPLED_TEMPERATURE:g} instead of the argmax (each {drawn} "
        "drawn from its softmax, "
        "each button from its Bernoulli; a generator seeded 0 per task; `... play "
        f"--engine {ENGINE} --temperature {SAMPLED_TEMPERATURE:g}`, arm `{arm}`), on the same seeds:",
        "",
        *table,
        "",
        f"Sampled against random (paired 95% CIs above 0): {gate_summary(results)} ({wins}).",
        *marginal_table(run, arm),
    ]


def returns_table(run: RunConfig) -> list[str]:
    """Per task and arm: mean raw return and episode length, and the expert's paired difference from random.

    Why: the normalized score hides how an arm scores (FruitBot's negative returns) and how long it survives
    (a policy that stands still plays every step of the cap on Heist and Miner); and whether the demonstrator
    itself beats random under this cap decides what cloning it can reach.
    """
    arms = ["random", EXPERT_ARM, "marginal", run.arm]
    rows = []
    for game, task in gate_tasks():
        episodes = played_episodes(arms, game, task)
        if episodes is None:
            continue
        cells = [
            f"{np.mean([e['return'] for e in rows_]):.2f} ({np.mean([e['steps'] for e in rows_]):.0f})"
            for rows_ in episodes
        ]
        _, diff, low, high = paired_difference(episodes[1], episodes[0])
        rows.append(f"| {game}/{task} | {' | '.join(cells)} | {diff.mean():+.2f} [{low:+.2f}, {high:+.2f}] |")
    if not rows:
        return []
    return [
        "",
        f"Raw returns on the same seeds: per arm, the mean episode return (mean episode length in steps, cap "
        f"{MAX_STEPS}), and the {WORDS['short']}'s normalized score minus random's [paired 95% bootstrap CI]: does "
        "the demonstrator itself beat random under this cap?",
        "",
        f"| task | random | {WORDS['short']} | marginal | nitrogen-s | {WORDS['short']} - random |",
        "|---|---|---|---|---|---|",
        *rows,
    ]


def dagger_section() -> str:
    """Section 13: every DAgger run that has trained or played, in order (``report --run dagger1``)."""
    blocks: list[str] = []
    shown: set[str] = set()
    for run in RUNS.values():
        if (
            run.dagger
            and run.seed == 0
            and (run.result("train").is_file() or any(play_path(run.arm, g, t).is_file() for g, t in gate_tasks()))
        ):
            blocks.append(dagger_report(run, shown))
            shown |= set(run.dagger)
    replicates = seed_replicates()
    return "\n\n".join(blocks + ([replicates] if replicates else []))


def seed_replicates() -> str:
    """dagger1 and its control again with training seed 1: each against random, and dagger1 against the control."""
    demos = json.loads((RESULTS / "demos.json").read_text()) if (RESULTS / "demos.json").is_file() else {"tasks": {}}
    runs = [run for run in RUNS.values() if run.seed != 0]
    played = [run for run in runs if all(play_path(run.arm, g, t).is_file() for g, t in gate_tasks())]
    if not played:
        return ""
    lines = [
        "**Training seed 1**: "
        + ", ".join(
            f"{run.name} (= {run.name.removesuffix(f's{run.seed}')} with trainer seed {run.seed})" for run in played
        )
        + ", the same data, steps and starting weights; only the trainer's seed (sampling order) differs. Made by "
        + " && ".join(
            f"`python experiments/bc_gate.py train --engine ale --expert frame --run {run.name} --threads 1 && ... "
            f"play --engine ale --expert frame --run {run.name}`"
            for run in played
        )
        + "."
    ]
    for run in played:
        results = play_table(run.arm, demos)[1]
        wins = ", ".join(f"{r.game}/{r.task}" for r in results if r.low > 0) or "none"
        lines += ["", f"{run.name} against random (paired 95% CIs above 0): {gate_summary(results)} ({wins})."]
    names = {run.name: run for run in played}
    if {"dagger1s1", "control1s1"} <= set(names):
        lines += versus_table(names["dagger1s1"], names["control1s1"])
    if "dagger1s1" in names:
        lines += versus_table(names["dagger1s1"], RUNS["dagger1"])
    if "control1s1" in names:
        lines += versus_table(names["control1s1"], RUNS["control1"])
    return "\n".join(lines)


def dagger_report(run: RunConfig, shown: set[str] | None = None) -> str:
    """One DAgger run's block of section 13.

    Its table beside random and the expert, against the run it started from (and v1), the relabelled data it
    added (sets not in ``shown``), against the frame-blind arm, and its fit.
    """
    demos = json.loads((RESULTS / "demos.json").read_text()) if (RESULTS / "demos.json").is_file() else {"tasks": {}}
    trained = train_summary(run)
    steps = sorted({json.loads(p.read_text()).get("step") for p in (RESULTS / "play" / run.arm).glob("*.json")})
    played = ", ".join(str(step) for step in steps if step is not None) or "-"
    frames = {
        name: sum(r["steps"] for rows in relabel_summary(name).get("tasks", {}).values() for r in rows)
        for name in run.dagger
    }
    budget = (
        f"final loss {trained['final_loss']:.3f}, {trained['samples_per_second']:.0f} samples/s on "
        f"{trained['threads']} thread{'s' if trained['threads'] > 1 else ''} of the shared 2 cores, "
        f"{trained['seconds_this_run']:.0f} s in its last session"
        if trained
        else "training not finished"
    )
    sets = ", ".join(f"`{name}` ({frames[name]} frames)" for name in run.dagger)
    start = next((r for r in RUNS.values() if run.init == str(r.folder / "final")), None)
    origin = f"{start.name}'s final weights" if start else run.init or "a fresh nitrogen-s"
    flags = f"--engine {ENGINE} --expert frame"
    lines = [
        f"**{run.name}**: DAgger iteration {len(run.dagger)}. The relabelled set{'s' if len(run.dagger) > 1 else ''} "
        f"{sets}: each named run's final weights play every task the frame expert has a rule for on training seeds "
        f"{RELABEL_SEEDS[0]}-{RELABEL_SEEDS[-1]} ({len(RELABEL_SEEDS)} episodes per task, {MAX_STEPS}-step cap, "
        "the evaluation's env settings, the likeliest action every frame), and the frame expert labels every frame "
        + (
            "the policy sees (the env runs at the expert's 128 px; the policy reads, and the set stores, that frame "
            f"shrunk to {CONFIG.obs_size} px). Then {origin} train "
            if ENGINE == "procgen"
            else "the policy sees (the expert reads the emulator's 210x160 screen of that frame); MontezumaRevenge has "
            f"no rule and no relabelled frames (its random-play demonstrations stay). Then {origin} train "
        )
        + f"{run.steps} more steps of {CONFIG.batch_size} by the same trainer and settings (lr {CONFIG.lr:g}, warm-up "
        "and cosine schedule restarted) on the demonstrations plus the relabelled frames, each task sampled alike "
        f"and, inside a task, every frame alike; {budget}. Played at training step {played} on the evaluation "
        f"seeds {FIRST_SEED}-{FIRST_SEED + EVAL_EPISODES - 1}; random, expert and marginal episodes are "
        + ("v1's (the table above)" if ENGINE == "procgen" else "section 12's")
        + ". Made by `python experiments/bc_gate.py "
        + " && ... ".join(f"relabel {flags} --run {name}" for name in run.dagger)
        + f" && ... train {flags} --run {run.name} --threads 1 && ... play "
        f"{flags} --run {run.name} && ... fit {flags} --run {run.name} && "
        f"... report {flags} --run {run.name} --write`.",
        "",
    ]
    lines += gated_table(run.arm, demos)[0]
    if start is not None and start.name != "v1":
        lines += versus_table(run, start)
    lines += versus_table(run, RUNS["v1"])
    control = RUNS.get("control1")
    if control is not None and start is not None and start.name == "v1" and control.init == run.init:
        lines += versus_table(
            control, RUNS["v1"], "the control: v1's weights trained the same steps on the demonstrations alone"
        )
        lines += versus_table(run, control)
        results = play_table(control.arm, demos)[1]
        if results:
            wins = ", ".join(f"{r.game}/{r.task}" for r in results if r.low > 0) or "none"
            lines += [
                "",
                f"The control against random on the same seeds (paired 95% CIs above 0): {gate_summary(results)} ({wins}).",
            ]
    lines += relabel_table(run, shown or set())
    if ENGINE == "procgen":  # section 14: the argmax of the factorized head stands still; sampling does not
        lines += sampled_table(run, demos)
    lines += marginal_table(run)
    return "\n".join(lines + fit_table(run))


def relabel_summary(name: str) -> dict[str, Any]:
    """The relabel stage's summary of set ``name`` (empty before it ran)."""
    path = RESULTS / f"relabel-{name}.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def versus_table(run: RunConfig, before: RunConfig, what: str = "") -> list[str]:
    """``run``'s policy against ``before``'s on the same evaluation seeds, per task (paired); ``what`` is run."""
    rows = []
    for game, task in gate_tasks():
        episodes = played_episodes([before.arm, run.arm], game, task)
        if episodes is None:
            continue
        old, new = episodes
        score, diff, low, high = paired_difference(new, old)
        rows.append(
            f"| {game}/{task} | {np.mean([e['normalized'] for e in old]):.2f} | {score.mean():.2f} | "
            f"{diff.mean():+.2f} [{low:+.2f}, {high:+.2f}] |"
        )
    if not rows:
        return []
    return [
        "",
        f"{run.name}{f' ({what})' if what else ''} against {before.name} on the same seeds: mean episode return of "
        "each, and the paired difference [95% bootstrap CI].",
        "",
        f"| task | {before.name} | {run.name} | {run.name} - {before.name} |",
        "|---|---|---|---|",
        *rows,
    ]


def relabel_table(run: RunConfig, shown: set[str]) -> list[str]:
    """What each relabelled set not in ``shown`` holds.

    Per task: the playing policy's return on the training seeds and how often it agreed with the expert.
    """
    lines = []
    for name in run.dagger:
        if name in shown:
            continue
        data = relabel_summary(name)
        if not data.get("tasks"):
            continue
        lines += [
            "",
            f"The relabelled set `{name}` ({data['weights']}, step {data['step']}; beta {data['beta']:g}: the share "
            "of steps the expert acts): per task, episodes and frames, the playing policy's mean return on the "
            "training seeds, and on-policy agreement, the share of the frames it visits on which its likeliest "
            f"native action is the frame expert's ({'v1' if ENGINE == 'procgen' else 'section 12'}'s fit table "
            "measures the same on the expert's own "
            "frames).",
            "",
            "| task | episodes | frames | policy return (training seeds) | on-policy agreement |",
            "|---|---|---|---|---|",
        ]
        for task, rows in data["tasks"].items():
            agreement = np.average([r["agreement"] for r in rows], weights=[r["steps"] for r in rows])
            lines.append(
                f"| {task} | {len(rows)} | {sum(r['steps'] for r in rows)} | "
                f"{np.mean([r['return'] for r in rows]):.2f} | {agreement:.2f} |"
            )
    return lines


def marginal_table(run: RunConfig, arm: str | None = None) -> list[str]:
    """The policy against a frame-blind player of the demonstrations' action frequencies, on the same seeds.

    ``arm`` names another of the run's arms (its sampled one); ``None`` is its argmax arm.
    """
    arm = arm or run.arm
    label = "nitrogen-s" if arm == run.arm else f"`{arm}`"
    rows = []
    for game, task in gate_tasks():
        episodes = played_episodes(["random", "marginal", arm], game, task)
        if episodes is None:
            continue
        random, marginal, policy = episodes
        score, over_random, low, high = paired_difference(marginal, random)
        _, over_marginal, low2, high2 = paired_difference(policy, marginal)
        rows.append(
            f"| {game}/{task} | {score.mean():.2f} | {over_random.mean():+.2f} [{low:+.2f}, {high:+.2f}] | "
            f"{over_marginal.mean():+.2f} [{low2:+.2f}, {high2:+.2f}] |"
        )
    if not rows:
        return []
    return [
        "",
        f"Does {label} read the frame, or play the label statistics? The `marginal` arm plays each game's native "
        f"actions at the frequencies {WORDS['expert']}'s demonstrations hold them, blind to the frame (same seeds; "
        f"`... play --engine {ENGINE}{' --expert frame' if EXPERT == 'frame' else ''} --arm marginal`). Cells: its mean "
        f"{'normalized score' if ENGINE == 'procgen' else 'episode return'}; its difference from random and the "
        f"difference of {label} from it [paired 95% bootstrap CIs].",
        "",
        f"| task | marginal | marginal - random | {label} - marginal |",
        "|---|---|---|---|",
        *rows,
    ]


def gate_summary(results: list[TaskResult]) -> str:
    """``k of n beat random, mean share s``: one run's gate figures for the side-by-side line."""
    wins, shares, _ = gate_counts(results, gate_size())
    return f"{len(wins)} of {len(results)} tasks beat random, mean share of the expert {np.mean(shares):.2f}"


def run_report(run: RunConfig, demos: dict[str, Any]) -> tuple[list[str], list[TaskResult]]:
    """A later run's paragraph, table, gate line and fit table."""
    trained = train_summary(run)
    steps = sorted({json.loads(p.read_text()).get("step") for p in (RESULTS / "play" / run.arm).glob("*.json")})
    played = ", ".join(str(step) for step in steps if step is not None) or "-"
    flags = f"--run {run.name} --balance {run.balance} --init {run.init} --steps {run.steps}"
    budget = (
        f"final loss {trained['final_loss']:.3f}, {trained['samples_per_second']:.0f} samples/s on "
        f"{trained['threads']} thread{'s' if trained['threads'] > 1 else ''} of the shared 2 cores in its last session"
        if trained
        else "training not finished"
    )
    lines = [
        f"**{run.name}**: {init_name(run)}'s "
        f"weights trained {run.steps} more steps of {CONFIG.batch_size} by the same trainer and settings (lr "
        f"{CONFIG.lr:g}, its warm-up and cosine schedule restarted), sampling "
        + {
            "none": "every frame alike",
            "equal": "each task alike (equal weight per task folder: 1/6 of the samples each)",
            "sqrt": "each task by the square root of its frame count",
        }[run.balance]
        + f"; {budget}.{run_note(run)} Played at training step {played}; the same seeds, random and bot episodes as "
        "v1. Made by "
        f"`python experiments/bc_gate.py train {flags} && ... play --run {run.name} && ... fit --run {run.name} && "
        "... report --write`.",
        "",
    ]
    table, results = gated_table(run.arm, demos)
    lines += table + sampled_table(run, demos)
    return lines + fit_table(run), results


def init_name(run: RunConfig) -> str:
    """The run whose final weights ``run`` starts from, by name, else its folder (or a fresh network)."""
    named = [other.name for other in RUNS.values() if run.init == str(other.folder / "final")]
    return named[0] if named else run.init or "a fresh nitrogen-s"


def run_note(run: RunConfig) -> str:
    """`` <RETRAIN_NOTE>.`` for a run that retrains another (tasks whose argmax episodes differ counted), else ``""``."""
    if not run.retrains:
        return ""
    of = RUNS[run.retrains]
    differ = 0
    for game, task in gate_tasks():
        episodes = played_episodes([of.arm, run.arm], game, task)
        differ += episodes is not None and [e["return"] for e in episodes[0]] != [e["return"] for e in episodes[1]]
    return " " + RETRAIN_NOTE.format(of=of.name, differ=differ, tasks=len(gate_tasks())) + "."


def retrain_report(run: RunConfig, of: RunConfig, demos: dict[str, Any]) -> list[str]:
    """A retrain of ``of``'s recipe: its argmax and sampled arms, and its argmax against ``of``'s."""
    trained = train_summary(run)
    lines = [
        f"**{run.name}**:{run_note(run)} Trained {train_budget(trained)}. Made by `python experiments/bc_gate.py train "
        f"--engine {ENGINE} --expert {EXPERT} --run {run.name} --threads 1 && ... play --engine {ENGINE} --expert "
        f"{EXPERT} --run {run.name} && ... --temperature 1 && ... report --engine {ENGINE} --expert {EXPERT} --write`.",
        "",
    ]
    lines += gated_table(run.arm, demos)[0]
    lines += sampled_table(run, demos)
    return lines + versus_table(run, of, "argmax")


def run_config(args: argparse.Namespace) -> RunConfig:
    """The ``--run`` preset with the command line's overrides."""
    if args.run not in RUNS:
        raise SystemExit(f"Error: unknown --run {args.run!r}; choose from {', '.join(RUNS)}")
    overrides = {
        key: value
        for key, value in (
            ("balance", args.balance),
            ("init", args.init),
            ("steps", args.steps),
            ("save_every", args.save_every),
        )
        if value is not None
    }
    return replace(RUNS[args.run], **overrides)


def main(argv: list[str] | None = None) -> int:
    """Command line: one stage per call (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=("collect", "train", "play", "fit", "report", "relabel"))
    parser.add_argument("--run", default="v1", help=f"train, play --arm policy, fit: which run ({', '.join(RUNS)})")
    parser.add_argument("--balance", choices=BALANCES, help="train: per-task sampling (default: the run's)")
    parser.add_argument("--init", help="train: policy folder to start from (default: the run's)")
    parser.add_argument("--steps", type=int, help="train: optimizer steps (default: the run's)")
    parser.add_argument("--save-every", type=int, help="train: steps between checkpoints (default: the run's)")
    parser.add_argument("--arm", choices=ARMS, default="policy", help="play: who plays")
    parser.add_argument("--games", nargs="*", help="play, relabel: only these games (processes side by side)")
    parser.add_argument(
        "--beta", type=float, default=0.0, help="relabel: probability the expert acts instead of the policy per step"
    )
    parser.add_argument("--workers", type=int, default=1, help="collect: worker processes")
    parser.add_argument(
        "--levels", type=int, default=0, help="collect (procgen): seeds 0..N-1 into their own folder (runs' levels)"
    )
    parser.add_argument("--threads", type=int, default=1, help="train: torch threads")
    parser.add_argument(
        "--device", default="cpu", help="train: torch device (cpu, cuda, auto: every reported run used cpu)"
    )
    parser.add_argument(
        "--temperature", type=float, default=0.0, help="play --arm policy: sample at this temperature (0: argmax)"
    )
    parser.add_argument("--write", action="store_true", help="report: into docs/results.md (section 9; ale: 11)")
    parser.add_argument(
        "--engine", choices=("vizdoom", "ale", "procgen"), default="vizdoom", help="which engine's tasks"
    )
    parser.add_argument(
        "--expert",
        help="the demonstrator (default: the engine's: scripted, planner, frame; ale also: frame, section 12)",
    )
    args = parser.parse_args(argv)
    use_engine(args.engine, args.expert)
    run = run_config(args)
    if args.stage == "collect":
        collect_demos(args.workers, args.levels)
    elif args.stage == "train":
        train_policy(run, args.threads, args.device)
    elif args.stage == "play":
        play(args.arm, args.games, run, args.temperature)
    elif args.stage == "fit":
        fit(run)
    elif args.stage == "relabel":
        relabel(run, args.beta, args.games)
    elif run.dagger:
        text = dagger_section()
        print(text)
        if args.write:
            write_report(text, DAGGER_BEGIN, DAGGER_END)
    else:
        text = (
            procgen_report()
            if ENGINE == "procgen"
            else frame_report()
            if EXPERT == "frame"
            else ale_report()
            if ENGINE == "ale"
            else report()
        )
        print(text)
        if args.write:
            write_report(text, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
