"""Find where an overlay sits in a video: multi-scale template matching against the layout's rest template.

The overlay is the template uniformly scaled (0.5-2x), translated, possibly alpha-blended over the game
and compressed. Matching uses zero-mean normalised correlation restricted to the template's shape
(its alpha channel), which tolerates partial transparency and brightness changes. A coarse pass on
downscaled images over the whole scale range is followed by a fine pass around the best candidate; the coarse
intensity pass computes its scores by plain correlations (:func:`_correlations_by_sums`), every score a match is
accepted on is OpenCV's masked matching.

A faint overlay (30% opacity, outlines only) over a busy game correlates poorly in intensity even at
the right place. The fallback matches edges instead: the median over frames of each pixel's gradient
magnitude keeps the overlay's edges, which stay put, and drops the game's, which move; they are compared
with models of the template's edges (:func:`_edge_models`). A match is accepted
when the edge match is clear (:data:`CLEAR_EDGE_SCORE`), or good (:data:`MIN_EDGE_SCORE`) with the intensity
correlation at that exact placement agreeing (:data:`MIN_EDGE_SUPPORT`), so a clip without an overlay still fails.
Either way it must stand out from the same model's scores elsewhere (:data:`PROMINENCE`) and lie where the game
moves (:data:`MOVING_SHARE`); an intensity match below ``min_score +`` :data:`BAND_MARGIN`, or any of a faint
template (:data:`FAINT_CONTRAST`), needs the static edges at its placement to agree: overlay-free game frames,
static scenery and HUD shapes matched otherwise (docs/overlay.md, "Round 4: false finds").

An edge match (:data:`MOTION_EDGE_FLOOR` and up) may pass on a second cue instead, too weak for those bars or not
standing out on the edges: the game's motion dimmed in the template's shape (:func:`motion_dip`,
:data:`MIN_MOTION_SUPPORT`), standing out on the motion map. A translucent overlay shows only part of the game's change
behind it, a cue independent of its colours and edges (docs/overlay.md, "Round 6" and "Session 29";
:func:`_passing_bar`).

A faint outline matches only within a few percent of its scale, so its coarse score can lose to a look-alike at
another scale: where the best coarse match fails, the best of every scale band is refined too (on a blurred coarse
edge image for the edges), and a clear edge match may score less at a larger scale, where videos without an
overlay score less (:data:`NULL_DECAY`; docs/overlay.md, "Round 3: overlays not found").
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np

from nitrogen_datasets.errors import DatasetError
from nitrogen_datasets.overlay.masked_patches import MaskedPatches

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
SCALE_BANDS = 4
"""When the best coarse match fails, the best of each of this many equal runs of coarse scales is refined too: a
faint overlay's thin outlines match only within a few percent of their scale, so its coarse score can lose to a
look-alike at another scale that the full-resolution pass then rejects (Round 3 of docs/overlay.md)."""
BAND_MARGIN = 0.2
"""How much more than ``min_score`` an intensity match found only near another scale band's coarse best needs: on
312 (scene without an overlay, template) pairs such matches reached 0.56 (``min_score`` 0.5 let them through) and
the usual search 0.66, where the one training clip they find (``sprite-arcade-2`` at scale 0.5) scores 0.79."""
COARSE_EDGE_BLUR = 1.5
"""Gaussian sigma (coarse pixels) blurring both sides of the coarse edge match: an outline a few percent off in
scale then still overlaps its drawing, so the coarse pass proposes the right place; the decision is the
full-resolution score's."""
NULL_DECAY = 0.25
""":data:`CLEAR_EDGE_SCORE` falls as ``(scale / MIN_SCALE) ** -NULL_DECAY``: a larger template has fewer placements
and more pixels, so videos without an overlay score lower (the best per scale over 96 (scene, template) pairs
fell from 0.31 at scale 0.5 to 0.24 at 1 and 0.17-0.21 at 1.9-2, a decay of 0.3-0.4: this is the cautious
side). :data:`MIN_EDGE_SCORE` stays: lowered too, it let 3 of 312 (scene without an overlay, template) pairs through."""
FAINT_CONTRAST = 20.0
"""A template whose grey levels inside its shape vary less than this (standard deviation, 0-255) is faint: an
outline at low opacity over a uniform translucent body (``sprite-xbox-3`` 4.0, ``-dualsense-3`` 5.6,
``-keyboard-3`` 5.4, ``-arcade-3`` 11.1; every other training template and preset 37 or more). Zero-mean normalised
correlation ignores contrast, so such a template matches any patch with a similar faint pattern: overlay-free game
frames scored 0.50-0.84 by intensity (docs/overlay.md, "Round 4: false finds"). Its intensity match counts only
where it would pass as an edge match: static edges there above :func:`_edge_thresholds`' clear bar, standing out
(:data:`PROMINENCE`), where the game moves (:data:`MOVING_SHARE`)."""
PROMINENCE = 0.55
"""An edge match is accepted only if the same edge model, at the same scale, scores less than this fraction of it
everywhere at least :data:`PROMINENCE_REACH` of the template's size away: an overlay over moving play is the one
static outline of its shape, whereas static game scenery matches it in many places. On the training clips the edge
finds' ratio was at most 0.51 (Round 4 of docs/overlay.md)."""
PROMINENCE_REACH = 0.25
"""How far (a fraction of the scaled template's width and height, either side) :data:`PROMINENCE`'s "elsewhere"
starts: a quarter leaves placements to compare with even at scale 2 in a 640x360 frame, where half did not."""
MOVING_SHARE = 0.5
"""An edge match is accepted only where at least this share of the template's shape shows the game moving (a grey
level varying over the edge frames by more than :data:`MOVING_STD`): static edges are evidence of an overlay only
where the game behind it moves. The training clips' edge finds showed 0.63-1.0 (0.59 for the held-out
``sprite-xbox-6`` CRF 35 x2, over a slow, smooth scene); overlay-free clips' edge false finds on static scenery or
opaque HUD shapes 0-0.41 (Round 4 of docs/overlay.md)."""
BAR_LEVEL = 16
"""Grey level at or below which a whole column or row, in every edge frame, is a letterbox bar (:func:`_unbarred`)."""
MOVING_STD = 3.0
"""Standard deviation of a pixel's grey level over the edge frames above which :data:`MOVING_SHARE` counts it as
moving. At 4 (above the H.264 grain of upscaled pixel art: Crafter's median is 3.4) the held-out ``sprite-xbox-6``
CRF 35 x2 clip showed 0.47 and was lost; at 3 it shows 0.59."""


MOTION_HIGHPASS = 6.0
"""Sigma, in pixels per 360 rows of video, of the blur subtracted from the motion map (:func:`motion_dip`): the
scene's own motion varies over larger areas than an overlay's outlines."""
MIN_MOTION_SUPPORT = 0.3
"""Correlation of the template's shape with the motion map (:func:`motion_dip`) at an edge match that lets it
pass without the edge bars or the edges' prominence: a translucent overlay dims the game's motion behind it in its own
shape."""
MOTION_EDGE_FLOOR = 0.25
"""The least edge score of a match that :data:`MIN_MOTION_SUPPORT` lets pass."""
INNER_CANDIDATES = 4
"""Best coarse matches of the edges inside the template's shape (:func:`_edge_models`) refined at full resolution:
the first over the whole image with the first group of :func:`_edge_matches`, the others near their place with the
second. With few pixels at the coarse size, that model places the overlay well but may rank its scale second: seed
3's held-out ``sprite-gamecube-2`` at x0.5 was its second coarse match (0.427 against 0.443), 0.80 once refined
(read to find this; later seeds are the evaluation, docs/overlay.md "Session 26")."""


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


@dataclass(frozen=True, eq=False)
class _Model:
    """What an image is compared with: a grey template (scale 1) and its shape mask, and how they are scaled.

    The intensity model is the template itself; :func:`_edge_models` gives the models of its edges. With
    ``drawn_edges`` the image is an edge-magnitude image and the template is compared by the edges of its scaled
    drawing (scaling first, as the video did: a half-size outline's two edges merge into one, which scaling the
    full-size edge image does not reproduce), over its shape and a pixel beyond it, or with ``inner`` inside the
    shape only. One value for the three, so the passes that search a model (:func:`_coarse`, :func:`_fine`) and
    score it (:func:`_match_at`) cannot be handed a mix of two.
    """

    grey: np.ndarray = field(repr=False)
    mask: np.ndarray = field(repr=False)
    drawn_edges: bool = False
    inner: bool = False


def _match(image: np.ndarray, model: _Model, scale: float, blur: float = 0.0) -> tuple[float, int, int]:
    """Best normalised correlation of ``model`` at ``scale`` over ``image``, and its top-left.

    ``blur`` (a Gaussian sigma) smooths the scaled template as :func:`_coarse` smoothed the image.
    """
    return _peak(_correlations(image, model, scale, blur))


def _peak(result: np.ndarray | None) -> tuple[float, int, int]:
    """The best score of a correlation map and its top-left (-1 at the origin where there is no map)."""
    if result is None:
        return -1.0, 0, 0
    _, best, _, (x, y) = cv2.minMaxLoc(result)
    return float(best), int(x), int(y)


def _scaled_template(
    model: _Model, scale: float, frame_shape: tuple[int, ...], blur: float = 0.0
) -> tuple[np.ndarray, np.ndarray] | None:
    """The template and its mask as :func:`_correlations` compares them at ``scale`` (see :func:`_match`).

    ``None`` where the scaled template is too small, too large for a frame of ``frame_shape`` or flat.
    """
    width = round(model.grey.shape[1] * scale)
    height = round(model.grey.shape[0] * scale)
    if width < 8 or height < 8 or width > frame_shape[1] or height > frame_shape[0]:
        return None
    scaled = cv2.resize(model.grey, (width, height), interpolation=cv2.INTER_AREA)
    scaled_mask = cv2.resize(model.mask, (width, height), interpolation=cv2.INTER_NEAREST)
    if model.drawn_edges:
        reach = cv2.erode if model.inner else cv2.dilate
        scaled, scaled_mask = _edges(scaled), reach(scaled_mask, np.ones((3, 3), np.uint8))
        if not scaled_mask.any():
            return None
    if blur > 0:
        scaled = cv2.GaussianBlur(scaled.astype(np.float32), (0, 0), blur)
    if scaled[scaled_mask > 0].std() < 1e-3:
        return None
    return scaled, scaled_mask


def _correlations(image: np.ndarray, model: _Model, scale: float, blur: float = 0.0) -> np.ndarray | None:
    """Every placement's correlation as :func:`_match` scores it.

    ``None`` where the scaled template is too small, too large or flat.
    """
    prepared = _scaled_template(model, scale, image.shape, blur)
    if prepared is None:
        return None
    scaled, scaled_mask = prepared
    result = cv2.matchTemplate(image, scaled, cv2.TM_CCOEFF_NORMED, mask=scaled_mask)
    return np.nan_to_num(result, nan=-1.0, posinf=-1.0, neginf=-1.0)


FLAT_VARIANCE = 1e-2
"""Grey-level variance under the mask below which :func:`_correlations_by_sums` scores a placement 0: a flat
window, such as a letterbox bar, correlates with nothing (OpenCV's masked matching scores one 1e-9 or so)."""


class SummedImage:
    """A grey image made ready for :func:`_correlations_by_sums`, once for every scale of a coarse pass.

    Its values as float32 less their mean (the score does not change, and the local variance is then not a small
    difference of large float32 sums), and their squares.
    """

    def __init__(self, image: np.ndarray) -> None:
        values = image.astype(np.float32)
        self.centred = values - np.float32(values.mean())
        self.squares = self.centred * self.centred
        self.shape = image.shape


def _correlations_by_sums(image: SummedImage, model: _Model, scale: float) -> np.ndarray | None:
    """:func:`_correlations` of an intensity image by three plain correlations: faster the larger the image.

    OpenCV's masked ``TM_CCOEFF_NORMED`` costs 3-5 times its unmasked matching (8.6 against 2.8 ms for a 60x38
    template over a 640x360 image); the same score is the masked zero-mean template's correlation with the image
    over the root of the template's energy and the image's variance under the mask, whose two local sums are
    correlations with the mask: three ``TM_CCORR`` calls (1.2 ms each there). A coarse pass at 1280x720 took 2-2.5x
    less time, at 640x360 1.3x. Against float64 sums, its scores are as close as OpenCV's or closer (both up to 3e-4
    off somewhere, about 1e-6 near a match): the coarse pass takes it (the placements it proposes are refined by
    OpenCV's matching, which every acceptance score comes from).
    """
    prepared = _scaled_template(model, scale, image.shape)
    if prepared is None:
        return None
    patch = MaskedPatches.prepare([prepared[0]], prepared[1])
    inside, zero_mean, energy = patch.mask, patch.zero_mean[0], patch.norms[0]
    count = float(inside.sum())
    numerator = cv2.matchTemplate(image.centred, zero_mean, cv2.TM_CCORR)
    local = cv2.matchTemplate(image.centred, inside, cv2.TM_CCORR)
    variance = np.maximum(cv2.matchTemplate(image.squares, inside, cv2.TM_CCORR) - local * local / np.float32(count), 0)
    flat = variance <= np.float32(FLAT_VARIANCE * count)
    score = numerator / np.sqrt(np.where(flat, np.float32(1.0), variance) * np.float32(energy))
    score[flat] = 0.0
    return np.asarray(score, dtype=np.float32)


def sobel_magnitude(image: np.ndarray) -> np.ndarray:
    """The magnitude of a float32 image's 3x3 Sobel gradient, the same bits on every call.

    Not ``cv2.magnitude``: for the same gradients its result differed in the last bit from call to call (it
    depends on where its buffers lie: 1,162 of 3,000 calls on one knob's search region rounded some pixels the
    other way), and knob readings of one video then differed by up to 1e-7 between runs. NumPy's float32
    products, sum and square root round every element alike wherever it lies.
    """
    gx = cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3)
    np.multiply(gx, gx, out=gx)
    gx += np.multiply(gy, gy, out=gy)
    return np.sqrt(gx, out=gx)


def _edges(grey: np.ndarray) -> np.ndarray:
    return sobel_magnitude(grey.astype(np.float32))


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
    image: np.ndarray, model: _Model, coarse_factor: float, blur: float = 0.0, by_sums: bool = False
) -> list[tuple[float, int, int, float]]:
    """The best (score, x, y, scale) of every coarse scale, in scale order, on the image downscaled by ``coarse_factor``.

    For a model of ``drawn_edges``, ``image`` is already the downscaled edge image (edges of downscaled frames).
    ``blur`` smooths both the image and each scaled template (an edge image's thin lines, see
    :data:`COARSE_EDGE_BLUR`). ``by_sums`` (an intensity image, no ``drawn_edges`` nor ``blur``) scores by
    :func:`_correlations_by_sums`.
    """
    if by_sums and (model.drawn_edges or blur > 0):
        raise ValueError("the coarse pass scores by sums only an intensity image, without edges or blur")
    small = (
        image
        if model.drawn_edges
        else cv2.resize(image, None, fx=coarse_factor, fy=coarse_factor, interpolation=cv2.INTER_AREA)
    )
    # Large templates are matched on an image half as large again, a quarter of the work; on the held-out
    # grid this located the same clips (213 of 216).
    smaller = cv2.resize(small, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    if blur > 0:
        small = cv2.GaussianBlur(small.astype(np.float32), (0, 0), blur)
        smaller = cv2.GaussianBlur(smaller.astype(np.float32), (0, 0), blur)

    summed = (SummedImage(small), SummedImage(smaller)) if by_sums else None

    def match(scale: float) -> tuple[float, int, int]:
        half = scale >= HALF_COARSE_FROM
        factor = coarse_factor / 2 if half else coarse_factor
        if summed is not None:
            score, x, y = _peak(_correlations_by_sums(summed[half], model, scale * factor))
        else:
            score, x, y = _match(smaller if half else small, model, scale * factor, blur)
        return (score, 2 * x, 2 * y) if half else (score, x, y)

    scales = [float(s) for s in np.geomspace(MIN_SCALE, MAX_SCALE, COARSE_SCALES)]
    return [(score, x, y, scale) for scale, (score, x, y) in zip(scales, _map_threads(match, scales), strict=True)]


def _best(candidates: Sequence[tuple[float, int, int, float]]) -> tuple[float, int, int, float]:
    """The highest-scoring of (score, x, y, scale) candidates (the first on a tie)."""
    return max(candidates, key=lambda candidate: candidate[0])


def _band_bests(coarse: Sequence[tuple[float, int, int, float]]) -> list[tuple[float, int, int, float]]:
    """The best coarse match within each of :data:`SCALE_BANDS` runs of consecutive scales, best first."""
    bands = np.array_split(np.arange(len(coarse)), SCALE_BANDS)
    return sorted((_best([coarse[i] for i in band]) for band in bands if len(band)), reverse=True)


def _fine(
    image: np.ndarray, model: _Model, coarse_factor: float, coarse: tuple, near: bool
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
        height, width = (round(side * max(candidates)) for side in model.grey.shape[:2])
        reach = 8 + round(FINE_WINDOW * max(height, width))
        x0 = min(max(0, round(coarse[1] / coarse_factor) - reach), max(0, image.shape[1] - width))
        y0 = min(max(0, round(coarse[2] / coarse_factor) - reach), max(0, image.shape[0] - height))
        image = image[y0 : y0 + height + 2 * reach, x0 : x0 + width + 2 * reach]
    matches = _map_threads(lambda s: _match(image, model, s), candidates)
    score, x, y, scale = max(((*match, s) for match, s in zip(matches, candidates, strict=True)), key=lambda r: r[0])
    return score, x + x0, y + y0, scale


MEDIAN_BLOCK_BYTES = 64 * 1024
"""Bytes of each frame :func:`median_frames` sorts at a time (17 rows at 720p): nine such blocks stay in the CPU's
cache through the sorting network's 30 exchanges, where whole frames (25 MB for nine at 720p) went out to memory
on each. Inside an extraction the 720p median took 9-17 ms against 27-186 ms (session 19, load 5)."""


def median_frames(frames: Sequence[np.ndarray]) -> np.ndarray:
    """``np.median(np.stack(frames), axis=0).astype(np.uint8)`` for uint8 frames, 30x faster at 720p.

    An element-wise sorting network (``np.minimum``/``np.maximum`` of whole frames) instead of a sort along
    the stacked axis; an even count averages the two middle values and rounds down, as ``astype`` does. It
    runs on blocks of rows (:data:`MEDIAN_BLOCK_BYTES`) one after the other: element-wise, so the same values.
    """
    first = np.asarray(frames[0])
    rows = max(1, MEDIAN_BLOCK_BYTES // max(1, first[:1].nbytes))
    out = np.empty_like(first)
    for top in range(0, first.shape[0], rows):
        out[top : top + rows] = _median_block([np.asarray(frame)[top : top + rows] for frame in frames])
    return out


def _median_block(layers: list[np.ndarray]) -> np.ndarray:
    """The element-wise median of same-shaped uint8 arrays by a sorting network (see :func:`median_frames`)."""
    count = len(layers)
    for end in range(count - 1, (count - 1) // 2 - 1, -1):  # bubble passes: layers[end:] end up sorted
        for index in range(end):
            low = np.minimum(layers[index], layers[index + 1])
            layers[index + 1] = np.maximum(layers[index], layers[index + 1])
            layers[index] = low
    if count % 2:
        return layers[count // 2]
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
    motion_required: bool = False,
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
        motion_required: accept a match found through the static edges only where the template's shape also dims
            the game's motion and stands out on the motion map (the motion cue of :func:`_passing_bar`). The
            farther search of :func:`~.extract.search` asks for it: it looks again where a first search found
            nothing, and a HUD's static edges stand out over a longer span as well as an overlay's do, where
            only a translucent overlay dims the scene moving behind it.

    Raises:
        OverlayNotFound: nothing scores ``min_score``; the message reports the best score and placement.
    """
    if not frames:
        raise ValueError("give at least one frame to localize the overlay in")
    first, edge_indices = probe_sample(len(frames))
    reference = median_frames([frames[i] for i in first]) if len(first) > 1 else frames[0]
    frame_grey = cv2.cvtColor(reference, cv2.COLOR_RGB2GRAY)
    template_grey, mask = _prepare_template(template)
    intensity = _Model(template_grey, mask)
    coarse = _coarse(frame_grey, intensity, coarse_factor, by_sums=True)
    found, (score, x, y, scale) = _refine(frame_grey, intensity, coarse_factor, coarse, min_score)
    logger.debug("best overlay match: score %.3f at (%d, %d) scale %.3f", score, x, y, scale)
    faint = _faint(template_grey, mask)  # is_faint(template), on the grey template already made
    if found and not faint and score >= min_score + BAND_MARGIN:
        return Localization(x, y, scale, score)
    # Faint overlay: match the edges that stay put over the clip (see the module docstring).
    if edge_frames is None:
        sample: Sequence[np.ndarray] = [frames[i] for i in edge_indices]
    else:
        sample = edge_frames() if callable(edge_frames) else edge_frames
    greys = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in sample]
    models = _edge_models(template_grey, mask)
    static = _static_edges(greys)
    unbarred = _unbarred(static, greys)
    motion = np.stack(greys).astype(np.float32).std(axis=0)
    dip = motion_dip(motion)

    def motion_allows(at_scale: float, at_x: int, at_y: int) -> bool:
        """Whether ``motion_required`` lets a match there pass: off, or the shape dims the motion, standing out."""
        return not motion_required or (
            _shape_at(dip, template, at_scale, at_x, at_y) >= MIN_MOTION_SUPPORT
            and _motion_stands_out(dip, template, at_scale, at_x, at_y)
        )

    doubted = []
    if found:
        # A weak intensity match needs the static edges there to agree; one of a faint template must pass as an edge
        # match would: clear edges that stand out, where the game moves.
        agree = _edge_score_at(static, models, scale, x, y)
        logger.debug("intensity match %.3f (faint template: %s): static edges there %.3f", score, faint, agree)
        if not faint and agree >= MIN_EDGE_SUPPORT and motion_allows(scale, x, y):
            return Localization(x, y, scale, score)
        agree_bar = _edge_thresholds(scale)[1]
        if (
            faint
            and agree >= agree_bar
            and _stands_out(static, models, scale, x, y)
            and _moving_share(motion, mask, scale, x, y) >= MOVING_SHARE
            and (unbarred is static or _edge_score_at(unbarred, models, scale, x, y) >= agree_bar)
            and motion_allows(scale, x, y)
        ):
            return Localization(x, y, scale, score)
        doubted.append(f"intensity {score:.3f} where the static edges score {agree:.3f}")
    seen: list[tuple[float, int, int, float]] = []
    for group in _edge_matches(greys, static, models, coarse_factor, (x, y, scale)):
        for edge_score, ex, ey, edge_scale in sorted(group, reverse=True):
            support = _match_at(frame_grey, intensity, edge_scale, ex, ey)
            moved = _shape_at(dip, template, edge_scale, ex, ey)
            logger.debug(
                "edge match: score %.3f at (%d, %d) scale %.3f, intensity %.3f, motion %.3f",
                edge_score,
                ex,
                ey,
                edge_scale,
                support,
                moved,
            )
            bar, cleared = _passing_bar(
                edge_score,
                support,
                moved,
                edge_scale,
                functools.partial(_stands_out, static, models, edge_scale, ex, ey),
                functools.partial(_motion_stands_out, dip, template, edge_scale, ex, ey),
                motion_required,
            )
            if bar is None:
                if cleared:
                    cue = f" with motion {moved:.3f}" if moved >= MIN_MOTION_SUPPORT else ""
                    doubted.append(f"edges {edge_score:.3f}{cue} at scale {edge_scale:.2f} not standing out")
                continue
            if _moving_share(motion, mask, edge_scale, ex, ey) < MOVING_SHARE:
                doubted.append(f"edges {edge_score:.3f} at scale {edge_scale:.2f} where the game does not move")
            elif unbarred is not static and _edge_score_at(unbarred, models, edge_scale, ex, ey) < bar:
                doubted.append(f"edges {edge_score:.3f} at scale {edge_scale:.2f} on the letterbox bars' edges")
            else:
                return Localization(ex, ey, edge_scale, edge_score)
        seen += group
    edge_score, _, _, edge_scale = _best(seen)
    raise OverlayNotFound(
        f"no overlay found: best match score {score:.3f} (needs {min_score}) at ({x}, {y}) scale {scale:.2f}, "
        f"edge match {edge_score:.3f} at scale {edge_scale:.2f} (needs {MIN_EDGE_SCORE} with intensity "
        f"{MIN_EDGE_SUPPORT}, or {_edge_thresholds(edge_scale)[1]:.3f})"
        f"{'; rejected: ' + ', '.join(doubted[:3]) if doubted else ''}; "
        "check that the layout's template matches the overlay in this video, or give its placement "
        "(--at X,Y,SCALE; ExtractConfig.placement)"
    )


class PlacementOutsideFrame(DatasetError, ValueError):
    """A placement given by the user puts part of the overlay outside the video's frame."""


def at_placement(frames: Sequence[np.ndarray], template: np.ndarray, x: int, y: int, scale: float) -> Localization:
    """The overlay where the caller says it is, without a search.

    For an overlay too faint for :func:`localize` to tell from a look-alike (a thin outline at 30% opacity under
    heavy compression), or to skip the search: streaming software shows where a source sits and how it is scaled.
    The score is the intensity correlation there (as :func:`localize` reports it), for the log only: a faint
    overlay's is low however right the placement.

    Args:
        frames: RGB uint8 frames of the video (the median of the first :data:`MEDIAN_FRAMES` is scored).
        template: the layout's rest template.
        x: the overlay's left edge in the video, in pixels.
        y: its top edge.
        scale: the overlay's size in the video over the template's.

    Raises:
        PlacementOutsideFrame: the scaled template does not lie wholly inside the frame.
    """
    if not frames:
        raise ValueError("give at least one frame to score the placement on")
    height, width = frames[0].shape[:2]
    drawn_w, drawn_h = round(template.shape[1] * scale), round(template.shape[0] * scale)
    if x < 0 or y < 0 or x + drawn_w > width or y + drawn_h > height:
        raise PlacementOutsideFrame(
            f"the overlay placed at ({x}, {y}) scale {scale:g} spans ({x}, {y})-({x + drawn_w}, {y + drawn_h}), "
            f"outside the {width}x{height} video; give its top-left pixel and its size over the template's "
            f"({template.shape[1]}x{template.shape[0]})"
        )
    first, _ = probe_sample(len(frames))
    reference = median_frames([frames[i] for i in first]) if len(first) > 1 else frames[0]
    score = _match_at(cv2.cvtColor(reference, cv2.COLOR_RGB2GRAY), _Model(*_prepare_template(template)), scale, x, y)
    logger.debug("overlay placed at (%d, %d) scale %.3f: intensity %.3f there", x, y, scale, score)
    return Localization(x, y, scale, score)


def _refine(
    image: np.ndarray,
    model: _Model,
    coarse_factor: float,
    coarse: Sequence[tuple[float, int, int, float]],
    min_score: float,
) -> tuple[bool, tuple[float, int, int, float]]:
    """Whether intensity finds the overlay, and the best full-resolution (score, x, y, scale) it saw.

    Near the best coarse match (most overlays), else anywhere at its scales, else near the best of every other
    scale band (:data:`SCALE_BANDS`), which must score :data:`BAND_MARGIN` more: each candidate refined is
    another chance for a look-alike. The others cost time only where nothing was found yet.
    """
    best = _best(coarse)
    near = _fine(image, model, coarse_factor, best, near=True)
    if near[0] >= min_score:
        return True, near
    anywhere = _fine(image, model, coarse_factor, best, near=False)
    if anywhere[0] >= min_score:
        return True, anywhere
    bands = [_fine(image, model, coarse_factor, c, near=True) for c in _band_bests(coarse) if c != best]
    band = _best(bands) if bands else anywhere
    if band[0] >= min_score + BAND_MARGIN:
        return True, band
    return False, _best([anywhere, band])


def _passing_bar(
    edge_score: float,
    support: float,
    moved: float,
    scale: float,
    edges_stand_out: Callable[[], bool],
    motion_stands_out: Callable[[], bool],
    motion_required: bool = False,
) -> tuple[float | None, bool]:
    """The edge bar a match passes on, or ``None``; and whether it cleared either cue's scores, standing out or not.

    The bar is what the letterbox check then holds the match to. Two cues can carry a match. The edges: clear
    (:data:`CLEAR_EDGE_SCORE`), or good with the intensity there agreeing (:data:`MIN_EDGE_SCORE`,
    :data:`MIN_EDGE_SUPPORT`), and standing out on the static edges (``edges_stand_out``). The dimmed motion: edges
    of at least :data:`MOTION_EDGE_FLOOR` where the template's shape dims the game's motion
    (``moved`` >= :data:`MIN_MOTION_SUPPORT`), standing out on the motion map (``motion_stands_out``). Either cue
    suffices, so a match whose edges clear their bars is never held to more than a weaker one: until session 29 a
    match that cleared the edge bars but did not stand out on the edges was rejected even where its motion stood out,
    which would have passed it with an edge score under the bars. The two checks are called only when needed.
    With ``motion_required`` only the dimmed motion carries a match (:func:`localize`'s farther search).
    """
    least, clear = _edge_thresholds(scale)
    by_edges = edge_score >= clear or (edge_score >= least and support >= MIN_EDGE_SUPPORT)
    by_motion = edge_score >= MOTION_EDGE_FLOOR and moved >= MIN_MOTION_SUPPORT
    if by_edges and not motion_required and edges_stand_out():
        return (clear if edge_score >= clear else least), True
    if by_motion and motion_stands_out():
        return MOTION_EDGE_FLOOR, True
    return None, by_edges or by_motion


def _edge_thresholds(scale: float) -> tuple[float, float]:
    """(:data:`MIN_EDGE_SCORE`, :data:`CLEAR_EDGE_SCORE` lowered as :data:`NULL_DECAY` says) at ``scale``."""
    return MIN_EDGE_SCORE, CLEAR_EDGE_SCORE * (max(scale, MIN_SCALE) / MIN_SCALE) ** -NULL_DECAY


def _edge_matches(
    greys: Sequence[np.ndarray],
    full: np.ndarray,
    models: Sequence[_Model],
    coarse_factor: float,
    intensity_best: tuple[int, int, float],
) -> Iterator[list[tuple[float, int, int, float]]]:
    """Groups of (score, x, y, scale) matches of the static edges of grey frames, by the models of the overlay's edges.

    The edges of the full-size template, scaled, keep an outline's two sides apart, as a large overlay
    shows them; the edges of the template drawn at each scale merge them, as a half-size one does. Each
    finds faint overlays the other misses (on the held-out grid at half size: the first the Xbox-like
    outlines, the second the filled minimal ones), and neither finds an overlay in videos without one. A template
    that is not faint has a third model, its edges inside the shape (:func:`_edge_models`): its best coarse match is
    searched in the first group, its next ones near their place in the second (:data:`INNER_CANDIDATES`). The first group is each model's best from its plain coarse pass. The second, searched only if the caller
    asks for more, is each model's best near the best of every scale band of a blurred coarse pass
    (:data:`COARSE_EDGE_BLUR`), and the intensity pass's best placement ``intensity_best`` (x, y, scale) scored
    by the better model there (a faint overlay's intensity match can be right and too weak on its own): overlays
    the first group finds cost no more than before. ``full`` is the static edges of ``greys`` (:func:`_static_edges`),
    ``models`` the template's edge models (:func:`_edge_models`).
    """
    scaled, drawn, *inside = models
    small = _static_edges(
        [cv2.resize(g, None, fx=coarse_factor, fy=coarse_factor, interpolation=cv2.INTER_AREA) for g in greys]
    )
    scaled_coarse = _coarse(full, scaled, coarse_factor)
    drawn_coarse = _coarse(small, drawn, coarse_factor)
    first = [
        _fine(full, scaled, coarse_factor, _best(scaled_coarse), near=False),
        _fine(full, drawn, coarse_factor, _best(drawn_coarse), near=False),
    ]
    inner_bests = [
        (model, best)
        for model in inside
        for best in sorted(_coarse(small, model, coarse_factor), reverse=True)[:INNER_CANDIDATES]
    ]
    first += [_fine(full, model, coarse_factor, c, near=False) for model, c in inner_bests[:1]]
    yield first
    scaled_blurred = _coarse(full, scaled, coarse_factor, blur=COARSE_EDGE_BLUR)
    matches = [_fine(full, scaled, coarse_factor, c, near=True) for c in _band_bests(scaled_blurred)]
    drawn_blurred = _coarse(small, drawn, coarse_factor, blur=COARSE_EDGE_BLUR)
    matches += [_fine(full, drawn, coarse_factor, c, near=True) for c in _band_bests(drawn_blurred)]
    matches += [_fine(full, model, coarse_factor, c, near=True) for model, c in inner_bests[1:]]
    x, y, scale = intensity_best
    yield [*matches, (_edge_score_at(full, models, scale, x, y), x, y, scale)]


def is_faint(template: np.ndarray) -> bool:
    """Whether the template's grey levels inside its shape vary less than :data:`FAINT_CONTRAST`.

    Such a template is an outline at low opacity over a uniform body, which intensity alone cannot tell from game
    scenery.
    """
    return _faint(*_prepare_template(template))


def _faint(template_grey: np.ndarray, mask: np.ndarray) -> bool:
    """:func:`is_faint` of a template already split into grey levels and shape."""
    return float(template_grey[mask > 0].std()) < FAINT_CONTRAST


def _unbarred(static: np.ndarray, greys: Sequence[np.ndarray]) -> np.ndarray:
    """``static`` without the edges where letterbox bars meet the picture (the same array where there are no bars).

    A bar is a run of whole columns (rows) from the frame's side that stay at or below :data:`BAR_LEVEL` in every
    frame. Its boundary with the picture is a long static edge that an outline spanning the picture matched at scale
    1.5 (square games pillarboxed in 640x360, Round 4 of docs/overlay.md); an overlay drawn over a bar makes it no
    bar. A match must still pass its bar on this image (checked only where there are bars).
    """
    bright = np.max(np.stack(greys), axis=0) > BAR_LEVEL
    columns, rows = np.flatnonzero(bright.any(axis=0)), np.flatnonzero(bright.any(axis=1))
    if not len(columns):
        return static
    cut = [
        (axis, index)
        for axis, lit, size in ((1, columns, static.shape[1]), (0, rows, static.shape[0]))
        for index in (lit[0], lit[-1] + 1)
        if 0 < index < size
    ]
    if not cut:
        return static
    cleaned = static.copy()
    for axis, index in cut:
        band = slice(max(0, index - 2), index + 2)
        if axis == 1:
            cleaned[:, band] = 0
        else:
            cleaned[band, :] = 0
    return cleaned


def motion_dip(spread: np.ndarray) -> np.ndarray:
    """How much less each pixel moves than its surroundings over the frames: the overlay's shape, where translucent.

    ``spread`` is each pixel's grey-level standard deviation over the edge frames (the array :func:`localize` also
    reads :data:`MOVING_SHARE` from). A pixel under an overlay of opacity a shows (1 - a) of the game's change from
    frame to frame, so the log of its standard deviation drops by -log(1 - a) (0.36 at 30% opacity) wherever the
    overlay is drawn, whatever its colours and however weak its edges; an opaque overlay, like any static part of the
    picture, does not move at all. The map is minus that log, less its blur (:data:`MOTION_HIGHPASS`), so that the
    scene's own slow and busy areas do not count; :func:`_shape_at` correlates it with the template's alpha.
    """
    dip = -np.log1p(spread.astype(np.float32, copy=False))
    sigma = MOTION_HIGHPASS * dip.shape[0] / 360
    return dip - cv2.GaussianBlur(dip, (0, 0), sigma)


def _shape_at(dip: np.ndarray, template: np.ndarray, scale: float, x: int, y: int) -> float:
    """Correlation of the template's alpha at one placement with :func:`motion_dip`'s map (-1 where undefined).

    Undefined for a template without alpha (its shape is its whole box), a placement past the frame, and a window
    that does not vary (letterbox bars, a still game).
    """
    if template.shape[2] != 4:
        return -1.0
    width, height = round(template.shape[1] * scale), round(template.shape[0] * scale)
    window = dip[y : y + height, x : x + width]
    if window.shape != (height, width) or float(window.std()) < 1e-6:
        return -1.0
    alpha = _scaled_alpha(template, width, height)
    if float(alpha.std()) < 1e-6:
        return -1.0
    return float(cv2.matchTemplate(window, alpha, cv2.TM_CCOEFF_NORMED)[0, 0])


def _scaled_alpha(template: np.ndarray, width: int, height: int) -> np.ndarray:
    """The template's alpha as float32, resized to ``width`` x ``height`` (what :func:`motion_dip`'s map is matched with)."""
    return cv2.resize(template[..., 3].astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)


def _moving_share(motion: np.ndarray, mask: np.ndarray, scale: float, x: int, y: int) -> float:
    """Share of the template's shape, scaled and placed at (x, y), where the frames' grey level varies.

    ``motion`` is each pixel's standard deviation over the edge frames; a pixel varies above :data:`MOVING_STD`.
    """
    width, height = round(mask.shape[1] * scale), round(mask.shape[0] * scale)
    window = motion[y : y + height, x : x + width]
    if window.shape != (height, width):
        return 0.0
    shape = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST) > 0
    return float((window[shape] > MOVING_STD).mean()) if shape.any() else 0.0


def _edge_models(template_grey: np.ndarray, mask: np.ndarray) -> list[_Model]:
    """The models of the template's edges (:func:`_edge_matches`), compared with static edges.

    The full-size template's edges scaled, and the edges of the template drawn at the scale (both over the shape
    and a pixel beyond it), and, unless the template is faint (:func:`is_faint`), the drawn edges inside the shape
    only (its mask eroded by a pixel at the scale, ``inner``). The first two count the border of the shape as an
    edge, which shows only where the game behind the overlay differs from its body: a light body over a light
    scene, or a dark one over a dark scene, leaves the border invisible and those models at or below zero at the
    overlay (the held-out ``sprite-gamecube-2`` at x0.5: -0.05 and -0.04), while the edges inside it (rings, glyphs,
    texture) show over any scene (0.80 there). A faint template's inside is a uniform translucent body: nothing
    to match but the scene's own edges, so it gets no third model (with one, two faint training clips were lost
    to look-alikes; docs/overlay.md, "Session 26").
    """
    models = [
        _Model(_edges(template_grey), cv2.dilate(mask, np.ones((3, 3), np.uint8))),
        _Model(template_grey, mask, drawn_edges=True),
    ]
    if not _faint(template_grey, mask):
        models.append(_Model(template_grey, mask, drawn_edges=True, inner=True))
    return models


def _edge_score_at(static: np.ndarray, models: Sequence[_Model], scale: float, x: int, y: int) -> float:
    """The best of the edge models' correlations (:func:`_edge_models`) with the static edges ``static`` at one placement."""
    return max(_match_at(static, model, scale, x, y) for model in models)


def _stands_out(static: np.ndarray, models: Sequence[_Model], scale: float, x: int, y: int) -> bool:
    """Whether the edge match at (x, y) stands out from the same model's scores elsewhere (:data:`PROMINENCE`).

    The model is the one of ``models`` (:func:`_edge_models`) that scores best at (x, y); "elsewhere" is every
    placement at least :data:`PROMINENCE_REACH` of the scaled template's size away, and a frame that leaves no such placement passes.
    """
    best: tuple[float, np.ndarray] | None = None
    width, height = round(models[0].grey.shape[1] * scale), round(models[0].grey.shape[0] * scale)
    for model in models:
        result = _correlations(static, model, scale)
        if (
            result is not None
            and y < result.shape[0]
            and x < result.shape[1]
            and (best is None or result[y, x] > best[0])
        ):
            best = (float(result[y, x]), result)
    return best is not None and _prominent(best[1], x, y, width, height)


def _prominent(result: np.ndarray, x: int, y: int, width: int, height: int) -> bool:
    """Whether ``result[y, x]`` is positive and stands out from the scores of the other placements.

    No placement at least :data:`PROMINENCE_REACH` of the ``width`` x ``height`` template away may reach
    :data:`PROMINENCE` of it (a frame that leaves no such placement passes).
    """
    score = float(result[y, x])
    if score <= 0:
        return False
    away = result.copy()
    reach_x, reach_y = round(width * PROMINENCE_REACH), round(height * PROMINENCE_REACH)
    away[max(0, y - reach_y) : y + reach_y + 1, max(0, x - reach_x) : x + reach_x + 1] = -1.0
    return float(away.max()) < PROMINENCE * score


def _motion_stands_out(dip: np.ndarray, template: np.ndarray, scale: float, x: int, y: int) -> bool:
    """:func:`_stands_out` for a match passed by its motion (:func:`_shape_at`): on the motion map, not the edges."""
    width, height = round(template.shape[1] * scale), round(template.shape[0] * scale)
    if height > dip.shape[0] or width > dip.shape[1]:
        return False
    alpha = _scaled_alpha(template, width, height)
    result = np.nan_to_num(cv2.matchTemplate(dip, alpha, cv2.TM_CCOEFF_NORMED), nan=-1.0, posinf=-1.0, neginf=-1.0)
    return y < result.shape[0] and x < result.shape[1] and _prominent(result, x, y, width, height)


def _match_at(image: np.ndarray, model: _Model, scale: float, x: int, y: int) -> float:
    """Correlation of ``model`` at one placement of ``image`` (as :func:`_match` scores it)."""
    width, height = round(model.grey.shape[1] * scale), round(model.grey.shape[0] * scale)
    window = image[y : y + height, x : x + width]
    if window.shape != (height, width):
        return -1.0
    return _match(window, model, scale)[0]
