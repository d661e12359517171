"""NitroGen datasets: the open demonstrations format, its writer and PyTorch reader, recording, imitation bridge.

Lives one level below ``datasets/`` so it never shadows Hugging Face's ``datasets`` package. Names are
imported lazily, so ``import nitrogen_datasets`` pulls in neither torch, pyarrow nor PyAV.

Example:
    >>> from nitrogen_datasets import DatasetWriter, DemoDataset, record_episodes  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "FORMAT_VERSION": "nitrogen_datasets.format",
    "DatasetInfo": "nitrogen_datasets.format",
    "EpisodeInfo": "nitrogen_datasets.format",
    "load_info": "nitrogen_datasets.format",
    "DatasetWriter": "nitrogen_datasets.writer",
    "WriterConfig": "nitrogen_datasets.writer",
    "record_episodes": "nitrogen_datasets.record",
    "DemoDataset": "nitrogen_datasets.reader",
    "ReaderConfig": "nitrogen_datasets.reader",
    "DemoMixture": "nitrogen_datasets.mixture",
    "MixtureSampler": "nitrogen_datasets.mixture",
    "to_trajectories": "nitrogen_datasets.imitation_bridge",
    "from_trajectories": "nitrogen_datasets.imitation_bridge",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nitrogen_datasets' has no attribute {name!r}")
