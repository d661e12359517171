"""Configuration of :class:`NitroGenPolicy`: one dataclass, saved as ``config.json`` next to the weights."""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nitrogen_envs import gamepad
from nitrogen_envs.registry import all_games

logger = logging.getLogger(__name__)

ENCODERS = ("cnn", "siglip")
UNKNOWN_GAME = "<unknown>"


def default_game_names() -> tuple[str, ...]:
    """The game vocabulary: index 0 is the "unknown game" used for zero-shot play, then every registry game."""
    return (UNKNOWN_GAME, *(game.name for game in all_games()))


@dataclass
class NitroGenConfig:
    """Architecture and inference settings of a NitroGen policy.

    Args:
        name: preset name this config came from (informational).
        schema_version: gamepad schema the action head speaks (``nitrogen_envs.gamepad.SCHEMA_VERSION``).
        action_dim: size of one action, 21 (the canonical flat gamepad vector).
        chunk_size: actions predicted per chunk (16 in the paper).
        n_action_steps: actions executed from a chunk before re-planning (<= chunk_size).
        num_inference_steps: Euler steps K of the flow at inference.
        image_size: square input resolution in pixels; frames of any size are resized to it.
        encoder: ``"cnn"`` (small, CPU friendly) or ``"siglip"`` (a SigLIP vision transformer built from a
            ``transformers`` config, paper scale).
        cnn_channels: channels of the CNN's stride-2 stages; tokens = (image_size / 2**stages)**2.
        vision_hidden_size: SigLIP width. vision_layers: SigLIP depth. vision_heads: SigLIP heads.
        vision_intermediate_size: SigLIP MLP width. vision_patch_size: SigLIP patch size.
        vision_checkpoint: optional local folder of a SigLIP checkpoint to initialise the encoder from.
        d_model: width of the action transformer. n_layers: its blocks. n_heads: its attention heads.
        mlp_ratio: MLP width / d_model.
        game_names: game vocabulary of the game embedding; index 0 is the unknown game.
        game_dropout: probability of replacing the game id with "unknown" during training (zero-shot).
        flow_alpha: Beta(alpha, beta) flow-time distribution; alpha > beta favours the data end.
        flow_beta: see ``flow_alpha``.
    """

    name: str = "nitrogen-s"
    schema_version: int = gamepad.SCHEMA_VERSION
    action_dim: int = gamepad.FLAT_SIZE
    chunk_size: int = 16
    n_action_steps: int = 8
    num_inference_steps: int = 6
    image_size: int = 128
    encoder: str = "cnn"
    cnn_channels: tuple[int, ...] = (32, 64, 128, 192, 256)
    vision_hidden_size: int = 768
    vision_layers: int = 12
    vision_heads: int = 12
    vision_intermediate_size: int = 3072
    vision_patch_size: int = 16
    vision_checkpoint: str | None = None
    d_model: int = 256
    n_layers: int = 3
    n_heads: int = 8
    mlp_ratio: float = 2.0
    game_names: tuple[str, ...] = field(default_factory=default_game_names)
    game_dropout: float = 0.1
    flow_alpha: float = 1.5
    flow_beta: float = 1.0

    def __post_init__(self) -> None:
        self.cnn_channels = tuple(int(c) for c in self.cnn_channels)
        self.game_names = tuple(self.game_names)
        problems = []
        if self.action_dim != gamepad.FLAT_SIZE:
            problems.append(f"action_dim must be {gamepad.FLAT_SIZE} (the gamepad schema), got {self.action_dim}")
        if self.chunk_size < 1:
            problems.append(f"chunk_size must be >= 1, got {self.chunk_size}")
        if not 1 <= self.n_action_steps <= self.chunk_size:
            problems.append(
                f"n_action_steps ({self.n_action_steps}) must be between 1 and chunk_size ({self.chunk_size})"
            )
        if self.num_inference_steps < 1:
            problems.append(f"num_inference_steps must be >= 1, got {self.num_inference_steps}")
        if self.encoder not in ENCODERS:
            problems.append(f"encoder must be one of {ENCODERS}, got {self.encoder!r}")
        if self.encoder == "cnn" and self.image_size % (2 ** len(self.cnn_channels)) != 0:
            problems.append(
                f"image_size ({self.image_size}) must be divisible by 2**len(cnn_channels) ({2 ** len(self.cnn_channels)})"
            )
        if self.encoder == "siglip" and self.image_size % self.vision_patch_size != 0:
            problems.append(
                f"image_size ({self.image_size}) must be divisible by vision_patch_size ({self.vision_patch_size})"
            )
        if self.d_model % self.n_heads != 0:
            problems.append(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if not self.game_names or self.game_names[0] != UNKNOWN_GAME:
            problems.append(f"game_names must start with {UNKNOWN_GAME!r}")
        if not 0.0 <= self.game_dropout <= 1.0:
            problems.append(f"game_dropout must be in [0, 1], got {self.game_dropout}")
        if self.flow_alpha <= 0 or self.flow_beta <= 0:
            problems.append(f"flow_alpha and flow_beta must be positive, got {self.flow_alpha}, {self.flow_beta}")
        if problems:
            raise ValueError("invalid NitroGenConfig: " + "; ".join(problems))

    def game_id(self, game: str | None) -> int:
        """Index of ``game`` in the vocabulary; unknown or ``None`` gives 0 (zero-shot)."""
        if game is None:
            return 0
        try:
            return self.game_names.index(game)
        except ValueError:
            logger.info("game %r is not in this policy's vocabulary; playing it zero-shot", game)
            return 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        return {
            key: list(value) if isinstance(value, tuple) else value for key, value in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NitroGenConfig:
        """Build from a dict, warning about (and ignoring) unknown keys for forward compatibility."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            logger.warning("ignoring unknown NitroGenConfig keys %s (written by a newer version?)", unknown)
        return cls(**{key: value for key, value in data.items() if key in known})

    def save(self, path: str | Path) -> None:
        """Write as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))

    @classmethod
    def load(cls, path: str | Path) -> NitroGenConfig:
        """Read from JSON."""
        return cls.from_dict(json.loads(Path(path).read_text()))


PRESETS: dict[str, dict[str, Any]] = {
    # ~5M parameters: trains and runs on 2 CPU cores (16 image tokens at 128 px, 3 DiT blocks of width 256);
    # K=6 Euler steps: p50 ~16 ms per 16-action chunk on 2 CPU threads (benchmarks/policy_latency.py).
    # At this size the 16-token action head is matmul-bound, so depth and MLP width are what cost latency.
    "nitrogen-s": {"name": "nitrogen-s"},
    # Paper scale: a SigLIP-so400m-sized vision transformer at 256 px plus a wide DiT, ~0.5B parameters.
    "nitrogen-500m": {
        "name": "nitrogen-500m",
        "encoder": "siglip",
        "image_size": 256,
        "vision_hidden_size": 1152,
        "vision_layers": 27,
        "vision_heads": 16,
        "vision_intermediate_size": 4304,
        "vision_patch_size": 16,
        "d_model": 768,
        "n_layers": 10,
        "n_heads": 12,
        "mlp_ratio": 4.0,
        "num_inference_steps": 8,
    },
}


def config_from_preset(name: str, **overrides: Any) -> NitroGenConfig:
    """A preset config with optional field overrides.

    Raises:
        ValueError: unknown preset (the message lists them).
    """
    if name not in PRESETS:
        raise ValueError(f"unknown config preset {name!r}; presets are {sorted(PRESETS)}")
    return NitroGenConfig(**{**PRESETS[name], **overrides})
