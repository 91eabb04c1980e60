"""Callbacks in Trainer.fit: EarlyStopping, ReduceLROnPlateau, CSVLogger, checkpoints, lambdas."""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest
import torch

from unrolled.training import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    Trainer,
    optimizers,
)


def _linear(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(2, 1))


def _data(n: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2)).astype("float32")
    return x, (2 * x[:, :1] - x[:, 1:]).astype("float32")


def test_early_stopping_restores_the_best_epochs_weights() -> None:
    x, y = _data()
    model = _linear()
    snapshots: list[dict[str, torch.Tensor]] = []
    record = LambdaCallback(
        on_epoch_end=lambda epoch, logs: snapshots.append(
            {k: v.clone() for k, v in model.state_dict().items()}
        )
    )
    # Validation targets point the other way: val_loss rises while the training loss falls.
    stopper = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history = Trainer(model, optimizer=optimizers.SGD(learning_rate=0.05), loss="mse").fit(
        x,
        y,
        validation_data=(x, -y),
        epochs=20,
        batch_size=4,
        verbose=0,
        callbacks=[record, stopper],
    )
    best = int(np.argmin(history.history["val_loss"]))
    assert len(history.epoch) < 20 and best < len(history.epoch) - 1
    assert stopper.best_epoch == best
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, snapshots[best][key], rtol=0, atol=0)
    assert not torch.equal(snapshots[-1]["0.weight"], snapshots[best]["0.weight"])


def test_early_stopping_auto_mode_maximizes_accuracy() -> None:
    stopper = EarlyStopping(monitor="val_acc")
    x = np.random.default_rng(0).normal(size=(8, 2)).astype("float32")
    labels = (x[:, :1] > 0).astype("float32")
    Trainer(_linear(), loss="binary_crossentropy", metrics=["acc"]).fit(
        x, labels, validation_data=(x, labels), epochs=1, verbose=0, callbacks=[stopper]
    )
    assert stopper._lower_is_better is False


def test_reduce_lr_on_plateau_lowers_the_optimizer_rate() -> None:
    x, y = _data()
    trainer = Trainer(_linear(), optimizer=optimizers.SGD(learning_rate=1e-12), loss="mse")
    reducer = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_lr=1e-13)
    history = trainer.fit(x, y, epochs=4, verbose=0, callbacks=[reducer])
    rates = history.history["learning_rate"]
    # Epoch 1 sets the best value; every later epoch fails to improve by min_delta.
    np.testing.assert_allclose(rates, [1e-12, 1e-12, 5e-13, 2.5e-13])
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(1.25e-13)


def test_learning_rate_scheduler_sets_each_epochs_rate() -> None:
    x, y = _data()
    trainer = Trainer(_linear(), optimizer="sgd", loss="mse")
    seen = []
    probe = LambdaCallback(
        on_epoch_begin=lambda epoch, logs: seen.append(trainer.optimizer.param_groups[0]["lr"])
    )
    trainer.fit(
        x,
        y,
        epochs=3,
        verbose=0,
        callbacks=[LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1)), probe],
    )
    np.testing.assert_allclose(seen, [0.1, 0.05, 0.1 / 3])


def test_csv_logger_writes_keras_columns(tmp_path) -> None:
    x, y = _data()
    path = tmp_path / "log.csv"
    history = Trainer(_linear(), optimizer="sgd", loss="mse", metrics=["mae"]).fit(
        x, y, epochs=2, verbose=0, validation_split=0.25, callbacks=[CSVLogger(path)]
    )
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["epoch", "loss", "mae", "val_loss", "val_mae"]
    assert [r[0] for r in rows[1:]] == ["0", "1"]
    assert float(rows[2][1]) == pytest.approx(history.history["loss"][1])
    # append=True keeps the header once and adds rows.
    Trainer(_linear(), optimizer="sgd", loss="mse", metrics=["mae"]).fit(
        x, y, epochs=1, verbose=0, validation_split=0.25, callbacks=[CSVLogger(path, append=True)]
    )
    rows = list(csv.reader(path.open()))
    assert len(rows) == 4 and rows[3][0] == "0"


def test_csv_logger_without_validation_reserves_val_columns(tmp_path) -> None:
    x, y = _data()
    path = tmp_path / "log.tsv"
    Trainer(_linear(), loss="mse").fit(
        x, y, epochs=1, verbose=0, callbacks=[CSVLogger(path, separator="\t")]
    )
    rows = path.read_text().splitlines()
    assert rows[0] == "epoch\tloss\tval_loss" and rows[1].endswith("\tNA")


def test_model_checkpoint_formats_paths_and_saves_state_dicts(tmp_path) -> None:
    x, y = _data()
    model = _linear()
    pattern = str(tmp_path / "ckpt-{epoch:02d}-{val_loss:.2f}.pt")
    Trainer(model, optimizer="sgd", loss="mse").fit(
        x, y, epochs=2, verbose=0, validation_data=(x, y), callbacks=[ModelCheckpoint(pattern)]
    )
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 2 and all(re.fullmatch(r"ckpt-0[12]-\d+\.\d\d\.pt", f) for f in files)
    state = torch.load(tmp_path / files[1], weights_only=True)
    torch.testing.assert_close(state["0.weight"], model[0].weight.detach())


def test_model_checkpoint_save_best_only_uses_model_save(tmp_path) -> None:
    class Savable(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(2, 1)
            self.saved: list[str] = []

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(x)

        def save(self, path: str) -> None:
            self.saved.append(path)

    x, y = _data()
    model = Savable()
    checkpoint = ModelCheckpoint(
        str(tmp_path / "best.keras"), monitor="val_loss", save_best_only=True
    )
    history = Trainer(model, optimizer=optimizers.SGD(learning_rate=0.05), loss="mse").fit(
        x, y, epochs=5, validation_data=(x, -y), verbose=0, callbacks=[checkpoint]
    )
    improvements = sum(
        1
        for i, v in enumerate(history.history["val_loss"])
        if v < min(history.history["val_loss"][:i], default=np.inf)
    )
    assert len(model.saved) == improvements


def test_callback_hooks_receive_keras_logs_and_order() -> None:
    events: list[tuple] = []

    class Recorder(Callback):
        def on_train_begin(self, logs=None):
            events.append(("train_begin",))

        def on_epoch_begin(self, epoch, logs=None):
            events.append(("epoch_begin", epoch))

        def on_train_batch_end(self, batch, logs=None):
            events.append(("batch_end", batch, sorted(logs)))

        def on_test_begin(self, logs=None):
            events.append(("test_begin",))

        def on_epoch_end(self, epoch, logs=None):
            events.append(("epoch_end", epoch, sorted(logs)))

        def on_train_end(self, logs=None):
            events.append(("train_end",))

    x, y = _data(8)
    recorder = Recorder()
    trainer = Trainer(_linear(), loss="mse", metrics=["mae"])
    trainer.fit(
        x, y, epochs=1, batch_size=4, validation_data=(x, y), verbose=0, callbacks=[recorder]
    )
    assert events == [
        ("train_begin",),
        ("epoch_begin", 0),
        ("batch_end", 0, ["loss", "mae"]),
        ("batch_end", 1, ["loss", "mae"]),
        ("test_begin",),
        ("epoch_end", 0, ["loss", "mae", "val_loss", "val_mae"]),
        ("train_end",),
    ]
    assert recorder.model is trainer.module and recorder.trainer is trainer


def test_batch_logs_are_running_epoch_averages() -> None:
    x, y = _data(8)
    seen = []
    trainer = Trainer(_linear(), optimizer=optimizers.SGD(learning_rate=0.0), loss="mse")
    trainer.fit(
        x,
        y,
        epochs=1,
        batch_size=4,
        shuffle=False,
        verbose=0,
        callbacks=[
            LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(logs["loss"]))
        ],
    )
    first = trainer.evaluate(x[:4], y[:4], verbose=0)
    assert seen[0] == pytest.approx(first, rel=1e-6)
    assert seen[1] == pytest.approx(trainer.evaluate(x, y, verbose=0), rel=1e-6)


def test_stop_training_set_by_a_callback_stops_after_the_batch() -> None:
    x, y = _data(16)
    trainer = Trainer(_linear(), loss="mse")

    def stop(batch, logs):
        if batch == 1:
            trainer.module.stop_training = True

    history = trainer.fit(
        x, y, epochs=5, batch_size=4, verbose=0, callbacks=[LambdaCallback(on_train_batch_end=stop)]
    )
    assert history.epoch == [0]
    history = trainer.fit(
        x, y, epochs=2, batch_size=4, verbose=0
    )  # the flag is reset for the next fit
    assert history.epoch == [0, 1]
