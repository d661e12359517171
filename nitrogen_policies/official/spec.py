"""The released architecture's own settings: the part of a ``nitrogen-official`` config ours has no field for.

Widths and depths both models share live in :class:`~nitrogen_policies.nitrogen.NitroGenConfig` (``d_model`` is
the release's ``hidden_size``, ``n_heads`` / ``n_layers`` its DiT's, ``vision_*`` its SigLIP's, ``mlp_ratio`` its
feed-forward multiplier); this dataclass holds the rest, read from the checkpoint's ``ckpt_config``. It is part
of ``config.json``, so every field is type- and range-checked like the rest of the config.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from nitrogen_policies.errors import InvalidConfig
from nitrogen_policies.official.schema import ACTION_DIM

ACTIVATIONS = ("gelu-approximate", "gelu")
"""Feed-forward activations of diffusers' ``FeedForward`` that the mirror implements."""
NORM_TYPES = ("ada_norm", "layer_norm")
"""DiT block first norms: AdaLN on the flow time (the release's default), or a plain LayerNorm."""

_INT_BOUNDS: dict[str, tuple[int, int]] = {
    "action_dim": (ACTION_DIM, ACTION_DIM),
    "dit_context_dim": (1, 8192),
    "dit_max_positions": (1, 65536),
    "vl_layers": (0, 64),
    "vl_heads": (1, 256),
    "vl_head_dim": (1, 1024),
    "vl_max_positions": (1, 65536),
    "max_seq_len": (1, 65536),
    "num_timestep_buckets": (1, 100_000),
    "num_embodiments": (1, 1024),
    "embodiment_id": (0, 1023),
    "vl_sequence_length": (1, 65536),
    "visual_tokens_per_frame": (1, 65536),
    "context_frames": (1, 64),
}
_BOOLS = (
    "old_layout",
    "dit_interleave_self_attention",
    "dit_positional",
    "dit_attention_bias",
    "dit_norm_affine",
    "vl_positional",
    "vl_attention_bias",
    "add_pos_embed",
    "game_token",
)


@dataclass
class OfficialSpec:
    """Settings of NVIDIA's released NitroGen network that ours lacks (defaults: the release's code defaults).

    Args:
        action_dim: values per action step, 25 (21 button tokens + 4 stick axes, see :mod:`.schema`).
        old_layout: the sticks come first (an older tokenizer layout).
        dit_context_dim: width of the tokens the DiT cross-attends to (the SigLIP width).
        dit_interleave_self_attention: odd DiT blocks self-attend instead of cross-attending.
        dit_positional: each DiT block adds a sinusoidal position table after its first norm.
        dit_max_positions: rows of that table. dit_attention_bias: q/k/v projections have biases.
        dit_activation: feed-forward activation (:data:`ACTIVATIONS`). dit_norm_type: :data:`NORM_TYPES`.
        dit_norm_affine: the DiT's LayerNorms have weights. dit_norm_eps: their epsilon.
        vl_layers: self-attention blocks over the vision tokens before the DiT. vl_heads, vl_head_dim: their
            heads (heads * head_dim is the SigLIP width). vl_positional, vl_max_positions, vl_attention_bias,
            vl_activation: as for the DiT.
        add_pos_embed: a learned position embedding is added to the action tokens. max_seq_len: its rows.
        num_timestep_buckets: flow time t in [0, 1] is floored to ``int(t * buckets)`` before embedding.
        num_embodiments: rows of the per-embodiment action encoder and decoder. embodiment_id: the row used.
        vl_sequence_length: the context is left-padded with zero tokens to this length (the tokenizer's
            ``max_sequence_length``); the release does not mask them, so they change its output.
        visual_tokens_per_frame: SigLIP tokens per frame. context_frames: frames the release keeps as history;
            we pass one frame, as the release does on the first step of an episode (older slots are dropped).
        game_token: a game-embedding token precedes the image tokens.
        vision_encoder_name: the SigLIP the release started from (informational; nothing is downloaded).
    """

    action_dim: int = ACTION_DIM
    old_layout: bool = False
    dit_context_dim: int = 768
    dit_interleave_self_attention: bool = False
    dit_positional: bool = True
    dit_max_positions: int = 512
    dit_attention_bias: bool = True
    dit_activation: str = "gelu-approximate"
    dit_norm_type: str = "ada_norm"
    dit_norm_affine: bool = False
    dit_norm_eps: float = 1e-5
    vl_layers: int = 12
    vl_heads: int = 8
    vl_head_dim: int = 64
    vl_positional: bool = True
    vl_max_positions: int = 512
    vl_attention_bias: bool = True
    vl_activation: str = "gelu-approximate"
    add_pos_embed: bool = False
    max_seq_len: int = 1024
    num_timestep_buckets: int = 1000
    num_embodiments: int = 1
    embodiment_id: int = 0
    vl_sequence_length: int = 300
    visual_tokens_per_frame: int = 256
    context_frames: int = 1
    game_token: bool = False
    vision_encoder_name: str = "google/siglip-large-patch16-256"

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise InvalidConfig("invalid official architecture settings: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """One message per field of the wrong type, out of range, or at odds with another."""
        problems = []
        for name, (low, high) in _INT_BOUNDS.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                problems.append(f"{name} must be an integer in [{low}, {high}], got {value!r:.40}")
        for name in _BOOLS:
            if not isinstance(getattr(self, name), bool):
                problems.append(f"{name} must be true or false, got {getattr(self, name)!r:.40}")
        for name, allowed in (
            ("dit_activation", ACTIVATIONS),
            ("vl_activation", ACTIVATIONS),
            ("dit_norm_type", NORM_TYPES),
        ):
            if getattr(self, name) not in allowed:
                problems.append(f"{name} must be one of {allowed}, got {getattr(self, name)!r:.40}")
        eps = self.dit_norm_eps
        if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not math.isfinite(eps) or not 0 < eps < 1:
            problems.append(f"dit_norm_eps must be a number in (0, 1), got {eps!r:.40}")
        if not isinstance(self.vision_encoder_name, str) or len(self.vision_encoder_name) > 200:
            problems.append("vision_encoder_name must be a string of at most 200 characters")
        if not problems and self.embodiment_id >= self.num_embodiments:
            problems.append(
                f"embodiment_id ({self.embodiment_id}) must be below num_embodiments ({self.num_embodiments})"
            )
        return problems

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> OfficialSpec:
        """Build from ``config.json``'s ``official`` object; unknown keys are an error (it is never written newer)."""
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            raise InvalidConfig(f"official must be an object of architecture settings, got {type(data).__name__}")
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidConfig(f"official has unknown settings {unknown[:5]}; known: {sorted(known)}")
        return cls(**data)
