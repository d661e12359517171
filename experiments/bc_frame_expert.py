"""Procgen labels a picture can predict: clone the frame expert, which sees only the current frame (issue 15).

docs/results.md sections 5 and 7: a classifier does not read the planner's labels (or the reactive
planner's) from pictures of unseen levels, because those labels depend on the emulator's state, the
enemies' next random moves and the plan. The frame expert (``nitrogen_datasets.experts.frame_procgen``)
decides from the current frame alone, so its label is a function of the picture by construction. This
script measures both halves of what cloning needs, on Procgen ``easy`` with the 400-step cap of section 7:

1. does the frame expert play well? (seeds 1000-1019, against random play on the same seeds)
2. does a classifier read its labels from pictures of levels it did not train on? (section 5's CNN and
   settings, trained on the demonstrations of seeds 0-15, held-out accuracy on seeds 16-19 against
   always answering the majority label)
3. does the clone play above random? (the same evaluation seeds, argmax and sampled)

Stages (each resumable; rerun the same command)::

    python experiments/bc_frame_expert.py collect --episodes 20   # demonstrations, seeds 0-19
    python experiments/bc_frame_expert.py play                    # expert and random, seeds 1000-1019
    python experiments/bc_frame_expert.py agreement               # labels given again from the stored frames
    python experiments/bc_frame_expert.py train --steps 3000      # one classifier per game (arm bc3000)
    python experiments/bc_frame_expert.py eval --arm bc3000       # the clones on seeds 1000-1019, argmax and sampled
    python experiments/bc_frame_expert.py report --write          # section 10 of docs/results.md
    python experiments/bc_frame_expert.py versus --games Heist FruitBot --episodes 20  # easy and hard, 1000 steps
    python experiments/bc_frame_expert.py versus-report           # docs/experts.md's frame expert table

Each trained classifier is an *arm* (``--arm``, default ``bc<steps>``) whose settings (steps, demonstrations
used, held-out levels, dropping capped demonstrations, initial weights, DAgger data) are saved beside its
checkpoint; ``train`` checkpoints every EVAL_EVERY steps and a rerun resumes bit for bit. DAgger: ``relabel
--arm A`` plays clone A on its own training levels and has the expert label every frame it met (the expert
needs only the frame); ``train --arm B --dagger A --init A`` trains on the demonstrations plus those frames.
DAgger with a mixture, on new levels: ``relabel --arm A --set S --beta 0.5 --levels 100 139`` plays levels
100-139 with the expert's action taken with probability 0.5 at each step (else clone A's argmax; seeded by the
level) and the expert's label on every frame; ``train --arm B --init A --dagger S1 S2 ...`` adds every set so
far. Levels must miss the evaluation seeds and A's held-out levels. ``eval`` also plays ``norepeat``: the
argmax, except that on a frame equal to the previous one the actions already played on it are skipped.

The expert reads 128 px observations (its parser's size); the demonstrations are recorded at 128 px and the
classifier reads them at section 5's 64 px, as it plays.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bc_classifier import (
    EVAL_EPISODES,
    N_ACTIONS,
    PLAY_MODES,
    VALIDATION_EPISODES,
    ClassifierConfig,
    build_network,
    episodes_in,
    held_out_accuracy,
    load_frames,
    native_labels,
    paired_cell,
)
from bc_diagnosis import FIRST_SEED, MAX_STEPS, atomic_json, episode_record, play_out
from bc_labels import OBS_SIZE

from nitrogen_datasets.experts.frame_procgen import PARSE_SIZE, PARSERS

OUT = Path("runs/bc_frame_expert")
TASK = "easy"
GAMES = tuple(PARSERS)
BEGIN, END = "<!-- bc-frame-expert:begin -->", "<!-- bc-frame-expert:end -->"
EVAL_EVERY = 250  # training steps between held-out accuracy measurements
# how a clone plays: section 5's argmax and sampled, and argmax that does not repeat an action on an unchanged frame
CLONE_MODES = (*PLAY_MODES, "norepeat")


def make_env(game: str, obs_size: int) -> Any:
    """The game on the ``easy`` task at ``obs_size`` pixels."""
    import gymnasium as gym

    return gym.make(f"NitroGen/{game}-v0", obs_size=obs_size, task=TASK)


def demo_folder(game: str) -> Path:
    """The frame expert's demonstrations of ``game``."""
    return OUT / "demos" / game


def collect(game: str, episodes: int) -> None:
    """Record the expert's episodes on seeds 0 on (400-step cap), one per call: a kill loses at most one."""
    from nitrogen_datasets.experts.frame_procgen import FrameExpert
    from nitrogen_datasets.format import load_info
    from nitrogen_datasets.record import record_episodes
    from nitrogen_datasets.writer import DatasetWriter

    folder = demo_folder(game)
    info = folder / "meta" / "info.json"
    have = len(load_info(folder).episodes) if info.is_file() else 0
    env = make_env(game, PARSE_SIZE)
    started = time.perf_counter()
    try:
        with DatasetWriter(folder) as writer:
            for seed in range(have, episodes):
                record_episodes(
                    env, FrameExpert(), 1, writer, seed=seed, source="frame", max_steps=MAX_STEPS, progress=False
                )
                print(f"collect {game} seed {seed} ({time.perf_counter() - started:.0f} s)", flush=True)
    finally:
        env.close()


def play_episode(game: str, seed: int, who: str, network: Any = None) -> dict[str, Any]:
    """One episode on ``seed``: the frame expert (128 px), random native actions, or a clone (64 px)."""
    import torch
    from gymnasium.spaces import Discrete

    from nitrogen_datasets.experts.frame_procgen import FrameExpert
    from nitrogen_envs.base import unwrap

    env = make_env(game, PARSE_SIZE if who == "expert" else OBS_SIZE)
    base = unwrap(env)
    space = base.native_action_space()
    assert isinstance(space, Discrete)  # Procgen's 15 native actions
    space.seed(seed)
    generator = torch.Generator().manual_seed(seed)
    previous: list[Any] = [None, set()]  # norepeat: the last frame, the actions already played on it

    def clone(obs: np.ndarray, info: dict[str, Any]) -> Any:
        with torch.no_grad():
            logits = network(torch.from_numpy(obs[None].copy()), torch.tensor([0]))[0][: int(space.n)]
        if who == "norepeat":
            # an unchanged frame means the last action did nothing (a wall): try the next likeliest, and so on
            if previous[0] is None or not np.array_equal(previous[0], obs) or len(previous[1]) >= len(logits):
                previous[:] = [obs.copy(), set()]
            logits[sorted(previous[1])] = -float("inf")
            action = int(logits.argmax())
            previous[1].add(action)
            return base.native_to_gamepad(action)
        if who == "argmax":
            return base.native_to_gamepad(int(logits.argmax()))
        return base.native_to_gamepad(int(torch.multinomial(torch.softmax(logits, 0), 1, generator=generator)))

    started = time.perf_counter()
    try:
        obs, info = env.reset(seed=seed)
        act: Callable[[np.ndarray, dict[str, Any]], Any] = clone
        if who == "random":
            act = lambda o, i: base.native_to_gamepad(space.sample())  # noqa: E731
        elif who == "expert":
            expert = FrameExpert()
            expert.reset(env, seed)
            act = expert.act
        info, steps = play_out(env, obs, info, act)
    finally:
        env.close()
    return episode_record(seed, info, steps, started)


def play_path(who: str, game: str) -> Path:
    """Episodes of one player on the evaluation seeds: ``expert``, ``random``, or a clone's ``<arm>-argmax``/``<arm>-sample``."""
    return OUT / "play" / who / f"{game}.json"


def play_all(game: str, who: str, network: Any = None, arm: str | None = None, step: int | None = None) -> None:
    """Every evaluation seed not yet played by ``who`` (the clone of ``arm`` after ``step`` training steps).

    The file is rewritten after each episode; episodes of the same arm at another step are discarded.
    """
    name = who if arm is None else f"{arm}-{who}"
    path = play_path(name, game)
    rows = episodes_in(path) if played_step(path) == step else []
    for k in range(len(rows), EVAL_EPISODES):
        rows.append(play_episode(game, FIRST_SEED + k, who, network))
        atomic_json(path, {"game": game, "mode": name, "step": step, "episodes": rows})
        print(f"play {name} {game} seed {FIRST_SEED + k}: {rows[-1]}", flush=True)


def played_step(path: Path) -> int | None:
    """The training step of the clone whose episodes ``path`` holds (``None``: not a clone, or none recorded)."""
    return json.loads(path.read_text()).get("step") if path.is_file() else None


@dataclass(frozen=True)
class Arm:
    """How one clone is trained; saved beside its checkpoint so a rerun resumes it or refuses other settings."""

    name: str
    steps: int
    episodes: int = 20  # demonstrations used: seeds 0 to episodes - 1
    held_out: int = VALIDATION_EPISODES  # the last this many of them: held-out label accuracy, never trained on
    drop_capped: bool = False  # train only on demonstrations the expert ended before the step cap
    init: str | None = None  # start from this arm's final weights (a fresh optimizer)
    dagger: tuple[str, ...] = ()  # arms whose own play on the training levels the expert relabelled (added data)


def run_dir(arm: str, game: str) -> Path:
    """One clone's checkpoint, weights and metrics."""
    return OUT / "runs" / arm / game


def dagger_dir(arm: str, game: str) -> Path:
    """Frames the clone ``arm`` met playing the training levels, labelled by the expert (one file per seed)."""
    return OUT / "dagger" / arm / game


def demo_data(game: str, arm: Arm) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """64 px frames, native labels, the held-out mask and the training mask of ``arm``'s demonstrations.

    Training frames exclude the held-out episodes; held-out frames are every step of the last ``held_out``
    episodes. ``drop_capped`` removes, from both, episodes that ran to the step cap (the expert's waiting and
    dithering on levels it cannot solve), so the held-out accuracy measures the labels the clone is taught.
    """
    frames, labels, episode = load_frames("procgen", demo_folder(game), game)
    have = int(episode.max()) + 1
    if have < arm.episodes:
        raise SystemExit(
            f"Error: arm {arm.name} needs {arm.episodes} {game} demonstrations, {have} recorded; "
            f"run: python experiments/bc_frame_expert.py collect --games {game} --episodes {arm.episodes}"
        )
    keep = episode < arm.episodes
    frames, labels, episode = frames[keep], labels[keep], episode[keep]
    held = episode >= arm.episodes - arm.held_out
    kept = np.bincount(episode)[episode] < MAX_STEPS if arm.drop_capped else np.ones(len(labels), bool)
    return frames, labels, held & kept, ~held & kept


def relabel_spec(name: str, game: str) -> dict[str, Any] | None:
    """How the relabelled set ``name`` was made (``relabel.json``; ``None`` for a set of the first, plain kind)."""
    path = dagger_dir(name, game) / "relabel.json"
    return json.loads(path.read_text()) if path.is_file() else None


def dagger_data(game: str, arm: Arm) -> tuple[np.ndarray, np.ndarray]:
    """The relabelled frames of every set in ``arm.dagger`` (none held out).

    A set is the folder ``relabel --set NAME`` wrote: a plain one (``relabel --arm A``, named ``A``) holds clone
    A's argmax play on A's training levels; a mixture set names its clone, levels and beta in ``relabel.json``.
    """
    from safetensors.numpy import load_file

    frames, labels = [np.zeros((0, OBS_SIZE, OBS_SIZE, 3), np.uint8)], [np.zeros(0, np.int64)]
    for source in arm.dagger:
        files = sorted(dagger_dir(source, game).glob("*.safetensors"))
        spec = relabel_spec(source, game)
        wanted = arm.episodes - arm.held_out if spec is None else spec["levels"][1] - spec["levels"][0] + 1
        if len(files) < wanted:
            again = f"--arm {source}" if spec is None else relabel_words(spec, source)
            raise SystemExit(
                f"Error: {len(files)} of {wanted} relabelled {game} episodes of set {source}; run: python "
                f"experiments/bc_frame_expert.py relabel --games {game} {again}"
            )
        for file in files:
            data = load_file(str(file))
            frames.append(data["frames"])
            labels.append(data["labels"])
    return np.concatenate(frames), np.concatenate(labels)


def save_checkpoint(path: Path, network: Any, optimizer: Any, generator: Any, step: int) -> None:
    """Weights, AdamW moments and the batch generator at ``step``, written so a kill leaves the old or the new file."""
    import torch
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().contiguous() for k, v in network.state_dict().items()}
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            tensors[f"optimizer.{index}.{key}"] = torch.as_tensor(value).contiguous()
    tensors["generator"] = generator.get_state()
    tmp = path.with_name(path.name + ".partial")
    save_file(tensors, str(tmp), metadata={"step": str(step)})
    os.replace(tmp, path)


def load_checkpoint(path: Path, network: Any, optimizer: Any, generator: Any) -> int:
    """Restore what :func:`save_checkpoint` wrote; the step it was taken at."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    network.load_state_dict({k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    optimizer_state = optimizer.state_dict()
    optimizer_state["state"] = state
    optimizer.load_state_dict(optimizer_state)
    generator.set_state(tensors["generator"])
    with safe_open(str(path), "pt") as handle:
        return int(handle.metadata()["step"])


def train(game: str, arm: Arm) -> None:
    """Section 5's classifier (one game, one head) on ``arm``'s data; held-out accuracy every EVAL_EVERY steps.

    Checkpointed every EVAL_EVERY steps: rerunning the same command after a kill resumes where it stopped.
    """
    import torch
    from safetensors.torch import load_model, save_model

    out = run_dir(arm.name, game)
    if (out / "metrics.json").is_file():
        return
    out.mkdir(parents=True, exist_ok=True)
    spec_path = out / "arm.json"
    if spec_path.is_file() and json.loads(spec_path.read_text()) != json.loads(json.dumps(asdict(arm))):
        raise SystemExit(
            f"Error: {spec_path} was started with other settings ({spec_path.read_text().strip()}); "
            "use another --arm name or delete that folder"
        )
    atomic_json(spec_path, asdict(arm))
    config = ClassifierConfig(steps=arm.steps)
    torch.manual_seed(config.seed)
    torch.set_num_threads(1)
    frames, labels, held_np, train_np = demo_data(game, arm)
    extra_frames, extra_labels = dagger_data(game, arm)
    x = torch.from_numpy(np.concatenate([frames, extra_frames]))
    y = torch.from_numpy(np.concatenate([labels, extra_labels]))
    held = torch.from_numpy(np.concatenate([held_np, np.zeros(len(extra_labels), bool)]))
    trained = torch.from_numpy(np.concatenate([train_np, np.ones(len(extra_labels), bool)]))
    g = torch.zeros(len(y), dtype=torch.long)
    network = build_network(n_actions=N_ACTIONS, n_games=1)
    if arm.init is not None:
        load_model(network, str(run_dir(arm.init, game) / "model.safetensors"))
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    train_index = torch.nonzero(trained).squeeze(1)
    generator = torch.Generator().manual_seed(config.seed)
    train_labels = y[trained].numpy()
    majority_label = int(np.bincount(train_labels, minlength=N_ACTIONS).argmax())
    summary = {
        "config": asdict(config),
        "arm": asdict(arm),
        "frames": len(labels),
        "training_frames": int(train_np.sum()),
        "relabelled_frames": len(extra_labels),
        "held_out_frames": int(held_np.sum()),
        "majority_label": majority_label,
        "majority_accuracy": float(np.mean(labels[held_np] == majority_label)),
        "label_counts": np.bincount(train_labels, minlength=N_ACTIONS).tolist(),
    }
    checkpoint, progress = out / "checkpoint.safetensors", out / "progress.json"
    first, curve, seconds = 1, [], 0.0
    if checkpoint.is_file():
        done = load_checkpoint(checkpoint, network, optimizer, generator)
        record = json.loads(progress.read_text())
        curve = [row for row in record["curve"] if row["step"] <= done]
        first, seconds = done + 1, float(record.get("seconds", 0.0))
        print(f"train {arm.name} {game}: resumed after step {done}", flush=True)
    started = time.perf_counter() - seconds
    for step in range(first, config.steps + 1):
        batch = train_index[torch.randint(len(train_index), (config.batch_size,), generator=generator)]
        shift = torch.randint(-2, 3, (2,), generator=generator)  # as section 5: small shifts
        frames_batch = torch.roll(x[batch], shifts=(int(shift[0]), int(shift[1])), dims=(1, 2))
        loss = torch.nn.functional.cross_entropy(network(frames_batch, g[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % EVAL_EVERY == 0 or step == config.steps:
            accuracy = held_out_accuracy(network, x, y, g, held, (game,))
            train_accuracy = held_out_accuracy(network, x, y, g, trained, (game,))[game]
            curve.append({"step": step, "loss": float(loss.detach()), **accuracy, "train": train_accuracy})
            save_checkpoint(checkpoint, network, optimizer, generator, step)
            elapsed = round(time.perf_counter() - started, 1)
            atomic_json(progress, {**summary, "curve": curve, "seconds": elapsed})  # report reads it if killed
            print(
                f"train {arm.name} {game} step {step}: loss {float(loss.detach()):.3f} {accuracy} "
                f"train {train_accuracy} ({elapsed} s)",
                flush=True,
            )
    tmp = out / "model.safetensors.partial"
    save_model(network, str(tmp))
    os.replace(tmp, out / "model.safetensors")
    atomic_json(out / "metrics.json", {**summary, "curve": curve, "seconds": round(time.perf_counter() - started, 1)})


def agreement(game: str) -> None:
    """Share of recorded steps whose label the rule gives again from the stored (video-decoded) 128 px frame.

    The expert's label is a function of the exact picture; the recording's video codec changes pixels, so this
    says how much of that function survives in the data a clone learns from.
    """
    from nitrogen_datasets.experts.frame_procgen import frame_action
    from nitrogen_datasets.imitation_bridge import episode_arrays
    from nitrogen_datasets.reader import DemoDataset

    path = OUT / "agreement" / f"{game}.json"
    if path.is_file():
        return
    dataset = DemoDataset(demo_folder(game))
    same = total = 0
    for position in range(len(dataset.episodes)):
        obs, actions, _, _ = episode_arrays(dataset, position, PARSE_SIZE)
        labels = native_labels("procgen", game, np.asarray(actions, dtype=np.float32))
        same += sum(frame_action(game, frame) == label for frame, label in zip(obs[:-1], labels, strict=True))
        total += len(labels)
    atomic_json(path, {"game": game, "steps": total, "same": int(same), "share": same / total})
    print(f"agreement {game}: {same}/{total}", flush=True)


def load_clone(arm: str, game: str, partial: bool = False) -> tuple[Any, int]:
    """The classifier of ``arm`` for ``game`` (eval mode, one thread) and the training step it stopped at.

    The finished run's weights; with ``partial``, an unfinished run's last checkpoint (for a time box).
    """
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, load_model

    torch.set_num_threads(1)
    network = build_network(n_actions=N_ACTIONS, n_games=1)
    out = run_dir(arm, game)
    checkpoint = out / "checkpoint.safetensors"
    if (out / "model.safetensors").is_file():
        load_model(network, str(out / "model.safetensors"))
        step = arm_spec(arm, game).steps
    elif partial and checkpoint.is_file():
        tensors = load_file(str(checkpoint))
        network.load_state_dict({k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")})
        with safe_open(str(checkpoint), "pt") as handle:
            step = int(handle.metadata()["step"])
    else:
        raise SystemExit(
            f"Error: no trained clone in {out}; run: python experiments/bc_frame_expert.py train --arm {arm} "
            f"--games {game} (or eval --partial for an unfinished run's last checkpoint)"
        )
    network.eval()
    return network, step


def evaluate(game: str, arm: str, modes: tuple[str, ...] = CLONE_MODES, partial: bool = False) -> None:
    """Play the clone ``arm`` of ``game`` on the evaluation seeds (argmax, sampled, argmax without repeats)."""
    network, step = load_clone(arm, game, partial)
    for mode in modes:
        play_all(game, mode, network, arm, step)


def relabel_words(spec: dict[str, Any], name: str) -> str:
    """The ``relabel`` options that make the mixture set ``name`` described by ``spec``."""
    first, last = spec["levels"]
    return f"--arm {spec['clone']} --set {name} --beta {spec['beta']:g} --levels {first} {last}"


def relabel(
    game: str, arm: str, beta: float = 0.0, levels: tuple[int, int] | None = None, name: str | None = None
) -> None:
    """DAgger's data: the clone ``arm`` plays levels (argmax) with the expert mixed in; the expert labels every frame.

    Plain (``beta`` 0, no ``levels``, no ``name``): the clone plays each of its own training levels and the set is
    named after it, as for ``dagger1``. Mixture: the set ``name`` (default ``<arm>-beta<beta>``) plays the levels
    ``levels`` (first and last seed, inclusive), and at each step the expert's action is played with probability
    ``beta``, else the clone's (a generator seeded by the level's seed decides, so a rerun plays the same
    episode). Either way every visited frame gets the expert's label. Levels must miss the evaluation seeds and
    the clone's held-out demonstration levels.

    The env runs at the expert's 128 px; the clone sees the frame shrunk to 64 px by the env's own resize (area
    averaging, so 512 -> 128 -> 64 is 512 -> 64 up to rounding). The expert needs only the frame, so these
    labels cost one parse per step. One file per level: a kill loses at most one. A summary per set (levels,
    frames, agreement, returns) goes to ``relabel/<set>/<game>.json``.
    """
    import torch
    from gymnasium.spaces import Discrete
    from safetensors.numpy import save_file

    from nitrogen_datasets.experts.frame_procgen import frame_action
    from nitrogen_envs.base import unwrap
    from nitrogen_envs.image import resize_frame

    if not 0.0 <= beta <= 1.0:
        raise SystemExit(f"Error: --beta must be in [0, 1], got {beta}")
    spec = arm_spec(arm, game)
    held_out = range(spec.episodes - spec.held_out, spec.episodes)
    plain = beta == 0.0 and levels is None and name is None
    name = arm if plain else (name or f"{arm}-beta{beta:g}")
    seeds = list(range(spec.episodes - spec.held_out)) if levels is None else list(range(levels[0], levels[1] + 1))
    if not seeds:
        raise SystemExit(f"Error: --levels {levels} names no level")
    clash = sorted(set(seeds) & (set(held_out) | set(range(FIRST_SEED, FIRST_SEED + EVAL_EPISODES))))
    if clash:
        raise SystemExit(
            f"Error: levels {clash} are evaluation seeds ({FIRST_SEED}-{FIRST_SEED + EVAL_EPISODES - 1}) or "
            f"{arm}'s held-out levels ({held_out.start}-{held_out.stop - 1}); pick others"
        )
    folder = dagger_dir(name, game)
    folder.mkdir(parents=True, exist_ok=True)
    if not plain:
        wanted = {"clone": arm, "beta": beta, "levels": [seeds[0], seeds[-1]]}
        if relabel_spec(name, game) not in (None, wanted):
            raise SystemExit(
                f"Error: set {name} was made with {relabel_spec(name, game)}; use another --set name or delete {folder}"
            )
        atomic_json(folder / "relabel.json", wanted)
    network, _ = load_clone(arm, game)
    rows = []
    for seed in seeds:
        path = folder / f"{seed:04d}.safetensors"
        if not path.is_file():
            env = make_env(game, PARSE_SIZE)
            base = unwrap(env)
            space = base.native_action_space()
            assert isinstance(space, Discrete)  # Procgen's 15 native actions
            n_native = int(space.n)
            mixture = np.random.default_rng(seed)
            frames, labels, taken, turns = [], [], [], []
            try:
                obs, info = env.reset(seed=seed)
                for _ in range(MAX_STEPS):
                    small = resize_frame(obs, (OBS_SIZE, OBS_SIZE))
                    frames.append(small)
                    labels.append(frame_action(game, obs))
                    with torch.no_grad():
                        logits = network(torch.from_numpy(small[None].copy()), torch.tensor([0]))[0][:n_native]
                    taken.append(int(logits.argmax()))
                    turns.append(bool(mixture.random() < beta))
                    action = labels[-1] if turns[-1] else taken[-1]
                    obs, _, terminated, truncated, info = env.step(base.native_to_gamepad(action))
                    if terminated or truncated:
                        break
            finally:
                env.close()
            arrays = {
                "frames": np.stack(frames),
                "labels": np.asarray(labels, np.int64),
                "clone": np.asarray(taken, np.int64),
                "expert_turn": np.asarray(turns, np.uint8),
                "episode_return": np.asarray([float(info["episode_return"])]),
            }
            tmp = path.with_name(path.name + ".partial")
            save_file(arrays, str(tmp))
            os.replace(tmp, path)
        rows.append(relabel_row(path, seed))
        print(f"relabel {name} {game}: {rows[-1]}", flush=True)
    summary = {
        "game": game,
        "set": name,
        "clone": arm,
        "beta": beta,
        "levels": [seeds[0], seeds[-1]],
        "frames": sum(row["frames"] for row in rows),
        "same": float(np.sum([row["same"] * row["frames"] for row in rows]) / sum(row["frames"] for row in rows)),
        "rows": rows,
    }
    atomic_json(OUT / "relabel" / name / f"{game}.json", summary)


def relabel_row(path: Path, seed: int) -> dict[str, Any]:
    """One relabelled level: frames, clone = expert share, the expert's share of the steps, the return.

    The first kind of file (``dagger1``'s) stored neither the expert's turns (none) nor the return (``None``).
    """
    from safetensors.numpy import load_file

    data = load_file(str(path))
    labels, clone = data["labels"], data["clone"]
    turns = data.get("expert_turn", np.zeros(len(labels), np.uint8))
    return {
        "seed": seed,
        "frames": len(labels),
        "same": float(np.mean(labels == clone)),
        "expert_turns": float(np.mean(turns)),
        "return": float(data["episode_return"][0]) if "episode_return" in data else None,
    }


def diagnose_episode(game: str, arm: str, network: Any, seed: int, driver: str) -> dict[str, Any]:
    """One evaluation level driven by the expert or by the clone; how often the clone's argmax is the expert's label.

    Both read the same live frame (the expert at 128 px, the clone at 64 px shrunk from it, as in ``relabel``).
    Driven by the expert, this is label reading on the expert's own states without the video codec; driven by
    the clone, it is label reading on the states the clone itself reaches. ``stuck``: share of clone-driven
    steps whose 64 px frame equals the previous one (walking into a wall: same frame, same action, forever).
    """
    import torch
    from gymnasium.spaces import Discrete

    from nitrogen_datasets.experts.frame_procgen import frame_action
    from nitrogen_envs.base import unwrap
    from nitrogen_envs.image import resize_frame

    env = make_env(game, PARSE_SIZE)
    base = unwrap(env)
    space = base.native_action_space()
    assert isinstance(space, Discrete)  # Procgen's 15 native actions
    same = stuck = steps = 0
    previous: np.ndarray | None = None
    try:
        obs, info = env.reset(seed=seed)
        done = False
        while not done:
            steps += 1
            small = resize_frame(obs, (OBS_SIZE, OBS_SIZE))
            label = frame_action(game, obs)
            with torch.no_grad():
                logits = network(torch.from_numpy(small[None].copy()), torch.tensor([0]))[0][: int(space.n)]
            guess = int(logits.argmax())
            same += guess == label
            stuck += previous is not None and bool(np.array_equal(previous, small))
            previous = small
            obs, _, terminated, truncated, info = env.step(
                base.native_to_gamepad(label if driver == "expert" else guess)
            )
            done = terminated or truncated or steps >= MAX_STEPS
    finally:
        env.close()
    return {
        "seed": seed,
        "steps": steps,
        "same": same / steps,
        "stuck": stuck / steps,
        "return": info["episode_return"],
    }


def diagnose(game: str, arm: str) -> None:
    """Label reading off the expert's states and on the clone's own, on the evaluation levels (one file per arm)."""
    path = OUT / "diagnose" / arm / f"{game}.json"
    record: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {"game": game, "arm": arm}
    network, _ = load_clone(arm, game)
    for driver in ("expert", "clone"):
        rows = record.setdefault(driver, [])
        for k in range(len(rows), EVAL_EPISODES):
            rows.append(diagnose_episode(game, arm, network, FIRST_SEED + k, driver))
            atomic_json(path, record)
        print(
            f"diagnose {arm} {game} driven by {driver}: clone = expert on "
            f"{np.mean([row['same'] for row in rows]):.2f} of steps",
            flush=True,
        )


def training_record(arm: str, game: str) -> dict[str, Any] | None:
    """The finished run's metrics, else the last progress of an unfinished one (``done`` says which)."""
    for name, done in (("metrics.json", True), ("progress.json", False)):
        path = run_dir(arm, game) / name
        if path.is_file():
            return {**json.loads(path.read_text()), "done": done}
    return None


def arm_spec(arm: str, game: str) -> Arm:
    """The settings ``arm`` was trained with on ``game`` (its ``arm.json``)."""
    spec = json.loads((run_dir(arm, game) / "arm.json").read_text())
    return Arm(**{**spec, "dagger": tuple(spec["dagger"])})


def arm_command(spec: Arm, game: str) -> str:
    """The ``train`` command line that trains ``spec`` on ``game``."""
    words = [f"train --games {game} --arm {spec.name} --steps {spec.steps}"]
    if spec.episodes != Arm.episodes:
        words.append(f"--episodes {spec.episodes}")
    if spec.held_out != Arm.held_out:
        words.append(f"--held-out {spec.held_out}")
    if spec.drop_capped:
        words.append("--drop-capped")
    if spec.init is not None:
        words.append(f"--init {spec.init}")
    if spec.dagger:
        words.append("--dagger " + " ".join(spec.dagger))
    return " ".join(words)


def arms_of(game: str) -> list[str]:
    """Every trained (or training) clone of ``game``, in the order they were started."""
    found = [path.parent.parent.name for path in (OUT / "runs").glob(f"*/{game}/arm.json")]
    return sorted(found, key=lambda arm: (run_dir(arm, game) / "arm.json").stat().st_mtime)


def arm_cells(arm: str, game: str, base: list[dict[str, Any]]) -> str:
    """One clone's table row: its data, held-out accuracy and play against random."""
    metrics = training_record(arm, game)
    if metrics is None:
        return ""
    spec = arm_spec(arm, game)
    levels = (
        f"levels 0-{spec.episodes - spec.held_out - 1}, held out {spec.episodes - spec.held_out}-{spec.episodes - 1}"
    )
    data = [levels + (", capped demos dropped" if spec.drop_capped else "")]
    if spec.init is not None:
        data.append(f"from {spec.init}'s weights")
    if spec.dagger:
        sets = []
        for name in spec.dagger:
            made = relabel_spec(name, game)
            if made is None:
                sets.append(f"{name}'s play")
            else:
                first, last = made["levels"]
                sets.append(f"`{name}`: {made['clone']} on levels {first}-{last}, expert played w.p. {made['beta']:g}")
        data.append(f"+ {metrics.get('relabelled_frames', 0)} relabelled frames ({'; '.join(sets)})")
    final = metrics["curve"][-1] if metrics["curve"] else None
    accuracy = "-"
    if final is not None:
        trained = metrics.get("training_frames", metrics["frames"] - metrics["held_out_frames"])
        accuracy = (
            f"{final[game]:.2f} ({metrics['majority_accuracy']:.2f}) / {final['train']:.2f} at step {final['step']}"
            + ("" if metrics["done"] else " (still training)")
            + f"; {metrics['held_out_frames']} held-out / {trained} training frames"
        )
        best = max(metrics["curve"], key=lambda row: row[game])
        if best["step"] != final["step"]:
            accuracy += f"; best {best[game]:.2f} at step {best['step']}"
    clones = []
    for mode in CLONE_MODES:
        path = play_path(f"{arm}-{mode}", game)
        step = played_step(path)
        at = f" (weights of step {step})" if step is not None and step != spec.steps else ""
        clones.append(paired_cell(episodes_in(path), base) + at)
    return (
        f"| {game} | `{arm}`: {'; '.join(data)} | {accuracy} | {diagnosis_cell(arm, game)} | "
        + " | ".join(clones)
        + " |"
    )


def diagnosis_cell(arm: str, game: str) -> str:
    """Label agreement on the evaluation levels with the expert driving / the clone driving (stuck share)."""
    path = OUT / "diagnose" / arm / f"{game}.json"
    if not path.is_file():
        return "-"
    record = json.loads(path.read_text())

    def share(rows: list[dict[str, Any]], key: str) -> float:
        steps = np.array([row["steps"] for row in rows])
        return float(np.sum(np.array([row[key] for row in rows]) * steps) / steps.sum())

    expert, clone = record.get("expert", []), record.get("clone", [])
    if len(expert) < EVAL_EPISODES or len(clone) < EVAL_EPISODES:
        return "-"
    return f"{share(expert, 'same'):.2f} / {share(clone, 'same'):.2f} ({share(clone, 'stuck'):.2f})"


def report() -> str:
    """Markdown: the expert's play and each clone's held-out accuracy and play, all against random."""
    config = ClassifierConfig()
    lines = [
        f"Procgen `{TASK}`, {MAX_STEPS}-step cap. Play: seeds {FIRST_SEED}-{FIRST_SEED + EVAL_EPISODES - 1} (no "
        "demonstration came from them), normalized score (difference from random play on the same seeds [paired "
        "95% bootstrap CI]), episodes. Rule on stored frames: share of the recorded steps (the first 20 "
        "demonstrations) whose label the expert's rule gives again from the frame as stored (video-decoded, "
        "128 px). Demonstrations: seeds 0 on, one level each; capped: ran to the step cap unsolved.",
        "",
        "| game | frame expert | random | rule on stored frames | demonstrations (capped) |",
        "|---|---|---|---|---|",
    ]
    for game in GAMES:
        base = episodes_in(play_path("random", game))
        expert = paired_cell(episodes_in(play_path("expert", game)), base)
        random_mean = f"{np.mean([e['normalized'] for e in base]):.2f}" if base else "-"
        same_path = OUT / "agreement" / f"{game}.json"
        same = "-"
        if same_path.is_file():
            record = json.loads(same_path.read_text())
            same = f"{record['share']:.2f} of {record['steps']} steps"
        counts = demo_counts(game)
        if counts is None and not base:
            continue  # a game the frame expert plays that this experiment has not run
        demos = "-" if counts is None else f"{counts['episodes']} ({counts['capped']}), {counts['frames']} frames"
        lines.append(f"| {game} | {expert} | {random_mean} | {same} | {demos} |")
    lines += [
        "",
        f"Clones: section 5's CNN at 64 px, one game per network, batches of {config.batch_size} (AdamW, lr "
        f"{config.lr}, weight decay {config.weight_decay}, seed {config.seed}, shifts of up to 2 px), trained on "
        "the levels each row names; held-out accuracy on the held-out levels (always answering the majority "
        "training label in brackets; accuracy on the training frames after the slash). Play: the likeliest "
        "action (argmax) or one drawn from the softmax (sampled) every frame, or the argmax over the actions not "
        "yet played on an unchanged frame (no repeat: when the frame equals the previous one, the last action "
        "did nothing, so the next likeliest is tried). Clone = expert: on the 20 "
        "evaluation levels, the share of steps whose argmax is the expert's label for the same live frame (no "
        "video codec), when the expert plays and when the clone plays (in brackets: share of the clone's steps "
        "on an unchanged frame, i.e. pushing into a wall); `diagnose --games GAME --arm NAME`.",
        "",
        "| game | clone: training data | held-out accuracy (majority) / training | clone = expert: expert "
        "driving / clone driving (stuck) | argmax | sampled | argmax, no repeat |",
        "|---|---|---|---|---|---|---|",
    ]
    commands, made_sets = [], set()
    for game in GAMES:
        base = episodes_in(play_path("random", game))
        for arm in arms_of(game):
            row = arm_cells(arm, game, base)
            if row:
                lines.append(row)
                spec = arm_spec(arm, game)
                for name in spec.dagger:
                    made = relabel_spec(name, game)
                    if made is not None and name not in made_sets:
                        made_sets.add(name)
                        commands.append(f"relabel --games {game} {relabel_words(made, name)}")
                commands.append(arm_command(spec, game))
    lines += [
        "",
        "Made by `python experiments/bc_frame_expert.py` with, in order: "
        + "".join(
            f"`collect --games {game} --episodes {counts['episodes']}`, "
            for game in GAMES
            if (counts := demo_counts(game)) is not None
        )
        + "`play`, "
        "`agreement`, then per clone "
        + ", ".join(f"`{command}`" for command in commands)
        + " (`dagger1` after `relabel --games Chaser --arm bc1000`), `eval --games GAME --arm NAME` and "
        "`report --write`.",
    ]
    return "\n".join(lines)


def load_lengths(game: str) -> list[int]:
    """Step counts of ``game``'s recorded demonstrations (none when there are none)."""
    from nitrogen_datasets.format import load_info

    if not (demo_folder(game) / "meta" / "info.json").is_file():
        return []
    return [episode.length for episode in load_info(demo_folder(game)).episodes]


def demo_counts(game: str) -> dict[str, int] | None:
    """Demonstrations, capped ones and frames of ``game``: from the recordings, else as last recorded.

    The counts are saved to ``demo_counts/<game>.json`` whenever the recordings are there, so the report can be
    rebuilt from the committed results alone (the recordings themselves are not committed).
    """
    path = OUT / "demo_counts" / f"{game}.json"
    lengths = load_lengths(game)
    if lengths:
        counts = {
            "episodes": len(lengths),
            "capped": sum(length >= MAX_STEPS for length in lengths),
            "frames": sum(lengths),
        }
        atomic_json(path, counts)
        return counts
    return json.loads(path.read_text()) if path.is_file() else None


VERSUS = Path("experiments/results/bc_frame_expert/versus")
VERSUS_MAX_STEPS = 1000  # the expert-report cap of docs/experts.md
VERSUS_TASKS = ("easy", "hard")


def versus_episode(game: str, task: str, seed: int, who: str) -> dict[str, Any]:
    """One episode of the frame expert or uniform random native actions on ``game``/``task`` (128 px, 1000 steps)."""
    import gymnasium as gym
    from gymnasium.spaces import Discrete

    from nitrogen_datasets.experts.frame_procgen import FrameExpert
    from nitrogen_envs.base import unwrap

    env = gym.make(f"NitroGen/{game}-v0", obs_size=PARSE_SIZE, task=task)
    base = unwrap(env)
    space = base.native_action_space()
    assert isinstance(space, Discrete)
    space.seed(seed)
    started = time.perf_counter()
    try:
        obs, info = env.reset(seed=seed)
        expert = FrameExpert()
        expert.reset(env, seed)

        def act(obs: np.ndarray, info: dict[str, Any]) -> Any:
            return expert.act(obs, info) if who == "expert" else base.native_to_gamepad(int(space.sample()))

        steps, done = 0, False
        while not done:
            obs, _, terminated, truncated, info = env.step(act(obs, info))
            steps += 1
            done = terminated or truncated or steps >= VERSUS_MAX_STEPS
        return episode_record(seed, info, steps, started)
    finally:
        env.close()


def versus(game: str, tasks: tuple[str, ...], episodes: int) -> None:
    """Expert and random on seeds 1000 on, each task; one file per task, rewritten after every episode."""
    from nitrogen_datasets.experts.errors import ExpertUnsupported

    for task in tasks:
        path = VERSUS / f"{game}-{task}.json"
        data: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {"game": game, "task": task}
        for who in ("expert", "random"):
            rows = data.setdefault(who, [])
            for k in range(len(rows), episodes):
                try:
                    rows.append(versus_episode(game, task, FIRST_SEED + k, who))
                except ExpertUnsupported as error:
                    print(f"versus {game} {task}: skipped ({error})", flush=True)
                    break
                atomic_json(path, data)
                print(f"versus {game} {task} {who} seed {FIRST_SEED + k}: {rows[-1]}", flush=True)


def versus_report() -> str:
    """Markdown table of every versus file: success, return, and the paired return difference [95% CI]."""
    from bc_diagnosis import bootstrap_ci

    lines = [
        "| game | task | episodes | expert success | expert return | random success | random return "
        "| expert - random return [95% CI] | expert normalized |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for path in sorted(VERSUS.glob("*.json")):
        data = json.loads(path.read_text())
        n = min(len(data.get("expert", [])), len(data.get("random", [])))
        if n == 0:  # versus is still playing this task's first arm (or the expert refused it)
            continue
        mine, base = data["expert"][:n], data["random"][:n]
        ret = np.array([e["return"] for e in mine])
        diff = ret - np.array([e["return"] for e in base])
        low, high = bootstrap_ci(diff)
        normalized = np.mean([e["normalized"] for e in mine])
        lines.append(
            f"| {data['game']} | {data['task']} | {n} | {np.mean([e['success'] for e in mine]):.0%} | {ret.mean():.2f} "
            f"| {np.mean([e['success'] for e in base]):.0%} | {np.mean([e['return'] for e in base]):.2f} "
            f"| {diff.mean():+.2f} [{low:+.2f}, {high:+.2f}] | {normalized:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``collect``, ``play``, ``agreement``, ``train``, ``relabel``, ``eval`` or ``report``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "stage",
        choices=(
            "collect",
            "play",
            "agreement",
            "train",
            "relabel",
            "eval",
            "diagnose",
            "report",
            "versus",
            "versus-report",
        ),
    )
    parser.add_argument("--games", nargs="*", choices=GAMES, default=list(GAMES))
    parser.add_argument(
        "--episodes", type=int, default=20, help="collect: demonstrations per game; train: used; versus: per task"
    )
    parser.add_argument("--modes", nargs="*", choices=CLONE_MODES, default=list(CLONE_MODES), help="eval: how to play")
    parser.add_argument("--beta", type=float, default=0.0, help="relabel: probability the expert's action is played")
    parser.add_argument("--levels", type=int, nargs=2, metavar=("FIRST", "LAST"), help="relabel: these level seeds")
    parser.add_argument("--set", help="relabel: name of the relabelled set (train --dagger NAME)")
    parser.add_argument("--steps", type=int, default=ClassifierConfig().steps, help="train: steps of 64")
    parser.add_argument("--arm", help="train/relabel/eval: the clone's name (train's default: bc<steps>)")
    parser.add_argument("--held-out", type=int, default=VALIDATION_EPISODES, help="train: last episodes held out")
    parser.add_argument("--drop-capped", action="store_true", help="train: skip demos that ran to the step cap")
    parser.add_argument("--init", help="train: start from this arm's weights")
    parser.add_argument("--dagger", nargs="*", default=[], help="train: add these relabelled sets (relabel --set)")
    parser.add_argument("--partial", action="store_true", help="eval: an unfinished run's last checkpoint")
    parser.add_argument("--write", action="store_true", help="report: into docs/results.md")
    parser.add_argument("--tasks", nargs="*", choices=VERSUS_TASKS, default=list(VERSUS_TASKS), help="versus: tasks")
    args = parser.parse_args(argv)
    if args.stage == "versus-report":
        print(versus_report())
        return 0
    arm = args.arm or f"bc{args.steps}"
    for game in args.games if args.stage != "report" else ():
        if args.stage == "collect":
            collect(game, args.episodes)
        elif args.stage == "play":
            play_all(game, "expert")
            play_all(game, "random")
        elif args.stage == "agreement":
            agreement(game)
        elif args.stage == "train":
            spec = Arm(arm, args.steps, args.episodes, args.held_out, args.drop_capped, args.init, tuple(args.dagger))
            train(game, spec)
        elif args.stage == "relabel":
            relabel(game, arm, args.beta, tuple(args.levels) if args.levels else None, args.set)
        elif args.stage == "diagnose":
            diagnose(game, arm)
        elif args.stage == "versus":
            versus(game, tuple(args.tasks), args.episodes)
        else:
            evaluate(game, arm, tuple(args.modes), args.partial)
    if args.stage == "report":
        text = report()
        print(text)
        if args.write:
            from bc_diagnosis import write_report

            write_report(text, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
