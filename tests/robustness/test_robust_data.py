"""Generated calls to the data tools: windows, pad_sequences, the scalers, stateful_batches
and the chronological splits. Each works and matches a loop written from the docstring, or
is refused by one of our errors naming the argument."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from robustness.contract import counted, refused, worked

import unrolled

NUMERIC = ["float16", "float32", "float64", "int32", "int64", "uint8", "bool"]
NON_REAL = ["complex64", "str", "object"]


def positive(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0


def with_dtype(values, dtype):
    if dtype == "bool":
        return values > 0
    if dtype == "str":
        return values.astype(str)
    if dtype == "object":
        return values.astype(object)
    return values.astype(dtype)


# -- windows -----------------------------------------------------------------------------------
def windows_by_loop(series, look_back, horizon, stride):
    data = series[:, None] if series.ndim == 1 else series
    xs, ys = [], []
    start = 0
    while start + look_back + horizon <= len(data):
        xs.append(data[start : start + look_back])
        ys.append(data[start + look_back : start + look_back + horizon].reshape(-1))
        start += stride
    return np.asarray(xs), np.asarray(ys)


bad_counts = st.sampled_from([0, -1, 2.5, 2.0, "3", True, None, np.nan])


@given(
    mistake=st.sampled_from(
        [
            None,
            None,
            None,
            "look_back",
            "horizon",
            "stride",
            "dtype",
            "rank",
            "nan",
            "short",
            "width",
        ]
    ),
    timesteps=st.integers(6, 9),
    features=st.integers(0, 2),
    dtype=st.sampled_from(NUMERIC),
    sizes=st.tuples(st.integers(1, 3), st.integers(1, 2), st.integers(1, 3)),
    bad=bad_counts,
    draw=st.data(),
)
@counted
def test_windows_cut_every_window_or_name_what_is_wrong(
    mistake, timesteps, features, dtype, sizes, bad, draw
):
    look_back, horizon, stride = sizes
    shape = (timesteps,) if features == 0 else (timesteps, features)
    if mistake == "rank":
        shape = draw.draw(st.sampled_from([(), (2, 3, 4), (timesteps, 1, 1)]))
    if mistake == "short":
        shape = (look_back + horizon - 1, *shape[1:])
    if mistake == "width":
        shape = (timesteps, 0)
    values = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape) % 7
    if mistake == "nan":
        dtype = "float32"
        values.flat[len(values.flat) // 2] = draw.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    if mistake == "dtype":
        dtype = draw.draw(st.sampled_from(NON_REAL))
    series = with_dtype(values, dtype)
    arguments = {"look_back": look_back, "horizon": horizon, "stride": stride}
    if mistake in arguments:
        arguments[mistake] = bad
    call = lambda: unrolled.windows(series, **arguments)  # noqa: E731
    names = {
        "look_back": "non-positive or non-integer look_back",
        "horizon": "non-positive or non-integer horizon",
        "stride": "non-positive or non-integer stride",
        "dtype": "non-real series",
        "rank": "wrong rank series",
        "nan": "NaN or inf in a series",
        "short": "series shorter than a window",
        "width": "series without features",
    }
    if mistake is None:
        x, y = worked("windows", call)
        want_x, want_y = windows_by_loop(np.asarray(series), look_back, horizon, stride)
        np.testing.assert_array_equal(x, want_x)
        np.testing.assert_array_equal(y, want_y)
    else:
        argument = mistake if mistake in arguments else "series"
        refused(names[mistake], call, argument)


# -- pad_sequences -----------------------------------------------------------------------------
def pad_by_loop(sequences, maxlen, dtype, padding, truncating, value):
    length = max((len(s) for s in sequences), default=0) if maxlen is None else maxlen
    out = np.full((len(sequences), length), value, dtype=dtype)
    for row, seq in enumerate(sequences):
        kept = seq[-length:] if truncating == "pre" else seq[:length]
        if not length or not len(kept):
            continue
        if padding == "post":
            out[row, : len(kept)] = kept
        else:
            out[row, length - len(kept) :] = kept
    return out


@given(
    mistake=st.sampled_from(
        [None, None, None, "padding", "truncating", "maxlen", "dtype", "fraction", "value"]
    ),
    sequences=st.lists(st.lists(st.integers(-5, 5), max_size=5), max_size=4),
    maxlen=st.one_of(st.none(), st.integers(0, 6)),
    dtype=st.sampled_from(["int32", "float32", "int64", "float64"]),
    padding=st.sampled_from(["pre", "post"]),
    truncating=st.sampled_from(["pre", "post"]),
    value=st.sampled_from([0, -1, 0.5, np.nan]),
    draw=st.data(),
)
@counted
def test_pad_sequences_pads_like_keras_or_names_the_argument(
    mistake, sequences, maxlen, dtype, padding, truncating, value, draw
):
    integer = dtype.startswith("int")
    if integer and not (value == value and value == int(value)):
        value = 0  # a float padding value with an integer dtype is a mistake of its own
    if mistake == "padding":
        padding = draw.draw(st.sampled_from(["middle", "Pre", None]))
    if mistake == "truncating":
        truncating = draw.draw(st.sampled_from(["end", None, 1]))
    if mistake == "maxlen":
        maxlen = draw.draw(st.sampled_from([-1, 2.5, "3", True]))
    if mistake == "dtype":
        dtype = draw.draw(st.sampled_from(["nonsense", "int33", 5]))
    if mistake == "fraction":
        dtype = "int32"
        sequences = [*sequences, [1, draw.draw(st.sampled_from([0.5, -1.5, np.nan]))]]
    if mistake == "value":
        dtype, value = "int32", draw.draw(st.sampled_from([0.5, np.nan, np.inf]))
    call = lambda: unrolled.pad_sequences(  # noqa: E731
        sequences, maxlen=maxlen, dtype=dtype, padding=padding, truncating=truncating, value=value
    )
    if mistake is None:
        got = worked("pad_sequences", call)
        want = pad_by_loop(sequences, maxlen, dtype, padding, truncating, value)
        np.testing.assert_array_equal(got, want)
        assert got.dtype == np.dtype(dtype)
        return
    kinds = {
        "padding": ("unknown padding", "padding"),
        "truncating": ("unknown truncating", "truncating"),
        "maxlen": ("bad maxlen", "maxlen"),
        "dtype": ("unknown dtype", "dtype"),
        "fraction": ("values an integer dtype would truncate", "dtype"),
        "value": ("padding value an integer dtype cannot hold", "value"),
    }
    kind, argument = kinds[mistake]
    refused(kind, call, argument)


@given(
    sequences=st.sampled_from(
        [5, None, "abc", [1, 2], [[1], 2], [["a", "b"]], [[[1, 2], [3]]], [[1j]], [[None]]]
    )
)
@counted
def test_pad_sequences_refuses_what_is_not_a_list_of_number_sequences(sequences):
    refused("not a list of sequences", lambda: unrolled.pad_sequences(sequences), "sequences")


# -- scalers -----------------------------------------------------------------------------------
@given(
    cls=st.sampled_from([unrolled.MinMaxScaler, unrolled.StandardScaler]),
    mistake=st.sampled_from([None, None, None, "dtype", "empty", "nan", "features"]),
    shape=st.sampled_from([(6,), (5, 1), (5, 2), (2, 3, 2), (4, 3)]),
    dtype=st.sampled_from(["float32", "float64", "int64", "uint8", "bool"]),
    draw=st.data(),
    seed=st.integers(0, 2**16),
)
@counted
def test_scalers_scale_by_the_formula_or_name_x(cls, mistake, shape, dtype, draw, seed):
    values = np.random.default_rng(seed).integers(0, 9, size=shape).astype(np.float64)
    if mistake == "empty":
        values = np.zeros(draw.draw(st.sampled_from([(), (0,), (3, 0), (0, 2, 2)])))
    if mistake == "nan":
        dtype = "float64"
        values.flat[seed % values.size] = draw.draw(st.sampled_from([np.nan, np.inf]))
    if mistake == "dtype":
        dtype = draw.draw(st.sampled_from(NON_REAL))
    x = with_dtype(values, dtype)
    scaler = cls()
    kinds = {"dtype": "non-real data to a scaler", "empty": "empty or scalar data to a scaler"}
    kinds["nan"] = "NaN or inf in a scaler's data"
    if mistake in kinds:
        refused(kinds[mistake], lambda: scaler.fit(x), "x")
        return
    scaled = worked("scaler fit_transform", lambda: scaler.fit(x).transform(x))
    columns = np.asarray(x, dtype=np.float64).reshape(-1, 1 if len(shape) == 1 else shape[-1])
    if cls is unrolled.MinMaxScaler:
        low, high = columns.min(0), columns.max(0)
        want = (columns - low) / np.where(high > low, high - low, 1.0)
    else:
        mean, std = columns.mean(0), columns.std(0)
        want = (columns - mean) / np.where(std > 0, std, 1.0)
    np.testing.assert_allclose(scaled.reshape(columns.shape), want, rtol=1e-5, atol=1e-5)
    back = scaler.inverse_transform(scaled).reshape(columns.shape)
    np.testing.assert_allclose(back, columns, rtol=1e-5, atol=1e-5)
    if mistake == "features":
        other = np.zeros((3, columns.shape[1] + draw.draw(st.sampled_from([-1, 1, 2]))))
        refused("other feature count after fit", lambda: scaler.transform(other), "x")


# -- stateful_batches --------------------------------------------------------------------------
@given(
    mistake=st.sampled_from(
        [None, None, None, "batch_size", "steps", "no series", "empty series", "widths", "targets"]
    ),
    lengths=st.lists(st.integers(1, 7), min_size=1, max_size=5),
    width=st.integers(0, 2),
    batch_size=st.integers(1, 3),
    steps=st.integers(1, 3),
    with_targets=st.booleans(),
    bad=bad_counts,
)
@counted
def test_stateful_batches_lay_out_every_step_once_or_name_the_argument(
    mistake, lengths, width, batch_size, steps, with_targets, bad
):
    def series_of(n, i, w=width):
        values = np.arange(n * max(w, 1), dtype=np.float32) + 100 * i
        return values if w == 0 else values.reshape(n, w)

    series = [series_of(n, i) for i, n in enumerate(lengths)]
    if mistake == "no series":
        series = []
    if mistake == "empty series":
        series.append(series_of(0, 9))
    if mistake == "widths":
        series.append(series_of(3, 9, w=max(width, 1) + 1))
    targets = [s * 2 for s in series] if with_targets or mistake == "targets" else None
    if mistake == "targets":
        targets[0] = targets[0][:-1] if len(targets[0]) > 1 else targets[0][:0]
    if mistake == "batch_size":
        batch_size = bad
    if mistake == "steps":
        steps = bad
    call = lambda: unrolled.stateful_batches(series, batch_size, steps, targets=targets)  # noqa: E731
    kinds = {
        "batch_size": ("bad stateful batch_size", "batch_size"),
        "steps": ("bad steps_per_batch", "steps_per_batch"),
        "no series": ("no series", "sequences"),
        "empty series": ("an empty series", "sequences"),
        "widths": ("series with different feature counts", "sequences"),
        "targets": ("targets of other lengths", "targets"),
    }
    if mistake is not None:
        kind, argument = kinds[mistake]
        names = ("targets", "targets[0]") if mistake == "targets" else (argument,)
        refused(kind, call, *names)
        return
    b = worked("stateful_batches", call)
    assert len(b.x) % batch_size == 0
    assert b.mask.sum() == sum(lengths)
    for got, want in zip(b.unbatch(b.x), series):
        np.testing.assert_array_equal(got, want.reshape(len(want), -1))
    if with_targets:
        for got, want in zip(b.unbatch(b.y), targets):
            np.testing.assert_array_equal(got, want.reshape(len(want), -1))


# -- splits ------------------------------------------------------------------------------------
@given(
    length=st.integers(0, 8),
    test_size=st.one_of(st.integers(-1, 9), st.floats(-0.5, 1.5), st.sampled_from(["0.2", None])),
    look_back=st.one_of(st.integers(-1, 4), st.sampled_from([1.5, None])),
)
@counted
def test_split_series_keeps_every_step_in_order_or_names_the_argument(length, test_size, look_back):
    series = np.arange(length)
    call = lambda: unrolled.split_series(series, test_size=test_size, look_back=look_back)  # noqa: E731
    if isinstance(test_size, float) and 0 < test_size < 1:
        test = int(np.ceil(test_size * length - 1e-9))
    elif positive(test_size):
        test = test_size
    else:
        test = 0
    if not 0 < test < length:
        refused("test_size leaving no train or test part", call, "test_size")
        return
    if not (positive(look_back) or look_back == 0) or look_back > length - test:
        refused("bad look_back for a split", call, "look_back")
        return
    train, test_part = worked("split_series", call)
    np.testing.assert_array_equal(train, series[: length - test])
    np.testing.assert_array_equal(test_part, series[length - test - look_back :])


@given(
    x_len=st.integers(0, 6),
    y_len=st.one_of(st.none(), st.integers(0, 6)),
    test_size=st.one_of(st.integers(-1, 7), st.floats(0.01, 0.99)),
    gap=st.one_of(st.integers(-1, 3), st.sampled_from([0.5, True])),
)
@counted
def test_train_test_split_checks_lengths_sizes_and_gap(x_len, y_len, test_size, gap):
    x = np.arange(x_len)
    y = None if y_len is None else np.arange(y_len) * 10
    call = lambda: unrolled.train_test_split(x, y, test_size=test_size, gap=gap)  # noqa: E731
    test = int(np.ceil(test_size * x_len - 1e-9)) if isinstance(test_size, float) else test_size
    if y_len is not None and y_len != x_len:
        refused("x/y length mismatch", call, "x", "y")
    elif not (positive(gap) or gap == 0) or isinstance(gap, bool):
        refused("bad gap", call, "gap")
    elif not 0 < test < x_len or x_len - test - gap < 1:
        refused("test_size or gap leaving no training sample", call, "test_size")
    else:
        parts = worked("train_test_split", call)
        train = x_len - test - gap
        np.testing.assert_array_equal(parts[0], x[:train])
        np.testing.assert_array_equal(parts[1], x[train + gap :])
        if y is not None:
            np.testing.assert_array_equal(parts[3], y[train + gap :])


@given(
    value=st.sampled_from([5, [[1, 2], [3]], [[1], [2, 3], []]]),
    split=st.sampled_from(["split_series", "train_test_split"]),
)
@counted
def test_splits_refuse_scalars_and_ragged_lists(value, split):
    call = {
        "split_series": lambda: unrolled.split_series(value, test_size=1),
        "train_test_split": lambda: unrolled.train_test_split(value, test_size=1),
    }[split]
    refused("scalar or ragged data to a split", call, "series" if split == "split_series" else "x")
