"""Training runs compared between one process and two (`test_distributed.py`).

Run as a script under torchrun, each process trains every scenario with `fit`'s default
`distributed="auto"` and pickles what it ended with to `OUT/rank{RANK}.pkl`; the test runs
the same functions in its own process (no torchrun variables: single-process training) as
the reference. Not collected by pytest (its name does not start with `test_`).
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

import unrolled
from unrolled.training import CSVLogger, EarlyStopping, ModelCheckpoint
from unrolled.training.callbacks import Callback


def _data(samples: int, steps: int, features: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, steps, features)).astype(np.float32)
    y = (x[:, -3:, :].sum(axis=(1, 2)) * 0.3)[:, None].astype(np.float32)
    return x, y


def _result(model: Any, history: Any, **extra: Any) -> dict[str, Any]:
    return {"weights": model.get_weights(), "history": dict(history.history), **extra}


def sequential_lstm(out: Path) -> dict[str, Any]:
    """Shuffled, ragged last batch (49 = 3*16 + 1: the second process runs a weight-0
    row), metrics, validation data with its own ragged batch, EarlyStopping, CSVLogger."""
    torch.manual_seed(0)
    x, y = _data(49, 6, 3, seed=1)
    x_val, y_val = _data(9, 6, 3, seed=2)
    model = unrolled.Sequential(
        [unrolled.Input((6, 3)), unrolled.LSTM(8), unrolled.Dense(4, "tanh"), unrolled.Dense(1)]
    )
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    rank = int(os.environ.get("RANK", "0"))
    callbacks = [
        CSVLogger(out / f"log_rank{rank}.csv"),
        EarlyStopping(monitor="val_loss", patience=1),
        ModelCheckpoint(str(out / f"ckpt_rank{rank}.pt"), monitor="val_loss"),
    ]
    history = model.fit(
        x,
        y,
        batch_size=16,
        epochs=3,
        shuffle=True,
        seed=3,
        validation_data=(x_val, y_val),
        callbacks=callbacks,
        verbose=0,
    )
    return _result(model, history)


def stateful_lstm(out: Path) -> dict[str, Any]:
    """Stateful LSTM at batch 4 (2 rows per process), states carried across batches and
    epochs; the gathered states at the end equal the single process's."""
    torch.manual_seed(0)
    x, y = _data(24, 5, 2, seed=4)
    model = unrolled.Sequential(
        [
            unrolled.Input(batch_shape=(4, 5, 2)),
            unrolled.LSTM(6, stateful=True),
            unrolled.Dense(1),
        ]
    )
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    return _result(model, history, states=model.get_states())


def dataset_input(out: Path) -> dict[str, Any]:
    """A torch Dataset, shuffled, 25 samples in global batches of 10 (last one 5: 3 + 2)."""
    torch.manual_seed(0)
    x, y = _data(25, 4, 2, seed=5)
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    model = unrolled.Sequential([unrolled.Input((4, 2)), unrolled.GRU(5), unrolled.Dense(1)])
    model.compile(optimizer="rmsprop", loss="mae", metrics=["mse"])
    history = model.fit(dataset, batch_size=10, epochs=2, seed=7, verbose=0)
    return _result(model, history)


class _StopOnRankOne(Callback):
    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        if int(os.environ.get("RANK", "0")) == 1 and batch == 1:
            self.model.stop_training = True


def stop_on_one_process(out: Path) -> dict[str, Any]:
    """A callback stops training on the second process only: both stop after batch 2."""
    torch.manual_seed(0)
    x, y = _data(40, 3, 2, seed=6)
    model = unrolled.Sequential([unrolled.Input((3, 2)), unrolled.LSTM(3), unrolled.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(
        x, y, batch_size=8, epochs=3, shuffle=False, callbacks=[_StopOnRankOne()], verbose=0
    )
    return _result(model, history)


SCENARIOS = {
    "sequential_lstm": sequential_lstm,
    "stateful_lstm": stateful_lstm,
    "dataset_input": dataset_input,
    "stop_on_one_process": stop_on_one_process,
}


def main(out: Path) -> None:
    torch.set_num_threads(1)
    results = {name: run(out) for name, run in SCENARIOS.items()}
    rank = int(os.environ["RANK"])
    with open(out / f"rank{rank}.pkl", "wb") as file:
        pickle.dump(results, file)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
