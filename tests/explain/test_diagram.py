"""The unrolled diagram of each topology, checked box by box and arrow by arrow.

Rows count from the bottom: inputs in row 0, one row of cells per recurrent layer (two for
a Bidirectional), outputs on top; one column per timestep.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

import unrolled as U
from unrolled import topologies
from unrolled.explain import diagram

SVG = "{http://www.w3.org/2000/svg}"


def _counts(d):
    return {kind: d.count(kind) for kind in ("input", "cell", "output", "ellipsis")}


def _by_id(d):
    return {b.id: b for b in d.boxes}


def _state_arrows_in_row(d, row):
    boxes = _by_id(d)
    return [
        a for a in d.arrows_of("state") if boxes[a.source].row == row and boxes[a.target].row == row
    ]


def _columns(boxes):
    return sorted(b.column for b in boxes)


def test_many_to_one_with_two_stacked_layers_over_five_steps():
    d = diagram(topologies.many_to_one(timesteps=5, features=3, units=[8, 4]))
    assert d.topology == "many-to-one" and d.timesteps == 5
    assert _counts(d) == {"input": 5, "cell": 10, "output": 1, "ellipsis": 0}
    assert [b.label for b in d.boxes_of("input")][:2] == ["x_1 (features=3)", "x_2 (features=3)"]
    assert {b.label for b in d.boxes_of("cell", row=1)} == {"LSTM 8"}
    assert {b.label for b in d.boxes_of("cell", row=2)} == {"LSTM 4"}
    boxes = _by_id(d)
    for row in (1, 2):
        states = _state_arrows_in_row(d, row)
        assert len(states) == 4
        assert all(boxes[a.target].column == boxes[a.source].column + 1 for a in states)
    # 5 from the inputs into row 1, 5 from row 1 into row 2
    assert len(d.arrows_of("input")) == 10
    (output,) = d.boxes_of("output")
    assert (output.row, output.column, output.label) == (3, 4, "y (1)")
    (arrow,) = d.arrows_of("output")
    assert boxes[arrow.source].row == 2 and boxes[arrow.source].column == 4


def test_many_to_many_has_an_output_at_every_step():
    d = diagram(topologies.many_to_many(timesteps=6, features=2, outputs=3))
    assert d.topology == "many-to-many"
    assert _counts(d) == {"input": 6, "cell": 6, "output": 6, "ellipsis": 0}
    assert [b.label for b in d.boxes_of("output")][0] == "y_1 (3)"
    boxes = _by_id(d)
    assert all(boxes[a.source].column == boxes[a.target].column for a in d.arrows_of("output"))


def test_many_to_many_of_the_last_n_steps_outputs_only_at_the_last_columns():
    d = diagram(topologies.many_to_many(timesteps=10, features=3, output_steps=4), max_columns=10)
    assert d.topology == "many-to-many (last N)"
    assert _counts(d) == {"input": 10, "cell": 10, "output": 4, "ellipsis": 0}
    assert _columns(d.boxes_of("output")) == [6, 7, 8, 9]
    assert [b.label for b in d.boxes_of("output")] == ["y_1 (1)", "y_2 (1)", "y_3 (1)", "y_4 (1)"]


def test_seed_lambda_keeping_the_last_steps_is_many_to_many_of_the_last_n():
    model = U.Sequential(
        [
            U.LSTM(1, input_shape=(6, 1), return_sequences=True),
            U.Lambda(lambda x: x[:, -3:, :]),  # the seeds' "select last N from output"
        ]
    )
    d = diagram(model)
    assert d.topology == "many-to-many (last N)"
    assert _counts(d)["output"] == 3 and _columns(d.boxes_of("output")) == [3, 4, 5]


def test_one_to_many_by_repeat_feeds_the_same_input_at_every_step():
    d = diagram(topologies.one_to_many(steps=5, features=2))
    assert d.topology == "one-to-many" and d.timesteps == 5
    assert _counts(d) == {"input": 5, "cell": 5, "output": 5, "ellipsis": 0}
    assert {b.label for b in d.boxes_of("input")} == {"x (features=2, repeated)"}


def test_one_to_many_by_feedback_has_one_input_and_feeds_each_output_back():
    d = diagram(topologies.one_to_many(steps=5, features=1, via="feedback"))
    assert d.topology == "one-to-many"
    assert _counts(d) == {"input": 1, "cell": 5, "output": 5, "ellipsis": 0}
    (x,) = d.boxes_of("input")
    assert (x.row, x.column) == (0, 0)
    boxes = _by_id(d)
    fed_back = [a for a in d.arrows_of("input") if boxes[a.source].kind == "output"]
    assert len(fed_back) == 4
    assert all(boxes[a.target].column == boxes[a.source].column + 1 for a in fed_back)
    assert all(boxes[a.target].kind == "cell" and boxes[a.target].row == 1 for a in fed_back)


def test_one_to_one_is_one_input_one_cell_one_output():
    d = diagram(topologies.one_to_one(features=3, outputs=2))
    assert d.topology == "one-to-one"
    assert _counts(d) == {"input": 1, "cell": 1, "output": 1, "ellipsis": 0}
    assert d.arrows_of("state") == []
    assert d.boxes_of("output")[0].label == "y (2)"


def test_seq2seq_hands_each_encoder_layers_states_to_the_decoder():
    model = topologies.seq2seq(input_steps=6, output_steps=3, features=4, outputs=4, units=[8, 8])
    d = diagram(model)
    assert d.topology == "seq2seq"
    assert _counts(d) == {"input": 9, "cell": 18, "output": 3, "ellipsis": 0}
    labels = [b.label for b in sorted(d.boxes_of("input"), key=lambda b: b.column)]
    assert labels[5:] == [
        "x_6 (features=4)",
        "y_0 (features=4)",
        "y_1 (features=4)",
        "y_2 (features=4)",
    ]
    boxes = _by_id(d)
    for row in (1, 2):
        states = _state_arrows_in_row(d, row)
        assert len(states) == 8  # 5 in the encoder, 1 across, 2 in the decoder
        across = [a for a in states if boxes[a.source].column == 5]
        assert len(across) == 1 and boxes[across[0].target].column == 6
    assert _columns(d.boxes_of("output")) == [6, 7, 8]
    assert d.parts == ((0, 5, "encoder"), (6, 8, "decoder"))


def test_repeat_vector_encoder_decoder_from_the_seeds_is_seq2seq():
    model = U.Sequential(
        [
            U.LSTM(16, input_shape=(6, 2)),
            U.RepeatVector(3),
            U.LSTM(16, return_sequences=True),
            U.TimeDistributed(U.Dense(1)),
        ]
    )
    d = diagram(model)
    assert d.topology == "seq2seq"
    assert _counts(d) == {"input": 6, "cell": 9, "output": 3, "ellipsis": 0}
    boxes = _by_id(d)
    repeated = [
        a
        for a in d.arrows_of("input")
        if boxes[a.source].kind == "cell" and boxes[a.source].column == 5
    ]
    assert len(repeated) == 3  # the encoder's last output reaches every decoder step
    assert len(_state_arrows_in_row(d, 1)) == 5 + 2  # no state crosses: the vector is the input


def test_autoencoder_encodes_to_a_vector_then_decodes_every_step():
    model = topologies.autoencoder(timesteps=4, features=2, latent=3, units=8)
    d = diagram(model)
    assert d.topology == "autoencoder"
    # encoder: LSTM 8 then LSTM 3 over 4 columns; decoder: LSTM 8 over the next 4
    assert _counts(d) == {"input": 4, "cell": 12, "output": 4, "ellipsis": 0}
    assert {b.label for b in d.boxes if b.kind == "cell" and b.column < 4 and b.row == 2} == {
        "LSTM 3"
    }
    assert _columns(d.boxes_of("output")) == [4, 5, 6, 7]
    assert d.parts == ((0, 3, "encoder"), (4, 7, "decoder"))


def test_bidirectional_adds_a_row_whose_state_runs_right_to_left():
    model = topologies.many_to_one(timesteps=None, features=3, bidirectional=True, units=4)
    with pytest.raises(U.ConfigError, match="timesteps=N"):
        diagram(model)
    d = diagram(model, timesteps=5)
    assert _counts(d) == {"input": 5, "cell": 10, "output": 1, "ellipsis": 0}
    boxes = _by_id(d)
    forward, backward = _state_arrows_in_row(d, 1), _state_arrows_in_row(d, 2)
    assert all(boxes[a.target].column == boxes[a.source].column + 1 for a in forward)
    assert all(boxes[a.target].column == boxes[a.source].column - 1 for a in backward)
    assert {b.label for b in d.boxes_of("cell", row=2)} == {"LSTM 4 (backward)"}
    # many-to-one: the forward half's last step and the backward half's last (column 0)
    sources = sorted((boxes[a.source].row, boxes[a.source].column) for a in d.arrows_of("output"))
    assert sources == [(1, 4), (2, 0)]


def test_hand_built_functional_models():
    inputs = U.Input((7, 2))
    outputs = U.TimeDistributed(U.Dense(1))(U.GRU(5, return_sequences=True)(inputs))
    d = diagram(U.Model(inputs, outputs))
    assert d.topology == "many-to-many"
    assert _counts(d) == {"input": 7, "cell": 7, "output": 7, "ellipsis": 0}
    assert d.boxes_of("cell")[0].label == "GRU 5"

    encoder_in, decoder_in = U.Input((5, 3)), U.Input((2, 1))
    _, h, c = U.LSTM(6, return_state=True)(encoder_in)
    decoded = U.LSTM(6, return_sequences=True)(decoder_in, initial_state=[h, c])
    d = diagram(U.Model([encoder_in, decoder_in], U.Dense(1)(decoded)))
    assert d.topology == "seq2seq"
    assert _counts(d) == {"input": 7, "cell": 7, "output": 2, "ellipsis": 0}
    assert len(_state_arrows_in_row(d, 1)) == 4 + 1 + 1


def test_models_used_as_layers_are_walked_into():
    encoder = U.Sequential([U.Input((6, 2)), U.LSTM(4)], name="encoder")
    decoder = U.Sequential(
        [U.Input((4,)), U.RepeatVector(6), U.GRU(4, return_sequences=True), U.Dense(2)],
        name="decoder",
    )
    x = U.Input((6, 2))
    d = diagram(U.Model(x, decoder(encoder(x))))
    assert d.topology == "autoencoder"
    assert _counts(d) == {"input": 6, "cell": 12, "output": 6, "ellipsis": 0}
    assert {b.label for b in d.boxes_of("cell") if b.column >= 6} == {"GRU 4"}


def test_token_ids_through_an_embedding_are_a_sequence():
    model = U.Sequential([U.Input((12,)), U.Embedding(100, 8), U.LSTM(4), U.Dense(1)])
    d = diagram(model)
    assert d.topology == "many-to-one"
    assert d.count("input") == 7 and d.count("ellipsis") == 2  # 12 steps: 4 + ... + 3
    assert d.boxes_of("input")[0].label == "x_1 (token)"
    assert "input (samples, timesteps=12)" in d.title


def test_long_sequences_show_first_and_last_steps_around_an_ellipsis():
    model = topologies.many_to_one(timesteps=50, features=1, units=[4, 4])
    d = diagram(model, max_columns=6)
    assert _counts(d) == {"input": 5, "cell": 10, "output": 1, "ellipsis": 3}
    steps = [b.step for b in sorted(d.boxes_of("input"), key=lambda b: b.column)]
    assert steps == [0, 1, 2, 48, 49]
    assert [b.column for b in d.boxes_of("ellipsis")] == [3, 3, 3]
    for row in (1, 2):
        assert len(_state_arrows_in_row(d, row)) == 5  # through the "..." column
    (output,) = d.boxes_of("output")
    assert output.column == 5
    assert d.columns == 6
    default = diagram(model)  # max_columns=8: 4 first, "...", 3 last
    assert default.count("input") == 7 and default.columns == 8


def test_timesteps_argument_must_agree_with_a_fixed_input():
    model = topologies.many_to_one(timesteps=5, features=3)
    assert diagram(model, timesteps=5).count("input") == 5
    with pytest.raises(U.ConfigError, match="takes 5 timesteps"):
        diagram(model, timesteps=7)
    # a vector model's steps come from its layers; the argument does not apply
    assert diagram(topologies.one_to_one(3), timesteps=10).columns == 1
    assert diagram(topologies.one_to_many(4, 1), timesteps=10).count("cell") == 4
    with pytest.raises(U.ConfigError, match="no input shape"):
        diagram(U.Sequential([U.LSTM(4), U.Dense(1)]))
    with pytest.raises(U.ConfigError, match="max_columns"):
        diagram(model, max_columns=2)


def test_svg_parses_with_one_rect_per_input_cell_and_output(tmp_path):
    for model, steps in [
        (topologies.many_to_one(timesteps=5, features=3, units=[8, 4]), None),
        (topologies.many_to_one(timesteps=50, features=1, bidirectional=True), None),
        (topologies.seq2seq(input_steps=6, output_steps=3, features=2, outputs=2), None),
        (topologies.one_to_many(steps=4, features=1, via="feedback"), None),
    ]:
        d = diagram(model, steps, max_columns=6)
        root = ET.fromstring(d.to_svg().split("\n", 1)[1])
        rects = root.findall(f".//{SVG}rect")
        assert len(rects) == d.count("input") + d.count("cell") + d.count("output")
        assert len(root.findall(f".//{SVG}line")) == len(d.arrows)
        path = d.save(tmp_path / "picture.svg")
        assert ET.parse(path).getroot().tag == f"{SVG}svg"


def test_png_is_a_real_picture(tmp_path):
    import matplotlib.image

    d = diagram(topologies.seq2seq(input_steps=12, output_steps=3, features=2, outputs=2))
    path = d.save(tmp_path / "picture.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert float(np.std(pixels)) > 0
    with pytest.raises(U.ConfigError, match=r"\.svg or \.png"):
        d.save(tmp_path / "picture.pdf")
