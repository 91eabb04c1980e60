"""Data handling: conversion, splitting, shuffling, Datasets and batch bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unrolled.errors import InputTypeError
from unrolled.training import LambdaCallback, Trainer, data


def test_batch_shuffle_keeps_each_batch_and_permutes_inside_it() -> None:
    generator = torch.Generator().manual_seed(0)
    order = data.epoch_order(10, 4, "batch", generator)
    assert order is not None
    chunks = [sorted(order[i : i + 4].tolist()) for i in range(0, 10, 4)]
    assert chunks == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert order.tolist() != list(range(10))
    assert data.epoch_order(10, 4, False, generator) is None


def test_arrays_are_converted_once_with_keras_dtypes() -> None:
    batch = data.ArrayData.build(
        np.zeros((4, 2)), [np.arange(4), np.array([True, False, True, False])], None, None
    )
    assert batch.x.dtype == torch.float32
    assert batch.y[0].dtype == torch.int64 and batch.y[1].dtype == torch.float32
    assert data.to_tensor([[1, 2], [3, 4]], "x", None).shape == (2, 2)  # nested numbers: one array


def test_strings_are_refused_with_a_conversion_hint() -> None:
    with pytest.raises(InputTypeError, match="numeric"):
        data.to_tensor(np.array(["a", "b"]), "x", None)


def test_ragged_last_batch_and_split_keep_every_sample() -> None:
    arrays = data.ArrayData.build(np.arange(10.0)[:, None], np.arange(10.0)[:, None], None, None)
    train, val = arrays.split(0.3)
    assert (train.num_samples, val.num_samples) == (7, 3)
    assert val.x[:, 0].tolist() == [7.0, 8.0, 9.0]
    sizes = [x.shape[0] for x, _, _ in train.batches(3)]
    assert sizes == [3, 3, 1]


def test_torch_dataset_is_batched_and_validation_loader_is_accepted() -> None:
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(20, 2)), dtype=torch.float32)
    y = x.sum(1, keepdim=True)
    dataset = torch.utils.data.TensorDataset(x, y)
    seen = []

    class Probe(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(2, 1)

        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            seen.append(inputs.shape[0])
            return self.linear(inputs)

    loader = torch.utils.data.DataLoader(dataset, batch_size=10)
    history = Trainer(Probe(), loss="mse").fit(
        dataset, batch_size=8, epochs=1, validation_data=loader, verbose=0
    )
    assert sorted(seen[:3]) == [4, 8, 8] and seen[3:] == [10, 10]
    assert set(history.history) == {"loss", "val_loss"}


def test_steps_per_epoch_limits_each_epoch() -> None:
    x, y = np.zeros((20, 2)), np.zeros((20, 1))
    calls = []
    trainer = Trainer(torch.nn.Linear(2, 1), loss="mse")
    probe = LambdaCallback(on_train_batch_end=lambda batch, logs: calls.append(batch))
    trainer.fit(x, y, batch_size=4, steps_per_epoch=2, epochs=2, verbose=0, callbacks=[probe])
    assert calls == [0, 1, 0, 1]


def test_validation_freq_runs_validation_on_chosen_epochs() -> None:
    x, y = np.zeros((8, 2)), np.zeros((8, 1))
    logs = []
    probe = LambdaCallback(
        on_epoch_end=lambda epoch, epoch_logs: logs.append("val_loss" in epoch_logs)
    )
    Trainer(torch.nn.Linear(2, 1), loss="mse").fit(
        x, y, epochs=4, validation_split=0.25, validation_freq=2, verbose=0, callbacks=[probe]
    )
    assert logs == [False, True, False, True]


def test_predict_returns_the_output_structure() -> None:
    class Two(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            out = self.linear(x)
            return {"a": out[:, :1], "b": out[:, 1:]}

    result = Trainer(Two(), loss="mse").predict(np.zeros((5, 2)), batch_size=2, verbose=0)
    assert set(result) == {"a", "b"} and result["a"].shape == (5, 1)


def test_verbose_one_draws_a_bar_with_the_logs(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm")
    Trainer(torch.nn.Linear(2, 1), loss="mse", metrics=["mae"]).fit(
        np.zeros((8, 2)), np.zeros((8, 1)), epochs=1, batch_size=4, verbose=1
    )
    out = capsys.readouterr().out
    assert out.startswith("Epoch 1/1\n") and "2/2" in out and "loss: " in out and "mae: " in out
