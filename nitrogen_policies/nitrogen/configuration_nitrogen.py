"""Configuration of :class:`NitroGenPolicy`: one dataclass, saved as ``config.json`` next to the weights."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nitrogen_envs import gamepad
from nitrogen_envs.registry import UNKNOWN_GAME, all_games
from nitrogen_policies.errors import InvalidConfig
from nitrogen_policies.official.spec import OfficialSpec

logger = logging.getLogger(__name__)

ENCODERS = ("cnn", "siglip")
ACTION_HEADS = ("flow", "discrete")
"""``flow``: flow matching over action chunks (the paper's); ``discrete``: :mod:`discrete_head`'s factorized head."""
CNN_GROUPS = 8
"""GroupNorm groups after each CNN stage, so every ``cnn_channels`` entry is a multiple of it."""
MAX_NAME_CHARS = 200
"""Longest ``name``, ``vision_checkpoint`` or game name accepted (a config.json is untrusted input)."""

# Bounds of every numeric field. A config.json can come from anywhere, so sizes are checked here, before
# anything is allocated; products of sizes (the parameter count) are checked by the loader on the meta device.
INT_BOUNDS: dict[str, tuple[int, int]] = {
    "schema_version": (0, 2**31 - 1),
    "action_dim": (1, 4096),
    "chunk_size": (1, 1024),
    "n_action_steps": (1, 1024),
    "num_inference_steps": (1, 1000),
    "image_size": (16, 1024),
    "vision_hidden_size": (1, 8192),
    "vision_layers": (1, 64),
    "vision_heads": (1, 256),
    "vision_intermediate_size": (1, 65536),
    "vision_patch_size": (1, 1024),
    "d_model": (2, 8192),
    "n_layers": (1, 64),
    "n_heads": (1, 256),
    "stick_bins": (3, 255),
    "shift_augment": (0, 256),
}
FLOAT_BOUNDS: dict[str, tuple[float, float]] = {
    "mlp_ratio": (1 / 64, 16.0),
    "game_dropout": (0.0, 1.0),
    "flow_alpha": (1e-3, 1e3),
    "flow_beta": (1e-3, 1e3),
    "guidance_scale": (0.0, 20.0),
    "temperature": (0.0, 10.0),
}
CNN_CHANNELS_BOUNDS = (1, 8)
"""Number of CNN stages; each entry is a multiple of ``CNN_GROUPS`` up to ``CNN_WIDTH_MAX``."""
CNN_WIDTH_MAX = 4096
MAX_GAMES = 100_000
"""Longest game vocabulary (the embedding table has one row per game)."""


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
        shift_augment: pixels of random-shift augmentation while training (DrQ's pad-and-crop, Kostrikov et al.
            2020): each image is padded by this many edge pixels and cropped back at its own random offset. A
            policy cloned from a few dozen levels otherwise learns where things sit on those levels' screens
            (docs/results.md section 14); 0 (the default) trains on the frames as they are. Inference never shifts.
        flow_alpha: Beta(alpha, beta) flow-time distribution; alpha > beta favours the data end.
        flow_beta: see ``flow_alpha``.
        guidance_scale: classifier-free guidance at sampling time, as the release's ``cfg_scale``: each Euler
            step uses ``(1 - s) * v(no game) + s * v(game)``, so 1.0 (the default, and the release's) is plain
            game-conditioned sampling and costs nothing; above 1 pushes actions toward what is specific to the
            game, at two velocity evaluations per step.
        action_head: ``"flow"`` (flow matching over the chunk, K Euler steps at inference: the paper's head and
            the one NVIDIA's checkpoint uses) or ``"discrete"`` (each stick axis a categorical over
            ``stick_bins`` values, each trigger and button a Bernoulli, one forward pass per chunk; it learns
            from the picture where flow matching did not, docs/results.md sections 5-6).
        stick_bins: with the discrete head, the values a stick axis can take, evenly spaced over [-1, 1]
            (odd, so centred is one of them).
        joint_sticks: with the discrete head, each stick's (x, y) one categorical over ``stick_bins**2`` cells
            instead of one per axis. Per-axis categoricals' likeliest action cannot be "one of four directions"
            (each axis's likeliest value is then its centre): a policy unsure where to go plays "nothing"
            (docs/results.md section 14); the joint cells' likeliest is a direction.
        temperature: with the discrete head, 0 plays the likeliest action; above 0 samples from the
            distribution sharpened (< 1) or flattened (> 1) by it.
        official: settings of NVIDIA's released architecture (:class:`OfficialSpec`) for a ``nitrogen-official``
            config, made by ``nitrogen convert-official``; ``None`` for our own architecture.
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
    shift_augment: int = 0
    flow_alpha: float = 1.5
    flow_beta: float = 1.0
    guidance_scale: float = 1.0
    action_head: str = "flow"
    stick_bins: int = 5
    joint_sticks: bool = False
    temperature: float = 0.0
    official: OfficialSpec | None = None

    def __post_init__(self) -> None:
        if self.official is not None and not isinstance(self.official, OfficialSpec):
            self.official = OfficialSpec.from_dict(self.official)  # config.json holds it as an object
        problems = _type_problems(self)
        if problems:  # relations between fields only make sense once each field is the right type
            raise InvalidConfig("invalid NitroGenConfig: " + "; ".join(problems))
        self.cnn_channels = tuple(self.cnn_channels)
        self.game_names = tuple(self.game_names)
        self.mlp_ratio = float(self.mlp_ratio)
        self.temperature = float(self.temperature)
        problems = self._relation_problems()
        if problems:
            raise InvalidConfig("invalid NitroGenConfig: " + "; ".join(problems))

    def _relation_problems(self) -> list[str]:
        problems = []
        if self.action_dim != gamepad.FLAT_SIZE:
            problems.append(f"action_dim must be {gamepad.FLAT_SIZE} (the gamepad schema), got {self.action_dim}")
        if not 1 <= self.n_action_steps <= self.chunk_size:
            problems.append(
                f"n_action_steps ({self.n_action_steps}) must be between 1 and chunk_size ({self.chunk_size})"
            )
        if self.action_head not in ACTION_HEADS:
            problems.append(f"action_head must be one of {ACTION_HEADS}, got {self.action_head!r}")
        if self.joint_sticks and self.action_head != "discrete":
            problems.append("joint_sticks needs action_head 'discrete' (flow matching has no stick categoricals)")
        if self.stick_bins % 2 == 0:
            problems.append(f"stick_bins must be odd (so a centred stick is a bin), got {self.stick_bins}")
        if self.official is not None and self.action_head != "flow":
            problems.append("a config with official settings uses action_head 'flow' (the released model's)")
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
        if self.encoder == "siglip" and self.vision_hidden_size % self.vision_heads != 0:
            problems.append(
                f"vision_hidden_size ({self.vision_hidden_size}) must be divisible by vision_heads ({self.vision_heads})"
            )
        if self.d_model % self.n_heads != 0:
            problems.append(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.d_model % 2 != 0:
            problems.append(f"d_model ({self.d_model}) must be even (the flow-time embedding is sin + cos halves)")
        if self.game_names[0] != UNKNOWN_GAME:
            problems.append(f"game_names must start with {UNKNOWN_GAME!r}")
        if self.official is not None:
            problems += _official_problems(self, self.official)
        return problems

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
        InvalidConfig: unknown preset (the message lists them), or an override names no field.
    """
    if name not in PRESETS:
        raise InvalidConfig(f"unknown config preset {name!r}; presets are {sorted(PRESETS)}")
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(NitroGenConfig)})
    if unknown:
        raise InvalidConfig(
            f"NitroGenConfig has no field(s) {unknown}; fields are {[f.name for f in dataclasses.fields(NitroGenConfig)]}"
        )
    return NitroGenConfig(**{**PRESETS[name], **overrides})


def _type_problems(config: NitroGenConfig) -> list[str]:
    """One message per field of the wrong type or out of its bounds (``INT_BOUNDS``, ``FLOAT_BOUNDS``, ...)."""
    problems = []
    for name, (low, high) in INT_BOUNDS.items():
        value = getattr(config, name)
        if not _is_int(value) or not low <= value <= high:
            problems.append(f"{name} must be an integer in [{low}, {high}], got {_show(value)}")
    for name, (low_f, high_f) in FLOAT_BOUNDS.items():
        value = getattr(config, name)
        if not _is_number(value) or not low_f <= value <= high_f:
            problems.append(f"{name} must be a number in [{low_f:g}, {high_f:g}], got {_show(value)}")
    for name in ("name", "encoder", "action_head"):
        if not _is_short_str(getattr(config, name)):
            problems.append(
                f"{name} must be a string of at most {MAX_NAME_CHARS} characters, got {_show(getattr(config, name))}"
            )
    if not isinstance(config.joint_sticks, bool):
        problems.append(f"joint_sticks must be true or false, got {_show(config.joint_sticks)}")
    if config.vision_checkpoint is not None and not _is_short_str(config.vision_checkpoint):
        problems.append(f"vision_checkpoint must be null or a folder path, got {_show(config.vision_checkpoint)}")
    low_n, high_n = CNN_CHANNELS_BOUNDS
    channels = config.cnn_channels
    if (
        not isinstance(channels, (list, tuple))
        or not low_n <= len(channels) <= high_n
        or not all(_is_int(c) and 0 < c <= CNN_WIDTH_MAX and c % CNN_GROUPS == 0 for c in channels)
    ):
        problems.append(
            f"cnn_channels must be a list of {low_n} to {high_n} integers, each a multiple of {CNN_GROUPS} up to "
            f"{CNN_WIDTH_MAX}, got {_show(channels)}"
        )
    games = config.game_names
    if not isinstance(games, (list, tuple)) or not 1 <= len(games) <= MAX_GAMES or not all(map(_is_short_str, games)):
        problems.append(
            f"game_names must be a list of 1 to {MAX_GAMES} strings of at most {MAX_NAME_CHARS} characters, "
            f"got {_show(games)}"
        )
    return problems


def _official_problems(config: NitroGenConfig, spec: OfficialSpec) -> list[str]:
    """Widths the released architecture needs to agree (its own fields were checked by :class:`OfficialSpec`)."""
    problems = []
    if config.encoder != "siglip":
        problems.append(f"a config with official settings uses encoder 'siglip', got {config.encoder!r}")
    if spec.vl_layers and spec.vl_heads * spec.vl_head_dim != config.vision_hidden_size:
        problems.append(
            f"official vl_heads * vl_head_dim ({spec.vl_heads} * {spec.vl_head_dim}) must equal vision_hidden_size "
            f"({config.vision_hidden_size})"
        )
    if spec.dit_context_dim != config.vision_hidden_size:
        problems.append(
            f"official dit_context_dim ({spec.dit_context_dim}) must equal vision_hidden_size ({config.vision_hidden_size})"
        )
    if spec.add_pos_embed and spec.max_seq_len < config.chunk_size:
        problems.append(f"official max_seq_len ({spec.max_seq_len}) must be at least chunk_size ({config.chunk_size})")
    if spec.dit_positional and spec.dit_max_positions < config.chunk_size:
        problems.append(f"official dit_max_positions ({spec.dit_max_positions}) must be at least chunk_size")
    if spec.vl_positional and spec.vl_max_positions < spec.vl_sequence_length:
        problems.append(
            f"official vl_max_positions ({spec.vl_max_positions}) must be at least vl_sequence_length "
            f"({spec.vl_sequence_length})"
        )
    tokens = (config.image_size // config.vision_patch_size) ** 2
    if tokens != spec.visual_tokens_per_frame:
        problems.append(
            f"official visual_tokens_per_frame ({spec.visual_tokens_per_frame}) must be (image_size / "
            f"vision_patch_size)**2 = {tokens}"
        )
    if tokens + int(spec.game_token) > spec.vl_sequence_length:
        problems.append(f"official vl_sequence_length ({spec.vl_sequence_length}) is shorter than one frame's tokens")
    if not spec.game_token and len(config.game_names) != 1:
        problems.append("a config with official settings and no game token has only the unknown game in game_names")
    return problems


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_short_str(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= MAX_NAME_CHARS


def _show(value: Any) -> str:
    """A value for a one-line message: its repr cut short, and its type."""
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{text} ({type(value).__name__})"
