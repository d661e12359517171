"""The learned overlay parser: a small CNN that reads one overlay element at a time.

Why per element: an overlay style the parser never saw still draws each element inside the box its
layout gives, so the network sees the same question everywhere: "given this element's rest look (from
the layout's template) and the video's own rest look at that spot (the median over the clip), what
does it show now?". Each element becomes a 32x32 crop with 10 channels: the frame's crop (RGB), the
clip's median crop (RGB: the overlay at rest, blended over the average game behind it) and the
template's crop (RGB premultiplied by alpha, and alpha: the element's shape). The element's kind
(button, trigger, stick) enters as a learned embedding added before the last layer.

The network predicts four numbers; the kind decides which are read: a button's press logit, a
trigger's travel (logit of [0, 1]) or a stick's knob position (x, y in [-1, 1], +y up). Stick crops
include a fifth of a box of margin on every side, so a knob at the edge of its sweep is fully visible;
button and trigger crops (of parsers trained since) 0.3 of a box, a ring of the overlay around the element
to compare it with, whatever game shows through both.

It is trained on synthetic renders only (:mod:`.synthetic`), and ships with the package
(``weights/parser.safetensors``), so extraction works offline out of the box.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from nitrogen_datasets.overlay.layout import STICK_ELEMENTS, Box, OverlayLayout
from nitrogen_datasets.overlay.localize import Localization
from nitrogen_datasets.overlay.parse import ParsedFrame, frame_box, shift_rect
from nitrogen_datasets.safe_inputs import load_json
from nitrogen_envs import gamepad

KINDS = ("button", "trigger", "stick")
CHANNELS = 10
FRAME_CHANNELS = 3
"""The first input channels, the frame's crop; the others (clip median, template) are constant per video."""
BUNDLED_WEIGHTS = Path(__file__).with_name("weights")
WEIGHTS_NAME = "parser.safetensors"
CONFIG_NAME = "parser.json"
STICK_MARGIN = 0.2
"""Stick crops extend by this fraction of the box's larger side on every side."""
BUTTON_MARGIN = 0.3
"""What new parsers' button and trigger crops extend by (:attr:`ParserNetConfig.button_margin`): the ring
of overlay around an element shares the game behind it, so comparing the two cancels the background
showing through a faint overlay, which the element's own pixels cannot tell from a press."""
_STICK_AXES = {"left_stick": ("left_x", "left_y"), "right_stick": ("right_x", "right_y")}


def element_kind(name: str) -> int:
    """0 button, 1 trigger, 2 stick."""
    return 2 if name in STICK_ELEMENTS else 1 if name in gamepad.TRIGGERS else 0


MAX_PARSER_CROP = 256
MAX_PARSER_WIDTH = 1024
"""Upper bounds of a parser's crop side and layer widths: far above any trained parser, far below what would
exhaust memory when a downloaded ``parser.json`` is loaded."""


@dataclass(frozen=True)
class ParserNetConfig:
    """Architecture of :class:`ElementNet`.

    Args:
        crop: side of the square crop fed to the network, in pixels.
        widths: channels of the three stride-2 convolutions.
        hidden: width of the fully connected layer.
        button_margin: button and trigger crops extend by this fraction of the box's larger side on every
            side (0 for parsers trained before it existed; new ones use :data:`BUTTON_MARGIN`).
    """

    crop: int = 32
    widths: tuple[int, int, int] = (24, 32, 48)
    hidden: int = 96
    button_margin: float = 0.0

    def __post_init__(self) -> None:
        if self.crop % 8 != 0 or not 16 <= self.crop <= MAX_PARSER_CROP:
            raise ValueError(f"crop must be a multiple of 8 in [16, {MAX_PARSER_CROP}], got {self.crop}")
        # A parser folder may come from anyone: bound what its config makes us allocate.
        if len(self.widths) != 3 or not all(1 <= int(w) <= MAX_PARSER_WIDTH for w in self.widths):
            raise ValueError(f"widths must be three channel counts in [1, {MAX_PARSER_WIDTH}], got {self.widths}")
        if not 1 <= self.hidden <= MAX_PARSER_WIDTH:
            raise ValueError(f"hidden must be in [1, {MAX_PARSER_WIDTH}], got {self.hidden}")
        if not 0.0 <= self.button_margin <= 0.5:
            raise ValueError(f"button_margin must be in [0, 0.5], got {self.button_margin}")

    def margin(self, element: str) -> float:
        """Crop margin of an element, as a fraction of its box's larger side."""
        return STICK_MARGIN if element in STICK_ELEMENTS else self.button_margin


class ElementNet(nn.Module):
    """(N, 10, crop, crop) inputs in [-0.5, 0.5] and (N,) kinds -> (N, 4): press logit, trigger logit, stick x, y.

    Three stride-2 convolutions and one hidden layer: about 2.4 ms per frame (19 elements) on
    one CPU thread, where a first full-resolution layer made it 11 ms (measured when choosing it).
    """

    def __init__(self, config: ParserNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or ParserNetConfig()
        w = self.config.widths
        side = self.config.crop // 8
        self.features = nn.Sequential(
            nn.Conv2d(CHANNELS, w[0], 4, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(w[0], w[1], 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(w[1], w[2], 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Flatten(),
            nn.Linear(w[2] * side * side, self.config.hidden),
        )
        self.kind = nn.Embedding(len(KINDS), self.config.hidden)
        self.out = nn.Linear(self.config.hidden, 4)

    def forward(self, inputs: torch.Tensor, kinds: torch.Tensor) -> torch.Tensor:
        """Raw outputs; see :func:`decode_outputs`."""
        return self.out(torch.relu(self.features(inputs) + self.kind(kinds)))

    def constant_terms(self, static: torch.Tensor, kinds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """What :meth:`forward` computes from a video's constant inputs, once per video.

        The first convolution is linear, and zero padding splits by channel, so its response to the
        clip-median and template channels (bias included) is computed once; :meth:`forward_frames` adds
        only the frame channels' response. Likewise the kind embeddings.

        Args:
            static: (E, 7, crop, crop) inputs of the channels after :data:`FRAME_CHANNELS`, one per element.
            kinds: (E,) element kinds.

        Returns:
            (E, widths[0], crop / 2, crop / 2) first-layer response and (E, hidden) kind embeddings.
        """
        conv = self.features[0]
        response = nn.functional.conv2d(
            static, conv.weight[:, FRAME_CHANNELS:], conv.bias, stride=conv.stride, padding=conv.padding
        )
        return response, self.kind(kinds)

    def forward_frames(self, frames: torch.Tensor, constant: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """:meth:`forward` for (F * E, 3, crop, crop) frame crops of F frames x E elements, given :meth:`constant_terms`.

        Equal to :meth:`forward` on the full 10-channel inputs up to float rounding, with less than half the
        first layer's work.
        """
        conv = self.features[0]
        response, kind = constant
        first = nn.functional.conv2d(
            frames, conv.weight[:, :FRAME_CHANNELS], None, stride=conv.stride, padding=conv.padding
        )
        first = (first.unflatten(0, (-1, len(response))) + response).flatten(0, 1)
        hidden = self.features[1:](first)
        return self.out(torch.relu((hidden.unflatten(0, (-1, len(kind))) + kind).flatten(0, 1)))


def decode_outputs(raw: torch.Tensor) -> torch.Tensor:
    """(N, 4) raw outputs -> press probability, trigger travel in [0, 1], stick x and y in [-1, 1]."""
    return torch.cat([torch.sigmoid(raw[:, :2]), torch.tanh(raw[:, 2:])], dim=1)


def element_loss(raw: torch.Tensor, targets: torch.Tensor, kinds: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-kind losses: BCE for presses and trigger travel, MSE for the knob position (mean over its kind)."""
    losses = {}
    for index, kind in enumerate(KINDS):
        mask = kinds == index
        if not bool(mask.any()):
            losses[kind] = raw.sum() * 0.0
            continue
        if kind == "stick":
            losses[kind] = nn.functional.mse_loss(torch.tanh(raw[mask, 2:]), targets[mask, 2:]) * 4.0
        else:
            column = 0 if kind == "button" else 1
            losses[kind] = nn.functional.binary_cross_entropy_with_logits(raw[mask, column], targets[mask, column])
    return losses


# ---- crops ---------------------------------------------------------------------------------------------
def element_rect(box: Box, where: Localization, margin: float) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) in frame pixels of an element's crop (``margin``: :meth:`ParserNetConfig.margin`), >= 1 px."""
    x0, y0, x1, y1 = frame_box(box, where, margin)
    return x0, y0, max(x0 + 1, x1), max(y0 + 1, y1)


def crop_resized(image: np.ndarray, rect: tuple[int, int, int, int], size: int) -> np.ndarray:
    """``image[rect]`` resized to ``size`` x ``size``; parts outside the image are zero."""
    x0, y0, x1, y1 = rect
    height, width = image.shape[:2]
    if x0 >= 0 and y0 >= 0 and x1 <= width and y1 <= height:
        out = image[y0:y1, x0:x1]
    else:
        out = np.zeros((y1 - y0, x1 - x0, image.shape[2]), dtype=image.dtype)
        cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
        if cx1 > cx0 and cy1 > cy0:
            out[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0] = image[cy0:cy1, cx0:cx1]
    shrinking = out.shape[0] * out.shape[1] > size * size
    return cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def template_in_frame(template: np.ndarray, where: Localization, frame_size: tuple[int, int]) -> np.ndarray:
    """The RGBA template scaled and placed as in the video, on a (H, W, 4) canvas of the frame's size."""
    scaled = cv2.resize(
        np.ascontiguousarray(
            template if template.shape[2] == 4 else np.dstack([template, np.full(template.shape[:2], 255, np.uint8)])
        ),
        None,
        fx=where.scale,
        fy=where.scale,
        interpolation=cv2.INTER_AREA if where.scale < 1 else cv2.INTER_LINEAR,
    )
    canvas = np.zeros((*frame_size, 4), np.uint8)
    height, width = frame_size
    x0, y0 = where.x, where.y
    x1, y1 = min(width, x0 + scaled.shape[1]), min(height, y0 + scaled.shape[0])
    sx0, sy0 = max(0, -x0), max(0, -y0)
    if x1 > max(0, x0) and y1 > max(0, y0):
        canvas[max(0, y0) : y1, max(0, x0) : x1] = scaled[sy0 : sy0 + y1 - max(0, y0), sx0 : sx0 + x1 - max(0, x0)]
    return canvas


def template_channels(template_crop: np.ndarray) -> np.ndarray:
    """(crop, crop, 4) uint8: the template's RGB premultiplied by its alpha, and the alpha (the shape)."""
    alpha = template_crop[..., 3:4].astype(np.uint16)
    return np.concatenate([(template_crop[..., :3] * alpha // 255).astype(np.uint8), template_crop[..., 3:4]], axis=2)


def to_inputs(images: torch.Tensor) -> torch.Tensor:
    """(N, crop, crop, 10) uint8 [frame RGB, rest RGB, template RGB*alpha, alpha] -> network inputs in [-0.5, 0.5].

    Images are kept as uint8 until here so training pools and per-frame batches stay small.
    """
    return images.permute(0, 3, 1, 2).float() / 255.0 - 0.5


# ---- weights -------------------------------------------------------------------------------------------
def save_parser(model: ElementNet, folder: str | os.PathLike[str], metadata: dict | None = None) -> Path:
    """Write ``parser.safetensors`` + ``parser.json`` (architecture and training notes) atomically."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().contiguous().cpu() for key, value in model.state_dict().items()}
    for name, write in (
        (WEIGHTS_NAME, lambda path: save_file(state, str(path))),
        (
            CONFIG_NAME,
            lambda path: path.write_text(json.dumps({"net": asdict(model.config), **(metadata or {})}, indent=1)),
        ),
    ):
        tmp = folder / f".{name}.partial"
        write(tmp)
        os.replace(tmp, folder / name)
    return folder


def load_parser(folder: str | os.PathLike[str] | None = None) -> ElementNet:
    """Load a parser saved by :func:`save_parser` (default: the weights shipped with the package).

    Raises:
        FileNotFoundError: no ``parser.safetensors`` in ``folder`` (the message says how to train one).
    """
    from safetensors.torch import load_file

    folder = Path(folder) if folder is not None else BUNDLED_WEIGHTS
    weights, config_path = folder / WEIGHTS_NAME, folder / CONFIG_NAME
    if not weights.is_file() or not config_path.is_file():
        raise FileNotFoundError(
            f"no overlay parser in {folder} ({WEIGHTS_NAME} + {CONFIG_NAME}); train one with "
            "`nitrogen overlay train-parser --out DIR`, or use parser='reference'"
        )
    config = load_json(config_path, "overlay parser config")["net"]  # a user's folder: size and depth bounded
    model = ElementNet(
        ParserNetConfig(
            crop=int(config["crop"]),
            widths=tuple(config["widths"]),
            hidden=int(config["hidden"]),
            button_margin=float(config.get("button_margin", 0.0)),
        )
    )
    model.load_state_dict(load_file(str(weights)))
    return model.eval()


# ---- the parser ----------------------------------------------------------------------------------------
def _median_crop(frames: Sequence[np.ndarray], rect: tuple[int, int, int, int], size: int) -> np.ndarray:
    """The clip's median over one element's crop (cropping first: the full-frame median cost 0.8 s per video)."""
    return np.median(np.stack([crop_resized(frame, rect, size) for frame in frames]), axis=0).astype(np.uint8)


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
    ) -> None:
        self.layout, self.where = layout, where
        self.press_probabilities = press_probabilities
        # A private channels-last copy: PyTorch's CPU convolutions run about 1.5x faster on it.
        self.model = copy.deepcopy(model if model is not None else load_parser()).eval()
        self.model.to(memory_format=torch.channels_last)
        self.batch_frames = batch_frames
        size = self.model.config.crop
        frame_size = reference[0].shape[:2]
        # Placing the template is exact under an integer shift; rounding the element boxes is not (shift_rect).
        placed = template_in_frame(template, replace(where, x=where.x - origin[0], y=where.y - origin[1]), frame_size)
        self.names = list(layout.elements)
        self.kinds = [element_kind(name) for name in self.names]
        self.rects = [
            shift_rect(element_rect(layout.elements[name], where, self.model.config.margin(name)), origin)
            for name in self.names
        ]
        self.static = np.stack(
            [
                np.concatenate(
                    [_median_crop(reference, rect, size), template_channels(crop_resized(placed, rect, size))], 2
                )
                for rect in self.rects
            ]
        )
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
        self._stick_columns = [[columns[axis] for axis in _STICK_AXES[self.names[i]]] for i in self._sticks]

    def parse(self, frame: np.ndarray) -> ParsedFrame:
        """Read one RGB frame."""
        return self._parse_batch([frame])[0]

    def parse_all(self, frames: Iterable[np.ndarray]) -> Iterator[ParsedFrame]:
        """Parse a stream of frames, ``batch_frames`` per network call."""
        batch: list[np.ndarray] = []
        for frame in frames:
            batch.append(frame)
            if len(batch) == self.batch_frames:
                yield from self._parse_batch(batch)
                batch = []
        if batch:
            yield from self._parse_batch(batch)

    def _parse_batch(self, frames: list[np.ndarray]) -> list[ParsedFrame]:
        size, n = self.model.config.crop, len(self.names)
        crops = np.empty((len(frames) * n, size, size, FRAME_CHANNELS), np.uint8)
        for index, frame in enumerate(frames):
            for element, rect in enumerate(self.rects):
                crops[index * n + element] = crop_resized(frame, rect, size)
        with torch.inference_mode():
            raw = self.model.forward_frames(to_inputs(torch.from_numpy(crops)), self.constant)
            decoded = decode_outputs(raw).numpy().reshape(len(frames), n, 4)
        # Readings as in the layout's element order: a press is its probability thresholded at 0.5, a trigger's
        # travel is analog (a half-pulled trigger is not an uncertain one), a stick is its knob position.
        values = np.full((len(frames), gamepad.FLAT_SIZE), np.nan)
        presses = decoded[:, self._buttons, 0].astype(np.float64)
        values[:, self._button_columns] = presses if self.press_probabilities else (presses >= 0.5).astype(np.float64)
        values[:, self._trigger_columns] = decoded[:, self._triggers, 1]
        for element, (x_column, y_column) in zip(self._sticks, self._stick_columns, strict=True):
            values[:, x_column], values[:, y_column] = decoded[:, element, 2], decoded[:, element, 3]
        confidence = np.abs(2.0 * presses - 1.0).mean(axis=1) if self._buttons else np.ones(len(frames))
        return [
            ParsedFrame(dict(zip(gamepad.FLAT_NAMES, row, strict=True)), float(margin))
            for row, margin in zip(values.tolist(), confidence.tolist(), strict=True)
        ]


# ---- per-clip press thresholds ---------------------------------------------------------------------------
MIN_SEPARATION = 3.0
"""Gap between the pressed and released clusters of a button's logits, in pooled standard deviations,
below which the clip's own threshold is not trusted (one cluster split in two scores about 2.7)."""
MIN_GAP = 6.0
"""Smallest gap (logits) between the two clusters' means: a button never pressed in a clip spreads its
logits too, and splitting that spread must not invent presses."""
MIN_PRESSED_LOGIT = -1.0
"""The pressed cluster's mean logit must reach this (probability 0.27): presses look at least somewhat
pressed to the network."""
MIN_CLUSTER_FRACTION = 0.02
"""Each cluster must hold this fraction of the clip's frames (and 2 frames)."""


def calibrate_presses(probabilities: np.ndarray) -> np.ndarray:
    """0/1 presses from (frames, buttons) press probabilities, thresholding each button per clip.

    On a style whose pressed look is subtle (a faint highlight, a colour change close to the rest
    colour) the network separates pressed from released frames of a clip clearly, but not always at 0.5:
    the two clusters of its logits sit lower or higher. Where a button's logits over the clip form two
    clearly separate clusters (Otsu's split in logit space passing the ``MIN_*`` checks), the split
    between them is the threshold. Measured on the held-out grid's six weakest styles: button accuracy
    0.876 -> 0.890, unchanged on the strong ones, and no presses invented on clips where a button is never
    or rarely pressed.

    A button whose own logits do not pass the checks (too few presses, or clusters too close) takes the
    split of all the clip's buttons pooled, when that passes: the buttons of one overlay share its style,
    so the network reads them with a shared bias. Measured on the 216-clip held-out grid
    (``nitrogen overlay eval``): button accuracy 0.9704 -> 0.9716 (0.9867 -> 0.9881 at scale >= 1); and
    on another 216 clips, each button read over its released frames alone (an idle button), presses
    invented on 1.01% of frames instead of 1.30%. Otherwise 0.5 is the threshold. NaN columns (elements
    the layout lacks) stay NaN.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    out = np.full(probabilities.shape, np.nan)
    present = ~np.isnan(probabilities).all(axis=0)
    if not present.any():
        return out
    p = np.clip(probabilities[:, present], 1e-6, 1 - 1e-6)
    logits = np.log(p / (1 - p))
    pooled = _clip_threshold(logits[~np.isnan(logits)])
    fallback = 0.0 if pooled is None else pooled
    thresholds = [_clip_threshold(column[~np.isnan(column)]) for column in logits.T]
    chosen = np.array([fallback if threshold is None else threshold for threshold in thresholds])
    out[:, present] = np.where(np.isnan(logits), np.nan, (logits >= chosen).astype(np.float64))
    return out


def _clip_threshold(logits: np.ndarray) -> float | None:
    """Otsu's split of ``logits`` when it separates two clear clusters, else ``None``."""
    ordered = np.sort(logits)
    n = len(ordered)
    low = np.arange(1, n)  # frames in the low cluster for each split
    smallest = max(2, MIN_CLUSTER_FRACTION * n)
    valid = (low >= smallest) & (n - low >= smallest)
    if not valid.any():
        return None
    sums, squares = np.cumsum(ordered), np.cumsum(ordered**2)
    low_mean = sums[:-1] / low
    high_mean = (sums[-1] - sums[:-1]) / (n - low)
    between = np.where(valid, low * (n - low) * (high_mean - low_mean) ** 2, -1.0)
    i = int(np.argmax(between))
    low_var = squares[i] / low[i] - low_mean[i] ** 2
    high_var = (squares[-1] - squares[i]) / (n - low[i]) - high_mean[i] ** 2
    pooled = math.sqrt(max(0.0, (low[i] * low_var + (n - low[i]) * high_var) / n)) + 1e-6
    gap = high_mean[i] - low_mean[i]
    if gap / pooled < MIN_SEPARATION or gap < MIN_GAP or high_mean[i] < MIN_PRESSED_LOGIT:
        return None
    return float((ordered[i] + ordered[i + 1]) / 2)
