"""The envelope around every save state: checked in full before any engine sees the bytes.

Engines trust the blobs they are handed: Procgen's ``set_state`` exits the whole process (``fassert``) on
a blob one byte short, and ALE raises ``SystemError``. So :meth:`~nitrogen_envs.base.GamepadEnv.save_state`
wraps what it writes in a small frame of our own, and ``load_state`` checks that frame (magic, format
version, exact length, sha256 checksum, a JSON header naming the engine and the game) before anything
reaches the engine. No pickle is involved anywhere.

Layout (little-endian)::

    offset  size  field
    0       4     magic b"NGST"
    4       2     format version (FORMAT_VERSION)
    6       4     header length H (at most MAX_HEADER_BYTES)
    10      8     payload length P
    18      32    sha256 of the header and the payload
    50      H     header: a UTF-8 JSON object (engine, game, task, frame shape, episode counters)
    50+H    P     payload: the observation frame, then the engine's own state

The checksum catches truncation, corruption and mix-ups; it is not a signature. A state crafted with a
valid checksum still reaches the engine, so load states only from sources you trust (see docs/security.md).
"""

from __future__ import annotations

import hashlib
import json
import struct
from typing import Any

from nitrogen_envs.errors import InvalidSaveState

MAGIC = b"NGST"
FORMAT_VERSION = 2
"""Version 2 added the length, engine and checksum fields; version 1 states are refused (re-save them)."""
MAX_HEADER_BYTES = 64 * 1024
"""The JSON header holds a handful of fields; anything longer is not ours."""
_PREFIX = struct.Struct("<4sHIQ32s")


def pack_state(header: dict[str, Any], payload: bytes) -> bytes:
    """Frame ``payload`` with ``header`` (a JSON-serializable dict) as one checksummed save state."""
    header_bytes = json.dumps(header, sort_keys=True).encode()
    digest = hashlib.sha256(header_bytes)
    digest.update(payload)
    prefix = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(header_bytes), len(payload), digest.digest())
    return b"".join((prefix, header_bytes, payload))


def unpack_state(state: object) -> tuple[dict[str, Any], memoryview]:
    """Check a save state's frame and return its header and payload (a view, nothing copied).

    Raises:
        InvalidSaveState: not bytes, wrong magic or version, a length that disagrees with the size, a
            checksum mismatch or an unreadable header; the message says which.
    """
    if not isinstance(state, bytes | bytearray | memoryview):
        raise InvalidSaveState(f"load_state expects bytes returned by save_state(), got {type(state).__name__}")
    view = memoryview(state).cast("B")
    if len(view) < _PREFIX.size or bytes(view[:4]) != MAGIC:
        raise InvalidSaveState("load_state expects bytes returned by save_state() of a NitroGen env")
    _, version, header_len, payload_len, digest = _PREFIX.unpack_from(view)
    if version != FORMAT_VERSION:
        raise InvalidSaveState(
            f"save state format version {version} is not supported (this nitrogen-gym reads version "
            f"{FORMAT_VERSION}); save the state again with this version"
        )
    expected = _PREFIX.size + header_len + payload_len
    if header_len > MAX_HEADER_BYTES or len(view) != expected:
        raise InvalidSaveState(
            f"save state is {len(view)} bytes but its header says {expected}: it was truncated or extended; "
            "use the bytes save_state() returned, unchanged"
        )
    body = view[_PREFIX.size :]
    if hashlib.sha256(body).digest() != digest:
        raise InvalidSaveState("save state fails its sha256 checksum: the bytes were changed after save_state()")
    try:
        header = json.loads(bytes(body[:header_len]))
    except ValueError as err:  # UnicodeDecodeError and JSONDecodeError both are ValueErrors
        raise InvalidSaveState(f"save state header is not JSON: {err}") from err
    if not isinstance(header, dict):
        raise InvalidSaveState(f"save state header must be a JSON object, got {type(header).__name__}")
    return header, body[header_len:]
