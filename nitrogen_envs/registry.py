"""The game registry: one row per embedded game, the single list that registration, the CLI and docs read.

Rows are plain data with string entry points, so importing this module (which Gymnasium does on every
``import gymnasium`` through our plugin hook) never imports a game engine.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from nitrogen_envs.errors import UnknownGame, UnknownTask

NAMESPACE = "NitroGen"
VERSION = 0

GENRES: tuple[str, ...] = ("3d-action", "platformer", "top-down/procedural", "arcade")

UNKNOWN_GAME = "<unknown>"
"""The game name of play whose game is not known: a policy's zero-shot game id, overlay videos of an unnamed game."""


@dataclass(frozen=True)
class TaskSpec:
    """One task of a game: what the agent is asked to do and how success is decided.

    Args:
        name: short id, passed as ``gym.make(..., task=name)``.
        success: the explicit success criterion, in words (it is what the env computes).
        expert_score: episode return that counts as 1.0 for ``score_normalized``; ``None`` when no
            reference exists yet.
        expert_source: where ``expert_score`` comes from.
        threshold: a number the success rule uses (score to reach, kills, tics survived), if any.
    """

    name: str
    success: str
    expert_score: float | None = None
    expert_source: str = ""
    threshold: float | None = None


@dataclass(frozen=True)
class GameSpec:
    """One embedded game.

    Args:
        name: CamelCase game name; the env id is ``NitroGen/<name>-v0``.
        engine: ``procgen``, ``ale``, ``vizdoom`` or ``crafter``.
        genre: one of :data:`GENRES`.
        engine_game: the engine's own id for the game (Procgen env name, ALE ROM id, ViZDoom scenario).
        tasks: the game's tasks; the first is the default.
        max_episode_steps: step cap applied by Gymnasium's ``TimeLimit`` (see the engine module for why).
        description: one line for ``nitrogen list`` and the README.
        save_states: whether ``save_state``/``load_state`` work for this game.
        native_fps: frames per second of one env step in game time, for videos and human play.
    """

    name: str
    engine: str
    genre: str
    engine_game: str
    tasks: tuple[TaskSpec, ...]
    max_episode_steps: int
    description: str
    save_states: bool = False
    native_fps: int = 15
    kwargs: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.genre not in GENRES:
            raise ValueError(f"game {self.name!r} has genre {self.genre!r}; choose one of {GENRES}")
        if not self.tasks:
            raise ValueError(f"game {self.name!r} declares no task")

    @property
    def env_id(self) -> str:
        """Gymnasium id, e.g. ``NitroGen/CoinRun-v0``."""
        return f"{NAMESPACE}/{self.name}-v{VERSION}"

    @property
    def entry_point(self) -> str:
        """String entry point, imported only by ``gym.make``."""
        return ENTRY_POINTS[self.engine]

    @property
    def default_task(self) -> TaskSpec:
        """The task used when ``task=`` is not given."""
        return self.tasks[0]

    def task(self, name: str | None) -> TaskSpec:
        """Look up a task by name (``None`` gives the default).

        Raises:
            UnknownTask: with the list of this game's tasks and the closest match.
        """
        if name is None:
            return self.default_task
        for task in self.tasks:
            if task.name == name:
                return task
        names = [task.name for task in self.tasks]
        close = difflib.get_close_matches(name, names, n=3)
        hint = f" Did you mean {close}?" if close else ""
        raise UnknownTask(f"{self.name} has no task {name!r}.{hint} Its tasks are: {names}")


ENTRY_POINTS: dict[str, str] = {
    "procgen": "nitrogen_envs.engines.procgen:ProcgenEnv",
    "ale": "nitrogen_envs.engines.ale:AtariEnv",
    "vizdoom": "nitrogen_envs.engines.vizdoom:VizdoomEnv",
    "crafter": "nitrogen_envs.engines.crafter:CrafterEnv",
}

# --- Procgen -----------------------------------------------------------------------------------------
# (name, procgen id, genre, description, (easy R_max, hard R_max)). R_max is the maximum achievable
# score per distribution mode from the Procgen paper (Cobbe et al. 2020, Table 1), our 1.0 reference
# until trained experts replace it.
_PROCGEN = (
    ("BigFish", "bigfish", "arcade", "eat smaller fish to grow, avoid bigger ones", (40.0, 40.0)),
    ("BossFight", "bossfight", "arcade", "dodge and shoot down a boss starship", (13.0, 13.0)),
    ("CaveFlyer", "caveflyer", "top-down/procedural", "fly a ship through caves to the exit", (12.0, 13.4)),
    ("Chaser", "chaser", "top-down/procedural", "eat all orbs in a maze, chased by enemies", (13.0, 14.2)),
    ("Climber", "climber", "platformer", "climb platforms collecting stars", (12.6, 12.6)),
    ("CoinRun", "coinrun", "platformer", "run and jump over obstacles to the coin", (10.0, 10.0)),
    ("Dodgeball", "dodgeball", "top-down/procedural", "hit enemies with balls, then exit", (19.0, 19.0)),
    ("FruitBot", "fruitbot", "arcade", "collect fruit, avoid non-fruit, reach the end", (32.4, 27.2)),
    ("Heist", "heist", "top-down/procedural", "collect keys, unlock doors, steal the gem", (10.0, 10.0)),
    ("Jumper", "jumper", "platformer", "double-jump through a level to the carrot", (10.0, 10.0)),
    ("Leaper", "leaper", "arcade", "cross lanes of traffic and logs", (10.0, 10.0)),
    ("Maze", "maze", "top-down/procedural", "find the cheese in a maze", (10.0, 10.0)),
    ("Miner", "miner", "top-down/procedural", "dig for diamonds, then reach the exit", (13.0, 20.0)),
    ("Ninja", "ninja", "platformer", "charge jumps across ledges to the mushroom", (10.0, 10.0)),
    ("Plunder", "plunder", "arcade", "sink enemy ships with cannonballs", (30.0, 30.0)),
    ("StarPilot", "starpilot", "arcade", "side-scrolling shooter", (64.0, 35.0)),
)


def _procgen_games() -> list[GameSpec]:
    games = []
    for name, engine_game, genre, description, (easy_max, hard_max) in _PROCGEN:
        tasks = tuple(
            TaskSpec(
                name=mode,
                success="the level is completed (Procgen's level_complete flag) before the game's time limit",
                expert_score=r_max,
                expert_source="Procgen paper R_max",
            )
            for mode, r_max in (("hard", hard_max), ("easy", easy_max))
        )
        games.append(
            GameSpec(
                name=name,
                engine="procgen",
                genre=genre,
                engine_game=engine_game,
                tasks=tasks,
                # Procgen ends every episode itself (per-game time limits, 1000 steps for most games);
                # this cap only guards against an engine that never ends.
                max_episode_steps=10_000,
                description=description,
                save_states=True,
                native_fps=15,
            )
        )
    return games


# --- Atari (ALE) -------------------------------------------------------------------------------------
# (name, ROM id, description, human reference score). Human scores are the standard human-tester
# references of Mnih et al. 2015 (Nature DQN), used everywhere for human-normalized Atari scores.
_ATARI = (
    ("Pong", "pong", "table tennis against the CPU", 14.6),
    ("Breakout", "breakout", "bounce the ball to break bricks", 30.5),
    ("SpaceInvaders", "space_invaders", "shoot descending aliens", 1668.7),
    ("Seaquest", "seaquest", "rescue divers, shoot sharks, surface for air", 42054.7),
    ("Qbert", "qbert", "hop on cubes to change their colour", 13455.0),
    ("MsPacman", "ms_pacman", "eat pellets, avoid ghosts", 6951.6),
    ("Enduro", "enduro", "endurance car race, pass cars each day", 860.5),
    ("Freeway", "freeway", "guide a chicken across traffic", 29.6),
    ("Boxing", "boxing", "top-down boxing match", 12.1),
    ("Asteroids", "asteroids", "shoot asteroids and saucers", 47388.7),
    ("BeamRider", "beam_rider", "shoot enemies along light beams", 16926.5),
    ("MontezumaRevenge", "montezuma_revenge", "explore a pyramid for keys and treasure", 4753.3),
)


def _atari_games() -> list[GameSpec]:
    return [
        GameSpec(
            name=name,
            engine="ale",
            genre="arcade",
            engine_game=rom,
            tasks=(
                TaskSpec(
                    name="score",
                    success=f"episode return reaches the human reference score ({human})",
                    expert_score=human,
                    expert_source="human tester score, Mnih et al. 2015",
                    threshold=human,
                ),
            ),
            # 108,000 emulator frames (30 minutes at 60 Hz) is the standard ALE episode cap
            # (Machado et al. 2018); with a frame skip of 4 that is 27,000 env steps.
            max_episode_steps=27_000,
            description=description,
            save_states=True,
            native_fps=15,
        )
        for name, rom, description, human in _ATARI
    ]


# --- ViZDoom -----------------------------------------------------------------------------------------
# (name, scenario, description, task name, success text, threshold)
_VIZDOOM = (
    (
        "DoomBasic",
        "basic",
        "shoot the monster in a square room",
        "kill",
        "the monster is killed before the timeout",
        1.0,
    ),
    (
        "DoomDefendCenter",
        "defend_the_center",
        "turn in place and shoot approaching monsters",
        "kill10",
        "at least 10 monsters killed in the episode",
        10.0,
    ),
    (
        "DoomDefendLine",
        "defend_the_line",
        "hold a line against monsters",
        "kill10",
        "at least 10 monsters killed in the episode",
        10.0,
    ),
    (
        "DoomHealthGathering",
        "health_gathering",
        "collect medkits on an acid floor",
        "survive",
        "still alive when the 2100-tic timeout ends the episode",
        2100.0,
    ),
    (
        "DoomMyWayHome",
        "my_way_home",
        "find the vest in a maze of rooms",
        "reach",
        "the vest is reached before the timeout",
        None,
    ),
    (
        "DoomDeadlyCorridor",
        "deadly_corridor",
        "run a corridor of gunmen to the vest",
        "reach",
        "the vest is reached alive before the timeout",
        None,
    ),
    (
        "DoomPredictPosition",
        "predict_position",
        "hit a moving monster with a slow rocket",
        "kill",
        "the monster is killed before the timeout",
        1.0,
    ),
    (
        "DoomTakeCover",
        "take_cover",
        "dodge fireballs by strafing",
        "survive",
        "alive after 2100 tics (60 s of game time)",
        2100.0,
    ),
)


def _vizdoom_games() -> list[GameSpec]:
    return [
        GameSpec(
            name=name,
            engine="vizdoom",
            genre="3d-action",
            engine_game=scenario,
            tasks=(TaskSpec(name=task, success=success, threshold=threshold),),
            # Each step repeats the action for 4 tics (35 tics/s); 2100 steps is 4 minutes of game time,
            # well past every scenario's own timeout; it only caps the scenarios that have none.
            max_episode_steps=2100,
            description=description,
            save_states=False,
            native_fps=35 // 4,
        )
        for name, scenario, description, task, success, threshold in _VIZDOOM
    ]


# --- Crafter -----------------------------------------------------------------------------------------
CRAFTER_ACHIEVEMENTS: tuple[str, ...] = (
    "collect_wood", "place_table", "make_wood_pickaxe", "make_wood_sword", "collect_sapling", "place_plant",
    "eat_plant", "collect_drink", "eat_cow", "wake_up", "defeat_zombie", "defeat_skeleton", "collect_stone",
    "place_stone", "make_stone_pickaxe", "make_stone_sword", "place_furnace", "collect_coal", "collect_iron",
    "make_iron_pickaxe", "make_iron_sword", "collect_diamond",
)  # fmt: skip


def _crafter_games() -> list[GameSpec]:
    tasks = tuple(
        TaskSpec(name=achievement, success=f"the '{achievement}' achievement is unlocked (the episode then ends)")
        for achievement in CRAFTER_ACHIEVEMENTS
    )
    return [
        GameSpec(
            name="Crafter",
            engine="crafter",
            genre="top-down/procedural",
            engine_game="crafter",
            tasks=tasks,
            # Crafter's own episode length (Hafner 2021): 10,000 steps.
            max_episode_steps=10_000,
            description="open-world survival: gather, craft, fight (one task per achievement)",
            save_states=False,
            native_fps=10,
        )
    ]


GAMES: tuple[GameSpec, ...] = tuple(_procgen_games() + _atari_games() + _vizdoom_games() + _crafter_games())
_BY_NAME: dict[str, GameSpec] = {game.name.lower(): game for game in GAMES}


def all_games() -> tuple[GameSpec, ...]:
    """Every embedded game, in registry order."""
    return GAMES


def env_ids() -> list[str]:
    """Every registered ``NitroGen/...`` id."""
    return [game.env_id for game in GAMES]


def get_game(name_or_id: str) -> GameSpec:
    """Find a game by name (``CoinRun``, case-insensitive) or env id (``NitroGen/CoinRun-v0``).

    Raises:
        UnknownGame: with the closest registered names.
    """
    key = name_or_id.strip()
    if key.startswith(f"{NAMESPACE}/"):
        key = key[len(NAMESPACE) + 1 :]
    key = key.rsplit("-v", 1)[0] if "-v" in key else key
    game = _BY_NAME.get(key.lower())
    if game is not None:
        return game
    names = [game.name for game in GAMES]
    close = difflib.get_close_matches(key, names, n=3, cutoff=0.5)
    close += [n for n in names if key.lower() in n.lower() and n not in close]
    hint = f" Did you mean: {', '.join(close[:5])}?" if close else ""
    raise UnknownGame(f"unknown game {name_or_id!r}.{hint} Run `nitrogen list` to see all {len(names)} games.")


def register_all() -> None:
    """Register every embedded and live game with Gymnasium (idempotent; imports no engine)."""
    from gymnasium.envs.registration import register, registry

    for game in GAMES:
        if game.env_id in registry:
            continue
        register(
            id=game.env_id,
            entry_point=game.entry_point,
            max_episode_steps=game.max_episode_steps,
            kwargs={"game": game.name},
        )
    # Live games (screen capture + virtual input) come from a TOML catalog; registering them reads only
    # that file (no mss, psutil or X libraries), and a broken user catalog only logs a warning.
    from nitrogen_envs.live.registration import register_live_games

    register_live_games()
