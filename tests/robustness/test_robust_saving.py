"""Generated saves and loads: bad paths, random bytes, truncated and bit-flipped model files.
A load either returns the model that was saved (same predictions) or refuses naming the
file; nothing from inside zipfile, json or safetensors escapes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from robustness.contract import Worked, attempt, counted, refused, worked

import unrolled

FOLDER = Path(tempfile.mkdtemp(prefix="unrolled-robust-"))  # module-wide: hypothesis reruns
MODEL = unrolled.Sequential([unrolled.Input((3, 2)), unrolled.LSTM(2), unrolled.Dense(1)])
MODEL.compile("adam", "mse")
SAVED = FOLDER / "model.unrolled"
MODEL.save(SAVED)
GOOD = SAVED.read_bytes()
X = np.random.default_rng(0).normal(size=(4, 3, 2)).astype(np.float32)
WANT = MODEL.predict(X, verbose=0)


@given(
    where=st.sampled_from(["missing", "directory", "none", "int", "list", "bytes path"]),
)
@counted
def test_load_model_names_filepath_when_there_is_no_file(where):
    filepath = {
        "missing": FOLDER / "nope.unrolled",
        "directory": FOLDER,
        "none": None,
        "int": 3,
        "list": [str(SAVED)],
        "bytes path": 5.0,
    }[where]
    refused(f"load_model with {where}", lambda: unrolled.load_model(filepath), "filepath")


@given(
    change=st.sampled_from(["truncate", "flip", "random", "append", "empty", "none"]),
    at=st.floats(0.0, 1.0),
    payload=st.binary(min_size=0, max_size=64),
)
@counted
def test_damaged_model_files_are_refused_naming_the_file(change, at, payload):
    cut = int(at * (len(GOOD) - 1))
    data = {
        "truncate": GOOD[:cut],
        "flip": GOOD[:cut] + bytes([GOOD[cut] ^ 0xFF]) + GOOD[cut + 1 :],
        "random": b"PK\x03\x04" + payload,
        "append": GOOD + payload,
        "empty": b"",
        "none": GOOD,
    }[change]
    path = FOLDER / f"damaged-{change}.unrolled"
    path.write_bytes(data)
    if data == GOOD or (change == "append" and not payload):
        loaded = worked("load_model", lambda: unrolled.load_model(path))
        np.testing.assert_allclose(loaded.predict(X, verbose=0), WANT, rtol=1e-6)
        return
    outcome = attempt(f"{change} model file", lambda: unrolled.load_model(path), str(path))
    if isinstance(outcome, Worked):
        # A change the format does not protect (zip comments, unread bytes) must not matter.
        np.testing.assert_allclose(outcome.value.predict(X, verbose=0), WANT, rtol=1e-6)


@given(
    target=st.sampled_from(["none", "int", "directory", "missing directory", "exists", "ok"]),
)
@counted
def test_save_names_filepath_when_it_cannot_write_there(target):
    filepath = {
        "none": None,
        "int": 7,
        "directory": FOLDER,
        "missing directory": FOLDER / "no" / "such" / "dir" / "m.unrolled",
        "exists": SAVED,
        "ok": FOLDER / "fresh.unrolled",
    }[target]
    overwrite = target != "exists"
    call = lambda: MODEL.save(filepath, overwrite=overwrite)  # noqa: E731
    if target != "ok":
        refused(f"save to {target}", call, "filepath")
        return
    worked("save", call)
    np.testing.assert_allclose(unrolled.load_model(filepath).predict(X, verbose=0), WANT, rtol=1e-6)
    os.remove(filepath)
