"""Configuration of the learned parser: its network, its training, and the constants both share.

:class:`ParserNetConfig` shapes the network, :class:`ParserTrainConfig` its training. Kept apart from the network (:mod:`.parser_net`) and the training loop (:mod:`.parser_training`), which need
torch: the command line builds its options from these dataclasses, and reading them must not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from nitrogen_datasets.overlay.errors import InvalidOverlayConfig
from nitrogen_datasets.overlay.layout import STICK_ELEMENTS
from nitrogen_envs import gamepad

KINDS = ("button", "trigger", "stick")
CHANNELS = 10
FRAME_CHANNELS = 3
"""The first input channels, the frame's crop; the others (clip median, template) are constant per video."""
STICK_MARGIN = 0.2
"""Stick crops extend by this fraction of the box's larger side on every side."""
BUTTON_MARGIN = 0.3
"""What new parsers' button and trigger crops extend by (:attr:`ParserNetConfig.button_margin`): the ring
of overlay around an element shares the game behind it, so comparing the two cancels the background
showing through a faint overlay, which the element's own pixels cannot tell from a press."""


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
            raise InvalidOverlayConfig(f"crop must be a multiple of 8 in [16, {MAX_PARSER_CROP}], got {self.crop}")
        # A parser folder may come from anyone: bound what its config makes us allocate.
        if len(self.widths) != 3 or not all(1 <= int(w) <= MAX_PARSER_WIDTH for w in self.widths):
            raise InvalidOverlayConfig(
                f"widths must be three channel counts in [1, {MAX_PARSER_WIDTH}], got {self.widths}"
            )
        if not 1 <= self.hidden <= MAX_PARSER_WIDTH:
            raise InvalidOverlayConfig(f"hidden must be in [1, {MAX_PARSER_WIDTH}], got {self.hidden}")
        if not 0.0 <= self.button_margin <= 0.5:
            raise InvalidOverlayConfig(f"button_margin must be in [0, 0.5], got {self.button_margin}")

    def margin(self, element: str) -> float:
        """Crop margin of an element, as a fraction of its box's larger side."""
        return STICK_MARGIN if element in STICK_ELEMENTS else self.button_margin


PRESS_RATE = 0.3
"""Share of buttons :func:`~.synthetic.random_action` presses (the shipped parser's training stream)."""
TRIGGER_RATE = 0.6
"""Share of triggers :func:`~.synthetic.random_action` pulls, half of them fully (the shipped parser's training stream)."""
REST_FRAMES = (1, 3)
"""How many frames of other actions a training sample's rest image is the median of (one of these, at random)."""


@dataclass(frozen=True)
class SampleMix:
    """What the parser's training samples show: how often buttons and triggers are pressed, and the rest image.

    The defaults are the stream the shipped parser was trained on, draw for draw. Real play presses far less
    (about 2% of button-frames and 1.4% of trigger-frames in the evaluation's play clips) and its rest image is the
    median of 64 frames; a parser trained with 30% presses carries that prior into clips where the evidence
    is weak (docs/overlay.md, "A parser trained with sprite styles in the mix").

    Args:
        press_rate: share of buttons pressed in a sample's frame.
        trigger_rate: share of triggers pulled (half fully, half part way).
        rest_frames: the rest image is the median of this many frames of other actions (one count drawn per
            sample; odd counts).
    """

    press_rate: float = PRESS_RATE
    trigger_rate: float = TRIGGER_RATE
    rest_frames: tuple[int, ...] = REST_FRAMES

    def __post_init__(self) -> None:
        for name in ("press_rate", "trigger_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InvalidOverlayConfig(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not self.rest_frames or any(count < 1 or count % 2 == 0 for count in self.rest_frames):
            raise InvalidOverlayConfig(f"rest_frames must be odd counts >= 1, got {self.rest_frames}")


@dataclass(frozen=True)
class ParserTrainConfig:
    """Settings of :func:`train_parser`.

    Args:
        renders: synthetic overlays rendered for the training pool (about 19 element samples each).
        validation_renders: overlays rendered, from other seeds, to validate on.
        epochs: passes over the pool.
        batch_size: element samples per step.
        lr: peak learning rate (cosine decay to 0 after a short warm-up).
        weight_decay: AdamW weight decay.
        seed: fixes the pool, the validation set and the initialization.
        workers: processes rendering the pool.
        threads: torch CPU threads for training (``None``: torch's default).
        crop: network crop size.
        button_margin: context around button and trigger crops (:attr:`ParserNetConfig.button_margin`).
        device: where the network trains (``"cpu"``, ``"cuda"``); the pool is rendered on CPU workers and
            each batch is moved as uint8, so a GPU run is bound by rendering, not by copies.
        sprite_fraction: share of the training and validation renders drawn in a sprite-sheet style, only ever
            from the train half of :data:`~.sprite_styles.SPRITE_SPLIT` (0: the parametric styles alone, the
            stream the shipped parser was trained on, sample for sample).
        init: folder of a trained parser whose weights training starts from (its network must be the one this
            config builds: same crop, widths, hidden width and button margin); ``None`` starts from a random
            initialization. The schedule is the same either way.
        mix: the training samples' press rates and rest image (:class:`SampleMix`; the default is the shipped
            parser's stream). Validation samples keep the default mix, so runs compare on the same samples.
    """

    renders: int = 10000
    validation_renders: int = 500
    epochs: int = 4
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    workers: int = 2
    threads: int | None = None
    crop: int = 32
    button_margin: float = BUTTON_MARGIN
    device: str = "cpu"
    sprite_fraction: float = 0.0
    init: str | None = None
    mix: SampleMix = SampleMix()

    def __post_init__(self) -> None:
        for name in ("renders", "validation_renders", "epochs", "batch_size", "workers"):
            if getattr(self, name) < 1:
                raise InvalidOverlayConfig(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise InvalidOverlayConfig(f"lr must be positive, got {self.lr}")
        if not 0.0 <= self.sprite_fraction <= 1.0:
            raise InvalidOverlayConfig(f"sprite_fraction must be in [0, 1], got {self.sprite_fraction}")
