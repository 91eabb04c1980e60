"""The model file: a zip of JSON and safetensors members, written atomically, read in memory.

Layout, format version 1 (the suffix `.unrolled` is ours; any name works):

    metadata.json          {"format": "unrolled", "format_version": 1, "unrolled_version",
                            "members": {name: {"size", "sha256"}}}   (written first)
    config.json            {"model": the model's spec, "compile_config": ... or null}
    model.safetensors      model.state_dict(): weights and buffers (stateful layers' states)
    optimizer.safetensors  optional: the optimizer's slots, named `<weight name>/<slot>`
    optimizer.json         optional: its param groups and scalar state

JSON members are deflated, tensor members stored (so their sizes can be checked against
the file), and entries carry a fixed date, so one model always gives the same bytes.

Reading never extracts anything to disk: members are read by their exact names into
memory. An archive with any other member (a `../evil` path, say), an encrypted member, a
declared size beyond the limits, a failed CRC or checksum, or a format version newer than
this code is refused with a FileFormatError before anything is built.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any, BinaryIO

from unrolled import files
from unrolled.errors import FileFormatError, InputTypeError, MissingFileError
from unrolled.version import __version__

FORMAT = "unrolled"
FORMAT_VERSION = 1
SUFFIX = ".unrolled"

METADATA = "metadata.json"
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
OPTIMIZER_TENSORS = "optimizer.safetensors"
OPTIMIZER_JSON = "optimizer.json"
MEMBERS = (METADATA, CONFIG, WEIGHTS, OPTIMIZER_TENSORS, OPTIMIZER_JSON)
REQUIRED = (METADATA, CONFIG, WEIGHTS)

MAX_JSON_BYTES = 64 * 2**20
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


@dataclass
class Archive:
    """What `read` found: the parsed metadata and config, and the raw tensor members."""

    metadata: dict[str, Any]
    config: dict[str, Any]
    weights: bytes
    optimizer_tensors: bytes | None
    optimizer_json: dict[str, Any] | None


def write(
    path: str | os.PathLike[str],
    config: dict[str, Any],
    weights: bytes,
    optimizer: tuple[bytes, dict[str, Any]] | None = None,
) -> None:
    """Writes a model file atomically: the old file stays intact if anything fails."""
    members: dict[str, bytes] = {CONFIG: _json_bytes(config), WEIGHTS: weights}
    if optimizer is not None:
        members[OPTIMIZER_TENSORS] = optimizer[0]
        members[OPTIMIZER_JSON] = _json_bytes(optimizer[1])
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "unrolled_version": __version__,
        "members": {
            name: {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for name, data in members.items()
        },
    }
    ordered = {METADATA: _json_bytes(metadata), **members}
    files.atomic_write(path, lambda file: write_members(file, ordered))


def write_members(file: BinaryIO, members: dict[str, bytes]) -> None:
    """The zip container itself (separate so tests can interrupt it)."""
    with zipfile.ZipFile(file, "w") as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = (
                zipfile.ZIP_DEFLATED if name.endswith(".json") else zipfile.ZIP_STORED
            )
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)


def existing_file(path: Any) -> str:
    """`path` as a string, once it names an existing file (the `filepath` of load_model)."""
    if not isinstance(path, (str, os.PathLike)):
        raise InputTypeError(
            f"`filepath` must be a path (str or pathlib.Path) to a model file. Received: "
            f"{type(path).__name__} {path!r}"
        )
    path = os.fspath(path)
    if not os.path.isfile(path):
        kind = "is a directory" if os.path.isdir(path) else "does not exist"
        raise MissingFileError(
            f"`filepath` {path!r} {kind}; expected a file written by model.save(filepath). "
            "Check the path (relative paths start from the current directory)."
        )
    return path


def read(path: str | os.PathLike[str]) -> Archive:
    """Reads and checks a model file.

    Raises:
        MissingFileError (a FileNotFoundError): no such file.
        InputTypeError: `path` is not a path.
        FileFormatError: anything wrong with its content; the message names it.
    """
    path = existing_file(path)
    what = f"Model file {path!r}"
    with open(path, "rb") as file:
        head = file.read(9)
        size = file.seek(0, os.SEEK_END)
    if not head.startswith(b"PK"):
        raise FileFormatError(f"{what} {_not_a_zip(head, size)}")
    try:
        with zipfile.ZipFile(path) as archive:
            entries = _checked_entries(archive, size, what)
            data = {name: _read_member(archive, info, what) for name, info in entries.items()}
    except FileFormatError:
        raise
    except zipfile.BadZipFile as error:
        raise FileFormatError(f"{what} is truncated or corrupted ({error}).") from None
    except (
        EOFError,
        OSError,
        ValueError,
        NotImplementedError,
        zipfile.LargeZipFile,
        zlib.error,  # a damaged deflate stream
    ) as error:
        raise FileFormatError(f"{what} cannot be read as a zip archive ({error}).") from None
    metadata = _parse_json(data[METADATA], METADATA, what)
    _check_metadata(metadata, data, what)
    config = _parse_json(data[CONFIG], CONFIG, what)
    optimizer_json = (
        _parse_json(data[OPTIMIZER_JSON], OPTIMIZER_JSON, what) if OPTIMIZER_JSON in data else None
    )
    if (OPTIMIZER_JSON in data) != (OPTIMIZER_TENSORS in data):
        raise FileFormatError(f"{what} has half of the optimizer state (corrupted).")
    return Archive(
        metadata=metadata,
        config=config,
        weights=data[WEIGHTS],
        optimizer_tensors=data.get(OPTIMIZER_TENSORS),
        optimizer_json=optimizer_json,
    )


def is_archive(path: str | os.PathLike[str]) -> bool:
    """Whether `path` starts like a zip archive (our model files are zips)."""
    with open(path, "rb") as file:
        return file.read(2) == b"PK"


def _checked_entries(
    archive: zipfile.ZipFile, file_size: int, what: str
) -> dict[str, zipfile.ZipInfo]:
    entries: dict[str, zipfile.ZipInfo] = {}
    names = [info.filename for info in archive.infolist()]
    if "model.weights.h5" in names:
        raise FileFormatError(
            f"{what} is a Keras 3 `.keras` archive, not an unrolled model file. Import it with "
            "unrolled.interop.from_keras(path)."
        )
    for info in archive.infolist():
        name = info.filename
        if _unsafe(name):
            raise FileFormatError(
                f"{what} holds a member with an unsafe name {name!r} (absolute path or '..'); "
                "refusing the file. Model files hold only "
                f"{', '.join(MEMBERS)}."
            )
        if name not in MEMBERS:
            raise FileFormatError(
                f"{what} holds an unexpected member {name!r}; model files hold only "
                f"{', '.join(MEMBERS)}."
            )
        if name in entries:
            raise FileFormatError(f"{what} holds the member {name!r} twice.")
        if info.flag_bits & 0x1:
            raise FileFormatError(f"{what}: member {name!r} is encrypted.")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise FileFormatError(
                f"{what}: member {name!r} uses an unsupported compression ({info.compress_type})."
            )
        if name.endswith(".json"):
            if info.file_size > MAX_JSON_BYTES:
                raise FileFormatError(
                    f"{what}: member {name!r} declares {info.file_size} bytes of JSON, above the "
                    f"{MAX_JSON_BYTES}-byte limit (a zip bomb or a corrupted file)."
                )
        elif info.compress_type != zipfile.ZIP_STORED or info.file_size > file_size:
            # Tensor members are stored: their declared size cannot exceed the file's.
            raise FileFormatError(
                f"{what}: member {name!r} declares {info.file_size} bytes in a {file_size}-byte "
                "file, or is compressed; tensor members are stored uncompressed (a zip bomb or "
                "a corrupted file)."
            )
        entries[name] = info
    missing = [name for name in REQUIRED if name not in entries]
    if missing:
        raise FileFormatError(
            f"{what} is missing {', '.join(missing)}; it is truncated, or not an unrolled "
            "model file."
        )
    return entries


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, what: str) -> bytes:
    # zipfile stops at the declared size and checks the CRC at the end.
    with archive.open(info) as member:
        data = member.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise FileFormatError(
            f"{what}: member {info.filename!r} holds {len(data)} bytes, not the declared "
            f"{info.file_size} (corrupted)."
        )
    return data


def _check_metadata(metadata: dict[str, Any], data: dict[str, bytes], what: str) -> None:
    if metadata.get("format") != FORMAT:
        raise FileFormatError(
            f"{what} is not an unrolled model file (format {metadata.get('format')!r})."
        )
    version = metadata.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise FileFormatError(f"{what} has an invalid format version {version!r}.")
    if version > FORMAT_VERSION:
        written_by = metadata.get("unrolled_version", "a newer unrolled")
        raise FileFormatError(
            f"{what} was written in format version {version} (by unrolled {written_by}); this "
            f"unrolled reads format versions up to {FORMAT_VERSION}. Upgrade unrolled to load it."
        )
    listed = metadata.get("members")
    if not isinstance(listed, dict):
        raise FileFormatError(f"{what}: metadata.json lists no members (corrupted).")
    for name, content in data.items():
        if name == METADATA:
            continue
        entry = listed.get(name)
        if (
            not isinstance(entry, dict)
            or entry.get("sha256") != hashlib.sha256(content).hexdigest()
        ):
            raise FileFormatError(
                f"{what}: member {name!r} does not match its checksum in metadata.json "
                "(corrupted or edited)."
            )
    absent = [name for name in listed if name not in data]
    if absent:
        raise FileFormatError(f"{what} lacks member(s) its metadata lists: {absent} (truncated).")


def _parse_json(data: bytes, name: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise FileFormatError(f"{what}: {name} is not valid JSON ({error!r:.200}).") from None
    if not isinstance(value, dict):
        raise FileFormatError(f"{what}: {name} must hold a JSON object.")
    return value


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, indent=1, sort_keys=False).encode("utf-8")


def _unsafe(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return (
        name.startswith(("/", "\\"))
        or ".." in parts
        or "\x00" in name
        or (len(name) > 1 and name[1] == ":")
    )


def _not_a_zip(head: bytes, size: int) -> str:
    if size == 0:
        return "is empty."
    if head.startswith(_HDF5_MAGIC):
        return (
            "is an HDF5 file (Keras 2's .h5 format), not an unrolled model file. Import it "
            "with unrolled.interop.from_keras(path)."
        )
    if len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < size:
        return (
            "looks like a safetensors weights file, not a model file; load it into a model "
            "with model.load_weights(path)."
        )
    return "is not an unrolled model file (not a zip archive)."
