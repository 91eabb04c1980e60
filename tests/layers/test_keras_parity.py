"""`unrolled`'s recurrent layers give Keras 3's numbers.

Every test builds the real Keras layer (`tests/oracles/keras_oracle.py`, torch
backend) and the `unrolled` layer with the same arguments and the same weights,
runs both on the same inputs, mask and initial state, and compares outputs,
returned states, stateful states and gradients to 1e-5 (float32 throughout).

`unrolled` is run on both of its paths: `use_cudnn=False` (the step loop) and
`use_cudnn="auto"` (torch's fused operators where the configuration allows).
Keras always runs its generic step loop (see the oracle's module docstring).

Coverage:
* a full grid over the cheap switches (return_sequences, return_state,
  go_backwards, zero_output_for_mask) x every mask pattern (no mask, post-,
  pre-padding, holes, a fully masked row, mixed rows; all-valid separately)
  x every layer kind x both paths, at one small size (batch 4, timesteps 6,
  features 3, units 5);
* focused grids for initial states, stateful layers, activations, use_bias,
  dropout at inference, stacked and single-cell `RNN`, weight layouts;
* a pairwise-covering sample of all options together over several sizes;
* gradients with respect to inputs, every weight and the initial states.
"""

from __future__ import annotations

import functools
import itertools
import random
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pytest
import torch
from oracles import keras_oracle as ko

import unrolled

ATOL = 1e-5  # outputs and states
GRAD_ATOL = 1e-5  # gradients (absolute)
GRAD_RTOL = 1e-5  # gradients (relative)

# Layer kinds under test: id -> (class name, fixed constructor arguments).
KINDS: dict[str, tuple[str, dict[str, Any]]] = {
    "lstm": ("LSTM", {}),
    "gru_reset_after": ("GRU", {"reset_after": True}),
    "gru_reset_before": ("GRU", {"reset_after": False}),
    "simple_rnn": ("SimpleRNN", {}),
}
# unrolled's two compute paths.
PATHS: dict[str, bool | str] = {"loop": False, "auto": "auto"}
MASKS = ko.MASK_PATTERNS

# Named activation choices; SimpleRNN has no recurrent activation and uses the first only.
ACTIVATIONS: dict[str, tuple[str, str]] = {
    "default": ("tanh", "sigmoid"),
    "relu+hard_sigmoid": ("relu", "hard_sigmoid"),
    "relu+sigmoid": ("relu", "sigmoid"),
    "tanh+hard_sigmoid": ("tanh", "hard_sigmoid"),
}


pytestmark = pytest.mark.filterwarnings(
    # Keras 3.15's torch backend converts variables with np.array(copy=False) internally.
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny tensors: one intra-op thread is fastest, and immune to a busy machine.

    With two OpenMP threads on a loaded two-core machine, every small op waits for a
    descheduled worker and this module runs ~100x slower. Restored afterwards.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# ----------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Scenario:
    """One comparison: the layer, its arguments, the data. Hashable, so Keras results cache."""

    kind: str = "lstm"
    batch: int = 4
    timesteps: int = 6
    features: int = 3
    units: int = 5
    mask: str = "none"
    initial_state: bool = False
    use_bias: bool = True
    activations: str = "default"
    options: tuple[tuple[str, Any], ...] = field(default=())  # other layer arguments

    @property
    def layer_name(self) -> str:
        return KINDS[self.kind][0]

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.batch, self.timesteps, self.features)

    def kwargs(self) -> dict[str, Any]:
        """Constructor arguments given identically to Keras and to unrolled."""
        activation, recurrent_activation = ACTIVATIONS[self.activations]
        kwargs: dict[str, Any] = {**KINDS[self.kind][1], "use_bias": self.use_bias}
        if self.activations != "default":
            kwargs["activation"] = activation
            if self.layer_name != "SimpleRNN":
                kwargs["recurrent_activation"] = recurrent_activation
        kwargs.update(self.options)
        return kwargs

    def option(self, name: str, default: Any = False) -> Any:
        return dict(self.options).get(name, default)

    def weights(self) -> list[np.ndarray]:
        rng = ko.rng_for(self, "weights")
        return ko.random_weights(
            rng,
            self.layer_name,
            self.features,
            self.units,
            use_bias=self.use_bias,
            reset_after=KINDS[self.kind][1].get("reset_after", True),
        )

    def call_data(
        self, call: int = 0
    ) -> tuple[np.ndarray, np.ndarray | None, list[np.ndarray] | None]:
        """Inputs, mask and initial state (or None) for the `call`-th call."""
        rng = ko.rng_for(self, "call", call)
        x = ko.random_inputs(rng, self.batch, self.timesteps, self.features)
        mask = ko.make_mask(self.mask, self.batch, self.timesteps, rng)
        init = (
            ko.random_states(rng, self.layer_name, self.batch, self.units)
            if self.initial_state
            else None
        )
        return x, mask, init

    def describe(self, path: str | None = None) -> str:
        parts = [
            f"{self.layer_name}{KINDS[self.kind][1] or ''}",
            f"shape={self.shape}",
            f"units={self.units}",
        ]
        parts += [
            f"mask={self.mask}",
            f"initial_state={self.initial_state}",
            f"use_bias={self.use_bias}",
        ]
        parts += [f"activations={self.activations}"] + [f"{k}={v}" for k, v in self.options]
        if path is not None:
            parts.append(f"use_cudnn={PATHS[path]!r}")
        return ", ".join(parts)


def scenario(kind: str, **options: Any) -> Scenario:
    """A Scenario whose non-field keyword arguments become layer options."""
    fields = {k: options.pop(k) for k in list(options) if k in Scenario.__dataclass_fields__}
    return Scenario(kind=kind, options=tuple(sorted(options.items())), **fields)


def result_names(sc: Scenario) -> list[str]:
    names = ["output"]
    if sc.option("return_state"):
        names += ["h", "c"] if sc.layer_name == "LSTM" else ["h"]
    return names


# ----------------------------------------------------------------------------- running


@functools.cache
def keras_result(
    sc: Scenario, call: int = 0, training: bool = False
) -> tuple[Any, list[np.ndarray]]:
    """Keras's (nesting, flat outputs) for a non-stateful scenario; cached across paths."""
    x, mask, init = sc.call_data(call)
    layer = ko.keras_layer(sc.layer_name, sc.units, sc.weights(), sc.shape, **sc.kwargs())
    with torch.no_grad():
        raw = ko.keras_call(layer, x, mask=mask, initial_state=init, training=training)
    return ko.nesting(raw), ko.to_numpy(raw)


def ours(
    sc: Scenario, path: str, *, build: str = "build", weights: list[np.ndarray] | None = None
) -> unrolled.RNN:
    """The unrolled layer for `sc` on `path`, with the scenario's weights (or `weights`).

    build="build": `build(shape)` then `set_weights`; "set_weights": `set_weights` on the
    unbuilt layer (which must build it from the kernel's shape).
    """
    layer = getattr(unrolled, sc.layer_name)(sc.units, use_cudnn=PATHS[path], **sc.kwargs())
    if build == "build":
        layer.build(sc.shape)
    layer.set_weights(sc.weights() if weights is None else weights)
    return layer


def with_options(sc: Scenario, **options: Any) -> Scenario:
    return replace(sc, options=tuple(sorted({**dict(sc.options), **options}.items())))


def run(
    layer: torch.nn.Module,
    x: np.ndarray,
    mask: np.ndarray | None,
    init: list[np.ndarray] | None,
    *,
    training: bool | None = False,
    numpy_inputs: bool = False,
) -> Any:
    """Calls an unrolled layer (torch tensors, or NumPy arrays if `numpy_inputs`)."""
    convert = (lambda v: v) if numpy_inputs else ko.to_torch
    kwargs: dict[str, Any] = {"training": training}
    if mask is not None:
        kwargs["mask"] = convert(mask)
    if init is not None:
        kwargs["initial_state"] = convert(init)
    return layer(convert(x), **kwargs)


def check_path(layer: Any, path: str, context: str) -> None:
    """use_cudnn=False must really take the step loop; 'auto' must report a known path."""
    assert layer.last_path is not None, context
    if path == "loop":
        assert layer.last_path.name == "loop", f"{context}: use_cudnn=False ran {layer.last_path}"
    else:
        assert layer.last_path.name in ("fused", "fused-packed", "loop"), (
            f"{context}: {layer.last_path}"
        )


def assert_same(
    got: list[np.ndarray],
    want: list[np.ndarray],
    context: str,
    names: list[str] | None = None,
    atol: float = ATOL,
    rtol: float = 0.0,
) -> None:
    assert len(got) == len(want), f"{context}: {len(got)} results, Keras gives {len(want)}"
    for index, (g, w) in enumerate(zip(got, want)):
        name = names[index] if names and index < len(names) else f"result {index}"
        assert g.shape == w.shape, f"{context}: {name} has shape {g.shape}, Keras {w.shape}"
        assert g.dtype == np.float32, f"{context}: {name} has dtype {g.dtype}, expected float32"
        np.testing.assert_allclose(
            g, w, rtol=rtol, atol=atol, err_msg=f"{context}: {name} differs from Keras"
        )


def assert_matches_keras(
    sc: Scenario,
    path: str,
    *,
    build: str = "build",
    numpy_inputs: bool = False,
    training: bool | None = False,
) -> tuple[unrolled.RNN, list[np.ndarray]]:
    """Runs both on `sc` and compares nesting and every output; returns the layer and our results."""
    x, mask, init = sc.call_data()
    layer = ours(sc, path, build=build)
    raw = run(layer, x, mask, init, training=training, numpy_inputs=numpy_inputs)
    context = sc.describe(path)
    check_path(layer, path, context)
    want_nesting, want = keras_result(sc, 0, bool(training))
    assert ko.nesting(raw) == want_nesting, f"{context}: returned structure differs from Keras"
    got = ko.to_numpy(raw)
    assert_same(got, want, context, result_names(sc))
    return layer, got


# ----------------------------------------------------------------------------- 1. full grid


def pairwise(
    axes: dict[str, list[Any]], seed: int = 0, candidates: int = 40
) -> list[dict[str, Any]]:
    """A small set of rows covering every pair of values of every two axes (greedy, deterministic)."""
    names = list(axes)

    def pairs(row: dict[str, int]) -> set[tuple[str, int, str, int]]:
        return {(a, row[a], b, row[b]) for i, a in enumerate(names) for b in names[i + 1 :]}

    uncovered = {
        (a, i, b, j)
        for k, a in enumerate(names)
        for b in names[k + 1 :]
        for i in range(len(axes[a]))
        for j in range(len(axes[b]))
    }
    rng = random.Random(seed)
    rows = []
    while uncovered:
        ordered = sorted(uncovered)
        best, best_gain = None, -1
        for _ in range(candidates):
            a, i, b, j = ordered[rng.randrange(len(ordered))]
            row = {n: rng.randrange(len(axes[n])) for n in names}
            row[a], row[b] = i, j
            gain = len(pairs(row) & uncovered)
            if gain > best_gain:
                best, best_gain = row, gain
        rows.append(best)
        uncovered -= pairs(best)
    return [{n: axes[n][row[n]] for n in names} for row in rows]


GRID_AXES: dict[str, list[Any]] = {
    "kind": list(KINDS),
    "mask": [m for m in MASKS if m != "all_valid"],  # its own test below, and in the sample
    "flags": list(itertools.product((False, True), repeat=4)),  # seq, state, backwards, zero_out
}
# The default run takes every pair of kind, mask and switch settings (each setting of the four
# switches is one value, so every kind and mask meet all 16); the full product with -m slow.
GRID_PAIRS = {(row["kind"], row["mask"], row["flags"]) for row in pairwise(GRID_AXES)}
GRID = [
    pytest.param(
        kind,
        *flags,
        mask,
        id=f"{kind}-{mask}-"
        + "-".join(
            name if on else f"no_{name}"
            for name, on in zip(("seq", "state", "backwards", "zero_out"), flags)
        ),
        marks=() if (kind, mask, flags) in GRID_PAIRS else (pytest.mark.slow,),
    )
    for kind in GRID_AXES["kind"]
    for mask in GRID_AXES["mask"]
    for flags in GRID_AXES["flags"]
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "kind,return_sequences,return_state,go_backwards,zero_output_for_mask,mask", GRID
)
def test_every_switch_and_mask_combination_matches_keras(
    kind, return_sequences, return_state, go_backwards, zero_output_for_mask, mask, path
):
    sc = scenario(
        kind,
        mask=mask,
        return_sequences=return_sequences,
        return_state=return_state,
        go_backwards=go_backwards,
        zero_output_for_mask=zero_output_for_mask,
    )
    assert_matches_keras(sc, path)


# ----------------------------------------------------------------------------- 2. masking rules, stated


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", KINDS)
def test_masked_step_repeats_previous_output_like_keras(kind, path):
    sc = scenario(kind, mask="holes", return_sequences=True)
    _, (out,) = assert_matches_keras(sc, path)
    _, mask, _ = sc.call_data()
    for b, t in zip(*np.nonzero(~mask)):
        expected = out[b, t - 1] if t > 0 else np.zeros_like(out[b, t])
        np.testing.assert_array_equal(out[b, t], expected, err_msg=f"row {b} step {t}")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", KINDS)
def test_pre_padded_steps_output_zeros_not_the_initial_state_like_keras(kind, path):
    sc = scenario(kind, mask="pre_padding", initial_state=True, return_sequences=True)
    _, (out,) = assert_matches_keras(sc, path)
    _, mask, _ = sc.call_data()
    leading = np.cumsum(mask, axis=1) == 0  # masked steps before the first valid one
    assert leading.any()
    assert np.all(out[leading] == 0.0)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", KINDS)
def test_zero_output_for_mask_outputs_zeros_at_masked_steps_like_keras(kind, path):
    sc = scenario(
        kind, mask="mixed", return_sequences=True, zero_output_for_mask=True, initial_state=True
    )
    _, (out,) = assert_matches_keras(sc, path)
    _, mask, _ = sc.call_data()
    assert np.all(out[~mask] == 0.0)
    assert np.all(np.abs(out[mask]) > 0.0)


@pytest.mark.parametrize("zero_output_for_mask", [False, True])
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", KINDS)
def test_last_output_of_row_ending_in_padding_like_keras(kind, path, zero_output_for_mask):
    # Keras: the last output is the last valid step's output, or zeros with zero_output_for_mask.
    sc = scenario(kind, mask="post_padding_all_short", zero_output_for_mask=zero_output_for_mask)
    _, (last,) = assert_matches_keras(sc, path)
    x, mask, _ = sc.call_data()
    sequences = ours(
        with_options(sc, return_sequences=True, zero_output_for_mask=False),
        path,
        weights=sc.weights(),
    )
    seq = ko.to_numpy(run(sequences, x, mask, None))[0]
    lengths = mask.sum(axis=1)
    for b, length in enumerate(lengths):
        expected = np.zeros_like(last[b]) if zero_output_for_mask else seq[b, length - 1]
        np.testing.assert_array_equal(last[b], expected, err_msg=f"row {b} (length {length})")


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", KINDS)
def test_fully_masked_row_outputs_zeros_and_returns_its_initial_state_like_keras(
    kind, path, go_backwards
):
    sc = scenario(
        kind,
        mask="fully_masked_row",
        initial_state=True,
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
    )
    _, (out, *states) = assert_matches_keras(sc, path)
    _, mask, init = sc.call_data()
    (empty,) = np.nonzero(~mask.any(axis=1))[0]
    assert np.all(out[empty] == 0.0)
    for got, given in zip(states, init):
        np.testing.assert_array_equal(got[empty], given[empty])


@pytest.mark.parametrize("zero_output_for_mask", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", KINDS)
def test_batch_with_no_valid_step_outputs_zeros_and_keeps_initial_states_like_keras(
    kind, path, go_backwards, zero_output_for_mask
):
    sc = scenario(
        kind,
        initial_state=True,
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
        zero_output_for_mask=zero_output_for_mask,
    )
    x, _, init = sc.call_data()
    mask = np.zeros((sc.batch, sc.timesteps), dtype=bool)
    layer = ours(sc, path)
    got = ko.to_numpy(run(layer, x, mask, init))
    theirs = ko.keras_layer(sc.layer_name, sc.units, sc.weights(), sc.shape, **sc.kwargs())
    want = ko.keras_run(theirs, x, mask=mask, initial_state=init)
    context = sc.describe(path) + ", mask all False"
    check_path(layer, path, context)
    assert_same(got, want, context, result_names(sc))
    assert np.all(got[0] == 0.0)
    assert_same(got[1:], init, context + " (states are the initial states)")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", KINDS)
def test_integer_mask_is_read_as_boolean_like_keras(kind, path):
    sc = scenario(kind, mask="mixed", return_sequences=True, return_state=True)
    x, mask, _ = sc.call_data()
    layer = ours(sc, path)
    got = ko.to_numpy(run(layer, x, mask.astype(np.int64), None))
    context = sc.describe(path) + ", int64 0/1 mask"
    check_path(layer, path, context)
    assert_same(got, keras_result(sc)[1], context, result_names(sc))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", KINDS)
def test_all_valid_mask_gives_the_unmasked_result_like_keras(kind, path):
    masked = scenario(
        kind, mask="all_valid", return_sequences=True, return_state=True, initial_state=True
    )
    _, with_mask = assert_matches_keras(masked, path)
    x, _, init = masked.call_data()
    layer = ours(replace(masked, mask="none"), path, weights=masked.weights())
    without = ko.to_numpy(run(layer, x, None, init))
    assert_same(with_mask, without, masked.describe(path) + " (vs no mask)", result_names(masked))


@pytest.mark.parametrize("mask", ["none", "post_padding", "holes"])
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", KINDS)
def test_go_backwards_returns_outputs_in_processing_order_like_keras(kind, path, mask):
    sc = scenario(kind, mask=mask, return_sequences=True, return_state=True, go_backwards=True)
    _, backwards = assert_matches_keras(sc, path)
    # Same as running forwards on the time-reversed sequence (and mask).
    x, m, _ = sc.call_data()
    forward_layer = ours(with_options(sc, go_backwards=False), path, weights=sc.weights())
    forwards = ko.to_numpy(
        run(forward_layer, x[:, ::-1].copy(), None if m is None else m[:, ::-1].copy(), None)
    )
    assert_same(
        backwards,
        forwards,
        sc.describe(path) + " (vs forwards on reversed input)",
        result_names(sc),
    )


# ----------------------------------------------------------------------------- 3. initial states


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("kind", KINDS)
def test_initial_state_seeds_the_recurrence_like_keras(kind, mask, path, go_backwards):
    sc = scenario(
        kind,
        mask=mask,
        initial_state=True,
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
    )
    assert_matches_keras(sc, path)


# ----------------------------------------------------------------------------- 4. stateful


def _stateful_pair(sc: Scenario, path: str) -> tuple[Any, Any]:
    theirs = ko.keras_layer(sc.layer_name, sc.units, sc.weights(), sc.shape, **sc.kwargs())
    return ours(sc, path), theirs


def _call_both(ours_layer, theirs, sc, call, path, what, *, with_initial_state=None):
    x, mask, init = sc.call_data(call)
    if with_initial_state is not None:
        init = with_initial_state
    elif not sc.initial_state or call > 0:
        init = None  # later calls continue from the kept states
    got = ko.to_numpy(run(ours_layer, x, mask, init))
    want = ko.keras_run(theirs, x, mask=mask, initial_state=init)
    context = f"{sc.describe(path)}, {what}"
    check_path(ours_layer, path, context)
    assert_same(got, want, context, result_names(sc))
    assert_same(
        ours_layer.get_states(), ko.keras_states(theirs), context + " states after the call"
    )
    return got


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "mask", ["none", "post_padding", "pre_padding", "holes", "fully_masked_row", "mixed"]
)
@pytest.mark.parametrize("kind", KINDS)
def test_stateful_layer_carries_states_between_calls_and_resets_like_keras(
    kind, mask, path, go_backwards
):
    sc = scenario(
        kind,
        mask=mask,
        stateful=True,
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
    )
    layer, theirs = _stateful_pair(sc, path)
    assert_same(layer.get_states(), ko.keras_states(theirs), "states before any call (zeros)")
    first = _call_both(layer, theirs, sc, 0, path, "first call")
    _call_both(layer, theirs, sc, 1, path, "second call (continues the first)")
    layer.reset_states()
    theirs.reset_states()
    assert_same(layer.get_states(), ko.keras_states(theirs), "states after reset_states")
    again = _call_both(layer, theirs, sc, 0, path, "first data again after reset_states")
    assert_same(again, first, "after reset_states the layer repeats its first call")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", KINDS)
def test_set_states_and_reset_state_act_on_the_next_call_like_keras(kind, path):
    sc = scenario(kind, mask="holes", stateful=True, return_sequences=True, return_state=True)
    layer, theirs = _stateful_pair(sc, path)
    given = ko.random_states(ko.rng_for(sc, "set_states"), sc.layer_name, sc.batch, sc.units)
    layer.set_states(given)
    ko.keras_set_states(theirs, given)
    assert_same(layer.get_states(), given, "get_states right after set_states")
    _call_both(layer, theirs, sc, 0, path, "call after set_states")
    _call_both(layer, theirs, sc, 1, path, "second call")
    layer.reset_state()
    theirs.reset_state()
    assert_same(layer.get_states(), ko.keras_states(theirs), "states after reset_state")
    _call_both(layer, theirs, sc, 1, path, "call after reset_state")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", KINDS)
def test_stateful_call_with_initial_state_overrides_kept_states_like_keras(kind, path):
    sc = scenario(kind, mask="post_padding", stateful=True, return_state=True)
    layer, theirs = _stateful_pair(sc, path)
    _call_both(layer, theirs, sc, 0, path, "first call")
    given = ko.random_states(ko.rng_for(sc, "override"), sc.layer_name, sc.batch, sc.units)
    _call_both(
        layer, theirs, sc, 1, path, "call with an explicit initial_state", with_initial_state=given
    )
    _call_both(layer, theirs, sc, 2, path, "call continuing from it")


# ----------------------------------------------------------------------------- 5. cell options


@pytest.mark.parametrize("mask", ["none", "post_padding", "holes"])
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("activations", [a for a in ACTIVATIONS if a != "default"])
@pytest.mark.parametrize("kind", KINDS)
def test_non_default_activations_match_keras(kind, activations, path, mask):
    if kind == "simple_rnn" and activations == "tanh+hard_sigmoid":
        activations = "default"  # SimpleRNN has no recurrent activation; the pair reduces to tanh
    sc = scenario(
        kind,
        activations=activations,
        mask=mask,
        return_sequences=True,
        return_state=True,
        initial_state=True,
    )
    assert_matches_keras(sc, path)


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("mask", ["none", "post_padding", "holes"])
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", KINDS)
def test_layer_without_bias_matches_keras(kind, path, mask, go_backwards):
    sc = scenario(
        kind,
        use_bias=False,
        mask=mask,
        go_backwards=go_backwards,
        return_sequences=True,
        return_state=True,
    )
    layer, _ = assert_matches_keras(sc, path)
    assert layer.cell.bias is None


@pytest.mark.parametrize("mask", ["none", "holes"])
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", KINDS)
def test_dropout_is_inactive_at_inference_like_keras(kind, path, mask):
    sc = scenario(
        kind,
        mask=mask,
        dropout=0.4,
        recurrent_dropout=0.3,
        seed=7,
        return_sequences=True,
        return_state=True,
    )
    assert_matches_keras(sc, path, training=False)
    # training=None follows the module's eval() mode, which is Keras's inference call.
    x, m, init = sc.call_data()
    layer = ours(sc, path).eval()
    got = ko.to_numpy(run(layer, x, m, init, training=None))
    assert_same(got, keras_result(sc)[1], sc.describe(path) + ", eval() and training=None")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", KINDS)
def test_training_call_without_dropout_matches_keras(kind, path):
    sc = scenario(kind, mask="holes", return_sequences=True, return_state=True)
    assert_matches_keras(sc, path, training=True)


# ----------------------------------------------------------------------------- 6. weights


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_weight_layout_and_count_params_match_keras(kind, use_bias):
    sc = scenario(kind, use_bias=use_bias)
    theirs = ko.keras_layer(sc.layer_name, sc.units, None, sc.shape, **sc.kwargs())
    layer = getattr(unrolled, sc.layer_name)(sc.units, **sc.kwargs())
    layer.build(sc.shape)
    assert [w.shape for w in layer.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
    assert [w.dtype for w in layer.get_weights()] == [np.float32] * len(theirs.get_weights())
    assert layer.count_params() == theirs.count_params()
    layer.set_weights(sc.weights())
    assert_same(layer.get_weights(), sc.weights(), "get_weights after set_weights")
    # The parameters live on the cell, in the same layout, and feed autograd.
    params = [layer.cell.kernel, layer.cell.recurrent_kernel] + (
        [layer.cell.bias] if use_bias else []
    )
    assert all(isinstance(p, torch.nn.Parameter) and p.requires_grad for p in params)
    assert_same([p.detach().numpy() for p in params], sc.weights(), "cell parameters")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", KINDS)
def test_set_weights_on_unbuilt_layer_builds_it_like_keras(kind, path):
    sc = scenario(kind, mask="post_padding", return_sequences=True, return_state=True)
    layer, _ = assert_matches_keras(sc, path, build="set_weights")
    assert layer.built


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", KINDS)
def test_numpy_inputs_mask_and_states_match_keras(kind, path):
    sc = scenario(kind, mask="holes", initial_state=True, return_sequences=True, return_state=True)
    assert_matches_keras(sc, path, numpy_inputs=True)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", KINDS)
def test_float64_inputs_and_states_give_float32_results_like_keras(kind, path):
    # Keras casts inputs and initial states to the layer's float32 compute dtype.
    sc = scenario(kind, mask="holes", initial_state=True, return_sequences=True, return_state=True)
    x, mask, init = sc.call_data()
    x64, init64 = x.astype(np.float64), [s.astype(np.float64) for s in init]
    layer = ours(sc, path)
    got = ko.to_numpy(run(layer, x64, mask, init64))
    theirs = ko.keras_layer(sc.layer_name, sc.units, sc.weights(), sc.shape, **sc.kwargs())
    want = ko.keras_run(theirs, x64, mask=mask, initial_state=init64)
    context = sc.describe(path) + ", float64 inputs"
    check_path(layer, path, context)
    assert_same(got, want, context, result_names(sc))  # also checks float32


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", ["gru_reset_after", "gru_reset_before", "simple_rnn"])
def test_single_tensor_initial_state_for_one_state_layers_like_keras(kind, path):
    # Keras takes `initial_state=h` as well as `initial_state=[h]` when there is one state.
    sc = scenario(kind, mask="post_padding", initial_state=True, return_state=True)
    x, mask, (h,) = sc.call_data()
    layer = ours(sc, path)
    raw = layer(
        ko.to_torch(x), mask=ko.to_torch(mask), initial_state=ko.to_torch(h), training=False
    )
    got = ko.to_numpy(raw)
    theirs = ko.keras_layer(sc.layer_name, sc.units, sc.weights(), sc.shape, **sc.kwargs())
    with torch.no_grad():
        want = ko.to_numpy(ko.keras_call(theirs, x, mask=mask, initial_state=ko.to_torch(h)))
    assert_same(got, want, sc.describe(path) + ", initial_state as one tensor", result_names(sc))


# ----------------------------------------------------------------------------- 7. fused paths


FUSABLE = [
    ("lstm", "default"),
    ("gru_reset_after", "default"),
    ("simple_rnn", "default"),
    ("simple_rnn", "relu+sigmoid"),  # SimpleRNN's relu has a fused operator too
]


@pytest.mark.parametrize(
    "mask,expected_path",
    [
        ("none", "fused"),
        ("post_padding", "fused-packed"),
        ("holes", "fused-packed"),
        ("mixed", "fused-packed"),
    ],
)
@pytest.mark.parametrize("kind,activations", FUSABLE)
def test_auto_path_runs_torch_fused_operators_and_matches_keras(
    kind, activations, mask, expected_path
):
    # Guards the parity grid: "auto" really exercises the fused operators it advertises.
    sc = scenario(
        kind,
        activations=activations,
        mask=mask,
        return_sequences=True,
        return_state=True,
        initial_state=True,
    )
    layer, _ = assert_matches_keras(sc, "auto")
    assert layer.last_path.name == expected_path, layer.last_path


# ----------------------------------------------------------------------------- 8. RNN and stacked cells


def _stacked_weights(features: int, key: Any) -> list[np.ndarray]:
    rng = ko.rng_for("stacked", key)
    return ko.random_weights(rng, "LSTM", features, 4) + ko.random_weights(rng, "GRU", 4, 3)


def _stacked_pair(shape, weights, **options):
    theirs = ko.keras_rnn(
        [ko.keras_cell("LSTMCell", 4), ko.keras_cell("GRUCell", 3)], weights, shape, **options
    )
    layer = unrolled.RNN([unrolled.LSTMCell(4), unrolled.GRUCell(3)], **options)
    layer.build(shape)
    layer.set_weights(weights)
    return layer, theirs


def _stacked_states(rng, batch):
    return [[*ko.random_states(rng, "LSTM", batch, 4)], ko.random_states(rng, "GRU", batch, 3)]


@pytest.mark.parametrize("initial_state", [False, True])
@pytest.mark.parametrize("mask", ["none", "holes", "fully_masked_row"])
@pytest.mark.parametrize(
    "return_sequences,return_state,go_backwards", list(itertools.product((False, True), repeat=3))
)
def test_stacked_lstm_and_gru_cells_match_keras(
    return_sequences, return_state, go_backwards, mask, initial_state
):
    batch, timesteps, features = 4, 6, 3
    key = (return_sequences, return_state, go_backwards, mask, initial_state)
    weights = _stacked_weights(features, key)
    layer, theirs = _stacked_pair(
        (batch, timesteps, features),
        weights,
        return_sequences=return_sequences,
        return_state=return_state,
        go_backwards=go_backwards,
    )
    rng = ko.rng_for("stacked-data", key)
    x = ko.random_inputs(rng, batch, timesteps, features)
    m = ko.make_mask(mask, batch, timesteps, rng)
    init = _stacked_states(rng, batch) if initial_state else None
    raw = run(layer, x, m, init)
    with torch.no_grad():
        want_raw = ko.keras_call(theirs, x, mask=m, initial_state=init)
    context = f"RNN([LSTMCell(4), GRUCell(3)]) options={key}"
    assert_same(ko.to_numpy(raw), ko.to_numpy(want_raw), context)  # structure: the next test


STACKS = [
    ("LSTMCell", "GRUCell"),
    ("GRUCell", "LSTMCell"),
    ("GRUCell", "GRUCell"),
    ("SimpleRNNCell", "LSTMCell"),
    ("LSTMCell", "LSTMCell"),
    ("GRUCell",),
    ("LSTMCell",),
]


@pytest.mark.parametrize("cells", STACKS, ids="+".join)
def test_stacked_cells_return_states_grouped_per_cell_like_keras(cells):
    # Keras 3: `(output, states of cell 1, states of cell 2, ...)`, each cell's states as
    # the list its get_initial_state gives: [h, c] for LSTMCell, [h] for GRUCell/SimpleRNNCell.
    shape, units = (2, 3, 3), [4, 3, 2][: len(cells)]
    theirs = ko.keras_rnn(
        [ko.keras_cell(c, u) for c, u in zip(cells, units)], None, shape, return_state=True
    )
    layer = unrolled.RNN([getattr(unrolled, c)(u) for c, u in zip(cells, units)], return_state=True)
    layer.build(shape)
    layer.set_weights(theirs.get_weights())
    x = ko.random_inputs(ko.rng_for("nesting", cells), *shape)
    raw = run(layer, x, None, None)
    with torch.no_grad():
        want_raw = ko.keras_call(theirs, x)
    assert_same(ko.to_numpy(raw), ko.to_numpy(want_raw), f"RNN({list(cells)})")
    assert ko.nesting(raw) == ko.nesting(want_raw), (
        f"RNN({list(cells)}, return_state=True) returns {ko.nesting(raw)}; Keras {ko.nesting(want_raw)}"
    )


def test_stacked_cells_weight_order_matches_keras():
    shape = (4, 6, 3)
    weights = _stacked_weights(3, "layout")
    layer, theirs = _stacked_pair(shape, weights)
    assert [w.shape for w in layer.get_weights()] == [w.shape for w in theirs.get_weights()]
    assert layer.count_params() == theirs.count_params()
    assert_same(layer.get_weights(), theirs.get_weights(), "stacked get_weights")
    assert layer.cell.cells[0].kernel.shape == (3, 16) and layer.cell.cells[1].kernel.shape == (
        4,
        9,
    )


@pytest.mark.parametrize("mask", ["none", "holes", "fully_masked_row"])
def test_stateful_stacked_cells_carry_states_like_keras(mask):
    batch, timesteps, features = 4, 6, 3
    weights = _stacked_weights(features, ("stateful", mask))
    layer, theirs = _stacked_pair(
        (batch, timesteps, features), weights, stateful=True, return_sequences=True
    )
    rng = ko.rng_for("stacked-stateful", mask)
    for call in range(2):
        x = ko.random_inputs(rng, batch, timesteps, features)
        m = ko.make_mask(mask, batch, timesteps, rng)
        got = ko.to_numpy(run(layer, x, m, None))
        assert_same(got, ko.keras_run(theirs, x, mask=m), f"stacked stateful call {call}")
        assert_same(
            layer.get_states(), ko.keras_states(theirs), f"stacked states after call {call}"
        )
    layer.reset_states()
    ko.keras_reset_states(theirs)  # Keras's own reset_state fails on nested states (see the oracle)
    assert_same(layer.get_states(), ko.keras_states(theirs), "stacked states after reset")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("mask", ["none", "post_padding", "holes"])
@pytest.mark.parametrize(
    "return_sequences,return_state", list(itertools.product((False, True), repeat=2))
)
@pytest.mark.parametrize("cell", ["LSTMCell", "GRUCell", "SimpleRNNCell"])
def test_rnn_wrapping_one_cell_matches_keras(cell, return_sequences, return_state, mask, path):
    batch, timesteps, features, units = 4, 6, 3, 5
    kind = ko.CELL_KIND[cell]
    key = (cell, return_sequences, return_state, mask)
    rng = ko.rng_for("single-cell", key)
    weights = ko.random_weights(rng, kind, features, units)
    options = {"return_sequences": return_sequences, "return_state": return_state}
    theirs = ko.keras_rnn(
        ko.keras_cell(cell, units), weights, (batch, timesteps, features), **options
    )
    layer = unrolled.RNN(getattr(unrolled, cell)(units), use_cudnn=PATHS[path], **options)
    layer.build((batch, timesteps, features))
    layer.set_weights(weights)
    x = ko.random_inputs(rng, batch, timesteps, features)
    m = ko.make_mask(mask, batch, timesteps, rng)
    raw = run(layer, x, m, None)
    with torch.no_grad():
        want_raw = ko.keras_call(theirs, x, mask=m)
    context = f"RNN({cell}({units})) {options} mask={mask} use_cudnn={PATHS[path]!r}"
    check_path(layer, path, context)
    assert ko.nesting(raw) == ko.nesting(want_raw), context
    assert_same(ko.to_numpy(raw), ko.to_numpy(want_raw), context)


# ----------------------------------------------------------------------------- 9. gradients

GRADIENT_VARIANTS = {
    # name: layer options; every variant passes an initial state, so its gradient is checked too
    "sequences": {"return_sequences": True, "return_state": True},
    "last_output_zeroed": {
        "return_sequences": False,
        "return_state": True,
        "zero_output_for_mask": True,
    },
    "backwards": {"return_sequences": True, "return_state": True, "go_backwards": True},
}


def _our_gradients(layer, x, mask, init, seed=1234) -> dict[str, Any]:
    x_t = torch.from_numpy(x.copy()).requires_grad_()
    leaves: list[torch.Tensor] = []

    def leaf(value):  # keeps the nesting of stacked cells' initial states
        if isinstance(value, list):
            return [leaf(v) for v in value]
        leaves.append(torch.from_numpy(value.copy()).requires_grad_())
        return leaves[-1]

    states = None if init is None else leaf(list(init))
    layer.zero_grad(set_to_none=True)
    raw = layer(
        x_t,
        mask=None if mask is None else torch.from_numpy(mask),
        initial_state=states,
        training=False,
    )
    loss = ko.weighted_sum(ko.flatten(raw), seed)
    loss.backward()

    def grad(t):
        return np.zeros(tuple(t.shape), np.float32) if t.grad is None else t.grad.numpy().copy()

    return {
        "outputs": ko.to_numpy(raw),
        "x": grad(x_t),
        "weights": [grad(w) for w in layer.weights],
        "initial_state": [grad(s) for s in leaves],
    }


def _compare_gradients(got, want, context, weight_names):
    assert_same(got["outputs"], want["outputs"], context + " outputs")
    grad = functools.partial(assert_same, atol=GRAD_ATOL, rtol=GRAD_RTOL)
    grad([got["x"]], [want["x"]], context + " d/dinputs")
    grad(got["weights"], want["weights"], context + " d/dweights", weight_names)
    grad(got["initial_state"], want["initial_state"], context + " d/dinitial_state")


@pytest.mark.parametrize("variant", GRADIENT_VARIANTS)
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("mask", ["none", "post_padding", "holes", "fully_masked_row"])
@pytest.mark.parametrize("kind", KINDS)
def test_gradients_wrt_inputs_weights_and_initial_state_match_keras(kind, mask, path, variant):
    sc = scenario(kind, mask=mask, initial_state=True, **GRADIENT_VARIANTS[variant])
    x, m, init = sc.call_data()
    layer = ours(sc, path)
    got = _our_gradients(layer, x, m, init)
    context = sc.describe(path)
    check_path(layer, path, context)
    theirs = ko.keras_layer(sc.layer_name, sc.units, sc.weights(), sc.shape, **sc.kwargs())
    want = ko.keras_gradients(theirs, x, mask=m, initial_state=init)
    _compare_gradients(got, want, context, ["kernel", "recurrent_kernel", "bias"])
    # Gradients also land on the cell's parameters, where an optimizer looks for them.
    assert_same(
        [layer.cell.kernel.grad.numpy()],
        [want["weights"][0]],
        context + " kernel.grad",
        atol=GRAD_ATOL,
        rtol=GRAD_RTOL,
    )


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("activations", ["relu+hard_sigmoid"])
@pytest.mark.parametrize("mask", ["none", "holes"])
@pytest.mark.parametrize("kind", KINDS)
def test_gradients_with_non_default_activations_and_no_bias_match_keras(
    kind, mask, activations, path
):
    sc = scenario(
        kind,
        mask=mask,
        activations=activations,
        use_bias=False,
        initial_state=True,
        return_sequences=True,
        return_state=True,
    )
    x, m, init = sc.call_data()
    got = _our_gradients(ours(sc, path), x, m, init)
    theirs = ko.keras_layer(sc.layer_name, sc.units, sc.weights(), sc.shape, **sc.kwargs())
    want = ko.keras_gradients(theirs, x, mask=m, initial_state=init)
    _compare_gradients(got, want, sc.describe(path), ["kernel", "recurrent_kernel"])


@pytest.mark.parametrize("mask", ["none", "holes"])
def test_stacked_cells_gradients_match_keras(mask):
    batch, timesteps, features = 4, 6, 3
    weights = _stacked_weights(features, ("grad", mask))
    layer, theirs = _stacked_pair(
        (batch, timesteps, features), weights, return_sequences=True, return_state=True
    )
    rng = ko.rng_for("stacked-grad", mask)
    x = ko.random_inputs(rng, batch, timesteps, features)
    m = ko.make_mask(mask, batch, timesteps, rng)
    init = _stacked_states(rng, batch)
    got = _our_gradients(layer, x, m, init)
    want = ko.keras_gradients(theirs, x, mask=m, initial_state=init)
    _compare_gradients(got, want, f"stacked mask={mask}", None)


# ----------------------------------------------------------------------------- 10. pairwise sample

SAMPLE_AXES: dict[str, list[Any]] = {
    "kind": list(KINDS),
    "shape": [(4, 6, 3, 5), (1, 1, 1, 1), (2, 9, 4, 3), (5, 3, 1, 8), (3, 12, 7, 2)],
    "mask": list(MASKS),
    "return_sequences": [False, True],
    "return_state": [False, True],
    "go_backwards": [False, True],
    "zero_output_for_mask": [False, True],
    "stateful": [False, True],
    "initial_state": [False, True],
    "use_bias": [True, False],
    "activations": list(ACTIVATIONS),
    "training": [False, None, True],
    "unroll": [False, True],
    "build": ["build", "set_weights"],
    "numpy_inputs": [False, True],
}
SAMPLE = pairwise(SAMPLE_AXES)


def _sample_id(row: dict[str, Any]) -> str:
    b, t, f, u = row["shape"]
    flags = [
        k
        for k in (
            "return_sequences",
            "return_state",
            "go_backwards",
            "zero_output_for_mask",
            "stateful",
            "initial_state",
            "unroll",
            "numpy_inputs",
        )
        if row[k]
    ]
    extra = [] if row["use_bias"] else ["no_bias"]
    return "-".join(
        [
            row["kind"],
            f"{b}x{t}x{f}u{u}",
            row["mask"],
            row["activations"],
            f"train_{row['training']}",
            row["build"],
            *flags,
            *extra,
        ]
    )


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("row", SAMPLE, ids=[_sample_id(r) for r in SAMPLE])
def test_pairwise_sample_of_all_options_matches_keras(row, path):
    b, t, f, u = row["shape"]
    activations = row["activations"]
    sc = scenario(
        row["kind"],
        batch=b,
        timesteps=t,
        features=f,
        units=u,
        mask=row["mask"],
        initial_state=row["initial_state"],
        use_bias=row["use_bias"],
        activations=activations,
        return_sequences=row["return_sequences"],
        return_state=row["return_state"],
        go_backwards=row["go_backwards"],
        zero_output_for_mask=row["zero_output_for_mask"],
        stateful=row["stateful"],
    )
    if row["unroll"]:  # Keras gets unroll=False (see the oracle); it must not change results
        sc = with_options(sc, unroll=True)
    layer = ours(sc, path, build=row["build"])
    theirs = ko.keras_layer(sc.layer_name, sc.units, sc.weights(), sc.shape, **sc.kwargs())
    calls = 2 if row["stateful"] else 1
    for call in range(calls):
        x, mask, init = sc.call_data(call)
        if call > 0:
            init = None  # a stateful layer continues from its kept states
        raw = run(layer, x, mask, init, training=row["training"], numpy_inputs=row["numpy_inputs"])
        with torch.no_grad():
            want_raw = ko.keras_call(
                theirs, x, mask=mask, initial_state=init, training=bool(row["training"])
            )
        context = (
            f"{sc.describe(path)}, training={row['training']}, unroll={row['unroll']}, call {call}"
        )
        check_path(layer, path, context)
        assert ko.nesting(raw) == ko.nesting(want_raw), context
        assert_same(ko.to_numpy(raw), ko.to_numpy(want_raw), context, result_names(sc))
        if row["stateful"]:
            assert_same(layer.get_states(), ko.keras_states(theirs), context + " states")
