"""Crafter's frame renderer, redone to give the same bytes with far less work per frame.

Crafter (``crafter.Env.render``) draws its 9x7 tile view with numpy array arithmetic for every tile, then
lights the whole view in float64 through half a dozen freshly allocated full-frame temporaries, and
finally concatenates that float64 view with the inventory strip into yet another float64 frame. At 256 px
a frame is about 150,000 values, so that work costs more than the game step itself (docs/performance.md).

:class:`BufferedRenderer` renders the same frame with

* **lighting per distinct tile by day.** Without night noise, Crafter's lighting (desaturate, tint, blend
  with ``daylight``) maps each pixel's colour on its own, so equal tiles light to equal pixels. A view
  shows a handful of distinct tiles (grass, water, a cow on grass...), so the daytime view is lit as a
  stack of those tiles, then each lit tile is copied to its cells: the same float64 operations on the same
  values, for about a tenth of the pixels. The sleeping view (desaturated and tinted after lighting) is
  per pixel too and goes the same way;
* **the full view lit at night**, where the noise differs at every pixel: the *same float64 operations on
  the same operands in the same order* as Crafter, each into a buffer preallocated per frame shape
  (``np.multiply(a, b, out=...)`` computes exactly what ``a * b`` computes), with the noise drawn by the
  same ``world.random.uniform`` call (one number per view pixel), so the world's random stream, which
  also drives the game, advances exactly as in Crafter;
* tiles (a material, or an object alpha-blended onto a material by Crafter's own ``_draw_alpha``) built
  once and kept, and the inventory strip (Crafter's own ``ItemView``) kept for the inventory it shows;
* the view and the inventory strip written straight into the output frame (no float64 concatenation).

Every float64 to uint8 conversion truncates exactly as Crafter's casts do. ``tests/test_env_frames.py``
checks byte equality with Crafter's renderer, and the random state after each frame, over long rollouts
with nights, sleep and resets.
"""

from __future__ import annotations

from typing import Any

import numpy as np

NIGHT_DAYLIGHT = 0.5
"""Crafter noises the night view while ``world.daylight`` is below this."""
NIGHT_COLOR_SATURATION = 0.4
"""Crafter desaturates the night view to this colour factor (``ImageEnhance.Color``)."""
NIGHT_TINT = (0, 16, 64)
SLEEP_TINT = (0, 0, 16)
TINT_AMOUNT = 0.5
NOISE_LOW, NOISE_HIGH = 32, 127
"""Range of Crafter's night noise (uniform draws from the world's random stream)."""
NOISE_VIGNETTE_STDDEV = 0.5
OUTSIDE_GRAY = 127
"""Crafter's canvas colour where the view reaches past the world's edge."""
MAX_ITEM_STRIPS = 256
"""Inventory strips kept per renderer (one per distinct inventory seen; cleared when full)."""

_OUTSIDE = ("outside",)
"""Tile key of a view cell past the world's edge (material keys are names or None, object keys pairs)."""


def _tint_offset(color: tuple[int, int, int], shape: tuple[int, ...]) -> np.ndarray:
    """``amount * color`` as Crafter computes it (an int array times a Python float: float64), repeated.

    Repeated to ``shape`` (pixels by 3): see :meth:`BufferedLocalView._light`.
    """
    offset = np.empty(shape, np.float64)
    offset[...] = TINT_AMOUNT * np.array(color)
    return offset


class _ViewBuffers:
    """Work arrays for one tile grid and tile size, reused every frame instead of allocated.

    The ``tile_*`` arrays stack up to one tile per view cell along the first axis (``cells * unit_x`` rows
    of ``unit_y`` pixels), so the first ``k`` tiles are one contiguous slice; the others span the view.
    """

    def __init__(self, grid: tuple[int, int], unit: tuple[int, int]) -> None:
        (grid_x, grid_y), (unit_x, unit_y) = grid, unit
        stack = (grid_x * grid_y * unit_x, unit_y, 3)
        self.tiles = np.empty(stack, np.uint8)
        self.tile_light = np.empty(stack, np.float64)
        self.tile_tint = np.empty(stack, np.float64)
        self.lit_tiles = np.empty(stack, np.uint8)
        self.gathered = np.empty((grid_x, grid_y, unit_x, unit_y, 3), np.uint8)
        view = (grid_x * unit_x, grid_y * unit_y)
        self.canvas = np.empty((*view, 3), np.uint8)
        self.light = np.empty((*view, 3), np.float64)
        self.tint = np.empty((*view, 3), np.float64)
        self.mask = np.empty(view, np.float64)
        self.keep = np.empty(view, np.float64)
        # Crafter's tint offsets repeated to every pixel (see BufferedLocalView._light).
        self.night_tint = _tint_offset(NIGHT_TINT, (*view, 3))
        self.sleep_tint = _tint_offset(SLEEP_TINT, (*view, 3))
        self.tile_night_tint = _tint_offset(NIGHT_TINT, stack)
        self.tile_sleep_tint = _tint_offset(SLEEP_TINT, stack)
        self.as_uint8 = np.empty((*view, 3), np.uint8)
        self.keys: list[Any] = []
        """The tiles now in ``tiles``, in order (a frame with the same ones skips refilling it)."""


class BufferedLocalView:
    """Crafter's local (tile) view, lit as Crafter lights it, drawn into a caller's uint8 array.

    Args:
        stock: the env's ``crafter.engine.LocalView``; its world, textures, grid and (cached) vignette are
            used as they are.
    """

    def __init__(self, stock: Any) -> None:
        self._stock = stock
        self._world = stock._world
        self._textures = stock._textures
        self._grid = (int(stock._grid[0]), int(stock._grid[1]))
        self._buffers: dict[tuple[int, int], _ViewBuffers] = {}
        self._tiles: dict[tuple[Any, int, int], np.ndarray] = {}
        # Crafter's own imports (Pillow comes with it): this module is loaded only with Crafter installed.
        from crafter.engine import _draw_alpha  # type: ignore[import-untyped]
        from PIL import Image, ImageEnhance

        self._draw_alpha = _draw_alpha
        self._image, self._enhance = Image, ImageEnhance

    def shape(self, unit: tuple[int, int]) -> tuple[int, int]:
        """(width, height) in pixels of the view drawn with tiles of ``unit`` pixels."""
        return self._grid[0] * unit[0], self._grid[1] * unit[1]

    def _tile(self, key: Any, unit: tuple[int, int]) -> np.ndarray:
        """The uint8 pixels of one view cell: a material, an object on a material, or the world's outside."""
        cache_key = (key, *unit)
        tile = self._tiles.get(cache_key)
        if tile is None:
            if key is _OUTSIDE:
                tile = np.full((*unit, 3), OUTSIDE_GRAY, np.uint8)
            elif isinstance(key, tuple):  # (material, object texture): Crafter blends it over the material
                material, texture = key
                tile = self._tile(material, unit).copy()
                self._draw_alpha(tile, (0, 0), self._textures.get(texture, unit))
            else:
                texture = self._textures.get(key, unit)
                tile = np.ascontiguousarray(texture[..., :3] if texture.shape[-1] == 4 else texture)
            self._tiles[cache_key] = tile
        return tile

    def _cell_tiles(self, player: Any) -> tuple[list[Any], list[int]]:
        """The distinct tile keys in view (first-seen order) and each cell's index into them, x-major.

        Objects come from the world's object map, which holds every live object at its position (one per
        cell): the objects Crafter draws over the view are exactly those.
        """
        grid_x, grid_y = self._grid
        world = self._world
        area_x, area_y = world.area
        left, top = int(player.pos[0]) - grid_x // 2, int(player.pos[1]) - grid_y // 2
        x0, x1 = max(left, 0), min(left + grid_x, area_x)
        y0, y1 = max(top, 0), min(top + grid_y, area_y)
        materials = world._mat_map[x0:x1, y0:y1].tolist()
        occupants = world._obj_map[x0:x1, y0:y1].tolist()
        names, objects = world._mat_names, world._objects
        keys: list[Any] = []
        slots: dict[Any, int] = {}
        cells: list[int] = []
        for world_x in range(left, left + grid_x):
            inside_x = x0 <= world_x < x1
            for world_y in range(top, top + grid_y):
                if inside_x and y0 <= world_y < y1:
                    name = names[materials[world_x - x0][world_y - y0]]
                    occupant = occupants[world_x - x0][world_y - y0]
                    key = name if occupant == 0 else (name, objects[occupant].texture)
                else:
                    key = _OUTSIDE
                slot = slots.get(key)
                if slot is None:
                    slot = slots[key] = len(keys)
                    keys.append(key)
                cells.append(slot)
        return keys, cells

    def draw(self, out: np.ndarray, player: Any, unit: tuple[int, int]) -> None:
        """Draw the lit view around ``player`` into ``out`` (uint8, :meth:`shape` by 3), as Crafter does."""
        unit_x, unit_y = unit
        buffers = self._buffers.get(unit)
        if buffers is None:
            buffers = self._buffers[unit] = _ViewBuffers(self._grid, unit)
        keys, cells = self._cell_tiles(player)
        rows = len(keys) * unit_x
        if keys != buffers.keys:
            for slot, key in enumerate(keys):
                buffers.tiles[slot * unit_x : (slot + 1) * unit_x] = self._tile(key, unit)
            buffers.keys = keys
        daylight = self._world.daylight
        if daylight < NIGHT_DAYLIGHT:
            tiles = buffers.tiles.reshape(-1, unit_x, unit_y, 3)
            self._spread(tiles, cells, buffers, buffers.canvas)
            view = self._light_at_night(buffers, daylight)
            if player.sleeping:
                np.copyto(buffers.as_uint8, view, casting="unsafe")
                view = self._sleep(buffers.as_uint8, buffers.tint, buffers.sleep_tint)
            np.copyto(out, view, casting="unsafe")
            return
        tiles, lit = buffers.tiles[:rows], buffers.lit_tiles[:rows]
        light, tint = buffers.tile_light[:rows], buffers.tile_tint[:rows]
        night_tint = buffers.tile_night_tint[:rows]
        np.copyto(lit, self._light(tiles, tiles, daylight, light, tint, night_tint), casting="unsafe")
        if player.sleeping:
            np.copyto(lit, self._sleep(lit, tint, buffers.tile_sleep_tint[:rows]), casting="unsafe")
        self._spread(buffers.lit_tiles.reshape(-1, unit_x, unit_y, 3), cells, buffers, out)

    def _spread(self, tiles: np.ndarray, cells: list[int], buffers: _ViewBuffers, out: np.ndarray) -> None:
        """Copy tile ``cells[i]`` of ``tiles`` to the i-th cell (x-major) of the view ``out``."""
        grid_x, grid_y = self._grid
        gathered = buffers.gathered
        unit_x, unit_y = gathered.shape[2:4]
        np.take(tiles, np.array(cells).reshape(grid_x, grid_y), axis=0, out=gathered, mode="clip")
        out_cells = out.reshape(grid_x, unit_x, grid_y, unit_y, 3, copy=False)
        np.copyto(out_cells, gathered.transpose(0, 2, 1, 3, 4))

    def _desaturate(self, frame: np.ndarray, factor: float) -> np.ndarray:
        return np.asarray(self._enhance.Color(self._image.fromarray(frame)).enhance(factor))

    def _light(
        self,
        canvas: np.ndarray,
        night: np.ndarray,
        daylight: float,
        light: np.ndarray,
        tint: np.ndarray,
        night_tint: np.ndarray,
    ) -> np.ndarray:
        """``daylight * canvas + (1 - daylight) * night'`` (night desaturated and tinted), into ``light``.

        ``night_tint`` is Crafter's tint offset repeated to the pixels' shape: adding it is the same
        float64 addition as adding the 3-vector, without numpy broadcasting over a 3-long inner axis
        (several times slower).
        """
        tinted = np.multiply(self._desaturate(night, NIGHT_COLOR_SATURATION), 1 - TINT_AMOUNT, out=tint)
        np.add(tinted, night_tint, out=tinted)
        np.multiply(canvas, daylight, out=light)
        return np.add(light, np.multiply(tinted, 1 - daylight, out=tinted), out=light)

    def _light_at_night(self, buffers: _ViewBuffers, daylight: float) -> np.ndarray:
        """:meth:`_light` of the view whose night copy is first blended with noise towards the edges."""
        canvas, light = buffers.canvas, buffers.light
        amount = 2 * (0.5 - daylight)
        noise = self._world.random.uniform(NOISE_LOW, NOISE_HIGH, canvas.shape[:2])
        vignette = self._stock._vignette(canvas.shape, NOISE_VIGNETTE_STDDEV)
        mask = np.multiply(amount, vignette, out=buffers.mask)
        keep = np.subtract(1, mask, out=buffers.keep)
        noised = np.multiply(mask, noise, out=buffers.mask)
        for channel in range(3):  # Crafter's (1 - mask) * canvas + mask * noise, broadcast one channel at a time
            plane = light[..., channel]
            np.multiply(keep, canvas[..., channel], out=plane)
            np.add(plane, noised, out=plane)
        night = buffers.as_uint8
        np.copyto(night, light, casting="unsafe")
        return self._light(canvas, night, daylight, light, buffers.tint, buffers.night_tint)

    def _sleep(self, view: np.ndarray, tint: np.ndarray, sleep_tint: np.ndarray) -> np.ndarray:
        """The sleeping view (uint8 ``view``, the lit one): fully desaturated, then tinted blue, into ``tint``."""
        tinted = np.multiply(self._desaturate(view, 0.0), 1 - TINT_AMOUNT, out=tint)
        return np.add(tinted, sleep_tint, out=tinted)


class BufferedRenderer:
    """A drop-in ``render(size=None)`` for a ``crafter.Env``: the same frames as Crafter's, cheaper.

    Returns a new uint8 frame every call, transposed as Crafter's is, so callers may keep it.
    """

    def __init__(self, env: Any) -> None:
        self._env = env
        self._local_view = BufferedLocalView(env._local_view)
        self._item_strips: dict[tuple[Any, ...], np.ndarray] = {}

    def _items(self, inventory: dict[str, int], unit: np.ndarray) -> np.ndarray:
        """Crafter's inventory strip (``ItemView``) for ``inventory``, drawn once per distinct inventory."""
        key = (int(unit[0]), int(unit[1]), *inventory.items())
        strip = self._item_strips.get(key)
        if strip is None:
            if len(self._item_strips) >= MAX_ITEM_STRIPS:
                self._item_strips.clear()
            strip = self._item_strips[key] = self._env._item_view(inventory, unit)
        return strip

    def __call__(self, size: Any = None) -> np.ndarray:
        """The frame at ``size`` (width, height; default the env's), as ``crafter.Env.render`` returns it."""
        env = self._env
        size = np.asarray(size if size is not None else env._size)
        view_grid = env._view
        unit = size // view_grid
        unit_xy = (int(unit[0]), int(unit[1]))
        frame = np.zeros((int(size[0]), int(size[1]), 3), np.uint8)
        width, local_height = self._local_view.shape(unit_xy)
        items = self._items(env._player.inventory, unit)
        if items.shape[0] != width:
            raise ValueError(f"crafter view widths differ: local {width}, items {items.shape}")
        border_x, border_y = (int(v) for v in (size - unit * view_grid) // 2)
        self._local_view.draw(
            frame[border_x : border_x + width, border_y : border_y + local_height], env._player, unit_xy
        )
        item_top = border_y + local_height
        frame[border_x : border_x + width, item_top : item_top + items.shape[1]] = items
        return frame.transpose((1, 0, 2))


def install(env: Any) -> BufferedRenderer:
    """Make ``env`` (a ``crafter.Env``) render with :class:`BufferedRenderer`; returns the renderer.

    ``crafter.Env`` renders each observation through ``self.render()``, so an instance attribute takes
    over every frame (reset and step) and ``env.render(size)`` alike.
    """
    renderer = BufferedRenderer(env)
    env.render = renderer
    return renderer
