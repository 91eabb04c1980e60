"""An epoch split over several kernel calls (so that the progress bar moves and Ctrl-C is seen)
trains exactly as the reference path does, and an interrupted epoch keeps what it trained."""

from __future__ import annotations

import numpy as np
import pytest
from test_fit_kernel import OPTIMIZERS, _assert_same, _data, _model, _train

from unrolled.callbacks import ResetStates
from unrolled.compiled import fit_runner, stack_runner
from unrolled.training.progress import Progress

pytest.importorskip("numba")


@pytest.fixture
def call_sizes(monkeypatch):
    """The number of samples each kernel call trains, recorded (either runner's calls)."""
    sizes: list[int] = []
    for runner in (fit_runner.EpochRunner, stack_runner.StackRunner):

        def recording(self, kernel, order, *rest, chosen=runner._call):
            sizes.append(len(order))  # the samples of this call
            return chosen(self, kernel, order, *rest)

        monkeypatch.setattr(runner, "_call", recording)
    return sizes


@pytest.mark.parametrize(
    "kind, stateful, mask, optimizer",
    [
        ("lstm", True, False, "adam"),
        ("gru", False, True, "nesterov"),
        ("rnn_tanh", False, False, "sgd"),
    ],
)
def test_one_batch_per_call_matches_reference_path(
    kind, stateful, mask, optimizer, kernel, call_sizes, monkeypatch
):
    monkeypatch.setattr(fit_runner, "CALL_SECONDS", 0.0)
    x, y = _data(samples=12)
    if mask:
        x[0, :2] = 0.0
        x[5, 1] = 0.0
    batch = 3 if stateful else 5  # stateless: a short last batch
    fit = {"batch_size": batch}
    fit.update({"shuffle": False, "callbacks": [ResetStates()]} if stateful else {"seed": 4})
    runs = []
    for fast in ("auto", False):
        model = _model(kind, batch if stateful else None, stateful, mask=mask)
        history, trainer = _train(model, x, y, fast, OPTIMIZERS[optimizer](), **fit)
        runs.append((model, trainer, history))
    (fm, ft, fh), (rm, rt, rh) = runs
    _assert_same(fm, rm, ft, rt, fh, rh)
    per_epoch = [3, 3, 3, 3] if stateful else [5, 5, 2]
    assert call_sizes == per_epoch * 3  # 3 epochs, one batch per call


def test_small_epochs_stay_one_call(call_sizes):
    x, y = _data(samples=12)
    _train(_model("lstm", None, False), x, y, "auto", batch_size=5)
    assert call_sizes == [12, 12, 12]


def test_calls_follow_the_measured_time(call_sizes, monkeypatch):
    """The first call is sized by an estimate (here: the whole epoch); later ones by the time
    per batch measured on the calls before: CALL_SECONDS of batches each."""
    monkeypatch.setattr(fit_runner, "CALL_SECONDS", 0.25)
    # A clock at 0.1 s per batch trained so far (batches of 4): each call reads 0.1 s a batch.
    monkeypatch.setattr(
        fit_runner, "perf_counter", lambda: 0.1 * sum(-(-s // 4) for s in call_sizes)
    )
    x, y = _data(samples=40)
    _train(_model("lstm", None, False), x, y, "auto", epochs=2, batch_size=4)
    assert call_sizes == [40] + [8] * 5  # then 2 batches (0.2 s) a call


def test_interrupted_epoch_keeps_the_batches_it_trained(kernel, monkeypatch):
    """Ctrl-C between calls: the weights, slots and step count are those after the batches
    done, as the reference path leaves them when interrupted after the same batches."""
    monkeypatch.setattr(fit_runner, "CALL_SECONDS", 0.0)
    x, y = _data(samples=12)
    batches_seen = []

    def interrupt_after_two(self, logs):
        batches_seen.append(1)
        if len(batches_seen) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(Progress, "batch_end", interrupt_after_two)
    runs = []
    for fast in ("auto", False):
        batches_seen.clear()
        model = _model("gru", None, False)
        model.compile(optimizer="adam", loss="mse", fast_path=fast)
        with pytest.raises(KeyboardInterrupt):
            model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
        runs.append(model)
    fast_model, ref_model = runs
    assert fast_model._trainer.last_path.name == "compiled-epoch"
    assert int(fast_model._trainer.optimizer.iterations) == 2
    assert int(ref_model._trainer.optimizer.iterations) == 2
    for ours, theirs in zip(fast_model.get_weights(), ref_model.get_weights()):
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    fast_opt, ref_opt = fast_model._trainer.optimizer, ref_model._trainer.optimizer
    for p_fast, p_ref in zip(fast_model.parameters(), ref_model.parameters()):
        for name, slot in ref_opt.state[p_ref].items():
            np.testing.assert_allclose(fast_opt.state[p_fast][name], slot, rtol=1e-4, atol=1e-6)


def test_progress_bar_moves_with_each_call(monkeypatch, capsys):
    """verbose=1: the bar reaches every batch of the epoch, call by call."""
    monkeypatch.setattr(fit_runner, "CALL_SECONDS", 0.0)
    counts = []
    real = Progress.batch_end

    def counting(self, logs):
        counts.append(1)
        real(self, logs)

    monkeypatch.setattr(Progress, "batch_end", counting)
    x, y = _data(samples=12)
    model = _model("lstm", None, False)
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, batch_size=4, verbose=1)
    assert model.last_fit_path[0] == "compiled-epoch"
    assert len(counts) == 3
    printed = capsys.readouterr()
    assert "3/3" in printed.err + printed.out
