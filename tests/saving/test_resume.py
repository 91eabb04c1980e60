"""`fit(..., checkpoint=DIR)`: a run killed at any moment resumes to the same weights as a
run never stopped, with the same seed."""

from __future__ import annotations

import json
import os
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

import unrolled
from unrolled import layers
from unrolled.errors import ConfigError, FileFormatError
from unrolled.training import Trainer
from unrolled.training.checkpoint import CHECKPOINT_FILE

SCRIPT = """
import json, sys, time
import numpy as np, torch
import unrolled
from unrolled import layers


class Slow(unrolled.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        time.sleep(0.03)


def train(checkpoint, out, slow):
    torch.set_num_threads(1)
    unrolled.set_random_seed(7)
    model = unrolled.Sequential([
        unrolled.Input((6, 2)),
        layers.LSTM(4, dropout=0.2),          # draws from torch's generator
        layers.Dropout(0.25, seed=5),         # draws from its own generator
        layers.Dense(1),
    ])
    model.compile("adam", "mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 6, 2)).astype("float32")
    y = rng.normal(size=(48, 1)).astype("float32")
    history = model.fit(
        x, y, epochs=6, batch_size=8, verbose=0, checkpoint=checkpoint or None,
        callbacks=[Slow()] if slow else [],
    )
    model.save_weights(out)
    with open(out + ".json", "w") as f:
        json.dump({"epoch": history.epoch, "loss": history.history["loss"]}, f)


if __name__ == "__main__":
    # torch imports its compiler lazily on the first optimizer (seconds): do it before waiting.
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    if sys.argv[4:] == ["wait"]:
        sys.stdin.readline()  # the test says when the run to resume has been killed
    train(sys.argv[1], sys.argv[2], sys.argv[3] == "slow")
"""


def _run(
    script: Path, checkpoint: Path, out: Path, slow: bool = False, wait: bool = False
) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    arguments = [str(checkpoint), str(out), "slow" if slow else "plain"] + (
        ["wait"] if wait else []
    )
    return subprocess.Popen(
        [sys.executable, str(script), *arguments],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _checkpoint_epoch(path: Path) -> int:
    try:
        with safe_open(str(path), "pt") as file:
            return json.loads(file.metadata()["unrolled_checkpoint"])["epoch"]
    except (FileNotFoundError, OSError):
        return -1


def test_a_run_killed_mid_training_resumes_to_the_same_weights(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    checkpoint = tmp_path / "checkpoint"
    doomed = _run(script, checkpoint, tmp_path / "doomed.safetensors", slow=True)
    # The second process starts now too, and waits to resume until the first one is killed.
    resumed = _run(script, checkpoint, tmp_path / "resumed.safetensors", wait=True)
    # The uninterrupted reference runs here meanwhile (same code, seed and thread count).
    threads = torch.get_num_threads()
    try:
        runpy.run_path(str(script))["train"]("", str(tmp_path / "uninterrupted.safetensors"), False)
    finally:
        torch.set_num_threads(threads)
    deadline = time.monotonic() + 120
    while _checkpoint_epoch(checkpoint / CHECKPOINT_FILE) < 1:  # epoch 2 (of 6) written
        assert doomed.poll() is None, doomed.communicate()[0].decode()
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    doomed.send_signal(signal.SIGKILL)
    assert doomed.wait() == -signal.SIGKILL
    assert not (tmp_path / "doomed.safetensors").exists()  # it died mid-training
    assert 1 <= _checkpoint_epoch(checkpoint / CHECKPOINT_FILE) < 5

    output = resumed.communicate(b"go\n", timeout=120)[0].decode()
    assert resumed.returncode == 0, output

    expected = load_file(str(tmp_path / "uninterrupted.safetensors"))
    got = load_file(str(tmp_path / "resumed.safetensors"))
    assert set(got) == set(expected)
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value, rtol=0, atol=1e-6)
    history = json.loads((tmp_path / "resumed.safetensors.json").read_text())
    assert history["epoch"] == list(range(6))  # the epochs before the kill come back too
    reference = json.loads((tmp_path / "uninterrupted.safetensors.json").read_text())
    np.testing.assert_allclose(history["loss"], reference["loss"], rtol=1e-6)


# -- in-process checks ------------------------------------------------------------------------------

X = np.random.default_rng(0).normal(size=(24, 4, 2)).astype("float32")
Y = np.random.default_rng(1).normal(size=(24, 1)).astype("float32")


def _model(seed: int = 1) -> unrolled.Sequential:
    unrolled.set_random_seed(seed)
    model = unrolled.Sequential(
        [unrolled.Input((4, 2)), layers.GRU(3, dropout=0.1), layers.Dense(1)]
    )
    model.compile("rmsprop", "mse")
    return model


def test_resuming_in_process_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    reference = _model()
    reference.fit(X, Y, epochs=4, batch_size=6, verbose=0)
    first = _model()
    first.fit(X, Y, epochs=2, batch_size=6, verbose=0, checkpoint=tmp_path)
    second = _model(seed=99)  # other initial weights and random streams: all replaced
    history = second.fit(X, Y, epochs=4, batch_size=6, verbose=0, checkpoint=tmp_path)
    for a, b in zip(reference.get_weights(), second.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    assert history.epoch == [0, 1, 2, 3]
    assert len(history.history["loss"]) == 4


def test_a_finished_run_does_not_train_again(tmp_path: Path) -> None:
    model = _model()
    model.fit(X, Y, epochs=2, batch_size=6, verbose=0, checkpoint=tmp_path)
    weights = model.get_weights()
    again = _model(seed=5)
    again.fit(X, Y, epochs=2, batch_size=6, verbose=0, checkpoint=tmp_path)
    for a, b in zip(weights, again.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_run_stopped_early_stays_stopped(tmp_path: Path) -> None:
    class StopNow(unrolled.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):  # type: ignore[no-untyped-def]
            self.model.stop_training = True

    model = _model()
    history = model.fit(
        X, Y, epochs=5, batch_size=6, verbose=0, checkpoint=tmp_path, callbacks=[StopNow()]
    )
    assert history.epoch == [0]
    again = _model()
    history = again.fit(X, Y, epochs=5, batch_size=6, verbose=0, checkpoint=tmp_path)
    assert history.epoch == [0]


def test_other_data_or_batching_is_refused(tmp_path: Path) -> None:
    _model().fit(X, Y, epochs=1, batch_size=6, verbose=0, checkpoint=tmp_path)
    with pytest.raises(ConfigError, match="batch_size=6; this fit has batch_size=8"):
        _model().fit(X, Y, epochs=2, batch_size=8, verbose=0, checkpoint=tmp_path)
    with pytest.raises(ConfigError, match="samples=24; this fit has samples=12"):
        _model().fit(X[:12], Y[:12], epochs=2, batch_size=6, verbose=0, checkpoint=tmp_path)


def test_a_checkpoint_of_another_model_is_refused(tmp_path: Path) -> None:
    _model().fit(X, Y, epochs=1, batch_size=6, verbose=0, checkpoint=tmp_path)
    other = unrolled.Sequential([unrolled.Input((4, 2)), layers.GRU(5), layers.Dense(1)])
    other.compile("rmsprop", "mse")
    with pytest.raises(FileFormatError, match="has shape"):
        other.fit(X, Y, epochs=2, batch_size=6, verbose=0, checkpoint=tmp_path)


def test_a_damaged_checkpoint_is_refused(tmp_path: Path) -> None:
    _model().fit(X, Y, epochs=1, batch_size=6, verbose=0, checkpoint=tmp_path)
    path = tmp_path / CHECKPOINT_FILE
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(FileFormatError, match="truncated|corrupted"):
        _model().fit(X, Y, epochs=2, batch_size=6, verbose=0, checkpoint=tmp_path)


def test_a_file_as_checkpoint_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="must be a directory"):
        _model().fit(X, Y, epochs=1, verbose=0, checkpoint=tmp_path / "file")


def test_temporary_files_of_a_killed_writer_are_cleaned_up(tmp_path: Path) -> None:
    stale = tmp_path / f".{CHECKPOINT_FILE}.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    _model().fit(X, Y, epochs=1, batch_size=6, verbose=0, checkpoint=tmp_path)
    assert sorted(os.listdir(tmp_path)) == [CHECKPOINT_FILE]


def test_plain_torch_modules_resume_too(tmp_path: Path) -> None:
    def run(epochs: int, seed: int, checkpoint: Path | None) -> torch.nn.Module:
        torch.manual_seed(seed)
        net = torch.nn.Sequential(
            torch.nn.Linear(2, 8), torch.nn.Dropout(0.3), torch.nn.Linear(8, 1)
        )
        Trainer(net, optimizer="adam", loss="mse").fit(
            X[:, 0], Y, epochs=epochs, batch_size=4, verbose=0, checkpoint=checkpoint
        )
        return net

    reference = run(3, 0, None)
    run(1, 0, tmp_path)
    resumed = run(3, 42, tmp_path)
    for a, b in zip(reference.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
