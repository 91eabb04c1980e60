"""Training whose loss turns NaN or infinite stops with NonFiniteLossError naming the epoch
and the batch, unless the user opted out (`terminate_on_nan=False`, or the TerminateOnNaN
callback, which stops quietly as Keras's does).

The loss goes bad on purpose: a user loss returns NaN (or inf) for one marked sample, in one
chosen epoch, so the expected epoch and batch are known exactly.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st
from robustness import contract
from robustness.contract import counted

import unrolled
from unrolled import callbacks, optimizers

MARK = 99.0  # the target value of the sample whose loss goes bad


class EpochClock(callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):  # type: ignore[no-untyped-def]
        self.epoch = epoch


def run(n, bad_sample, bad_epoch, epochs, batch_size, value, mode):
    clock = EpochClock()

    def loss(y_true, y_pred):  # type: ignore[no-untyped-def]
        squared = torch.mean((y_pred - y_true) ** 2, dim=-1)
        if clock.epoch != bad_epoch:
            return squared
        return torch.where(y_true[:, 0] == MARK, torch.full_like(squared, value), squared)

    model = unrolled.Sequential([unrolled.Input((2, 1)), unrolled.SimpleRNN(2), unrolled.Dense(1)])
    model.compile(optimizers.SGD(learning_rate=0.0), loss)
    x = np.random.default_rng(n).normal(size=(n, 2, 1)).astype(np.float32)
    y = np.zeros((n, 1), dtype=np.float32)
    y[bad_sample] = MARK
    extra = {"off": {"terminate_on_nan": False}, "callback": {}, "default": {}}[mode]
    hooks = [clock, callbacks.TerminateOnNaN()] if mode == "callback" else [clock]
    return model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=False,
        verbose=0,
        callbacks=hooks,
        **extra,
    )


@given(
    n=st.integers(1, 8),
    batch_size=st.integers(1, 4),
    epochs=st.integers(1, 3),
    draw=st.data(),
    value=st.sampled_from([math.nan, math.inf]),
    mode=st.sampled_from(["default", "default", "off", "callback"]),
)
@counted
def test_a_nonfinite_loss_stops_training_naming_epoch_and_batch(
    n, batch_size, epochs, draw, value, mode
):
    bad_sample = draw.draw(st.integers(0, n - 1))
    bad_epoch = draw.draw(st.integers(0, epochs - 1))
    batches = math.ceil(n / batch_size)
    bad_batch = bad_sample // batch_size + 1
    contract.CLASSES.add("NaN or inf training loss")
    contract.TALLY["calls"] += 1
    if mode == "default":
        try:
            run(n, bad_sample, bad_epoch, epochs, batch_size, value, mode)
        except unrolled.NonFiniteLossError as error:
            message = str(error)
            assert f"epoch {bad_epoch + 1}/{epochs}" in message, message
            assert f"batch {bad_batch} (of {batches} this epoch)" in message, message
            assert "terminate_on_nan=False" in message  # the way to opt out
            assert isinstance(error, unrolled.UnrolledError)
            contract.TALLY["refused"] += 1
            contract.REFUSED.add("NaN or inf training loss")
            return
        raise AssertionError("training went on past a non-finite loss")
    history = run(n, bad_sample, bad_epoch, epochs, batch_size, value, mode)
    losses = history.history["loss"]
    if mode == "off":  # every epoch runs; the bad epoch's mean is not finite
        assert len(losses) == epochs
        assert [not math.isfinite(v) for v in losses] == [e == bad_epoch for e in range(epochs)]
    else:  # TerminateOnNaN: stops quietly after the bad batch
        assert len(losses) == bad_epoch + 1 and not math.isfinite(losses[-1])
    contract.TALLY["worked"] += 1
