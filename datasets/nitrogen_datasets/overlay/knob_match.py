"""Read a stick by finding the layout's own knob sprite inside its sweep area (art-agnostic, no training).

Why: a stick's reading is a position, and the layout's rest template already shows what moves: the knob,
drawn at the centre of the stick's sweep box. Wherever the knob is in a frame, the template's knob patch
matches there; its offset from the rest position, over the layout's travel (half the sweep box), is the
stick's value. This needs no network and nothing learned, so a sprite family never seen reads as well as
a familiar one; the learned parser's stick head (trained on four parametric families) does not carry over.

What makes it hold on real art:

* **The knob's extent comes from the template, checked by the video.** A layout gives the sweep box, not
  the knob's size, and a knob may be larger than its travel. Rings of edges centred on the rest position
  (the knob's rim, a gate, the base's rim) are candidates; the one whose patch moves most over the clip's
  first frames is the knob (a base or gate ring never moves, so its patch only ever matches at rest), unless
  its best placements leave the sweep box, which the knob never does (a look-alike in the game, followed).
* **Edges and intensity.** The correlations of the gradient magnitude and of the grey image are averaged: a
  pressed stick (L3/R3) that recolours its knob keeps its rim, a translucent overlay blended with the game
  keeps its edges' positions, and the grey image holds where a small knob is a few blocky pixels; the
  normalized cross-correlation (``TM_CCOEFF_NORMED``) absorbs the contrast the opacity scales.
* **A circular mask** keeps the base's static corners out of the knob's patch.
* **Tracking.** Where the knob is faint (low opacity, CRF 35) a patch of the game scene can match better
  than the knob for a frame. The knob moves a bounded distance between frames and a look-alike does not
  follow it, so the readings are the best path through the clip's score maps (:class:`KnobTrack`: moves of
  up to half a travel per frame are free, longer ones cost a share of the match contrast), decided 15
  frames late. That prior is real play's; where the knob, clearly seen, jumps far between most frames (a
  clip of independent actions), the cost fades out, since a look-alike that never moves would otherwise win.
* **A knob the video does not show reads centred.** At CRF 35 a small or faint knob can be gone from the
  frames; the best placement of its patch is then noise (mean best score below 0.3 over the frames it is
  chosen on) and its stick reads 0, the least wrong guess, rather than wherever the noise peaks.
* **Sub-pixel.** The patch is sampled from the template on the frame's own pixel grid at the found scale
  (exact rest position, no rounding), and the correlation peak is refined by a parabola per axis. A knob
  travelling far is matched on a grid coarser by a whole factor (same precision relative to its travel).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from nitrogen_datasets.overlay.errors import InvalidOverlayConfig
from nitrogen_datasets.overlay.layout import STICK_AXES, STICK_ELEMENTS, Box, OverlayLayout
from nitrogen_datasets.overlay.localize import Localization, sobel_magnitude
from nitrogen_datasets.overlay.masked_patches import MaskedPatches
from nitrogen_datasets.overlay.parse import ParsedFrame

FEATURES = ("both", "edges", "grey")


@dataclass(frozen=True)
class KnobMatchConfig:
    """Settings of the knob matcher.

    Args:
        feature: what is correlated: ``edges`` (gradient magnitude: survives recolouring and translucency),
            ``grey`` (intensity: holds better on small, blocky knobs) or ``both``, their correlations averaged
            (the default: 0.921 against 0.847 and 0.895 stick R^2 on training sprite families).
        rim_margin: frame pixels of the patch beyond the knob's rim (the rim's edge is whole in the patch).
        min_knob_px: the smallest knob radius considered, in frame pixels (a smaller patch matches noise).
        min_knob_template_px: the smallest knob radius considered, in template pixels.
        min_knob_to_travel: the smallest knob radius considered, in travels.
        max_knob_to_travel: the largest knob radius considered, in travels (presets draw up to ~2.5).
        candidates: ring radii tried as the knob's rim (the strongest rings of the template's radial profile).
        slack_px: frame pixels a knob centre may read beyond its sweep box (codec and rounding slack).
        edge_sigma: Gaussian blur (frame pixels) before the gradient, so codec noise does not dominate it.
        mask: correlate within the knob's disc only (a circular mask), not its whole square patch.
        work_travel_px: a knob travelling farther (frame pixels) is matched on a grid coarser by a whole factor.
        choose_frames: reference frames (spread evenly) the knob's patch is chosen on.
        max_outside: a candidate whose best placement lies outside the sweep box (by more than ``slack_px``)
            on more than this share of the choice frames is not the knob, which never leaves its box: it matches
            a look-alike in the scene (the most mobile candidate of an idle stick, often a small ring inside the
            knob) or nothing; if every candidate does, those that do least remain. 1 keeps them all (the choice
            before Round 5).
        score_ratio: a candidate knob is one whose mean match score is at least this share of the best's.
        spread_ratio: ... and that moves at least this share of the most mobile such candidate.
        track_jump: what a knob path pays (in match score, times :attr:`StickMatcher.contrast` when
            ``relative_costs``) to move farther than ``track_free`` between two frames (:class:`KnobTrack`);
            0 reads every frame alone.
        track_free: the move per frame (in travels, on each axis) a path makes for nothing: real play moves a
            stick less than 0.37 of its travel between frames 95% of the time.
        relative_costs: ``track_jump`` is a share of how far the chosen knob's best placement scores above its
            median one (a small knob at scale 0.5 scores 0.1 apart where a sharp one scores 0.6 apart).
        track_lag: frames a reading waits for the frames after it (the path through them decides it).
        track_peaks: a path steps only on a score map's local maxima (a knob, or something that looks like
            one). Without it, a knob that jumps farther than ``track_free`` is read at the edge of the free
            window nearest to it (its match score's slope scores almost as well there and costs no jump), so
            every fast flick reads short. Off by default: on the training sprite clips it lifts readable clips
            (0.964 -> 0.995, 0.749 -> 0.848) but the pooled R^2 falls 0.5342 -> 0.5251, the CRF 35 clips whose
            readings are already wrong (R^2 < 0) reading worse.
        track_clear: a frame whose best placement scores this share of the contrast above its median one is
            a clear sighting; the jump cost fades as clear consecutive sightings jump often (a video whose
            knob flicks between most frames is not real play: :meth:`KnobTrack.jump_now`); 0 never fades it.
        min_score: a knob whose best placement scores below this on average over the chosen frames is not
            seen (too faint, or lost in the codec): its stick reads centred, the least wrong guess.
    """

    feature: str = "both"
    rim_margin: float = 2.0
    min_knob_px: float = 3.0
    min_knob_template_px: float = 4.0
    min_knob_to_travel: float = 0.3
    max_knob_to_travel: float = 3.0
    candidates: int = 4
    slack_px: float = 2.0
    edge_sigma: float = 0.8
    mask: bool = True
    work_travel_px: float = 8.0
    choose_frames: int = 24
    max_outside: float = 0.25
    score_ratio: float = 0.75
    spread_ratio: float = 0.8
    track_jump: float = 0.35
    track_free: float = 0.5
    relative_costs: bool = True
    track_lag: int = 15
    track_peaks: bool = False
    track_clear: float = 0.8
    min_score: float = 0.3

    def __post_init__(self) -> None:
        if self.feature not in FEATURES:
            raise InvalidOverlayConfig(f"feature must be one of {FEATURES}, got {self.feature!r}")
        if self.candidates < 1:
            raise InvalidOverlayConfig(f"candidates must be >= 1, got {self.candidates}")


def _grey(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(rgb[..., :3], dtype=np.float32), cv2.COLOR_RGB2GRAY)


def feature_images(rgb: np.ndarray, config: KnobMatchConfig) -> list[np.ndarray]:
    """The single-channel float32 images matching runs on (:attr:`KnobMatchConfig.feature`), in a fixed order."""
    grey = _grey(rgb)
    images = [grey] if config.feature in ("grey", "both") else []
    if config.feature in ("edges", "both"):
        blurred = cv2.GaussianBlur(grey, (0, 0), config.edge_sigma) if config.edge_sigma > 0 else grey
        images.append(sobel_magnitude(blurred))
    return images


def _median(values: np.ndarray | list[float]) -> float:
    """``float(np.median(values))`` of finite values, by one partition.

    The tracker takes the median of every frame's score map of every stick, where ``np.median``'s general
    machinery (axes, NaN checks) cost 20 us a call against 2 us (equal results: the same partition and the same
    mean of the two middle values).
    """
    flat = np.asarray(values).reshape(-1)
    middle = flat.size // 2
    if flat.size % 2:
        return float(np.partition(flat, middle)[middle])
    part = np.partition(flat, (middle - 1, middle))
    return float(np.mean(part[middle - 1 : middle + 1]))


def _sample(image: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image`` at pixel-index coordinates (borders replicated)."""
    return cv2.remap(
        image, xs.astype(np.float32), ys.astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def ring_radii(
    template: np.ndarray, center: tuple[float, float], min_radius: float, max_radius: float, count: int
) -> list[float]:
    """Radii (template pixels) of the ``count`` strongest rings of edges centred on ``center``.

    A ring's strength is the median over 64 directions of the edge magnitude at that radius: a circle
    centred there (a knob's rim, a base's rim) is strong in every direction, a glyph or a neighbour in few.
    """
    rgb = template[..., :3].astype(np.float32)
    if template.shape[2] == 4:  # what shows where the template is transparent is the game, not this colour
        rgb = rgb * (template[..., 3:4].astype(np.float32) / 255.0)
    grey = cv2.GaussianBlur(_grey(rgb), (0, 0), 0.7)
    edges = sobel_magnitude(grey)
    radii = np.arange(min_radius, max(min_radius + 0.5, max_radius) + 0.25, 0.25)
    angles = np.linspace(0.0, 2.0 * np.pi, 64, endpoint=False)
    # Continuous coordinate c is pixel index c - 0.5.
    xs = center[0] - 0.5 + radii[:, None] * np.cos(angles)[None, :]
    ys = center[1] - 0.5 + radii[:, None] * np.sin(angles)[None, :]
    profile = np.median(_sample(edges, xs, ys), axis=1)
    peaks = [
        i
        for i in range(len(profile))
        if profile[i] > 0
        and profile[i] >= profile[max(0, i - 1)]
        and profile[i] >= profile[min(len(profile) - 1, i + 1)]
        and profile[i] > profile[max(0, i - 4) : i + 5].min()
    ]
    peaks.sort(key=lambda i: -profile[i])
    chosen = sorted(float(radii[i]) for i in peaks[:count])
    return chosen or [float(max_radius) / 2.0]


def _refine(result: np.ndarray, px: int, py: int) -> tuple[float, float]:
    """Sub-pixel offset of the peak at (px, py): a parabola through it and its neighbours, per axis."""

    def vertex(a: float, b: float, c: float) -> float:
        denominator = a - 2.0 * b + c
        return 0.0 if denominator >= 0 else min(0.5, max(-0.5, float(0.5 * (a - c) / denominator)))

    h, w = result.shape
    dx = vertex(result[py, px - 1], result[py, px], result[py, px + 1]) if 0 < px < w - 1 else 0.0
    dy = vertex(result[py - 1, px], result[py, px], result[py + 1, px]) if 0 < py < h - 1 else 0.0
    return dx, dy


@dataclass
class _Knob:
    """One candidate knob patch of one stick, on the (possibly coarser) working grid of its search region.

    The search region's top-left frame pixel is ``corner``; working pixel ``j`` averages frame pixels
    ``corner + step * j`` to ``+ step - 1`` (per axis), so it is centred at continuous ``corner + step * (j + 0.5)``.
    """

    features: list[np.ndarray]
    mask: np.ndarray
    corner: tuple[int, int]
    size: tuple[int, int]
    """The search region's (width, height) in frame pixels (a multiple of ``step``)."""
    rest: tuple[int, int]
    """Working pixel (x, y) of the patch's top-left at rest (the region is built around it)."""
    masked: MaskedPatches | None = None
    """The patch's features prepared for :func:`masked_ncc` (``None`` when matching is not masked)."""


DIRECT_FILTER_SIDE = 11
"""Masks up to this side are correlated by :func:`masked_ncc`'s own sums; larger ones by OpenCV's masked
``matchTemplate``. ``filter2D`` correlates directly up to an 11x11 kernel (10-30 us here) and switches to a
DFT above it, and the DFT route (``filter2D`` or ``matchTemplate`` without a mask, 100-300 us) gains little
over OpenCV's masked call there; ``matchTemplate``'s plain correlation also rounded the same frame
differently from run to run (6e-8 apart), which the direct sums do not."""


def masked_ncc(images: list[np.ndarray], patches: MaskedPatches) -> list[np.ndarray]:
    """``cv2.matchTemplate(image, patch, TM_CCOEFF_NORMED, mask=mask)`` of each image and its feature patch.

    Why not always OpenCV's: with a mask it correlates in several full DFT passes and costs 5-10x the unmasked
    call on a small knob's images (most of a stick reading's time). For masks up to :data:`DIRECT_FILTER_SIDE`
    the mask's local sums of every image and its square come from one direct ``filter2D`` over the images
    stacked as channels, and the zero-mean patch needs one more per image. Images are centred on their mean
    first (the score does not change), so the variance is not a small difference of large float32 sums:
    this agrees with OpenCV to 1e-6 on knob patches, and where they differ (up to 0.01 on an 11-pixel knob)
    OpenCV's float32 sums are the ones off. A placement whose image is flat under the mask scores -1 (as
    OpenCV's NaN there always read).
    """
    mask = patches.mask
    height, width = mask.shape
    if max(height, width) > DIRECT_FILTER_SIDE or len(images) > 2:  # filter2D takes at most 4 channels
        return [
            np.nan_to_num(
                cv2.matchTemplate(image, patch, cv2.TM_CCOEFF_NORMED, mask=mask), nan=-1.0, posinf=-1.0, neginf=-1.0
            )
            for image, patch in zip(images, patches.patches, strict=True)
        ]
    count = max(float(mask.sum()), 1.0)
    centred = [image - np.float32(cv2.mean(image)[0]) for image in images]
    planes = [plane for image in centred for plane in (image, image * image)]
    rows, cols = centred[0].shape[0] - height + 1, centred[0].shape[1] - width + 1

    def correlate(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        """Valid-region correlation (``filter2D`` anchored at the kernel's top-left, cropped)."""
        return cv2.filter2D(image, -1, kernel, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)[:rows, :cols]

    sums = correlate(cv2.merge(planes), mask)
    scores = []
    for index, (image, patch, norm) in enumerate(zip(centred, patches.zero_mean, patches.norms, strict=True)):
        numerator = correlate(image, patch)
        local = sums[..., 2 * index]
        denominator = np.maximum(sums[..., 2 * index + 1] - local * local / np.float32(count), 0.0) * np.float32(norm)
        flat = denominator <= 1e-9 * norm
        score = numerator / np.sqrt(np.where(flat, 1.0, denominator), dtype=np.float32)
        score[flat] = -1.0
        scores.append(score)
    return scores


class StickMatcher:
    """Finds one stick's knob in frames (or regions of frames starting at ``origin``).

    Args:
        box: the stick's sweep box (template pixels).
        where: the overlay's placement in the video.
        template: the layout's rest template (RGB or RGBA, scale 1).
        config: matcher settings.
        origin: frame pixel (x, y) where the images given start.
    """

    def __init__(
        self,
        box: Box,
        where: Localization,
        template: np.ndarray,
        config: KnobMatchConfig | None = None,
        origin: tuple[int, int] = (0, 0),
    ) -> None:
        self.config = config or KnobMatchConfig()
        self.where, self.origin = where, origin
        s = where.scale
        self.center_t = box.center
        self.travel = (box.w / 2.0 * s, box.h / 2.0 * s)  # frame pixels
        self.center_f = (where.x + self.center_t[0] * s, where.y + self.center_t[1] * s)  # continuous frame coords
        # A knob travelling far is matched on a grid `step` times coarser: the same sub-pixel precision relative
        # to its travel, at a fraction of the cost.
        self.step = max(1, math.floor(max(self.travel) / self.config.work_travel_px + 0.5))
        self.template = template
        travel_t = max(box.w, box.h) / 2.0
        min_radius = max(
            self.config.min_knob_px / s, self.config.min_knob_template_px, self.config.min_knob_to_travel * travel_t
        )
        max_radius = max(min_radius + 1.0, self.config.max_knob_to_travel * travel_t)
        self.radii = ring_radii(template, self.center_t, min_radius, max_radius, self.config.candidates)
        self.knobs = [self._knob(radius) for radius in self.radii]
        self.choice = len(self.knobs) - 1
        self.visible = True
        """Whether the chosen knob matches anywhere (:attr:`KnobMatchConfig.min_score`); if not, it reads centred."""
        self.outside = np.zeros(len(self.knobs))
        """Per candidate, the share of the choice frames whose best placement lay outside the sweep box."""
        self.contrast = 1.0
        """How far the chosen knob's best placement scores above its median placement (median over the chosen
        frames): the track's costs are relative to it when :attr:`KnobMatchConfig.relative_costs`."""

    def _knob(self, radius_t: float) -> _Knob:
        """The template's patch of a knob of rim radius ``radius_t`` (template pixels), and its search region."""
        s, k = self.where.scale, self.step
        half = math.ceil(radius_t * s / k + self.config.rim_margin)
        reach = [math.ceil((t + self.config.slack_px) / k) for t in self.travel]
        # The region starts `margin` working pixels before the rest centre's frame pixel, so the patch's
        # rest top-left is the working pixel margin - half whatever the centre's fraction of a pixel.
        margins = [half + r + 1 for r in reach]
        corner = (math.floor(self.center_f[0]) - k * margins[0], math.floor(self.center_f[1]) - k * margins[1])
        size = (k * (margins[0] + half + 2 + reach[0]), k * (margins[1] + half + 2 + reach[1]))
        pad = 3  # computed larger, cropped after: no filter border inside the patch
        u = np.arange(-pad, 2 * half + 1 + pad, dtype=np.float64)
        # Working pixel j: frame continuous corner + k (j + 0.5), template pixel index (that - where) / s - 0.5.
        tx = (corner[0] + k * (margins[0] - half + u + 0.5) - self.where.x) / s - 0.5
        ty = (corner[1] + k * (margins[1] - half + u + 0.5) - self.where.y) / s - 0.5
        source = self.template[..., :3].astype(np.float32)
        if s / k < 1:  # sampling a coarser grid: blur first, as the video's own downscale did
            sigma = 0.5 * math.sqrt((k / s) ** 2 - 1.0)
            source = np.asarray(cv2.GaussianBlur(source, (0, 0), sigma), dtype=np.float32)
        grid_x, grid_y = np.meshgrid(tx, ty)
        patch = _sample(source, grid_x, grid_y)
        features = [np.ascontiguousarray(f[pad:-pad, pad:-pad]) for f in feature_images(patch, self.config)]
        centre = [(c - corner_c) / k for c, corner_c in zip(self.center_f, corner, strict=True)]  # working coords
        yy, xx = np.mgrid[0 : 2 * half + 1, 0 : 2 * half + 1]  # patch pixels, from its rest top-left
        dist = np.hypot(margins[0] - half + xx + 0.5 - centre[0], margins[1] - half + yy + 0.5 - centre[1])
        mask = (dist <= radius_t * s / k + self.config.rim_margin).astype(np.float32)
        masked = MaskedPatches.prepare(features, mask) if self.config.mask else None
        return _Knob(features, mask, corner, size, (margins[0] - half, margins[1] - half), masked)

    def _region(self, frame: np.ndarray, knob: _Knob) -> np.ndarray:
        """The knob's search region of ``frame`` on the working grid (edges replicated past the image)."""
        x0, y0 = knob.corner[0] - self.origin[0], knob.corner[1] - self.origin[1]
        w, h = knob.size
        fh, fw = frame.shape[:2]
        cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(fw, x0 + w), min(fh, y0 + h)
        if cx1 <= cx0 or cy1 <= cy0:
            return np.zeros((h // self.step, w // self.step, 3), np.float32)
        crop = frame[cy0:cy1, cx0:cx1]
        if (cx0, cy0, cx1, cy1) != (x0, y0, x0 + w, y0 + h):
            crop = cv2.copyMakeBorder(
                np.ascontiguousarray(crop), cy0 - y0, y0 + h - cy1, cx0 - x0, x0 + w - cx1, cv2.BORDER_REPLICATE
            )
        crop = crop.astype(np.float32)
        if self.step > 1:
            crop = cv2.resize(crop, (w // self.step, h // self.step), interpolation=cv2.INTER_AREA)
        return crop

    def score_map(self, frame: np.ndarray, which: int | None = None) -> np.ndarray:
        """The match score of every knob placement in the search region of one image (working grid)."""
        knob = self.knobs[self.choice if which is None else which]
        regions = feature_images(self._region(frame, knob), self.config)
        # Several features: their correlations averaged (each is in [-1, 1]; a flat patch's NaN counts as -1).
        if knob.masked is not None:
            maps = masked_ncc(regions, knob.masked)  # finite by construction
        else:
            maps = [
                np.nan_to_num(
                    cv2.matchTemplate(region, feature, cv2.TM_CCOEFF_NORMED), nan=-1.0, posinf=-1.0, neginf=-1.0
                )
                for region, feature in zip(regions, knob.features, strict=True)
            ]
        return np.asarray(
            maps[0] if len(maps) == 1 else np.add(*maps) / np.float32(2.0) if len(maps) == 2 else np.mean(maps, axis=0)
        )

    def offset(self, result: np.ndarray, px: int, py: int, which: int | None = None) -> tuple[float, float, float]:
        """Knob offset from rest (frame pixels, +y down) and score of the placement (px, py) of a score map."""
        knob = self.knobs[self.choice if which is None else which]
        dx, dy = _refine(result, px, py)
        off_x = (px + dx - knob.rest[0]) * self.step
        off_y = (py + dy - knob.rest[1]) * self.step
        return float(off_x), float(off_y), float(result[py, px])

    def locate(self, frame: np.ndarray, which: int | None = None) -> tuple[float, float, float]:
        """Knob offset from rest (frame pixels, +y down) and the match score, for one image (its best placement)."""
        result = self.score_map(frame, which)
        _, _, _, (px, py) = cv2.minMaxLoc(result)
        return self.offset(result, px, py, which)

    def tracker(self) -> KnobTrack:
        """A fixed-lag track of this matcher's chosen knob (:attr:`KnobMatchConfig.track_jump` and ``track_free``)."""
        free = math.floor(self.config.track_free * max(self.travel) / self.step)  # working pixels
        clear = self.config.track_clear * self.contrast if self.config.track_clear > 0 else None
        return KnobTrack(
            free, self.config.track_jump * self.contrast, self.config.track_lag, self.config.track_peaks, clear
        )

    def axes(self, offset_x: float, offset_y: float) -> tuple[float, float]:
        """Stick values (x right, y up, in [-1, 1]) of a knob offset in frame pixels."""
        if not self.visible:
            return 0.0, 0.0
        x = offset_x / max(1e-6, self.travel[0])
        y = -offset_y / max(1e-6, self.travel[1])
        return min(1.0, max(-1.0, float(x))), min(1.0, max(-1.0, float(y)))

    def choose(self, frames: list[np.ndarray]) -> int:
        """Pick the candidate patch that is the knob, from how it matches over ``frames``.

        A base or gate ring never moves (its patch matches at rest in every frame); a patch that is no
        object at all matches poorly and wanders. So: of the candidates that match nearly as well as the
        best one, those that move nearly as much as the most mobile one; of these, the largest (the
        knob's rim rather than a detail inside it, which moves as much but matches look-alikes more).
        Before that, a candidate whose best placement leaves the sweep box in more than
        :attr:`KnobMatchConfig.max_outside` of the frames is dropped: the knob never leaves its box, and a
        candidate that wanders out of it is following a look-alike (it would otherwise win as the most mobile
        one, above all when the stick is idle).
        """
        if not frames:
            return self.choice
        if len(frames) > self.config.choose_frames:  # evenly spread over what was given
            picks = np.linspace(0, len(frames) - 1, self.config.choose_frames).round().astype(int)
            frames = [frames[i] for i in picks]
        located, contrasts = [], []
        for index in range(len(self.knobs)):
            found, contrast = [], []
            for frame in frames:
                result = self.score_map(frame, index)
                _, peak, _, (px, py) = cv2.minMaxLoc(result)
                found.append(self.offset(result, px, py, index))
                contrast.append(peak - _median(result))
            located.append(np.array(found))
            contrasts.append(_median(contrast))
        scores = np.array([found[:, 2].mean() for found in located])
        spreads = np.array([float(np.hypot(*found[:, :2].std(axis=0))) for found in located])
        reach = np.asarray(self.travel) + self.config.slack_px  # (x, y): farther out is outside the sweep box
        outside = np.array([float((np.abs(found[:, :2]) > reach).any(axis=1).mean()) for found in located])
        self.outside = outside
        inside = outside <= max(self.config.max_outside, float(outside.min()))
        good = inside & (scores >= self.config.score_ratio * scores[inside].max())
        mobile = good & (spreads >= self.config.spread_ratio * spreads[good].max())
        self.choice = int(np.flatnonzero(mobile).max())
        self.contrast = max(contrasts[self.choice], 1e-3) if self.config.relative_costs else 1.0
        self.visible = bool(scores[self.choice] >= self.config.min_score)
        return self.choice

    def read(self, frame: np.ndarray) -> tuple[float, float, float]:
        """(x, y, score) of one image."""
        off_x, off_y, score = self.locate(frame)
        x, y = self.axes(off_x, off_y)
        return x, y, score


_PEAK_KERNEL = np.ones((3, 3), np.uint8)
_OFF_PEAK = 4.0
"""What an off-peak placement's score loses when the track keeps to peaks: more than any two scores differ."""
_PRIOR_FAR_RATE, _PRIOR_PAIRS = 0.05, 5
"""The far-move rate a track assumes before it has seen the video (real play's), and its weight in pairs."""
_RATE_FULL_COST, _RATE_NO_COST = 0.3, 0.6
"""Far-move rates of clear sightings at which the jump cost is whole, and gone: real-play training clips read
0.00-0.27 (the highest where look-alikes win at CRF 35), clips of independent actions 0.55-0.76."""


class KnobTrack:
    """The most likely knob path through a stick's score maps, decided ``lag`` frames late (fixed-lag Viterbi).

    A knob moves a bounded distance between frames; a look-alike in the game scene does not follow it. A path
    scores the sum of its placements' match scores, moves up to ``free`` working pixels per frame (on each axis)
    for nothing and pays ``jump`` for a longer move; the placement read for a frame is the one on the best path
    through it and the ``lag`` frames after. The best predecessor of every placement is the larger of a
    dilation by the free window and the best placement less ``jump``, so a frame costs two array operations;
    the path is traced back from the newest frame's best placement.
    """

    def __init__(self, free: int, jump: float, lag: int, peaks: bool = False, clear: float | None = None) -> None:
        self.free, self.jump, self.lag, self.peaks = max(0, free), np.float32(max(0.0, jump)), max(0, lag), peaks
        self.clear = clear
        """A frame whose best placement scores this far above its median one is a clear sighting of the knob;
        ``None``: the jump cost never adapts (see :meth:`jump_now`)."""
        self.kernel = np.ones((2 * self.free + 1, 2 * self.free + 1), np.uint8)
        self.maps: deque[np.ndarray] = deque()
        self.totals: deque[np.ndarray] = deque()
        self.jumps: deque[np.float32] = deque()
        """The jump cost of the move into each pending frame (from the frame before it)."""
        self.path: deque[int] = deque()
        """The best path's placements (flat indices) as last traced, for the frames pending but the newest."""
        self.grid: np.ndarray | None = None
        """Row and column index of every placement (``np.mgrid`` over the map's shape)."""
        self.sighted: int | None = None
        """Where the frame before was clearly sighted (flat index), if it was."""
        self.pairs = self.far_pairs = 0
        """Consecutive clear sightings seen, and how many of them moved farther than the free window."""

    def jump_now(self) -> np.float32:
        """The jump cost for the next move, from how often this video's clear sightings jump.

        The cost encodes real play, where a stick moves more than ``free`` between frames a few times in a
        hundred. A video whose knob, where it is unmistakable, jumps far between most frames (a flicked stick
        sampled slowly, a synthetic clip of independent actions) breaks that prior: there a path that keeps
        still on a look-alike scores better than the knob itself, so the cost fades out as the far-move rate
        of clear consecutive sightings (with a prior of ``_PRIOR_FAR_RATE`` worth ``_PRIOR_PAIRS`` pairs)
        rises from ``_RATE_FULL_COST`` to ``_RATE_NO_COST``.
        """
        if self.clear is None:
            return self.jump
        rate = (self.far_pairs + _PRIOR_FAR_RATE * _PRIOR_PAIRS) / (self.pairs + _PRIOR_PAIRS)
        share = (_RATE_NO_COST - rate) / (_RATE_NO_COST - _RATE_FULL_COST)
        return np.float32(self.jump * min(1.0, max(0.0, share)))

    def _sight(self, scores: np.ndarray) -> None:
        """Count a move between clear sightings of consecutive frames."""
        if self.clear is None:
            return
        index = int(np.argmax(scores))
        if float(scores.flat[index]) - _median(scores) < self.clear:
            self.sighted = None
            return
        if self.sighted is not None:
            (py, px), (qy, qx) = divmod(index, scores.shape[1]), divmod(self.sighted, scores.shape[1])
            self.pairs += 1
            self.far_pairs += max(abs(px - qx), abs(py - qy)) > self.free
        self.sighted = index

    def _before(self, total: np.ndarray, index: int, jump: np.float32) -> int:
        """The best placement of a frame (its ``total``) for a path that moves next to placement ``index``."""
        if self.grid is None or self.grid.shape[1:] != total.shape:
            self.grid = np.mgrid[0 : total.shape[0], 0 : total.shape[1]]
        yy, xx = self.grid[0], self.grid[1]
        py, px = divmod(index, total.shape[1])
        far = np.maximum(np.abs(xx - px), np.abs(yy - py)) > self.free
        return int(np.argmax(total - np.where(far, jump, np.float32(0))))

    def push(self, result: np.ndarray) -> list[tuple[np.ndarray, int, int]]:
        """Add one frame's score map; returns the frames decided now, each (its map, px, py), oldest first."""
        scores = np.asarray(result, dtype=np.float32)
        self._sight(scores)
        if self.peaks:  # off-peak placements lie on a slope of some match: never where a knob is
            peak = scores >= cv2.dilate(scores, _PEAK_KERNEL)
            scores = np.where(peak, scores, scores - np.float32(_OFF_PEAK))
        jump = self.jump_now()
        if self.totals:
            last = self.totals[-1]
            near = cv2.dilate(last, self.kernel, borderType=cv2.BORDER_CONSTANT, borderValue=-np.inf)
            total = scores + np.maximum(near, last.max() - jump)
        else:
            total = scores.copy()
        self.maps.append(result)
        self.totals.append(total - total.max())
        self.jumps.append(jump)
        return self._emit(self.lag)

    def flush(self) -> list[tuple[np.ndarray, int, int]]:
        """Decide every frame still pending (at the end of the video)."""
        return self._emit(0)

    def _emit(self, keep: int) -> list[tuple[np.ndarray, int, int]]:
        if len(self.maps) <= keep:
            return []
        # Trace the best path back from the newest frame. Where it meets the path traced last time, the rest
        # is that path (a frame's best predecessor of a placement never changes), so a frame costs a step or two.
        path = [int(np.argmax(self.totals[-1]))]
        for k in range(len(self.totals) - 2, -1, -1):
            index = self._before(self.totals[k], path[-1], self.jumps[k + 1])
            if k < len(self.path) and self.path[k] == index:
                path.extend(self.path[j] for j in range(k, -1, -1))
                break
            path.append(index)
        path.reverse()
        out = []
        for index in path[: len(self.maps) - keep]:
            result = self.maps.popleft()
            self.totals.popleft()
            self.jumps.popleft()
            py, px = divmod(index, result.shape[1])
            out.append((result, px, py))
        self.path = deque(path[len(path) - len(self.maps) : -1] if self.maps else [])
        return out


class KnobStickReader:
    """Reads every stick a layout has by knob matching (:class:`StickMatcher`), chosen on reference frames."""

    def __init__(
        self,
        layout: OverlayLayout,
        where: Localization,
        template: np.ndarray,
        reference: list[np.ndarray],
        config: KnobMatchConfig | None = None,
        origin: tuple[int, int] = (0, 0),
    ) -> None:
        self.matchers = {
            name: StickMatcher(box, where, template, config, origin)
            for name, box in layout.elements.items()
            if name in STICK_ELEMENTS
        }
        for matcher in self.matchers.values():
            matcher.choose(reference)

    def read_all(self, frames: Iterable[np.ndarray]) -> Iterator[dict[str, float]]:
        """Stick axis values of every image in order, each knob tracked over frames (:class:`KnobTrack`)."""
        self.start()
        for frame in frames:
            yield from self.push(frame)
        yield from self.flush()

    def start(self) -> None:
        """Begin a new track (a new video)."""
        self.tracks = {name: matcher.tracker() for name, matcher in self.matchers.items()}
        self.decided: dict[str, deque[tuple[float, float]]] = {name: deque() for name in self.matchers}

    def push(self, frame: np.ndarray) -> list[dict[str, float]]:
        """Add the next image; returns the readings of the frames decided now, oldest first."""
        for name, matcher in self.matchers.items():
            self._take(name, self.tracks[name].push(matcher.score_map(frame)))
        return self._ready()

    def flush(self) -> list[dict[str, float]]:
        """The readings of the frames still pending."""
        for name in self.matchers:
            self._take(name, self.tracks[name].flush())
        return self._ready()

    def _take(self, name: str, decided: list[tuple[np.ndarray, int, int]]) -> None:
        matcher = self.matchers[name]
        for result, px, py in decided:
            self.decided[name].append(matcher.axes(*matcher.offset(result, px, py)[:2]))

    def _ready(self) -> list[dict[str, float]]:
        count = min((len(queue) for queue in self.decided.values()), default=0)
        out = []
        for _ in range(count):
            values = {}
            for name, queue in self.decided.items():
                values[STICK_AXES[name][0]], values[STICK_AXES[name][1]] = queue.popleft()
            out.append(values)
        return out

    def read(self, frame: np.ndarray) -> dict[str, float]:
        """Stick axis values by flat-action name (``left_x`` ...), for one image alone (no tracking)."""
        values = {}
        for name, matcher in self.matchers.items():
            x, y, _ = matcher.read(frame)
            values[STICK_AXES[name][0]], values[STICK_AXES[name][1]] = x, y
        return values


class _Parser(Protocol):
    def parse_all(self, frames: Iterable[np.ndarray]) -> Generator[ParsedFrame, None, None]: ...


class KnobSticks:
    """A parser whose stick readings come from knob matching; buttons, triggers and confidence stay the parser's.

    Args:
        parser: the parser that reads everything else (:class:`~.parse.ReferenceParser`, :class:`~.learned.LearnedParser`).
        reader: the knob matcher of the same video (``make_parser`` builds it while the parser sets up).
    """

    def __init__(self, parser: _Parser, reader: KnobStickReader) -> None:
        self.parser = parser
        self.reader = reader

    def parse_all(self, frames: Iterable[np.ndarray]) -> Generator[ParsedFrame, None, None]:
        """The parser's readings in order, each with its frame's sticks read again (the parser may batch frames).

        The sticks of each frame are read on the calling thread as the parser hands its reading over. The
        parser ran on a thread of its own before session 23 (up to 32 readings ahead): both are mostly Python
        around small NumPy, OpenCV and torch calls, so they took turns at the GIL rather than sharing two cores.
        Measured on an idle 2-core machine, 300 frames of the benchmark's 720p clip: parser alone 0.25-0.27 s,
        knob reading alone 0.10-0.13 s, the two threads together 0.42-0.51 s of wall time and 0.59-0.61 s of CPU
        (docs/overlay.md, "Session 23"). What does overlap is the learned parser's network alone, a batch ahead
        on its worker (:meth:`~.learned.LearnedParser.parse_all`): one Python call per batch, whose
        convolutions leave the GIL free while these readings are made. (Session 19 also saw knob readings made
        on a worker thread differ in the last bit from run to run; so did those made on one thread, until
        ``cv2.magnitude``, whose rounding varied from call to call, gave way to :func:`~.localize.sobel_magnitude`.)
        """
        pending: deque[np.ndarray] = deque()  # frames the parser has taken, oldest first
        parsed_frames: deque[ParsedFrame] = deque()
        readings: deque[dict[str, float]] = deque()

        def fed() -> Iterator[np.ndarray]:
            for frame in frames:
                pending.append(frame)
                yield frame

        self.reader.start()
        parsed_all = self.parser.parse_all(fed())
        try:
            for parsed in parsed_all:
                parsed_frames.append(parsed)
                readings.extend(self.reader.push(pending.popleft()))  # its frame was taken before it was read
                while readings:
                    done = parsed_frames.popleft()
                    done.values.update(readings.popleft())
                    yield done
        finally:
            parsed_all.close()
        readings.extend(self.reader.flush())
        while parsed_frames:
            done = parsed_frames.popleft()
            done.values.update(readings.popleft())
            yield done
