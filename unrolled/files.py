"""Bytes to disk and back, safely: atomic writes and checked safetensors.

The one home of how our files reach the disk, below both `saving` (model files) and
`training` (resume checkpoints), so neither needs the other for it.

Atomic writes: the bytes go to a temporary file in the target's directory (same file
system, so the rename is atomic), are flushed and fsynced, and only then renamed over the
target with `os.replace`. On any error the temporary file is removed and the target is
untouched, so a crash mid-save leaves the previous file as it was.

safetensors holds only a JSON header and raw little-endian arrays, so reading one never
runs code. Before handing bytes to the safetensors library, `tensors_from_bytes` checks
the header itself (its size, every tensor's dtype, shape and byte range), so a truncated,
corrupted or hostile file is refused with a message that names the problem.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO

import torch
from safetensors import SafetensorError
from safetensors.torch import load as _load_safetensors
from safetensors.torch import save as _save_safetensors

from unrolled.errors import FileFormatError

TEMP_SUFFIX = ".tmp"


def temp_prefix(path: str | os.PathLike[str]) -> str:
    """The prefix of the temporary files made while writing `path` (`.<name>.`)."""
    return f".{os.path.basename(os.fspath(path))}."


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> None:
    """Calls `write(file)` on a temporary file, then renames it to `path`.

    Args:
        path: the file to create or replace; its directory must exist.
        write: writes the whole content to the binary file object it receives.

    Raises:
        Whatever `write` or the file system raises; `path` then still holds its old
        content (or does not exist), and no temporary file is left behind.
    """
    target = os.path.abspath(os.fspath(path))
    directory = os.path.dirname(target)
    fd, temporary = tempfile.mkstemp(prefix=temp_prefix(target), suffix=TEMP_SUFFIX, dir=directory)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, _file_mode(target))
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Writes `data` to `path` atomically."""
    atomic_write(path, lambda file: file.write(data))


def stale_temporaries(path: str | os.PathLike[str]) -> Iterator[str]:
    """Temporary files a killed writer of `path` left behind (safe to delete)."""
    target = os.path.abspath(os.fspath(path))
    directory, prefix = os.path.dirname(target), temp_prefix(target)
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(directory):
            if name.startswith(prefix) and name.endswith(TEMP_SUFFIX):
                yield os.path.join(directory, name)


def _file_mode(target: str) -> int:
    # mkstemp makes 0600 files; give the result the mode the old file had, or the
    # mode a plain open() would have given it (0666 less the umask).
    try:
        return os.stat(target).st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable; not possible (nor needed) on every platform.
    if not hasattr(os, "O_DIRECTORY"):
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# Bytes per element of each safetensors dtype.
_ITEM_SIZE = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}
MAX_HEADER_BYTES = 64 * 2**20  # the library's own limit is 100 MB


def tensors_to_bytes(
    tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None
) -> bytes:
    """The safetensors encoding of `tensors` (moved to the CPU), with string `metadata`."""
    seen: set[tuple[int, int]] = set()
    cpu: dict[str, torch.Tensor] = {}
    for name, tensor in tensors.items():
        value = tensor.detach().to("cpu").contiguous()
        key = (value.untyped_storage().data_ptr(), value.storage_offset())
        if value.numel() and key in seen:
            value = value.clone()  # safetensors refuses tensors that share memory (tied weights)
        seen.add(key)
        cpu[name] = value
    return _save_safetensors(cpu, metadata=dict(metadata) if metadata else None)


def tensors_from_bytes(data: bytes, what: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and metadata in safetensors `data`; `what` names the file in errors.

    Raises:
        FileFormatError: the bytes are not a complete, consistent safetensors file.
    """
    header, metadata = read_header(data, what)
    try:
        tensors = _load_safetensors(bytes(data))
    except (SafetensorError, ValueError, RuntimeError, OSError) as error:
        raise FileFormatError(f"{what} is not a valid safetensors file: {error}") from None
    if set(tensors) != set(header):
        raise FileFormatError(f"{what}: the tensors read do not match the header (corrupted).")
    return tensors, metadata


def read_header(data: bytes, what: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Checks a safetensors header against the bytes that follow it.

    Returns the tensor entries (name -> dtype, shape, data_offsets) and the metadata.
    """
    if len(data) < 8:
        raise FileFormatError(
            f"{what} has {len(data)} bytes, too few for a safetensors file (truncated?)."
        )
    size = int.from_bytes(data[:8], "little")
    if size > MAX_HEADER_BYTES or size > len(data) - 8:
        raise FileFormatError(
            f"{what}: the safetensors header claims {size} bytes, but the file has "
            f"{len(data) - 8} after the size field (truncated, corrupted or not safetensors)."
        )
    try:
        header = json.loads(bytes(data[8 : 8 + size]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise FileFormatError(
            f"{what}: the safetensors header is not JSON ({error}); the file is corrupted."
        ) from None
    if not isinstance(header, dict):
        raise FileFormatError(f"{what}: the safetensors header is not a JSON object.")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise FileFormatError(f"{what}: the safetensors metadata must map strings to strings.")
    body = len(data) - 8 - size
    for name, entry in header.items():
        _check_entry(name, entry, body, what)
    return header, metadata


def _check_entry(name: str, entry: Any, body: int, what: str) -> None:
    if not isinstance(entry, dict):
        raise FileFormatError(f"{what}: tensor {name!r} has no dtype/shape/data_offsets entry.")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in _ITEM_SIZE:
        raise FileFormatError(f"{what}: tensor {name!r} has unknown dtype {dtype!r}.")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise FileFormatError(f"{what}: tensor {name!r} has an invalid shape {shape!r}.")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
    ):
        raise FileFormatError(f"{what}: tensor {name!r} has invalid data_offsets {offsets!r}.")
    begin, end = offsets
    claimed = math.prod(shape) * _ITEM_SIZE[dtype]
    if not 0 <= begin <= end <= body:
        raise FileFormatError(
            f"{what}: tensor {name!r} claims bytes {begin}..{end}, but the data section has "
            f"{body} bytes (truncated or corrupted)."
        )
    if end - begin != claimed:
        raise FileFormatError(
            f"{what}: tensor {name!r} of shape {tuple(shape)} and dtype {dtype} needs {claimed} "
            f"bytes; the file gives it {end - begin}."
        )


def check_shapes(
    expected: Mapping[str, tuple[int, ...]],
    found: Mapping[str, torch.Tensor],
    what: str,
    describe: Callable[[str], str] | None = None,
) -> None:
    """Raises FileFormatError unless `found` has exactly the names of `expected`, each of
    that shape. `describe(name)` may add where a tensor lives (a layer's name) to messages."""
    label = describe or repr
    missing = sorted(set(expected) - set(found))
    if missing:
        raise FileFormatError(
            f"{what} is missing {len(missing)} tensor(s) the model has: "
            f"{_listed(missing, label)}. It was saved from a different architecture, or is "
            "incomplete."
        )
    unexpected = sorted(set(found) - set(expected))
    if unexpected:
        raise FileFormatError(
            f"{what} holds {len(unexpected)} tensor(s) the model does not have: "
            f"{_listed(unexpected, repr)}. It was saved from a different architecture."
        )
    for name, shape in expected.items():
        got = tuple(found[name].shape)
        if got != tuple(shape):
            raise FileFormatError(
                f"{what}: tensor {label(name)} has shape {got}; the model expects "
                f"{tuple(shape)}. It was saved from a different architecture."
            )


def _listed(names: list[str], label: Callable[[str], str], limit: int = 8) -> str:
    shown = ", ".join(label(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
