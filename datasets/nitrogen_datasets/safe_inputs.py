"""Bounded reading of user-supplied files: checked by their headers before anything is decoded.

Overlay layouts, their template images and the videos handed to ``nitrogen overlay`` come from users
and from the internet. Decoders trust what they read: OpenCV allocates a 20000x20000 PNG (5.6 GB) from
a 1.6 MB file, ``open()`` on a FIFO waits forever, and ``json`` recurses once per nesting level. So every
such file goes through here first:

* regular files only: a FIFO, device or directory is refused without being opened for reading (the
  file is opened non-blocking and checked with ``fstat``, so it cannot be swapped in between);
* images: PNG or JPEG, 8-bit gray, RGB or RGBA, with width and height read from the header (PNG
  ``IHDR``, JPEG ``SOFn``) and checked against :data:`MAX_IMAGE_SIDE` and :data:`MAX_IMAGE_PIXELS`
  before OpenCV decodes a byte;
* JSON: at most :data:`MAX_JSON_BYTES` and :data:`MAX_JSON_DEPTH` levels of nesting;
* videos: a regular file with a video stream whose frame size is within the same pixel limits;
* outputs: a command never writes over one of its own inputs.

Each refusal is one :class:`InvalidInputFile` (or :class:`OutputOverwritesInput`) naming the file, what
was found and what to do.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nitrogen_datasets.errors import DatasetError
from nitrogen_datasets.import_utils import require_package

MAX_IMAGE_SIDE = 8192
"""Largest width or height of an image or video frame we decode (an 8K frame is 7680x4320)."""
MAX_IMAGE_PIXELS = 40_000_000
"""Largest width x height we decode: 40 MP is 160 MB as RGBA, an 8K frame is 33 MP."""
MAX_IMAGE_BYTES = 64 * 1024 * 1024
"""Largest image file we read into memory; an overlay template is a few hundred KB."""
MAX_JSON_BYTES = 1024 * 1024
"""Largest JSON file we parse; a layout is about 2 KB."""
MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects we parse; a layout needs 4 levels."""

PathLike = str | os.PathLike[str]


class InvalidInputFile(DatasetError, ValueError):
    """An input file that is not a regular file, is over a size limit or is in an unsupported format.

    Raised from the file's header, before it is decoded; the message names the file, the value found
    and the fix.
    """


class OutputOverwritesInput(DatasetError, ValueError):
    """An output path that is (or would overwrite) one of the command's own inputs."""


# ---- regular files ------------------------------------------------------------------------------------
_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _SPECIAL_KINDS if test(mode)), "not a regular file")


def _refuse_special(path: PathLike, mode: int, what: str) -> None:
    if not stat.S_ISREG(mode):
        raise InvalidInputFile(f"{what} {os.fspath(path)} is {_kind(mode)}; give the path of a regular file")


def check_regular_file(path: PathLike, what: str = "input") -> os.stat_result:
    """Stat ``path`` and refuse anything but an existing regular file (symlinks to one are fine).

    Raises:
        InvalidInputFile: missing, or a FIFO, device, directory or socket.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError as err:
        raise InvalidInputFile(f"{what} {os.fspath(path)} is missing (no such file)") from err
    _refuse_special(path, info.st_mode, what)
    return info


def read_regular_file(path: PathLike, max_bytes: int, what: str = "input") -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; a FIFO or device is refused without blocking.

    Raises:
        InvalidInputFile: missing, not a regular file, or larger than ``max_bytes``.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError as err:
        raise InvalidInputFile(f"{what} {os.fspath(path)} is missing (no such file)") from err
    with os.fdopen(fd, "rb", buffering=0) as handle:
        info = os.fstat(fd)
        _refuse_special(path, info.st_mode, what)
        if info.st_size > max_bytes:
            raise InvalidInputFile(
                f"{what} {os.fspath(path)} is {info.st_size} bytes, over the {max_bytes}-byte limit; "
                "is this the right file?"
            )
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew after fstat
        raise InvalidInputFile(f"{what} {os.fspath(path)} is over the {max_bytes}-byte limit")
    return data


# ---- JSON -------------------------------------------------------------------------------------------------
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


def json_depth(text: bytes) -> int:
    """Deepest nesting of ``[`` and ``{`` in JSON text, counted without parsing (no recursion)."""
    bare = np.frombuffer(_JSON_STRING.sub(b'""', text), dtype=np.uint8)
    steps = np.isin(bare, (ord("["), ord("{"))).astype(np.int64) - np.isin(bare, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max(initial=0))


def load_json(
    path: PathLike, what: str = "JSON file", max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH
) -> Any:
    """Parse a JSON file within a size and a nesting limit.

    Raises:
        InvalidInputFile: not a regular file, too large, too deep, or not UTF-8.
        json.JSONDecodeError: malformed JSON (callers report its line and column).
    """
    data = read_regular_file(path, max_bytes, what)
    depth = json_depth(data)
    if depth > max_depth:
        raise InvalidInputFile(
            f"{what} {os.fspath(path)} nests {depth} levels deep, over the limit of {max_depth}; is this the right file?"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InvalidInputFile(
            f"{what} {os.fspath(path)} is not UTF-8 text ({err.reason} at byte {err.start})"
        ) from err
    try:
        return json.loads(text)
    except RecursionError as err:  # the depth scan should have caught it; never let it escape as a crash
        raise InvalidInputFile(f"{what} {os.fspath(path)} nests too deeply to parse") from err


# ---- images -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header says, read without decoding it.

    Args:
        format: ``"png"`` or ``"jpeg"``.
        width: pixels.
        height: pixels.
        bit_depth: bits per sample.
        channels: 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA); a palette PNG counts as 3.
    """

    format: str
    width: int
    height: int
    bit_depth: int
    channels: int


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}  # colour type -> channels after decoding
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers (not DHT, JPG, DAC)
_JPEG_STANDALONE = frozenset((0x01, *range(0xD0, 0xD8)))  # markers without a length field


def _png_header(data: bytes) -> ImageHeader:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise ValueError("the PNG has no IHDR chunk")
    width, height, bit_depth, colour = struct.unpack(">IIBB", data[16:26])
    if colour not in _PNG_CHANNELS:
        raise ValueError(f"the PNG has an invalid colour type {colour}")
    return ImageHeader("png", width, height, bit_depth, _PNG_CHANNELS[colour])


def _jpeg_header(data: bytes) -> ImageHeader:
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            raise ValueError(f"the JPEG has no marker at byte {position}")
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in _JPEG_STANDALONE:
            position += 2
            continue
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if marker in _JPEG_SOF:
            if position + 10 > len(data):
                break
            bit_depth, height, width, channels = struct.unpack(">BHHB", data[position + 4 : position + 10])
            return ImageHeader("jpeg", width, height, bit_depth, channels)
        if marker == 0xDA or length < 2:  # image data before any frame header
            break
        position += 2 + length
    raise ValueError("the JPEG has no frame header (SOF)")


def image_header(data: bytes) -> ImageHeader:
    """Format, size, bit depth and channels of a PNG or JPEG, from its first bytes only.

    Raises:
        ValueError: not a PNG or JPEG, or a header that cannot be read.
    """
    if data.startswith(_PNG_SIGNATURE):
        return _png_header(data)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_header(data)
    raise ValueError("it is not a PNG or JPEG image (unknown signature)")


def check_frame_size(width: int, height: int, what: str, path: PathLike) -> None:
    """Refuse a frame size outside (0, :data:`MAX_IMAGE_SIDE`] per side or over :data:`MAX_IMAGE_PIXELS`."""
    if not (0 < width <= MAX_IMAGE_SIDE and 0 < height <= MAX_IMAGE_SIDE and width * height <= MAX_IMAGE_PIXELS):
        raise InvalidInputFile(
            f"{what} {os.fspath(path)} is {width}x{height} pixels, outside the limit of {MAX_IMAGE_SIDE} per side and "
            f"{MAX_IMAGE_PIXELS // 1_000_000} MP; scale it down"
        )


def _check_image_header(header: ImageHeader, what: str, path: PathLike) -> None:
    check_frame_size(header.width, header.height, what, path)
    if header.bit_depth > 8 or (header.format == "jpeg" and header.channels not in (1, 3)):
        raise InvalidInputFile(
            f"{what} {os.fspath(path)} is a {header.bit_depth}-bit {header.format.upper()} with {header.channels} "
            "channels; save it as an 8-bit gray, RGB or RGBA PNG"
        )


def read_image(path: PathLike, what: str = "image") -> np.ndarray:
    """Decode a PNG or JPEG file to RGB or RGBA uint8 (H, W, 3 or 4), after checking its header.

    Raises:
        InvalidInputFile: not a regular file, too large on disk or in pixels, not PNG/JPEG, not 8-bit,
            or undecodable.
    """
    import cv2

    data = read_regular_file(path, MAX_IMAGE_BYTES, what)
    try:
        header = image_header(data)
    except ValueError as err:
        raise InvalidInputFile(f"{what} {os.fspath(path)} cannot be read: {err}; give a PNG or JPEG") from err
    _check_image_header(header, what, path)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise InvalidInputFile(f"{what} {os.fspath(path)} is a damaged {header.format.upper()}: it does not decode")
    channels = 1 if image.ndim == 2 else image.shape[2]
    conversions = {1: cv2.COLOR_GRAY2RGB, 3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGBA}
    if channels not in conversions:
        raise InvalidInputFile(f"{what} {os.fspath(path)} decodes to {channels} channels; save it as RGB or RGBA")
    return cv2.cvtColor(image, conversions[channels])


# ---- videos -----------------------------------------------------------------------------------------------
def open_checked_video(path: PathLike, what: str = "video") -> Any:
    """Open a video file with PyAV after checking it: a regular file, a video stream, a bounded frame size.

    Returns:
        The open ``av`` container (the caller closes it); ``container.streams.video[0]`` exists.

    Raises:
        InvalidInputFile: not a regular file, not a readable container, no video stream (audio only),
            or a frame size over the limit.
    """
    av = require_package("av")
    check_regular_file(path, what)
    try:
        container = av.open(os.fspath(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as err:
        # FFmpeg's words, without "[Errno 1094995529]". Garbage that FFmpeg half-parses can carry metadata that is
        # not UTF-8, which PyAV fails to decode while opening (seen on os.urandom bytes taken for some format).
        reason = (
            "its metadata is not text"
            if isinstance(err, UnicodeDecodeError)
            else getattr(err, "strerror", None) or str(err)
        )
        raise InvalidInputFile(
            f"{what} {os.fspath(path)} cannot be opened as a video ({reason}): it is not a video file FFmpeg can "
            "read; give one such as an .mp4"
        ) from err
    try:
        if not container.streams.video:
            kinds = sorted({stream.type for stream in container.streams}) or ["no streams"]
            raise InvalidInputFile(
                f"{what} {os.fspath(path)} has no video stream (it holds: {', '.join(kinds)}); give a video file"
            )
        context = container.streams.video[0].codec_context
        check_frame_size(int(context.width or 0), int(context.height or 0), what, path)
    except BaseException:
        container.close()
        raise
    return container


@contextlib.contextmanager
def open_video(path: PathLike, what: str = "video") -> Iterator[Any]:
    """:func:`open_checked_video` as a context manager that closes the container on exit."""
    container = open_checked_video(path, what)
    try:
        yield container
    finally:
        container.close()


# ---- outputs ------------------------------------------------------------------------------------------------
def _same(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def refuse_overwrite(outputs: Mapping[str, PathLike | None], inputs: Mapping[str, PathLike | None]) -> None:
    """Refuse outputs that are the same file as an input, or as each other (keys name them in the message).

    Raises:
        OutputOverwritesInput: an output path names an input file (hard links and symlinks included).
    """
    named_outputs = [(name, Path(path)) for name, path in outputs.items() if path is not None]
    named_inputs = [(name, Path(path)) for name, path in inputs.items() if path is not None]
    for index, (out_name, out) in enumerate(named_outputs):
        for in_name, source in [*named_inputs, *named_outputs[:index]]:
            if _same(out, source):
                raise OutputOverwritesInput(
                    f"{out_name} {out} is the same file as {in_name} {source}; writing it would destroy "
                    f"the {in_name}: choose another {out_name} path"
                )


def refuse_inside(output: PathLike, folder: PathLike, output_name: str, folder_name: str) -> None:
    """Refuse an output path inside ``folder`` (an input whose files it could overwrite).

    Raises:
        OutputOverwritesInput: ``output`` resolves to a path under ``folder``.
    """
    out, root = Path(output).resolve(), Path(folder).resolve()
    if out == root or root in out.parents:
        raise OutputOverwritesInput(
            f"{output_name} {output} is inside the {folder_name} {folder}, whose files it could overwrite; "
            f"write it outside {folder}"
        )
