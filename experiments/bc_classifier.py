"""Is it the data or the objective? A discriminative classifier cloned from the same demonstrations (issue 15).

experiments/bc_labels.py trained nitrogen-s (flow matching over 16-step gamepad chunks) on planner
demonstrations of Chaser and StarPilot; the policies stayed blind to the picture and played at random level.
This script asks the simplest question that separates the two suspects: does a plain CNN classifier over
the game's native actions (cross-entropy, one frame in, one action out, argmax at play time) read the
picture from the very same frames and labels, and does it beat random play on unseen levels?

- If it does, the data holds a learnable mapping and the flow-matching policy (objective, chunking,
  sampling or budget) is what fails to find it.
- If it does not, the labels or the number of levels are the problem, whatever the network.

Stages (each resumable; rerun the same command):

    python experiments/bc_classifier.py collect --episodes 100   # extend the hold-candidate demos (slow)
    python experiments/bc_classifier.py train --data small        # the 20 episodes bc_labels used
    python experiments/bc_classifier.py eval --data small
    python experiments/bc_classifier.py report --write            # a table in docs/results.md

``--data small`` reads ``runs/bc_labels/demos/<labeller>`` (20 episodes per game); ``--data large`` reads
``runs/bc_classifier/demos`` (the same 20 episodes, extended by ``collect`` with hold-candidate labels).

``--labeller reactive`` (procgen, ``--data small``) asks whether a demonstrator whose action is a function of
the game state gives labels a picture can predict (docs/results.md section 7): ``collect`` records its own
episodes (seeds 0 on, 400-step cap) into ``runs/bc_classifier/demos-reactive`` and scores each one, and
random play on the same seeds, under ``runs/bc_classifier/play``; ``train`` then trains the same classifier
on them, and ``report --labels`` prints section 7's table::

    python experiments/bc_classifier.py collect --labeller reactive --games Chaser --episodes 20
    python experiments/bc_classifier.py train --labeller reactive
    python experiments/bc_classifier.py report --labels --write
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nitrogen_datasets.format import load_info

sys.path.insert(0, str(Path(__file__).parent))
from bc_diagnosis import (
    FIRST_SEED,
    MAX_STEPS,
    atomic_json,
    episode_record,
    image_sensitivity,
    paired_difference,
    planner_expert,
    play_out,
)
from bc_diagnosis import OUT as DIAGNOSIS_OUT
from bc_labels import MAX_STEPS as DEMO_MAX_STEPS
from bc_labels import OBS_SIZE
from bc_labels import OUT as LABELS_OUT

OUT = Path("runs/bc_classifier")
EVAL_EPISODES = 20
VALIDATION_EPISODES = 4  # the last episodes of each game: held out to measure label accuracy
PLAY_MODES = ("argmax", "sample")
N_ACTIONS = 15  # the largest native action space of the families below (Procgen); smaller ones use a prefix
SMOOTH_WINDOW = 8  # holds-smooth: the majority of this many actions from each step on (the planner's commit)
# Reactive labellers (recorded by collect_scored): every step, the best native action held for `horizon` steps
# (max_horizon when none of them scores), no random candidates, no memory; ties to standing still. `reactive`
# looks 16-32 steps ahead: the next orb or enemy in the fixed-camera games, at a quarter of the shipped 40-80
# (15 rollouts every step, not every 8th); `reactive-h40` looks as far as the shipped planner.
REACTIVE: dict[str, dict[str, Any]] = {
    "reactive": {"reactive": True, "commit": 1, "horizon": 16, "max_horizon": 32, "explore": False},
    "reactive-h40": {"reactive": True, "commit": 1, "horizon": 40, "max_horizon": 80, "explore": False},
}
# planner: bc_labels' plain planner; holds: with hold candidates; holds-smooth: the holds demos relabelled by
# smooth_labels; then the reactive ones
LABELLERS = ("planner", "holds", "holds-smooth", *REACTIVE)


@dataclass(frozen=True)
class Family:
    """Games cloned together, their task and the demonstrator whose labels are cloned."""

    games: tuple[str, ...]
    task: str | None
    expert: str  # "planner-holds" (save-state planner with hold candidates) or "scripted"


FAMILIES = {
    # procedurally generated levels, labels from a search over futures (bc_labels' games and demos)
    "procgen": Family(("Chaser", "StarPilot"), "easy", "planner-holds"),
    # fixed maps, labels from a reactive scripted bot (a function of what it sees)
    "doom": Family(("DoomDefendCenter", "DoomTakeCover"), None, "scripted"),
}


@dataclass(frozen=True)
class ClassifierConfig:
    """Training settings (one config for every data size, so only the data changes between rows)."""

    steps: int = 3000
    batch_size: int = 64
    lr: float = 5e-4
    weight_decay: float = 1e-4
    seed: int = 0


def data_folder(family: str, data: str, labeller: str, game: str) -> Path:
    """Demonstrations of one game: bc_labels' 20 episodes (procgen ``small``) or this script's own."""
    if labeller in REACTIVE:
        return OUT / f"demos-{labeller}" / game
    if labeller == "holds-smooth":
        labeller = "holds"
    if family == "procgen" and data == "small":
        return LABELS_OUT / "demos" / labeller / game
    return OUT / "demos" / game


def make_env(family: str, game: str) -> Any:
    """The game at the demonstrations' frame size and the family's task."""
    import gymnasium as gym

    task = FAMILIES[family].task
    options: dict[str, Any] = {"task": task} if task else {}
    return gym.make(f"NitroGen/{game}-v0", obs_size=OBS_SIZE, **options)


def play_seeds(family: str, game: str, act_for: Any, new_env: Any = None) -> list[dict[str, Any]]:
    """One episode record per evaluation seed (``FIRST_SEED`` on), each env closed whatever happens.

    ``act_for(env, seed)`` gives that episode's ``act(obs, info)``. ``new_env()`` (default: ``make_env(family,
    game)``) makes each episode's env, for callers that need another task or frame size.
    """
    rows = []
    for k in range(EVAL_EPISODES):
        seed = FIRST_SEED + k
        env = new_env() if new_env is not None else make_env(family, game)
        act = act_for(env, seed)
        started = time.perf_counter()
        try:
            obs, info = env.reset(seed=seed)
            info, steps = play_out(env, obs, info, act)
        finally:
            env.close()
        rows.append(episode_record(seed, info, steps, started))
    return rows


def make_demonstrator(family: str, game: str, labeller: str = "holds") -> Any:
    """The expert whose labels the family clones (a reactive labeller: the planner as :data:`REACTIVE` sets it)."""
    from nitrogen_datasets.experts.registry import make_expert

    if labeller in REACTIVE:
        return planner_expert(game, **REACTIVE[labeller])
    if FAMILIES[family].expert == "planner-holds":
        return planner_expert(game, holds=True)
    return make_expert("scripted", game)


def collect(family: str, episodes: int) -> None:
    """Record ``episodes`` per game (procgen: extend copies of bc_labels' hold-candidate demos; seeds continue)."""
    from nitrogen_datasets.record import record_episodes
    from nitrogen_datasets.writer import DatasetWriter

    for game in FAMILIES[family].games:
        folder = data_folder(family, "large", "holds", game)
        if family == "procgen" and not folder.exists():
            shutil.copytree(data_folder(family, "small", "holds", game), folder)
        info = folder / "meta" / "info.json"
        have = len(load_info(info.parent.parent).episodes) if info.is_file() else 0
        if have >= episodes:
            continue
        env = make_env(family, game)
        started = time.perf_counter()
        try:
            with DatasetWriter(folder) as writer:
                for seed in range(have, episodes):  # one episode per call: a kill loses at most one
                    record_episodes(
                        env,
                        make_demonstrator(family, game),
                        1,
                        writer,
                        seed=seed,
                        source=FAMILIES[family].expert,
                        max_steps=DEMO_MAX_STEPS,
                        progress=False,
                    )
                    print(f"collect {game} seed {seed} ({time.perf_counter() - started:.0f} s)", flush=True)
        finally:
            env.close()


def play_folder(labeller: str) -> Path:
    """Scores of a labeller's recorded episodes (or of random play on the same seeds, ``random``)."""
    return OUT / "play" / labeller


def collect_scored(game: str, episodes: int, labeller: str) -> None:
    """Record ``labeller``'s episodes of ``game`` (seeds 0 on, :data:`MAX_STEPS` cap), scoring each one.

    The demonstrations double as the demonstrator's play test: each episode's normalized score goes to
    ``play/<labeller>/<game>.json`` and random play on the same seed to ``play/random/<game>.json``, so the
    two are paired by level. These levels are not the classifier's evaluation seeds (1000 on).
    """
    import gymnasium as gym

    from nitrogen_datasets.record import record_episodes
    from nitrogen_datasets.writer import DatasetWriter

    class LastInfo(gym.Wrapper):  # keeps the info of the last step: the episode's score as recorded
        info: dict[str, Any]

        def step(self, action: Any) -> Any:
            out = super().step(action)
            self.info = out[4]
            return out

    folder = data_folder("procgen", "small", labeller, game)
    scores = {who: play_folder(who) / f"{game}.json" for who in (labeller, "random")}
    for seed in range(episodes):
        rows = {who: episodes_in(path) for who, path in scores.items()}
        if len(rows[labeller]) > seed:
            continue
        env = LastInfo(make_env("procgen", game))
        started = time.perf_counter()
        try:
            with DatasetWriter(folder) as writer:
                record_episodes(
                    env, make_demonstrator("procgen", game, labeller), 1, writer, seed=seed, source=labeller,
                    max_steps=MAX_STEPS, progress=False,
                )  # fmt: skip
            record = episode_record(seed, env.info, int(env.info["episode_steps"]), started)
        finally:
            env.close()
        base = episodes_in(scores["random"])  # read again: another labeller's run may have added to it
        if len(base) <= seed:
            atomic_json(
                scores["random"], {"game": game, "mode": "random", "episodes": [*base, random_play(game, seed)]}
            )
        atomic_json(scores[labeller], {"game": game, "mode": labeller, "episodes": [*rows[labeller], record]})
        print(f"collect {labeller} {game} seed {seed}: {record}", flush=True)


def random_play(game: str, seed: int) -> dict[str, Any]:
    """One episode of uniform native actions on ``seed`` (as bc_diagnosis plays random)."""
    from nitrogen_envs.base import unwrap

    env = make_env("procgen", game)
    base = unwrap(env)
    space = base.native_action_space()
    space.seed(seed)
    started = time.perf_counter()
    try:
        obs, info = env.reset(seed=seed)
        info, steps = play_out(env, obs, info, lambda o, i: base.native_to_gamepad(space.sample()))
    finally:
        env.close()
    return episode_record(seed, info, steps, started)


def native_labels(family: str, game: str, actions: np.ndarray) -> np.ndarray:
    """The game's native action index of each flat gamepad action (the env's own mapping)."""
    from nitrogen_envs import gamepad
    from nitrogen_envs.base import unwrap

    env = make_env(family, game)
    try:
        base = unwrap(env)
        return np.array([int(base.gamepad_to_native(gamepad.from_flat(a))) for a in actions], dtype=np.int64)
    finally:
        env.close()


def load_episodes(folder: Path, limit: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames (N, 64, 64, 3) uint8, flat gamepad actions (N, 21) and each frame's episode position (N,).

    ``limit`` keeps the first ``limit`` frames only and stops decoding once it has them: a 512-level folder
    holds over 100,000 frames (1.3 GB decoded) where the fit stage scores 600.
    """
    from nitrogen_datasets.imitation_bridge import episode_arrays
    from nitrogen_datasets.reader import DemoDataset

    dataset = DemoDataset(folder)
    frames: list[np.ndarray] = []
    actions: list[np.ndarray] = []
    episode: list[np.ndarray] = []
    for position in range(len(dataset.episodes)):
        if limit is not None and sum(map(len, actions)) >= limit:
            break
        obs, acts, _, _ = episode_arrays(dataset, position, OBS_SIZE)
        frames.append(obs[:-1])
        actions.append(np.asarray(acts, dtype=np.float32))
        episode.append(np.full(len(acts), position))
    return np.concatenate(frames)[:limit], np.concatenate(actions)[:limit], np.concatenate(episode)[:limit]


def load_frames(family: str, folder: Path, game: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames (N, 64, 64, 3) uint8, native labels (N,) and each frame's episode position (N,)."""
    frames, actions, episode = load_episodes(folder)
    return frames, native_labels(family, game, actions), episode


def build_network(n_actions: int, n_games: int) -> Any:
    """A small CNN (64 px in) with one head per game; the game index picks the head."""
    import torch
    from torch import nn

    class Classifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.trunk = nn.Sequential(
                nn.Conv2d(3, 32, 5, stride=2, padding=2),
                nn.ReLU(),
                nn.Conv2d(32, 64, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.Conv2d(64, 64, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.Conv2d(64, 64, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.Flatten(),
                nn.Linear(64 * 4 * 4, 256),
                nn.ReLU(),
            )
            self.heads = nn.Linear(256, n_actions * n_games)

        def forward(self, frames: torch.Tensor, game: torch.Tensor) -> torch.Tensor:
            x = frames.permute(0, 3, 1, 2).float() / 255.0
            logits = self.heads(self.trunk(x)).view(len(frames), -1, n_actions)
            return logits[torch.arange(len(frames)), game]

    return Classifier()


def run_dir(family: str, data: str, labeller: str) -> Path:
    """Where one (family, data, labeller) classifier and its evaluation live."""
    return OUT / "runs" / f"{family}-{data}-{labeller}"


def train(family: str, data: str, labeller: str, config: ClassifierConfig) -> None:
    """Train the classifier on all but the last episodes of each game; report held-out label accuracy."""
    import torch
    from safetensors.torch import save_model

    out = run_dir(family, data, labeller)
    if (out / "metrics.json").is_file():
        return
    games_of_family = FAMILIES[family].games
    torch.manual_seed(config.seed)
    torch.set_num_threads(1)
    frames, labels, games, episodes = [], [], [], []
    for index, game in enumerate(games_of_family):
        f, game_labels, e = load_frames(family, data_folder(family, data, labeller, game), game)
        if labeller == "holds-smooth":
            game_labels = smooth_labels(game_labels, e, SMOOTH_WINDOW)
        frames.append(f)
        labels.append(game_labels)
        games.append(np.full(len(game_labels), index))
        episodes.append(e - e.max() + VALIDATION_EPISODES - 1)  # >= 0: the held-out last episodes
    x = torch.from_numpy(np.concatenate(frames))
    y = torch.from_numpy(np.concatenate(labels))
    g = torch.from_numpy(np.concatenate(games))
    held = torch.from_numpy(np.concatenate(episodes) >= 0)
    network = build_network(n_actions=N_ACTIONS, n_games=len(games_of_family))
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    train_index = torch.nonzero(~held).squeeze(1)
    generator = torch.Generator().manual_seed(config.seed)
    started = time.perf_counter()
    curve = []
    for step in range(1, config.steps + 1):
        batch = train_index[torch.randint(len(train_index), (config.batch_size,), generator=generator)]
        frames_batch = x[batch]
        shift = torch.randint(-2, 3, (2,), generator=generator)  # small shifts: a cheap guard against memorising
        frames_batch = torch.roll(frames_batch, shifts=(int(shift[0]), int(shift[1])), dims=(1, 2))
        loss = torch.nn.functional.cross_entropy(network(frames_batch, g[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 500 == 0 or step == config.steps:
            accuracy = held_out_accuracy(network, x, y, g, held, games_of_family)
            curve.append({"step": step, "loss": float(loss.detach()), **accuracy})
            print(f"train {out.name} step {step}: loss {float(loss.detach()):.3f} {accuracy}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    save_model(network, str(out / "model.safetensors"))
    majority = {
        game: float(np.mean(lab[ep >= 0] == np.bincount(lab[ep < 0], minlength=N_ACTIONS).argmax()))
        for game, lab, ep in zip(games_of_family, labels, episodes, strict=True)
    }
    atomic_json(
        out / "metrics.json",
        {
            "config": asdict(config),
            "frames": {game: len(lab) for game, lab in zip(games_of_family, labels, strict=True)},
            "curve": curve,
            "majority_accuracy": majority,
            "seconds": round(time.perf_counter() - started, 1),
        },
    )


def smooth_labels(labels: np.ndarray, episode: np.ndarray, window: int) -> np.ndarray:
    """Each step's label replaced by the most frequent of the next ``window`` labels of its episode (itself first).

    Ties go to the label that comes first in the window, so a step keeps its own label unless another one
    outnumbers it: the move the planner mostly makes from here, not the jitter of one step.
    """
    smoothed = labels.copy()
    for k in range(len(labels)):
        ahead = labels[k : k + window][episode[k : k + window] == episode[k]]
        counts = {int(a): int((ahead == a).sum()) for a in ahead}
        smoothed[k] = max(counts, key=lambda a: counts[a])  # dicts keep the window's order: ties to the first
    return smoothed


def held_out_accuracy(network: Any, x: Any, y: Any, g: Any, held: Any, games: tuple[str, ...]) -> dict[str, float]:
    """Accuracy of the argmax on the held-out episodes, per game."""
    import torch

    with torch.no_grad():
        index = torch.nonzero(held).squeeze(1)
        predicted = torch.cat([network(x[i], g[i]).argmax(1) for i in index.split(512)])
    correct = (predicted == y[index]).numpy()
    index_of = g[index].numpy()
    return {game: round(float(correct[index_of == k].mean()), 3) for k, game in enumerate(games)}


def acting(agent: Any) -> Callable[[np.ndarray, dict[str, Any]], Any]:
    """``agent.act`` as an act function of :func:`play_out` (observation, info)."""
    return lambda obs, info: agent.act(obs)


def play(family: str, network: Any, game_index: int, game: str, seed: int, mode: str) -> dict[str, Any]:
    """One episode on an unseen seed: the classifier picks native actions (argmax or sampled), or random/expert."""
    import torch
    from gymnasium.spaces import Discrete

    from nitrogen_envs.base import unwrap

    env = make_env(family, game)
    base = unwrap(env)
    space = base.native_action_space()
    if not isinstance(space, Discrete):
        raise TypeError(f"{game}: expected a Discrete native action space, got {space}")
    space.seed(seed)
    n_native = int(space.n)
    generator = torch.Generator().manual_seed(seed)

    def classify(obs: np.ndarray, info: dict[str, Any]) -> Any:
        with torch.no_grad():
            logits = network(torch.from_numpy(obs[None].copy()), torch.tensor([game_index]))[0][:n_native]
        if mode == "argmax":
            return base.native_to_gamepad(int(logits.argmax()))
        return base.native_to_gamepad(int(torch.multinomial(torch.softmax(logits, 0), 1, generator=generator)))

    started = time.perf_counter()
    try:
        obs, info = env.reset(seed=seed)
        act: Callable[[np.ndarray, dict[str, Any]], Any] = classify
        if mode == "random":
            act = lambda o, i: base.native_to_gamepad(space.sample())  # noqa: E731
        elif mode == "expert":
            expert = make_demonstrator(family, game)
            expert.reset(env, seed)
            act = expert.act
        info, steps = play_out(env, obs, info, act)
    finally:
        env.close()
    return episode_record(seed, info, steps, started)


FLOW_STEPS = 1500  # nitrogen-s steps of 32: a quarter of the classifier's samples (3000 of 64)
FLOW_POLICY: dict[str, Any] = {"image_size": OBS_SIZE, "cnn_channels": [32, 64, 128, 256]}


@dataclass(frozen=True)
class FlowArm:
    """One nitrogen-s variant: chunk length, actions played per chunk, training steps of 32."""

    chunk_size: int
    n_action_steps: int
    steps: int = FLOW_STEPS
    head: str = "flow"  # NitroGenConfig.action_head: "discrete" is the factorized head of bc_heads' ngenc-bins


# the default 16-action chunks played 8 at a time; short chunks replanned every step (does predicting 16
# open-loop actions from one frame drown the picture?); and the default at half the classifier's samples
FLOW_ARMS = {
    "flow": FlowArm(16, 8),
    "flow-c4": FlowArm(4, 1),
    "flow-3k": FlowArm(16, 8, steps=3000),
    # one action per frame, as the discrete heads of bc_heads.py predict: flow matching without chunking
    "flow-c1": FlowArm(1, 1),
    # nitrogen-s itself (encoder + DiT) with the discrete head that cloned the bot in bc_heads.py (ngenc-bins):
    # one action per frame as there, and the default 16-action chunks played 8 at a time
    "discrete-c1": FlowArm(1, 1, steps=3000, head="discrete"),
    "discrete": FlowArm(16, 8, steps=3000, head="discrete"),
}


def train_flow(family: str, data: str, labeller: str, arm: str = "flow") -> None:
    """Train nitrogen-s (flow matching over gamepad chunks) on the family's episodes, as bc_labels trains it."""
    from bc_labels import train_nitrogen_s

    spec = FLOW_ARMS[arm]
    policy = {
        **FLOW_POLICY,
        "chunk_size": spec.chunk_size,
        "n_action_steps": spec.n_action_steps,
        "action_head": spec.head,
    }
    folders = [data_folder(family, data, labeller, game) for game in FAMILIES[family].games]
    train_nitrogen_s(run_dir(family, data, labeller) / arm, folders, policy, spec.steps, save_every=250)


def evaluate_flow(family: str, data: str, labeller: str, arm: str = "flow") -> None:
    """Play the flow policy (fresh noise per chunk, the arm's actions per chunk) on the evaluation seeds."""
    import torch
    from bc_diagnosis import PolicyAgent, Variant

    from nitrogen_envs import FlatGamepad

    torch.set_num_threads(1)
    out = run_dir(family, data, labeller) / arm
    variant = Variant(
        f"{arm}-fresh", "policy", obs_size=OBS_SIZE, noise="fresh", n_action_steps=FLOW_ARMS[arm].n_action_steps
    )
    for game in FAMILIES[family].games:
        path = out / "eval" / "fresh" / f"{game}.json"
        if path.is_file():
            continue
        agent = PolicyAgent(variant, game, str(out / "final"))
        rows = []
        for k in range(EVAL_EPISODES):
            seed = FIRST_SEED + k
            env = FlatGamepad(make_env(family, game))
            started = time.perf_counter()
            try:
                obs, info = env.reset(seed=seed)
                agent.reset(seed)
                info, steps = play_out(env, obs, info, acting(agent))
            finally:
                env.close()
            rows.append(episode_record(seed, info, steps, started))
        atomic_json(path, {"game": game, "mode": "flow-fresh", "episodes": rows})
        print(f"eval-flow {out} {game} done", flush=True)


def random_episodes(family: str, game: str, who: str = "random") -> Path:
    """Random (or expert) play on the evaluation seeds (procgen: bc_diagnosis' own, the same seeds and cap)."""
    if family == "procgen":
        return DIAGNOSIS_OUT / "eval" / ("random" if who == "random" else "expert-holds") / f"{game}.json"
    return OUT / who / f"{game}.json"


def evaluate(family: str, data: str, labeller: str) -> None:
    """Play the trained classifier on the evaluation seeds of every game, both ways (and random, if missing)."""
    import torch
    from safetensors.torch import load_model

    torch.set_num_threads(1)
    out = run_dir(family, data, labeller)
    games = FAMILIES[family].games
    network = build_network(n_actions=N_ACTIONS, n_games=len(games))
    load_model(network, str(out / "model.safetensors"))
    network.eval()
    for mode in ("random", "expert", *PLAY_MODES):
        for index, game in enumerate(games):
            if mode in ("random", "expert"):
                path = random_episodes(family, game, mode)
            else:
                path = out / "eval" / mode / f"{game}.json"
            if path.is_file():
                continue
            rows = [play(family, network, index, game, FIRST_SEED + k, mode) for k in range(EVAL_EPISODES)]
            atomic_json(path, {"game": game, "mode": mode, "episodes": rows})
            print(f"eval {out.name} {mode} {game} done", flush=True)


def with_score(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Episodes with a ``normalized`` score: the game's own, or the return where it has none (Doom tasks)."""
    return [{**row, "normalized": row["return"] if row["normalized"] is None else row["normalized"]} for row in rows]


def episodes_in(path: Path) -> list[dict[str, Any]]:
    """The episodes of one result file (none when it is missing)."""
    return json.loads(path.read_text())["episodes"] if path.is_file() else []


def against_random(family: str, game: str, path: Path) -> str:
    """Mean score of the episodes at ``path`` (difference from random on the same seeds [95% CI])."""
    mine, base = episodes_in(path), episodes_in(random_episodes(family, game))
    if not mine or not base:
        return "-"
    score, diff, low, high = paired_difference(with_score(mine), with_score(base))
    return f"{score.mean():.2f} ({diff.mean():+.2f} [{low:+.2f}, {high:+.2f}])"


def family_table(family: str, spec: Family) -> list[str]:
    """One family's rows: the expert, then each trained run's classifier and nitrogen-s arms."""
    games = spec.games
    lines = [
        "",
        f"`{family}`: {', '.join(games)}; labels from the {spec.expert} expert"
        + ("; cells are episode returns (these tasks have no normalized score)." if family == "doom" else "."),
        "",
        "| data | labeller | frames | "
        + " | ".join(f"{g} accuracy" for g in games)
        + " | play | "
        + " | ".join(games)
        + " |",
        "|---|---|---|" + "---|" * len(games) + "---|" + "---|" * len(games),
        "| - | - | - | "
        + " | ".join("-" for _ in games)
        + " | the expert itself | "
        + " | ".join(against_random(family, g, random_episodes(family, g, "expert")) for g in games)
        + " |",
    ]
    for folder in sorted((OUT / "runs").glob(f"{family}-*")):
        metrics_path = folder / "metrics.json"
        if not metrics_path.is_file():
            continue
        metrics = json.loads(metrics_path.read_text())
        _, data, labeller = folder.name.split("-", 2)
        if labeller == "holds-smooth" or labeller in REACTIVE:
            continue  # section 7's table (labels_report)
        counts = [len(load_info(data_folder(family, data, labeller, g)).episodes) for g in games]
        labeller = labeller if family == "procgen" else spec.expert
        final = metrics["curve"][-1]
        head = (
            f"| {data}: {'+'.join(map(str, counts))} episodes | {labeller} | {sum(metrics['frames'].values())} | "
            + " | ".join(f"{final[g]:.2f} ({metrics['majority_accuracy'][g]:.2f})" for g in games)
        )
        for mode in PLAY_MODES:
            cells = [against_random(family, g, folder / "eval" / mode / f"{g}.json") for g in games]
            lines.append(f"{head} | classifier {mode} | " + " | ".join(cells) + " |")
        for arm, spec_arm in FLOW_ARMS.items():
            if (folder / arm / "eval").is_dir():
                cells = [against_random(family, g, folder / arm / "eval" / "fresh" / f"{g}.json") for g in games]
                what = f"nitrogen-s, {spec_arm.steps} steps, chunks of {spec_arm.chunk_size}, {spec_arm.n_action_steps} played"
                lines.append(f"{head} | {what} | " + " | ".join(cells) + " |")
    return lines


def sensitivity_table() -> list[str]:
    """Image sensitivity of every trained nitrogen-s arm (computed once, then read from its JSON)."""
    lines = [
        "",
        "How much each nitrogen-s policy's output depends on the picture (as in section 3: spread across 16 frames "
        "from the same noise / spread across 16 noises for one frame):",
        "",
        "| family | data | steps | chunk | games (ratio) |",
        "|---|---|---|---|---|",
    ]
    for folder in sorted((OUT / "runs").glob("*-*")):
        family, data, _ = folder.name.split("-", 2)
        for arm, spec_arm in FLOW_ARMS.items():
            checkpoint = folder / arm / "final"
            if not (checkpoint / "model.safetensors").is_file():
                continue
            cells = []
            for game in FAMILIES[family].games:
                path = folder / arm / "sensitivity" / f"{game}.json"
                if not path.is_file():
                    atomic_json(path, image_sensitivity(str(checkpoint), game, OBS_SIZE, task=FAMILIES[family].task))
                cells.append(f"{game} {json.loads(path.read_text())['ratio']:.3f}")
            lines.append(f"| {family} | {data} | {spec_arm.steps} | {spec_arm.chunk_size} | " + ", ".join(cells) + " |")
    return lines


def report() -> str:
    """Markdown: held-out label accuracy and play against random on the same seeds, a table per family."""
    config = ClassifierConfig()
    lines = [
        f"A 4-layer CNN classifier over the native actions ({OBS_SIZE} px, one head per game), {config.steps} steps "
        f"of {config.batch_size} (AdamW, lr {config.lr}), trained on all but the last {VALIDATION_EPISODES} "
        "demonstration episodes of each game (300-step cap); accuracy is on those held-out episodes (in brackets: "
        f"always answering the most frequent training label). Play: seeds {FIRST_SEED}-"
        f"{FIRST_SEED + EVAL_EPISODES - 1}, {MAX_STEPS}-step cap, normalized score, difference from random play on "
        f"the same seeds [paired 95% bootstrap CI]. `nitrogen-s` rows: the flow-matching policy on the same games' "
        f"episodes (all of them), steps of 32 at {OBS_SIZE} px (lr 0.001), fresh noise per chunk. "
        "Made by `python experiments/bc_classifier.py collect|train|eval|train-flow|eval-flow --family F --data D "
        "[--arm A] && ... report --write`.",
    ]
    for family, spec in FAMILIES.items():
        lines += family_table(family, spec)
    return "\n".join(lines + sensitivity_table())


LABELS_BEGIN, LABELS_END = "<!-- bc-predictable:begin -->", "<!-- bc-predictable:end -->"


def paired_cell(mine: list[dict[str, Any]], base: list[dict[str, Any]]) -> str:
    """Mean normalized score (difference from random on the same seeds [95% CI]), episodes."""
    if not mine or not base:
        return "-"
    score, diff, low, high = paired_difference(mine, base)
    return f"{score.mean():.2f} ({diff.mean():+.2f} [{low:+.2f}, {high:+.2f}]), {len(score)} ep."


def label_repeats(labeller: str, game: str) -> str:
    """Share of recorded steps whose native label equals the step before's (within episodes)."""
    folder = data_folder("procgen", "small", labeller, game)
    if not (folder / "meta" / "info.json").is_file():
        return "-"
    _, actions, episode = load_episodes(folder)
    labels = native_labels("procgen", game, actions)
    if labeller == "holds-smooth":
        labels = smooth_labels(labels, episode, SMOOTH_WINDOW)
    same = (labels[1:] == labels[:-1])[episode[1:] == episode[:-1]]
    return f"{same.mean():.2f}"


def early_returns(labeller: str, game: str, steps: int = DEMO_MAX_STEPS) -> dict[int, float]:
    """Return in the first ``steps`` steps of each recorded demonstration, by seed (read from its parquet)."""
    import pyarrow.parquet as pq

    from nitrogen_datasets.format import episode_paths

    folder = data_folder("procgen", "small", labeller, game)
    if not (folder / "meta" / "info.json").is_file():
        return {}
    returns = {}
    for episode in load_info(folder).episodes:
        assert episode.seed is not None, f"{folder}: episode {episode.episode_index} has no seed"
        table = pq.read_table(folder / episode_paths(episode.episode_index)[0], columns=["reward"])
        returns[int(episode.seed)] = float(np.sum(table.column("reward").to_numpy()[:steps]))
    return returns


def same_levels_table(games: tuple[str, ...]) -> list[str]:
    """Each reactive demonstrator against the hold-candidate planner on the same levels (all recorded on seeds 0 on)."""
    from bc_diagnosis import bootstrap_ci

    lines = [
        "",
        f"Same levels, both demonstrators: return in the first {DEMO_MAX_STEPS} steps of their recorded episodes "
        "(seeds 0 on; bc_labels recorded the `holds` ones with a 300-step cap), reactive minus holds [paired 95% "
        "bootstrap CI]:",
        "",
        "| game | labeller | episodes | holds | reactive | difference |",
        "|---|---|---|---|---|---|",
    ]
    for game in games:
        holds = early_returns("holds", game)
        for labeller in REACTIVE:
            reactive = early_returns(labeller, game)
            seeds = sorted(set(holds) & set(reactive))
            if not seeds:
                continue
            a, b = np.array([holds[k] for k in seeds]), np.array([reactive[k] for k in seeds])
            low, high = bootstrap_ci(b - a)
            lines.append(
                f"| {game} | {labeller} | {len(seeds)} | {a.mean():.2f} | {b.mean():.2f} | "
                f"{(b - a).mean():+.2f} [{low:+.2f}, {high:+.2f}] |"
            )
    return lines


def labels_report() -> str:
    """Section 7: each Procgen labeller's own play against random, and how well a picture predicts its labels."""
    games = FAMILIES["procgen"].games
    rows = [  # (labeller, data, what its label depends on besides the picture's state)
        ("holds", "small", "state, random draws, plan, places visited"),
        ("holds", "large", "state, random draws, plan, places visited"),
        ("holds-smooth", "small", f"as holds, majority of the next {SMOOTH_WINDOW}"),
        *((labeller, "small", f"state only, {REACTIVE[labeller]['horizon']}-step holds") for labeller in REACTIVE),
    ]
    lines = [
        f"Classifier as in section 5 ({ClassifierConfig().steps} steps of {ClassifierConfig().batch_size}, 64 px), "
        f"trained on all but the last {VALIDATION_EPISODES} episodes of each game; held-out accuracy (majority "
        "label's in brackets). Demonstrator play: normalized score, difference from random on the same seeds "
        "[paired 95% bootstrap CI]; `holds` played seeds 1000-1019 (bc_diagnosis), `reactive` the seeds of its own "
        f"demonstrations (0 on, {MAX_STEPS}-step cap, random replayed on each). Made by `python "
        "experiments/bc_classifier.py collect --labeller reactive --episodes 20 && ... train --labeller reactive "
        "&& ... report --labels --write`.",
        "",
        "| labeller | label depends on | data | "
        + " | ".join(f"{g} demonstrator play | {g} held-out accuracy | {g} label repeats" for g in games)
        + " |",
        "|---|---|---|" + "---|---|---|" * len(games),
    ]
    for labeller, data, depends in rows:
        metrics_path = run_dir("procgen", data, labeller) / "metrics.json"
        metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else None
        cells = []
        for game in games:
            if labeller in REACTIVE:
                play = paired_cell(
                    episodes_in(play_folder(labeller) / f"{game}.json"),
                    episodes_in(play_folder("random") / f"{game}.json"),
                )
            elif labeller == "holds-smooth":
                play = "not played (relabelled holds demos)"
            else:
                play = paired_cell(
                    episodes_in(random_episodes("procgen", game, "expert")),
                    episodes_in(random_episodes("procgen", game)),
                )
            repeats = label_repeats(labeller, game) if data == "small" else "-"
            accuracy = (
                f"{metrics['curve'][-1][game]:.2f} ({metrics['majority_accuracy'][game]:.2f}), "
                f"{metrics['frames'][game]} frames"
                if metrics
                else "-"
            )
            cells += [play, accuracy, repeats]
        lines.append(f"| {labeller} | {depends} | {data} | " + " | ".join(cells) + " |")
    return "\n".join(lines + same_levels_table(games))


def main(argv: list[str] | None = None) -> int:
    """Command line: ``collect``, ``train``, ``eval`` or ``report``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=("collect", "train", "eval", "train-flow", "eval-flow", "report"))
    parser.add_argument("--family", choices=tuple(FAMILIES), default="procgen")
    parser.add_argument("--data", choices=("small", "large"), default="small")
    parser.add_argument("--labeller", choices=LABELLERS, default="holds")
    parser.add_argument("--episodes", type=int, default=100, help="collect: episodes per game in the large set")
    parser.add_argument("--games", nargs="*", default=None, help="collect --labeller reactive: these games only")
    parser.add_argument("--arm", choices=tuple(FLOW_ARMS), default="flow", help="train-flow/eval-flow: which variant")
    parser.add_argument("--write", action="store_true", help="report: into docs/results.md")
    parser.add_argument("--labels", action="store_true", help="report: section 7's labeller table instead")
    args = parser.parse_args(argv)
    if args.data == "large" and args.labeller != "holds":
        parser.error("the large set has hold-candidate labels only (--labeller holds)")
    if args.family != "procgen" and args.labeller != "holds":
        parser.error(f"--family {args.family} has its expert's labels only (leave --labeller at holds)")
    if args.labeller in REACTIVE and (args.family != "procgen" or args.data != "small"):
        parser.error(f"--labeller {args.labeller} records its own procgen episodes (--family procgen --data small)")
    if args.stage == "collect" and args.labeller in REACTIVE:
        for game in args.games or FAMILIES[args.family].games:
            collect_scored(game, args.episodes, args.labeller)
    elif args.stage == "collect":
        collect(args.family, args.episodes)
    elif args.stage == "train":
        train(args.family, args.data, args.labeller, ClassifierConfig())
    elif args.stage == "eval":
        evaluate(args.family, args.data, args.labeller)
    elif args.stage == "train-flow":
        train_flow(args.family, args.data, args.labeller, args.arm)
    elif args.stage == "eval-flow":
        evaluate_flow(args.family, args.data, args.labeller, args.arm)
    else:
        text = labels_report() if args.labels else report()
        print(text)
        if args.write:
            from bc_diagnosis import write_report

            markers = (
                (LABELS_BEGIN, LABELS_END)
                if args.labels
                else ("<!-- bc-classifier:begin -->", "<!-- bc-classifier:end -->")
            )
            write_report(text, *markers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
