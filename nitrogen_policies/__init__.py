"""NitroGen policies: the flow-matching action-chunk transformer, its training, and baselines.

* :class:`NitroGenPolicy` / :class:`NitroGenConfig` (``nitrogen_policies.nitrogen``): build, load, save, act.
* ``nitrogen_policies.training``: behaviour cloning on demonstration datasets (``train_on_folders``,
  ``finetune_from``; ``nitrogen train`` / ``finetune``); the only part that reads datasets.
* ``nitrogen_policies.baselines``: Stable-Baselines3 PPO and ``imitation`` BC to compare against.
* ``nitrogen_policies.official``: NVIDIA's released checkpoint, converted without running its pickle.

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
