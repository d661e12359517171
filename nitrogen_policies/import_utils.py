"""Optional dependencies of :mod:`nitrogen_policies`, with errors naming the pip extra."""

from __future__ import annotations

from types import ModuleType

from nitrogen_envs.import_utils import require_package as _require_package

_EXTRAS = {"transformers": ("transformers<5", "policy"), "huggingface_hub": ("huggingface_hub<1.0", "policy")}


def require_package(module: str) -> ModuleType:
    """Import ``module`` or raise :class:`DependencyNotInstalled` with the pip command."""
    return _require_package(module, _EXTRAS, default_extra="policy")
