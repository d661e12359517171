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

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nitrogen_policies' has no attribute {name!r}")


__all__ = ["NitroGenConfig", "NitroGenPolicy"]
