"""Trainer.fit on plain torch modules: the numbers equal a hand-written torch loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unrolled.errors import ConfigError, ShapeError
from unrolled.training import Trainer, optimizers


def _linear(features: int = 3, outputs: int = 1, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(features, outputs))


def _regression(n: int = 40, features: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features))
    y = x @ np.array([[1.5], [-2.0], [0.5]])[:features] + 0.3 + 0.1 * rng.normal(size=(n, 1))
    return x, y


def test_linear_regression_converges_to_least_squares_solution() -> None:
    x, y = _regression(200)
    model = _linear()
    Trainer(model, optimizer=optimizers.Adam(learning_rate=0.05), loss="mse").fit(
        x, y, epochs=150, batch_size=50, verbose=0, seed=0
    )
    design = np.hstack([x, np.ones((len(x), 1))])
    solution, *_ = np.linalg.lstsq(design, y, rcond=None)
    linear = model[0]
    np.testing.assert_allclose(linear.weight.detach().numpy().T, solution[:3], atol=2e-3)
    np.testing.assert_allclose(linear.bias.detach().numpy(), solution[3], atol=2e-3)


def test_three_sgd_epochs_equal_a_hand_written_torch_loop() -> None:
    x, y = _regression(37)
    ours, reference = _linear(seed=1), _linear(seed=1)
    history = Trainer(ours, optimizer=optimizers.SGD(learning_rate=0.05), loss="mse").fit(
        x, y, epochs=3, batch_size=8, shuffle=False, verbose=0
    )
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    opt = torch.optim.SGD(reference.parameters(), lr=0.05)
    epoch_losses = []
    for _ in range(3):
        total = 0.0
        for start in range(0, len(x), 8):  # the ragged last batch of 5 is kept
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(
                reference(xt[start : start + 8]), yt[start : start + 8]
            )
            loss.backward()
            opt.step()
            total += loss.item() * len(xt[start : start + 8])
        epoch_losses.append(total / len(x))
    for a, b in zip(ours.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(history.history["loss"], epoch_losses, rtol=1e-6)


def test_history_keys_and_epochs_follow_keras() -> None:
    x, y = _regression(30)
    history = Trainer(_linear(), optimizer="sgd", loss="mse", metrics=["mae", "rmse"]).fit(
        x, y, epochs=3, validation_split=0.2, verbose=0
    )
    assert list(history.history) == ["loss", "mae", "rmse", "val_loss", "val_mae", "val_rmse"]
    assert history.epoch == [0, 1, 2]
    assert all(len(v) == 3 for v in history.history.values())
    assert history.params == {"verbose": 0, "epochs": 3, "steps": 1}


def test_validation_split_holds_out_the_last_samples() -> None:
    x, y = _regression(20)
    model = _linear()
    trainer = Trainer(
        model, optimizer=optimizers.SGD(learning_rate=0.0), loss="mse", metrics=["mae"]
    )
    history = trainer.fit(x, y, epochs=1, validation_split=0.25, batch_size=4, verbose=0)
    train_loss, train_mae = trainer.evaluate(x[:15], y[:15], verbose=0)
    val_loss, val_mae = trainer.evaluate(x[15:], y[15:], verbose=0)
    assert history.history["loss"][0] == pytest.approx(train_loss, rel=1e-6)
    assert history.history["val_loss"][0] == pytest.approx(val_loss, rel=1e-6)
    assert history.history["val_mae"][0] == pytest.approx(val_mae, rel=1e-6)


def test_epoch_loss_is_the_batch_size_weighted_mean() -> None:
    x, y = _regression(10)
    model = _linear()
    trainer = Trainer(model, optimizer=optimizers.SGD(learning_rate=0.0), loss="mse")
    history = trainer.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(trainer.evaluate(x, y, verbose=0), rel=1e-6)


def test_seed_makes_shuffled_runs_repeatable() -> None:
    x, y = _regression(33)
    weights = []
    for seed in (7, 7, 8):
        model = _linear(seed=3)
        Trainer(model, optimizer="adam", loss="mse").fit(
            x, y, epochs=2, batch_size=4, seed=seed, verbose=0
        )
        weights.append(model[0].weight.detach().clone())
    torch.testing.assert_close(weights[0], weights[1], rtol=0, atol=0)
    assert not torch.equal(weights[0], weights[2])


def test_global_torch_seed_makes_runs_repeatable() -> None:
    x, y = _regression(33)
    weights = []
    for _ in range(2):
        model = _linear(seed=3)
        torch.manual_seed(11)
        Trainer(model, optimizer="adam", loss="mse").fit(x, y, epochs=2, batch_size=4, verbose=0)
        weights.append(model[0].weight.detach().clone())
    torch.testing.assert_close(weights[0], weights[1], rtol=0, atol=0)


def test_dataloader_input_equals_arrays() -> None:
    x, y = _regression(24)
    from_arrays, from_loader = _linear(seed=4), _linear(seed=4)
    Trainer(from_arrays, optimizer="sgd", loss="mse").fit(
        x, y, batch_size=6, epochs=2, shuffle=False, verbose=0
    )
    dataset = torch.utils.data.TensorDataset(
        torch.tensor(x), torch.tensor(y)
    )  # float64 is converted
    loader = torch.utils.data.DataLoader(dataset, batch_size=6, shuffle=False)
    history = Trainer(from_loader, optimizer="sgd", loss="mse").fit(loader, epochs=2, verbose=0)
    for a, b in zip(from_arrays.parameters(), from_loader.parameters()):
        torch.testing.assert_close(a, b)
    assert len(history.history["loss"]) == 2


class TwoInputs(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Linear(3, 1)
        self.b = torch.nn.Linear(2, 1)

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        first, second = inputs
        return self.a(first) + self.b(second)


def test_multi_input_list_is_passed_to_the_module_as_a_list() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(16, 3)), rng.normal(size=(16, 2))
    y = a.sum(1, keepdims=True) - b.sum(1, keepdims=True)
    torch.manual_seed(0)
    model = TwoInputs()
    trainer = Trainer(model, optimizer=optimizers.Adam(learning_rate=0.1), loss="mse")
    history = trainer.fit([a, b], y, epochs=40, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 0.05 * history.history["loss"][0]
    assert trainer.predict([a, b], verbose=0).shape == (16, 1)


class TwoOutputs(torch.nn.Module):
    output_names = ["price", "volume"]

    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = self.body(x)
        return [out[:, :1], out[:, 1:]]


def test_multi_output_losses_weights_and_log_names() -> None:
    x, y = _regression(12)
    model = TwoOutputs()
    trainer = Trainer(
        model,
        optimizer=optimizers.SGD(learning_rate=0.0),
        loss=["mse", "mae"],
        loss_weights=[1.0, 0.5],
        metrics={"price": ["mae"]},
    )
    history = trainer.fit(x, [y, 2 * y], epochs=1, batch_size=12, verbose=0)
    assert list(history.history) == ["loss", "price_loss", "price_mae", "volume_loss"]
    with torch.no_grad():
        price, volume = model(torch.tensor(x, dtype=torch.float32))
    t = torch.tensor(y, dtype=torch.float32)
    mse, mae = float(((price - t) ** 2).mean()), float((volume - 2 * t).abs().mean())
    assert history.history["price_loss"][0] == pytest.approx(mse, rel=1e-6)
    assert history.history["volume_loss"][0] == pytest.approx(mae, rel=1e-6)
    assert history.history["loss"][0] == pytest.approx(mse + 0.5 * mae, rel=1e-6)
    by_name = trainer.evaluate(x, {"price": y, "volume": 2 * y}, verbose=0, return_dict=True)
    assert by_name["loss"] == pytest.approx(mse + 0.5 * mae, rel=1e-6)
    # Keras's list order: loss, each output's loss, then the prefixed metrics.
    as_list = trainer.evaluate(x, [y, 2 * y], verbose=0)
    expected = [by_name[k] for k in ("loss", "price_loss", "volume_loss", "price_mae")]
    np.testing.assert_allclose(as_list, expected, rtol=1e-6)


def test_sample_weight_equals_a_hand_weighted_loss() -> None:
    x, y = _regression(10)
    weights = np.linspace(0.0, 2.0, 10)
    ours, reference = _linear(seed=5), _linear(seed=5)
    Trainer(ours, optimizer=optimizers.SGD(learning_rate=0.1), loss="mse").fit(
        x, y, sample_weight=weights, batch_size=10, epochs=1, verbose=0
    )
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    per_sample = ((reference(xt) - yt) ** 2).mean(dim=1)
    loss = (
        per_sample * torch.tensor(weights, dtype=torch.float32)
    ).sum() / 10  # Keras: sum / batch size
    loss.backward()
    with torch.no_grad():
        for p in reference.parameters():
            p -= 0.1 * p.grad
    for a, b in zip(ours.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


def test_class_weight_equals_the_matching_sample_weight() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(20, 3))
    labels = (x[:, 0] > 0).astype("float32")[:, None]
    by_class, by_sample = _linear(seed=6), _linear(seed=6)
    Trainer(by_class, optimizer="sgd", loss="binary_crossentropy").fit(
        x, labels, class_weight={0: 1.0, 1: 3.0}, batch_size=20, epochs=2, verbose=0
    )
    Trainer(by_sample, optimizer="sgd", loss="binary_crossentropy").fit(
        x,
        labels,
        sample_weight=np.where(labels[:, 0] == 1, 3.0, 1.0),
        batch_size=20,
        epochs=2,
        verbose=0,
    )
    for a, b in zip(by_class.parameters(), by_sample.parameters()):
        torch.testing.assert_close(a, b)


def test_xy_length_mismatch_names_both_lengths() -> None:
    with pytest.raises(ShapeError, match=r"x: 10.*y: 9"):
        Trainer(_linear(), loss="mse").fit(np.zeros((10, 3)), np.zeros((9, 1)), verbose=0)


def test_nan_in_data_names_the_first_sample() -> None:
    x, y = _regression(10)
    y[6, 0] = np.nan
    with pytest.raises(ConfigError, match=r"`y` contains NaN.*index 6"):
        Trainer(_linear(), loss="mse").fit(x, y, verbose=0)
    x[4, 1] = np.inf
    with pytest.raises(ValueError, match=r"`x\[1\]` contains NaN.*index 4"):
        Trainer(TwoInputs(), loss="mse").fit([np.zeros((10, 3)), x[:, :2]], y, verbose=0)


def test_diverging_loss_stops_with_an_error_naming_epoch_and_batch() -> None:
    from unrolled.training import NonFiniteLossError, TerminateOnNaN

    x, y = _regression(16)
    y[:] = 1e30  # squares overflow float32 on the first batch
    with pytest.raises(NonFiniteLossError, match=r"epoch 1/3, batch 1"):
        Trainer(_linear(), optimizer="sgd", loss="mse").fit(x, y, epochs=3, batch_size=4, verbose=0)
    history = Trainer(_linear(), optimizer="sgd", loss="mse").fit(
        x, y, epochs=3, batch_size=4, verbose=0, callbacks=[TerminateOnNaN()]
    )
    assert len(history.epoch) == 1  # stopped quietly during the first epoch
    history = Trainer(_linear(), optimizer="sgd", loss="mse").fit(
        x, y, epochs=2, batch_size=4, verbose=0, terminate_on_nan=False
    )
    assert len(history.epoch) == 2


def test_regularization_and_constraint_hooks_are_used() -> None:
    class Hooked(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(3, 1)
            self.constrained = 0
            self.limit = 10.0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(x)

        def regularization_losses(self) -> list[torch.Tensor]:
            return [0.5 * self.linear.weight.square().sum()]

        def apply_constraints(self) -> None:
            self.constrained += 1
            with torch.no_grad():
                self.linear.weight.clamp_(-self.limit, self.limit)

    x, y = _regression(8)
    model = Hooked()
    trainer = Trainer(model, optimizer=optimizers.SGD(learning_rate=0.0), loss="mse")
    history = trainer.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert model.constrained == 2
    with torch.no_grad():
        prediction = model(torch.tensor(x, dtype=torch.float32))
        plain = torch.nn.functional.mse_loss(prediction, torch.tensor(y, dtype=torch.float32))
        penalty = model.regularization_losses()[0]
    assert history.history["loss"][0] == pytest.approx(float(plain + penalty), rel=1e-5)
    model.limit = 0.1
    trainer.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert float(model.linear.weight.detach().abs().max()) <= np.float32(0.1)


def test_evaluate_and_predict_return_keras_conventions() -> None:
    x, y = _regression(9)
    trainer = Trainer(_linear(), loss="mse")
    assert isinstance(trainer.evaluate(x, y, verbose=0), float)
    trainer = Trainer(_linear(), loss="mse", metrics=["mae"])
    assert len(trainer.evaluate(x, y, verbose=0)) == 2
    assert set(trainer.evaluate(x, y, verbose=0, return_dict=True)) == {"loss", "mae"}
    prediction = trainer.predict(x, batch_size=4, verbose=0)
    assert isinstance(prediction, np.ndarray) and prediction.shape == (9, 1)


def test_training_mode_is_set_and_restored() -> None:
    seen = []

    class ModeProbe(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(3, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(self.training)
            return self.linear(x)

    x, y = _regression(4)
    model = ModeProbe().eval()
    trainer = Trainer(model, loss="mse")
    trainer.fit(x, y, epochs=1, validation_data=(x, y), verbose=0)
    assert seen == [True, False] and not model.training
    trainer.predict(x, verbose=0)
    assert seen[-1] is False


def test_legacy_nb_epoch_warns_naming_epochs() -> None:
    x, y = _regression(4)
    with pytest.warns(DeprecationWarning, match="epochs"):
        history = Trainer(_linear(), loss="mse").fit(x, y, nb_epoch=2, verbose=0)
    assert len(history.epoch) == 2
    with pytest.raises(ConfigError, match="unexpected"):
        Trainer(_linear(), loss="mse").fit(x, y, epoch=2, verbose=0)


def test_verbose_two_prints_keras_lines(capsys: pytest.CaptureFixture[str]) -> None:
    x, y = _regression(20)
    Trainer(_linear(), optimizer="sgd", loss="mse", metrics=["mae"]).fit(
        x, y, epochs=2, batch_size=8, validation_split=0.2, verbose=2
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    pattern = r"^2/2 - \d+s - \d+(us|ms|s)/step - loss: \d+\.\d{4} - mae: \d+\.\d{4} - val_loss: \d+\.\d{4} - val_mae: \d+\.\d{4}$"
    assert all(__import__("re").match(pattern, line) for line in (lines[1], lines[3])), lines


def test_verbose_zero_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    x, y = _regression(8)
    Trainer(_linear(), loss="mse").fit(x, y, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""


def test_unknown_loss_or_metric_fails_at_construction() -> None:
    with pytest.raises(ConfigError, match="Unknown loss"):
        Trainer(_linear(), loss="msee")
    with pytest.raises(ConfigError, match="Unknown metric"):
        Trainer(_linear(), loss="mse", metrics=["maee"])


def test_a_float64_module_gets_float64_data_and_integer_inputs_stay_integer() -> None:
    x, y = _regression(8)
    model = _linear().double()
    Trainer(model, optimizer="sgd", loss="mse").fit(x, y, epochs=1, verbose=0)
    assert model[0].weight.dtype == torch.float64

    seen = []

    class Lookup(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = torch.nn.Embedding(10, 1)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            seen.append(ids.dtype)
            return self.embedding(ids)[:, 0]

    ids = np.arange(8).reshape(8, 1) % 10
    Trainer(Lookup(), optimizer="sgd", loss="mse").fit(ids, np.ones((8, 1)), epochs=1, verbose=0)
    assert seen == [torch.int64]
