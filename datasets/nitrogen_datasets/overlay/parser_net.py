"""The learned parser's network: :class:`ElementNet`, its inputs, outputs and loss.

Each overlay element becomes a square crop with 10 channels (:data:`CHANNELS`): the frame's crop (RGB), the
clip's median crop (RGB: the overlay at rest, blended over the average game behind it) and the template's
crop (RGB premultiplied by alpha, and alpha: the element's shape). The element's kind (button, trigger,
stick) enters as a learned embedding added before the last layer. The network predicts four numbers; the
kind decides which are read: a button's press logit, a trigger's travel (logit of [0, 1]) or a stick's knob
position (x, y in [-1, 1], +y up).

Its config is :mod:`.parser_config`; cutting the crops is :mod:`.crops`; saving and loading weights is :mod:`.parser_weights`; running the
network over a video is :class:`~.learned.LearnedParser`.
"""

from __future__ import annotations

import torch
from torch import nn

from nitrogen_datasets.overlay.parser_config import CHANNELS, FRAME_CHANNELS, KINDS, ParserNetConfig

_FIRST_STRIDE = 2
_FIRST_PADDING = 1
"""Stride and padding of :class:`ElementNet`'s first convolution, which :meth:`ElementNet.constant_terms` and
:meth:`ElementNet.forward_frames` apply channel by channel."""


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
            nn.Conv2d(CHANNELS, w[0], 4, stride=_FIRST_STRIDE, padding=_FIRST_PADDING),
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

    def _first_conv(self) -> nn.Conv2d:
        """The first convolution, the layer :meth:`constant_terms` splits by channel."""
        conv = self.features[0]
        if not isinstance(conv, nn.Conv2d):  # pragma: no cover - the architecture above fixes it
            raise TypeError(f"the first layer must be a convolution, got {type(conv).__name__}")
        return conv

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
        conv = self._first_conv()
        response = nn.functional.conv2d(
            static, conv.weight[:, FRAME_CHANNELS:], conv.bias, stride=_FIRST_STRIDE, padding=_FIRST_PADDING
        )
        return response, self.kind(kinds)

    def forward_frames(self, frames: torch.Tensor, constant: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """:meth:`forward` for (F * E, 3, crop, crop) frame crops of F frames x E elements, given :meth:`constant_terms`.

        Equal to :meth:`forward` on the full 10-channel inputs up to float rounding, with less than half the
        first layer's work.
        """
        conv = self._first_conv()
        response, kind = constant
        first = nn.functional.conv2d(
            frames, conv.weight[:, :FRAME_CHANNELS], None, stride=_FIRST_STRIDE, padding=_FIRST_PADDING
        )
        # In place: the same sums, but a new tensor from the 5-D view came out in a layout the next convolution
        # handled slowly (measured per 16-frame batch: 19-21 ms out of place, 10-12 ms in place, outputs equal).
        first.unflatten(0, (-1, len(response))).add_(response)
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


def to_inputs(images: torch.Tensor) -> torch.Tensor:
    """(N, crop, crop, 10) uint8 [frame RGB, rest RGB, template RGB*alpha, alpha] -> network inputs in [-0.5, 0.5].

    Images are kept as uint8 until here so training pools and per-frame batches stay small.
    """
    inputs = images.permute(0, 3, 1, 2).float()  # a new tensor, so scaling it in place is safe and saves two copies
    return inputs.div_(255.0).sub_(0.5)
