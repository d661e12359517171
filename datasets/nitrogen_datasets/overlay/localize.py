"""Find where an overlay sits in a video: multi-scale template matching against the layout's rest template.

The overlay is the template uniformly scaled (0.5-2x), translated, possibly alpha-blended over the game
and compressed. Matching uses zero-mean normalised correlation restricted to the template's shape
(its alpha channel), which tolerates partial transparency and brightness changes. A coarse pass on
downscaled images over the whole scale range is followed by a fine pass around the best candidate.

A faint overlay (30% opacity, outlines only) over a busy game correlates poorly in intensity even at
the right place. The fallback matches edges instead: the median over frames of each pixel's gradient
magnitude keeps the overlay's edges, which stay put, and drops the game's, which move; they are compared
with two models of the template's edges (:func:`_edge_matches`). A match is accepted
when the edge match is clear (:data:`CLEAR_EDGE_SCORE`), or good (:data:`MIN_EDGE_SCORE`) with the intensity
correlation at that exact placement agreeing (:data:`MIN_EDGE_SUPPORT`), so a clip without an overlay still fails.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from nitrogen_datasets.errors import DatasetError

logger = logging.getLogger(__name__)

MIN_SCALE, MAX_SCALE = 0.5, 2.0
COARSE_SCALES = 24
"""Scales the coarse pass tries, evenly spaced in log scale (6% apart); the fine pass searches 13 scales
within one step either side of the best. 12 would halve the coarse pass's time, but on the held-out grid
it located 204 clips of 216 instead of 213."""
MIN_EDGE_SCORE = 0.33
"""Edge-median correlation an overlay needs when intensity matching failed (with :data:`MIN_EDGE_SUPPORT`; 72
(scene, template) pairs without an overlay scored up to 0.44, none with that support)."""
MIN_EDGE_SUPPORT = 0.15
"""Intensity correlation the edge match's placement must also reach, unless the edge match is clear."""
CLEAR_EDGE_SCORE = 0.45
"""An edge match this strong is accepted on its own."""
HALF_COARSE_FROM = 1.0
"""From this overlay scale up, the coarse pass matches on an image downscaled twice as much."""
FINE_WINDOW = 0.15
"""The fine pass near the coarse match searches this fraction of the scaled template's larger side around it."""
MEDIAN_FRAMES = 9
"""The first frames whose median is matched by intensity."""
EDGE_FRAMES = 16
"""Frames, evenly spaced over the probe, whose static edges are matched when intensity fails."""


class OverlayNotFound(DatasetError, LookupError):
    """No placement of the template matches well enough; the message gives the best score found."""


@dataclass(frozen=True)
class Localization:
    """Where the template is: top-left pixel (x, y), uniform scale and the match score in [-1, 1]."""

    x: int
    y: int
    scale: float
    score: float


def _prepare_template(template: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grey template and its shape mask (alpha, or everything for RGB templates)."""
    rgb = template[..., :3]
    mask = template[..., 3] if template.shape[2] == 4 else np.full(template.shape[:2], 255, np.uint8)
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    return grey, (mask > 127).astype(np.uint8) * 255


def _match(
    frame_grey: np.ndarray, template_grey: np.ndarray, mask: np.ndarray, scale: float, edges: bool = False
) -> tuple[float, int, int]:
    """Best normalised correlation of the template at ``scale`` over ``frame_grey``, and its top-left.

    With ``edges``, ``frame_grey`` is an edge-magnitude image, and the template is compared by the edges
    of its scaled drawing (scaling first, as the video did: a half-size outline's two edges merge into
    one, which scaling the full-size edge image does not reproduce).
    """
    width = round(template_grey.shape[1] * scale)
    height = round(template_grey.shape[0] * scale)
    if width < 8 or height < 8 or width > frame_grey.shape[1] or height > frame_grey.shape[0]:
        return -1.0, 0, 0
    scaled = cv2.resize(template_grey, (width, height), interpolation=cv2.INTER_AREA)
    scaled_mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
    if edges:
        scaled, scaled_mask = _edges(scaled), cv2.dilate(scaled_mask, np.ones((3, 3), np.uint8))
    if scaled[scaled_mask > 0].std() < 1e-3:
        return -1.0, 0, 0
    result = cv2.matchTemplate(frame_grey, scaled, cv2.TM_CCOEFF_NORMED, mask=scaled_mask)
    result = np.nan_to_num(result, nan=-1.0, posinf=-1.0, neginf=-1.0)
    _, best, _, (x, y) = cv2.minMaxLoc(result)
    return float(best), int(x), int(y)


def _edges(grey: np.ndarray) -> np.ndarray:
    grey = grey.astype(np.float32)
    return cv2.magnitude(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))


def _static_edges(greys: Sequence[np.ndarray]) -> np.ndarray:
    """Median over frames of each pixel's edge magnitude: the overlay's edges stay, the moving game's go."""
    return np.median(np.stack([_edges(grey) for grey in greys]), axis=0)


def _map_threads(function: Callable[[float], tuple[float, int, int]], scales: Sequence[float]) -> list:
    """``[function(s) for s in scales]`` on two threads (OpenCV's matching releases the GIL; the order is kept)."""
    if len(scales) < 2:
        return [function(s) for s in scales]
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="nitrogen-localize") as pool:
        return list(pool.map(function, scales))


def _coarse(
    image: np.ndarray, template: np.ndarray, mask: np.ndarray, coarse_factor: float, edges: bool = False
) -> tuple:
    """Best (score, x, y, scale) over all scales on the image downscaled by ``coarse_factor``.

    With ``edges``, ``image`` is already the downscaled edge image (edges of downscaled frames).
    """
    small = (
        image if edges else cv2.resize(image, None, fx=coarse_factor, fy=coarse_factor, interpolation=cv2.INTER_AREA)
    )
    # Large templates are matched on an image half as large again, a quarter of the work; on the held-out
    # grid this located the same clips (213 of 216).
    smaller = cv2.resize(small, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)

    def match(scale: float) -> tuple[float, int, int]:
        if scale < HALF_COARSE_FROM:
            return _match(small, template, mask, scale * coarse_factor, edges)
        score, x, y = _match(smaller, template, mask, scale * coarse_factor / 2, edges)
        return score, 2 * x, 2 * y

    scales = [float(s) for s in np.geomspace(MIN_SCALE, MAX_SCALE, COARSE_SCALES)]
    best = (-1.0, 0, 0, 1.0)
    for scale, (score, x, y) in zip(scales, _map_threads(match, scales), strict=True):
        if score > best[0]:
            best = (score, x, y, scale)
    return best


def _fine(
    image: np.ndarray,
    template: np.ndarray,
    mask: np.ndarray,
    coarse_factor: float,
    coarse: tuple,
    near: bool,
    edges: bool = False,
) -> tuple[float, int, int, float]:
    """Best (score, x, y, scale) at full resolution, one coarse scale step either side of the ``coarse`` match.

    The whole image, or with ``near`` only placements within :data:`FINE_WINDOW` of the template's size
    (and 8 pixels) of the coarse match: a fifth of the work at 720p. Scores are the same wherever both
    search; only a better placement far from the coarse one could be missed, which is why
    :func:`localize` searches the whole image when the near search stays below its threshold.
    """
    step = (MAX_SCALE / MIN_SCALE) ** (1 / (COARSE_SCALES - 1))
    candidates = [
        float(s)
        for s in np.linspace(coarse[3] / step, coarse[3] * step, 13)
        if MIN_SCALE * 0.97 <= s <= MAX_SCALE * 1.03
    ]
    x0 = y0 = 0
    if near:
        height, width = (round(side * max(candidates)) for side in template.shape[:2])
        reach = 8 + round(FINE_WINDOW * max(height, width))
        x0 = min(max(0, round(coarse[1] / coarse_factor) - reach), max(0, image.shape[1] - width))
        y0 = min(max(0, round(coarse[2] / coarse_factor) - reach), max(0, image.shape[0] - height))
        image = image[y0 : y0 + height + 2 * reach, x0 : x0 + width + 2 * reach]
    matches = _map_threads(lambda s: _match(image, template, mask, s, edges), candidates)
    score, x, y, scale = max(((*match, s) for match, s in zip(matches, candidates, strict=True)), key=lambda r: r[0])
    return score, x + x0, y + y0, scale


def median_frames(frames: Sequence[np.ndarray]) -> np.ndarray:
    """``np.median(np.stack(frames), axis=0).astype(np.uint8)`` for uint8 frames, 30x faster at 720p.

    An element-wise sorting network (``np.minimum``/``np.maximum`` of whole frames) instead of a sort along
    the stacked axis; an even count averages the two middle values and rounds down, as ``astype`` does.
    """
    layers = [np.asarray(frame) for frame in frames]
    count = len(layers)
    for end in range(count - 1, (count - 1) // 2 - 1, -1):  # bubble passes: layers[end:] end up sorted
        for index in range(end):
            low = np.minimum(layers[index], layers[index + 1])
            layers[index + 1] = np.maximum(layers[index], layers[index + 1])
            layers[index] = low
    if count % 2:
        return layers[count // 2].copy()
    return ((layers[count // 2 - 1].astype(np.uint16) + layers[count // 2]) // 2).astype(np.uint8)


def probe_sample(count: int) -> tuple[list[int], list[int]]:
    """Indices of the probe frames :func:`localize` reads, out of ``count``: (median frames, edge frames).

    The first :data:`MEDIAN_FRAMES` are matched by intensity, up to :data:`EDGE_FRAMES` evenly spaced ones by
    their static edges.
    """
    return list(range(min(count, MEDIAN_FRAMES))), list(range(0, count, max(1, count // EDGE_FRAMES)))[:EDGE_FRAMES]


def localize(
    frames: Sequence[np.ndarray],
    template: np.ndarray,
    min_score: float = 0.5,
    coarse_factor: float = 0.5,
    edge_frames: Sequence[np.ndarray] | Callable[[], Sequence[np.ndarray]] | None = None,
) -> Localization:
    """Locate the overlay in a few RGB frames of one video.

    Args:
        frames: RGB uint8 frames (the median of the first :data:`MEDIAN_FRAMES` suppresses button presses and
            game motion).
        template: the layout's rest template, RGBA (alpha = shape) or RGB.
        min_score: below this best correlation the overlay counts as absent.
        coarse_factor: image downscale of the coarse search.
        edge_frames: the frames whose static edges find a faint overlay; ``None`` samples them from ``frames``
            (:func:`probe_sample`). A caller streaming a video keeps only the frames :func:`probe_sample` names,
            or passes a function that reads them, called only when intensity matching fails (most videos are
            located from their first :data:`MEDIAN_FRAMES` frames).

    Raises:
        OverlayNotFound: nothing scores ``min_score``; the message reports the best score and placement.
    """
    if not frames:
        raise ValueError("give at least one frame to localize the overlay in")
    first, edge_indices = probe_sample(len(frames))
    reference = median_frames([frames[i] for i in first]) if len(first) > 1 else frames[0]
    frame_grey = cv2.cvtColor(reference, cv2.COLOR_RGB2GRAY)
    template_grey, mask = _prepare_template(template)
    coarse = _coarse(frame_grey, template_grey, mask, coarse_factor)
    score, x, y, scale = _fine(frame_grey, template_grey, mask, coarse_factor, coarse, near=True)
    if score < min_score:  # not found near the coarse match: search the whole image
        score, x, y, scale = _fine(frame_grey, template_grey, mask, coarse_factor, coarse, near=False)
    logger.debug("best overlay match: score %.3f at (%d, %d) scale %.3f", score, x, y, scale)
    if score >= min_score:
        return Localization(x, y, scale, score)
    # Faint overlay: match the edges that stay put over the clip (see the module docstring).
    if edge_frames is None:
        sample: Sequence[np.ndarray] = [frames[i] for i in edge_indices]
    else:
        sample = edge_frames() if callable(edge_frames) else edge_frames
    greys = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in sample]
    matches = sorted(_edge_matches(greys, template_grey, mask, coarse_factor), reverse=True)
    for edge_score, ex, ey, edge_scale in matches:
        support = _match_at(frame_grey, template_grey, mask, edge_scale, ex, ey)
        logger.debug(
            "edge match: score %.3f at (%d, %d) scale %.3f, intensity %.3f", edge_score, ex, ey, edge_scale, support
        )
        if edge_score >= CLEAR_EDGE_SCORE or (edge_score >= MIN_EDGE_SCORE and support >= MIN_EDGE_SUPPORT):
            return Localization(ex, ey, edge_scale, edge_score)
    edge_score = matches[0][0]
    raise OverlayNotFound(
        f"no overlay found: best match score {score:.3f} (needs {min_score}) at ({x}, {y}) scale {scale:.2f}, "
        f"edge match {edge_score:.3f} (needs {MIN_EDGE_SCORE}); check that the layout's template matches the "
        "overlay in this video"
    )


def _edge_matches(
    greys: Sequence[np.ndarray], template_grey: np.ndarray, mask: np.ndarray, coarse_factor: float
) -> list[tuple[float, int, int, float]]:
    """The best (score, x, y, scale) of the static edges of grey frames, by two models of the overlay's edges.

    The edges of the full-size template, scaled, keep an outline's two sides apart, as a large overlay
    shows them; the edges of the template drawn at each scale merge them, as a half-size one does. Each
    finds faint overlays the other misses (on the held-out grid at half size: the first the Xbox-like
    outlines, the second the filled minimal ones), and neither finds an overlay in videos without one.
    """
    full = _static_edges(greys)
    edge_template, edge_mask = _edges(template_grey), cv2.dilate(mask, np.ones((3, 3), np.uint8))
    scaled_edges = _fine(
        full, edge_template, edge_mask, coarse_factor, _coarse(full, edge_template, edge_mask, coarse_factor), False
    )
    small = _static_edges(
        [cv2.resize(g, None, fx=coarse_factor, fy=coarse_factor, interpolation=cv2.INTER_AREA) for g in greys]
    )
    coarse = _coarse(small, template_grey, mask, coarse_factor, edges=True)
    drawn_edges = _fine(full, template_grey, mask, coarse_factor, coarse, near=False, edges=True)
    return [scaled_edges, drawn_edges]


def _match_at(
    frame_grey: np.ndarray, template_grey: np.ndarray, mask: np.ndarray, scale: float, x: int, y: int
) -> float:
    """Intensity correlation of the template at one placement."""
    width, height = round(template_grey.shape[1] * scale), round(template_grey.shape[0] * scale)
    window = frame_grey[y : y + height, x : x + width]
    if window.shape != (height, width):
        return -1.0
    return _match(window, template_grey, mask, scale)[0]
