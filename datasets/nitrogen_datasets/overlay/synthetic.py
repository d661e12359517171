"""Synthetic training data for the learned parser: random styles drawn over random scenes, compressed.

Generalizing to overlays nobody showed the parser is the point, so training never uses the named
presets (:func:`~.styles.preset_styles`) and draws its colours either uniformly at random or from the
palettes other than :data:`HELD_OUT_PALETTE`; presets that use that palette measure unseen colours.
Everything a real video adds is simulated: backgrounds (smooth colour fields, shapes, noise, or real
game frames), opacity 0.3-1, scale 0.5-2, JPEG compression with chroma subsampling (close to H.264 at
CRF 23-35), blur, a median "rest" image taken over other backgrounds, and localization errors of a
pixel or so.

Sprite-sheet styles (:mod:`.sprite_styles`) join the mix only when asked (``sprite_fraction``), and then
only from the train half of :data:`~.sprite_styles.SPRITE_SPLIT`: the held-out families and treatments
are never drawn.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from nitrogen_datasets.overlay.crops import crop_resized, element_rect, template_channels, template_in_frame
from nitrogen_datasets.overlay.localize import Localization, median_frames
from nitrogen_datasets.overlay.parser_config import PRESS_RATE, TRIGGER_RATE, ParserNetConfig, SampleMix, element_kind
from nitrogen_datasets.overlay.render import OverlayRenderer, Placement
from nitrogen_datasets.overlay.sprite_styles import training_sprite_style
from nitrogen_datasets.overlay.styles import _PALETTES, FAMILIES, PRESS_EFFECTS, AnyStyle, OverlayStyle
from nitrogen_envs import gamepad

HELD_OUT_PALETTE = 5
"""Index into the style palettes that training never uses."""


def training_style(rng: np.random.Generator, sprite_fraction: float = 0.0) -> AnyStyle:
    """A random style for training: any family and effect, random or non-held-out palette colours.

    With ``sprite_fraction`` > 0, that share of the styles are sprite styles of the split's train families
    and treatments (:func:`~.sprite_styles.training_sprite_style`); at 0 the stream of styles is the one
    the shipped parser was trained on (no random number is drawn for the choice).
    """
    if sprite_fraction > 0 and rng.random() < sprite_fraction:
        return training_sprite_style(rng)
    if rng.random() < 0.6:
        # Random colours, but a press must stay visible: real overlays never draw pressed like released.
        while True:
            base, accent, pressed, panel = (tuple(int(c) for c in rng.integers(0, 256, 3)) for _ in range(4))
            if _distance(pressed, base) > 90 and _distance(accent, base) > 60 and _distance(accent, pressed) > 60:
                break
    else:
        allowed = [i for i in range(len(_PALETTES)) if i != HELD_OUT_PALETTE]
        base, accent, pressed, panel = _PALETTES[int(rng.choice(allowed))]
    return OverlayStyle(
        name="train",
        family=FAMILIES[int(rng.integers(len(FAMILIES)))],
        base=base,  # type: ignore[arg-type]
        accent=accent,  # type: ignore[arg-type]
        pressed=pressed,  # type: ignore[arg-type]
        panel=panel,  # type: ignore[arg-type]
        panel_alpha=float(rng.choice([0.0, 0.3, 0.5, 0.7, 1.0])),
        filled=bool(rng.integers(2)),
        press_effect=PRESS_EFFECTS[int(rng.integers(len(PRESS_EFFECTS)))],
        # Half the overlays faint (30-60%): faint styles hold most errors; opaque ones are learned quickly.
        opacity=float(rng.uniform(0.3, 0.6) if rng.random() < 0.5 else rng.uniform(0.3, 1.0)),
        scale=float(np.exp(rng.uniform(np.log(0.5), np.log(2.0)))),
    )


def _distance(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True))


def random_action(
    rng: np.random.Generator, press_rate: float = PRESS_RATE, trigger_rate: float = TRIGGER_RATE
) -> np.ndarray:
    """A flat action with the mix a controller shows: a few buttons, analog or centred sticks, triggers.

    ``press_rate`` and ``trigger_rate`` are thresholds on the same draws: from one generator state, a lower
    ``press_rate`` presses a subset of the buttons and the sticks move the same (a trigger pulled part way draws
    one number more, so the stream after it shifts when ``trigger_rate`` changes).
    """
    action = np.zeros(gamepad.FLAT_SIZE, np.float32)
    action[gamepad.BUTTON_SLICE] = (rng.random(len(gamepad.BUTTON_NAMES)) < press_rate).astype(np.float32)
    for axes in (slice(0, 2), slice(2, 4)):
        roll = rng.random()
        if roll < 0.25:
            continue
        vector = rng.uniform(-1, 1, 2)
        if roll > 0.8:  # pushed to the rim, as digital sticks and eager thumbs do
            vector = np.clip(vector / max(1e-6, np.abs(vector).max()), -1, 1)
        action[axes] = vector
    released, full = 1.0 - trigger_rate, 1.0 - trigger_rate / 2  # 0.4 and 0.7 at the default rate
    for index in range(2):
        roll = rng.random()
        action[4 + index] = 0.0 if roll < released else 1.0 if roll < full else rng.uniform(0, 1)
    return action


def random_background(
    rng: np.random.Generator,
    height: int,
    width: int,
    scenes: Sequence[np.ndarray] = (),
    noise: np.ndarray | None = None,
) -> np.ndarray:
    """A busy RGB scene: a real game frame (when given) or smooth colour fields, shapes and noise.

    ``noise`` is a bank of standard Gaussian noise at least as large as the scene; a random crop of it
    is used (fresh noise is drawn when it is ``None``).
    """
    if scenes and rng.random() < 0.6:
        scene = scenes[int(rng.integers(len(scenes)))]
        return cv2.resize(scene, (width, height), interpolation=cv2.INTER_LINEAR)
    cells = rng.integers(0, 256, (int(rng.integers(2, 8)), int(rng.integers(2, 8)), 3), dtype=np.uint8)
    image = cv2.resize(cells, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(0, 12))):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(3, max(4, min(height, width) // 2)))
        if rng.random() < 0.5:
            cv2.rectangle(image, (x, y), (x + size, y + int(rng.integers(3, size + 1))), color, -1)
        else:
            cv2.circle(image, (x, y), size // 2, color, -1)
    if noise is None or noise.shape[0] < height or noise.shape[1] < width:
        grain = rng.normal(0.0, 1.0, (height, width, 3)).astype(np.float32)  # image's shape, spelled for the stubs
    else:
        y, x = int(rng.integers(0, noise.shape[0] - height + 1)), int(rng.integers(0, noise.shape[1] - width + 1))
        grain = noise[y : y + height, x : x + width]
    return np.clip(image.astype(np.float32) + grain * float(rng.uniform(0, 20)), 0, 255).astype(np.uint8)


def scrolling_scenes(
    seed: int, count: int, size: tuple[int, int], step: int = 8, turn: int | None = None
) -> Iterator[np.ndarray]:
    """``count`` (height, width) frames of one random scene scrolling sideways ``step`` pixels a frame.

    Game-like motion under a fixed overlay. With ``turn``, the scroll reverses every ``turn`` frames, so
    a long clip needs a scene only ``turn * step`` pixels wider than the frame.
    """
    height, width = size
    span = count if turn is None else turn
    base = random_background(np.random.default_rng(seed), height, width + step * span)
    for index in range(count):
        phase = index if turn is None else index % (2 * turn)
        offset = step * (phase if phase <= span else 2 * span - phase)
        yield np.ascontiguousarray(base[:, offset : offset + width])


def median3(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Element-wise median of three images (what the extractor's clip median is, in miniature)."""
    return np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))


def _median_image(images: Sequence[np.ndarray]) -> np.ndarray:
    """The element-wise median of an odd number of uint8 images (:func:`median3` for three, as always)."""
    if len(images) == 1:
        return images[0]
    if len(images) == 3:
        return median3(*images)
    return median_frames(images)  # the extractor's own median: the same values as np.median, exact for odd counts


def degrade(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """What streaming does to a frame: blur and lossy compression with 4:2:0 chroma."""
    if rng.random() < 0.3:
        image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.3, 0.9)))
    quality = int(rng.integers(20, 80))
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR) if ok else None  # None when the codec fails
    return image if decoded is None else cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


@dataclass
class ElementBatch:
    """Element images (N, crop, crop, 10) uint8 (see :func:`~.learned.to_inputs`), targets (N, 4), kinds (N,)."""

    images: np.ndarray
    targets: np.ndarray
    kinds: np.ndarray

    @classmethod
    def concatenate(cls, parts: Sequence[ElementBatch]) -> ElementBatch:
        """One batch holding every sample of ``parts``, in order."""
        return cls(
            np.concatenate([p.images for p in parts]),
            np.concatenate([p.targets for p in parts]),
            np.concatenate([p.kinds for p in parts]),
        )


class ElementSampler:
    """Renders random overlays and cuts them into per-element training samples.

    Args:
        seed: fixes the whole stream.
        crop: network crop size; ``None`` takes ``net``'s.
        scenes: optional real game frames used as backgrounds.
        net: the crop geometry (size and margins) of the network the samples are for; ``None``: the default
            architecture's.
        sprite_fraction: share of renders drawn in a trained-on sprite-sheet style (0: parametric styles only).
        mix: press rates and rest image of the samples (:class:`SampleMix`; ``None``: the shipped stream's).
    """

    def __init__(
        self,
        seed: int,
        crop: int | None = None,
        scenes: Sequence[np.ndarray] = (),
        net: ParserNetConfig | None = None,
        sprite_fraction: float = 0.0,
        mix: SampleMix | None = None,
    ) -> None:
        self.rng = np.random.default_rng(seed)
        self.sprite_fraction = sprite_fraction
        self.mix = mix or SampleMix()
        self.net = net or ParserNetConfig()
        if crop is not None:
            self.net = replace(self.net, crop=crop)
        self.scenes = list(scenes)
        # Drawing fresh Gaussian noise for every background dominated the cost; crops of one bank are as good.
        self.noise = self.rng.normal(0.0, 1.0, (640, 800, 3)).astype(np.float32)

    def sample(self, renders: int) -> ElementBatch:
        """Elements of ``renders`` random overlays (about 19 samples per render)."""
        return ElementBatch.concatenate([self._one() for _ in range(renders)])

    def _background(self, height: int, width: int) -> np.ndarray:
        return random_background(self.rng, height, width, self.scenes, self.noise)

    def _one(self) -> ElementBatch:
        rng = self.rng
        style = training_style(rng, self.sprite_fraction)
        renderer = OverlayRenderer(style)
        width, height = renderer.scaled_size()
        margin = int(np.ceil(26 * style.scale)) + 4
        frame_h, frame_w = height + 2 * margin, width + 2 * margin
        truth = Placement(margin, margin, style.scale)
        mix = self.mix
        action = random_action(rng, mix.press_rate, mix.trigger_rate)
        background = self._background(frame_h, frame_w)
        frame = degrade(rng, renderer.composite(background, action, truth))
        # The extractor's rest image is the clip's median: mostly released buttons, sticks wherever they
        # tended to be. Three frames of other actions over other scenes (or the same one) stand in for it.
        rests = []
        for _ in range(int(rng.choice(list(mix.rest_frames)))):
            scene = background if rng.random() < 0.4 else self._background(frame_h, frame_w)
            other = random_action(rng, mix.press_rate, mix.trigger_rate) if rng.random() < 0.7 else gamepad.noop_flat()
            other[4:] *= rng.random(gamepad.FLAT_SIZE - 4) < 0.3  # presses are rarer than stick travel
            rests.append(degrade(rng, renderer.composite(scene, other, truth)))
        rest = _median_image(rests)
        # The estimate the parser gets in a real video is off by about a pixel and a percent of scale.
        where = Localization(
            margin + int(rng.integers(-1, 2)),
            margin + int(rng.integers(-1, 2)),
            style.scale * float(1 + rng.uniform(-0.012, 0.012)),
            1.0,
        )
        placed = template_in_frame(renderer.template(), where, (frame_h, frame_w))
        layout = renderer.layout()
        frames, targets, kinds = [], [], []
        for name, box in layout.elements.items():
            kind = element_kind(name)
            rect = element_rect(box, where, self.net.margin(name))
            frames.append(
                np.concatenate(
                    [
                        crop_resized(frame, rect, self.net.crop),
                        crop_resized(rest, rect, self.net.crop),
                        template_channels(crop_resized(placed, rect, self.net.crop)),
                    ],
                    axis=2,
                )
            )
            target = np.zeros(4, np.float32)
            if kind == 2:
                axes = (0, 1) if name == "left_stick" else (2, 3)
                target[2:] = action[list(axes)]
            elif kind == 1:
                target[1] = action[gamepad.FLAT_NAMES.index(name)]
            else:
                target[0] = action[gamepad.FLAT_NAMES.index(name)]
            targets.append(target)
            kinds.append(kind)
        return ElementBatch(np.stack(frames), np.stack(targets), np.asarray(kinds, np.int64))
