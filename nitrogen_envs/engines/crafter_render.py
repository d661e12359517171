"""Crafter's frame renderer, redone to give the same bytes with far less work per frame.

Crafter (``crafter.Env.render``) draws its 9x7 tile view with numpy array arithmetic for every tile, then
lights the whole view in float64 through half a dozen freshly allocated full-frame temporaries, and
finally concatenates that float64 view with the inventory strip into yet another float64 frame. At 256 px
a frame is about 150,000 values, so those temporaries (each a new megabyte that the kernel must fault in)
cost more than the game step itself (docs/performance.md).

:class:`BufferedRenderer` renders the same frame with

* plain-integer tile indexing and a per-renderer texture table (the same textures, from Crafter's
  ``Textures`` cache, drawn at the same places; objects are still alpha-blended by Crafter's own
  ``_draw_alpha``);
* the lighting as the *same float64 operations on the same operands in the same order*, each written
  into a buffer preallocated per frame shape (``np.multiply(a, b, out=...)`` computes exactly what
  ``a * b`` computes), so every rounding, and the final float64 to uint8 truncation, is unchanged;
* the night noise drawn by the same ``world.random.uniform`` call (one number per view pixel), so the
  world's random stream, which also drives the game, advances exactly as in Crafter;
* the view and the inventory strip written straight into the output frame (no float64 concatenation).

``tests/test_env_frames.py`` checks byte equality with Crafter's renderer, and the random state after
each frame, over long rollouts with nights, sleep and resets.
"""

from __future__ import annotations

from typing import Any

import numpy as np

NIGHT_COLOR_SATURATION = 0.4
"""Crafter desaturates the night view to this colour factor (``ImageEnhance.Color``)."""
NIGHT_TINT = (0, 16, 64)
SLEEP_TINT = (0, 0, 16)
TINT_AMOUNT = 0.5
NOISE_LOW, NOISE_HIGH = 32, 127
"""Range of Crafter's night noise (uniform draws from the world's random stream)."""
NOISE_VIGNETTE_STDDEV = 0.5


def _tint_offset(color: tuple[int, int, int]) -> np.ndarray:
    """``amount * color`` as Crafter computes it (an int array times a Python float: float64)."""
    return TINT_AMOUNT * np.array(color)


class _FrameBuffers:
    """Work arrays for one view shape (width, height): reused every frame instead of allocated."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.canvas = np.empty((*shape, 3), np.uint8)
        self.light = np.empty((*shape, 3), np.float64)
        self.night = np.empty((*shape, 3), np.float64)
        self.mask = np.empty((*shape, 1), np.float64)
        self.keep = np.empty((*shape, 1), np.float64)
        self.as_uint8 = np.empty((*shape, 3), np.uint8)


class BufferedLocalView:
    """Crafter's local (tile) view with the lighting done in preallocated buffers.

    Args:
        stock: the env's ``crafter.engine.LocalView``; its world, textures, grid and (cached) vignette are
            used as they are.

    The returned float64 array is a buffer that the next call overwrites: the caller must cast it into
    its frame before rendering again (:class:`BufferedRenderer` does).
    """

    def __init__(self, stock: Any) -> None:
        self._stock = stock
        self._world = stock._world
        self._textures = stock._textures
        self._grid = (int(stock._grid[0]), int(stock._grid[1]))
        self._buffers: dict[tuple[int, int], _FrameBuffers] = {}
        self._tiles: dict[tuple[Any, int, int], np.ndarray] = {}
        self._night_tint = _tint_offset(NIGHT_TINT)
        self._sleep_tint = _tint_offset(SLEEP_TINT)
        # Crafter's own imports (Pillow comes with it): this module is loaded only with Crafter installed.
        from crafter.engine import _draw_alpha  # type: ignore[import-untyped]
        from PIL import Image, ImageEnhance

        self._draw_alpha = _draw_alpha
        self._image, self._enhance = Image, ImageEnhance

    def _tile(self, name: Any, unit: tuple[int, int]) -> np.ndarray:
        key = (name, *unit)
        tile = self._tiles.get(key)
        if tile is None:
            texture = self._textures.get(name, unit)
            tile = self._tiles[key] = texture[..., :3] if texture.shape[-1] == 4 else texture
        return tile

    def __call__(self, player: Any, unit: np.ndarray) -> np.ndarray:
        """The lit view around ``player`` (tiles of ``unit`` pixels), as Crafter's ``LocalView`` draws it."""
        unit_x, unit_y = int(unit[0]), int(unit[1])
        grid_x, grid_y = self._grid
        shape = (grid_x * unit_x, grid_y * unit_y)
        buffers = self._buffers.get(shape)
        if buffers is None:
            buffers = self._buffers[shape] = _FrameBuffers(shape)
        canvas = buffers.canvas
        canvas.fill(127)
        world = self._world
        area_x, area_y = world.area
        center_x, center_y = int(player.pos[0]), int(player.pos[1])
        left, top = center_x - grid_x // 2, center_y - grid_y // 2
        materials, names = world._mat_map, world._mat_names
        for x in range(grid_x):
            world_x = left + x
            if not 0 <= world_x < area_x:
                continue
            for y in range(grid_y):
                world_y = top + y
                if not 0 <= world_y < area_y:
                    continue
                tile = self._tile(names[materials[world_x, world_y]], (unit_x, unit_y))
                canvas[x * unit_x : x * unit_x + tile.shape[0], y * unit_y : y * unit_y + tile.shape[1]] = tile
        for obj in world.objects:
            x, y = int(obj.pos[0]) - left, int(obj.pos[1]) - top
            if 0 <= x < grid_x and 0 <= y < grid_y:
                self._draw_alpha(canvas, (x * unit_x, y * unit_y), self._textures.get(obj.texture, (unit_x, unit_y)))
        view = self._light(buffers, world.daylight)
        if player.sleeping:
            view = self._sleep(buffers, view)
        return view

    def _desaturate(self, frame: np.ndarray, factor: float) -> np.ndarray:
        return np.asarray(self._enhance.Color(self._image.fromarray(frame)).enhance(factor))

    def _light(self, buffers: _FrameBuffers, daylight: float) -> np.ndarray:
        """``daylight * canvas + (1 - daylight) * night``, the night view noised, desaturated and tinted."""
        canvas, light = buffers.canvas, buffers.light
        night: np.ndarray = canvas
        if daylight < 0.5:
            amount = 2 * (0.5 - daylight)
            noise = self._world.random.uniform(NOISE_LOW, NOISE_HIGH, canvas.shape[:2])[..., None]
            vignette = self._stock._vignette(canvas.shape, NOISE_VIGNETTE_STDDEV)
            mask = np.multiply(amount, vignette[..., None], out=buffers.mask)
            keep = np.subtract(1, mask, out=buffers.keep)
            np.multiply(keep, canvas, out=light)
            np.add(light, np.multiply(mask, noise, out=buffers.mask), out=light)
            night = buffers.as_uint8
            np.copyto(night, light, casting="unsafe")
        tinted = np.multiply(self._desaturate(night, NIGHT_COLOR_SATURATION), 1 - TINT_AMOUNT, out=buffers.night)
        np.add(tinted, self._night_tint, out=tinted)
        np.multiply(canvas, daylight, out=light)
        np.add(light, np.multiply(tinted, 1 - daylight, out=tinted), out=light)
        return light

    def _sleep(self, buffers: _FrameBuffers, view: np.ndarray) -> np.ndarray:
        """The sleeping view: fully desaturated, then tinted blue."""
        np.copyto(buffers.as_uint8, view, casting="unsafe")
        tinted = np.multiply(self._desaturate(buffers.as_uint8, 0.0), 1 - TINT_AMOUNT, out=buffers.night)
        return np.add(tinted, self._sleep_tint, out=tinted)


class BufferedRenderer:
    """A drop-in ``render(size=None)`` for a ``crafter.Env``: the same frames as Crafter's, cheaper.

    Returns a new uint8 frame every call, transposed as Crafter's is, so callers may keep it.
    """

    def __init__(self, env: Any) -> None:
        self._env = env
        self._local_view = BufferedLocalView(env._local_view)

    def __call__(self, size: Any = None) -> np.ndarray:
        """The frame at ``size`` (width, height; default the env's), as ``crafter.Env.render`` returns it."""
        env = self._env
        size = np.asarray(size if size is not None else env._size)
        view_grid = env._view
        unit = size // view_grid
        frame = np.zeros((int(size[0]), int(size[1]), 3), np.uint8)
        local = self._local_view(env._player, unit)
        items = env._item_view(env._player.inventory, unit)
        border_x, border_y = (int(v) for v in (size - unit * view_grid) // 2)
        width, local_height = local.shape[:2]
        if items.shape[0] != width:
            raise ValueError(f"crafter view widths differ: local {local.shape}, items {items.shape}")
        frame[border_x : border_x + width, border_y : border_y + local_height] = local
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
