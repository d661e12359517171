"""A privileged scripted bot for the ViZDoom scenarios: it reads object positions from the engine.

The bot asks ViZDoom for the objects list (``DoomGame.set_objects_info_enabled``) and the labels
buffer (which objects are on screen), then steers with plain geometry: turn toward the nearest live
monster and fire when it is in the crosshair, strafe into line where the scenario cannot turn (basic),
walk to the nearest medkit (health gathering) or the vest (corridor, maze), and strafe away from
fireballs (take cover). It never reads pixels, so it is a demonstrator, not a vision agent.

The env enables neither feature, and ViZDoom only accepts them before ``init()``; :func:`enable_object_info`
therefore restarts the engine once with both enabled and replays ``env.reset(seed)``. Enabling them in
``VizdoomEnv.__init__`` (before ``game_engine.init()``) would make that restart unnecessary.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import gymnasium as gym
import numpy as np

from nitrogen_datasets.experts.base import episode_rng, unwrap
from nitrogen_datasets.experts.doom_nav import GridMap
from nitrogen_datasets.experts.errors import ExpertNotReset
from nitrogen_envs import gamepad

logger = logging.getLogger(__name__)

MONSTERS = frozenset(
    {
        "Zombieman", "ShotgunGuy", "ChaingunGuy", "WolfensteinSS", "DoomImp", "Demon", "Spectre", "LostSoul",
        "Cacodemon", "HellKnight", "BaronOfHell", "Arachnotron", "PainElemental", "Revenant", "Fatso",
        "Archvile", "Cyberdemon", "SpiderMastermind", "MarineChainsawVzd",
    }
)  # fmt: skip
"""Doom monster class names the bot shoots at; a killed one is renamed (``DeadZombieman``) by the engine."""
ROCKET_SPEED = 80.0
"""Rocket speed per env step (20 map units per tic)."""
ROCKET_DELAY = 3.0
"""Env steps between pressing attack and the rocket leaving the launcher (measured)."""
DODGE_DISTANCE = 48.0
"""A fireball arriving within this many map units sideways of the player is dodged."""
BALL_SPEED = 40.0
"""Imp fireball speed per env step (10 map units per tic, 4 tics per step)."""
STRAFE_SPEED = 24.0
"""Rough sideways distance the player covers per env step while strafing."""


def enable_object_info(env: gym.Env, seed: int | None) -> bool:
    """Restart the env's DoomGame with objects info and labels on, replaying ``env.reset(seed)``.

    Returns:
        True when a restart was needed (the episode was reset again with the same seed).
    """
    engine = unwrap(env, engines=("vizdoom",))._engine  # type: ignore[attr-defined]
    if engine.is_objects_info_enabled() and engine.is_labels_buffer_enabled() and engine.is_sectors_info_enabled():
        return False
    logger.info("restarting ViZDoom with objects, sectors and labels info enabled (one-off per env)")
    engine.close()
    engine.set_objects_info_enabled(True)
    engine.set_sectors_info_enabled(True)
    engine.set_labels_buffer_enabled(True)
    engine.init()
    env.reset(seed=seed)
    return True


def _angle_to(px: float, py: float, angle: float, x: float, y: float) -> float:
    """Signed degrees from the view direction to (x, y); positive is to the left (counter-clockwise)."""
    target = math.degrees(math.atan2(y - py, x - px))
    return (target - angle + 180.0) % 360.0 - 180.0


class DoomBot:
    """Scripted ViZDoom player using engine object positions (see the module docstring).

    Args:
        seed: base seed of the small random wander used when stuck against a wall.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)
        self._env: Any = None
        self._rng = np.random.default_rng(self.seed)
        self._dead: set[int] = set()
        self._kills = 0
        self._target: int | None = None
        self._aim_steps = 0
        self._history: list[tuple[float, float]] = []
        self._patrol = 1
        self._last_diff: float | None = None
        self._tracks: dict[int, list[tuple[float, float]]] = {}
        self._hold = 0
        self._map: GridMap | None = None
        self._wander = 0
        self._last_seen: dict[int, tuple[float, float]] = {}

    def reset(self, env: gym.Env, seed: int | None) -> None:
        """Bind to ``env``, enabling engine object info if needed, and forget the last episode."""
        enable_object_info(env, seed)
        self._env = unwrap(env, engines=("vizdoom",))
        self._rng = episode_rng(self.seed, seed)
        self._dead, self._kills, self._target, self._aim_steps = set(), 0, None, 0
        self._history, self._wander, self._last_seen, self._patrol = [], 0, {}, 1
        self._last_diff, self._hold, self._tracks, self._map = None, 0, {}, None
        self._buttons = [b.native for b in self._env.table.bindings]

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> gamepad.GamepadDict:
        """Hold the buttons the scenario's rule picks for the current engine state."""
        if self._env is None:
            raise ExpertNotReset("call expert.reset(env, seed) after env.reset() and before act()")
        engine = self._env._engine
        state = engine.get_state()
        if state is None or state.objects is None:
            return gamepad.noop()
        kills = int(info.get("kills", 0))
        if kills > self._kills and self._target is not None:
            self._dead.add(self._target)  # the monster we were shooting at is now a corpse
        self._kills = kills
        player = next((o for o in state.objects if o.name == "DoomPlayer"), None)
        if player is None:
            return gamepad.noop()
        held = self._decide(player, state)
        return self._env.table.to_gamepad([1 if name in held else 0 for name in self._buttons])

    # -- rules --------------------------------------------------------------------------------------
    def _decide(self, player: Any, state: Any) -> set[str]:
        px, py, angle = player.position_x, player.position_y, player.angle
        can_turn, can_attack = "TURN_LEFT" in self._buttons, "ATTACK" in self._buttons
        objects = [o for o in state.objects if o.name != "DoomPlayer"]
        if not can_attack and not can_turn:
            return self._dodge(px, py, angle, objects)
        visible = {label.object_id for label in (state.labels or [])}
        monsters = [o for o in objects if o.name in MONSTERS and o.id not in self._dead]
        seen = [o for o in monsters if o.id in visible] or (monsters if not can_turn else [])
        if can_attack and seen:
            target = min(seen, key=lambda o: math.hypot(o.position_x - px, o.position_y - py))
            return self._shoot(px, py, angle, target, can_turn)
        goals = [o for o in objects if o.name in ("Medikit", "GreenArmor")]
        if goals and can_turn:
            goal = min(goals, key=lambda o: math.hypot(o.position_x - px, o.position_y - py))
            x, y = goal.position_x, goal.position_y
            if goal.name == "GreenArmor" and state.sectors:  # the vest may be rooms away: follow the map
                if self._map is None:
                    self._map = GridMap(state.sectors)
                x, y = self._map.waypoint((px, py), (x, y))
            return self._walk(px, py, angle, x, y)
        self._target = None
        return {"TURN_LEFT"} if can_turn else set()

    def _shoot(self, px: float, py: float, angle: float, target: Any, can_turn: bool) -> set[str]:
        if target.id != self._target:
            self._target, self._aim_steps = target.id, 0
        x, y = target.position_x, target.position_y
        track = self._tracks.setdefault(target.id, [])
        track.append((x, y))
        del track[:-6]
        distance = math.hypot(x - px, y - py)
        slow = self._slow_weapon()
        if len(track) > 1 and slow:  # aim where the monster will be when the rocket arrives
            lead = (distance / ROCKET_SPEED + ROCKET_DELAY) / (len(track) - 1)  # velocity averaged over the track
            x, y = x + (x - track[0][0]) * lead, y + (y - track[0][1]) * lead
        tolerance = max(2.0, math.degrees(math.atan2(24.0 if slow else 14.0, max(distance, 1.0))))
        if not can_turn:  # basic: strafe until the monster is straight ahead
            side = -math.sin(math.radians(angle)) * (x - px) + math.cos(math.radians(angle)) * (y - py)
            if abs(side) <= 12.0:
                return self._fire()
            return {"MOVE_LEFT"} if side > 0 else {"MOVE_RIGHT"}
        diff = _angle_to(px, py, angle, x, y)
        last_diff, self._last_diff = self._last_diff, diff
        if self._hold > 0:  # the rocket leaves the launcher a few steps after the trigger: keep still
            self._hold -= 1
            return set()
        if abs(diff) <= tolerance:
            self._hold = int(ROCKET_DELAY) + 1 if slow else 0
            return self._fire()
        if slow and abs(diff) < 15.0 and last_diff is not None and diff * (diff - last_diff) < 0:
            return set()  # the aim point is drifting into the crosshair: wait rather than overshoot
        turn = "TURN_LEFT" if diff > 0 else "TURN_RIGHT"
        return {turn, "ATTACK"} if abs(diff) <= 3 * tolerance and not self._slow_weapon() else {turn}

    def _fire(self) -> set[str]:
        self._aim_steps += 1
        if self._aim_steps > 40 and self._target is not None:
            self._dead.add(self._target)  # shot long enough: a corpse or out of reach, pick another
        return {"ATTACK"}

    def _slow_weapon(self) -> bool:
        game = self._env.spec_game.engine_game
        return game == "predict_position"

    def _walk(self, px: float, py: float, angle: float, x: float, y: float) -> set[str]:
        self._history.append((px, py))
        recent = self._history[-8:]
        stuck = len(recent) == 8 and math.hypot(recent[0][0] - px, recent[0][1] - py) < 16.0
        if stuck and self._wander == 0:
            self._wander = int(self._rng.integers(4, 12))
            self._history.clear()
        if self._wander > 0:
            self._wander -= 1
            return {"TURN_LEFT" if self._wander % 2 == 0 or self._wander > 6 else "TURN_RIGHT", "MOVE_FORWARD"}
        diff = _angle_to(px, py, angle, x, y)
        if abs(diff) < 10.0:
            return {"MOVE_FORWARD"}
        return {"TURN_LEFT" if diff > 0 else "TURN_RIGHT", "MOVE_FORWARD"}

    def _dodge(self, px: float, py: float, angle: float, objects: list[Any]) -> set[str]:
        """Strafe back and forth (fireballs aim where the player is) and pick the side with least danger.

        Each fireball is projected onto the player's sideways axis; an option (left, stay, right) is
        dangerous when the ball would arrive within :data:`DODGE_DISTANCE` of where that option puts
        the player. The patrol direction flips when a wall stops the player.
        """
        right = (math.sin(math.radians(angle)), -math.cos(math.radians(angle)))  # unit vector to the right
        forward = (math.cos(math.radians(angle)), math.sin(math.radians(angle)))
        lateral = px * right[0] + py * right[1]
        if self._history:
            moved = lateral - self._history[-1][0]
            if abs(moved) < 1.0 and self._history[-1][1] != 0:
                self._patrol = -self._patrol  # blocked by a wall: turn around
        balls = []
        for ball in (o for o in objects if "Ball" in o.name):
            previous = self._last_seen.get(ball.id)
            self._last_seen[ball.id] = (ball.position_x, ball.position_y)
            vx, vy = (ball.position_x - previous[0], ball.position_y - previous[1]) if previous else (0.0, 0.0)
            ahead = (ball.position_x - px) * forward[0] + (ball.position_y - py) * forward[1]
            side = (ball.position_x - px) * right[0] + (ball.position_y - py) * right[1]
            closing = -(vx * forward[0] + vy * forward[1])
            steps = max(ahead, 0.0) / (closing if closing > 1.0 else BALL_SPEED)
            drift = vx * right[0] + vy * right[1]
            balls.append((side + drift * steps, steps))  # where it crosses the player's line, and when
        danger = {}
        for option in (self._patrol, 0, -self._patrol):
            total = 0.0
            for cross, steps in balls:
                gap = abs(cross - option * STRAFE_SPEED * min(steps, 8.0))
                if gap < DODGE_DISTANCE and steps < 12.0:
                    total += (DODGE_DISTANCE - gap) / (1.0 + steps)
            danger[option] = total
        choice = min(danger, key=lambda option: danger[option])  # ties keep the patrol direction
        self._history.append((lateral, choice))
        return {"MOVE_RIGHT"} if choice > 0 else {"MOVE_LEFT"} if choice < 0 else set()
