"""Generated calls to layers: shapes, dtypes, non-finite values, masks, states, constructor
arguments. Each works and matches the NumPy reference (`numpy_rnn`), or is refused by one
of our errors naming the argument."""

from __future__ import annotations

import functools

import numpy as np
import numpy_rnn
import torch
from hypothesis import given
from hypothesis import strategies as st
from robustness.contract import Worked, attempt, counted, names_in, refused, worked

import unrolled
from unrolled import activations, initializers
from unrolled.errors import shape_str

U, F = 3, 2
RECURRENT = [unrolled.LSTM, unrolled.GRU, unrolled.SimpleRNN]
STEPS = {
    unrolled.LSTM: numpy_rnn.lstm_step,
    unrolled.GRU: numpy_rnn.gru_step,
    unrolled.SimpleRNN: numpy_rnn.simple_rnn_step,
}
TOL = {"rtol": 1e-4, "atol": 1e-5}

recurrent_classes = st.sampled_from(RECURRENT)
paths = st.sampled_from(["auto", False])  # the fused operator or the step loop


def reference(layer, x, mask=None, initial_state=None):
    """The layer's output computed in float64 NumPy from its own weights."""
    x = np.asarray(x, dtype=np.float64)
    sizes = [U, U] if isinstance(layer, unrolled.LSTM) else [U]
    states = initial_state or [np.zeros((x.shape[0], s)) for s in sizes]
    step = functools.partial(STEPS[type(layer)], weights=layer.get_weights())
    outputs, _ = numpy_rnn.run(step, x, states, mask)
    return outputs if layer.return_sequences else outputs[:, -1]


def built(cls, use_cudnn="auto", **options):
    layer = cls(U, use_cudnn=use_cudnn, **options)
    layer(torch.zeros(2, 3, F))
    return layer


def shape_kind(shape, built_features):
    if len(shape) != 3:
        return "wrong rank"
    if shape[0] == 0:
        return "zero samples"
    if shape[1] == 0:
        return "zero timesteps"
    if shape[2] == 0:
        return "zero features"
    if built_features is not None and shape[2] != built_features:
        return "feature size changed after build"
    return "valid input"


@given(
    cls=recurrent_classes,
    use_cudnn=paths,
    is_built=st.booleans(),
    shape=st.lists(st.integers(0, 4), max_size=5).map(tuple),
    seed=st.integers(0, 2**16),
)
@counted
def test_recurrent_layers_run_3d_inputs_and_refuse_every_other_shape(
    cls, use_cudnn, is_built, shape, seed
):
    layer = built(cls, use_cudnn) if is_built else cls(U, use_cudnn=use_cudnn)
    x = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    kind = shape_kind(shape, F if is_built else None)
    outcome = attempt(kind, lambda: layer(x), "inputs")
    if kind == "valid input":
        np.testing.assert_allclose(outcome.value.detach().numpy(), reference(layer, x), **TOL)
    else:
        message = str(outcome.error)
        assert "(samples, timesteps, features)" in message
        assert shape_str(shape) in message


@given(
    layer_kind=st.sampled_from(["dense", "repeat_vector", "time_distributed", "flatten"]),
    is_built=st.booleans(),
    shape=st.lists(st.integers(0, 4), max_size=4).map(tuple),
)
@counted
def test_core_layers_run_the_ranks_they_take_and_refuse_the_others(layer_kind, is_built, shape):
    layer = {
        "dense": lambda: unrolled.Dense(U),
        "repeat_vector": lambda: unrolled.RepeatVector(2),
        "time_distributed": lambda: unrolled.TimeDistributed(unrolled.Dense(U)),
        "flatten": lambda: unrolled.Flatten(),
    }[layer_kind]()
    first = {"dense": (2, F), "time_distributed": (2, 3, F)}  # the layers with weights
    if is_built and layer_kind in first:
        layer(torch.zeros(first[layer_kind]))
    x = torch.randn(shape)
    rank_ok = {
        "dense": len(shape) >= 2,
        "repeat_vector": len(shape) == 2,
        "time_distributed": len(shape) >= 3,
        "flatten": len(shape) >= 1,
    }[layer_kind]
    features_ok = not (is_built and layer_kind in first) or shape[-1:] == (F,)
    if not rank_ok:
        refused("wrong rank", lambda: layer(x), "inputs")
        return
    if not features_ok:
        refused("feature size changed after build", lambda: layer(x), "inputs")
        return
    got = attempt("valid input" if 0 not in shape else "empty axis", lambda: layer(x), "inputs")
    if layer_kind == "dense" and isinstance(got, Worked):
        kernel, bias = (w.detach() for w in layer.weights)
        torch.testing.assert_close(got.value, x @ kernel + bias)


DTYPES = ["float16", "float32", "float64", "int8", "int32", "int64", "uint8", "bool"]
REFUSED_DTYPES = ["complex64", "complex128", "str", "bytes", "object"]


@given(
    cls=recurrent_classes,
    use_cudnn=paths,
    dtype=st.sampled_from(DTYPES + REFUSED_DTYPES),
    as_tensor=st.booleans(),
    values=st.lists(st.integers(-3, 3), min_size=12, max_size=12),
)
@counted
def test_numeric_dtypes_convert_as_keras_does_and_others_are_refused(
    cls, use_cudnn, dtype, as_tensor, values
):
    layer = built(cls, use_cudnn)
    numbers = np.asarray(values, dtype=np.float64).reshape(2, 3, F)  # exact in every dtype
    if dtype in REFUSED_DTYPES:
        x = numbers.astype(dtype)
        if as_tensor and dtype.startswith("complex"):
            x = torch.from_numpy(x)
        refused(f"{dtype} inputs", lambda: layer(x), "inputs")
        return
    x = numbers.astype(dtype) if dtype != "bool" else numbers > 0
    if as_tensor:
        x = torch.from_numpy(np.ascontiguousarray(x))
    out = worked(f"{dtype} inputs", lambda x=x: layer(x))
    assert out.dtype == torch.float32
    same = np.asarray(x, dtype=np.float64)  # the values the layer must have seen
    np.testing.assert_allclose(out.detach().numpy(), reference(layer, same), **TOL)


@given(
    cls=recurrent_classes,
    use_cudnn=paths,
    bad_row=st.integers(0, 2),
    step=st.integers(0, 2),
    value=st.sampled_from([np.nan, np.inf, -np.inf]),
    seed=st.integers(0, 2**16),
)
@counted
def test_a_nonfinite_input_value_stays_in_its_own_sample(
    cls, use_cudnn, bad_row, step, value, seed
):
    # Keras computes on; unrolled too (fit refuses such data, see test_robust_models).
    layer = built(cls, use_cudnn)
    x = np.random.default_rng(seed).normal(size=(3, 3, F)).astype(np.float32)
    x[bad_row, step, 0] = value
    out = worked("NaN or inf in layer inputs", lambda: layer(x)).detach().numpy()
    clean = [r for r in range(3) if r != bad_row]
    np.testing.assert_allclose(out[clean], reference(layer, x[clean]), **TOL)


@given(
    cls=recurrent_classes,
    use_cudnn=paths,
    shape=st.sampled_from([(2, 4), (2, 4, 1), (2, 3), (3, 4), (4,), (2, 4, 2), (2, 4, 1, 1)]),
    dtype=st.sampled_from(["bool", "int64", "float32", "float64", "complex64", "str"]),
    bits=st.lists(st.booleans(), min_size=8, max_size=8),
)
@counted
def test_masks_of_the_right_shape_run_and_others_are_refused(cls, use_cudnn, shape, dtype, bits):
    layer = built(cls, use_cudnn, return_sequences=True)
    x = np.random.default_rng(len(bits)).normal(size=(2, 4, F)).astype(np.float32)
    size = int(np.prod(shape))
    pattern = np.resize(np.asarray(bits), size).reshape(shape)
    mask = pattern.astype(dtype) if dtype != "str" else np.where(pattern, "y", "n")
    if dtype.startswith("complex") or dtype == "str":
        refused(f"mask of dtype {dtype}", lambda: layer(x, mask=mask), "mask")
        return
    if shape not in ((2, 4), (2, 4, 1)):
        error = refused("mask of the wrong shape", lambda: layer(x, mask=mask), "mask")
        assert "(samples, timesteps)" in str(error) and shape_str(shape) in str(error)
        return
    out = worked(f"mask of dtype {dtype}", lambda: layer(x, mask=mask))
    want = reference(layer, x, mask=pattern.reshape(2, 4))
    np.testing.assert_allclose(out.detach().numpy(), want, **TOL)


@given(
    cls=recurrent_classes,
    use_cudnn=paths,
    shapes=st.lists(st.sampled_from([(2, U), (2, U + 1), (3, U), (2,), (2, U, 1)]), max_size=3),
)
@counted
def test_initial_states_must_match_the_cell_in_number_and_shape(cls, use_cudnn, shapes):
    layer = built(cls, use_cudnn)
    x = np.random.default_rng(1).normal(size=(2, 3, F)).astype(np.float32)
    states = [
        np.random.default_rng(i).normal(size=s).astype(np.float32) for i, s in enumerate(shapes)
    ]
    expected = 2 if cls is unrolled.LSTM else 1
    if not shapes:
        return  # initial_state=[] is not a mistake users make; None is the default
    if len(shapes) != expected:
        refused(
            "wrong number of initial states",
            lambda: layer(x, initial_state=states),
            "initial_state",
        )
        return
    if any(s != (2, U) for s in shapes):
        refused(
            "initial state of the wrong shape",
            lambda: layer(x, initial_state=states),
            "initial_state",
        )
        return
    out = worked("initial states", lambda: layer(x, initial_state=states))
    np.testing.assert_allclose(
        out.detach().numpy(), reference(layer, x, initial_state=states), **TOL
    )


@given(
    cls=recurrent_classes,
    use_cudnn=paths,
    batches=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    restart=st.booleans(),
)
@counted
def test_stateful_layers_keep_the_batch_size_they_started_with(cls, use_cudnn, batches, restart):
    layer = cls(U, stateful=True, use_cudnn=use_cudnn)
    fixed = batches[0]
    for size in batches:
        x = torch.randn(size, 2, F)
        if size == fixed:
            worked("stateful batch of the fixed size", lambda x=x: layer(x))
            continue
        error = refused("stateful batch-size mismatch", lambda x=x: layer(x), "batch_size")
        assert f"fixes the batch size at {fixed}" in str(error)
        if restart:
            layer.reset_states(batch_size=size)
            fixed = size
            worked("stateful batch after reset_states(batch_size=...)", lambda x=x: layer(x))


number_like = st.one_of(
    st.integers(-3, 6),
    st.floats(-3, 6),
    st.sampled_from([np.nan, np.inf, -np.inf]),
    st.sampled_from([None, True, False, "4", "four", [4], np.int64(3), np.float32(2.0)]),
)


def is_positive_integer(value):
    return not isinstance(value, bool) and isinstance(value, (int, np.integer)) and int(value) > 0


@given(
    make=st.sampled_from(
        [
            ("units", unrolled.LSTM),
            ("units", unrolled.GRU),
            ("units", unrolled.SimpleRNN),
            ("units", unrolled.Dense),
            ("units", unrolled.LSTMCell),
            ("units", unrolled.GRUCell),
            ("units", unrolled.SimpleRNNCell),
            ("output_dim", lambda v: unrolled.Embedding(10, v)),
            ("input_dim", lambda v: unrolled.Embedding(v, 3)),
            ("n", unrolled.RepeatVector),
        ]
    ),
    value=number_like,
)
@counted
def test_sizes_must_be_positive_integers(make, value):
    argument, constructor = make
    outcome = attempt(
        f"non-positive or non-integer {argument}", lambda: constructor(value), argument
    )
    assert is_positive_integer(value) == hasattr(outcome, "value"), (argument, value)


rates = st.one_of(st.floats(-1, 2), st.sampled_from([np.nan, np.inf, "0.5", None, True]))


@given(
    cls=recurrent_classes,
    argument=st.sampled_from(["dropout", "recurrent_dropout"]),
    value=rates,
)
@counted
def test_dropout_rates_must_lie_in_the_unit_interval(cls, argument, value):
    outcome = attempt("dropout rate", lambda: cls(U, **{argument: value}), argument)
    # Numbers and numeric strings in [0, 1] (tests/test_errors.py); True is not 1.0.
    valid = not isinstance(value, bool) and value is not None and 0.0 <= float(value) <= 1.0
    assert valid == hasattr(outcome, "value"), (argument, value)


ACTIVATION_NAMES = sorted(activations._BY_NAME)
INITIALIZER_NAMES = sorted(initializers._BY_NAME)


def typos(names):
    """Known names, and near misses: a character dropped, doubled or appended."""
    known = st.sampled_from(names)
    dropped = st.tuples(known, st.integers(0, 20)).map(lambda p: p[0][: p[1]] + p[0][p[1] + 1 :])
    doubled = st.tuples(known, st.integers(0, 20)).map(
        lambda p: p[0][: p[1]] + p[0][p[1] :][:1] + p[0][p[1] :]
    )
    appended = st.tuples(known, st.sampled_from(["x", "s", "_", "2"])).map("".join)
    garbage = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_ ", min_size=0, max_size=10)
    return st.one_of(known, dropped, doubled, appended, garbage, st.sampled_from([5, 1.5, b"relu"]))


@given(
    cls=st.sampled_from([*RECURRENT, unrolled.Dense]),
    argument=st.sampled_from(["activation", "recurrent_activation"]),
    name=typos(ACTIVATION_NAMES),
)
@counted
def test_unknown_activation_names_are_refused_naming_the_argument(cls, argument, name):
    if cls in (unrolled.Dense, unrolled.SimpleRNN) and argument == "recurrent_activation":
        argument = "activation"
    outcome = attempt("unknown activation name", lambda: cls(U, **{argument: name}), argument)
    known = isinstance(name, str) and name.lower() in ACTIVATION_NAMES
    assert known == hasattr(outcome, "value"), (argument, name)
    if not known and isinstance(name, str):
        assert repr(name) in str(outcome.error)


@given(
    cls=st.sampled_from([*RECURRENT, unrolled.Dense]),
    argument=st.sampled_from(["kernel_initializer", "recurrent_initializer", "bias_initializer"]),
    name=typos(INITIALIZER_NAMES),
)
@counted
def test_unknown_initializer_names_are_refused_naming_the_argument(cls, argument, name):
    if cls is unrolled.Dense and argument == "recurrent_initializer":
        argument = "kernel_initializer"
    outcome = attempt("unknown initializer name", lambda: cls(U, **{argument: name}), argument)
    known = isinstance(name, str) and initializers._canonical(name) in INITIALIZER_NAMES
    assert known == hasattr(outcome, "value"), (argument, name)


@given(
    mode=st.one_of(
        st.sampled_from(["concat", "sum", "mul", "ave", None]),
        typos(["concat", "sum", "mul", "ave"]),
    ),
    seed=st.integers(0, 2**16),
)
@counted
def test_unknown_merge_modes_are_refused_and_known_ones_merge_both_directions(mode, seed):
    outcome = attempt(
        "unknown merge mode",
        lambda: unrolled.Bidirectional(unrolled.LSTM(U, return_sequences=True), merge_mode=mode),
        "merge_mode",
    )
    if mode not in ("concat", "sum", "mul", "ave", None):
        assert hasattr(outcome, "error") and names_in(str(outcome.error), ["merge_mode"])
        return
    layer = outcome.value
    x = torch.from_numpy(np.random.default_rng(seed).normal(size=(2, 3, F)).astype(np.float32))
    out = worked("merge mode", lambda x=x: layer(x))
    forward = layer.forward_layer(x)
    backward = layer.backward_layer(x).flip(1)
    want = {
        "concat": lambda: torch.cat([forward, backward], -1),
        "sum": lambda: forward + backward,
        "mul": lambda: forward * backward,
        "ave": lambda: (forward + backward) / 2,
        None: lambda: [forward, backward],
    }[mode]()
    torch.testing.assert_close(out, want)


@given(
    ids=st.lists(
        st.one_of(st.integers(-2, 11), st.sampled_from([0.5, 2.0, np.nan])), min_size=1, max_size=6
    ),
    dtype=st.sampled_from(["int64", "int32", "float32", "float64", "complex64", "str"]),
    mask_zero=st.booleans(),
)
@counted
def test_embedding_takes_indices_below_input_dim_and_refuses_the_rest(ids, dtype, mask_zero):
    layer = unrolled.Embedding(10, 3, mask_zero=mask_zero)
    values = np.asarray(ids, dtype=np.float64).reshape(1, -1)
    if dtype.startswith("int"):
        values = np.nan_to_num(values, nan=0.0)
    x = values.astype(dtype) if dtype != "str" else values.astype(str)
    call = lambda: layer(x)  # noqa: E731
    if dtype in ("complex64", "str"):
        refused(f"{dtype} indices", call, "inputs")
        return
    values = x.astype(np.float64)  # what the layer receives (ints already truncated by numpy)
    if np.isnan(values).any() or (values != np.round(values)).any():
        refused("fractional indices", call, "inputs")
    elif (values < 0).any() or (values >= 10).any():
        refused("indices outside input_dim", call, "inputs")
    else:
        out = worked("embedding lookup", call)
        want = layer.embeddings.detach().numpy()[values.astype(int)]
        np.testing.assert_allclose(out.detach().numpy(), want)
