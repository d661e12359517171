"""Optional dependencies of :mod:`nitrogen_policies`, with errors naming the pip extra."""

from __future__ import annotations

from types import ModuleType

from nitrogen_envs.import_utils import require_package as _require_package

# import name -> (pip requirement, extra of nitrogen-gym that installs it)
OPTIONAL_PACKAGES: dict[str, tuple[str, str]] = {
    "torch": ("torch", "policy"),
    "safetensors": ("safetensors", "policy"),
    "transformers": ("transformers", "policy"),
    "huggingface_hub": ("huggingface_hub", "policy"),
    "stable_baselines3": ("stable-baselines3", "rl"),
    # imitation 1.0.1 needs the classic stack (NumPy 1, Gymnasium 0.29): its own extra, see docs/install.md
    "imitation": ("imitation", "imitation"),
}


def require_package(module: str) -> ModuleType:
    """Import ``module`` or raise :class:`DependencyNotInstalled` with the pip command."""
    return _require_package(module, OPTIONAL_PACKAGES, default_extra="policy")
