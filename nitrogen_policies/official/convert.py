"""Convert NVIDIA's ``ng.pt`` into one of our checkpoints: ``config.json`` + ``model.safetensors``.

The checkpoint is read by :mod:`.unpickler` (nothing in it runs). Its ``ckpt_config`` (the release's pydantic
``CkptConfig``, read as plain data) gives the architecture; the SigLIP sizes come from the tensors' shapes, since
the release builds SigLIP from a Hub name rather than a config. The mirror in :mod:`.architecture` uses the
release's parameter names, so every tensor maps onto the parameter of the same name: each one is checked
against the mirror (built on the ``meta`` device, so for free) and any tensor left over or missing is named.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from nitrogen_envs.registry import UNKNOWN_GAME
from nitrogen_policies.errors import CheckpointError, InvalidConfig
from nitrogen_policies.hub import SHOWN_KEYS, module_tensor_specs, save_tensors
from nitrogen_policies.nitrogen.configuration_nitrogen import NitroGenConfig
from nitrogen_policies.official.spec import OfficialSpec
from nitrogen_policies.official.unpickler import load_official

logger = logging.getLogger(__name__)

CONFIG_NAME = "nitrogen-official"
SIGLIP_HEADS: dict[int, int] = {768: 12, 1024: 16, 1152: 16, 1536: 16}
"""Attention heads of the published SigLIP vision towers by width (base, large, so400m, giant); shapes don't tell."""
SIGLIP_HEAD_DIM = 64
"""Head width assumed for a SigLIP width not in :data:`SIGLIP_HEADS`."""
DERIVED_BUFFERS = frozenset({"vision_encoder.embeddings.position_ids"})
"""Buffers older ``transformers`` saved that hold no weights (recomputed on load); skipped when present."""
UNCONDITIONAL = None
"""The release's game-mapping key for "no game" (index 0)."""

# The release's pydantic defaults (nitrogen/flow_matching_transformer/{nitrogen,modules}.py, mm_tokenizers.py), used
# for any field a checkpoint's config leaves out.
MODEL_DEFAULTS: dict[str, Any] = {
    "add_pos_embed": False,
    "max_seq_len": 1024,
    "noise_beta_alpha": 1.5,
    "noise_beta_beta": 1.0,
    "num_timestep_buckets": 1000,
    "max_num_embodiments": 1,
    "vision_encoder_name": "google/siglip-large-patch16-256",
}
BLOCK_DEFAULTS: dict[str, Any] = {
    "num_attention_heads": 8,
    "attention_head_dim": 64,
    "num_layers": 12,
    "attention_bias": True,
    "activation_fn": "gelu-approximate",
    "norm_type": "ada_norm",
    "norm_elementwise_affine": False,
    "norm_eps": 1e-5,
    "max_num_positional_embeddings": 512,
    "positional_embeddings": "sinusoidal",
    "interleave_self_attention": False,
    "cross_attention_dim": None,
}
TOKENIZER_DEFAULTS: dict[str, Any] = {
    "num_visual_tokens_per_frame": 256,
    "max_sequence_length": 300,
    "old_layout": False,
}


@dataclass
class ConversionReport:
    """What a conversion wrote and what it noticed."""

    folder: Path
    tensors: int
    parameters: int
    game_names: tuple[str, ...]
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def convert_official(
    checkpoint: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    game_names: Mapping[str, int] | None = None,
) -> ConversionReport:
    """Convert ``ng.pt`` into ``out_dir`` (``config.json`` + ``model.safetensors``, written atomically).

    Args:
        checkpoint: the release's ``ng.pt`` (or a checkpoint of the same format).
        out_dir: folder to write; loads with ``NitroGenPolicy.from_pretrained(out_dir)``.
        game_names: the release's game mapping (name -> id) when the checkpoint does not carry one; ids are kept,
            id 0 is "no game". Without either, games are named ``official-game-<id>``.

    Raises:
        UnsafeCheckpoint: the pickle names something outside the allow-list (nothing ran).
        CheckpointError: not a checkpoint of the release's format, or tensors are missing, left over or misshapen
            (the message names them).
        InvalidConfig: the checkpoint's config is out of our bounds.
    """
    source = Path(checkpoint)
    raw = load_official(source)
    state, ckpt_config = _parts(raw, source)
    mapping = game_names if game_names is not None else raw.get("game_mapping")
    config, notes = config_from_official(ckpt_config, state, mapping, source)
    skipped = sorted(DERIVED_BUFFERS & set(state))
    tensors = {key: value for key, value in state.items() if key not in DERIVED_BUFFERS}
    check_tensors(config, tensors, source)
    folder = save_tensors(_unshared(tensors), config.to_dict(), out_dir)
    parameters = sum(value.numel() for value in tensors.values())
    logger.info("converted %s (%d tensors, %d values) into %s", source, len(tensors), parameters, folder)
    return ConversionReport(folder, len(tensors), parameters, config.game_names, skipped, notes)


def _parts(raw: dict[str, Any], source: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    missing = [key for key in ("model", "ckpt_config") if key not in raw]
    if missing:
        raise CheckpointError(
            f"{source} has no {' or '.join(missing)} entry (it has {sorted(map(str, raw))[:SHOWN_KEYS]}): it is not "
            "a checkpoint of NVIDIA's NitroGen release"
        )
    state, ckpt_config = raw["model"], raw["ckpt_config"]
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise CheckpointError(f"{source}: its 'model' entry is not a state dict of tensors")
    if not isinstance(ckpt_config, dict) or not isinstance(ckpt_config.get("model_cfg"), dict):
        raise CheckpointError(f"{source}: its 'ckpt_config' has no model_cfg; it is not the release's CkptConfig")
    return state, ckpt_config


def config_from_official(
    ckpt_config: dict[str, Any],
    state: Mapping[str, torch.Tensor],
    game_mapping: Mapping[Any, Any] | None,
    source: Path,
) -> tuple[NitroGenConfig, list[str]]:
    """Our ``nitrogen-official`` config for the release's ``ckpt_config`` and tensor shapes, plus notes for the user."""
    model = {**MODEL_DEFAULTS, **ckpt_config["model_cfg"]}
    dit = {**BLOCK_DEFAULTS, **_section(model, "diffusion_model_cfg", source)}
    vl = {**BLOCK_DEFAULTS, **_section(model, "vl_self_attention_cfg", source)}
    tokenizer = {**TOKENIZER_DEFAULTS, **(ckpt_config.get("tokenizer_cfg") or {})}
    modality = ckpt_config.get("modality_cfg") or {}
    vision = siglip_sizes(state, source)
    notes = []
    hidden = model.get("hidden_size")
    if dit["num_attention_heads"] * dit["attention_head_dim"] != hidden or dit.get("output_dim", hidden) != hidden:
        raise CheckpointError(
            f"{source}: the DiT's heads * head_dim ({dit['num_attention_heads']} * {dit['attention_head_dim']}) and "
            f"output_dim ({dit.get('output_dim')}) must equal hidden_size ({hidden}) as in the released architecture"
        )
    names = official_game_names(state, game_mapping, source)
    heads = SIGLIP_HEADS.get(vision["hidden"], max(1, vision["hidden"] // SIGLIP_HEAD_DIM))
    notes.append(f"SigLIP: {vision['layers']} layers of width {vision['hidden']}, {heads} heads (by width)")
    if modality.get("frame_per_sample", 1) != 1:
        notes.append(
            f"trained with {modality['frame_per_sample']} context frames: we pass the current frame only, as the "
            "release does on an episode's first step (guidance then contrasts game against no game only)"
        )
    try:
        spec = OfficialSpec(
            action_dim=_required(model, "action_dim", source),
            old_layout=bool(tokenizer["old_layout"]),
            dit_context_dim=dit["cross_attention_dim"] or hidden,
            dit_interleave_self_attention=dit["interleave_self_attention"],
            dit_positional=_positional(dit, source),
            dit_max_positions=dit["max_num_positional_embeddings"],
            dit_attention_bias=dit["attention_bias"],
            dit_activation=dit["activation_fn"],
            dit_norm_type=dit["norm_type"],
            dit_norm_affine=dit["norm_elementwise_affine"],
            dit_norm_eps=dit["norm_eps"],
            vl_layers=vl["num_layers"],
            vl_heads=vl["num_attention_heads"],
            vl_head_dim=vl["attention_head_dim"],
            vl_positional=_positional(vl, source),
            vl_max_positions=vl["max_num_positional_embeddings"],
            vl_attention_bias=vl["attention_bias"],
            vl_activation=vl["activation_fn"],
            add_pos_embed=model["add_pos_embed"],
            max_seq_len=model["max_seq_len"],
            num_timestep_buckets=model["num_timestep_buckets"],
            num_embodiments=model["max_num_embodiments"],
            vl_sequence_length=tokenizer["max_sequence_length"],
            visual_tokens_per_frame=tokenizer["num_visual_tokens_per_frame"],
            context_frames=modality.get("frame_per_sample", 1),
            game_token=len(names) > 1 or "game_embedding.weight" in state,
            vision_encoder_name=str(model["vision_encoder_name"]),
        )
        chunk = _required(model, "action_horizon", source)
        config = NitroGenConfig(
            name=CONFIG_NAME,
            chunk_size=chunk,
            n_action_steps=chunk,  # the release's client plays the whole chunk before predicting again
            num_inference_steps=_required(model, "num_inference_timesteps", source),
            image_size=vision["image_size"],
            encoder="siglip",
            vision_hidden_size=vision["hidden"],
            vision_layers=vision["layers"],
            vision_heads=heads,
            vision_intermediate_size=vision["intermediate"],
            vision_patch_size=vision["patch"],
            d_model=hidden,
            n_layers=dit["num_layers"],
            n_heads=dit["num_attention_heads"],
            mlp_ratio=4.0,  # diffusers' FeedForward default, which the release keeps
            game_names=names,
            game_dropout=0.0,
            # The release draws s ~ Beta(alpha, beta) and trains at t = 1 - s (t = 0 is noise), i.e. Beta(beta, alpha).
            flow_alpha=model["noise_beta_beta"],
            flow_beta=model["noise_beta_alpha"],
            official=spec,
        )
    except (InvalidConfig, TypeError) as err:
        raise InvalidConfig(
            f"{source}: its config does not fit the released architecture as we mirror it: {err}"
        ) from err
    return config, notes


def _required(model: dict[str, Any], name: str, source: Path) -> Any:
    """A model_cfg field the release has no default for."""
    if model.get(name) is None:
        raise CheckpointError(f"{source}: model_cfg.{name} is missing; it is not a trained NitroGen checkpoint")
    return model[name]


def _section(model: dict[str, Any], name: str, source: Path) -> dict[str, Any]:
    section = model.get(name)
    if not isinstance(section, dict):
        raise CheckpointError(f"{source}: model_cfg.{name} is missing; it is not the release's NitroGen_Config")
    return section


def _positional(block: dict[str, Any], source: Path) -> bool:
    kind = block["positional_embeddings"]
    if kind not in (None, "sinusoidal"):
        raise CheckpointError(f"{source}: positional_embeddings {kind!r} is not one the release's blocks support")
    return kind == "sinusoidal"


def siglip_sizes(state: Mapping[str, torch.Tensor], source: Path) -> dict[str, int]:
    """Width, depth, MLP width, patch and image size of the SigLIP tower, from its tensors' shapes."""
    prefix = "vision_encoder."
    try:
        patch_weight = state[f"{prefix}embeddings.patch_embedding.weight"]
        positions = state[f"{prefix}embeddings.position_embedding.weight"].shape[0]
        intermediate = state[f"{prefix}encoder.layers.0.mlp.fc1.weight"].shape[0]
    except KeyError as err:
        raise CheckpointError(
            f"{source} has no SigLIP tensor {err.args[0]}; it is not the release's NitroGen"
        ) from None
    layer = re.compile(re.escape(prefix) + r"encoder\.layers\.(\d+)\.")
    layers = 1 + max(int(match.group(1)) for key in state if (match := layer.match(key)))
    side = math.isqrt(positions)
    if side * side != positions or patch_weight.dim() != 4:
        raise CheckpointError(f"{source}: SigLIP has {positions} positions, not a square grid of patches")
    patch = int(patch_weight.shape[-1])
    return {
        "hidden": int(patch_weight.shape[0]),
        "layers": layers,
        "intermediate": int(intermediate),
        "patch": patch,
        "image_size": side * patch,
    }


def official_game_names(
    state: Mapping[str, torch.Tensor], game_mapping: Mapping[Any, Any] | None, source: Path
) -> tuple[str, ...]:
    """Our ``game_names`` with the release's ids kept: index 0 is "no game" (ours: the unknown game)."""
    rows = int(state["game_embedding.weight"].shape[0]) if "game_embedding.weight" in state else 1
    names = [f"official-game-{index:03d}" for index in range(rows)]
    names[0] = UNKNOWN_GAME
    if game_mapping:
        for name, index in game_mapping.items():
            if name is UNCONDITIONAL:
                continue
            if not isinstance(index, int) or not 0 < index < rows or not isinstance(name, str):
                raise CheckpointError(
                    f"{source}: game mapping entry {name!r:.40} -> {index!r:.20} is not a name with an id in 1..{rows - 1}"
                )
            names[index] = name
    if len(set(names)) != len(names):
        raise CheckpointError(f"{source}: its game mapping gives two ids the same name")
    return tuple(names)


def check_tensors(config: NitroGenConfig, tensors: Mapping[str, torch.Tensor], source: Path) -> None:
    """Every tensor must be a parameter of the mirror with its shape, and every parameter must be there.

    Raises:
        CheckpointError: naming the tensors left unmapped, the parameters missing, or the first wrong shape.
    """
    from nitrogen_policies.nitrogen.policy_nitrogen import _meta_model

    expected = module_tensor_specs(_meta_model(config))
    unmapped = sorted(set(tensors) - set(expected))
    missing = sorted(set(expected) - set(tensors))
    if unmapped or missing:
        raise CheckpointError(
            f"{source} does not match the released architecture as we mirror it: unmapped tensors {_names(unmapped)}; "
            f"missing tensors {_names(missing)}"
        )
    wrong = [
        f"{key} is {tuple(tensors[key].shape)} in the file, {expected[key][0]} in the mirror"
        for key in sorted(expected)
        if tuple(tensors[key].shape) != expected[key][0]
    ]
    if wrong:
        more = f" (+{len(wrong) - 1} more)" if len(wrong) > 1 else ""
        raise CheckpointError(f"{source}: {wrong[0]}{more}")
    floats = [key for key, value in tensors.items() if not value.is_floating_point()]
    if floats:
        raise CheckpointError(f"{source}: tensors {_names(floats)} are not floating point")


def _names(keys: list[str]) -> str:
    if not keys:
        return "none"
    more = f" (+{len(keys) - SHOWN_KEYS} more)" if len(keys) > SHOWN_KEYS else ""
    return ", ".join(keys[:SHOWN_KEYS]) + more


def _unshared(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Copies of tensors that share a storage with another (safetensors stores each tensor on its own)."""
    seen: set[int] = set()
    out = {}
    for key, value in tensors.items():
        pointer = value.untyped_storage().data_ptr()
        out[key] = value.clone() if pointer in seen else value
        seen.add(pointer)
    return out
