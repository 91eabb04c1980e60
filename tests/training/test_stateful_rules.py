"""Keras's stateful rules, enforced for any module that declares `stateful_batch_size`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unrolled.errors import ConfigError, ShapeError
from unrolled.training import ResetStates, Trainer


class StatefulProbe(torch.nn.Module):
    """Carries a per-row running sum between batches, like a stateful RNN."""

    stateful_batch_size = 2

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(1, 1)
        self.register_buffer("state", torch.zeros(2, 1))
        self.resets = 0
        self.batch_sizes: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.batch_sizes.append(x.shape[0])
        self.state = self.state.detach() + x[:, -1]
        return self.linear(self.state)

    def reset_states(self) -> None:
        self.resets += 1
        self.state.zero_()


def _data(n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    x = np.arange(n, dtype="float32").reshape(n, 1, 1)
    return x, x[:, 0] * 0.5


def test_fit_defaults_to_the_stateful_batch_size() -> None:
    model = StatefulProbe()
    x, y = _data()
    Trainer(model, loss="mse").fit(x, y, epochs=1, shuffle=False, verbose=0)
    assert model.batch_sizes == [2, 2, 2, 2]


def test_another_batch_size_is_refused_with_an_explanation() -> None:
    x, y = _data()
    with pytest.raises(
        ConfigError, match=r"fixed batch size of 2.*batch_size=2\. Received: batch_size=4"
    ):
        Trainer(StatefulProbe(), loss="mse").fit(x, y, batch_size=4, shuffle=False, verbose=0)


def test_sample_count_must_be_a_multiple_and_the_fix_is_named() -> None:
    x, y = _data(7)
    with pytest.raises(
        ShapeError, match=r"7 samples, not a multiple.*Drop the last 1 sample\(s\) \(x\[:6\]\)"
    ):
        Trainer(StatefulProbe(), loss="mse").fit(x, y, shuffle=False, verbose=0)


def test_shuffle_is_refused_because_rows_continue_across_batches() -> None:
    x, y = _data()
    with pytest.raises(
        ConfigError,
        match=r"sequence i of batch k\+1 continues sequence i of batch k.*shuffle=False",
    ):
        Trainer(StatefulProbe(), loss="mse").fit(x, y, verbose=0)  # Keras's default shuffle=True


def test_predict_uses_the_stateful_batch_size_and_refuses_others() -> None:
    model = StatefulProbe()
    trainer = Trainer(model, loss="mse")
    x, _ = _data()
    assert trainer.predict(x, verbose=0).shape == (8, 1)
    assert model.batch_sizes == [2, 2, 2, 2]
    with pytest.raises(
        ConfigError, match=r"predict\(\) needs batch_size=2.*reset_state\(batch_size=N\)"
    ):
        trainer.predict(x, batch_size=1, verbose=0)


def test_validation_data_follows_the_same_rules() -> None:
    x, y = _data()
    with pytest.raises(ShapeError, match="validation data"):
        Trainer(StatefulProbe(), loss="mse").fit(
            x, y, shuffle=False, validation_data=(x[:3], y[:3]), verbose=0
        )


def test_reset_states_callback_runs_once_per_epoch() -> None:
    x, y = _data()
    model = StatefulProbe()
    Trainer(model, loss="mse").fit(
        x, y, epochs=5, shuffle=False, verbose=0, callbacks=[ResetStates()]
    )
    assert model.resets == 5
    Trainer(model, loss="mse").fit(x, y, epochs=3, shuffle=False, verbose=0, reset_states="epoch")
    assert model.resets == 8


def test_reset_states_each_epoch_equals_the_keras2_loop() -> None:
    x, y = _data()
    looped, one_call = StatefulProbe(), StatefulProbe()
    one_call.load_state_dict(looped.state_dict())
    trainer = Trainer(looped, optimizer="sgd", loss="mse")
    for _ in range(4):
        trainer.fit(x, y, epochs=1, shuffle=False, verbose=0)
        looped.reset_states()
    Trainer(one_call, optimizer="sgd", loss="mse").fit(
        x, y, epochs=4, shuffle=False, verbose=0, callbacks=[ResetStates()]
    )
    torch.testing.assert_close(looped.linear.weight, one_call.linear.weight)


def test_reset_states_needs_the_method() -> None:
    x, y = _data()
    with pytest.raises(ConfigError, match="reset_states"):
        Trainer(torch.nn.Linear(1, 1), loss="mse").fit(x[:, 0], y, verbose=0, reset_states="epoch")
