"""Optional dependencies of :mod:`nitrogen_policies`, with errors naming the pip extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from nitrogen_policies.errors import DependencyNotInstalled

_EXTRAS = {"transformers": ("transformers<5", "policy"), "huggingface_hub": ("huggingface_hub<1.0", "policy")}


def require_package(module: str) -> ModuleType:
    """Import ``module`` or raise :class:`DependencyNotInstalled` with the pip command."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        pip_name, extra = _EXTRAS.get(module.split(".")[0], (module, "policy"))
        raise DependencyNotInstalled(
            f"{module} is not installed ({err}). Install it with: pip install 'nitrogen-gym[{extra}]' (or: pip install '{pip_name}')"
        ) from err
