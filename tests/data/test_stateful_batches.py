"""stateful_batches: a stateful layer fed the chunks equals the same layer fed each whole series."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import unrolled
from unrolled.callbacks import ResetStatesAt
from unrolled.data import StatefulBatches, stateful_batches
from unrolled.training import Trainer

FEATURES, UNITS = 2, 3


def make_series(lengths, seed=0, features=FEATURES):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, features)).astype(np.float32) for n in lengths]


def whole_sequence_oracle(layer_class, weights, series):
    """Each series alone through a non-stateful layer with the same weights."""
    layer = layer_class(UNITS, return_sequences=True, return_state=True)
    layer(torch.zeros(1, 1, FEATURES))  # build
    layer.set_weights(weights)
    results = []
    with torch.no_grad():
        for values in series:
            outputs, *states = layer(torch.from_numpy(values)[None])  # (1, T, U), (1, U) each
            results.append((outputs[0].numpy(), [s[0].numpy() for s in states]))
    return results


def run_chunks(layer, b: StatefulBatches):
    """Feeds b batch by batch, resetting at b.reset_before; per-series outputs and final states."""
    outputs, finals = [], {}
    group_ends = {stop - 1: g for g, stop in enumerate([*b.reset_before[1:], b.n_batches])}
    with torch.no_grad():
        for k in range(b.n_batches):
            if k in b.reset_before:
                layer.reset_states()
            x, _, mask = b.batch(k)
            outputs.append(layer(torch.from_numpy(x), mask=torch.from_numpy(mask)).numpy())
            if k in group_ends:
                finals[group_ends[k]] = layer.get_states()  # [(batch, U), ...]
    per_series = b.unbatch(np.concatenate(outputs))
    states = [
        [s[i % b.batch_size] for s in finals[i // b.batch_size]] for i in range(len(b.lengths))
    ]
    return per_series, states


@pytest.mark.parametrize("layer_class", [unrolled.LSTM, unrolled.GRU])
@pytest.mark.parametrize(
    "lengths, batch_size, steps",
    [
        ([12, 12, 12], 3, 4),  # one group, whole chunks
        ([13, 5, 9, 1, 11, 7, 10], 3, 4),  # unequal lengths, three groups, a short last group
        ([6, 17], 1, 5),  # batch size 1: the seeds' one tank at a time
    ],
)
def test_chunks_through_a_stateful_layer_equal_whole_sequences(
    layer_class, lengths, batch_size, steps
):
    series = make_series(lengths)
    b = stateful_batches(series, batch_size, steps)
    unrolled.set_random_seed(1)
    layer = layer_class(UNITS, stateful=True, return_sequences=True)
    layer(torch.zeros(batch_size, steps, FEATURES))  # builds states for batch_size rows
    layer.reset_states()
    outputs, states = run_chunks(layer, b)
    oracle = whole_sequence_oracle(layer_class, layer.get_weights(), series)
    for index, (want_outputs, want_states) in enumerate(oracle):
        assert outputs[index].shape == want_outputs.shape
        np.testing.assert_allclose(
            outputs[index], want_outputs, atol=1e-6, err_msg=f"series {index}"
        )
        for got, want in zip(states[index], want_states):
            np.testing.assert_allclose(got, want, atol=1e-6, err_msg=f"series {index} state")


def test_layout_equals_a_hand_written_loop():
    lengths, batch_size, steps = [7, 3, 5, 2, 6], 2, 3
    series = make_series(lengths)
    targets = [s[:, :1] * 10 for s in series]
    b = stateful_batches(series, batch_size, steps, targets=targets, padding_value=-9.0)
    # The oracle: place every step by its (group, chunk, row, position), one at a time.
    chunks = [3, 2, 2]  # ceil(max(7, 3) / 3), ceil(max(5, 2) / 3), ceil(6 / 3)
    assert b.reset_before == [0, 3, 5] and b.n_batches == 7
    want_x = np.full((7 * batch_size, steps, FEATURES), -9.0, np.float32)
    want_y = np.zeros((7 * batch_size, steps, 1), np.float32)
    want_mask = np.zeros((7 * batch_size, steps), bool)
    for index, values in enumerate(series):
        group, row = divmod(index, batch_size)
        for t in range(len(values)):
            batch = sum(chunks[:group]) + t // steps
            want_x[batch * batch_size + row, t % steps] = values[t]
            want_y[batch * batch_size + row, t % steps] = targets[index][t]
            want_mask[batch * batch_size + row, t % steps] = True
    np.testing.assert_array_equal(b.x, want_x)
    np.testing.assert_array_equal(b.y, want_y)
    np.testing.assert_array_equal(b.mask, want_mask)
    np.testing.assert_array_equal(b.sample_weight, want_mask.astype(np.float32))
    for got, values in zip(b.unbatch(b.x), series):
        np.testing.assert_array_equal(got, values)
    assert b.lengths == tuple(lengths)


def test_resets_happen_before_the_right_batches_in_every_epoch():
    class Recorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(FEATURES, 1)
            self.calls, self.resets = 0, []

        def forward(self, x):
            self.calls += 1
            return self.linear(x)

        def reset_state(self):
            self.resets.append(self.calls)

    b = stateful_batches(
        make_series([9, 4, 2, 6, 3]), 2, 4, targets=make_series([9, 4, 2, 6, 3], 1, 1)
    )
    module = Recorder()
    trainer = Trainer(module, optimizer="sgd", loss="mse")
    trainer.fit(
        b.x, b.y, batch_size=b.batch_size, shuffle=False, epochs=2, verbose=0,
        sample_weight=b.sample_weight, callbacks=[ResetStatesAt(b.reset_before)],
    )  # fmt: skip
    assert b.reset_before == [0, 3, 5]
    assert module.resets == [0, 3, 5, 6, 9, 11]  # forward calls done before each reset
    trainer.predict(
        b.x, batch_size=b.batch_size, verbose=0, callbacks=[ResetStatesAt(b.reset_before)]
    )
    assert module.calls == 18 and len(module.resets) == 6  # "train" only by default
    trainer.predict(
        b.x, batch_size=b.batch_size, verbose=0,
        callbacks=[ResetStatesAt(b.reset_before, during="predict")],
    )  # fmt: skip
    assert module.resets[6:] == [18, 21, 23]


def test_a_stateful_model_fits_and_predicts_the_batches_in_one_line():
    lengths, batch_size, steps = [10, 4, 7, 9], 2, 3
    series = make_series(lengths, seed=3)
    targets = [s[:, :1] for s in make_series(lengths, seed=4)]
    b = stateful_batches(series, batch_size, steps, targets=targets, padding_value=-99.0)

    def model(stateful):
        shape = (
            {"batch_shape": (batch_size, steps, FEATURES)}
            if stateful
            else {"shape": (None, FEATURES)}
        )
        return unrolled.Sequential(
            [
                unrolled.Input(**shape),
                unrolled.Masking(mask_value=-99.0),
                unrolled.LSTM(UNITS, stateful=stateful, return_sequences=True),
                unrolled.TimeDistributed(unrolled.Dense(1)),
            ]
        )

    unrolled.set_random_seed(0)
    ours = model(stateful=True)
    ours.compile(loss="mse", optimizer="adam")
    history = ours.fit(
        b.x, b.y, batch_size=b.batch_size, shuffle=False, epochs=2, verbose=0,
        sample_weight=b.sample_weight, callbacks=[ResetStatesAt(b.reset_before)],
    )  # fmt: skip
    assert np.all(np.isfinite(history.history["loss"]))
    predicted = ours.predict(
        b.x, batch_size=b.batch_size, verbose=0,
        callbacks=[ResetStatesAt(b.reset_before, during="predict")],
    )  # fmt: skip
    whole = model(stateful=False)
    whole.set_weights(ours.get_weights())
    for got, values in zip(b.unbatch(predicted), series):
        want = whole.predict(values[None], verbose=0)[0]
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_equal_length_array_and_univariate_series_are_accepted():
    b = stateful_batches(np.zeros((4, 6, 2)), 2, 3)
    assert b.x.shape == (8, 3, 2) and b.mask.all() and b.reset_before == [0, 2]
    b = stateful_batches([np.arange(5.0)], 1, 5, dtype="float64")
    assert b.x.shape == (1, 5, 1) and b.x.dtype == np.float64 and b.y is None


def test_bad_inputs_are_named():
    with pytest.raises(unrolled.ConfigError, match="Received: batch_size=0"):
        stateful_batches([np.zeros(4)], 0, 2)
    with pytest.raises(unrolled.ConfigError, match="Received: steps_per_batch=2.5"):
        stateful_batches([np.zeros(4)], 1, 2.5)
    with pytest.raises(unrolled.ShapeError, match=r"one 2-D array \(10, 2\).*\[sequences\]"):
        stateful_batches(np.zeros((10, 2)), 1, 2)
    with pytest.raises(unrolled.ShapeError, match=r"sequences\[0\] has 2, sequences\[1\] has 3"):
        stateful_batches([np.zeros((4, 2)), np.zeros((4, 3))], 1, 2)
    with pytest.raises(
        unrolled.ShapeError, match=r"targets\[1\] must have the timesteps of sequences\[1\]: 4"
    ):
        stateful_batches([np.zeros(4), np.zeros(4)], 1, 2, targets=[np.zeros(4), np.zeros(3)])
    with pytest.raises(unrolled.ShapeError, match="one series per input series: 2. Received 1"):
        stateful_batches([np.zeros(4), np.zeros(4)], 1, 2, targets=[np.zeros(4)])
    with pytest.raises(unrolled.ShapeError, match=r"`sequences\[1\]` is empty"):
        stateful_batches([np.zeros(4), np.zeros(0)], 1, 2)
    with pytest.raises(unrolled.ConfigError, match=r"`sequences\[0\]` has a NaN at timestep 2"):
        stateful_batches([np.array([0.0, 1.0, np.nan])], 1, 2)
    with pytest.raises(unrolled.ConfigError, match="non-empty list"):
        stateful_batches([], 1, 2)
    b = stateful_batches([np.zeros(4)], 1, 2)
    with pytest.raises(
        unrolled.ShapeError, match=r"laid out like x.*\(2, 2\).*Received: outputs.shape=\(2, 3\)"
    ):
        b.unbatch(np.zeros((2, 3)))


def test_reset_states_at_refuses_bad_arguments():
    with pytest.raises(
        unrolled.ConfigError, match=r"batch_indices.*Received: batch_indices=\[-1\]"
    ):
        ResetStatesAt([-1])
    with pytest.raises(unrolled.ConfigError, match=r"batch_indices.*\[1.5\]"):
        ResetStatesAt([1.5])
    with pytest.raises(unrolled.ConfigError, match=r"`during` must be one of.*'fit'"):
        ResetStatesAt([0], during="fit")
    assert ResetStatesAt(np.array([0, 2])).batch_indices == {0, 2}
    trainer = Trainer(torch.nn.Linear(2, 1), optimizer="sgd", loss="mse")
    with pytest.raises(unrolled.ConfigError, match="reset_state"):
        trainer.fit(np.zeros((2, 2)), np.zeros((2, 1)), verbose=0, callbacks=[ResetStatesAt([0])])
