"""Shape traces against shapes written by hand, and the topology of every builder."""

from __future__ import annotations

import pytest

import unrolled as U
from unrolled import topologies
from unrolled.explain import TOPOLOGIES, explain_text, shape_trace, shape_words, topology_of


def _rows(trace):
    return [(r.layer.rstrip("_0123456789"), r.input_shape, r.output_shape) for r in trace.rows]


def test_shape_words_use_samples_timesteps_features():
    assert shape_words((None, 10, 3)) == "(samples, timesteps=10, features=3)"
    assert shape_words((None, None, 3)) == "(samples, timesteps=?, features=3)"
    assert shape_words((32, 10, 3)) == "(samples=32, timesteps=10, features=3)"
    assert shape_words((None, 16)) == "(samples, features=16)"
    assert shape_words((None, 12), tokens=True) == "(samples, timesteps=12)"


def test_many_to_one_trace():
    trace = shape_trace(topologies.many_to_one(timesteps=10, features=3, units=[16, 8]))
    assert trace.topology == "many-to-one"
    assert (trace.input_shape, trace.output_shape) == ((None, 10, 3), (None, 1))
    assert _rows(trace) == [
        ("lstm", (None, 10, 3), (None, 10, 16)),
        ("lstm", (None, 10, 16), (None, 8)),
        ("dense", (None, 8), (None, 1)),
    ]
    first, second, dense = trace.rows
    assert first.output_words == "(samples, timesteps=10, features=16)"
    assert second.output_words == "(samples, features=8)"
    assert first.path.name == "fused" and first.path.reason == "torch.lstm"
    assert dense.path is None
    assert "returns every step" in first.note and "returns the last step" in second.note
    text = str(trace)
    assert 'Shape trace of "many_to_one": many-to-one' in text
    assert "(samples, timesteps=10, features=3)" in text and "fused: torch.lstm" in text


def test_hand_built_sequential_with_masking_and_a_slow_path():
    model = U.Sequential(
        [
            U.Masking(0.0, input_shape=(20, 2)),
            U.GRU(6, reset_after=False, return_sequences=True),
            U.TimeDistributed(U.Dense(1)),
        ]
    )
    trace = shape_trace(model)
    assert trace.topology == "many-to-many"
    assert _rows(trace) == [
        ("masking", (None, 20, 2), (None, 20, 2)),
        ("gru", (None, 20, 2), (None, 20, 6)),
        ("time_distributed", (None, 20, 6), (None, 20, 1)),
    ]
    gru = trace.rows[1]
    assert gru.path.name == "loop" and "reset_after=False" in gru.path.reason
    assert "padding" in trace.rows[0].note
    assert trace.rows[2].note == "the same Dense at every timestep"


def test_seq2seq_trace_shows_states_and_both_inputs():
    model = topologies.seq2seq(input_steps=6, output_steps=3, features=4, outputs=2, units=8)
    trace = shape_trace(model)
    assert trace.topology == "seq2seq"
    assert trace.input_shape == [(None, 6, 4), (None, 3, 2)]
    assert _rows(trace) == [
        ("lstm", (None, 6, 4), [(None, 8), (None, 8), (None, 8)]),
        ("lstm", (None, 3, 2), (None, 3, 8)),
        ("time_distributed", (None, 3, 8), (None, 3, 2)),
    ]
    encoder, decoder, _ = trace.rows
    assert encoder.output_words == "(samples, features=8) + 2 states (samples, features=8)"
    assert "initial states" in decoder.note


def test_feedback_chain_is_traced_one_step_at_a_time():
    trace = shape_trace(topologies.one_to_many(steps=5, features=1, via="feedback", units=4))
    assert trace.topology == "one-to-many"
    assert _rows(trace) == [
        ("feedback", (None, 1), (None, 5, 1)),
        ("lstm", (None, 1, 1), (None, 1, 4)),
        ("dense", (None, 1, 4), (None, 1, 1)),
    ]
    assert [r.depth for r in trace.rows] == [0, 1, 1]


@pytest.mark.parametrize(
    "build, expected",
    [
        (lambda: topologies.one_to_one(3), "one-to-one"),
        (lambda: topologies.many_to_one(10, 3), "many-to-one"),
        (lambda: topologies.many_to_one(None, 3, bidirectional=True), "many-to-one"),
        (lambda: topologies.many_to_many(10, 3), "many-to-many"),
        (lambda: topologies.many_to_many(10, 3, output_steps=4), "many-to-many (last N)"),
        (lambda: topologies.one_to_many(5, 2), "one-to-many"),
        (lambda: topologies.one_to_many(5, 1, via="feedback"), "one-to-many"),
        (lambda: topologies.seq2seq(6, 3, 2, 2), "seq2seq"),
        (lambda: topologies.autoencoder(20, 2, 4), "autoencoder"),
        (lambda: U.Sequential([U.LSTM(4, input_shape=(1, 3)), U.Dense(1)]), "one-to-one"),
        (lambda: U.Sequential([U.Dense(2, input_shape=(3,))]), "one-to-one"),
        (
            lambda: U.Sequential(
                [U.RepeatVector(4, input_shape=(3,)), U.SimpleRNN(2, return_sequences=True)]
            ),
            "one-to-many",
        ),
    ],
)
def test_topology_of_each_builder(build, expected):
    assert expected in TOPOLOGIES
    assert topology_of(build()) == expected


def test_not_a_model_is_refused():
    with pytest.raises(U.ConfigError, match="Sequential or Model"):
        topology_of(U.LSTM(3))


def test_explain_text_combines_trace_gates_and_the_one_block_answer():
    model = U.Sequential(
        [
            U.Masking(0.0, input_shape=(30, 1)),
            U.LSTM(16, name="encoder"),
            U.Dense(2),
            U.Activation("sigmoid"),
        ]
    )
    text = explain_text(model)
    assert "many-to-one" in text and "(samples, timesteps=30, features=1)" in text
    assert "encoder (LSTM): 4 * (units * (features + units) + units)" in text
    assert "= 4 * (16 * (1 + 16) + 16) = 1152" in text
    assert "forget gate     kernel[:, 16:32] 1x16=16 + recurrent_kernel[:, 16:32] 16x16=256" in text
    flat = " ".join(text.split())
    assert "is one block of 16 cells, not 16 blocks of 1 cell" in flat
    assert "each with 1 + 16 weights and 1 bias" in flat
    assert "(30 times, with the same weights)" in flat
    assert "No recurrent layers" in explain_text(U.Sequential([U.Dense(1, input_shape=(3,))]))
