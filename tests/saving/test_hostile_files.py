"""Hostile and broken files: each refused with a FileFormatError that names the problem,
nothing executed, and nothing written outside (or inside) the directory they sit in."""

from __future__ import annotations

import hashlib
import json
import random
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

import unrolled
from unrolled import layers
from unrolled.errors import FileFormatError
from unrolled.saving import archive

CALLS: list[str] = []


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _valid_members() -> dict[str, bytes]:
    model = unrolled.Sequential([unrolled.Input((3, 2)), layers.LSTM(2), layers.Dense(1)])
    config = {
        "model": unrolled.saving.serialization.serialize_object(model),
        "compile_config": None,
    }
    from unrolled import files

    return {
        archive.CONFIG: json.dumps(config).encode(),
        archive.WEIGHTS: files.tensors_to_bytes(model.state_dict()),
    }


def _write_archive(
    path: Path, members: dict[str, bytes], extra: dict[str, bytes] | None = None
) -> None:
    metadata = {
        "format": "unrolled",
        "format_version": 1,
        "members": {
            name: {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for name, data in members.items()
        },
    }
    with zipfile.ZipFile(path, "w") as out:
        out.writestr(archive.METADATA, json.dumps(metadata))
        for name, data in {**members, **(extra or {})}.items():
            out.writestr(name, data)


def _config_naming(module: str, class_name: str) -> dict[str, bytes]:
    members = _valid_members()
    config = json.loads(members[archive.CONFIG])
    config["model"]["config"]["layers"][0] = {
        "module": module,
        "class_name": class_name,
        "config": {"command": "touch pwned"},
        "registered_name": None,
    }
    members[archive.CONFIG] = json.dumps(config).encode()
    return members


def _safetensors_claiming(header: dict, body: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + body


def _path_traversal(path: Path) -> None:
    _write_archive(path, _valid_members(), extra={"../evil": b"#!/bin/sh\ntouch pwned\n"})


def _absolute_path(path: Path) -> None:
    _write_archive(path, _valid_members(), extra={"/tmp/evil": b"x"})


def _os_system(path: Path) -> None:
    _write_archive(path, _config_naming("os", "system"))


def _dotted_class_name(path: Path) -> None:
    _write_archive(path, _config_naming("builtins", "os.system"))


def _builtin_namespace_other_class(path: Path) -> None:
    # A real namespace, but a name that is not in it (e.g. a module function).
    _write_archive(path, _config_naming("unrolled.layers", "symbolic"))


def _huge_tensor_claim(path: Path) -> None:
    members = _valid_members()
    members[archive.WEIGHTS] = _safetensors_claiming(
        {"_layers.1.kernel": {"dtype": "F32", "shape": [2**40, 2**20], "data_offsets": [0, 2**62]}},
        b"\x00" * 64,
    )
    _write_archive(path, members)


def _huge_header_claim(path: Path) -> None:
    members = _valid_members()
    members[archive.WEIGHTS] = struct.pack("<Q", 2**63) + b"{}"
    _write_archive(path, members)


def _random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(0).randbytes(4096))


def _random_bytes_after_zip_magic(path: Path) -> None:
    path.write_bytes(b"PK\x03\x04" + random.Random(1).randbytes(4096))


def _truncated(path: Path) -> None:
    _write_archive(path, _valid_members())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _zip_bomb(path: Path) -> None:
    # A JSON member whose central directory entry declares 4 GiB uncompressed.
    _write_archive(path, _valid_members())
    data = bytearray(path.read_bytes())
    start = 0
    while True:  # the central directory entry of config.json
        start = data.find(b"PK\x01\x02", start)
        name_length = struct.unpack("<H", data[start + 28 : start + 30])[0]
        if data[start + 46 : start + 46 + name_length] == archive.CONFIG.encode():
            break
        start += 4
    data[start + 24 : start + 28] = struct.pack("<I", 2**32 - 1)  # uncompressed size
    path.write_bytes(bytes(data))


def _deflated_tensors_bomb(path: Path) -> None:
    members = _valid_members()
    members[archive.WEIGHTS] = members[archive.WEIGHTS] + b"\x00" * (
        20 * 2**20
    )  # compresses 1000:1
    metadata_members = dict(members)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as out:
        out.writestr(
            archive.METADATA,
            json.dumps(
                {
                    "format": "unrolled",
                    "format_version": 1,
                    "members": {
                        n: {"sha256": hashlib.sha256(d).hexdigest()}
                        for n, d in metadata_members.items()
                    },
                }
            ),
        )
        for name, data in members.items():
            out.writestr(name, data)


def _encrypted_flag(path: Path) -> None:
    _write_archive(path, _valid_members())
    data = bytearray(path.read_bytes())
    start = data.find(b"PK\x01\x02")
    data[start + 8] |= 0x01  # general purpose flag: encrypted
    path.write_bytes(bytes(data))


def _duplicate_member(path: Path) -> None:
    members = _valid_members()
    _write_archive(path, members)
    with zipfile.ZipFile(path, "a") as out, pytest.warns(UserWarning, match="Duplicate"):
        out.writestr(archive.CONFIG, members[archive.CONFIG])


def _config_not_json(path: Path) -> None:
    members = _valid_members()
    members[archive.CONFIG] = b"\xff\xfe not json"
    _write_archive(path, members)


def _metadata_not_ours(path: Path) -> None:
    members = _valid_members()
    with zipfile.ZipFile(path, "w") as out:
        out.writestr(
            archive.METADATA, json.dumps({"format": "something else", "format_version": 1})
        )
        for name, data in members.items():
            out.writestr(name, data)


def _nan_shapes_in_config(path: Path) -> None:
    members = _valid_members()
    config = json.loads(members[archive.CONFIG])
    config["model"]["config"]["layers"][0]["config"]["units"] = -5
    members[archive.CONFIG] = json.dumps(config).encode()
    _write_archive(path, members)


def _deeply_nested_json(path: Path) -> None:
    members = _valid_members()
    members[archive.CONFIG] = b'{"model": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    _write_archive(path, members)


def _deeply_nested_config(path: Path) -> None:
    # Within json's own limit, deeper than any model: refused while rebuilding, not a crash.
    members = _valid_members()
    depth = 300
    nested = (
        '{"module": "unrolled.regularizers", "class_name": "L1L2", "config": {"l1": ' * depth
        + "0.1"
        + "}}" * depth
    )
    text = (
        members[archive.CONFIG]
        .decode()
        .replace('"kernel_regularizer": null', f'"kernel_regularizer": {nested}', 1)
    )
    members[archive.CONFIG] = text.encode()
    _write_archive(path, members)


class Imported(unrolled.Layer):
    """Imported by this test, never registered: a file must not be able to name it."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        CALLS.append("Imported built")


def _nested_layer_naming(spec: dict) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        model = unrolled.Sequential(
            [unrolled.Input((3, 2)), layers.Bidirectional(layers.LSTM(2)), layers.Dense(1)]
        )
        config = {
            "model": unrolled.saving.serialization.serialize_object(model),
            "compile_config": None,
        }
        config["model"]["config"]["layers"][0]["config"]["layer"] = spec
        from unrolled import files

        members = {
            archive.CONFIG: json.dumps(config).encode(),
            archive.WEIGHTS: files.tensors_to_bytes(model.state_dict()),
        }
        _write_archive(path, members)

    return make


HOSTILE: dict[str, tuple[Callable[[Path], None], str]] = {
    "nested_unregistered_layer": (
        _nested_layer_naming({"class_name": "Imported", "config": {}, "build_config": {}}),
        r"unknown class 'Imported'",
    ),
    "nested_layer_without_config": (
        _nested_layer_naming({"class_name": "Imported"}),
        r"nested layer must be a layer or",
    ),
    "deeply_nested_json": (_deeply_nested_json, r"config\.json is not valid JSON"),
    "deeply_nested_config": (_deeply_nested_config, r"not valid JSON|nested too deeply"),
    "path_traversal": (_path_traversal, r"unsafe name '\.\./evil'"),
    "absolute_path": (_absolute_path, r"unsafe name '/tmp/evil'"),
    "os_system": (_os_system, r"unknown class 'os\.system'"),
    "dotted_class_name": (_dotted_class_name, r"unknown class 'builtins\.os\.system'"),
    "name_outside_the_table": (
        _builtin_namespace_other_class,
        r"unknown class 'unrolled\.layers\.symbolic'",
    ),
    "huge_tensor_claim": (_huge_tensor_claim, r"claims bytes 0\.\.\d+, but the data section has"),
    "huge_header_claim": (_huge_header_claim, r"header claims \d+ bytes"),
    "random_bytes": (_random_bytes, r"not an unrolled model file|safetensors"),
    "random_bytes_after_zip_magic": (
        _random_bytes_after_zip_magic,
        r"truncated or corrupted|cannot be read",
    ),
    "truncated": (_truncated, r"truncated or corrupted"),
    "empty": (_empty, r"is empty"),
    "zip_bomb_declared_size": (_zip_bomb, r"declares 4294967295 bytes of JSON, above the"),
    "deflated_tensors": (_deflated_tensors_bomb, r"tensor members are stored uncompressed"),
    "encrypted": (_encrypted_flag, r"encrypted"),
    "duplicate_member": (_duplicate_member, r"twice"),
    "config_not_json": (_config_not_json, r"config\.json is not valid JSON"),
    "metadata_not_ours": (
        _metadata_not_ours,
        r"not an unrolled model file \(format 'something else'\)",
    ),
    "invalid_option_values": (_nan_shapes_in_config, r"Could not rebuild layer.*units"),
}


CONFIG_ONLY = (
    "nested_unregistered_layer",
    "nested_layer_without_config",
    "deeply_nested_json",
    "deeply_nested_config",
    "os_system",
    "dotted_class_name",
    "name_outside_the_table",
    "invalid_option_values",
)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_file_is_refused_and_nothing_is_written(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make, message = HOSTILE[case]
    target_dir = tmp_path / "inbox"
    target_dir.mkdir()
    path = target_dir / "model.unrolled"
    make(path)
    monkeypatch.chdir(target_dir)  # relative paths in the file would land here
    before = _listing(tmp_path)
    with pytest.raises(FileFormatError, match=message):
        unrolled.load_model(path)
    if case not in CONFIG_ONLY + ("random_bytes", "empty"):  # load_weights reads no config
        with pytest.raises(FileFormatError):
            unrolled.Sequential(
                [unrolled.Input((3, 2)), layers.LSTM(2), layers.Dense(1)]
            ).load_weights(path)
    assert _listing(tmp_path) == before
    assert not (tmp_path / "evil").exists() and not (target_dir / "pwned").exists()
    assert CALLS == []  # no class outside the registry was built, no pickle ran


def test_hostile_weights_files_are_refused(tmp_path: Path) -> None:
    model = unrolled.Sequential([unrolled.Input((3, 2)), layers.LSTM(2), layers.Dense(1)])
    cases = {
        "lying_header": _safetensors_claiming(
            {"_layers.1.kernel": {"dtype": "F32", "shape": [3, 1], "data_offsets": [0, 12]}},
            b"\x00" * 4,
        ),
        "unknown_dtype": _safetensors_claiming(
            {"_layers.1.kernel": {"dtype": "PYOBJ", "shape": [1], "data_offsets": [0, 8]}},
            b"\x00" * 8,
        ),
        "wrong_byte_count": _safetensors_claiming(
            {"_layers.1.kernel": {"dtype": "F32", "shape": [2, 1], "data_offsets": [0, 4]}},
            b"\x00" * 4,
        ),
        "header_not_json": struct.pack("<Q", 5) + b"{{{{{",
        "too_short": b"\x01\x02",
    }
    messages = {
        "lying_header": "claims bytes 0..12, but the data section has 4",
        "unknown_dtype": "unknown dtype 'PYOBJ'",
        "wrong_byte_count": "needs 8 bytes; the file gives it 4",
        "header_not_json": "header is not JSON",
        "too_short": "too few for a safetensors file",
    }
    for case, data in cases.items():
        path = tmp_path / f"{case}.safetensors"
        path.write_bytes(data)
        with pytest.raises(FileFormatError, match=messages[case]):
            model.load_weights(path)


def test_pickle_is_never_used(tmp_path: Path) -> None:
    # A pickle payload in place of the weights is just bytes to a safetensors reader.
    import pickle

    class Boom:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (CALLS.append, ("executed",))

    members = _valid_members()
    members[archive.WEIGHTS] = pickle.dumps(Boom())
    _write_archive(tmp_path / "m.unrolled", members)
    with pytest.raises(FileFormatError):
        unrolled.load_model(tmp_path / "m.unrolled")
    assert CALLS == []
