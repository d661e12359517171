"""Interoperate with NVIDIA's released NitroGen action dataset (``huggingface.co/datasets/nvidia/NitroGen``).

* :mod:`.schema`: the release's chunk files read with every field and size checked, and its action columns
  mapped to ours (stick y sign flipped: the release's +y is down);
* :mod:`.frames`: pair a chunk with the user's own copy of its video and cut, mask and crop its frames;
* :mod:`.importer`: ``nitrogen data import-nitrogen`` (release + videos -> our format, parallel, resumable);
* :mod:`.exporter`: ``nitrogen data export-nitrogen`` (our format -> the release's layout).

Names are imported lazily so that ``import nitrogen_datasets.official`` pulls in neither pyarrow nor PyAV.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "BUTTON_COLUMNS": "nitrogen_datasets.official.schema",
    "ChunkMetadata": "nitrogen_datasets.official.schema",
    "InvalidNitroGenChunk": "nitrogen_datasets.official.schema",
    "official_table": "nitrogen_datasets.official.schema",
    "read_actions": "nitrogen_datasets.official.schema",
    "read_metadata": "nitrogen_datasets.official.schema",
    "VideoIndex": "nitrogen_datasets.official.frames",
    "ImportConfig": "nitrogen_datasets.official.importer",
    "ImportStats": "nitrogen_datasets.official.importer",
    "import_nitrogen": "nitrogen_datasets.official.importer",
    "ExportStats": "nitrogen_datasets.official.exporter",
    "export_nitrogen": "nitrogen_datasets.official.exporter",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nitrogen_datasets.official' has no attribute {name!r}")
