"""Grid navigation for the ViZDoom bot: walls from the engine's sector lines, BFS distance to a goal.

ViZDoom reports each sector's lines (``DoomGame.set_sectors_info_enabled``); blocking lines are drawn
into an occupancy grid, widened by the player's radius, and a breadth-first distance field from the
goal gives the way through mazes such as ``my_way_home`` without any learning.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

CELL = 16.0
"""Grid cell size in map units (the player's radius is 16)."""
INFLATE = 1
"""Cells around a wall that the player's centre must keep clear of."""


class GridMap:
    """Occupancy grid of one ViZDoom map.

    Args:
        sectors: ``state.sectors`` of a :class:`vizdoom.GameState` (each with ``lines``).
    """

    def __init__(self, sectors: Any) -> None:
        lines = [(ln.x1, ln.y1, ln.x2, ln.y2) for sector in sectors for ln in sector.lines if ln.is_blocking]
        points = np.array([(x, y) for x1, y1, x2, y2 in lines for x, y in ((x1, y1), (x2, y2))] or [(0.0, 0.0)])
        self.origin = points.min(axis=0) - 2 * CELL
        size = np.ceil((points.max(axis=0) + 2 * CELL - self.origin) / CELL).astype(int) + 1
        blocked = self.blocked = np.zeros((int(size[0]), int(size[1])), dtype=bool)
        for x1, y1, x2, y2 in lines:
            samples = max(2, int(np.hypot(x2 - x1, y2 - y1) / (CELL / 4)) + 1)
            for t in np.linspace(0.0, 1.0, samples):
                i, j = self.cell((x1 + t * (x2 - x1), y1 + t * (y2 - y1)))
                blocked[max(i - INFLATE, 0) : i + INFLATE + 1, max(j - INFLATE, 0) : j + INFLATE + 1] = True
        self._fields: dict[tuple[int, int], np.ndarray] = {}

    def cell(self, pos: tuple[float, float]) -> tuple[int, int]:
        """Grid index of a map position, clipped to the grid."""
        i = int((pos[0] - self.origin[0]) // CELL)
        j = int((pos[1] - self.origin[1]) // CELL)
        return min(max(i, 0), self.blocked.shape[0] - 1), min(max(j, 0), self.blocked.shape[1] - 1)

    def centre(self, cell: tuple[int, int]) -> tuple[float, float]:
        """Map position of a cell's centre."""
        return (self.origin[0] + (cell[0] + 0.5) * CELL, self.origin[1] + (cell[1] + 0.5) * CELL)

    def field(self, goal: tuple[float, float]) -> np.ndarray:
        """Steps (8-connected) from every free cell to ``goal``; ``inf`` where unreachable (cached)."""
        start = self.cell(goal)
        if start in self._fields:
            return self._fields[start]
        dist = np.full(self.blocked.shape, np.inf)
        dist[start] = 0.0
        queue = deque([start])
        while queue:
            i, j = queue.popleft()
            for di in (-1, 0, 1):
                for dj in (-1, 0, 1):
                    n = (i + di, j + dj)
                    if (
                        0 <= n[0] < dist.shape[0]
                        and 0 <= n[1] < dist.shape[1]
                        and not self.blocked[n]
                        and dist[n] == np.inf
                    ):
                        dist[n] = dist[i, j] + 1.0
                        queue.append(n)
        self._fields[start] = dist
        return dist

    def waypoint(self, pos: tuple[float, float], goal: tuple[float, float], lookahead: int = 3) -> tuple[float, float]:
        """A point ``lookahead`` cells down the shortest path from ``pos`` toward ``goal`` (``goal`` if lost)."""
        dist = self.field(goal)
        cur = self.cell(pos)
        if not np.isfinite(dist[cur]):  # inside a widened wall: start from the nearest reachable cell
            free = np.argwhere(np.isfinite(dist))
            if free.size == 0:
                return goal
            cur = tuple(free[np.argmin(np.abs(free - np.array(cur)).sum(axis=1))])  # type: ignore[assignment]
        for _ in range(lookahead):
            i, j = cur
            best = min(
                ((i + di, j + dj) for di in (-1, 0, 1) for dj in (-1, 0, 1)),
                key=lambda n: dist[n] if 0 <= n[0] < dist.shape[0] and 0 <= n[1] < dist.shape[1] else np.inf,
            )
            if dist[best] >= dist[cur]:
                break
            cur = best
        return goal if dist[cur] == 0 else self.centre(cur)
