"""Read NVIDIA's ``ng.pt`` (a ``torch.save`` zip holding a pickle) without running anything it names.

``torch.load(weights_only=False)``, which the release uses, lets a pickle call any function it names: a
tampered ``ng.pt`` runs code on load. This reader walks torch's zip layout itself and unpickles
``<archive>/data.pkl`` with :class:`RestrictedUnpickler`, whose ``find_class`` returns only our own stand-ins:

* plain containers the pickle protocol builds by reduction (``collections.OrderedDict``, ``set``, ``frozenset``);
* torch's storage type names (``torch.FloatStorage``, ...) as dtype markers, and the tensor-rebuild functions
  (``torch._utils._rebuild_tensor_v2``, ``_rebuild_parameter``) as our functions, which check the offset, sizes
  and strides against the storage before making a view;
* the release's pydantic config classes (:data:`CONFIG_CLASSES`) as :class:`ConfigRecord`, which only records the
  state it is given: the classes are never imported, their validators never run.

Any other global is refused with :class:`UnsafeCheckpoint` naming it. Storages are read from the zip's
``data/<key>`` entries, which must be stored uncompressed and exactly as long as the pickle says, so the bytes
read are bounded by the file's own size before anything is allocated.
"""

from __future__ import annotations

import io
import os
import pickle
import stat
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nitrogen_policies.errors import CheckpointError, UnsafeCheckpoint

CONFIG_CLASSES: frozenset[tuple[str, str]] = frozenset(
    {
        ("nitrogen.cfg", "CkptConfig"),
        ("nitrogen.cfg", "ModalityConfig"),
        ("nitrogen.flow_matching_transformer.nitrogen", "NitroGen_Config"),
        ("nitrogen.flow_matching_transformer.modules", "DiTConfig"),
        ("nitrogen.flow_matching_transformer.modules", "SelfAttentionTransformerConfig"),
        ("nitrogen.mm_tokenizers", "NitrogenTokenizerConfig"),
        ("nitrogen.mm_tokenizers", "GameMappingConfig"),
    }
)
"""Pydantic models of the release (``nitrogen/cfg.py`` and the modules it imports) read as plain records."""

STORAGE_DTYPES: dict[str, torch.dtype] = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}
"""``torch.<Name>Storage`` globals a ``torch.save`` pickle names, and the dtype of their elements."""

MAX_PICKLE_BYTES = 64 * 1024 * 1024
"""``data.pkl`` of a state dict is a few MB (names, shapes, config); a larger one is refused unread."""
MAX_TENSOR_DIMS = 16


@dataclass(frozen=True)
class StorageType:
    """What ``torch.FloatStorage`` (and friends) become: only a dtype, used to read a zip entry."""

    dtype: torch.dtype


class ConfigRecord:
    """Stand-in for one of the release's pydantic config classes: records its fields, runs nothing.

    Pickle creates it with ``cls.__new__`` and hands it the object's state; pydantic v2 pickles
    ``{"__dict__": fields, "__pydantic_fields_set__": ..., ...}``, v1 ``{"__dict__": ..., "__fields_set__": ...}``.
    """

    qualified_name = ""

    fields: dict[str, Any]

    def __new__(cls, *args: Any, **kwargs: Any) -> ConfigRecord:  # noqa: D102 (pickle's NEWOBJ passes args)
        record = super().__new__(cls)
        record.fields = {}
        return record

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            state = {**(state[0] or {}), **(state[1] or {})}
        if not isinstance(state, dict):
            raise UnsafeCheckpoint(f"{self.qualified_name} carries a state of type {type(state).__name__}, not fields")
        fields = state.get("__dict__", state)
        if not isinstance(fields, dict):
            raise UnsafeCheckpoint(f"{self.qualified_name} carries fields of type {type(fields).__name__}")
        self.fields = dict(fields)


def _record_class(module: str, name: str) -> type[ConfigRecord]:
    return type(name, (ConfigRecord,), {"qualified_name": f"{module}.{name}", "__module__": __name__})


def _int_tuple(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, tuple) or len(value) > MAX_TENSOR_DIMS:
        raise UnsafeCheckpoint(f"a tensor's {what} is {type(value).__name__} {value!r:.60}, not a short tuple")
    if not all(isinstance(item, int) and not isinstance(item, bool) and item >= 0 for item in value):
        raise UnsafeCheckpoint(f"a tensor's {what} {value!r:.60} is not a tuple of non-negative integers")
    return value


def rebuild_tensor(
    storage: Any, storage_offset: Any, size: Any, stride: Any, requires_grad: Any = False, *_: Any
) -> torch.Tensor:
    """Our ``torch._utils._rebuild_tensor_v2``: a strided view into a storage, checked to stay inside it."""
    if not isinstance(storage, torch.Tensor) or storage.dim() != 1:
        raise UnsafeCheckpoint("a tensor is rebuilt from something that is not a storage read from the file")
    size, stride = _int_tuple(size, "size"), _int_tuple(stride, "stride")
    if len(size) != len(stride) or not isinstance(storage_offset, int) or storage_offset < 0:
        raise UnsafeCheckpoint(f"a tensor's size {size}, stride {stride} and offset {storage_offset!r} disagree")
    if 0 not in size:
        last = storage_offset + sum((extent - 1) * step for extent, step in zip(size, stride, strict=True))
        if last >= storage.numel():
            raise UnsafeCheckpoint(
                f"a tensor of size {size} reaches element {last} of a storage of {storage.numel()} elements"
            )
    return torch.as_strided(storage, size, stride, storage_offset)


def rebuild_parameter(data: Any, requires_grad: Any = False, *_: Any) -> torch.Tensor:
    """Our ``torch._utils._rebuild_parameter``: the tensor itself (a parameter needs no gradient state here)."""
    if not isinstance(data, torch.Tensor):
        raise UnsafeCheckpoint("a parameter is rebuilt from something that is not a tensor")
    return data


def _path_str(*parts: Any) -> str:
    if not all(isinstance(part, str) for part in parts):
        raise UnsafeCheckpoint("a path in the checkpoint has parts that are not strings")
    return "/".join(parts)


ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
    ("pathlib", "PosixPath"): _path_str,
    ("pathlib", "PurePosixPath"): _path_str,
    ("pathlib", "WindowsPath"): _path_str,
    ("pathlib", "PureWindowsPath"): _path_str,
    **{("torch", name): StorageType(dtype) for name, dtype in STORAGE_DTYPES.items()},
    **{key: _record_class(*key) for key in CONFIG_CLASSES},
}
"""Everything a pickle may name, mapped to what it gets instead (only our own objects; nothing imported)."""


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickle only :data:`ALLOWED_GLOBALS`; storages come from the zip entries of the same file."""

    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str, source: Path) -> None:
        super().__init__(io.BytesIO(data))
        self.archive = archive
        self.prefix = prefix
        self.source = source
        self.storages: dict[str, torch.Tensor] = {}

    def find_class(self, module: str, name: str) -> Any:
        """Our stand-in for an allowed global; anything else is refused before it is imported."""
        if module == "__builtin__":  # protocol 2 pickles name Python 2's module; the default find_class renames it
            module = "builtins"
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafeCheckpoint(
                f"{self.source} names {module}.{name}, which a weights-and-config checkpoint never needs: refused "
                "unrun (it may be a payload); get ng.pt from huggingface.co/nvidia/NitroGen"
            ) from None

    def persistent_load(self, pid: Any) -> torch.Tensor:
        """Read storage ``('storage', type, key, location, numel)`` from ``<archive>/data/<key>``."""
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise UnsafeCheckpoint(f"{self.source} refers to an unknown kind of persistent object {pid!r:.60}")
        _, storage_type, key, _location, numel = pid
        if not isinstance(storage_type, StorageType) or not isinstance(key, str) or not key.isdigit():
            raise UnsafeCheckpoint(f"{self.source} refers to a storage {key!r:.40} of an unknown type")
        if not isinstance(numel, int) or numel < 0:
            raise UnsafeCheckpoint(f"{self.source} gives storage {key} a size of {numel!r:.40}")
        if key not in self.storages:
            self.storages[key] = self._read_storage(key, storage_type.dtype, numel)
        storage = self.storages[key]
        if storage.dtype != storage_type.dtype or storage.numel() != numel:
            raise UnsafeCheckpoint(f"{self.source} reads storage {key} twice with different types or sizes")
        return storage

    def _read_storage(self, key: str, dtype: torch.dtype, numel: int) -> torch.Tensor:
        entry_name = f"{self.prefix}data/{key}"
        try:
            entry = self.archive.getinfo(entry_name)
        except KeyError:
            raise CheckpointError(
                f"{self.source} is truncated: its pickle names {entry_name}, which is not in the file"
            ) from None
        expected = numel * torch.empty((), dtype=dtype).element_size()
        if entry.compress_type != zipfile.ZIP_STORED or entry.file_size != expected:
            raise CheckpointError(
                f"{self.source}: {entry_name} holds {entry.file_size} bytes (compression {entry.compress_type}), "
                f"the pickle says {expected} stored uncompressed; the file is damaged"
            )
        data = bytearray(self.archive.read(entry))
        return torch.frombuffer(data, dtype=dtype) if data else torch.empty(0, dtype=dtype)


def to_plain(value: Any) -> Any:
    """Config records as dicts (recursively); tensors, numbers and strings as they are."""
    if isinstance(value, ConfigRecord):
        return {key: to_plain(item) for key, item in value.fields.items()}
    if isinstance(value, dict):
        return {key: to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_plain(item) for item in value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return value


def load_official(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a ``torch.save`` zip checkpoint with nothing executed; returns its top-level dict as plain data.

    Raises:
        CheckpointError: not a regular file, not a ``torch.save`` zip, damaged, or big-endian.
        UnsafeCheckpoint: the pickle names a global outside :data:`ALLOWED_GLOBALS` (nothing ran).
    """
    source = Path(path)
    if not source.exists():
        raise CheckpointError(f"no such checkpoint file {source}; download ng.pt from huggingface.co/nvidia/NitroGen")
    if not stat.S_ISREG(source.stat().st_mode):
        raise CheckpointError(f"{source} is not a regular file; pass the path of ng.pt")
    if not zipfile.is_zipfile(source):
        raise CheckpointError(
            f"{source} is not a torch.save zip file (a legacy torch < 1.6 file or another format); only the zip "
            "format of NVIDIA's ng.pt is read"
        )
    with zipfile.ZipFile(source) as archive:
        pickles = [name for name in archive.namelist() if name.endswith("/data.pkl") and name.count("/") == 1]
        if len(pickles) != 1:
            raise CheckpointError(f"{source} is a zip file but not a torch.save checkpoint (no single */data.pkl)")
        prefix = pickles[0][: -len("data.pkl")]
        if f"{prefix}byteorder" in archive.namelist() and archive.read(f"{prefix}byteorder").strip() != b"little":
            raise CheckpointError(f"{source} was saved on a big-endian machine; re-save it on a little-endian one")
        info = archive.getinfo(pickles[0])
        if info.file_size > MAX_PICKLE_BYTES:
            raise CheckpointError(f"{source}: its pickle is {info.file_size} bytes, over {MAX_PICKLE_BYTES}")
        unpickler = RestrictedUnpickler(archive.read(info), archive, prefix, source)
        try:
            result = unpickler.load()
        except (UnsafeCheckpoint, CheckpointError):
            raise
        except (pickle.UnpicklingError, EOFError, TypeError, ValueError, AttributeError, IndexError) as err:
            raise CheckpointError(f"{source}: its pickle is malformed ({type(err).__name__}: {err})") from err
    if not isinstance(result, dict):
        raise CheckpointError(f"{source} holds a {type(result).__name__}, not the dict of a NitroGen checkpoint")
    return to_plain(result)
