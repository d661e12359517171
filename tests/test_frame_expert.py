"""The frame expert: its action is a function of the picture alone, and its parsers read rendered frames."""

import gymnasium as gym
import numpy as np
import pytest
from fixtures.games import needs_engine

from nitrogen_datasets.experts import ExpertUnsupported, make_expert
from nitrogen_datasets.experts.frame_procgen import (
    CHASER_CELLS,
    CHASER_ENEMY,
    CHASER_HARD_CELLS,
    CHASER_ORB,
    CHASER_WALL,
    COINRUN_FEET,
    COINRUN_PLAYER,
    DOWN,
    FIRE,
    FRUITBOT_BOT,
    FRUITBOT_WALL,
    HEIST_KEYS,
    HEIST_PLAYER_ORANGE,
    HEIST_WALL,
    LEAPER_LOG,
    LEAPER_RIVER,
    LEAPER_ROAD,
    LEFT,
    MINER_CELLS,
    MINER_HARD_CELLS,
    NOOP,
    PARSE_SIZE,
    PARSERS,
    PLUNDER_HULL,
    PLUNDER_SAILS,
    RIGHT,
    RIGHT_UP,
    UP,
    FrameExpert,
    frame_action,
    parse_chaser,
    parse_coinrun,
    parse_fruitbot,
    parse_heist,
    parse_leaper,
    parse_miner,
    parse_plunder,
)

needs_procgen = needs_engine("procgen")
BACKGROUND = (100, 102, 101)  # Chaser's grey floor
PLAYER = (216, 103, 250)  # Chaser's purple player


def paint(
    frame: np.ndarray, cell: tuple[int, int], colour: tuple[int, int, int], fill: float = 1.0, n: int = CHASER_CELLS
) -> None:
    """Fill the centre ``fill`` share (per side) of one cell of an n x n Chaser maze with ``colour``."""
    size = PARSE_SIZE / n
    half = size * fill / 2
    centre = ((cell[0] + 0.5) * size, (cell[1] + 0.5) * size)
    frame[round(centre[0] - half) : round(centre[0] + half), round(centre[1] - half) : round(centre[1] + half)] = colour


def chaser_frame(
    walls: list[tuple[int, int]], orbs: list[tuple[int, int]], enemies=(), player=(5, 5), n: int = CHASER_CELLS
) -> np.ndarray:
    """A synthetic Chaser picture of an n x n maze drawn with the game's colours."""
    frame = np.zeros((PARSE_SIZE, PARSE_SIZE, 3), dtype=np.uint8)
    frame[:] = BACKGROUND
    for cell in walls:
        paint(frame, cell, CHASER_WALL, n=n)
    for cell in orbs:
        paint(frame, cell, CHASER_ORB, fill=0.35, n=n)
    for cell in enemies:
        paint(frame, cell, CHASER_ENEMY, fill=0.8, n=n)
    paint(frame, player, PLAYER, fill=0.6, n=n)
    return frame


def test_chaser_frame_parsed_into_cells():
    frame = chaser_frame(walls=[(4, 5), (0, 0)], orbs=[(5, 8), (9, 9)], enemies=[(2, 2)], player=(5, 5))
    view = parse_chaser(frame)
    assert view.blocked.shape == (CHASER_CELLS, CHASER_CELLS)
    assert {tuple(c) for c in np.argwhere(view.blocked)} == {(4, 5), (0, 0)}
    assert {tuple(c) for c in np.argwhere(view.targets)} == {(5, 8), (9, 9)}
    assert view.danger[2, 2] and view.danger[2, 4] and not view.danger[2, 5]  # two steps around the enemy
    assert view.player == pytest.approx((5, 5), abs=0.1)


def test_chaser_goes_to_the_nearest_orb_around_walls_and_away_from_enemies():
    assert frame_action("Chaser", chaser_frame([], [(5, 8)])) == RIGHT
    assert frame_action("Chaser", chaser_frame([], [(1, 5), (5, 8)])) == RIGHT  # 3 steps beat 4
    assert frame_action("Chaser", chaser_frame([], [(8, 5)])) == DOWN
    # the orb above is nearer, but an enemy sits on the way
    assert frame_action("Chaser", chaser_frame([], [(3, 5), (5, 9)], enemies=[(2, 5)])) == RIGHT
    # a wall right of the player: around it, and the first step of equal paths is always UP
    assert frame_action("Chaser", chaser_frame([(5, 6)], [(5, 7)])) == UP
    # in a corridor with the only orb behind an enemy: back away from it
    assert frame_action("Chaser", chaser_frame([(4, 5), (6, 5)], [(5, 4)], enemies=[(5, 3)])) == RIGHT
    assert frame_action("Chaser", chaser_frame([(4, 5), (6, 5)], [(5, 6)], enemies=[(5, 7)])) == LEFT


def test_small_frames_are_refused_with_the_fix():
    with pytest.raises(ExpertUnsupported, match=f"obs_size={PARSE_SIZE}"):
        frame_action("Chaser", np.zeros((64, 64, 3), dtype=np.uint8))


def test_registry_builds_it_for_its_games_only():
    assert isinstance(make_expert("frame", "Chaser"), FrameExpert)
    with pytest.raises(
        ExpertUnsupported,
        match=r"frame expert plays Chaser, CoinRun, Dodgeball, FruitBot, Heist, Jumper, Leaper, Miner, .*StarPilot.*"
        r"'planner'",
    ):
        make_expert("frame", "BossFight")


def test_rule_modules_join_the_expert_and_may_not_redefine_a_game(monkeypatch):
    import nitrogen_datasets.experts.frame_procgen as frame_procgen

    tables = frame_procgen.rule_tables()
    assert set(PARSERS) < set(tables.parsers) and {"StarPilot", "Dodgeball"} <= set(tables.parsers)
    for game in ("StarPilot", "Dodgeball"):
        assert isinstance(make_expert("frame", game), FrameExpert)
    frame_procgen.rule_tables.cache_clear()
    monkeypatch.setattr(frame_procgen, "RULE_MODULES", (*frame_procgen.RULE_MODULES, frame_procgen.__name__))
    try:
        with pytest.raises(RuntimeError, match=r"defines \['Chaser'"):
            frame_procgen.rule_tables()
    finally:
        frame_procgen.rule_tables.cache_clear()


@needs_procgen
@pytest.mark.parametrize("game", ["Chaser", "Miner"])
def test_rendered_frame_parsed_and_action_from_the_frame_alone(game):
    env = gym.make(f"NitroGen/{game}-v0", obs_size=PARSE_SIZE, task="easy")
    try:
        obs, info = env.reset(seed=3)
        expert = FrameExpert()
        expert.reset(env, 3)
        view = (parse_chaser if game == "Chaser" else parse_miner)(obs)
        assert view.player is not None
        assert view.targets.sum() >= (40 if game == "Chaser" else 1)  # Chaser: orbs everywhere; Miner: diamonds
        if game == "Miner":
            assert view.blocked.shape == (MINER_CELLS, MINER_CELLS) and view.blocked.any()  # boulders
        action = expert.act(obs.copy(), info)
        native = int(env.unwrapped.gamepad_to_native(action))
        assert native in (UP, DOWN, LEFT, RIGHT)
        frame = obs.copy()
        for _ in range(5):  # the game moves on; the same picture still gets the same action, info unread
            obs, *_ = env.step(action)
        assert int(env.unwrapped.gamepad_to_native(expert.act(frame, {}))) == native
        larger = np.repeat(np.repeat(frame, 2, axis=0), 2, axis=1)  # the same picture at 256 px
        assert frame_action(game, larger) == frame_action(game, frame)
    finally:
        env.close()


def heist_frame(n: int, open_cells: list[tuple[int, int]], player: tuple[int, int], items=()) -> np.ndarray:
    """A synthetic Heist picture: walls everywhere but ``open_cells``; ``items`` are (cell, colour, fill)."""
    frame = np.zeros((PARSE_SIZE, PARSE_SIZE, 3), dtype=np.uint8)
    frame[:] = HEIST_WALL
    size = PARSE_SIZE / n

    def fill(cell, colour, share=1.0):
        half = size * share / 2
        centre = ((cell[0] + 0.5) * size, (cell[1] + 0.5) * size)
        frame[round(centre[0] - half) : round(centre[0] + half), round(centre[1] - half) : round(centre[1] + half)] = (
            colour
        )

    for cell in open_cells:
        fill(cell, (30, 90, 150))  # a blue floor
    for cell, colour, share in items:
        fill(cell, colour, share)
    fill(player, (255, 255, 255), 0.5)
    fill(player, HEIST_PLAYER_ORANGE, 0.25)
    return frame


@pytest.mark.parametrize("n", [9, 13])
def test_heist_fetches_the_key_before_its_lock_and_reads_the_grid_size(n):
    corridor = [(4, c) for c in range(1, 8)]
    blue = HEIST_KEYS[2]
    # the gem (right) is behind a blue lock; the blue key is on the left: go left first
    items = [((4, 5), blue, 1.0), ((4, 7), (255, 216, 60), 0.5), ((4, 1), blue, 0.4)]
    view = parse_heist(heist_frame(n, corridor, (4, 3), items))
    assert view.blocked.shape == (n, n)
    assert view.blocked[4, 5] and not view.targets[4, 5]  # closed while its key is drawn
    assert view.targets[4, 1] and view.targets[4, 7]
    assert view.player == pytest.approx((4, 3), abs=0.15)
    assert frame_action("Heist", heist_frame(n, corridor, (4, 3), items)) == LEFT
    # the key taken (no longer drawn): the lock opens and the way to the gem is right
    assert frame_action("Heist", heist_frame(n, corridor, (4, 3), items[:2])) == RIGHT


def fruitbot_frame(wall_row: int, gap: tuple[int, int], robot_x: int) -> np.ndarray:
    """A synthetic FruitBot picture: one wall band above the robot with an opening at columns ``gap``."""
    frame = np.zeros((PARSE_SIZE, PARSE_SIZE, 3), dtype=np.uint8)
    frame[:] = (80, 60, 30)  # a brown ground
    frame[wall_row : wall_row + 7] = FRUITBOT_WALL
    frame[wall_row : wall_row + 7, gap[0] : gap[1]] = (80, 60, 30)
    frame[113:123, robot_x - 4 : robot_x + 4] = FRUITBOT_BOT
    return frame


def test_fruitbot_steers_into_the_next_gap():
    assert frame_action("FruitBot", fruitbot_frame(60, (80, 110), 30)) == RIGHT
    assert frame_action("FruitBot", fruitbot_frame(60, (10, 40), 100)) == LEFT
    assert frame_action("FruitBot", fruitbot_frame(60, (20, 50), 35)) == NOOP  # already under it
    view = parse_fruitbot(fruitbot_frame(60, (80, 110), 30))
    assert view.player_x == pytest.approx(29.5) and view.gaps == ((80, 110),)
    # inside the wall's band: the robot's own pixels do not split the opening it is in
    assert parse_fruitbot(fruitbot_frame(112, (20, 50), 35)).gaps == ((20, 50),)
    assert frame_action("FruitBot", np.full((PARSE_SIZE, PARSE_SIZE, 3), 80, dtype=np.uint8)) == NOOP  # no robot


def leaper_frame(above: str, item_x: int | None, frog_x: int = 64) -> np.ndarray:
    """A synthetic Leaper picture: the frog (11 px) on safe ground, a road or river lane (15 px) above it."""
    frame = np.zeros((PARSE_SIZE, PARSE_SIZE, 3), dtype=np.uint8)
    frame[:] = (30, 90, 150)  # safe ground: deep water background
    frame[98:113] = LEAPER_ROAD if above == "road" else LEAPER_RIVER
    if item_x is not None:
        colour = (240, 180, 20) if above == "road" else LEAPER_LOG  # a yellow car, or a log
        frame[101:110, item_x - 6 : item_x + 6] = colour
    frame[116:127, frog_x - 5 : frog_x + 5] = (174, 199, 51)
    return frame


def test_leaper_hops_onto_clear_road_and_onto_logs_only():
    assert frame_action("Leaper", leaper_frame("road", None)) == UP
    assert frame_action("Leaper", leaper_frame("road", 80)) == NOOP  # a car 16 px away: wait
    assert frame_action("Leaper", leaper_frame("road", 120)) == UP  # far enough
    assert frame_action("Leaper", leaper_frame("river", 64)) == UP  # a log under the frog's column
    assert frame_action("Leaper", leaper_frame("river", 90)) == NOOP  # only water there
    view = parse_leaper(leaper_frame("road", 80))
    assert view.found and (view.up_kind, view.here_kind) == ("road", "safe") and not view.up_clear


@needs_procgen
@pytest.mark.parametrize(
    "game,task",
    [
        ("Heist", "easy"),
        ("Heist", "hard"),
        ("FruitBot", "easy"),
        ("FruitBot", "hard"),
        ("Leaper", "easy"),
        ("Leaper", "hard"),
    ],
)
def test_new_games_parsed_on_rendered_frames_and_same_frame_same_action(game, task):
    env = gym.make(f"NitroGen/{game}-v0", obs_size=PARSE_SIZE, task=task)
    try:
        obs, info = env.reset(seed=3)
        expert = FrameExpert()
        expert.reset(env, 3)
        for _ in range(30 if game == "FruitBot" else 0):  # until the first wall scrolls into view
            obs, _, terminated, *_ = env.step(expert.act(obs, info))
            assert not terminated
        view = PARSERS[game](obs)
        if game == "Heist":
            assert view.blocked.shape == ((9, 9) if task == "easy" else (13, 13))
            assert view.player is not None and view.targets.any()
        elif game == "Leaper":
            assert view.found and view.here_kind == "safe"  # the frog starts on the bank below the road
        else:
            assert view.player_x is not None and view.gaps
        frame = obs.copy()
        native = frame_action(game, frame)
        for _ in range(5):
            obs, _, terminated, *_ = env.step(expert.act(obs, info))
            if terminated:
                break
        assert frame_action(game, frame) == native  # the same picture, the same action
        larger = np.repeat(np.repeat(frame, 2, axis=0), 2, axis=1)
        assert frame_action(game, larger) == native
    finally:
        env.close()


def play(game: str, task: str, seed: int, who: str, cap: int = 300) -> tuple[float, int]:
    """One episode's return and length (``cap`` steps at most) of the frame expert or uniform random native actions."""
    env = gym.make(f"NitroGen/{game}-v0", obs_size=PARSE_SIZE, task=task)
    try:
        obs, info = env.reset(seed=seed)
        expert = FrameExpert()
        expert.reset(env, seed)
        space = env.unwrapped.native_action_space()
        space.seed(seed)
        total, steps = 0.0, 0
        while steps < cap:
            action = expert.act(obs, info) if who == "expert" else env.unwrapped.native_to_gamepad(int(space.sample()))
            obs, reward, terminated, truncated, info = env.step(action)
            total, steps = total + reward, steps + 1
            if terminated or truncated:
                break
        return total, steps
    finally:
        env.close()


@needs_procgen
def test_heist_easy_expert_takes_the_gem_where_random_play_does_not():
    seeds = (1000, 1001, 1002)
    assert [play("Heist", "easy", s, "expert")[0] for s in seeds] == [10.0, 10.0, 10.0]
    assert sum(play("Heist", "easy", s, "random", cap=100)[0] for s in seeds) < 30.0


@needs_procgen
def test_fruitbot_easy_expert_passes_every_wall_where_random_play_crashes():
    # a FruitBot level ends at its finish line after about 420 steps, or early when the robot hits a wall
    assert play("FruitBot", "easy", 1000, "expert", cap=500)[1] >= 400
    assert play("FruitBot", "easy", 1000, "random", cap=500)[1] < 300


@needs_procgen
def test_leaper_easy_expert_crosses_where_random_play_does_not():
    assert play("Leaper", "easy", 1001, "expert")[0] == 10.0
    assert play("Leaper", "easy", 1001, "random")[0] == 0.0


def test_chaser_hard_reads_its_13x13_maze_by_the_task():
    # the hard maze is drawn whole in smaller cells: cell (6, 9) of 13 is not a cell of the 11x11 grid
    frame = chaser_frame(walls=[(6, 7)], orbs=[(6, 9)], player=(6, 6), n=CHASER_HARD_CELLS)
    view = parse_chaser(frame, cells=CHASER_HARD_CELLS)
    assert view.blocked.shape == (CHASER_HARD_CELLS, CHASER_HARD_CELLS)
    assert {tuple(c) for c in np.argwhere(view.blocked)} == {(6, 7)}
    assert {tuple(c) for c in np.argwhere(view.targets)} == {(6, 9)}
    assert view.player == pytest.approx((6, 6), abs=0.1)
    assert frame_action("Chaser", frame, "hard") == UP  # around the wall (the first step of equal paths is UP)
    assert frame_action("Chaser", chaser_frame([], [(6, 9)], player=(6, 6), n=CHASER_HARD_CELLS), "hard") == RIGHT
    # an enemy's eye of a single red pixel makes its cell dangerous in hard (its sprites are smaller)
    eye = chaser_frame([], [(6, 9)], player=(6, 6), n=CHASER_HARD_CELLS)
    eye[round(7.5 * PARSE_SIZE / CHASER_HARD_CELLS), round(6.5 * PARSE_SIZE / CHASER_HARD_CELLS)] = (220, 40, 40)
    assert parse_chaser(eye, CHASER_HARD_CELLS, eye_pixels=1).danger[7, 6]
    assert not parse_chaser(eye, CHASER_HARD_CELLS).danger[7, 6]  # easy's reading wants two


def coinrun_frame(ground_rows: int = COINRUN_FEET, gap=None, crate=None) -> np.ndarray:
    """A synthetic CoinRun ``easy`` picture: navy sky, the player in the middle, ground from ``ground_rows`` down."""
    frame = np.zeros((PARSE_SIZE, PARSE_SIZE, 3), dtype=np.uint8)
    frame[:] = (0, 27, 45)
    frame[ground_rows:] = (185, 201, 202)
    if gap is not None:
        frame[ground_rows:, gap[0] : gap[1]] = (0, 27, 45)
    if crate is not None:
        frame[COINRUN_FEET - 10 : COINRUN_FEET, crate[0] : crate[1]] = (165, 112, 60)
    frame[COINRUN_FEET - 12 : COINRUN_FEET, COINRUN_PLAYER[0] : COINRUN_PLAYER[1]] = (230, 220, 200)
    return frame


def test_coinrun_runs_on_flat_ground_and_jumps_at_walls_and_gaps():
    assert frame_action("CoinRun", coinrun_frame()) == RIGHT
    assert frame_action("CoinRun", coinrun_frame(crate=(70, 78))) == RIGHT_UP
    assert frame_action("CoinRun", coinrun_frame(gap=(72, 90))) == RIGHT_UP
    assert frame_action("CoinRun", coinrun_frame(gap=(90, 110))) == RIGHT  # a gap beyond the look-ahead
    airborne = parse_coinrun(coinrun_frame(ground_rows=100))
    assert not airborne.standing and airborne.action() == RIGHT_UP
    view = parse_coinrun(coinrun_frame(crate=(70, 78)))
    assert view.standing and view.wall_ahead and not view.gap_ahead


def plunder_frame(legend: int, own: int, ships=()) -> np.ndarray:
    """A synthetic Plunder picture: deep water, the legend's ship bottom left, the player's ship at column 64, and
    ``ships`` as (sail type, first sail row, sail centre column, hull columns past the sail left and right)."""
    frame = np.zeros((PARSE_SIZE, PARSE_SIZE, 3), dtype=np.uint8)
    frame[:] = (10, 40, 120)
    frame[108:117, 8:17] = PLUNDER_SAILS[legend]
    frame[110:119, 61:68] = PLUNDER_SAILS[own]
    for kind, row, column, stern_left, bow_right in ships:
        frame[row + 1 : row + 4, column - 3 - stern_left : column + 4 + bow_right] = PLUNDER_HULL
        frame[row : row + 5, column - 3 : column + 4] = PLUNDER_SAILS[kind]
    return frame


def test_plunder_leads_its_shot_by_the_heading_read_off_the_hull():
    blue, yellow = 1, 0
    # a target 74 px above sails right (its bow, the longer hull end, is on the right): a ball fired now meets it
    right = plunder_frame(blue, yellow, [(blue, 38, 49, 3, 8)])
    view = parse_plunder(right)
    assert view.player == pytest.approx((114, 64), abs=0.5)
    assert [(s.heading, round(s.column)) for s in view.targets] == [(1, 49)] and not view.friends
    assert frame_action("Plunder", right) == FIRE
    # the same ship sailing left would be past by then: move toward where a ball meets it, without firing
    assert frame_action("Plunder", plunder_frame(blue, yellow, [(blue, 38, 49, 8, 3)])) == LEFT
    # one of the player's own type sails in between: hold fire
    assert frame_action("Plunder", plunder_frame(blue, yellow, [(blue, 38, 49, 3, 8), (yellow, 68, 64, 0, 0)])) != FIRE
    # the legend cannot be told from the player's ship: the frame is not read, NOOP
    assert parse_plunder(plunder_frame(yellow, yellow)).player is None
    assert frame_action("Plunder", plunder_frame(yellow, yellow, [(blue, 38, 49, 3, 8)])) == NOOP


@needs_procgen
@pytest.mark.parametrize(
    "game,task,steps", [("Chaser", "hard", 0), ("Miner", "hard", 0), ("CoinRun", "easy", 5), ("Plunder", "hard", 60)]
)
def test_added_tasks_parsed_on_rendered_frames_and_same_frame_same_action(game, task, steps):
    env = gym.make(f"NitroGen/{game}-v0", obs_size=PARSE_SIZE, task=task)
    try:
        obs, info = env.reset(seed=3)
        expert = FrameExpert()
        expert.reset(env, 3)
        for _ in range(steps):  # CoinRun: onto the ground; Plunder: until ships sail in
            obs, _, terminated, *_ = env.step(expert.act(obs, info))
            assert not terminated
        frame = obs.copy()
        native = int(env.unwrapped.gamepad_to_native(expert.act(frame, info)))
        if game in ("Chaser", "Miner"):
            view = parse_chaser(frame, CHASER_HARD_CELLS) if game == "Chaser" else parse_miner(frame, MINER_HARD_CELLS)
            side = CHASER_HARD_CELLS if game == "Chaser" else MINER_HARD_CELLS
            assert view.blocked.shape == (side, side) and view.player is not None and view.targets.any()
            assert native == frame_action(game, frame, "hard") in (UP, DOWN, LEFT, RIGHT)
        elif game == "CoinRun":
            assert parse_coinrun(frame).standing
        else:
            view = parse_plunder(frame)
            assert view.player is not None and view.targets
        for _ in range(5):
            obs, _, terminated, *_ = env.step(expert.act(obs, info))
            if terminated:
                break
        assert int(env.unwrapped.gamepad_to_native(expert.act(frame, {}))) == native  # the same picture, info unread
        larger = np.repeat(np.repeat(frame, 2, axis=0), 2, axis=1)
        assert frame_action(game, larger, task) == native
    finally:
        env.close()


@needs_procgen
def test_coinrun_hard_is_refused_with_the_planner_named():
    env = gym.make("NitroGen/CoinRun-v0", obs_size=PARSE_SIZE, task="hard")
    try:
        env.reset(seed=0)
        with pytest.raises(ExpertUnsupported, match=r"CoinRun on 'easy' only.*'planner' for CoinRun/hard"):
            FrameExpert().reset(env, 0)
    finally:
        env.close()


def test_blobs_come_in_raster_order_of_their_first_pixel():
    from nitrogen_datasets.experts.frame_procgen import blobs

    mask = np.zeros((8, 8), dtype=bool)
    mask[1, 2] = True  # OpenCV labels this one first (it scans two rows at a time)
    mask[0, 5] = mask[1, 5] = mask[2, 6] = True  # one 8-connected group, starting higher up
    found = [(rows.tolist(), cols.tolist()) for rows, cols in blobs(mask)]
    assert found == [([0, 1, 2], [5, 5, 6]), ([1], [2])]
    assert blobs(np.zeros((4, 4), dtype=bool)) == []
