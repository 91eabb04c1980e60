"""The stack kernel against the reference path: random models the stack planner accepts.

Drawn: one to three recurrent levels (LSTM, GRU, SimpleRNN tanh or relu; each on its own or
in a `Bidirectional` with a merge mode), features, `Masking` or an `Embedding` (with
`mask_zero` or not) in front, a head on the last output or on every step
(`TimeDistributed(Dense)` or `Dense` on the sequence), the loss, activation and metrics,
stateful or not, Adam, SGD or RMSprop, one or two threads. The history (loss and metrics),
weights, optimizer slots and states after training must match `fast_path=False`'s to the
kernels' tolerance. Then the planner's reasons when it declines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

import unrolled
from unrolled.compiled import blas, fit_plan
from unrolled.layers import (
    GRU,
    LSTM,
    Bidirectional,
    Dense,
    Dropout,
    Embedding,
    Input,
    Masking,
    SimpleRNN,
    TimeDistributed,
)

pytest.importorskip("numba")
if blas.missing() is not None:
    pytest.skip(blas.missing(), allow_module_level=True)

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_differential import (  # noqa: E402
    LOSSES,
    OPTIMIZERS,
    RECURRENT,
    SETTINGS,
    Head,
    assert_same_training,
    heads,
)

MERGES = [None, "concat", "sum", "mul", "ave"]  # None: one direction
INPUTS = ["features", "masking", "embedding", "embedding_mask_zero"]
VOCABULARY = 7


@dataclass(frozen=True)
class StackCase:
    levels: tuple[tuple[str, int, str | None], ...]  # (kind, units, merge)
    inputs: str
    head_on: str  # "last", "time_distributed" or "dense" (Dense on the sequence)
    features: int
    steps: int
    outputs: int
    batch: int
    samples: int
    stateful: bool
    use_bias: bool
    optimizer: str
    learning_rate: float
    epochs: int
    threads: int
    seed: int
    head: Head

    @property
    def per_step(self) -> bool:
        return self.head_on != "last"

    @property
    def masked(self) -> bool:
        return self.inputs in ("masking", "embedding_mask_zero")


@st.composite
def stack_cases(draw: st.DrawFn) -> StackCase:
    level = st.tuples(
        st.sampled_from(sorted(RECURRENT)), st.integers(1, 5), st.sampled_from(MERGES)
    )
    levels = tuple(draw(st.lists(level, min_size=1, max_size=3)))
    head_on = draw(st.sampled_from(["last", "time_distributed", "dense"]))
    # a loss on every step takes no mask; one plain level on its last output is not a stack
    inputs = draw(st.sampled_from(INPUTS[::2] if head_on != "last" else INPUTS))
    if len(levels) == 1 and levels[0][2] is None and head_on == "last" and "emb" not in inputs:
        levels = ((levels[0][0], levels[0][1], "concat"),)
    stateful = draw(st.booleans())
    batch = draw(st.integers(1, 6))
    samples = batch * draw(st.integers(1, 3)) if stateful else draw(st.integers(1, 13))
    optimizer = draw(st.sampled_from(sorted(OPTIMIZERS)))
    rates = (1e-3, 1e-2) if optimizer.startswith(("adam", "rmsprop")) else (1e-2, 0.05)
    return StackCase(
        levels=levels,
        inputs=inputs,
        head_on=head_on,
        features=draw(st.integers(1, 4)),
        steps=draw(st.integers(1, 6)),
        outputs=draw(st.integers(1, 3)),
        batch=batch,
        samples=samples,
        stateful=stateful,
        use_bias=draw(st.booleans()),
        optimizer=optimizer,
        learning_rate=draw(st.floats(*rates)),
        epochs=draw(st.integers(1, 2)),
        threads=draw(st.sampled_from([1, 2])),
        seed=draw(st.integers(0, 2**16)),
        head=draw(heads()),
    )


def _outputs(case: StackCase) -> int:
    return case.outputs + (LOSSES[case.head.loss][0] in ("onehot", "ids"))


def _data(case: StackCase) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(case.seed)
    lead = (case.samples, case.steps)
    if case.inputs.startswith("embedding"):
        x = rng.integers(0, VOCABULARY, lead)
        x[rng.random(case.samples) < 0.2] = 0  # rows of padding only
    else:
        x = rng.normal(size=(*lead, case.features)).astype(np.float32)
        if case.masked:  # pre-, post-padding, holes, and rows with no valid step
            masked = rng.random(lead) < 0.3
            masked[rng.random(case.samples) < 0.2] = True
            x[masked] = 0.0
    targets = lead if case.per_step else (case.samples,)
    kind, outputs = LOSSES[case.head.loss][0], _outputs(case)
    if kind == "values":
        y = rng.normal(size=(*targets, outputs)).astype(np.float32)
    elif kind == "binary":
        y = (rng.random((*targets, outputs)) < 0.5).astype(np.float32)
    else:
        ids = rng.integers(0, outputs, targets)
        y = np.eye(outputs, dtype=np.float32)[ids] if kind == "onehot" else ids
    return x, y


def _model(case: StackCase) -> unrolled.Sequential:
    unrolled.set_random_seed(case.seed)
    batch = case.batch if case.stateful else None
    embedded = case.inputs.startswith("embedding")
    shape = (batch, case.steps) if embedded else (batch, case.steps, case.features)
    layers = [Input(batch_shape=shape)]
    if embedded:
        layers.append(Embedding(VOCABULARY, case.features, mask_zero=case.masked))
    elif case.masked:
        layers.append(Masking(0.0))
    for index, (kind, units, merge) in enumerate(case.levels):
        sequences = index < len(case.levels) - 1 or case.per_step
        options = {"stateful": case.stateful, "use_bias": case.use_bias}
        layer = RECURRENT[kind](units, return_sequences=sequences, **options)
        layers.append(layer if merge is None else Bidirectional(layer, merge_mode=merge))
    dense = Dense(_outputs(case), activation=case.head.activation)
    layers.append(TimeDistributed(dense) if case.head_on == "time_distributed" else dense)
    return unrolled.Sequential(layers)


def _slots(model: unrolled.Sequential) -> list[dict[str, np.ndarray]]:
    """Each weight's optimizer slots by name."""
    state = model._trainer.optimizer.state
    return [
        {name: v.detach().numpy() for name, v in state.get(p, {}).items() if hasattr(v, "detach")}
        for p in model.parameters()
    ]


def _assert_same_slots(ours: list[dict], theirs: list[dict]) -> None:
    """Slot by slot; one the reference path never made (a weight that got no gradient, as
    under a wholly masked batch) must be zeros in ours."""
    for mine, reference in zip(ours, theirs, strict=True):
        for name in mine.keys() | reference.keys():
            a = mine.get(name, np.zeros_like(reference.get(name)))
            b = reference.get(name, np.zeros_like(a))
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6, err_msg=name)


@SETTINGS
@given(case=stack_cases())
def test_stack_kernel_fit_matches_the_reference_fit(case: StackCase):
    x, y = _data(case)
    runs = []
    for fast in ("auto", False):
        model = _model(case)
        model.compile(
            OPTIMIZERS[case.optimizer](case.learning_rate),
            LOSSES[case.head.loss][1](case.head),
            metrics=list(case.head.metrics),
            fast_path=fast,
        )
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(fit_plan, "_threads_for", lambda rows, units: case.threads)
            fit = {"shuffle": False} if case.stateful else {"seed": case.seed}
            history = model.fit(x, y, epochs=case.epochs, batch_size=case.batch, verbose=0, **fit)
        runs.append((model, history))
    (fast_model, fast_history), (ref_model, ref_history) = runs
    name, reason = fast_model.last_fit_path
    assert name == "compiled-epoch", reason
    assert "stack kernel" in reason and f"over {case.threads} thread" in reason, reason
    assert_same_training(fast_model, fast_history, ref_model, ref_history)
    _assert_same_slots(_slots(fast_model), _slots(ref_model))


def _declined(layers: list, x: np.ndarray, y: np.ndarray, loss: str = "mse") -> str:
    model = unrolled.Sequential(layers)
    model.compile("adam", loss)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    name, reason = model.last_fit_path
    assert name == "reference"
    return reason


def test_a_loss_on_every_masked_step_is_declined_by_name():
    x, y = np.zeros((4, 3, 2), np.float32), np.zeros((4, 3, 1), np.float32)
    layers = [Input((3, 2)), Masking(0.0), LSTM(3, return_sequences=True)]
    reason = _declined([*layers, TimeDistributed(Dense(1), name="tagger")], x, y)
    assert reason.startswith("tagger: a loss on every step of masked sequences")


def test_declines_name_the_layer_and_option():
    x, y = np.zeros((4, 3, 2), np.float32), np.zeros((4, 1), np.float32)
    lower = GRU(3, return_sequences=True, dropout=0.5, name="lower")
    reason = _declined([Input((3, 2)), lower, LSTM(2), Dense(1)], x, y)
    assert reason.startswith("lower: dropout=0.5 (only 0.0)"), reason
    pair = Bidirectional(SimpleRNN(3, recurrent_dropout=0.2, name="inner"))
    reason = _declined([Input((3, 2)), pair, Dense(1)], x, y)
    assert reason.startswith("forward_inner: recurrent_dropout=0.2 (only 0.0)"), reason
    ids = np.ones((4, 3), np.int64)
    table = Embedding(5, 2, embeddings_regularizer="l2", name="table")
    reason = _declined([Input((3,)), table, LSTM(2), Dense(1)], ids, y)
    assert reason.startswith("table: embeddings_regularizer="), reason
    reason = _declined(
        [Input((3, 2)), LSTM(3, return_sequences=True), Dropout(0.1), LSTM(2), Dense(1)], x, y
    )
    assert "LSTM -> Dropout -> LSTM -> Dense" in reason, reason


def test_token_ids_outside_the_vocabulary_go_to_the_reference_path_and_its_error():
    model = unrolled.Sequential([Input((3,)), Embedding(5, 2), LSTM(2), Dense(1)])
    model.compile("adam", "mse")
    with pytest.raises(Exception, match="5|vocabulary|index|range"):
        model.fit(np.full((4, 3), 9), np.zeros((4, 1)), verbose=0)


def test_one_layer_returning_sequences_into_dense_trains_on_the_stack_kernel():
    """The single-layer kernels decline `LSTM(return_sequences=True) -> Dense` (they train on
    the last output); the stack kernel takes it, with Dense on every step."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 4, 2)).astype(np.float32), rng.normal(size=(6, 4, 1))
    runs = []
    for fast in ("auto", False):
        unrolled.set_random_seed(0)
        model = unrolled.Sequential([Input((4, 2)), LSTM(3, return_sequences=True), Dense(1)])
        model.compile("adam", "mse", fast_path=fast)
        runs.append((model, model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)))
    (fast_model, fast_history), (ref_model, ref_history) = runs
    assert fast_model.last_fit_path.name == "compiled-epoch", fast_model.last_fit_path.reason
    np.testing.assert_allclose(fast_history.history["loss"], ref_history.history["loss"], rtol=1e-5)
    for ours, theirs in zip(fast_model.get_weights(), ref_model.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def _encoder_decoder(kind: str, head: str = "time_distributed") -> unrolled.Model:
    unrolled.set_random_seed(3)
    layer = RECURRENT[kind]
    encoder_input, decoder_input = Input((5, 3)), Input((4, 2))
    encoded = layer(6, return_state=True)(encoder_input)
    decoded = layer(6, return_sequences=True)(decoder_input, initial_state=list(encoded[1:]))
    dense = Dense(3, activation="softmax")
    output = TimeDistributed(dense)(decoded) if head == "time_distributed" else dense(decoded)
    return unrolled.Model([encoder_input, decoder_input], output)


@pytest.mark.parametrize("kind", sorted(RECURRENT))
@pytest.mark.parametrize("head", ["time_distributed", "dense"])
def test_an_encoder_decoder_trains_on_the_stack_kernel(kind, head):
    """Teacher forcing: the encoder's final states start the decoder; the gradient by them
    flows back into the encoder. Against the reference path."""
    rng = np.random.default_rng(1)
    x = [
        rng.normal(size=(10, 5, 3)).astype(np.float32),
        rng.normal(size=(10, 4, 2)).astype(np.float32),
    ]
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, (10, 4))]
    runs = []
    for fast in ("auto", False):
        model = _encoder_decoder(kind, head)
        model.compile(
            unrolled.optimizers.RMSprop(0.01),
            "categorical_crossentropy",
            metrics=["accuracy"],
            fast_path=fast,
        )
        runs.append((model, model.fit(x, y, batch_size=4, epochs=2, verbose=0, seed=1)))
    (fast_model, fast_history), (ref_model, ref_history) = runs
    name, reason = fast_model.last_fit_path
    assert name == "compiled-epoch", reason
    assert "encoder -> " in reason and " decoder -> " in reason, reason
    for key, values in ref_history.history.items():
        np.testing.assert_allclose(fast_history.history[key], values, rtol=1e-5, atol=1e-6)
    for ours, theirs in zip(fast_model.get_weights(), ref_model.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_other_graphs_decline_naming_the_encoder_decoder_they_are_not():
    first, second = Input((5, 3)), Input((4, 2))
    merged = LSTM(4)(first)  # the decoder does not start from the encoder's states
    model = unrolled.Model([first, second], Dense(1)(merged))
    model.compile("adam", "mse")
    x = [np.zeros((4, 5, 3), np.float32), np.zeros((4, 4, 2), np.float32)]
    model.fit(x, np.zeros((4, 1)), verbose=0)
    name, reason = model.last_fit_path
    assert name == "reference"
    assert reason.startswith("a functional model is compiled as an encoder-decoder"), reason


@pytest.mark.parametrize("size, parts", [(32, 2), (31, 2), (7, 3), (1, 2), (5, 1)])
def test_padded_batches_deal_each_thread_its_share_of_every_length(size, parts):
    """The sorted rows dealt to the threads' groups: every row once, each group its planned
    size and still sorted (so its padded rows stay contiguous), and the longest sequences
    shared out, not all in one group (which left the other thread waiting)."""
    from unrolled.compiled.stack_kernel import _dealt, _sorted_batch

    rng = np.random.default_rng(size)
    lengths = rng.integers(1, 20, size)
    valid = (np.arange(20)[None, :] >= 20 - lengths[:, None]).astype(np.uint8)  # pre-padded
    ordered = _sorted_batch(np.arange(size), valid)
    dealt = _dealt(ordered, parts)
    assert sorted(dealt.tolist()) == list(range(size))
    rank = {row: i for i, row in enumerate(ordered.tolist())}
    for p in range(parts):
        group = dealt[p * size // parts : (p + 1) * size // parts].tolist()
        assert len(group) == (p + 1) * size // parts - p * size // parts
        assert [rank[r] for r in group] == sorted(rank[r] for r in group)
        if parts > 1 and size >= 2 * parts:  # round-robin: a row of the top `parts` each
            assert any(rank[r] < parts for r in group)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("clip", [{}, {"global_clipnorm": 0.05}, {"clipvalue": 0.01}], ids=str)
def test_an_embedding_trained_over_many_batches_matches_the_reference(threads, clip):
    """The kernel zeroes only the rows of each batch's tokens in the Embedding's gradient
    (a norm's clipping: the whole vector). Batches of disjoint vocabularies, then shared
    ones, over three epochs: a row left over from an earlier batch would move its weights
    again, and Adam's moments with them."""
    rng = np.random.default_rng(7)
    ids = np.concatenate([rng.integers(1, 10, (8, 6)), rng.integers(10, 20, (8, 6))])
    ids[rng.random(ids.shape) < 0.3] = 0  # padding, masked
    y = rng.normal(size=(16, 1)).astype(np.float32)
    runs = []
    for fast in ("auto", False):
        unrolled.set_random_seed(4)
        model = unrolled.Sequential(
            [Input((6,)), Embedding(20, 4, mask_zero=True), LSTM(5), Dense(1)]
        )
        model.compile(unrolled.optimizers.Adam(0.05, **clip), "mse", fast_path=fast)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(fit_plan, "_threads_for", lambda rows, units: threads)
            patch.setattr(fit_plan, "MAX_WORK_PER_BATCH", 0)  # the stack kernel, not the row one
            history = model.fit(ids, y, batch_size=8, epochs=3, verbose=0, shuffle=False)
        runs.append((model, history))
    (fast_model, fast_history), (ref_model, ref_history) = runs
    name, reason = fast_model.last_fit_path
    assert name == "compiled-epoch" and f"over {threads} thread" in reason, reason
    assert_same_training(fast_model, fast_history, ref_model, ref_history)
