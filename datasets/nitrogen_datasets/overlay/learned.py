"""The learned overlay parser: runs :class:`~.parser_net.ElementNet` over the frames of one video.

Why per element: an overlay style the parser never saw still draws each element inside the box its
layout gives, so the network sees the same question everywhere: "given this element's rest look (from
the layout's template) and the video's own rest look at that spot (the median over the clip), what
does it show now?". Stick crops include a fifth of a box of margin on every side, so a knob at the edge
of its sweep is fully visible; button and trigger crops (of parsers trained since) 0.3 of a box, a ring of
the overlay around the element to compare it with, whatever game shows through both.

The network is trained on synthetic renders only (:mod:`.synthetic`, :mod:`.parser_training`), and ships
with the package (``weights/parser.safetensors``), so extraction works offline out of the box.

The pieces live in modules of their own, which are the public import paths:

* :mod:`.parser_config`: the network's and the training's configs (no torch);
* :mod:`.parser_net`: the network, its inputs, outputs and loss;
* :mod:`.crops`: where an element's crop lies in a frame, and cutting it out;
* :mod:`.parser_weights`: saving and loading weights (:func:`~.parser_weights.load_parser`);
* :mod:`.calibration`: per-clip press thresholds (:func:`~.calibration.calibrate_presses`).

This module holds :class:`LearnedParser` and re-exports those pieces under their old names
(``from nitrogen_datasets.overlay.learned import load_parser`` keeps working).
"""

from __future__ import annotations

import copy
from collections.abc import Generator, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import torch

from nitrogen_datasets.overlay.calibration import calibrate_presses
from nitrogen_datasets.overlay.crops import crop_resized, element_rect, template_channels, template_in_frame
from nitrogen_datasets.overlay.layout import STICK_AXES, STICK_ELEMENTS, OverlayLayout
from nitrogen_datasets.overlay.localize import Localization
from nitrogen_datasets.overlay.parse import ParsedFrame, shift_rect
from nitrogen_datasets.overlay.parser_config import (
    BUTTON_MARGIN,
    CHANNELS,
    FRAME_CHANNELS,
    KINDS,
    STICK_MARGIN,
    ParserNetConfig,
    element_kind,
)
from nitrogen_datasets.overlay.parser_net import ElementNet, decode_outputs, element_loss, to_inputs
from nitrogen_datasets.overlay.parser_weights import (
    BUNDLED_WEIGHTS,
    CONFIG_NAME,
    WEIGHTS_NAME,
    InvalidParser,
    ParserNotFound,
    load_parser,
    save_parser,
)
from nitrogen_envs import gamepad

__all__ = [
    "BUNDLED_WEIGHTS",
    "BUTTON_MARGIN",
    "CHANNELS",
    "CONFIG_NAME",
    "FRAME_CHANNELS",
    "KINDS",
    "STICK_MARGIN",
    "WEIGHTS_NAME",
    "ElementNet",
    "InvalidParser",
    "LearnedParser",
    "ParserNetConfig",
    "ParserNotFound",
    "calibrate_presses",
    "crop_resized",
    "decode_outputs",
    "element_kind",
    "element_loss",
    "element_rect",
    "load_parser",
    "save_parser",
    "template_channels",
    "template_in_frame",
    "to_inputs",
]


def _element_crops(frames: Sequence[np.ndarray], rects: Sequence[tuple[int, int, int, int]], size: int) -> np.ndarray:
    """(F, E, size, size, C) every frame's crop of every element (:func:`~.crops.crop_resized`)."""
    return np.stack([[crop_resized(frame, rect, size) for rect in rects] for frame in frames])


def _median_of_crops(crops: np.ndarray) -> np.ndarray:
    """(E, size, size, C) the median over frames of (F, E, size, size, C) uint8 crops (see :func:`_median_crops`)."""
    count = len(crops)
    values = np.sort(np.ascontiguousarray(crops.reshape(count, -1).T), axis=1, kind="stable")
    middle = count // 2
    median = values[:, middle] if count % 2 else (values[:, middle - 1].astype(np.uint16) + values[:, middle]) // 2
    return median.astype(np.uint8).reshape(crops.shape[1:])


def _median_crops(frames: Sequence[np.ndarray], rects: Sequence[tuple[int, int, int, int]], size: int) -> np.ndarray:
    """(E, size, size, C) the clip's median over each element's crop (cropping first: the full-frame median cost 0.8 s).

    Equal to ``np.median(crops, axis=0).astype(np.uint8)`` per element (an even count's two middle values are
    averaged and rounded down, as ``astype`` truncates), but every element at once with the frames on a
    contiguous last axis, which NumPy sorts by radix for uint8: about half the time of ``np.median``'s
    partition along the first axis, which was a tenth of a short clip's extraction.
    """
    return _median_of_crops(_element_crops(frames, rects, size))


class LearnedParser:
    """Parses frames of one video with :class:`ElementNet` (drop-in for :class:`~.parse.ReferenceParser`).

    Args:
        layout: the overlay layout.
        where: the overlay's placement in this video.
        reference: frames sampled over the clip; their median is the rest appearance.
        template: the layout's rest template (RGBA or RGB, scale 1).
        model: a trained network; the bundled one when ``None``.
        batch_frames: frames parsed per network call by :meth:`parse_all`.
        origin: frame pixel (x, y) where the images given start, when they are a region cut from the frames
            (``where`` stays in frame coordinates).
        press_probabilities: give each button's press probability instead of 0/1, for a caller that
            thresholds the whole clip at once (:func:`calibrate_presses`).
        sticks: read the sticks too. ``False`` when another reader replaces them (extraction's knob matching,
            :class:`~.knob_match.KnobSticks`): their crops then never go through the network (2 of an Xbox
            layout's 19 crops a frame), and the stick columns of the readings are NaN (unless the layout has
            nothing but sticks). The other readings are the same either way (each crop goes through the
            network on its own).
    """

    def __init__(
        self,
        layout: OverlayLayout,
        where: Localization,
        reference: Sequence[np.ndarray],
        template: np.ndarray,
        model: ElementNet | None = None,
        batch_frames: int = 16,
        origin: tuple[int, int] = (0, 0),
        press_probabilities: bool = False,
        sticks: bool = True,
    ) -> None:
        self.layout, self.where = layout, where
        self.press_probabilities = press_probabilities
        # A private channels-last copy: PyTorch's CPU convolutions run about 1.5x faster on it.
        self.model = copy.deepcopy(model if model is not None else load_parser()).eval()
        self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs lack it
        self.batch_frames = batch_frames
        size = self.model.config.crop
        frame_size = (reference[0].shape[0], reference[0].shape[1])
        # Placing the template is exact under an integer shift; rounding the element boxes is not (shift_rect).
        placed = template_in_frame(template, replace(where, x=where.x - origin[0], y=where.y - origin[1]), frame_size)
        # A layout of sticks alone keeps them: the network needs an element to run on.
        self.names = [name for name in layout.elements if sticks or name not in STICK_ELEMENTS] or list(layout.elements)
        self.kinds = [element_kind(name) for name in self.names]
        self.rects = [
            shift_rect(element_rect(layout.elements[name], where, self.model.config.margin(name)), origin)
            for name in self.names
        ]
        reference_crops = _element_crops(reference, self.rects, size)
        self.static = np.stack(
            [
                np.concatenate([median, template_channels(crop_resized(placed, rect, size))], 2)
                for median, rect in zip(_median_of_crops(reference_crops), self.rects, strict=True)
            ]
        )
        # The reference frames are parsed too (extraction's come from the clip's first frames): their crops are
        # cut once, here, and handed to the network when the same frame object comes (a fifth of a 10-second
        # clip's crops). Taken by identity, so frames must not be changed in place once given.
        self._reference_crops = {
            id(frame): (frame, crops) for frame, crops in zip(reference, reference_crops, strict=True)
        }
        self.kind_tensor = torch.tensor(self.kinds, dtype=torch.int64)
        with torch.inference_mode():
            response, kind = self.model.constant_terms(to_inputs(torch.from_numpy(self.static)), self.kind_tensor)
        self.constant = response.contiguous(memory_format=torch.channels_last), kind
        # Where each element's reading goes: value columns of gamepad.FLAT_NAMES, and which are buttons.
        columns = {name: index for index, name in enumerate(gamepad.FLAT_NAMES)}
        self._buttons = [i for i, kind in enumerate(self.kinds) if kind == 0]
        self._button_columns = [columns[self.names[i]] for i in self._buttons]
        self._triggers = [i for i, kind in enumerate(self.kinds) if kind == 1]
        self._trigger_columns = [columns[self.names[i]] for i in self._triggers]
        self._sticks = [i for i, kind in enumerate(self.kinds) if kind == 2]
        self._stick_columns = [[columns[axis] for axis in STICK_AXES[self.names[i]]] for i in self._sticks]

    def parse(self, frame: np.ndarray) -> ParsedFrame:
        """Read one RGB frame."""
        return self._parse_batch([frame])[0]

    def parse_all(self, frames: Iterable[np.ndarray]) -> Generator[ParsedFrame, None, None]:
        """Parse a stream of frames, ``batch_frames`` per network call, the network a batch ahead on a worker thread.

        Each batch's crops are cut here and handed to the worker before the caller gets the batch before, so
        the network runs while the caller works on those readings (extraction reads each frame's sticks then,
        about 0.35 ms a frame against the network's 0.5). The convolutions leave the GIL free, and the worker
        gets it back between layers because the caller's knob matching lets go of it in every OpenCV call
        (beside a loop of pure Python the same network took 96 ms a batch instead of 7: a `/tmp` check). On the
        benchmark's 10-second 720p clip the parse went from 1.1-1.35 to 1.75 busy cores and the extraction from
        0.687 to 0.624 s (medians of 30 alternating warm runs; docs/overlay.md, "Session 28"). Session 27 had
        tried a worker that got each batch only after the caller had taken the one before, so it overlapped the
        cutting of crops and nothing else.
        Each crop goes through the network on its own, so the readings are those of one thread, in order.
        """
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nitrogen-parser") as pool:
            running: Future[np.ndarray] | None = None
            batch: list[np.ndarray] = []
            for frame in frames:
                batch.append(frame)
                if len(batch) == self.batch_frames:
                    following = pool.submit(self._network, self._crops(batch), len(batch))
                    if running is not None:
                        yield from self._readings(running.result())
                    running, batch = following, []
            last = pool.submit(self._network, self._crops(batch), len(batch)) if batch else None
            for future in (running, last):
                if future is not None:
                    yield from self._readings(future.result())

    def _parse_batch(self, frames: list[np.ndarray]) -> list[ParsedFrame]:
        """The readings of ``frames``, all on the calling thread."""
        return self._readings(self._network(self._crops(frames), len(frames)))

    def _crops(self, frames: list[np.ndarray]) -> np.ndarray:
        """(F * E, crop, crop, 3) every frame's crop of every element, frame by frame."""
        size, n = self.model.config.crop, len(self.names)
        crops = np.empty((len(frames) * n, size, size, FRAME_CHANNELS), np.uint8)
        for index, frame in enumerate(frames):
            held = self._reference_crops.pop(id(frame), None)
            if held is not None and held[0] is frame:
                crops[index * n : (index + 1) * n] = held[1]
                continue
            for element, rect in enumerate(self.rects):
                crops[index * n + element] = crop_resized(frame, rect, size)
        return crops

    def _network(self, crops: np.ndarray, count: int) -> np.ndarray:
        """(F, E, 4) press probability, trigger travel and knob x, y of each frame's elements."""
        with torch.inference_mode():
            raw = self.model.forward_frames(to_inputs(torch.from_numpy(crops)), self.constant)
            return decode_outputs(raw).numpy().reshape(count, len(self.names), 4)

    def _readings(self, decoded: np.ndarray) -> list[ParsedFrame]:
        # Readings as in the layout's element order: a press is its probability thresholded at BUTTON_THRESHOLD,
        # a trigger's travel is analog (a half-pulled trigger is not an uncertain one), a stick is its knob position.
        count = len(decoded)
        values = np.full((count, gamepad.FLAT_SIZE), np.nan)
        presses = decoded[:, self._buttons, 0].astype(np.float64)
        pressed = presses >= gamepad.BUTTON_THRESHOLD
        values[:, self._button_columns] = presses if self.press_probabilities else pressed.astype(np.float64)
        values[:, self._trigger_columns] = decoded[:, self._triggers, 1]
        for element, (x_column, y_column) in zip(self._sticks, self._stick_columns, strict=True):
            values[:, x_column], values[:, y_column] = decoded[:, element, 2], decoded[:, element, 3]
        confidence = np.abs(2.0 * presses - 1.0).mean(axis=1) if self._buttons else np.ones(count)
        return [
            ParsedFrame(dict(zip(gamepad.FLAT_NAMES, row, strict=True)), float(margin))
            for row, margin in zip(values.tolist(), confidence.tolist(), strict=True)
        ]
