"""NitroGen policies: the flow-matching action-chunk transformer (training and baselines come next).

``from nitrogen_policies import NitroGenPolicy`` imports torch; ``import nitrogen_policies`` alone does not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nitrogen_policies.nitrogen import NitroGenConfig, NitroGenPolicy

_LAZY = {"NitroGenPolicy": "nitrogen_policies.nitrogen", "NitroGenConfig": "nitrogen_policies.nitrogen"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        from nitrogen_policies.import_utils import require_package

        for package in ("torch", "safetensors"):  # a missing one is one line naming the extra, not a traceback
            require_package(package)
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nitrogen_policies' has no attribute {name!r}")


__all__ = ["NitroGenConfig", "NitroGenPolicy"]
